/**
 * A rate limiter's counters in Redis (rate-limit-redis), shared by every process on that Redis. A check Redis does
 * not answer within the timeout is skipped: the limits fail open rather than fail requests.
 */
import type { IncrementResponse, Options, Store } from "express-rate-limit";
import { RedisStore, type RedisReply } from "rate-limit-redis";
import type { RedisConnection } from "./redis.ts";

export type Limiter = "ip" | "user";

/** A check that did not reach Redis; the request goes on unlimited. */
export class LimitSkippedError extends Error {}

export interface RedisLimitStoreOptions {
  redis: RedisConnection;
  limiter: Limiter;
  timeoutMs: number;
  onSkip: () => void;
}

export function redisLimitStore({ redis, limiter, timeoutMs, onSkip }: RedisLimitStoreOptions): Store {
  const store = new RedisStore({
    prefix: `todo-api:rl:${limiter}:`,
    sendCommand: (...args: string[]) => redis.send(args) as Promise<RedisReply>,
  });
  let options: Options | undefined;
  let loading = false;
  // rate-limit-redis loads its Lua scripts in init(); one that failed (Redis away) is loaded again on reconnection.
  const load = () => {
    if (!options || loading) return;
    loading = true;
    store
      .init(options)
      .catch(() => {}) // the next check fails and reports it
      .finally(() => (loading = false));
  };
  redis.onReady(load);

  return {
    prefix: store.prefix,
    localKeys: false,
    init(given) {
      options = given;
      load();
    },
    async increment(key): Promise<IncrementResponse> {
      try {
        const result = await withTimeout(store.increment(key), timeoutMs);
        redis.reportUp();
        return result;
      } catch (error) {
        redis.reportDown(error);
        onSkip();
        // A failure while connected may be a script load that failed: load it again.
        if (redis.isReady()) load();
        throw new LimitSkippedError(`${limiter} rate limit skipped: Redis did not answer`, { cause: error });
      }
    },
    decrement: (key) => store.decrement(key),
    resetKey: (key) => store.resetKey(key),
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
