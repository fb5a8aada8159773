/**
 * Connections cut mid-transaction: a relay between the driver and PostgreSQL drops every socket while a
 * transaction is open. Nothing of the transaction is written, the pool replaces the connections, and the
 * API under load answers cut requests with a clean 503 and serves again at once.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { parseConfig } from "../../src/config.ts";
import { createDatabase } from "../../src/db/client.ts";
import { captureLogger } from "./support/capture-logger.ts";
import { countBy, measure, sleep, until, userClient, type Outcome } from "./support/load.ts";
import { startOwnPostgres, type OwnPostgres } from "./support/postgres.ts";
import { record } from "./support/record.ts";
import { startPgRelay, type PgRelay } from "../../tools/pg-relay.ts";
import { spawnServer } from "./support/server-process.ts";
import { skipFaults } from "./support/suite.ts";

const POOL_MAX = 4;
const drivers = ["neon", "pg"] as const;

describe.skipIf(skipFaults)("connections cut", () => {
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

  const relayedUrl = (database: string) => `postgresql://postgres@127.0.0.1:${relay.port}/${database}`;

  test.each(drivers)(
    "%s driver: a transaction cut in the middle writes nothing; the pool replaces the connection",
    async (driver) => {
      const name = `cut_tx_${driver}`;
      await db.createMigratedDatabase(name);
      const config = parseConfig({
        DATABASE_URL: relayedUrl(name),
        DB_DRIVER: driver,
        DB_POOL_MAX: String(POOL_MAX),
        DB_CONNECTION_TIMEOUT_MS: "3000",
      });
      const { logger, lines } = captureLogger();
      const database = await createDatabase({ ...config.db, url: relayedUrl(name) }, logger);
      try {
        const { prisma } = database;
        const user = await prisma.user.create({ data: { id: `cut-${driver}` } });
        const marker = randomUUID();

        const transaction = prisma.$transaction(async (tx) => {
          await tx.todo.create({ data: { userId: user.id, title: `${marker} first` } });
          relay.cut();
          await tx.todo.create({ data: { userId: user.id, title: `${marker} second` } });
        });
        await expect(transaction).rejects.toThrow();

        // PostgreSQL rolled the open transaction back when its session died: no partial write.
        const written = await db.query(`SELECT title FROM "Todo" WHERE title LIKE $1`, [`${marker}%`], name);
        expect(written).toEqual([]);
        // The error reached the adapter's connection error handler, and was logged, not thrown.
        await until(
          () => lines.find((l) => l.msg === "database connection error" || l.msg === "database pool error"),
          5_000,
        );

        // The pool replaced the dead connection: a full pool's worth of work, then a transaction that commits.
        const counts = await Promise.all(
          Array.from({ length: POOL_MAX * 2 }, () => prisma.todo.count({ where: { userId: user.id } })),
        );
        expect(counts.every((n) => n === 0)).toBe(true);
        await prisma.$transaction(async (tx) => {
          await tx.todo.create({ data: { userId: user.id, title: `${marker} again 1` } });
          await tx.todo.create({ data: { userId: user.id, title: `${marker} again 2` } });
        });
        const after = await db.query(
          `SELECT title FROM "Todo" WHERE title LIKE $1 ORDER BY title`,
          [`${marker}%`],
          name,
        );
        expect(after.map((r) => r.title)).toEqual([`${marker} again 1`, `${marker} again 2`]);

        // Served: the queries and the transaction after the cut (this test drives Prisma directly, not HTTP).
        record({
          fault: "connection cut mid-transaction (relay drops the socket): transaction rejected, nothing of it written",
          driver,
          served: POOL_MAX * 2 + 1,
          refused: 0,
          checked: after.length,
          lost: 0,
        });
      } finally {
        await database.close();
      }
    },
  );

  test.each(drivers)(
    "%s driver: the API under load answers cut requests with 503 and serves again at once",
    async (driver) => {
      const name = `cut_api_${driver}`;
      await db.createMigratedDatabase(name);
      const server = await spawnServer({
        DATABASE_URL: relayedUrl(name),
        DB_DRIVER: driver,
        DB_POOL_MAX: String(POOL_MAX),
      });
      try {
        const clients = await Promise.all(
          Array.from({ length: 8 }, (_, i) => userClient(server.trpcUrl, `cut-api-${driver}-${i}`)),
        );
        const outcomes: Outcome[] = [];
        const acknowledged: string[] = [];
        let running = true;
        const loops = clients.map(async (client, i) => {
          for (let seq = 0; running; seq++) {
            const { outcome, value } = await measure(() =>
              client.todo.create.mutate({ title: `client ${i} todo ${seq}` }),
            );
            outcomes.push(outcome);
            if (value) acknowledged.push(value.id);
            outcomes.push((await measure(() => client.todo.stats.query())).outcome);
          }
        });
        await until(() => (acknowledged.length >= clients.length * 3 ? true : undefined), 60_000);
        const cutAt: number[] = [];
        for (let i = 0; i < 5; i++) {
          cutAt.push(Date.now());
          relay.cut();
          await sleep(400);
        }
        const lastCut = Date.now();
        await sleep(1_500);
        running = false;
        await Promise.all(loops);
        console.log(`connection cuts (${driver})`, JSON.stringify(countBy(outcomes)));

        const failed = outcomes.filter((o) => o.code !== "OK");
        expect(countBy(failed)).toEqual(failed.length ? { SERVICE_UNAVAILABLE: failed.length } : {});
        // Only requests in flight at a cut may fail; the next ones are served on fresh connections.
        expect(outcomes.filter((o) => o.startedAt > lastCut + 500 && o.code !== "OK")).toEqual([]);
        expect(server.alive()).toBe(true);

        const rows = await db.query<{ id: string }>(`SELECT id FROM "Todo"`, [], name);
        const ids = new Set(rows.map((r) => r.id));
        const missing = acknowledged.filter((id) => !ids.has(id));
        expect(missing).toEqual([]);
        record({
          fault: "5 connection cuts in 2 s under load (relay drops every socket)",
          driver,
          served: outcomes.length - failed.length,
          refused: failed.length,
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
