import { z } from "zod";
import { codePoints, hasNul, isStorableString, isWellFormed } from "../lib/text.ts";

export const PRIORITIES = ["LOW", "MEDIUM", "HIGH"] as const;
export const SORT_FIELDS = ["createdAt", "updatedAt", "dueAt", "priority", "title"] as const;
export type SortField = (typeof SORT_FIELDS)[number];

const noNul = (s: string) => !hasNul(s);

const text = (field: string, max: number) =>
  z
    .string()
    .refine(noNul, `${field} must not contain NUL characters`)
    .refine(isWellFormed, `${field} must be valid Unicode (no lone surrogates)`)
    .refine((s) => codePoints(s) <= max, `${field} must be at most ${max} characters`);

// `.meta` only describes a field in the OpenAPI document; it changes no validation.
const title = z
  .string()
  .trim()
  .min(1, "Title must not be empty")
  .pipe(text("Title", 200))
  .meta({ description: "Trimmed; 1–200 characters" });
const description = text("Description", 2000).meta({ description: "Up to 2000 characters" });

const MIN_DATE = Date.UTC(1900, 0, 1);
const MAX_DATE = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
export const isStorableDate = (d: Date) =>
  !Number.isNaN(d.getTime()) && d.getTime() >= MIN_DATE && d.getTime() <= MAX_DATE;
/** A Date (superjson) or an ISO 8601 string with a time zone (plain JSON clients). */
const date = z
  .union([z.date(), z.iso.datetime({ offset: true }).transform((s) => new Date(s))])
  .refine(isStorableDate, {
    message: "Date must be between 1900-01-01 and 9999-12-31",
  })
  .meta({ description: "ISO 8601 date-time with a time zone (e.g. 2030-01-01T09:00:00Z), 1900-01-01 to 9999-12-31" });

/** Todo ids are UUIDs, but any string is accepted so an unknown id is NOT_FOUND, never a type error. */
export const isStorableText = (s: string, max: number) => isStorableString(s) && codePoints(s) <= max;

const todoId = z.string().min(1).max(100).refine(noNul, "id must not contain NUL characters");

export const byIdInput = z.object({ id: todoId });

export const listInput = z
  .object({
    status: z.enum(["all", "active", "completed"]).default("all"),
    search: z
      .string()
      .trim()
      .pipe(text("Search", 200))
      // 200: a trigram index search stays cheap (migration 20261207010000_todo_search_trgm).
      .meta({
        description: "Case-insensitive, in title or description (% and _ match literally); up to 200 characters",
      })
      .optional()
      .transform((s) => (s ? s : undefined)),
    orderBy: z.enum(SORT_FIELDS).default("createdAt"),
    order: z.enum(["asc", "desc"]).default("desc"),
    limit: z.number().int().min(1).max(100).default(20),
    // A cursor holds a sort value: a 200-character title can take ~2,500 characters once escaped and encoded.
    cursor: z
      .string()
      .max(4096)
      .nullish()
      .meta({ description: "nextCursor of the previous page, with the same orderBy and order" }),
  })
  .prefault({});

export const createInput = z.object({
  title,
  description: description.optional(),
  priority: z.enum(PRIORITIES).optional(),
  dueAt: date.optional(),
});

export const updateInput = z.object({
  id: todoId,
  // Any non-negative version is a valid claim; one that is not current is a CONFLICT.
  expectedVersion: z
    .number()
    .int()
    .min(0)
    .max(2_147_483_647)
    .optional()
    .meta({ description: "Update only if the todo is at this version (else 409 CONFLICT)" }),
  title: title.optional(),
  description: description.nullable().optional(),
  completed: z.boolean().optional(),
  priority: z.enum(PRIORITIES).optional(),
  dueAt: date.nullable().optional(),
});

export const syncInput = z
  .object({
    after: z
      .string()
      .max(64)
      .nullish()
      .meta({ description: "The cursor of the last sync, or an onChange event id; omit for every live todo" }),
    limit: z.number().int().min(1).max(1000).default(500),
  })
  .prefault({});

export const toggleAllInput = z.object({ completed: z.boolean() });
/** `lastEventId`: the id of the last event seen (httpSubscriptionLink sends it on reconnect, as Last-Event-ID). */
export const onChangeInput = z.object({ lastEventId: z.string().max(256).nullish() }).optional();

export type CreateInput = z.output<typeof createInput>;
export type ListInput = z.output<typeof listInput>;
export type UpdateInput = z.output<typeof updateInput>;
