/**
 * What the procedures tell trpc-to-openapi: the REST route (`meta.openapi`), the documented errors, and
 * `meta.response`, the JSON body a REST call answers with (dates as ISO strings). `response` is documentation
 * only: tRPC's `.output()` would also make every tRPC call parse its result (src/rest.ts explains).
 */
import type { OpenApiMeta } from "trpc-to-openapi";
import { z } from "zod";
import { PRIORITIES } from "../todos/schemas.ts";
import type { TodoDTO } from "../todos/select.ts";

export type ApiMeta = OpenApiMeta<{ response?: z.ZodType }>;

const dateTime = z.iso.datetime();

const todoShape = {
  id: z.uuid(),
  userId: z.string(),
  title: z.string(),
  description: z.string().nullable(),
  completed: z.boolean(),
  priority: z.enum(PRIORITIES),
  dueAt: dateTime.nullable(),
  completedAt: dateTime.nullable(),
  version: z.int().min(1),
  createdAt: dateTime,
  updatedAt: dateTime,
} satisfies Record<keyof TodoDTO, z.ZodType>;

export const todoJson = z.object(todoShape).meta({ id: "Todo" });
export const todoPageJson = z
  .object({
    items: z.array(todoJson),
    nextCursor: z
      .string()
      .nullable()
      .meta({ description: "Pass back as `cursor` (same orderBy and order) for the next page; null on the last" }),
  })
  .meta({ id: "TodoPage" });
export const syncJson = z
  .object({
    todos: z
      .array(todoJson)
      .meta({ description: "Created or changed since `after`, each in its latest state: upsert" }),
    deleted: z.array(z.string()).meta({ description: "Ids deleted since `after`: remove" }),
    cursor: z.string().meta({ description: "Pass back as `after` (or as onChange's lastEventId)" }),
    more: z.boolean().meta({ description: "Call again with `cursor` right away" }),
  })
  .meta({ id: "TodoSync" });
export const deletedJson = z.object({ id: z.string() }).meta({ id: "Deleted" });
export const countJson = z
  .object({ count: z.int().min(0).meta({ description: "Rows changed" }) })
  .meta({ id: "Count" });
export const statsJson = z
  .object({ total: z.int().min(0), active: z.int().min(0), completed: z.int().min(0), overdue: z.int().min(0) })
  .meta({ id: "TodoStats" });
export const userJson = z
  .object({ id: z.string(), email: z.string().nullable(), name: z.string().nullable() })
  .meta({ id: "User" });

/** Every REST error body: tRPC's error shape, with `code` the tRPC code and field errors in `data.zodError`. */
export const errorJson = z
  .object({
    message: z.string(),
    code: z.string().meta({ description: "tRPC error code, e.g. BAD_REQUEST, UNAUTHORIZED, NOT_FOUND, CONFLICT" }),
    data: z.object({
      code: z.string(),
      httpStatus: z.int(),
      path: z.string().optional().meta({ description: "The tRPC procedure" }),
      zodError: z
        .object({ formErrors: z.array(z.string()), fieldErrors: z.record(z.string(), z.array(z.string())) })
        .nullable()
        .meta({ description: "Field errors of an invalid input, as over tRPC (null otherwise)" }),
    }),
    issues: z
      .array(z.looseObject({ message: z.string() }))
      .optional()
      .meta({ description: "zod issues of an invalid input" }),
  })
  .meta({ id: "Error" });

const ERRORS = {
  400: "Invalid input: field errors in data.zodError.fieldErrors",
  401: "Missing, malformed, wrongly signed or expired Bearer token",
  404: "No such todo for the caller (another user's todo is not found either)",
  409: "A stale expectedVersion (reload and retry), or a request with this Idempotency-Key still running (retry after Retry-After)",
  412: "The cursor is older than CHANGE_RETENTION_MS: sync again without `after`",
  413: "Request body over BODY_LIMIT_BYTES",
  422: "This Idempotency-Key was used with another procedure or input",
  500: "Internal server error",
  503: "Database or token issuer unavailable: retry later",
} as const;

/** The Idempotency-Key header every mutation accepts (src/idempotency/trpc.ts). */
export const idempotencyHeaders = z.object({
  "idempotency-key": z
    .string()
    .regex(/^[\x21-\x7e]{1,255}$/)
    .optional()
    .meta({
      description:
        "1–255 visible ASCII characters; a repeat with the same key and input gets the stored answer (Idempotent-Replayed: true)",
    }),
});

/** The documented error responses of an operation: the given ones plus those every call can meet. */
export function errorResponses(...statuses: (keyof typeof ERRORS)[]): Record<number, string> {
  const all = [...statuses, 401, 500, 503] as const;
  return Object.fromEntries([...new Set(all)].sort().map((status) => [status, ERRORS[status]]));
}
