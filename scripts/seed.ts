// Demo data: npm run db:seed, or `npx prisma db seed` (registered in prisma.config.ts).
// Seeds DATABASE_URL (else DIRECT_URL); without either, outside production, the embedded database in
// PGLITE_DATA_DIR, after applying pending migrations as `npm start` would.
import { parseConfig } from "../src/config.ts";
import { loadEnvFile } from "../src/project.ts";
import { bootstrapDatabase } from "../src/db/bootstrap.ts";
import { createDatabase } from "../src/db/client.ts";
import { DEMO_USER, seedDemo } from "../src/db/seed.ts";
import { createLogger } from "../src/logger.ts";

loadEnvFile();

async function main(): Promise<void> {
  const config = parseConfig(process.env);
  const db = await bootstrapDatabase("seed", { announce: console.log });
  try {
    const database = await createDatabase({ ...config.db, url: db.url, poolMax: 1 }, createLogger("warn"));
    try {
      const added = await seedDemo(database.prisma);
      console.log(
        `Seeded user "${DEMO_USER.id}": ${added.users} user and ${added.todos} todos added (existing rows left as they were).\n` +
          `Token for the demo user: npm run token -- ${DEMO_USER.id}`,
      );
    } finally {
      await database.close();
    }
  } finally {
    await db.close();
  }
}

try {
  await main();
} catch (error) {
  const message = error instanceof Error ? error.message : String(error);
  const hint = /does not exist/.test(message) ? " (apply the migrations first: npm run db:deploy)" : "";
  console.error(`Error: ${message.split("\n").filter(Boolean).at(-1)}${hint}`);
  process.exitCode = 1;
}
