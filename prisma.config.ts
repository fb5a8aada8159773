import { readFileSync } from "node:fs";
import path from "node:path";
import { config as loadDotenv } from "dotenv";
import { defineConfig } from "prisma/config";

loadDotenv({ quiet: true });

/** While `npm start` runs on the embedded database, its lock file says where it is served. */
function embeddedUrl(): string | undefined {
  const dataDir = path.resolve(process.env.PGLITE_DATA_DIR || ".data/pglite");
  try {
    return JSON.parse(readFileSync(`${dataDir}.lock.json`, "utf8")).url;
  } catch {
    return undefined;
  }
}

// Used by the Prisma CLI (generate, studio, and `migrate deploy` where the native engine is reachable).
// Migrations run against DIRECT_URL (Neon's unpooled endpoint), falling back to DATABASE_URL.
export default defineConfig({
  schema: "prisma/schema.prisma",
  migrations: { path: "prisma/migrations" },
  datasource: {
    url: process.env.DIRECT_URL || process.env.DATABASE_URL || embeddedUrl() || "postgresql://postgres@localhost:5432/postgres",
  },
});
