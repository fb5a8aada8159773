import { isIP } from "node:net";
import { z } from "zod";
import { withDevelopmentSecret } from "./auth/dev-secret.ts";
import { DEFAULT_PGLITE_DATA_DIR, pgliteDataDir } from "./project.ts";

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v.trim() === "" ? undefined : v.trim()));
const redisUrl = optionalString.pipe(
  z
    .string()
    .refine((s) => URL.canParse(s) && /^rediss?:$/.test(new URL(s).protocol), "must be a redis:// or rediss:// URL")
    .optional(),
);
const postgresUrl = optionalString.pipe(
  z
    .string()
    .refine((s) => URL.canParse(s) && /^postgres(ql)?:$/.test(new URL(s).protocol), "must be a postgres:// or postgresql:// URL")
    .optional(),
);

// Express's `trust proxy`: hop count, true, or addresses/subnets/names (loopback, linklocal, uniquelocal).
const PROXY_NAMES = new Set(["loopback", "linklocal", "uniquelocal"]);
const isProxyAddress = (item: string) => {
  const [address, bits, ...rest] = item.split("/");
  return PROXY_NAMES.has(item) || (rest.length === 0 && isIP(address!) !== 0 && (bits === undefined || /^\d{1,3}$/.test(bits)));
};
const trustProxy = optionalString.transform((v, ctx): boolean | number | string => {
  if (v === undefined || v === "false") return false;
  if (v === "true") return true;
  if (/^\d{1,2}$/.test(v)) return Number(v);
  if (v.split(",").every((item) => isProxyAddress(item.trim()))) return v;
  ctx.addIssue({ code: "custom", message: "must be false, true, a hop count, or comma-separated proxy addresses/subnets" });
  return z.NEVER;
});
const origins = optionalString.transform((v, ctx) => {
  const list = (v ?? "").split(",").map((s) => s.trim()).filter(Boolean);
  for (const origin of list) {
    // An origin is scheme://host[:port], exactly as browsers send it in the Origin header.
    if (!URL.canParse(origin) || new URL(origin).origin !== origin) {
      ctx.addIssue({ code: "custom", message: `must be a comma-separated list of origins like https://app.example.com (bad: ${origin})` });
      return z.NEVER;
    }
  }
  return list;
});

const envSchema = z.object({
  NODE_ENV: z.enum(["development", "test", "production"]).default("development"),
  HOST: z.string().default("0.0.0.0"),
  PORT: int(0, 65535).default(3000),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),

  DATABASE_URL: postgresUrl,
  DIRECT_URL: postgresUrl,
  DB_DRIVER: z.enum(["neon", "pg"]).default("neon"),
  DB_POOL_MAX: int(1, 1000).default(10),
  DB_POOL_IDLE_TIMEOUT_MS: int(0, 3_600_000).default(10_000),
  DB_CONNECTION_TIMEOUT_MS: int(1, 600_000).default(5_000),
  DB_STATEMENT_TIMEOUT_MS: int(0, 3_600_000).default(10_000),
  DB_PREPARED_STATEMENTS: z.enum(["off", "on"]).default("off"),
  PGLITE_DATA_DIR: z.string().min(1).default(DEFAULT_PGLITE_DATA_DIR),

  AUTH_SECRET: optionalString.pipe(z.string().min(32, "must be at least 32 characters").optional()),
  AUTH_JWKS_URL: optionalString.pipe(z.url().optional()),
  AUTH_ISSUER: optionalString,
  AUTH_AUDIENCE: optionalString,

  BODY_LIMIT_BYTES: int(1024, 100 * 1024 * 1024).default(1024 * 1024),
  MAX_BATCH_SIZE: int(1, 1000).default(50),
  SHUTDOWN_TIMEOUT_MS: int(0, 600_000).default(10_000),
  WEB_CONCURRENCY: int(1, 256).default(1),
  REQUEST_TIMEOUT_MS: int(1_000, 600_000).default(30_000),
  IDEMPOTENCY_TTL_MS: int(1_000, 30 * 86_400_000).default(86_400_000),

  RATE_LIMIT_WINDOW_MS: int(1_000, 86_400_000).default(60_000),
  RATE_LIMIT_PER_IP: int(0, 10_000_000).default(1_200),
  RATE_LIMIT_PER_USER: int(0, 10_000_000).default(600),
  REDIS_URL: redisUrl,
  REDIS_TIMEOUT_MS: int(10, 5_000).default(100),
  SSE_PING_MS: int(1_000, 600_000).default(15_000),
  SSE_MAX_STREAMS: int(0, 1_000_000).default(10_000),
  SSE_MAX_STREAMS_PER_USER: int(1, 10_000).default(16),
  SSE_QUEUE_MAX: int(1, 100_000).default(256),
  SSE_REPLAY_EVENTS: int(0, 1_000_000).default(10_000),
  TRUST_PROXY: trustProxy,
  CORS_ORIGINS: origins,
  METRICS_TOKEN: optionalString.pipe(z.string().min(16, "must be at least 16 characters").optional()),
});

