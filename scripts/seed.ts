// Demo data: npm run db:seed, or `npx prisma db seed` (registered in prisma.config.ts).
// Seeds DATABASE_URL (else DIRECT_URL); without either, outside production, the embedded database in
// PGLITE_DATA_DIR, after applying pending migrations as `npm start` would.
import path from "node:path";
import { ConfigError, parseConfig } from "../src/config.ts";
import { loadEnvFile } from "../src/project.ts";
import { createDatabase } from "../src/db/client.ts";
import { startEmbeddedDatabase, type EmbeddedDatabase } from "../src/db/embedded.ts";
import { deployMigrations } from "../src/db/migrations.ts";
import { DEMO_USER, seedDemo } from "../src/db/seed.ts";
import { createLogger } from "../src/logger.ts";

loadEnvFile();

async function main(): Promise<void> {
  const config = parseConfig(process.env);
  let url = config.db.url ?? config.db.directUrl;
  let embedded: EmbeddedDatabase | undefined;
  if (!url) {
    if (config.env === "production") throw new ConfigError("No database URL: set DATABASE_URL (NODE_ENV=production has no embedded database).");
    console.log(`No DATABASE_URL: seeding the embedded database in ${path.relative(process.cwd(), config.db.pgliteDataDir)}`);
    embedded = await startEmbeddedDatabase({ dataDir: config.db.pgliteDataDir });
    url = embedded.url;
    await deployMigrations(url);
  }
  const database = await createDatabase({ ...config.db, url, poolMax: 1 }, createLogger("warn"));
  try {
    const added = await seedDemo(database.prisma);
    console.log(
      `Seeded user "${DEMO_USER.id}": ${added.users} user and ${added.todos} todos added (existing rows left as they were).\n` +
        `Token for the demo user: npm run token -- ${DEMO_USER.id}`,
    );
  } finally {
    await database.close();
    await embedded?.close();
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
