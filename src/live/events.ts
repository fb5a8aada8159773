/** What `todo.onChange` sends, and what the NOTIFY hints on CHANNEL carry. */
import { z } from "zod";
import type { TodoDTO } from "../todos/select.ts";

export const CHANNEL = "todo_changes";

export type TodoChange =
  | { type: "created"; todo: TodoDTO }
  | { type: "updated"; todo: TodoDTO }
  | { type: "deleted"; id: string }
  /** The stream cannot resume from the given id (unknown, or older than CHANGE_RETENTION_MS): sync from scratch. */
  | { type: "changed" };

/**
 * A NOTIFY on CHANNEL is only a wake-up hint, sent after a commit (never inside the write's transaction): the
 * users whose todos changed, or "*" for any. The change itself is read from the database (src/todos/changes.ts).
 * An older server's payload (`{"u": id, "op": …}`) is read as a hint for its user.
 */
const hintSchema = z.object({ u: z.union([z.string().min(1), z.array(z.string().min(1))]) });

export const ANY_USER = "*";
// NOTIFY's payload is at most 8,000 bytes: more users than fit is a hint for all.
const MAX_HINT_BYTES = 7_000;

export function hintPayload(userIds: Iterable<string>): string {
  const payload = JSON.stringify({ u: [...userIds] });
  return Buffer.byteLength(payload) > MAX_HINT_BYTES ? ANY_USER : payload;
}

/** The users a hint names, ANY_USER for all, undefined for a payload that is not a hint (another app's). */
export function parseHint(payload: string | undefined): string[] | typeof ANY_USER | undefined {
  if (payload === ANY_USER) return ANY_USER;
  let json: unknown;
  try {
    json = JSON.parse(payload ?? "");
  } catch {
    return undefined;
  }
  const parsed = hintSchema.safeParse(json);
  if (!parsed.success) return undefined;
  return typeof parsed.data.u === "string" ? [parsed.data.u] : parsed.data.u;
}

/**
 * The listener's delivery probe (src/live/listener.ts): not JSON, so parseHint never reads one as a hint;
 * the listener takes probes out before the feed sees them, in every process on the channel.
 */
const PROBE_PREFIX = "todo-api probe ";
export const probePayload = (token: string) => PROBE_PREFIX + token;
export const isProbe = (payload: string | undefined): boolean => payload?.startsWith(PROBE_PREFIX) ?? false;
