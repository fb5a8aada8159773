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

  test.each(["neon", "pg"] as const)("%s driver: fails fast while down, serves again within 5 s, loses nothing", async (driver) => {
    const url = await db.createMigratedDatabase(`restart_${driver}`);
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
          const read = await measure<unknown>(() => (id && seq % 2 ? client.todo.byId.query({ id }) : client.todo.list.query({ limit: 5 })));
          outcomes.push({ ...read.outcome, op: "read" });
          // A client that was refused backs off a little before retrying, as a real one would.
          if (created.outcome.code !== "OK" || read.outcome.code !== "OK") await sleep(100);
        }
      });
      const readinessLoop = (async () => {
        while (running) {
          const startedAt = Date.now();
          const status = await fetch(`${server.url}/readyz`, { signal: AbortSignal.timeout(30_000) }).then(
            (res) => res.status,
            () => 0,
          );
          readiness.push({ status, startedAt, endedAt: Date.now() });
          await sleep(200);
        }
      })();

      // Warm: every client served once (first queries compile Prisma's plans), then steady load.
      await until(() => (new Set(acknowledged.map((a) => a.title.split(" todo")[0])).size === CLIENTS ? true : undefined), 60_000);
      await sleep(2_000);
      const stopping = Date.now();
      await db.stop("fast");
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
      await Promise.all([...loops, readinessLoop]);

      const failed = outcomes.filter((o) => o.code !== "OK");
      // Requests sent once the database was going away must fail within the connection timeout.
      const slowestFailure = Math.max(0, ...failed.filter((o) => o.startedAt >= stopping).map((o) => o.endedAt - o.startedAt));
      const duringOutage = outcomes.filter((o) => o.startedAt >= down && o.endedAt <= restarting);
      const readyDuringOutage = readiness.filter((r) => r.startedAt >= down && r.endedAt <= restarting);
      const summary = {
        counts: countBy(outcomes),
        slowestFailureMs: slowestFailure,
        recoveryMs: recovered - up,
        readyDuringOutage: countBy(readyDuringOutage.map((r) => ({ code: String(r.status), startedAt: 0, endedAt: 0 }))),
      };
      console.log(`database restart (${driver})`, JSON.stringify(summary));

      // Before the fault everything worked; every failure was a clean, retryable 503, and fast.
      expect(outcomes.filter((o) => o.endedAt < stopping && o.code !== "OK")).toEqual([]);
      expect(countBy(failed)).toEqual(failed.length ? { SERVICE_UNAVAILABLE: failed.length } : {});
      expect(slowestFailure).toBeLessThanOrEqual(CONNECTION_TIMEOUT_MS + MARGIN_MS);
      expect(duringOutage.length).toBeGreaterThan(0);
      expect(duringOutage.every((o) => o.code === "SERVICE_UNAVAILABLE")).toBe(true);
      // Readiness followed the database.
      expect(readyDuringOutage.length).toBeGreaterThan(0);
      expect(readyDuringOutage.every((r) => r.status === 503)).toBe(true);
      expect(readiness.at(-1)?.status).toBe(200);
      // Served again within 5 s of the database accepting connections, and from then on without errors.
      expect(recovered - up).toBeLessThanOrEqual(RECOVERY_MS);
      expect(outcomes.filter((o) => o.startedAt >= recovered + 1_000 && o.code !== "OK")).toEqual([]);
      expect(server.alive()).toBe(true);

      // Every acknowledged create is there exactly once.
      const rows = await db.query<{ id: string; title: string }>(`SELECT id, title FROM "Todo"`, [], `restart_${driver}`);
      const ids = new Set(rows.map((r) => r.id));
      const perTitle = new Map<string, number>();
      for (const { title } of rows) perTitle.set(title, (perTitle.get(title) ?? 0) + 1);
      const missing = acknowledged.filter((a) => !ids.has(a.id));
      const duplicated = [...perTitle].filter(([, n]) => n > 1);
      expect(missing).toEqual([]);
      expect(duplicated).toEqual([]);

      record({
        fault: "database stopped 3 s under load (pg_ctl stop -m fast) and restarted",
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
  });
});
