/**
 * Pool exhaustion: ten times more concurrent requests than DB_POOL_MAX while the database holds every
 * query (a table lock). The requests that got a connection complete once it lets go; the rest time out
 * waiting for one with a clean 503 and write nothing. Memory stays bounded and the process lives.
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { countBy, measure, sleep, userClient } from "./support/load.ts";
import { startOwnPostgres, type OwnPostgres } from "./support/postgres.ts";
import { record } from "./support/record.ts";
import { spawnServer } from "./support/server-process.ts";
import { skipFaults } from "./support/suite.ts";

const POOL_MAX = 4;
const CONCURRENCY = POOL_MAX * 10;
const CONNECTION_TIMEOUT_MS = 3_000;
const MARGIN_MS = 2_000;
const LOCKED_WAVES = 2;
const FREE_WAVES = 5;

describe.skipIf(skipFaults)("pool exhaustion", () => {
  let db: OwnPostgres;
  beforeAll(async () => {
    db = await startOwnPostgres();
  });
  afterAll(async () => {
    await db?.destroy();
  });

  test.each(["neon", "pg"] as const)(
    "%s driver: 10× DB_POOL_MAX concurrent requests complete or time out cleanly",
    async (driver) => {
      const name = `pool_${driver}`;
      const url = await db.createMigratedDatabase(name);
      const server = await spawnServer({
        DATABASE_URL: url,
        DB_DRIVER: driver,
        DB_POOL_MAX: String(POOL_MAX),
        DB_CONNECTION_TIMEOUT_MS: String(CONNECTION_TIMEOUT_MS),
      });
      try {
        const clients = await Promise.all(
          Array.from({ length: CONCURRENCY }, (_, i) => userClient(server.trpcUrl, `pool-${driver}-${i}`)),
        );
        const acknowledged: string[] = [];
        const refused: string[] = [];
        let seq = 0;
        const wave = (only = clients) =>
          Promise.all(
            only.map(async (client, i) => {
              const title = `client ${i} todo ${seq++}`;
              const { outcome, value } = await measure(() => client.todo.create.mutate({ title }));
              if (value) acknowledged.push(value.id);
              else refused.push(title);
              return outcome;
            }),
          );

        // Warm up a pool's worth at a time (first requests create the users and compile Prisma's plans).
        for (let i = 0; i < CONCURRENCY; i += POOL_MAX) {
          for (const outcome of await wave(clients.slice(i, i + POOL_MAX))) expect(outcome.code).toBe("OK");
        }
        // Without a fault the pool queues the surplus and serves everyone.
        for (const outcome of await wave()) expect(outcome.code).toBe("OK");
        const rssBefore = server.rss();

        const locked = [];
        for (let i = 0; i < LOCKED_WAVES; i++) {
          // The database holds every write on the table until the lock goes.
          const blocker = new pg.Client({ connectionString: url });
          await blocker.connect();
          await blocker.query(`BEGIN; LOCK TABLE "Todo" IN ACCESS EXCLUSIVE MODE`);
          const pending = wave();
          await sleep(CONNECTION_TIMEOUT_MS + 1_000);
          await blocker.query("COMMIT");
          await blocker.end();
          locked.push(...(await pending));
        }
        const free = [];
        for (let i = 0; i < FREE_WAVES; i++) free.push(...(await wave()));
        expect(server.alive(), "the server process exited during the test").toBe(true);
        const rssAfter = server.rss();
        console.log(
          `pool exhaustion (${driver})`,
          JSON.stringify({
            locked: countBy(locked),
            free: countBy(free),
            rssBeforeMiB: rssBefore >> 20,
            rssAfterMiB: rssAfter >> 20,
          }),
        );

        // Each locked wave: the requests holding a connection finished, the rest got a prompt 503.
        const counts = countBy(locked);
        expect(Object.keys(counts).sort()).toEqual(["OK", "SERVICE_UNAVAILABLE"]);
        expect(counts.OK).toBeGreaterThanOrEqual(POOL_MAX * LOCKED_WAVES);
        const refusedTimes = locked.filter((o) => o.code !== "OK").map((o) => o.endedAt - o.startedAt);
        expect(Math.max(...refusedTimes)).toBeLessThanOrEqual(CONNECTION_TIMEOUT_MS + MARGIN_MS);
        expect(free.every((o) => o.code === "OK")).toBe(true);
        // Memory bounded: the waves after the fault did not grow the process by more than half.
        expect(rssAfter).toBeLessThan(rssBefore * 1.5);
        expect(server.alive()).toBe(true);

        // Acknowledged creates are there; refused ones never got a connection, so wrote nothing.
        const rows = await db.query<{ id: string; title: string }>(`SELECT id, title FROM "Todo"`, [], name);
        const ids = new Set(rows.map((r) => r.id));
        const titles = new Set(rows.map((r) => r.title));
        const missing = acknowledged.filter((id) => !ids.has(id));
        expect(missing).toEqual([]);
        expect(refused.filter((title) => titles.has(title))).toEqual([]);
        expect(rows.length).toBe(acknowledged.length);

        record({
          fault: `pool exhaustion: ${CONCURRENCY} concurrent requests on DB_POOL_MAX=${POOL_MAX}, database holding every write`,
          driver,
          served: locked.filter((o) => o.code === "OK").length + free.length,
          refused: refused.length,
          checked: acknowledged.length,
          lost: missing.length,
        });
      } finally {
        server.kill("SIGTERM");
        await server.exited;
      }
    },
  );
});
