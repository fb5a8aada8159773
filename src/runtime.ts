/**
 * The composition root: everything one API process runs, built in one place — the database (DATABASE_URL, else
 * the embedded one), its driver, Redis when configured, the live feed, the sweepers and the app — and the order
 * they stop in. src/server.ts, the tests' server and the differential test all build it here. What is not
 * configured is not loaded: Redis's modules only with REDIS_URL, the Neon stack only for its driver (src/db/client.ts),
 * PGlite only for the embedded database (src/db/embedded.ts).
 */
import { once } from "node:events";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Express } from "express";
import { changeFeedFor, type ChangeFeed } from "./live/feed.ts";
import { ConfigError, type Config } from "./config.ts";
import { bootstrapDatabase, type BootstrappedDatabase } from "./db/bootstrap.ts";
import { createDatabase, type Database } from "./db/client.ts";
import { createApp } from "./http/app.ts";
import type { RedisConnection } from "./limits/redis.ts";
import { startKeySweeper } from "./idempotency/sweeper.ts";
import type { Sweeper } from "./lib/sweeper.ts";
import { startRetentionSweeper } from "./live/retention.ts";
import type { Logger } from "./logger.ts";

export interface RuntimeOptions {
  /**
   * A database that is already there (tests), instead of DATABASE_URL or the embedded one; left open on close.
   * `listenUrl`: where live updates LISTEN (default: the URL itself); `embedded`: it is an embedded PGlite.
   */
  database?: { url: string; listenUrl?: string; embedded?: boolean };
  /** The built TodoMVC page, served at `/`; without it `/` is a 404. */
  webDir?: string;
  /** false: every tRPC request through tRPC's own handler (the differential test's reference). */
  trpcFastPath?: boolean;
  /** false: no background removal of expired Idempotency-Key rows and old tombstones (a test that counts them). */
  sweepers?: boolean;
}

export interface Runtime {
  app: Express;
  database: Database;
  /** The API runs on an embedded PGlite that this runtime started. */
  embedded: boolean;
  redis: RedisConnection | undefined;
  changes: ChangeFeed | undefined;
  /** Set once start() has been called. */
  server: Server | undefined;
  /** Listens on config.host:config.port (PORT=0: a free one); resolves the bound address, rejects when it cannot bind. */
  start(): Promise<AddressInfo>;
  /**
   * Stops in order: no new connections, live streams ended (their clients reconnect elsewhere), in-flight requests
   * answered, then the sweepers, Redis, the pool and the embedded database.
   */
  close(): Promise<void>;
}

/** A start-up failure with a message ready for the log (the process exits with it). */
export class StartupError extends Error {}

/** DATABASE_URL, else the embedded database with pending migrations applied (and logged). */
export async function openDatabase(logger: Logger): Promise<BootstrappedDatabase> {
  try {
    const db = await bootstrapDatabase("serve");
    if (db.applied.length) logger.info({ applied: db.applied }, "applied pending migrations to the embedded database");
    return db;
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new StartupError(`embedded database failed to start: ${(error as Error).message}`, { cause: error });
  }
}

export async function createRuntime(config: Config, logger: Logger, options: RuntimeOptions = {}): Promise<Runtime> {
  const given = options.database;
  const db = given ? undefined : await openDatabase(logger);
  const url = given?.url ?? db!.url;
  const embedded = given ? Boolean(given.embedded) : Boolean(db!.embedded);

  // The embedded database has no CancelRequest (one session serves every connection): no statement limit there.
  const database = await createDatabase(
    { ...config.db, url, statementTimeoutMs: embedded ? 0 : config.db.statementTimeoutMs },
    logger,
  );
  // Connects in the background: a Redis that is down at boot only means unshared limits until it is up.
  const redis = config.redis.url
    ? (await import("./limits/redis.ts")).connectRedis(config.redis.url, logger)
    : undefined;
  const sharedLimitStore =
    redis && (await import("./limits/redis-store.ts")).redisLimitStores(redis, config.redis.timeoutMs);
  // LISTEN needs a session of its own: DIRECT_URL, never the pooler (the embedded database is both).
  const listenUrl = given?.listenUrl ?? (embedded ? url : (config.db.directUrl ?? url));
  const changes = changeFeedFor(config, database.prisma, listenUrl, logger);
  const app = createApp({
    config,
    database,
    logger,
    sharedLimitStore,
    webDir: options.webDir,
    changes,
    trpcFastPath: options.trpcFastPath,
  });

  let server: Server | undefined;
  let sweepers: Sweeper[] = [];
  let closing: Promise<void> | undefined;

  async function stop() {
    if (server?.listening) {
      // Stop accepting; keep-alive sockets close as soon as their current request is answered.
      const closed = new Promise((resolve) => server!.close(resolve));
      // Live streams end as a dropped connection would: their clients reconnect, to another instance.
      await changes?.close();
      const reaper = setInterval(() => server!.closeIdleConnections(), 50);
      server.closeIdleConnections();
      await closed;
      clearInterval(reaper);
    } else {
      await changes?.close();
    }
    for (const sweeper of sweepers) sweeper.stop();
    await redis?.close();
    await database.close();
    await db?.close();
  }

  return {
    app,
    database,
    embedded,
    redis,
    changes,
    get server() {
      return server;
    },
    async start() {
      server = app.listen(config.port, config.host);
      // Slow senders (slowloris): the whole request must arrive within REQUEST_TIMEOUT_MS, its headers within a minute.
      // Node answers 408 and closes the connection. Handlers have their own deadline (src/trpc/init.ts).
      server.requestTimeout = config.requestTimeoutMs;
      server.headersTimeout = Math.min(config.requestTimeoutMs, 60_000);
      await once(server, "listening");
      // Expired Idempotency-Key rows, in the background (each process; the batches skip each other's rows).
      if (options.sweepers !== false) {
        sweepers = [
          startKeySweeper({ db: database.prisma, logger }),
          startRetentionSweeper({ db: database.prisma, logger, retentionMs: config.changeRetentionMs }),
        ];
      }
      return server.address() as AddressInfo;
    },
    close: () => (closing ??= stop()),
  };
}
