import { isIP } from "node:net";
import { z } from "zod";
import { withDevelopmentSecret } from "./auth/dev-secret.ts";
import { isNeonHost, isNeonPoolerUrl } from "./db/neon-hosts.ts";
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
    .refine(
      (s) => URL.canParse(s) && /^postgres(ql)?:$/.test(new URL(s).protocol),
      "must be a postgres:// or postgresql:// URL",
    )
    .optional(),
);

// Express's `trust proxy`: hop count, true, or addresses/subnets/names (loopback, linklocal, uniquelocal).
const PROXY_NAMES = new Set(["loopback", "linklocal", "uniquelocal"]);
const isProxyAddress = (item: string) => {
  const [address, bits, ...rest] = item.split("/");
  return (
    PROXY_NAMES.has(item) ||
    (rest.length === 0 && isIP(address!) !== 0 && (bits === undefined || /^\d{1,3}$/.test(bits)))
  );
};
const trustProxy = optionalString.transform((v, ctx): boolean | number | string => {
  if (v === undefined || v === "false") return false;
  if (v === "true") return true;
  if (/^\d{1,2}$/.test(v)) return Number(v);
  if (v.split(",").every((item) => isProxyAddress(item.trim()))) return v;
  ctx.addIssue({
    code: "custom",
    message: "must be false, true, a hop count, or comma-separated proxy addresses/subnets",
  });
  return z.NEVER;
});
const origins = optionalString.transform((v, ctx) => {
  const list = (v ?? "")
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  for (const origin of list) {
    // An origin is scheme://host[:port], exactly as browsers send it in the Origin header.
    if (!URL.canParse(origin) || new URL(origin).origin !== origin) {
      ctx.addIssue({
        code: "custom",
        message: `must be a comma-separated list of origins like https://app.example.com (bad: ${origin})`,
      });
      return z.NEVER;
    }
  }
  return list;
});

// Host names (no port) a development server answers besides loopback (ALLOWED_HOSTS): the DNS-rebinding defence.
const hostNames = optionalString.transform((v, ctx) => {
  const list = (v ?? "")
    .split(",")
    .map((s) => s.trim().toLowerCase())
    .filter(Boolean);
  for (const name of list) {
    if (!/^(\.?[a-z0-9-]+)(\.[a-z0-9-]+)*$|^\[[0-9a-f:.]+\]$|^[0-9.]+$/.test(name)) {
      ctx.addIssue({
        code: "custom",
        message: `must be a comma-separated list of host names like app.internal or .example.com (bad: ${name})`,
      });
      return z.NEVER;
    }
  }
  return list;
});

/** localhost, 127.0.0.0/8, ::1: names and addresses that never leave the machine. */
export function isLoopbackHost(host: string): boolean {
  const h = host.toLowerCase().replace(/^\[(.*)\]$/, "$1");
  return h === "localhost" || h.endsWith(".localhost") || h === "::1" || /^127(\.\d{1,3}){3}$/.test(h);
}

