/**
 * Purges tombstones deleted more than CHANGE_RETENTION_MS ago, in the background (src/lib/sweeper.ts): after
 * that a deleted todo cannot be restored, and a cursor from before its purge gets PRECONDITION_FAILED (the
 * horizon moves past it in the same statement, src/todos/changes.ts). Live rows are their own change records and
 * stay. Every process runs one; their batches skip each other's rows.
 */
import type { Logger } from "../logger.ts";
import { startSweeper, type Sweeper } from "../lib/sweeper.ts";
import { purgeTombstones } from "../todos/changes.ts";
import type { Db } from "../todos/repository.ts";

export interface RetentionOptions {
  db: Db;
  logger: Logger;
  retentionMs: number;
  batchSize?: number;
  maxBatches?: number;
}

export function startRetentionSweeper({ db, retentionMs, ...options }: RetentionOptions): Sweeper {
  return startSweeper({
    ...options,
    what: "tombstones past CHANGE_RETENTION_MS",
    // Often enough that a tombstone outlives its retention by a tenth of it at most, and never more than a minute.
    intervalMs: Math.min(60_000, Math.max(1_000, Math.round(retentionMs / 10))),
    batch: (size) => purgeTombstones(db, new Date(Date.now() - retentionMs), size),
  });
}
