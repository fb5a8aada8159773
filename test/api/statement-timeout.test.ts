/**
 * DB_STATEMENT_TIMEOUT_MS: PostgreSQL cancels the API's statements that run longer (a CancelRequest per statement,
 * no startup option, no SET), so statements stuck on a lock give their connections back. On PostgreSQL only: the
 * embedded database serves every connection from one session, where a lock never blocks another connection.
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { Prisma } from "../../src/generated/prisma/client.ts";
import { serverUrl } from "../support/db.ts";
import { errorOf } from "../support/errors.ts";
import { startTestServer, type TestServer } from "../support/server.ts";

const POOL_MAX = 2;
const LIMIT_MS = 400;

describe.runIf(serverUrl())("DB_STATEMENT_TIMEOUT_MS", () => {
  let api: TestServer;
  beforeAll(async () => {
    // One user's statements fill the whole pool here (DB_USER_CONCURRENCY), as the rounds below count on.
    api = await startTestServer({
      DB_POOL_MAX: String(POOL_MAX),
      DB_USER_CONCURRENCY: String(POOL_MAX),
      DB_STATEMENT_TIMEOUT_MS: String(LIMIT_MS),
    });
  });
  afterAll(async () => {
    await api?.close();
  });

  // A second session straight to the database (never through the API's pooler), as another client would be.
  const session = async () => {
    const client = new pg.Client({ connectionString: api.testDatabase.directUrl });
    await client.connect();
    return client;
  };

  test("creates stuck on a table lock each get 503 near the limit, none keeps waiting, the next create succeeds", async () => {
    const alice = await api.clientUnbatched("alice");
    await alice.todo.create.mutate({ title: "before the lock" });
    const locker = await session();
    const watcher = await session();
    try {
      await locker.query("BEGIN");
      await locker.query('LOCK TABLE "Todo"');
      const lockerPid = (await locker.query("SELECT pg_backend_pid() AS pid")).rows[0].pid as number;

      // The API's statements waiting on a lock, and for how long.
      const waiting = async () =>
        (
          await watcher.query(
            `SELECT (extract(epoch FROM clock_timestamp() - query_start) * 1000)::int AS ms FROM pg_stat_activity
             WHERE datname = current_database() AND wait_event_type = 'Lock' AND pid <> $1`,
            [lockerPid],
          )
        ).rows.map((row) => row.ms as number);
      let longestWait = 0;
      let watching = true;
      const watch = (async () => {
        while (watching) {
          longestWait = Math.max(longestWait, ...(await waiting()));
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      })();

      const started = Date.now();
      const outcomes = await Promise.all(
        Array.from({ length: 3 * POOL_MAX }, async (_, i) => {
          const error = await errorOf(alice.todo.create.mutate({ title: `blocked ${i}` }));
          return { error, ms: Date.now() - started };
        }),
      );
      watching = false;
      await watch;

      for (const { error, ms } of outcomes) {
        expect(error.data?.code).toBe("SERVICE_UNAVAILABLE");
        expect(error.data?.httpStatus).toBe(503);
        expect(error.message).toBe("Database unavailable, retry later");
        // Three rounds of POOL_MAX statements, each cancelled at the limit; generous for a loaded machine.
        expect(ms).toBeLessThan(10 * LIMIT_MS);
      }
      // No statement outlived its limit by much, and none is left once every client has its answer.
      expect(longestWait).toBeLessThan(4 * LIMIT_MS);
      expect(await waiting()).toEqual([]);
    } finally {
      await locker.query("ROLLBACK").catch(() => undefined);
      await locker.end();
      await watcher.end();
    }

    // The lock is gone: the pool's connections are usable at once and nothing blocked was written.
    await alice.todo.create.mutate({ title: "after the lock" });
    const { items } = await alice.todo.list.query({ limit: 100 });
    expect(items.map((t) => t.title).sort()).toEqual(["after the lock", "before the lock"]);
  });

  test("a statement in an interactive transaction is cancelled too, and the client goes on", async () => {
    const { prisma } = api.database;
    const started = Date.now();
    const failure = await prisma
      .$transaction(async (tx) => {
        await tx.$queryRaw`SELECT 1`;
        await tx.$queryRaw`SELECT pg_sleep(5)`;
      })
      .then(
        () => undefined,
        (error: unknown) => error,
      );
    expect(Date.now() - started).toBeLessThan(4_000);
    expect(failure).toBeInstanceOf(Prisma.PrismaClientKnownRequestError);
    expect(String((failure as Error).message)).toMatch(/cancel/i);
    expect(await prisma.$queryRaw`SELECT 2 AS n`).toEqual([{ n: 2 }]);
  });

  test("0 disables the limit", async () => {
    const unlimited = await api.variant({ DB_STATEMENT_TIMEOUT_MS: "0" });
    try {
      const rows = await unlimited.database.prisma.$queryRaw`SELECT 1 AS n FROM pg_sleep(${(LIMIT_MS * 2) / 1000})`;
      expect(rows).toEqual([{ n: 1 }]);
    } finally {
      await unlimited.close();
    }
  });
});
