/**
 * Process entry: configuration, the database (embedded when DATABASE_URL is unset), then the HTTP server
 * in this process — or, with WEB_CONCURRENCY > 1, that many worker processes (src/cluster.ts).
 */
import cluster from "node:cluster";
import { once } from "node:events";
import { existsSync } from "node:fs";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { createApp } from "./http/app.ts";
import { connectRedis } from "./http/redis.ts";
import { runPrimary } from "./cluster.ts";
import { ConfigError, isLoopbackHost, loadConfig, type Config } from "./config.ts";
import { loadEnvFile, webDistDir } from "./project.ts";
import { bootstrapDatabase, describeDataDir, type BootstrappedDatabase } from "./db/bootstrap.ts";
import { changeFeedFor } from "./changes/feed.ts";
import { createDatabase } from "./db/client.ts";
import { startKeySweeper } from "./idempotency/sweeper.ts";
import { createLogger, type Logger } from "./logger.ts";

loadEnvFile();

let config: Config;
try {
  config = loadConfig();
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(error.message);
  process.exit(1);
}

const logger = createLogger(config.logLevel);
process.on("unhandledRejection", (reason) => logger.error({ err: reason }, "unhandled promise rejection"));
// Once, from the process that was started (not from each worker).
const offMachine = cluster.isPrimary ? offMachineWarning(config) : undefined;
if (offMachine) logger.warn(offMachine);

if (cluster.isPrimary && config.webConcurrency > 1) {
  // One embedded database for all workers: started here, reached by the workers through DATABASE_URL.
  const db = await openOrExit(logger);
  if (db.embedded) logger.info(`embedded PGlite in ${describeDataDir(config.db.pgliteDataDir)} for ${config.webConcurrency} workers`);
  runPrimary({
    workers: config.webConcurrency,
    env: db.embedded ? { DATABASE_URL: db.url } : {},
    shutdownTimeoutMs: config.shutdownTimeoutMs,
    logger,
    onStopped: () => db.close(),
  });
} else {
  await serve(config, logger);
}

/** DATABASE_URL, else the embedded database with pending migrations applied; exits the process when that fails. */
async function openOrExit(logger: Logger): Promise<BootstrappedDatabase> {
  try {
    const db = await bootstrapDatabase("serve");
    if (db.applied.length) logger.info({ applied: db.applied }, "applied pending migrations to the embedded database");
    return db;
  } catch (error) {
    logger.fatal(error instanceof ConfigError ? error.message : `embedded database failed to start: ${(error as Error).message}`);
    process.exit(1);
  }
}

async function serve(config: Config, logger: Logger): Promise<void> {
  const db = await openOrExit(logger);
  const { url, embedded } = db;

  // The embedded database has no CancelRequest (one session serves every connection): no statement limit there.
  const database = await createDatabase({ ...config.db, url, statementTimeoutMs: embedded ? 0 : config.db.statementTimeoutMs }, logger);
  // `npm start` and `npm run build` build the page first (scripts/web.ts); the API serves without it.
  const webDir = existsSync(path.join(webDistDir, "index.html")) ? webDistDir : undefined;
  if (!webDir) logger.warn("no TodoMVC page in web/dist (npm run web:build): / answers 404");
  // Connects in the background: a Redis that is down at boot only means unshared limits until it is up.
  const redis = config.redis.url ? connectRedis(config.redis.url, logger) : undefined;
  // LISTEN needs a session of its own: DIRECT_URL, never the pooler (the embedded database is both).
  const changes = changeFeedFor(config, database.prisma, embedded ? url : (config.db.directUrl ?? url), logger);
  const app = createApp({ config, database, logger, redis, webDir, changes });
  const server = app.listen(config.port, config.host);
  // Slow senders (slowloris): the whole request must arrive within REQUEST_TIMEOUT_MS, its headers within a minute.
  // Node answers 408 and closes the connection. Handlers have their own deadline (src/trpc/init.ts).
  server.requestTimeout = config.requestTimeoutMs;
  server.headersTimeout = Math.min(config.requestTimeoutMs, 60_000);
  try {
    await once(server, "listening");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    logger.fatal(code === "EADDRINUSE" ? `Port ${config.port} is in use: set PORT to another port` : String(error));
    await redis?.close();
    await database.close();
    await db.close();
    process.exit(1);
  }

  const where = embedded
    ? `embedded PGlite in ${describeDataDir(config.db.pgliteDataDir)} (set DATABASE_URL to a Neon URL to use Neon)`
    : database.describe;
  // PORT=0 picks a free port: report the one bound, and on which address.
  const { port, address } = server.address() as AddressInfo;
  logger.info(
    { port, address },
    `Todo API on http://localhost:${port}/trpc${webDir ? `, the page on http://localhost:${port}/` : ""} — database: ${where}, driver: ${config.db.driver}, pool max ${config.db.poolMax}, rate limits: ${redis ? "Redis" : "memory"}`,
  );

  // The API starts even when the database is down (/readyz reports it); say so at once.
  database.ping().catch((error: Error) => {
    const reason = error.message.trim().split("\n").at(-1); // Prisma's messages end with the cause
    logger.warn(`database not reachable yet: ${reason}`);
  });

  // Expired Idempotency-Key rows, in the background (each worker; the batches skip each other's rows).
  const sweeper = startKeySweeper({ db: database.prisma, logger });

  let stopping = false;
  async function shutdown(signal: string) {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down: finishing in-flight requests");
    const force = setTimeout(() => {
      logger.error({ timeoutMs: config.shutdownTimeoutMs }, "shutdown timed out, exiting");
      process.exit(1);
    }, config.shutdownTimeoutMs);
    force.unref();

    // Stop accepting; keep-alive sockets close as soon as their current request is answered.
    const closed = new Promise((resolve) => server.close(resolve));
    // Live streams end as a dropped connection would: their clients reconnect, to another instance.
    await changes?.close();
    const reaper = setInterval(() => server.closeIdleConnections(), 50);
    server.closeIdleConnections();
    await closed;
    clearInterval(reaper);
    sweeper.stop();
    await redis?.close();
    await database.close();
    await db.close();
    logger.info("stopped");
    process.exit(0);
  }
  process.on("SIGTERM", () => void shutdown("SIGTERM"));
  process.on("SIGINT", () => void shutdown("SIGINT"));
}

/**
 * Development settings (verbose errors, the dev sign-in, no TLS expectations) reaching past this machine are
 * usually a forgotten NODE_ENV=production: one line saying what points where.
 */
function offMachineWarning({ env, host, db }: Config): string | undefined {
  if (env === "production") return undefined;
  const reasons: string[] = [];
  if (!isLoopbackHost(host)) reasons.push(`HOST=${host} listens beyond loopback (Host names other than localhost need ALLOWED_HOSTS)`);
  if (db.url) {
    const url = new URL(db.url);
    // No host, or a socket folder (`?host=/var/run/postgresql`): a Unix socket on this machine.
    const dbHost = url.hostname || url.searchParams.get("host") || "";
    if (dbHost !== "" && !dbHost.startsWith("/") && !isLoopbackHost(dbHost)) reasons.push(`DATABASE_URL is on ${dbHost}`);
  }
  if (!reasons.length) return undefined;
  return `NODE_ENV=${env} but ${reasons.join(" and ")}: set NODE_ENV=production for anything but a developer's machine`;
}
