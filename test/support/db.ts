/**
 * Test databases: each caller gets its own, so test files can run in parallel.
 * - With TEST_DATABASE_URL (a PostgreSQL server that may create databases): a new database per call,
 *   cloned from a template migrated once per run (see global-setup.ts) when `migrated` is asked for.
 * - Without it: an in-memory embedded PGlite per call, loaded from a data folder dumped once per run (empty or
 *   migrated, see global-setup.ts).
 * - In the pgbouncer projects (pgbouncer-setup.ts): created directly as above, set to America/New_York, and `url`
 *   goes through the private PgBouncer, as DATABASE_URL does on Neon; `directUrl` stays direct, as DIRECT_URL does.
 */
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import pg from "pg";
import { inject } from "vitest";
import { startEmbeddedDatabase } from "../../src/db/embedded.ts";

export interface TestDatabase {
  /** Where the API connects: through the pooler in the pgbouncer projects. */
  url: string;
  /** The database itself (migrations, a second session that must not share the pooler's connections). */
  directUrl: string;
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
    const embedded = await startEmbeddedDatabase({
      maxConnections: 64,
      loadDataDir: await tarball(migrated ? templates.migrated : templates.empty),
    });
    return { url: embedded.url, directUrl: embedded.url, close: () => embedded.close() };
  }
  const name = `todo_test_${randomBytes(6).toString("hex")}`;
  const template = migrated ? inject("templateDatabase") : undefined;
  await adminQuery(`CREATE DATABASE "${name}"${template ? ` TEMPLATE "${template}"` : ""}`);
  const pooler = inject("pgbouncerUrl");
  // Before any pooled connection: PgBouncer keeps its server sessions, which read the setting when they start.
  if (pooler) await adminQuery(`ALTER DATABASE "${name}" SET timezone TO 'America/New_York'`);
  return {
    url: withDatabase(pooler ?? server, name),
    directUrl: withDatabase(server, name),
    close: () => adminQuery(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`),
  };
}
