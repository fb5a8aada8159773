import { defineConfig } from "prisma/config";
import { chooseDatabase } from "./src/db/bootstrap.ts";
import { loadEnvFile } from "./src/project.ts";

loadEnvFile();

/**
 * The Prisma CLI's URL (src/db/bootstrap.ts, purpose "prisma"): DIRECT_URL, DATABASE_URL, or the embedded database
 * `npm start` is serving. Left unset when there is none: `prisma generate` (run by `npm ci`) needs no database,
 * and scripts/prisma.mjs stops Studio first with the line naming the variable.
 */
function datasourceUrl(): string | undefined {
  try {
    return chooseDatabase("prisma").url;
  } catch {
    return undefined;
  }
}

export default defineConfig({
  schema: "prisma/schema.prisma",
  // `npx prisma db seed` runs the same seed as `npm run db:seed`.
  migrations: { path: "prisma/migrations", seed: "tsx scripts/seed.ts" },
  datasource: { url: datasourceUrl() },
});
