import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { expect, test } from "vitest";
import { lockFileFor, startEmbeddedDatabase } from "../../../src/db/embedded.ts";

test("persists to its folder, serves several connections, and refuses a second opener", async () => {
  const dataDir = path.join(mkdtempSync(path.join(tmpdir(), "todo-embedded-")), "pglite");
  const first = await startEmbeddedDatabase({ dataDir });
  try {
    expect(existsSync(lockFileFor(dataDir))).toBe(true);
    await expect(startEmbeddedDatabase({ dataDir })).rejects.toThrow(/in use by process/);

    const pool = new pg.Pool({ connectionString: first.url, max: 8 });
    await pool.query("CREATE TABLE t (n int)");
    // Concurrent transactions on separate connections must not interleave inside PGlite's single session.
    await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        const client = await pool.connect();
        try {
          await client.query("BEGIN");
          await client.query("INSERT INTO t VALUES ($1)", [i]);
          await client.query(i % 2 ? "ROLLBACK" : "COMMIT");
        } finally {
          client.release();
        }
      }),
    );
    expect((await pool.query("SELECT count(*)::int AS n FROM t")).rows[0].n).toBe(20);
    await pool.end();
  } finally {
    await first.close();
  }
  expect(existsSync(lockFileFor(dataDir))).toBe(false);

  // A lock left by a crashed process whose pid came back to us (or to anyone else) is stale.
  writeFileSync(lockFileFor(dataDir), JSON.stringify({ pid: process.pid }));

  const again = await startEmbeddedDatabase({ dataDir });
  const client = new pg.Client({ connectionString: again.url });
  await client.connect();
  expect((await client.query("SELECT count(*)::int AS n FROM t")).rows[0].n).toBe(20);
  await client.end();
  await again.close();
});

test("connections the Neon driver closes are released: many pool generations fit in maxConnections", async () => {
  const { createDatabase } = await import("../../../src/db/client.ts");
  const { createLogger } = await import("../../../src/logger.ts");
  const embedded = await startEmbeddedDatabase({ maxConnections: 8 });
  const database = await createDatabase(
    {
      url: embedded.url,
      directUrl: embedded.url,
      driver: "neon",
      poolMax: 4,
      idleTimeoutMs: 10_000,
      connectionTimeoutMs: 3_000,
      pgliteDataDir: "",
    },
    createLogger("silent"),
  );
  try {
    // 10 generations × 4 connections = 40 connections through a server that admits 8 at a time.
    for (let generation = 0; generation < 10; generation++) {
      await Promise.all(
        Array.from({ length: 4 }, () => database.prisma.$queryRaw`SELECT 1 AS one FROM pg_sleep(0.01)`),
      );
      await database.prisma.$disconnect();
    }
    await database.ping();
  } finally {
    await database.close();
    await embedded.close();
  }
});