export type Env = z.infer<typeof envSchema>;

export interface Config {
  env: Env["NODE_ENV"];
  host: string;
  port: number;
  logLevel: Env["LOG_LEVEL"];
  bodyLimitBytes: number;
  maxBatchSize: number;
  shutdownTimeoutMs: number;
  /** HTTP worker processes sharing the port (node:cluster); 1 runs the server in this process. */
  webConcurrency: number;
  /** Deadline for one tRPC call (503 after it) and for receiving a whole request (Node answers 408). */
  requestTimeoutMs: number;
  /** How long an Idempotency-Key and its stored result are kept; an expired key is as good as new. */
  idempotencyTtlMs: number;
  /** Requests per window; 0 disables that limit. */
  rateLimit: { windowMs: number; perIp: number; perUser: number };
  /** Unset: the limits count in this process's memory. */
  redis: {
    url: string | undefined;
    /** Longest a request waits for Redis before its check is skipped (fail open). */
    timeoutMs: number;
  };
  /** Live updates (todo.onChange over server-sent events), per process. */
  sse: {
    /** A ping on an idle stream this often. */
    pingMs: number;
    /** Open streams in this process; 0 turns the subscription off. */
    maxStreams: number;
    maxStreamsPerUser: number;
    /** Events waiting for one slow subscriber before it gets `changed` and its stream ends. */
    queueMax: number;
    /** Notifications remembered for replay on reconnect; 0: a reconnect always gets `changed`. */
    replayEvents: number;
  };
  /** Express's `trust proxy`: whose X-Forwarded-For to believe for the client address. */
  trustProxy: boolean | number | string;
  /** Origins allowed to call from a browser; empty: no cross-origin access. */
  corsOrigins: string[];
  /** When set, GET /metrics needs `Authorization: Bearer <token>`. */
  metricsToken: string | undefined;
  db: {
    /** Unset: the embedded PGlite database is started. */
    url: string | undefined;
    directUrl: string | undefined;
    driver: Env["DB_DRIVER"];
    poolMax: number;
    idleTimeoutMs: number;
    connectionTimeoutMs: number;
    /** PostgreSQL cancels a statement of the API running longer (the client gets 503); 0: no limit. */
    statementTimeoutMs: number;
    /** Named statements (pg driver): parsed and planned once per connection; needs a server that keeps them. */
    preparedStatements: boolean;
    pgliteDataDir: string;
  };
  auth: {
    /** HS256 secret; generated and stored beside the embedded database in development. */
    secret: string | undefined;
    jwksUrl: string | undefined;
    issuer: string | undefined;
    audience: string | undefined;
  };
}

export class ConfigError extends Error {}

