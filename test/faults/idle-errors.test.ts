/**
 * Driver errors outside any request: idle pooled connections are killed by the server
 * (pg_terminate_backend) or dropped by the network (relay cut). The adapters' onPoolError /
 * onConnectionError log them, the process lives on, and the next requests are served.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { countBy, measure, sleep, until, userClient, type Client, type Outcome } from "./support/load.ts";
import { startOwnPostgres, type OwnPostgres } from "./support/postgres.ts";
import { record } from "./support/record.ts";
import { startPgRelay, type PgRelay } from "../../tools/pg-relay.ts";
import { spawnServer } from "./support/server-process.ts";
import { skipFaults } from "./support/suite.ts";

const POOL_MAX = 4;

describe.skipIf(skipFaults)("driver errors outside a request", () => {
  let db: OwnPostgres;
  let relay: PgRelay;
  beforeAll(async () => {
    db = await startOwnPostgres();
    relay = await startPgRelay({ targetPort: db.port });
  });
  afterAll(async () => {
    await relay?.close();
    await db?.destroy();
  });

  test.each(["neon", "pg"] as const)(
    "%s driver: idle connections killed or cut are logged, never fatal",
    async (driver) => {
      const name = `idle_${driver}`;
      await db.createMigratedDatabase(name);
      const server = await spawnServer({
        DATABASE_URL: `postgresql://postgres@127.0.0.1:${relay.port}/${name}`,
        DB_DRIVER: driver,
        DB_POOL_MAX: String(POOL_MAX),
        DB_POOL_IDLE_TIMEOUT_MS: "600000",
      });
      const poolErrors = () =>
        server.logs.filter((l) => l.msg === "database pool error" || l.msg === "database connection error").length;
      try {
        const clients = await Promise.all(
          Array.from({ length: POOL_MAX }, (_, i) => userClient(server.trpcUrl, `idle-${driver}-${i}`)),
        );
        const outcomes: Outcome[] = [];
        // Fill the pool, then leave its connections idle.
        const burst = async () => {
          for (let round = 0; round < 3; round++) {
            const results = await Promise.all(clients.map((c: Client) => measure(() => c.todo.stats.query())));
            outcomes.push(...results.map((r) => r.outcome));
          }
        };
        const backends = async () =>
          (await db.query<{ n: string }>(`SELECT count(*) AS n FROM pg_stat_activity WHERE datname = $1`, [name]))[0]!
            .n;

        await burst();
        expect(outcomes.every((o) => o.code === "OK")).toBe(true);
        await sleep(200);
        expect(Number(await backends())).toBeGreaterThan(0);

        // 1. The server ends the idle sessions (as a failover or an administrator would).
        let before = poolErrors();
        await db.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1`, [name]);
        await until(() => (poolErrors() > before ? true : undefined), 10_000);
        await sleep(200);
        expect(server.alive()).toBe(true);
        const afterTerminate = outcomes.length;
        await burst();

        // 2. The network drops them without a word ("Connection terminated unexpectedly").
        before = poolErrors();
        relay.cut();
        await until(() => (poolErrors() > before ? true : undefined), 10_000);
        await sleep(200);
        expect(server.alive()).toBe(true);
        await burst();

        console.log(`idle errors (${driver})`, JSON.stringify(countBy(outcomes)), `logged: ${poolErrors()}`);
        // Dead idle connections were dropped from the pool before anyone was handed one.
        expect(outcomes.slice(afterTerminate).filter((o) => o.code !== "OK")).toEqual([]);
        expect(server.logs.filter((l) => l.level >= 60)).toEqual([]); // nothing fatal
        const logged = server.logs
          .filter((l) => /database (pool|connection) error/.test(l.msg))
          .map((l) => (l.err as { message?: string }).message);
        expect(logged).toContainEqual(expect.stringMatching(/terminating connection due to administrator command/));
        expect(logged).toContainEqual(expect.stringMatching(/Connection terminated unexpectedly|ECONNRESET/));
        record({
          fault: "idle connections terminated (pg_terminate_backend) and cut (relay), outside any request",
          driver,
          served: outcomes.filter((o) => o.code === "OK").length,
          refused: outcomes.filter((o) => o.code === "SERVICE_UNAVAILABLE").length,
          checked: 0,
          lost: 0,
        });
      } finally {
        server.kill("SIGTERM");
        await server.exited;
      }
    },
  );
});
