/**
 * Removes expired Idempotency-Key rows in the background (src/lib/sweeper.ts). A row it has not reached yet is
 * already ignored by every claim (expired keys behave as absent).
 */
import type { Logger } from "../logger.ts";
import { startSweeper, type Sweeper } from "../lib/sweeper.ts";
import { sweepExpiredKeys, type Queryable } from "./store.ts";

export interface KeySweeperOptions {
  db: Queryable;
  logger: Logger;
  intervalMs?: number;
  batchSize?: number;
  maxBatches?: number;
}

export function startKeySweeper({ db, intervalMs = 60_000, ...options }: KeySweeperOptions): Sweeper {
  return startSweeper({
    ...options,
    what: "expired idempotency keys",
    intervalMs,
    batch: (size) => sweepExpiredKeys(db, size),
  });
}