/** Parses the environment; throws a ConfigError whose message is one line naming the variable. */
export function parseConfig(source: NodeJS.ProcessEnv = process.env): Config {
  const parsed = envSchema.safeParse(source);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    const name = String(issue.path[0] ?? "environment");
    const value = source[name];
    // URLs carry passwords and secrets are secret: name them, never echo them.
    const echo = value !== undefined && !/URL|SECRET|TOKEN/.test(name);
    throw new ConfigError(`Invalid configuration: ${name} ${issue.message}` + (echo ? ` (got ${JSON.stringify(value)})` : ""));
  }
  const e = parsed.data;
  if (e.DB_PREPARED_STATEMENTS === "on") {
    if (e.DB_DRIVER !== "pg") throw new ConfigError("Invalid configuration: DB_PREPARED_STATEMENTS=on needs DB_DRIVER=pg");
    // PGlite serves every connection from one session, where a name prepared by one connection already exists.
    if (!e.DATABASE_URL) throw new ConfigError("Invalid configuration: DB_PREPARED_STATEMENTS=on needs DATABASE_URL (the embedded database cannot keep them)");
  }
  if (e.NODE_ENV === "production") {
    if (!e.DATABASE_URL) throw new ConfigError("Invalid configuration: DATABASE_URL is required when NODE_ENV=production");
    if (!e.AUTH_SECRET && !e.AUTH_JWKS_URL) {
      throw new ConfigError("Invalid configuration: AUTH_SECRET or AUTH_JWKS_URL is required when NODE_ENV=production");
    }
  }
  return {
    env: e.NODE_ENV,
    host: e.HOST,
    port: e.PORT,
    logLevel: e.LOG_LEVEL,
    bodyLimitBytes: e.BODY_LIMIT_BYTES,
    maxBatchSize: e.MAX_BATCH_SIZE,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    webConcurrency: e.WEB_CONCURRENCY,
    requestTimeoutMs: e.REQUEST_TIMEOUT_MS,
    idempotencyTtlMs: e.IDEMPOTENCY_TTL_MS,
    rateLimit: { windowMs: e.RATE_LIMIT_WINDOW_MS, perIp: e.RATE_LIMIT_PER_IP, perUser: e.RATE_LIMIT_PER_USER },
    redis: { url: e.REDIS_URL, timeoutMs: e.REDIS_TIMEOUT_MS },
    sse: {
      pingMs: e.SSE_PING_MS,
      maxStreams: e.SSE_MAX_STREAMS,
      maxStreamsPerUser: e.SSE_MAX_STREAMS_PER_USER,
      queueMax: e.SSE_QUEUE_MAX,
      replayEvents: e.SSE_REPLAY_EVENTS,
    },
    trustProxy: e.TRUST_PROXY,
    corsOrigins: e.CORS_ORIGINS,
    metricsToken: e.METRICS_TOKEN,
    db: {
      url: e.DATABASE_URL,
      directUrl: e.DIRECT_URL ?? e.DATABASE_URL,
      driver: e.DB_DRIVER,
      poolMax: e.DB_POOL_MAX,
      idleTimeoutMs: e.DB_POOL_IDLE_TIMEOUT_MS,
      connectionTimeoutMs: e.DB_CONNECTION_TIMEOUT_MS,
      statementTimeoutMs: e.DB_STATEMENT_TIMEOUT_MS,
      preparedStatements: e.DB_PREPARED_STATEMENTS === "on",
      pgliteDataDir: pgliteDataDir({ PGLITE_DATA_DIR: e.PGLITE_DATA_DIR }),
    },
    auth: {
      secret: e.AUTH_SECRET,
      jwksUrl: e.AUTH_JWKS_URL,
      issuer: e.AUTH_ISSUER,
      audience: e.AUTH_AUDIENCE,
    },
  };
}

/** The whole start-up configuration step: parse, then fill the development secret. */
export function loadConfig(source: NodeJS.ProcessEnv = process.env): Config {
  return withDevelopmentSecret(parseConfig(source));
}
