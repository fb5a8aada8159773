/** In the pgbouncer projects: the API's traffic really goes through the private PgBouncer, in transaction mode. */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, test } from "vitest";
import { withDatabase } from "../support/db.ts";
import { startTestServer, type TestServer } from "../support/server.ts";

const pooler = inject("pgbouncerUrl");

describe.runIf(pooler)("through PgBouncer", () => {
  let api: TestServer;
  beforeAll(async () => {
    api = await startTestServer();
  });
  afterAll(async () => {
    await api?.close();
  });

  async function admin<T>(sql: string): Promise<T[]> {
    const client = new pg.Client({ connectionString: withDatabase(pooler!, "pgbouncer") });
    await client.connect();
    try {
      return (await client.query(sql)).rows as T[];
    } finally {
      await client.end();
    }
  }

  test("the API connects to the pooler, whose pool for its database is in transaction mode and carries its transactions", async () => {
    expect(new URL(api.testDatabase.url).port).toBe(new URL(pooler!).port);
    const name = new URL(api.testDatabase.url).pathname.slice(1);
    const alice = await api.client("alice");
    await alice.todo.create.mutate({ title: "pooled" });
    expect((await alice.todo.list.query({})).items.map((t) => t.title)).toEqual(["pooled"]);

    const pools = await admin<{ database: string; pool_mode: string }>("SHOW POOLS");
    expect(pools.find((p) => p.database === name)?.pool_mode).toBe("transaction");
    const stats = await admin<{ database: string; total_xact_count: string }>("SHOW STATS");
    expect(Number(stats.find((s) => s.database === name)?.total_xact_count)).toBeGreaterThanOrEqual(2);
  });

  test("the database behind it is in America/New_York, and no startup option overrides it", async () => {
    const client = new pg.Client({ connectionString: api.testDatabase.url });
    await client.connect();
    try {
      expect((await client.query("SELECT current_setting('TimeZone') AS tz")).rows[0].tz).toBe("America/New_York");
    } finally {
      await client.end();
    }
  });
});
