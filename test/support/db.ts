/**
 * Test databases: each caller gets its own, so test files can run in parallel.
 * - With TEST_DATABASE_URL (a PostgreSQL server that may create databases): a new database per call,
 *   cloned from a template migrated once per run (see global-setup.ts) when `migrated` is asked for.
 * - Without it: an in-memory embedded PGlite per call, loaded from a data folder dumped once per run (empty or
 *   migrated, see global-setup.ts).
 */
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import pg from "pg";
import { inject } from "vitest";
import { startEmbeddedDatabase } from "../../src/db/embedded.ts";

export interface TestDatabase {
  url: string;
  close(): Promise<void>;
}

/** Tarballs of an embedded data folder: fresh from initdb, and with every migration applied. */
export interface EmbeddedTemplates {
  empty: string;
  migrated: string;
}

// A file asking for several databases reads each tarball once.
const tarballs = new Map<string, Promise<Blob>>();
function tarball(file: string): Promise<Blob> {
  let blob = tarballs.get(file);
  if (!blob) tarballs.set(file, (blob = readFile(file).then((bytes) => new Blob([bytes]))));
  return blob;
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
    const templates = inject("embeddedTemplates")!;
    return startEmbeddedDatabase({ maxConnections: 64, loadDataDir: await tarball(migrated ? templates.migrated : templates.empty) });
  }
  const name = `todo_test_${randomBytes(6).toString("hex")}`;
  const template = migrated ? inject("templateDatabase") : undefined;
  await adminQuery(`CREATE DATABASE "${name}"${template ? ` TEMPLATE "${template}"` : ""}`);
  return {
    url: withDatabase(server, name),
    close: () => adminQuery(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`),
  };
}
