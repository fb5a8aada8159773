// One source row → the row the API would have stored, or the reason it cannot be imported.
import { hash } from "node:crypto";
import type { SourceRow, TaskField, UserField } from "./source.ts";
import { boolean, boundedText, InvalidValue, legacyId, priority, text, timestamp, type Priority } from "./values.ts";

/** Fixed namespace for this import's UUIDs; changing it would import every todo a second time. */
export const TODO_ID_NAMESPACE = "6f1d3c2e-8a4b-5d7e-9f10-2b3c4d5e6f70";

/**
 * A task's Todo id: UUID v5 of its user and legacy id, the same on every run — so a re-run or a resumed run
 * finds the rows it already wrote and skips them. The user is part of the name so two files whose integer
 * ids overlap (two installations) do not collide for different users.
 */
export function todoIdFor(userId: string, taskId: string): string {
  return uuidV5(`task:${userId.length}:${userId}:${taskId}`);
}

const NAMESPACE_BYTES = Buffer.from(TODO_ID_NAMESPACE.replace(/-/g, ""), "hex");

/** RFC 9562 UUID version 5 (SHA-1) in our namespace; the tests hold it to the uuid package's v5. */
function uuidV5(name: string): string {
  // Hex in, hex out: formatting the digest's text is several times cheaper than editing its bytes.
  const h = hash("sha1", Buffer.concat([NAMESPACE_BYTES, Buffer.from(name, "utf8")]), "hex");
  const variant = HEX[(parseInt(h[16]!, 16) & 0x3) | 0x8]!;
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-5${h.slice(13, 16)}-${variant}${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
const HEX = "0123456789abcdef";

export interface UserRecord {
  id: string;
  email: string | null;
  name: string | null;
  createdAt?: Date;
}

export interface TodoRecord {
  id: string;
  userId: string;
  title: string;
  description: string | null;
  completed: boolean;
  priority: Priority;
  dueAt: Date | null;
  completedAt: Date | null;
  version: number;
  createdAt: Date;
  updatedAt: Date;
}

/** Orders rows by user id (code units, as the report lists users and as batches are grouped). */
export const byUserId = (a: { userId: string }, b: { userId: string }) =>
  a.userId < b.userId ? -1 : a.userId > b.userId ? 1 : 0;

export type Mapped<T> = { ok: true; record: T } | { ok: false; reason: string };

function attempt<T>(fn: () => T): Mapped<T> {
  try {
    return { ok: true, record: fn() };
  } catch (error) {
    if (error instanceof InvalidValue) return { ok: false, reason: error.message };
    throw error;
  }
}

const optional = (value: string | null) => (value === null || value.trim() === "" ? null : value);

export function mapUser({ values }: SourceRow<UserField>): Mapped<UserRecord> {
  return attempt(() => {
    const id = legacyId(values.id, "id");
    const email = optional(text(values.email, "email"));
    const name = optional(text(values.name, "name"));
    const createdAt = timestamp(values.createdAt, "created_at");
    return {
      id,
      email: email === null ? null : boundedText(email, "email", 10_000),
      name: name === null ? null : boundedText(name, "name", 10_000),
      ...(createdAt ? { createdAt } : {}),
    };
  });
}

/** `now` stands in for a task with neither created_at nor updated_at (the API would have stamped it then). */
export function mapTask({ values }: SourceRow<TaskField>, now: Date): Mapped<TodoRecord> {
  return attempt(() => {
    const taskId = legacyId(values.id, "id");
    const userId = legacyId(values.userId, "user_id");
    // Titles are trimmed and 1–200 characters, descriptions up to 2000, as the API accepts them.
    const title = (text(values.title, "title") ?? "").trim();
    if (title === "") throw new InvalidValue("title is empty");
    const rawDescription = text(values.description, "description");
    const completed = boolean(values.completed, "completed");
    const created = timestamp(values.createdAt, "created_at");
    const updated = timestamp(values.updatedAt, "updated_at");
    const createdAt = created ?? updated ?? now;
    const updatedAt = updated ?? createdAt;
    return {
      id: todoIdFor(userId, taskId),
      userId,
      title: boundedText(title, "title", 200),
      description: rawDescription === null ? null : boundedText(rawDescription, "description", 2000),
      completed,
      priority: priority(values.priority, "priority"),
      dueAt: timestamp(values.dueDate, "due_date"),
      // The earlier app kept no completion time: its last change is the best estimate.
      completedAt: completed ? updatedAt : null,
      version: 1,
      createdAt,
      updatedAt,
    };
  });
}
