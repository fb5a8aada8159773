/**
 * Removes expired Idempotency-Key rows in the background: a timer that never keeps the process alive, deleting
 * in bounded batches that skip rows a request holds, so no request ever waits for it. A row it has not reached
 * yet is already ignored by every claim (expired keys behave as absent).
 */
import type { Logger } from "../logger.ts";
import { sweepExpiredKeys, type Queryable } from "./store.ts";

export interface KeySweeperOptions {
  db: Queryable;
  logger: Logger;
  intervalMs?: number;
  /** Rows per DELETE. */
  batchSize?: number;
  /** DELETEs per run at most; the rest waits for the next run. */
  maxBatches?: number;
}

export interface KeySweeper {
  /** One run: batches until fewer than batchSize rows were expired (or maxBatches); returns the rows removed. */
  runOnce(): Promise<number>;
  stop(): void;
}

export function startKeySweeper({
  db,
  logger,
  intervalMs = 60_000,
  batchSize = 1000,
  maxBatches = 10,
}: KeySweeperOptions): KeySweeper {
  let running: Promise<number> | undefined;
  let failing = false;
  const sweep = async () => {
    let removed = 0;
    for (let batch = 0; batch < maxBatches; batch++) {
      const count = await sweepExpiredKeys(db, batchSize);
      removed += count;
      if (count < batchSize) break;
    }
    return removed;
  };
  const runOnce = () => {
    // One run at a time: a slow database never piles them up.
    running ??= sweep()
      .then((removed) => {
        if (failing) logger.info("expired idempotency keys removed again");
        failing = false;
        return removed;
      })
      .catch((error: unknown) => {
        // Logged once per outage; the next run tries again.
        if (!failing) logger.warn({ err: error }, "removing expired idempotency keys failed");
        failing = true;
        return 0;
      })
      .finally(() => {
        running = undefined;
      });
    return running;
  };
  const timer = setInterval(() => void runOnce(), intervalMs);
  timer.unref();
  return { runOnce, stop: () => clearInterval(timer) };
}
