import type { CreateExpressContextOptions } from "@trpc/server/adapters/express";
import type { VerifyToken } from "../auth/tokens.ts";
import type { PrismaClient } from "../db/client.ts";
import type { Metrics } from "../http/metrics.ts";
import type { UserRateLimit } from "../http/security.ts";
import type { UserRegistry } from "../users/registry.ts";

/** What every request shares: built once by createApp. */
export interface ContextDeps {
  db: PrismaClient;
  verifyToken: VerifyToken;
  users: UserRegistry;
  /** Hides internal error messages from clients. */
  production: boolean;
  /** Per-user call limit (RATE_LIMIT_PER_USER); undefined when disabled. */
  limitUser?: UserRateLimit;
  /** Latency per procedure; undefined for callers outside HTTP. */
  metrics?: Metrics;
  /** A call still running after this long is answered with SERVICE_UNAVAILABLE (REQUEST_TIMEOUT_MS). */
  callTimeoutMs?: number;
}

/** The request context without HTTP: tests and server-side callers build it directly. */
export function createContextInner(deps: ContextDeps, token: string | null, requestId?: string) {
  return { ...deps, token, requestId };
}

export type Context = ReturnType<typeof createContextInner>;

/** The request context for the Express adapter: the inner context plus the Bearer token. */
export function createContextFactory(deps: ContextDeps) {
  return ({ req, res }: CreateExpressContextOptions): Context =>
    createContextInner(deps, bearerToken(req.headers.authorization), res.locals.requestId as string | undefined);
}

function bearerToken(header: string | undefined): string | null {
  const match = header?.match(/^Bearer[ ]+([^\s]+)\s*$/i);
  return match?.[1] ?? null;
}
