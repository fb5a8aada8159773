import { Prisma } from "../generated/prisma/client.ts";

/** The columns a client gets: named once, so a new column never leaks by accident. */
export const todoSelect = {
  id: true,
  userId: true,
  title: true,
  description: true,
  completed: true,
  priority: true,
  dueAt: true,
  completedAt: true,
  version: true,
  createdAt: true,
  updatedAt: true,
} satisfies Prisma.TodoSelect;

const INSTANTS = new Set(["dueAt", "completedAt", "createdAt", "updatedAt"]);

/**
 * The same columns for raw statements (SELECT …, RETURNING …). Instants are read as UTC wall time: the adapters
 * take a timestamptz's text as if its offset were +00, which holds only in a UTC session (src/db/utc-dates.ts).
 */
export const todoColumns = Prisma.raw(
  Object.keys(todoSelect)
    .map((column) => (INSTANTS.has(column) ? `("${column}" AT TIME ZONE 'UTC') AS "${column}"` : `"${column}"`))
    .join(", "),
);

export type TodoDTO = Prisma.TodoGetPayload<{ select: typeof todoSelect }>;