const envSchema = z.object({
  NODE_ENV: z.enum(["development", "test", "production"]).default("development"),
  // Unset: 127.0.0.1 outside production, 0.0.0.0 in production.
  HOST: optionalString,
  ALLOWED_HOSTS: hostNames,
  PORT: int(0, 65535).default(3000),
  LOG_LEVEL: z.enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"),

  DATABASE_URL: postgresUrl,
  DIRECT_URL: postgresUrl,
  DB_DRIVER: z.enum(["auto", "neon", "pg"]).default("auto"),
  DB_POOL_MAX: int(1, 1000).default(10),
  // Unset: a quarter of DB_POOL_MAX, at least 1.
  DB_USER_CONCURRENCY: optionalString.pipe(
    z.string().regex(/^\d+$/, "must be a whole number").transform(Number).pipe(z.number().min(1).max(1000)).optional(),
  ),
  DB_USER_QUEUE_MAX: int(0, 100_000).default(64),
  DB_POOL_IDLE_TIMEOUT_MS: int(0, 3_600_000).default(10_000),
  DB_CONNECTION_TIMEOUT_MS: int(1, 600_000).default(5_000),
  DB_STATEMENT_TIMEOUT_MS: int(0, 3_600_000).default(10_000),
  DB_PREPARED_STATEMENTS: z.enum(["off", "on"]).default("off"),
  PGLITE_DATA_DIR: z.string().min(1).default(DEFAULT_PGLITE_DATA_DIR),

  AUTH_SECRET: optionalString.pipe(z.string().min(32, "must be at least 32 characters").optional()),
  AUTH_JWKS_URL: optionalString.pipe(z.url().optional()),
  AUTH_ISSUER: optionalString,
  AUTH_AUDIENCE: optionalString,
  AUTH_CLOCK_TOLERANCE_S: int(0, 3_600).default(5),

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
  // About 110 KiB each (bench:sse): 3,000 streams are a budget of ~330 MiB per process.
  SSE_MAX_STREAMS: int(0, 1_000_000).default(3_000),
  SSE_MAX_STREAMS_PER_USER: int(1, 10_000).default(16),
  SSE_MAX_STREAMS_PER_IP: int(1, 1_000_000).default(64),
  SSE_MAX_DURATION_MS: int(1_000, 86_400_000).default(3_600_000),
  SSE_QUEUE_MAX: int(1, 100_000).default(256),
  // How long a deleted todo can be restored, and a sync cursor or event id resumed from.
  CHANGE_RETENTION_MS: int(1_000, 365 * 86_400_000).default(7 * 86_400_000),
  TRUST_PROXY: trustProxy,
  CORS_ORIGINS: origins,
  METRICS_TOKEN: optionalString.pipe(z.string().min(16, "must be at least 16 characters").optional()),
});

export type Env = z.infer<typeof envSchema>;

