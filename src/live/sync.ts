/**
 * todo.sync: a client's replica, caught up in pages. Without `after`, every live todo; with it, what changed since,
 * each todo once in its latest state, and the ids deleted since. The cursor never passes a position whose
 * transaction may still commit (the page's frontier), so following it, or streaming from it, misses nothing.
 */
import type { Db } from "../todos/repository.ts";
import { isReady, readUserChanges, type ChangePage } from "../todos/changes.ts";
import type { TodoDTO } from "../todos/select.ts";
import { compare, decodePosition, encodePosition, later, type Position } from "./position.ts";

export interface SyncResult {
  todos: TodoDTO[];
  deleted: string[];
  cursor: string;
  more: boolean;
}

export type SyncOutcome = { status: "ok"; result: SyncResult } | { status: "malformed" } | { status: "expired" };

// A cursor minted further ahead than clocks drift between instances was not minted by one of them.
const CLOCK_SLACK_MS = 60_000;

/** Whether a decoded position can still be followed: minted within retention, and not before a purge. */
export function isCurrent(
  after: Position & { mintedAt: number },
  page: Pick<ChangePage, "xmax" | "horizon">,
  retentionMs: number,
  now = Date.now(),
): boolean {
  if (after.mintedAt < now - retentionMs || after.mintedAt > now + CLOCK_SLACK_MS) return false;
  // A transaction id this database has not reached: another database's cursor.
  if (after.tx > page.xmax) return false;
  return compare(after, page.horizon) >= 0;
}

export async function syncTodos(
  db: Db,
  userId: string,
  input: { after?: string | null; limit: number },
  retentionMs: number,
): Promise<SyncOutcome> {
  const after = input.after ? (decodePosition(input.after) ?? null) : null;
  if (input.after && !after) return { status: "malformed" };
  const page = await readUserChanges(db, userId, { after, limit: input.limit + 1, readyOnly: false });
  if (after && !isCurrent(after, page, retentionMs)) return { status: "expired" };

  const rows = page.rows.slice(0, input.limit);
  const truncated = page.rows.length > input.limit;
  const last = rows.at(-1);
  // Cut at a final row: the next page starts after it. Otherwise every final row is here, and what follows the
  // frontier (committed or not) is read again from the frontier next time.
  const more = truncated && last !== undefined && isReady(last, page.frontier);
  const cursor = more ? last.position : later(after ?? page.frontier, page.frontier);
  const todos: TodoDTO[] = [];
  const deleted: string[] = [];
  for (const row of rows) {
    if (row.kind === "DELETED") deleted.push(row.todo.id);
    else todos.push(row.todo);
  }
  return { status: "ok", result: { todos, deleted, cursor: encodePosition(cursor), more } };
}
