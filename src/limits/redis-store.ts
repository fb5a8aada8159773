/**
 * A rate limiter's counters in Redis (rate-limit-redis), shared by every process on that Redis, and in this
 * process's memory as well. While Redis answers its count decides. A check Redis does not answer within the
 * timeout is skipped and the local count decides: the shared budget fails open, each process's own does not.
 */
import { MemoryStore, type IncrementResponse, type Options, type Store } from "express-rate-limit";
import { RedisStore, type RedisReply } from "rate-limit-redis";
import type { RedisConnection } from "./redis.ts";

export type Limiter = "ip" | "user";

/** A limiter's shared store; `onSkip` counts a check Redis did not answer. The app takes one of these, not Redis. */
export type SharedLimitStore = (limiter: Limiter, onSkip: () => void) => Store;

/** The stores on this Redis connection (REDIS_URL), for createApp. */
export function redisLimitStores(redis: RedisConnection, timeoutMs: number): SharedLimitStore {
  return (limiter, onSkip) => redisLimitStore({ redis, limiter, timeoutMs, onSkip });
}

export interface RedisLimitStoreOptions {
  redis: RedisConnection;
  limiter: Limiter;
  timeoutMs: number;
  /** A check Redis did not answer, decided by this process's count. */
  onSkip: () => void;
}

export function redisLimitStore({ redis, limiter, timeoutMs, onSkip }: RedisLimitStoreOptions): Store {
  const shared = new RedisStore({
    prefix: `todo-api:rl:${limiter}:`,
    sendCommand: (...args: string[]) => redis.send(args) as Promise<RedisReply>,
  });
  // Counts every hit, not only skipped ones: when Redis stalls mid-window, a client that already spent its budget
  // on this process is still over it. It only sees this process's hits, so it never exceeds Redis's count of them.
  const local = new MemoryStore();
  let options: Options | undefined;
  let loading = false;
  // rate-limit-redis loads its Lua scripts in init(); one that failed (Redis away) is loaded again on reconnection.
  const load = () => {
    if (!options || loading) return;
    loading = true;
    shared
      .init(options)
      .catch(() => {}) // the next check fails and reports it
      .finally(() => (loading = false));
  };
  redis.onReady(load);

  return {
    prefix: shared.prefix,
    localKeys: false,
    init(given) {
      options = given;
      local.init(given);
      load();
    },
    async increment(key): Promise<IncrementResponse> {
      // A copy: MemoryStore hands out its live record, which later hits would change.
      const { totalHits, resetTime } = await local.increment(key);
      try {
        const counted = await withTimeout(shared.increment(key), timeoutMs);
        redis.reportUp();
        return counted;
      } catch (error) {
        redis.reportDown(error);
        onSkip();
        // A failure while connected may be a script load that failed: load it again.
        if (redis.isReady()) load();
        return { totalHits, resetTime };
      }
    },
    async decrement(key) {
      await local.decrement(key);
      await shared.decrement(key);
    },
    async resetKey(key) {
      await local.resetKey(key);
      await shared.resetKey(key);
    },
  };
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    // Rejects after one more poll phase: a process that was not scheduled for a while reads a reply that
    // already arrived before it gives up on it.
    timer = setTimeout(() => setImmediate(() => reject(new Error(`Redis did not answer within ${ms} ms`))), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
