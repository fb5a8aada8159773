import { readFileSync } from "node:fs";
import { defineConfig } from "prisma/config";
import { loadEnvFile, pgliteDataDir } from "./src/project.ts";
import { lockFileFor } from "./src/db/embedded.ts";

loadEnvFile();

/** While `npm start` runs on the embedded database, its lock file says where it is served. */
function embeddedUrl(): string | undefined {
  try {
    return JSON.parse(readFileSync(lockFileFor(pgliteDataDir()), "utf8")).url;
  } catch {
    return undefined;
  }
}

// Used by the Prisma CLI (generate, studio, and `migrate deploy` where the native engine is reachable).
// Migrations run against DIRECT_URL (Neon's unpooled endpoint), falling back to DATABASE_URL.
export default defineConfig({
  schema: "prisma/schema.prisma",
  // `npx prisma db seed` runs the same seed as `npm run db:seed`.
  migrations: { path: "prisma/migrations", seed: "tsx scripts/seed.ts" },
  datasource: {
    url: process.env.DIRECT_URL || process.env.DATABASE_URL || embeddedUrl() || "postgresql://postgres@localhost:5432/postgres",
  },
});
