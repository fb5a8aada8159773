/** What `todo.onChange` sends, and what the database's NOTIFY carries (prisma/migrations/*_todo_change_notify). */
import { z } from "zod";
import type { TodoDTO } from "../todos/select.ts";

export const CHANNEL = "todo_changes";

export type TodoChange =
  | { type: "created"; todo: TodoDTO }
  | { type: "updated"; todo: TodoDTO }
  | { type: "deleted"; id: string }
  /** Many rows changed at once, or events were missed: refetch. */
  | { type: "changed" };

/** One NOTIFY: the user whose todos one statement changed, and for a single row its id and new version. */
export interface Notice {
  userId: string;
  op: TodoChange["type"];
  id: string | null;
  version: number | null;
}

const noticeSchema = z.object({
  u: z.string().min(1),
  op: z.enum(["created", "updated", "deleted", "changed"]),
  id: z.string().nullable(),
  v: z.number().int().nullable(),
});

/**
 * The listener's delivery probe (src/live/listener.ts): not JSON, so parseNotice never reads one as a change;
 * the listener takes probes out before the feed sees them, in every process on the channel.
 */
const PROBE_PREFIX = "todo-api probe ";
export const probePayload = (token: string) => PROBE_PREFIX + token;
export const isProbe = (payload: string | undefined): boolean => payload?.startsWith(PROBE_PREFIX) ?? false;

/** undefined for a payload this version does not understand (another app on the channel, a newer trigger). */
export function parseNotice(payload: string | undefined): Notice | undefined {
  let json: unknown;
  try {
    json = JSON.parse(payload ?? "");
  } catch {
    return undefined;
  }
  const parsed = noticeSchema.safeParse(json);
  if (!parsed.success) return undefined;
  const { u, op, id, v } = parsed.data;
  // A single-row op without its row is read as "changed": the subscriber refetches rather than misses it.
  if (op !== "changed" && id === null) return { userId: u, op: "changed", id: null, version: null };
  return { userId: u, op, id, version: v };
}

/**
 * Event ids: `<epoch>.<seq>`. The epoch names one unbroken LISTEN session of one process; seq counts the
 * notifications it received, in commit order. Only the process holding that session can replay from an id.
 */
export function eventId(epoch: string, seq: number): string {
  return `${epoch}.${seq}`;
}

export function parseEventId(id: string | null | undefined): { epoch: string; seq: number } | undefined {
  const match = id?.match(/^([0-9a-f]{16})\.(\d{1,15})$/);
  return match ? { epoch: match[1]!, seq: Number(match[2]) } : undefined;
}
