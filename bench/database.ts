import { randomBytes } from "node:crypto";
import pg from "pg";
import { deployMigrations } from "../src/db/migrations.ts";

/** The seeded users: the reader owns the todos that list, byId and update read; creates go to the writer. */
export const READER = "bench-reader";
export const WRITER = "bench-writer";
export const SEEDED_TODOS = 1000;

function withDatabaseName(url: string, name: string): string {
  const u = new URL(url);
  u.pathname = `/${name}`;
  return u.toString();
}

async function withClient<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

/** A fresh, migrated database with a random name on the server at `adminUrl`; `drop()` removes it. */
export async function createBenchDatabase(adminUrl: string): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `todo_bench_${randomBytes(6).toString("hex")}`;
  const drop = () =>
    withClient(adminUrl, (c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)).then(() => {});
  await withClient(adminUrl, (c) => c.query(`CREATE DATABASE "${name}"`));
  const url = withDatabaseName(adminUrl, name);
  try {
    await deployMigrations(url);
  } catch (error) {
    await drop();
    throw error;
  }
  return { url, drop };
}

/** Seeds the two users and the reader's todos; returns the reader's todo ids. */
export async function seed(url: string): Promise<string[]> {
  return withClient(url, async (c) => {
    await c.query(`INSERT INTO "User" ("id") VALUES ($1), ($2) ON CONFLICT DO NOTHING`, [READER, WRITER]);
    await c.query(
      `INSERT INTO "Todo" ("id", "userId", "title", "description", "createdAt", "updatedAt")
       SELECT gen_random_uuid(), $1, 'Todo ' || i, CASE WHEN i % 2 = 0 THEN 'Details of todo ' || i END,
              now() - i * interval '1 minute', now() - i * interval '1 minute'
       FROM generate_series(1, ${SEEDED_TODOS}) AS i`,
      [READER],
    );
    const { rows } = await c.query<{ id: string }>(`SELECT "id" FROM "Todo" WHERE "userId" = $1`, [READER]);
    return rows.map((r) => r.id);
  });
}
