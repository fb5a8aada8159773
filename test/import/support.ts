/** The import tests' databases: a migrated test database and the app's Prisma client on the configured driver. */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseConfig } from "../../src/config.ts";
import { createDatabase, type Database } from "../../src/db/client.ts";
import { createLogger } from "../../src/logger.ts";
import { createTestDatabase, type TestDatabase } from "../support/db.ts";

export const driver = process.env.DB_DRIVER ?? "neon";

export interface ImportTarget {
  url: string;
  database: Database;
  close(): Promise<void>;
}

export async function createImportTarget(): Promise<ImportTarget> {
  const testDatabase: TestDatabase = await createTestDatabase({ migrated: true });
  const config = parseConfig({ NODE_ENV: "test", DATABASE_URL: testDatabase.url, DB_DRIVER: driver });
  const database = await createDatabase({ ...config.db, url: testDatabase.url }, createLogger("silent"));
  return {
    url: testDatabase.url,
    database,
    async close() {
      await database.close();
      await testDatabase.close();
    },
  };
}

export async function tempDir(): Promise<{ dir: string; file(name: string): string; remove(): Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), "sqlite-import-"));
  return { dir, file: (name) => path.join(dir, name), remove: () => rm(dir, { recursive: true, force: true }) };
}
