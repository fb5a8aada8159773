/**
 * The procedures every router builds on.
 * - publicProcedure (internal): the deadline (REQUEST_TIMEOUT_MS), call metrics, and database errors mapped to
 *   client-facing codes.
 * - protectedProcedure: a verified Bearer token (`ctx.user`, whose User row exists), then the caller's share
 *   (src/limits/user.ts); after a mutation, the live feed's hint. One middleware: each one more is a cost on every call.
 */
import { AuthError, AuthUnavailableError } from "../auth/tokens.ts";
import { AppError } from "../errors.ts";
import { withDeadline } from "../lib/deadline.ts";
import { countUserCall, takeUserSlot } from "../limits/user.ts";
import { toTRPCError } from "./errors.ts";
import { procedure } from "./init.ts";

const timedOut = (ms: number) => new AppError("timedOut", `Request timed out after ${ms} ms, retry later`);

const publicProcedure = procedure.use(async ({ ctx, path, next }) => {
  const started = performance.now();
  try {
    // deadlineAt: a call waiting for its user's slot leaves the queue when the deadline answers.
    const deadlineAt = ctx.callTimeoutMs ? started + ctx.callTimeoutMs : undefined;
    // The deadline answers outside the mapping below: its error is tRPC's already.
    const result = await withDeadline(next({ ctx: { deadlineAt } }), ctx.callTimeoutMs, () =>
      toTRPCError(timedOut(ctx.callTimeoutMs!)),
    );
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
 * A subscription takes no slot: its stream would hold one for its whole life, and its reads are the ones it
 * triggers.
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
  await countUserCall(ctx.limitUser, identity.id);
  await ctx.users.ensure(identity);
  const release =
    ctx.userSlots && type !== "subscription"
      ? await takeUserSlot(ctx.userSlots, identity.id, {
          // tRPC's own signal where it has one (not on the fast path): else the request's.
          signal: () => signal ?? ctx.requestClosed?.(),
          deadlineAt: ctx.deadlineAt,
          timedOut: () => timedOut(ctx.callTimeoutMs!),
        })
      : undefined;
  try {
    const result = await next({ ctx: { user: identity } });
    // After the mutation's commit (a keyed one's transaction ends inside next): a hint, never part of the write.
    if (type === "mutation" && result.ok) ctx.changes?.written(identity.id);
    return result;
  } finally {
    release?.();
  }
});