export interface Config {
  env: Env["NODE_ENV"];
  host: string;
  /** Outside production, Host names answered besides loopback ones (ALLOWED_HOSTS); others get 403. */
  allowedHosts: string[];
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
    /** Longest a request waits for Redis before its check is skipped (this process's own count decides). */
    timeoutMs: number;
  };
  /** Live updates (todo.onChange over server-sent events), per process. */
  sse: {
    /** A ping on an idle stream this often. */
    pingMs: number;
    /** Open streams in this process; 0 turns the subscription off. */
    maxStreams: number;
    maxStreamsPerUser: number;
    /** Open streams from one client address in this process. */
    maxStreamsPerIp: number;
    /** A stream ends after this long, or when its token expires, whichever is first; the client reconnects. */
    maxDurationMs: number;
    /** Events waiting for one slow subscriber before it catches up from the database instead. */
    queueMax: number;
  };
  /** Tombstones, sync cursors and event ids are kept this long; then the sweeper purges (src/live/retention.ts). */
  changeRetentionMs: number;
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
    /** DB_DRIVER resolved: `auto` is neon for a Neon host, pg for any other (the embedded database too). */
    driver: "neon" | "pg";
    poolMax: number;
    /** Pool connections one user's calls may hold at once; more wait in a queue of userQueueMax, then 429. */
    userConcurrency: number;
    userQueueMax: number;
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
    /** The secret was generated here (no AUTH_SECRET, no AUTH_JWKS_URL, not production): POST /dev/token exists. */
    devSecret: boolean;
    jwksUrl: string | undefined;
    issuer: string | undefined;
    audience: string | undefined;
    /** Seconds of clock skew allowed on `exp` and `nbf`. */
    clockToleranceS: number;
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
    throw new ConfigError(
      `Invalid configuration: ${name} ${issue.message}` + (echo ? ` (got ${JSON.stringify(value)})` : ""),
    );
  }
  const e = parsed.data;
  const driver =
    e.DB_DRIVER === "auto"
      ? e.DATABASE_URL && isNeonHost(new URL(e.DATABASE_URL).hostname)
        ? "neon"
        : "pg"
      : e.DB_DRIVER;
  if (e.DB_PREPARED_STATEMENTS === "on") {
    if (driver !== "pg") throw new ConfigError("Invalid configuration: DB_PREPARED_STATEMENTS=on needs DB_DRIVER=pg");
    // PGlite serves every connection from one session, where a name prepared by one connection already exists.
    if (!e.DATABASE_URL)
      throw new ConfigError(
        "Invalid configuration: DB_PREPARED_STATEMENTS=on needs DATABASE_URL (the embedded database cannot keep them)",
      );
  }
  if (e.AUTH_JWKS_URL) {
    const { protocol, hostname } = new URL(e.AUTH_JWKS_URL);
    if (protocol !== "https:" && !(protocol === "http:" && isLoopbackHost(hostname))) {
      throw new ConfigError(
        "Invalid configuration: AUTH_JWKS_URL must be https:// (plain http only for a loopback host)",
      );
    }
  }
  if (e.NODE_ENV === "production") {
    if (!e.DATABASE_URL)
      throw new ConfigError("Invalid configuration: DATABASE_URL is required when NODE_ENV=production");
    if (!e.AUTH_SECRET && !e.AUTH_JWKS_URL) {
      throw new ConfigError("Invalid configuration: AUTH_SECRET or AUTH_JWKS_URL is required when NODE_ENV=production");
    }
    // Without both, a token the same identity provider issued for another application would be accepted.
    if (e.AUTH_JWKS_URL && !e.AUTH_ISSUER)
      throw new ConfigError(
        "Invalid configuration: AUTH_ISSUER is required with AUTH_JWKS_URL when NODE_ENV=production",
      );
    if (e.AUTH_JWKS_URL && !e.AUTH_AUDIENCE)
      throw new ConfigError(
        "Invalid configuration: AUTH_AUDIENCE is required with AUTH_JWKS_URL when NODE_ENV=production",
      );
    // LISTEN is session state: through a transaction-mode pooler it is silently lost.
    if (!e.DIRECT_URL && isNeonPoolerUrl(e.DATABASE_URL)) {
      throw new ConfigError(
        "Invalid configuration: DIRECT_URL is required when DATABASE_URL is a Neon -pooler URL (live updates LISTEN on it)",
      );
    }
  }
  return {
    env: e.NODE_ENV,
    host: e.HOST ?? (e.NODE_ENV === "production" ? "0.0.0.0" : "127.0.0.1"),
    allowedHosts: e.ALLOWED_HOSTS,
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
      maxStreamsPerIp: e.SSE_MAX_STREAMS_PER_IP,
      maxDurationMs: e.SSE_MAX_DURATION_MS,
      queueMax: e.SSE_QUEUE_MAX,
    },
    changeRetentionMs: e.CHANGE_RETENTION_MS,
    trustProxy: e.TRUST_PROXY,
    corsOrigins: e.CORS_ORIGINS,
    metricsToken: e.METRICS_TOKEN,
    db: {
      url: e.DATABASE_URL,
      directUrl: e.DIRECT_URL ?? e.DATABASE_URL,
      driver,
      poolMax: e.DB_POOL_MAX,
      userConcurrency: Math.min(e.DB_USER_CONCURRENCY ?? Math.max(1, Math.floor(e.DB_POOL_MAX / 4)), e.DB_POOL_MAX),
      userQueueMax: e.DB_USER_QUEUE_MAX,
      idleTimeoutMs: e.DB_POOL_IDLE_TIMEOUT_MS,
      connectionTimeoutMs: e.DB_CONNECTION_TIMEOUT_MS,
      statementTimeoutMs: e.DB_STATEMENT_TIMEOUT_MS,
      preparedStatements: e.DB_PREPARED_STATEMENTS === "on",
      pgliteDataDir: pgliteDataDir({ PGLITE_DATA_DIR: e.PGLITE_DATA_DIR }),
    },
    auth: {
      secret: e.AUTH_SECRET,
      devSecret: false,
      jwksUrl: e.AUTH_JWKS_URL,
      issuer: e.AUTH_ISSUER,
      audience: e.AUTH_AUDIENCE,
      clockToleranceS: e.AUTH_CLOCK_TOLERANCE_S,
    },
  };
}

/** The whole start-up configuration step: parse, then fill the development secret. */
export function loadConfig(source: NodeJS.ProcessEnv = process.env): Config {
  return withDevelopmentSecret(parseConfig(source));
}
