import type { CreateExpressContextOptions } from "@trpc/server/adapters/express";
import type { VerifyToken } from "../auth/tokens.ts";
import type { ChangeFeed } from "../live/feed.ts";
import type { PrismaClient } from "../db/client.ts";
import type { Metrics } from "../metrics.ts";
import type { UserRateLimit } from "../limits/user.ts";
import { IDEMPOTENCY_KEY_HEADER } from "../idempotency/key.ts";
import type { UserSlots } from "../limits/user.ts";
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
  /** Calls one user may run at once (DB_USER_CONCURRENCY, DB_USER_QUEUE_MAX); undefined: no per-user limit. */
  userSlots?: UserSlots;
  /** Latency per procedure; undefined for callers outside HTTP. */
  metrics?: Metrics;
  /** A call still running after this long is answered with SERVICE_UNAVAILABLE (REQUEST_TIMEOUT_MS). */
  callTimeoutMs?: number;
  /** How long an Idempotency-Key and its result are kept (IDEMPOTENCY_TTL_MS). */
  idempotencyTtlMs: number;
  /** How long tombstones, sync cursors and event ids last (CHANGE_RETENTION_MS). */
  changeRetentionMs: number;
  /** Live updates (todo.onChange), told of every committed mutation; undefined: turned off (SSE_MAX_STREAMS=0). */
  changes?: ChangeFeed;
}

/** The request's Idempotency-Key (src/idempotency/trpc.ts). */
export interface IdempotencyState {
  /** The header as sent, not yet checked; undefined without one. */
  key: string | undefined;
  /** Mutations the HTTP request carries (a tRPC batch may carry several; a key covers one). */
  mutations: number;
  /** Set when the answer is a stored result: the response then says `Idempotent-Replayed: true`. */
  replayed: boolean;
}

/** The request context without HTTP: tests and server-side callers build it directly. */
export function createContextInner(
  deps: ContextDeps,
  token: string | null,
  requestId?: string,
  {
    key,
    mutations = 1,
    closed,
    ip,
  }: { key?: string; mutations?: number; closed?: () => AbortSignal; ip?: string } = {},
) {
  const idempotency: IdempotencyState = { key, mutations, replayed: false };
  // requestClosed: a signal that aborts once the client goes away unanswered, built only for a call that must wait.
  // ip: the client's address (Express's req.ip, after TRUST_PROXY): live streams are capped per address.
  return { ...deps, token, requestId, idempotency, requestClosed: closed, ip };
}

export type Context = ReturnType<typeof createContextInner>;

/** The request context for the Express adapter: the inner context plus the Bearer token and Idempotency-Key. */
export function createContextFactory(deps: ContextDeps) {
  return ({ req, res, info }: CreateExpressContextOptions): Context =>
    createContextInner(deps, bearerToken(req.headers.authorization), res.locals.requestId as string | undefined, {
      key: req.headers[IDEMPOTENCY_KEY_HEADER] as string | undefined,
      // REST (trpc-to-openapi) lists no calls: one procedure per request.
      mutations: info?.calls.filter((call) => call.procedure?._def.type === "mutation").length || 1,
      closed: () => closedSignal(res),
      ip: req.ip,
    });
}

/** Aborts when the response closes before it was sent in full (the client disconnected). */
function closedSignal(res: CreateExpressContextOptions["res"]): AbortSignal {
  const controller = new AbortController();
  if (res.writableFinished || res.closed) controller.abort();
  else res.once("close", () => res.writableFinished || controller.abort());
  return controller.signal;
}

function bearerToken(header: string | undefined): string | null {
  const match = header?.match(/^Bearer[ ]+([^\s]+)\s*$/i);
  return match?.[1] ?? null;
}
