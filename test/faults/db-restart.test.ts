/**
 * Database restart under load: 32 clients create and read while the database stops for a few seconds
 * and starts again. Requests fail fast and cleanly, /readyz says 503, service resumes without restarting
 * the API, and every acknowledged create is in the database exactly once.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { countBy, measure, sleep, until, userClient, type Outcome } from "./support/load.ts";
import { startOwnPostgres, type OwnPostgres } from "./support/postgres.ts";
import { record } from "./support/record.ts";
import { spawnServer } from "./support/server-process.ts";
import { skipFaults } from "./support/suite.ts";

const CLIENTS = 32;
const CONNECTION_TIMEOUT_MS = 2_000;
// How much longer than the connection timeout a failing request may take (scheduling on a busy machine).
const MARGIN_MS = 2_000;
const OUTAGE_MS = 3_000;
const RECOVERY_MS = 5_000;

describe.skipIf(skipFaults)("database restart under load", () => {
  let db: OwnPostgres;
  beforeAll(async () => {
    db = await startOwnPostgres();
  });
  afterAll(async () => {
    await db?.destroy();
  });

  // A fast stop ends sessions with an error (57P01); an immediate one is a crash, recovered from the WAL.
  // One of each per driver keeps CI short; FAULTS_FULL=1 runs all four combinations.
  const cases = [
    ["neon", "immediate"],
    ["pg", "fast"],
    ...(process.env.FAULTS_FULL === "1"
      ? ([
          ["neon", "fast"],
          ["pg", "immediate"],
        ] as const)
      : []),
  ] as const;
  test.each(cases)(
    "%s driver, %s stop: fails fast while down, serves again within 5 s, loses nothing",
    async (driver, mode) => {
      const name = `restart_${driver}_${mode}`;
      const url = await db.createMigratedDatabase(name);
      const server = await spawnServer({
        DATABASE_URL: url,
        DB_DRIVER: driver,
        DB_CONNECTION_TIMEOUT_MS: String(CONNECTION_TIMEOUT_MS),
      });
      try {
        const clients = await Promise.all(
          Array.from({ length: CLIENTS }, (_, i) => userClient(server.trpcUrl, `restart-${driver}-${i}`)),
        );
        const outcomes: (Outcome & { op: string })[] = [];
        const acknowledged: { id: string; title: string }[] = [];
        const readiness: { status: number; startedAt: number; endedAt: number }[] = [];
        let running = true;

        const loops = clients.map(async (client, i) => {
          let seq = 0;
          let lastId: string | undefined;
          while (running) {
            const title = `client ${i} todo ${seq++}`;
            const created = await measure(() => client.todo.create.mutate({ title }));
            outcomes.push({ ...created.outcome, op: "create" });
            if (created.value) {
              acknowledged.push({ id: created.value.id, title });
              lastId = created.value.id;
            }
            const id = lastId;
            const read = await measure<unknown>(() =>
              id && seq % 2 ? client.todo.byId.query({ id }) : client.todo.list.query({ limit: 5 }),
            );
            outcomes.push({ ...read.outcome, op: "read" });
            // A client that was refused backs off a little before retrying, as a real one would.
            if (created.outcome.code !== "OK" || read.outcome.code !== "OK") await sleep(100);
          }
        });
        // Probes every 250 ms, each on its own (a probe waits for a pool connection like any request).
        const probes: Promise<void>[] = [];
        const probe = () => {
          const startedAt = Date.now();
          probes.push(
            fetch(`${server.url}/readyz`, { signal: AbortSignal.timeout(30_000) })
              .then(
                (res) => res.status,
                () => 0,
              )
              .then((status) => void readiness.push({ status, startedAt, endedAt: Date.now() })),
          );
        };
        const prober = setInterval(probe, 250);

        // Warm: every client served once (first queries compile Prisma's plans), then steady load.
        await until(
          () => (new Set(acknowledged.map((a) => a.title.split(" todo")[0])).size === CLIENTS ? true : undefined),
          60_000,
        );
        const warm = Date.now();
        await sleep(2_000);
        const stopping = Date.now();
        await db.stop(mode);
        const down = Date.now();
        await sleep(OUTAGE_MS);
        const restarting = Date.now();
        await db.start();
        const up = Date.now();
        const recovered = await until(
          () => outcomes.find((o) => o.op === "create" && o.code === "OK" && o.startedAt >= up)?.endedAt,
          30_000,
        );
        await sleep(2_000);
        running = false;
        clearInterval(prober);
        probe();
        await Promise.all([...loops, ...probes]);

        const failed = outcomes.filter((o) => o.code !== "OK");
        // Requests sent once the database was going away must fail within the connection timeout.
        const slowestFailure = Math.max(
          0,
          ...failed.filter((o) => o.startedAt >= stopping).map((o) => o.endedAt - o.startedAt),
        );
        const duringOutage = outcomes.filter((o) => o.startedAt >= down && o.endedAt <= restarting);
        // Probes made and answered while the database was down or still starting.
        // Until the restart begins: pg_ctl start returns after the database already accepts connections.
        const readyDuringOutage = readiness.filter((r) => r.startedAt >= down && r.endedAt <= restarting);
        const summary = {
          counts: countBy(outcomes),
          slowestFailureMs: slowestFailure,
          recoveryMs: recovered - up,
          readyDuringOutage: countBy(
            readyDuringOutage.map((r) => ({ code: String(r.status), startedAt: 0, endedAt: 0 })),
          ),
        };
        console.log(`database restart (${driver}, ${mode})`, JSON.stringify(summary));

        // Warm and before the fault everything worked (a cold start on a busy machine may time out waiting
        // for its first connections: a 503 too); every failure was a clean, retryable 503, and fast.
        const steady = outcomes.filter((o) => o.startedAt >= warm && o.endedAt < stopping);
        expect(steady.length).toBeGreaterThan(0);
        expect(
          steady.filter((o) => o.code !== "OK"),
          "failures before the fault",
        ).toEqual([]);
        expect(countBy(failed)).toEqual(failed.length ? { SERVICE_UNAVAILABLE: failed.length } : {});
        expect(slowestFailure).toBeLessThanOrEqual(CONNECTION_TIMEOUT_MS + MARGIN_MS);
        expect(duringOutage.length).toBeGreaterThan(0);
        expect(duringOutage.every((o) => o.code === "SERVICE_UNAVAILABLE")).toBe(true);
        // Readiness followed the database.
        expect(readyDuringOutage.length).toBeGreaterThan(0);
        expect(readyDuringOutage.every((r) => r.status === 503)).toBe(true);
        expect(readiness.sort((a, b) => a.startedAt - b.startedAt).at(-1)?.status).toBe(200);
        // Served again within 5 s of the database accepting connections, and from then on without errors.
        expect(recovered - up).toBeLessThanOrEqual(RECOVERY_MS);
        expect(
          outcomes.filter((o) => o.startedAt >= recovered + 1_000 && o.code !== "OK"),
          "failures after recovery",
        ).toEqual([]);
        expect(server.alive()).toBe(true);

        // Every acknowledged create is there exactly once.
        const rows = await db.query<{ id: string; title: string }>(`SELECT id, title FROM "Todo"`, [], name);
        const ids = new Set(rows.map((r) => r.id));
        const perTitle = new Map<string, number>();
        for (const { title } of rows) perTitle.set(title, (perTitle.get(title) ?? 0) + 1);
        const missing = acknowledged.filter((a) => !ids.has(a.id));
        const duplicated = [...perTitle].filter(([, n]) => n > 1);
        expect(missing).toEqual([]);
        expect(duplicated).toEqual([]);

        record({
          fault: `database stopped 3 s under load (pg_ctl stop -m ${mode}) and restarted`,
          driver,
          served: outcomes.filter((o) => o.code === "OK").length,
          refused: failed.length,
          checked: acknowledged.length,
          lost: missing.length + duplicated.length,
        });
      } finally {
        server.kill("SIGTERM");
        await server.exited;
      }
    },
  );
});
