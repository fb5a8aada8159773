/**
 * Process entry: configuration, then the API (src/runtime.ts builds it) in this process — or, with
 * WEB_CONCURRENCY > 1, that many worker processes (src/cluster.ts). Here: exit codes, signals, start-up lines.
 */
import cluster from "node:cluster";
import { existsSync } from "node:fs";
import path from "node:path";
import { runPrimary } from "./cluster.ts";
import { ConfigError, isLoopbackHost, loadConfig, type Config } from "./config.ts";
import { loadEnvFile, webDistDir } from "./project.ts";
import { describeDataDir } from "./db/bootstrap.ts";
import { createLogger, type Logger } from "./logger.ts";
import { createRuntime, openDatabase, StartupError } from "./runtime.ts";

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
  const db = await orExit(openDatabase(logger));
  if (db.embedded)
    logger.info(`embedded PGlite in ${describeDataDir(config.db.pgliteDataDir)} for ${config.webConcurrency} workers`);
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

/** A start-up failure that has a message for the log (no URL, the embedded database would not start) exits the process. */
async function orExit<T>(starting: Promise<T>): Promise<T> {
  try {
    return await starting;
  } catch (error) {
    if (!(error instanceof ConfigError || error instanceof StartupError)) throw error;
    logger.fatal(error.message);
    process.exit(1);
  }
}

async function serve(config: Config, logger: Logger): Promise<void> {
  // `npm start` and `npm run build` build the page first (scripts/web.ts); the API serves without it.
  const webDir = existsSync(path.join(webDistDir, "index.html")) ? webDistDir : undefined;
  const runtime = await orExit(createRuntime(config, logger, { webDir }));
  if (!webDir) logger.warn("no TodoMVC page in web/dist (npm run web:build): / answers 404");
  const { database, embedded, redis } = runtime;

  let bound;
  try {
    bound = await runtime.start();
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    logger.fatal(code === "EADDRINUSE" ? `Port ${config.port} is in use: set PORT to another port` : String(error));
    await runtime.close();
    process.exit(1);
  }

  const where = embedded
    ? `embedded PGlite in ${describeDataDir(config.db.pgliteDataDir)} (set DATABASE_URL to a Neon URL to use Neon)`
    : database.describe;
  // PORT=0 picks a free port: report the one bound, and on which address.
  const { port, address } = bound;
  logger.info(
    { port, address },
    `Todo API on http://localhost:${port}/trpc${webDir ? `, the page on http://localhost:${port}/` : ""} — database: ${where}, driver: ${config.db.driver}, pool max ${config.db.poolMax}, rate limits: ${redis ? "Redis" : "memory"}`,
  );

  // The API starts even when the database is down (/readyz reports it); say so at once.
  database.ping().catch((error: Error) => {
    const reason = error.message.trim().split("\n").at(-1); // Prisma's messages end with the cause
    logger.warn(`database not reachable yet: ${reason}`);
  });

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
    await runtime.close();
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
  if (!isLoopbackHost(host))
    reasons.push(`HOST=${host} listens beyond loopback (Host names other than localhost need ALLOWED_HOSTS)`);
  if (db.url) {
    const url = new URL(db.url);
    // No host, or a socket folder (`?host=/var/run/postgresql`): a Unix socket on this machine.
    const dbHost = url.hostname || url.searchParams.get("host") || "";
    if (dbHost !== "" && !dbHost.startsWith("/") && !isLoopbackHost(dbHost))
      reasons.push(`DATABASE_URL is on ${dbHost}`);
  }
  if (!reasons.length) return undefined;
  return `NODE_ENV=${env} but ${reasons.join(" and ")}: set NODE_ENV=production for anything but a developer's machine`;
}
