/**
 * A caller's share: RATE_LIMIT_PER_USER calls per window, then at most DB_USER_CONCURRENCY of them at once
 * (src/limits/user-slots.ts). Both are checked after the token, before anything touches the database.
 */
import { MemoryStore, type Options, type Store } from "express-rate-limit";
import type { Config } from "../config.ts";
import { AppError } from "../errors.ts";
import { SlotWaitAbandonedError, UserBusyError, type UserSlots } from "./user-slots.ts";

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

/** One call counted against its user's limit: 429 (rateLimited, with Retry-After) when over it. */
export async function countUserCall(limit: UserRateLimit | undefined, userId: string): Promise<void> {
  const retryAfter = await limit?.(userId);
  if (retryAfter) {
    throw new AppError("rateLimited", `Too many requests for this user, retry in ${retryAfter} s`, { retryAfterSeconds: retryAfter });
  }
}

/**
 * Waits for one of the user's slots; the wait ends at `deadlineAt` (answered by `timedOut`, the same answer as the
 * call's deadline, whichever timer fires first) or when `signal()` aborts (the client went away).
 */
export async function takeUserSlot(
  slots: UserSlots,
  userId: string,
  { signal, deadlineAt, timedOut }: { signal: () => AbortSignal | undefined; deadlineAt?: number; timedOut: () => Error },
): Promise<() => void> {
  try {
    return await slots.acquire(userId, { signal, timeoutMs: deadlineAt && Math.max(1, deadlineAt - performance.now()) });
  } catch (error) {
    if (error instanceof UserBusyError) throw new AppError("userBusy", undefined, { cause: error, retryAfterSeconds: error.retryAfterSeconds });
    if (error instanceof SlotWaitAbandonedError && error.timedOut) throw timedOut();
    if (error instanceof SlotWaitAbandonedError) throw new AppError("requestAbandoned", error.message);
    throw error;
  }
}
