/** The per-IP rate limit: Express middleware in front of /trpc and /api. */
import type { RequestHandler } from "express";
import { rateLimit, type Store } from "express-rate-limit";
import type { Config } from "../config.ts";
import { AppError } from "../errors.ts";
import { sendAppError } from "../http/errors.ts";
import type { Logger } from "../logger.ts";

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
