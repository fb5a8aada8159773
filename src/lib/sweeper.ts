/**
 * A background sweep: a timer that never keeps the process alive, removing rows in bounded batches (each a
 * statement that skips rows a request holds), so no request ever waits for it. Used for expired Idempotency-Key
 * rows (src/idempotency/sweeper.ts) and for tombstones past CHANGE_RETENTION_MS (src/live/retention.ts).
 */
import type { Logger } from "../logger.ts";

export interface SweeperOptions {
  /** What is removed, for the log ("expired idempotency keys"). */
  what: string;
  /** One batch: removes at most `size` rows, returns how many. */
  batch(size: number): Promise<number>;
  logger: Logger;
  intervalMs: number;
  /** Rows per batch. */
  batchSize?: number;
  /** Batches per run at most; the rest waits for the next run. */
  maxBatches?: number;
}

export interface Sweeper {
  /** One run: batches until fewer than batchSize rows were removed (or maxBatches); returns the rows removed. */
  runOnce(): Promise<number>;
  stop(): void;
}

export function startSweeper({
  what,
  batch,
  logger,
  intervalMs,
  batchSize = 1000,
  maxBatches = 10,
}: SweeperOptions): Sweeper {
  let running: Promise<number> | undefined;
  let failing = false;
  const sweep = async () => {
    let removed = 0;
    for (let n = 0; n < maxBatches; n++) {
      const count = await batch(batchSize);
      removed += count;
      if (count < batchSize) break;
    }
    return removed;
  };
  const runOnce = () => {
    // One run at a time: a slow database never piles them up.
    running ??= sweep()
      .then((removed) => {
        if (failing) logger.info(`${what} removed again`);
        failing = false;
        return removed;
      })
      .catch((error: unknown) => {
        // Logged once per outage; the next run tries again.
        if (!failing) logger.warn({ err: error }, `removing ${what} failed`);
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
