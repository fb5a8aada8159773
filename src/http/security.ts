/** Express middleware in front of /trpc: security headers, CORS allowlist, per-IP rate limit, JSON-only bodies. */
import cors from "cors";
import type { RequestHandler } from "express";
import { MemoryStore, rateLimit, type Options, type Store } from "express-rate-limit";
import helmet from "helmet";
import type { Config } from "../config.ts";
import { AppError, isJsonContentType } from "../errors.ts";
import type { Logger } from "../logger.ts";
import { sendAppError } from "./errors.ts";

/**
 * helmet's defaults, but for `upgrade-insecure-requests`: it would make browsers fetch the page's own assets over
 * https when the page is opened over plain http under a host name (npm start on a LAN, an internal host).
 */
export const securityHeaders = (): RequestHandler =>
  helmet({ contentSecurityPolicy: { directives: { upgradeInsecureRequests: null } } });

/** Browsers may call from these origins only; without any, no cross-origin response carries CORS headers. */
export function corsAllowlist(origins: string[]): RequestHandler | undefined {
  if (!origins.length) return undefined;
  return cors({
    origin: origins,
    methods: ["GET", "POST", "PATCH", "DELETE"], // PATCH and DELETE: the REST surface
    allowedHeaders: ["authorization", "content-type", "x-request-id", "idempotency-key"],
    exposedHeaders: ["x-request-id", "retry-after", "ratelimit", "ratelimit-policy", "idempotent-replayed"],
    maxAge: 600,
  });
}

/**
 * RATE_LIMIT_PER_IP requests per RATE_LIMIT_WINDOW_MS from one client address, then 429. Counted in `store`
 * (Redis, shared, with this process's count when Redis does not answer) or else in this process's memory.
 */
export function ipRateLimit(
  { windowMs, perIp }: Config["rateLimit"],
  { store, logger }: { store?: Store; logger: Logger },
): RequestHandler | undefined {
  if (perIp === 0) return undefined;
  return rateLimit({
    windowMs,
    limit: perIp,
    ...(store && { store }),
    // Redis failures never get here (the store decides by this process's count then); any other is logged and
    // lets the request through.
    passOnStoreError: true,
    logger: {
      error: (error, message) => logger.error({ err: error }, message ?? "rate limiter failed"),
      warn: (error, message) => logger.warn({ err: error }, message ?? "rate limiter warning"),
    },
    // RateLimit and RateLimit-Policy headers, and Retry-After on 429.
    standardHeaders: "draft-7",
    legacyHeaders: false,
    // TRUST_PROXY decides whose address req.ip is; docs/SECURITY.md explains it.
    validate: { xForwardedForHeader: false },
    // Retry-After is the limiter's own (standardHeaders): the error carries no seconds.
    handler(req, res) {
      sendAppError(req, res, new AppError("rateLimited", "Too many requests from this address, retry later"));
    },
  });
}

/**
 * POST bodies must be JSON: tRPC would also accept multipart/form-data and octet-stream, which no procedure
 * here takes. Refused with 415 before anything reads the body.
 */
export const requireJsonBody: RequestHandler = (req, res, next) => {
  if (req.method !== "POST" || isJsonContentType(req.headers["content-type"])) return next();
  sendAppError(req, res, new AppError("unsupportedMediaType", "POST bodies must be application/json"));
};

/** Counts one call for a user; resolves with the seconds to wait when over the limit. */
export type UserRateLimit = (userId: string) => Promise<number | undefined>;

/**
 * RATE_LIMIT_PER_USER calls per RATE_LIMIT_WINDOW_MS for one verified user id, counted in an express-rate-limit
 * store: Redis (shared, with this process's count when Redis does not answer) or this process's memory; no
 * database round trip. Each call of a batch counts.
 */
export function userRateLimit({ windowMs, perUser }: Config["rateLimit"], store: Store = new MemoryStore()): UserRateLimit | undefined {
  if (perUser === 0) return undefined;
  void store.init?.({ windowMs } as Options);
  return async (userId) => {
    const { totalHits, resetTime } = await store.increment(userId);
    if (totalHits <= perUser) return undefined;
    return Math.max(1, Math.ceil(((resetTime?.getTime() ?? Date.now() + windowMs) - Date.now()) / 1000));
  };
}
