/**
 * Graceful shutdown: SIGTERM while 100 requests are in flight (the database holds them with a table
 * lock). New connections are refused, every in-flight request is answered, the pool and the proxy close,
 * and the process exits 0 within SHUTDOWN_TIMEOUT_MS (the forced exit would be 1).
 */
import { readFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import pg from "pg";
import { signToken } from "../../src/auth/tokens.ts";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { countBy, sleep, until, userClient, type Outcome } from "./support/load.ts";
import { startOwnPostgres, type OwnPostgres } from "./support/postgres.ts";
import { record } from "./support/record.ts";
import { FAULT_SECRET, spawnServer } from "./support/server-process.ts";
import { skipFaults } from "./support/suite.ts";

const IN_FLIGHT = 100;
const POOL_MAX = 10;
const SHUTDOWN_TIMEOUT_MS = 20_000;

function connectionRefused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    socket.once("connect", () => {
      socket.destroy();
      resolve(false);
    });
    socket.once("error", (error: NodeJS.ErrnoException) => resolve(error.code === "ECONNREFUSED"));
  });
}

/** One create on its own connection; `sent` resolves once the whole request is handed to the kernel. */
function createOnOwnConnection(port: number, token: string, title: string) {
  let markSent!: () => void;
  const sent = new Promise<void>((resolve) => (markSent = resolve));
  const startedAt = Date.now();
  const done = new Promise<{ outcome: Outcome; value?: { id: string } }>((resolve) => {
    const body = JSON.stringify({ json: { title } });
    const req = http.request(
      {
        host: "127.0.0.1",
        port,
        method: "POST",
        path: "/trpc/todo.create",
        agent: false,
        headers: {
          authorization: `Bearer ${token}`,
          "content-type": "application/json",
          "content-length": Buffer.byteLength(body),
        },
      },
      (res) => {
        let text = "";
        res
          .setEncoding("utf8")
          .on("data", (chunk) => (text += chunk))
          .on("end", () => {
            const outcome = {
              code: res.statusCode === 200 ? "OK" : `HTTP ${res.statusCode}`,
              status: res.statusCode,
              startedAt,
              endedAt: Date.now(),
            };
            resolve({
              outcome,
              value:
                res.statusCode === 200
                  ? (JSON.parse(text) as { result: { data: { json: { id: string } } } }).result.data.json
                  : undefined,
            });
          });
      },
    );
    req.on("finish", markSent);
    req.on("error", () => resolve({ outcome: { code: "NETWORK", startedAt, endedAt: Date.now() } }));
    req.end(body);
  });
  return { sent, done };
}

/** Whether the process listening on `port` holds `count` established connections with nothing left unread. */
function serverHasRead(port: number, count: number): boolean {
  const portHex = `:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  const sockets = readFileSync("/proc/net/tcp", "utf8")
    .split("\n")
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((f) => f[1]?.endsWith(portHex) && f[3] === "01");
  return sockets.length >= count && sockets.every((f) => f[4]!.endsWith(":00000000"));
}

describe.skipIf(skipFaults)("graceful shutdown", () => {
  let db: OwnPostgres;
  beforeAll(async () => {
    db = await startOwnPostgres();
  });
  afterAll(async () => {
    await db?.destroy();
  });

  test.each(["neon", "pg"] as const)(
    "%s driver: SIGTERM with 100 requests in flight finishes them all and exits 0",
    async (driver) => {
      const name = `shutdown_${driver}`;
      const url = await db.createMigratedDatabase(name);
      const server = await spawnServer({
        DATABASE_URL: url,
        DB_DRIVER: driver,
        DB_POOL_MAX: String(POOL_MAX),
        // Requests queued for a connection must outlast the lock below.
        DB_CONNECTION_TIMEOUT_MS: "30000",
        SHUTDOWN_TIMEOUT_MS: String(SHUTDOWN_TIMEOUT_MS),
      });
      const port = Number(new URL(server.url).port);
      const blocker = new pg.Client({ connectionString: url });
      try {
        const clients = await Promise.all(
          Array.from({ length: IN_FLIGHT }, (_, i) => userClient(server.trpcUrl, `shutdown-${driver}-${i}`)),
        );
        // Every user seen once, so the in-flight requests are single writes.
        for (let i = 0; i < IN_FLIGHT; i += POOL_MAX) {
          await Promise.all(clients.slice(i, i + POOL_MAX).map((c) => c.me.query()));
        }
        const logStart = (await db.log()).length;

        await blocker.connect();
        await blocker.query(`BEGIN; LOCK TABLE "Todo" IN ACCESS EXCLUSIVE MODE`);
        const tokens = await Promise.all(
          clients.map((_, i) => signToken(FAULT_SECRET, { sub: `shutdown-${driver}-${i}` })),
        );
        const requests = tokens.map((token, i) => createOnOwnConnection(port, token, `in flight ${i}`));
        const inFlight = requests.map((r) => r.done);
        // In flight for real: the pool is saturated (every connection waits on the lock), every request
        // has been sent, and the server has read every byte of them.
        await until(async () => {
          const [row] = await db.query<{ n: string }>(
            `SELECT count(*) AS n FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'`,
            [name],
          );
          return Number(row!.n) >= POOL_MAX ? true : undefined;
        }, 30_000);
        await Promise.all(requests.map((r) => r.sent));
        await until(() => (serverHasRead(port, IN_FLIGHT) ? true : undefined), 30_000, 50);

        const signalledAt = Date.now();
        server.kill("SIGTERM");
        await server.waitForLog((l) => l.msg.startsWith("shutting down"));
        // New connections are refused (the log line may reach us a moment before the listener closes).
        await until(async () => ((await connectionRefused(port)) ? true : undefined), 5_000, 20);
        await sleep(500);
        expect(server.alive(), "the server waits for its in-flight requests").toBe(true);

        await blocker.query("COMMIT");
        const results = await Promise.all(inFlight);
        const exit = await server.exited;
        const exitedAfterMs = Date.now() - signalledAt;
        const outcomes = results.map((r) => r.outcome);
        console.log(`shutdown (${driver})`, JSON.stringify({ ...countBy(outcomes), exit, exitedAfterMs }));

        expect(countBy(outcomes)).toEqual({ OK: IN_FLIGHT });
        expect(exit).toEqual({ code: 0, signal: null });
        expect(server.logs.map((l) => l.msg)).toContain("stopped");
        expect(server.logs.map((l) => l.msg)).not.toContain("shutdown timed out, exiting");
        // The exit came through the normal path (pool and proxy closed, then "stopped"), and no session
        // was dropped in the middle of a transaction.
        const pgLog = (await db.log()).slice(logStart);
        expect(pgLog).not.toMatch(/unexpected EOF on client connection/);

        const ids = new Set((await db.query<{ id: string }>(`SELECT id FROM "Todo"`, [], name)).map((r) => r.id));
        const missing = results.filter((r) => r.value && !ids.has(r.value.id));
        expect(missing).toEqual([]);
        record({
          fault: `SIGTERM with ${IN_FLIGHT} requests in flight`,
          driver,
          served: IN_FLIGHT,
          refused: 0,
          checked: ids.size,
          lost: missing.length,
        });
      } finally {
        await blocker.end().catch(() => {});
        server.kill("SIGKILL");
        await server.exited;
      }
    },
  );
});
