import { PrismaPg } from "@prisma/adapter-pg";
import type { Logger } from "pino";
import type { Config } from "../config.ts";
import { PrismaClient } from "../generated/prisma/client.ts";
import { withDeadline } from "../lib/deadline.ts";
import { withStatementTimeout, type CancellablePool } from "./statement-timeout.ts";
import { withUtcInstants } from "./utc-dates.ts";
import { withUtcReads } from "./utc-reads.ts";
import type { SqlDriverAdapter, SqlDriverAdapterFactory } from "@prisma/driver-adapter-utils";
import type { WsProxy } from "./ws-proxy.ts";

export type { PrismaClient };

export interface Database {
  prisma: PrismaClient;
  driver: Config["db"]["driver"];
  /** Where the driver connects: the Neon endpoint, or the host behind the local WebSocket proxy. */
  describe: string;
  /** The local WebSocket proxy when the Neon driver talks to a non-Neon PostgreSQL. */
  proxy: WsProxy | undefined;
  /** The driver pool's connections right now (for /metrics); undefined before the first query. */
  poolStats(): PoolStats | undefined;
  /** One round trip; rejects when the database does not answer within the connection timeout. */
  ping(): Promise<void>;
  close(): Promise<void>;
}

export interface PoolStats {
  max: number;
  total: number;
  idle: number;
  waiting: number;
}

type DriverPool = { totalCount: number; idleCount: number; waitingCount: number };

export type DatabaseOptions = Omit<
  Config["db"],
  "preparedStatements" | "statementTimeoutMs" | "userConcurrency" | "userQueueMax"
> & {
  url: string;
  schema?: string;
  preparedStatements?: boolean;
  statementTimeoutMs?: number;
};

export async function createDatabase(options: DatabaseOptions, logger: Logger): Promise<Database> {
  const url = new URL(options.url);
  const target = { host: url.hostname, port: Number(url.port || 5432) };
  const targetKey = `${target.host}:${target.port}`;
  const pool = {
    connectionString: options.url,
    max: options.poolMax,
    idleTimeoutMillis: options.idleTimeoutMs,
    connectionTimeoutMillis: options.connectionTimeoutMs,
    // No startup options (a transaction-mode pooler refuses them): instants are made zone-proof per statement.
  };
  const callbacks = {
    schema: options.schema,
    onPoolError: (error: Error) => logger.warn({ err: error }, "database pool error"),
    onConnectionError: (error: Error) => logger.warn({ err: error }, "database connection error"),
  };

  // Both adapters build their pool inside connect(): keep a reference to the one in use, for metrics.
  let driverPool: DriverPool | undefined;
  const trackPool = <A extends SqlDriverAdapter & { underlyingDriver(): DriverPool }>(factory: {
    adapterName: string;
    provider: "postgres";
    connect(): Promise<A>;
  }): SqlDriverAdapterFactory => ({
    adapterName: factory.adapterName,
    provider: factory.provider,
    connect: async () => {
      const connected = await factory.connect();
      driverPool = connected.underlyingDriver();
      // Before the pool's first client connects: the pool only opens them on demand.
      withUtcReads(driverPool as unknown as CancellablePool);
      withStatementTimeout(driverPool as unknown as CancellablePool, {
        timeoutMs: options.statementTimeoutMs ?? 0,
        connectTimeoutMs: options.connectionTimeoutMs,
        onCancelError: (error) => logger.warn({ err: error }, "statement cancel request failed"),
      });
      return withUtcInstants(connected);
    },
  });

  let proxy: WsProxy | undefined;
  let closeDriver = async () => {};
  let adapter: SqlDriverAdapterFactory;
  let describe = `${targetKey}${url.pathname}`;
  if (options.driver === "neon") {
    // Loaded for this driver only: the Neon stack and ws stay out of a pg server's memory.
    const neon = await (
      await import("./neon.ts")
    ).neonDriver({
      pool,
      callbacks,
      target,
      onProxyError: (error) => logger.debug({ err: error }, "websocket proxy socket error"),
    });
    proxy = neon.proxy;
    adapter = trackPool(neon.adapter);
    closeDriver = neon.close;
    if (proxy) describe += ` via WebSocket proxy ${proxy.address}`;
  } else {
    const named = options.preparedStatements ? { statementNameGenerator: statementNames() } : {};
    adapter = trackPool(new PrismaPg(pool, { ...callbacks, ...named }));
  }

  const prisma = new PrismaClient({
    adapter,
    log: [
      { emit: "event", level: "warn" },
      { emit: "event", level: "error" },
    ],
  });
  prisma.$on("warn", (event) => logger.warn({ target: event.target }, event.message));
  prisma.$on("error", (event) => logger.debug({ target: event.target }, event.message));

  return {
    prisma,
    driver: options.driver,
    describe,
    proxy,
    poolStats: () =>
      driverPool && {
        max: options.poolMax,
        total: driverPool.totalCount,
        idle: driverPool.idleCount,
        waiting: driverPool.waitingCount,
      },
    async ping() {
      await withDeadline(
        prisma.$queryRaw`SELECT 1`,
        options.connectionTimeoutMs,
        () => new Error("database ping timed out"),
      );
    },
    async close() {
      // The pool's end() can wait for ever on a connection that was still opening or querying when it was called
      // (SIGTERM just after start-up, the first ping in flight): wait at most the connect timeout, then go on.
      await withDeadline(
        prisma.$disconnect(),
        options.connectionTimeoutMs,
        () => new Error("closing the database pool timed out"),
      ).catch((error: Error) => logger.warn(error.message));
      await closeDriver();
    },
  };
}

/**
 * Names for prepared statements (DB_PREPARED_STATEMENTS=on): PostgreSQL then parses and plans each query text once
 * per connection instead of on every call. The API sends a few dozen distinct texts; past `limit` a text goes
 * unnamed, so unusual query shapes cannot grow every connection's statement cache without bound.
 */
function statementNames(limit = 500): (query: { sql: string }) => string {
  const names = new Map<string, string>();
  return ({ sql }) => {
    let name = names.get(sql);
    if (name === undefined && names.size < limit) names.set(sql, (name = `todo_${names.size}`));
    return name ?? ""; // "" is pg's unnamed statement
  };
}
