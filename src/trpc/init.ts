/**
 * tRPC initialisation: the builders every router uses.
 * - publicProcedure (internal): the deadline, metrics and the mapping of database errors to client-facing codes.
 * - protectedProcedure: a verified Bearer token; `ctx.user` is the caller, whose User row exists; then the
 *   caller's slot (DB_USER_CONCURRENCY).
 */
import { initTRPC } from "@trpc/server";
import { z, ZodError } from "zod";
import { withDeadline } from "../lib/deadline.ts";
import { AuthError, AuthUnavailableError } from "../auth/tokens.ts";
import { AppError } from "../errors.ts";
import type { Context } from "./context.ts";
import { toTRPCError } from "./errors.ts";
import type { ApiMeta } from "./openapi.ts";
import { transformer } from "./transformer.ts";
import { SlotWaitAbandonedError, UserBusyError } from "./user-slots.ts";

const t = initTRPC.context<Context>().meta<ApiMeta>().create({
  transformer,
  // Stacks never leave the process; the server logs them.
  isDev: false,
  // Subscriptions (todo.onChange) over server-sent events; the ping interval is SSE_PING_MS (configureSse).
  sse: { ping: { enabled: true, intervalMs: 15_000 }, client: { reconnectAfterInactivityMs: 40_000 } },
  errorFormatter({ shape, error, ctx }) {
    const zodError = error.code === "BAD_REQUEST" && error.cause instanceof ZodError ? z.flattenError(error.cause as ZodError<Record<string, unknown>>) : null;
    const hideMessage = error.code === "INTERNAL_SERVER_ERROR" && (ctx?.production ?? true);
    return {
      ...shape,
      message: hideMessage ? "Internal server error" : shape.message,
      data: { ...shape.data, zodError },
    };
  },
});

export const router = t.router;

/**
 * Comments on idle streams every `pingMs`, so proxies keep them open; a client that hears nothing for a little
 * over two intervals reconnects. tRPC reads these per stream from the (process-wide) root config.
 */
export function configureSse({ pingMs }: { pingMs: number }): void {
  t._config.sse = { ...t._config.sse, ping: { enabled: true, intervalMs: pingMs }, client: { reconnectAfterInactivityMs: pingMs * 2 + 5_000 } };
}
export const createCallerFactory = t.createCallerFactory;

const timedOut = (ms: number) => new AppError("timedOut", `Request timed out after ${ms} ms, retry later`);

const publicProcedure = t.procedure.use(async ({ ctx, path, next }) => {
  const started = performance.now();
  try {
    // deadlineAt: a call waiting for its user's slot (below) leaves the queue when the deadline answers.
    const deadlineAt = ctx.callTimeoutMs ? started + ctx.callTimeoutMs : undefined;
    // The deadline answers outside the mapping below: its error is tRPC's already.
    const result = await withDeadline(next({ ctx: { deadlineAt } }), ctx.callTimeoutMs, () => toTRPCError(timedOut(ctx.callTimeoutMs!)));
    // Whatever the call threw that is not tRPC's own (an AppError, a database error) arrives here as an internal error.
    if (!result.ok && result.error.code === "INTERNAL_SERVER_ERROR") {
      const mapped = toTRPCError(result.error.cause);
      if (mapped) throw mapped;
    }
    return result;
  } finally {
    ctx.metrics?.observeCall(path, (performance.now() - started) / 1000);
  }
});

/**
 * A verified Bearer token (`ctx.user`, whose User row exists), the per-user rate limit, then fairness
 * (DB_USER_CONCURRENCY): the call runs once its user has a free slot (src/trpc/user-slots.ts). A subscription takes
 * none: its stream would hold one for its whole life, and its reads are the ones it triggers. One middleware: each
 * one more is a cost on every call.
 */
export const protectedProcedure = publicProcedure.use(async ({ ctx, type, signal, next }) => {
  if (!ctx.token) throw new AppError("authMissing");
  let identity;
  try {
    identity = await ctx.verifyToken(ctx.token);
  } catch (error) {
    if (error instanceof AuthError) throw new AppError("authInvalid");
    if (error instanceof AuthUnavailableError) {
      throw new AppError("authUnavailable", undefined, { cause: error, retryAfterSeconds: error.retryAfterSeconds });
    }
    throw error;
  }
  // Before anything touches the database: a limited caller costs no round trip.
  const retryAfter = await ctx.limitUser?.(identity.id);
  if (retryAfter) {
    throw new AppError("rateLimited", `Too many requests for this user, retry in ${retryAfter} s`, { retryAfterSeconds: retryAfter });
  }
  await ctx.users.ensure(identity);
  const release = ctx.userSlots && type !== "subscription" ? await takeSlot(ctx, identity.id, signal) : undefined;
  try {
    return await next({ ctx: { user: identity } });
  } finally {
    release?.();
  }
});

/** Waits for one of the user's slots; the wait ends with the call's deadline or its client. */
async function takeSlot(ctx: Context & { deadlineAt?: number }, userId: string, signal: AbortSignal | undefined): Promise<() => void> {
  const { deadlineAt } = ctx;
  try {
    // tRPC's own signal where it has one (not on the fast path): else the request's.
    const aborted = () => signal ?? ctx.requestClosed?.();
    return await ctx.userSlots!.acquire(userId, { signal: aborted, timeoutMs: deadlineAt && Math.max(1, deadlineAt - performance.now()) });
  } catch (error) {
    if (error instanceof UserBusyError) throw new AppError("userBusy", undefined, { cause: error, retryAfterSeconds: error.retryAfterSeconds });
    // The same answer as the deadline's, whichever of the two timers fires first.
    if (error instanceof SlotWaitAbandonedError && error.timedOut) throw timedOut(ctx.callTimeoutMs!);
    if (error instanceof SlotWaitAbandonedError) throw new AppError("requestAbandoned", error.message);
    throw error;
  }
}
