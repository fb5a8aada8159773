/**
 * Test databases: each caller gets its own, so test files can run in parallel.
 * - With TEST_DATABASE_URL (a PostgreSQL server that may create databases): a new database per call,
 *   cloned from a template migrated once per run (see global-setup.ts) when `migrated` is asked for.
 * - Without it: an in-memory embedded PGlite per call, migrated on demand.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import { inject } from "vitest";
import { startEmbeddedDatabase } from "../../src/db/embedded.ts";
import { deployMigrations } from "../../src/db/migrations.ts";

export interface TestDatabase {
  url: string;
  close(): Promise<void>;
}

export function serverUrl(): string | undefined {
  return process.env.TEST_DATABASE_URL || undefined;
}

export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

export async function adminQuery(sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: serverUrl() });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

export async function createTestDatabase({ migrated = false }: { migrated?: boolean } = {}): Promise<TestDatabase> {
  const server = serverUrl();
  if (!server) {
    const embedded = await startEmbeddedDatabase({ maxConnections: 64 });
    if (migrated) await deployMigrations(embedded.url);
    return embedded;
  }
  const name = `todo_test_${randomBytes(6).toString("hex")}`;
  const template = migrated ? inject("templateDatabase") : undefined;
  await adminQuery(`CREATE DATABASE "${name}"${template ? ` TEMPLATE "${template}"` : ""}`);
  return {
    url: withDatabase(server, name),
    close: () => adminQuery(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`),
  };
}
