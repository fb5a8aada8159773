import type { Prisma } from "../generated/prisma/client.ts";
import type { Cursor } from "./cursor.ts";
import { PRIORITIES, type ListInput } from "./schemas.ts";

type Where = Prisma.TodoWhereInput;
type Priority = (typeof PRIORITIES)[number];

/** ORDER BY the chosen column, then id, both in the same direction; todos without a due date come last. */
export function listOrderBy({ orderBy, order }: Pick<ListInput, "orderBy" | "order">): Prisma.TodoOrderByWithRelationInput[] {
  const first = orderBy === "dueAt" ? { dueAt: { sort: order, nulls: "last" as const } } : { [orderBy]: order };
  return [first, { id: order }];
}

/** The filter part of the WHERE clause; the caller's id is always the first condition. */
export function listWhere(userId: string, input: ListInput, cursor: Cursor | null): Where {
  const and: Where[] = [];
  if (input.search) {
    // Prisma passes `contains` to ILIKE as is: escape its wildcards so they match literally.
    const contains = input.search.replace(/[\\%_]/g, "\\$&");
    and.push({
      OR: [
        { title: { contains, mode: "insensitive" } },
        { description: { contains, mode: "insensitive" } },
      ],
    });
  }
  if (cursor) and.push(after(cursor));
  return {
    userId,
    ...(input.status === "active" ? { completed: false } : input.status === "completed" ? { completed: true } : {}),
    ...(and.length ? { AND: and } : {}),
  };
}

/** Keyset condition: rows strictly after (value, id) in the list's order. */
function after({ orderBy, order, value, id }: Cursor): Where {
  const cmp = order === "asc" ? "gt" : "lt";
  const idAfter = { id: { [cmp]: id } };
  if (orderBy === "dueAt") {
    // NULLS LAST in both directions: after a null only nulls with a later id remain.
    if (value === null) return { dueAt: null, ...idAfter };
    return { OR: [{ dueAt: { [cmp]: value } }, { dueAt: value, ...idAfter }, { dueAt: null }] };
  }
  if (orderBy === "priority") {
    // Enum filters have no lt/gt: list the values that sort after this one (declaration order).
    const index = PRIORITIES.indexOf(value as Priority);
    const later = order === "asc" ? PRIORITIES.slice(index + 1) : PRIORITIES.slice(0, index);
    return { OR: [{ priority: { in: [...later] } }, { priority: value as Priority, ...idAfter }] };
  }
  return { OR: [{ [orderBy]: { [cmp]: value } }, { [orderBy]: value, ...idAfter }] };
}
