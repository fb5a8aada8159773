import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { expect, test } from "vitest";
import { lockFileFor, startEmbeddedDatabase } from "../src/db/embedded.ts";

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

  const again = await startEmbeddedDatabase({ dataDir });
  const client = new pg.Client({ connectionString: again.url });
  await client.connect();
  expect((await client.query("SELECT count(*)::int AS n FROM t")).rows[0].n).toBe(20);
  await client.end();
  await again.close();
});
