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

/** The same columns for raw statements (RETURNING …). */
export const todoColumns = Prisma.raw(
  Object.keys(todoSelect)
    .map((column) => `"${column}"`)
    .join(", "),
);

export type TodoDTO = Prisma.TodoGetPayload<{ select: typeof todoSelect }>;
