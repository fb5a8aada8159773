/**
 * The change feed's statements: each todo row is its own change record (its last change's position and kind,
 * migration *_todo_change_log), so reading changes is reading rows in position order. Every read also returns
 * the frontier, `(xmin, 0)` of its own snapshot: rows before it are final (their transactions have ended), rows
 * at or after it belong to transactions that may have been running when an earlier position was read.
 */
import { Prisma } from "../generated/prisma/client.ts";
import type { Db } from "./repository.ts";
import { todoColumns, type TodoDTO } from "./select.ts";
import type { Position } from "../live/position.ts";

export type ChangeKind = "CREATED" | "UPDATED" | "RESTORED" | "DELETED";

export interface ChangeRow {
  todo: TodoDTO;
  position: Position;
  kind: ChangeKind;
}

export interface ChangePage {
  rows: ChangeRow[];
  /** (xmin, 0) of the statement's snapshot. */
  frontier: Position;
  /** pg_snapshot_xmax: no transaction at or after it had started; a position there was never handed out. */
  xmax: number;
  /** The newest purged tombstone's position: a position before it may have missed a delete. */
  horizon: Position;
}

export const isReady = (row: ChangeRow, frontier: Position) => row.position.tx < frontier.tx;

type Raw = Partial<TodoDTO> & {
  xmin: string;
  xmax: string;
  htx: string | null;
  hseq: string | null;
  tx: string | null;
  seq: string | null;
  kind: ChangeKind | null;
};

const pos = (tx: number | string | null, seq: number | string | null): Position => ({
  tx: Number(tx ?? 0),
  seq: Number(seq ?? 0),
});

function toPage(raws: Raw[]): ChangePage {
  const first = raws[0]!;
  const rows: ChangeRow[] = [];
  for (const { xmin: _xmin, xmax: _xmax, htx: _htx, hseq: _hseq, tx, seq, kind, ...todo } of raws) {
    if (tx === null) continue; // the LEFT JOIN's row when there are none
    rows.push({ todo: todo as TodoDTO, position: pos(tx, seq), kind: kind! });
  }
  return { rows, frontier: pos(first.xmin, 0), xmax: Number(first.xmax), horizon: pos(first.htx, first.hseq) };
}

/** `changes` is the row filter; the snapshot's bounds and the horizon come with the rows, in one statement. */
async function readPage(db: Db, where: Prisma.Sql, limit: number): Promise<ChangePage> {
  const raws = await db.$queryRaw<Raw[]>`
    WITH "s" AS (
      SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS "xmin",
             pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS "xmax")
    SELECT "s"."xmin"::text AS "xmin", "s"."xmax"::text AS "xmax",
           (SELECT "tx"::text FROM "ChangeHorizon" WHERE "id" = 1) AS "htx",
           (SELECT "seq"::text FROM "ChangeHorizon" WHERE "id" = 1) AS "hseq", "t".*
    FROM "s" LEFT JOIN LATERAL (
      SELECT ${todoColumns}, "changeTx"::text AS "tx", "changeSeq"::text AS "seq", "changeKind"::text AS "kind"
      FROM "Todo" WHERE ${where}
      ORDER BY "changeTx", "changeSeq"
      LIMIT ${limit}) AS "t" ON true`;
  return toPage(raws);
}

const afterSql = (after: Position) =>
  Prisma.sql`("changeTx", "changeSeq") > (${String(after.tx)}::bigint, ${String(after.seq)}::bigint)`;

/**
 * One user's changes after `after`, in position order, at most `limit`. `readyOnly`: only rows before the
 * frontier (a stream's replay: it must never pass a position that may still fill in). Tombstones only with `after`
 * (a first sync has nothing to remove).
 */
export function readUserChanges(
  db: Db,
  userId: string,
  { after, limit, readyOnly }: { after: Position | null; limit: number; readyOnly: boolean },
): Promise<ChangePage> {
  const and = [Prisma.sql`"userId" = ${userId}`];
  if (after) and.push(afterSql(after));
  else and.push(Prisma.sql`"deletedAt" IS NULL`);
  if (readyOnly) and.push(Prisma.sql`"changeTx" < "s"."xmin"`);
  return readPage(db, Prisma.join(and, " AND "), limit);
}

/**
 * The changes of these users after `after` (an instance's poll for its subscribers), ready or not: the caller
 * delivers the ready ones and polls again soon while others are there.
 */
export function readChangesOf(db: Db, userIds: string[], after: Position, limit: number): Promise<ChangePage> {
  const where = Prisma.sql`${afterSql(after)} AND "userId" = ANY(${userIds}::text[])`;
  return readPage(db, where, limit);
}

/**
 * Purges tombstones deleted before `before`, at most `limit` (rows other statements hold are skipped), and moves
 * the horizon past the newest one purged. Returns how many.
 */
export async function purgeTombstones(db: Db, before: Date, limit: number): Promise<number> {
  const [row] = await db.$queryRaw<{ n: number }[]>`
    WITH "purged" AS (
      DELETE FROM "Todo" WHERE "id" IN (
        SELECT "id" FROM "Todo" WHERE "deletedAt" < ${before} LIMIT ${limit} FOR UPDATE SKIP LOCKED)
      RETURNING "changeTx", "changeSeq"),
    "newest" AS (SELECT "changeTx", "changeSeq" FROM "purged" ORDER BY 1 DESC, 2 DESC LIMIT 1),
    "moved" AS (
      UPDATE "ChangeHorizon" AS "h" SET "tx" = "newest"."changeTx", "seq" = "newest"."changeSeq"
      FROM "newest" WHERE "h"."id" = 1 AND ("newest"."changeTx", "newest"."changeSeq") > ("h"."tx", "h"."seq"))
    SELECT count(*)::int AS "n" FROM "purged"`;
  return row?.n ?? 0;
}

/** The frontier now: where a stream that asks for nothing old starts. */
export async function readFrontier(db: Db): Promise<Position> {
  const [row] = await db.$queryRaw<{ xmin: string }[]>`
    SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS "xmin"`;
  return { tx: Number(row!.xmin), seq: 0 };
}
