/** Process entry: configuration, database (embedded when DATABASE_URL is unset), HTTP server, graceful shutdown. */
import { once } from "node:events";
import path from "node:path";
import { createApp } from "./app.ts";
import { ConfigError, loadConfig, loadEnvFile, projectRoot, type Config } from "./config.ts";
import { createDatabase } from "./db/client.ts";
import { startEmbeddedDatabase, type EmbeddedDatabase } from "./db/embedded.ts";
import { deployMigrations } from "./db/migrations.ts";
import { createLogger } from "./logger.ts";

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

let embedded: EmbeddedDatabase | undefined;
let url = config.db.url;
if (!url) {
  try {
    embedded = await startEmbeddedDatabase({ dataDir: config.db.pgliteDataDir });
    url = embedded.url;
    const { applied } = await deployMigrations(url);
    if (applied.length) logger.info({ applied }, "applied pending migrations to the embedded database");
  } catch (error) {
    logger.fatal(`embedded database failed to start: ${(error as Error).message}`);
    await embedded?.close();
    process.exit(1);
  }
}

const database = await createDatabase({ ...config.db, url }, logger);
const app = createApp({ config, database, logger });
const server = app.listen(config.port, config.host);
// Slow senders (slowloris): the whole request must arrive within REQUEST_TIMEOUT_MS, its headers within a minute.
// Node answers 408 and closes the connection. Handlers have their own deadline (src/trpc.ts).
server.requestTimeout = config.requestTimeoutMs;
server.headersTimeout = Math.min(config.requestTimeoutMs, 60_000);
try {
  await once(server, "listening");
} catch (error) {
  const code = (error as NodeJS.ErrnoException).code;
  logger.fatal(code === "EADDRINUSE" ? `Port ${config.port} is in use: set PORT to another port` : String(error));
  await database.close();
  await embedded?.close();
  process.exit(1);
}

const where = embedded
  ? `embedded PGlite in ${path.relative(projectRoot, config.db.pgliteDataDir) || "."} (set DATABASE_URL to a Neon URL to use Neon)`
  : database.describe;
logger.info(
  `Todo API on http://localhost:${config.port}/trpc — database: ${where}, driver: ${config.db.driver}, pool max ${config.db.poolMax}`,
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

  // Stop accepting; keep-alive sockets close as soon as their current request is answered.
  const closed = new Promise((resolve) => server.close(resolve));
  const reaper = setInterval(() => server.closeIdleConnections(), 50);
  server.closeIdleConnections();
  await closed;
  clearInterval(reaper);
  await database.close();
  await embedded?.close();
  logger.info("stopped");
  process.exit(0);
}
process.on("SIGTERM", () => void shutdown("SIGTERM"));
process.on("SIGINT", () => void shutdown("SIGINT"));
