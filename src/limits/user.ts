/**
 * A caller's share: RATE_LIMIT_PER_USER calls per window, then at most DB_USER_CONCURRENCY of them at once. Both
 * are checked after the token, before anything touches the database.
 *
 * Fairness between users (DB_USER_CONCURRENCY, DB_USER_QUEUE_MAX): one user's calls run at most `concurrency` at
 * once, so they can hold at most that many pool connections; more wait in that user's FIFO queue of at most
 * `queueMax`, and beyond it are refused. A user's entry exists only while they have a call running or waiting,
 * so memory follows the users active right now, not every user ever seen.
 */
import { MemoryStore, type Options, type Store } from "express-rate-limit";
import type { Config } from "../config.ts";
import { AppError } from "../errors.ts";

/** Counts one call for a user; resolves with the seconds to wait when over the limit. */
export type UserRateLimit = (userId: string) => Promise<number | undefined>;

/**
 * RATE_LIMIT_PER_USER calls per RATE_LIMIT_WINDOW_MS for one verified user id, counted in an express-rate-limit
 * store: Redis (shared, with this process's count when Redis does not answer) or this process's memory; no
 * database round trip. Each call of a batch counts.
 */
export function userRateLimit(
  { windowMs, perUser }: Config["rateLimit"],
  store: Store = new MemoryStore(),
): UserRateLimit | undefined {
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
    throw new AppError("rateLimited", `Too many requests for this user, retry in ${retryAfter} s`, {
      retryAfterSeconds: retryAfter,
    });
  }
}

/**
 * Waits for one of the user's slots; the wait ends at `deadlineAt` (answered by `timedOut`, the same answer as the
 * call's deadline, whichever timer fires first) or when `signal()` aborts (the client went away).
 */
export async function takeUserSlot(
  slots: UserSlots,
  userId: string,
  {
    signal,
    deadlineAt,
    timedOut,
  }: { signal: () => AbortSignal | undefined; deadlineAt?: number; timedOut: () => Error },
): Promise<() => void> {
  try {
    return await slots.acquire(userId, {
      signal,
      timeoutMs: deadlineAt && Math.max(1, deadlineAt - performance.now()),
    });
  } catch (error) {
    if (error instanceof UserBusyError)
      throw new AppError("userBusy", undefined, { cause: error, retryAfterSeconds: error.retryAfterSeconds });
    if (error instanceof SlotWaitAbandonedError && error.timedOut) throw timedOut();
    if (error instanceof SlotWaitAbandonedError) throw new AppError("requestAbandoned", error.message);
    throw error;
  }
}

/** Refused: the user's queue is full. `retryAfterSeconds` goes into the Retry-After header (the error table, src/errors.ts). */
export class UserBusyError extends Error {
  readonly retryAfterSeconds = 1;
  constructor() {
    super("too many calls of this user at once");
  }
}

/** A waiting call gave up (its request ended, or `timedOut`: its deadline passed) before a slot came free. */
export class SlotWaitAbandonedError extends Error {
  constructor(readonly timedOut: boolean) {
    super(timedOut ? "no slot before the deadline" : "request ended before its turn");
  }
}

export interface UserSlotStats {
  /** Calls that had to wait / were refused / left the queue before their turn, since start. */
  queued: number;
  refused: number;
  abandoned: number;
  /** Calls waiting right now, over all users. */
  waiting: number;
  /** Users with a call running or waiting right now. */
  users: number;
}

export interface UserSlots {
  /**
   * Resolves with `release` once the user may run one more call; rejects with UserBusyError when the queue is
   * full, or SlotWaitAbandonedError when `signal` aborts or `timeoutMs` passes while waiting. `signal` may be a
   * function: called only when the call has to wait.
   */
  acquire(
    userId: string,
    options?: { signal?: AbortSignal | (() => AbortSignal | undefined); timeoutMs?: number },
  ): Promise<() => void>;
  stats(): UserSlotStats;
}

interface Waiter {
  grant(): void;
}

interface Entry {
  running: number;
  queue: Waiter[];
}

export function createUserSlots({ concurrency, queueMax }: { concurrency: number; queueMax: number }): UserSlots {
  const users = new Map<string, Entry>();
  const counts = { queued: 0, refused: 0, abandoned: 0, waiting: 0 };

  function releaser(userId: string, entry: Entry): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      // The slot passes straight to the first waiter: `running` stays, nobody can overtake the queue.
      const next = entry.queue.shift();
      if (next) return next.grant();
      entry.running--;
      if (entry.running === 0) users.delete(userId);
    };
  }

  return {
    acquire(userId, { signal: givenSignal, timeoutMs } = {}) {
      let entry = users.get(userId);
      if (!entry) users.set(userId, (entry = { running: 0, queue: [] }));
      if (entry.running < concurrency) {
        entry.running++;
        return Promise.resolve(releaser(userId, entry));
      }
      if (entry.queue.length >= queueMax) {
        counts.refused++;
        return Promise.reject(new UserBusyError());
      }
      const signal = typeof givenSignal === "function" ? givenSignal() : givenSignal;
      if (signal?.aborted) {
        counts.abandoned++;
        return Promise.reject(new SlotWaitAbandonedError(false));
      }
      counts.queued++;
      counts.waiting++;
      const own = entry;
      return new Promise((resolve, reject) => {
        let timer: NodeJS.Timeout | undefined;
        const settle = () => {
          counts.waiting--;
          clearTimeout(timer);
          signal?.removeEventListener("abort", onAbort);
        };
        const waiter: Waiter = {
          grant() {
            settle();
            resolve(releaser(userId, own));
          },
        };
        const leave = (timedOut: boolean) => {
          const at = own.queue.indexOf(waiter);
          if (at === -1) return;
          own.queue.splice(at, 1);
          settle();
          counts.abandoned++;
          // Never empty here: a queue only exists behind running calls, which delete the entry when they end.
          reject(new SlotWaitAbandonedError(timedOut));
        };
        const onAbort = () => leave(false);
        own.queue.push(waiter);
        signal?.addEventListener("abort", onAbort, { once: true });
        if (timeoutMs) timer = setTimeout(() => leave(true), timeoutMs);
      });
    },
    stats: () => ({ ...counts, users: users.size }),
  };
}
