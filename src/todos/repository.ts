/**
 * Every statement on todos. Each one carries the caller's id in its WHERE clause and is one round trip;
 * results are the client-facing DTO or an outcome the caller maps to an error (not found, stale version).
 */
import { Prisma } from "../generated/prisma/client.ts";
import type { PrismaClient } from "../db/client.ts";
import type { Identity } from "../auth/tokens.ts";
import type { UserRegistry } from "../users/registry.ts";
import { decodeCursor, encodeCursor, type Cursor } from "./cursor.ts";
import { PRIORITIES, type CreateInput, type ListInput, type UpdateInput } from "./schemas.ts";
import { todoColumns, todoSelect, type TodoDTO } from "./select.ts";

export type { TodoDTO };
export interface TodoPage {
  items: TodoDTO[];
  nextCursor: string | null;
}
export interface TodoStats {
  total: number;
  active: number;
  completed: number;
  overdue: number;
}
export type UpdateOutcome =
  | { status: "updated"; todo: TodoDTO }
  | { status: "not-found" }
  /** expectedVersion was given and the todo is at `version`. */
  | { status: "stale"; version: number }
  | { status: "no-changes" };

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** Ids that cannot exist are not found without a database round trip. */
const canExist = (id: string) => UUID.test(id);

export async function findTodo(db: PrismaClient, userId: string, id: string): Promise<TodoDTO | null> {
  if (!canExist(id)) return null;
  return db.todo.findFirst({ where: { id, userId }, select: todoSelect });
}

/** One page in the list's order; null when `input.cursor` is not a cursor issued for this orderBy and order. */
export async function listTodos(db: PrismaClient, userId: string, input: ListInput): Promise<TodoPage | null> {
  const cursor = input.cursor ? decodeCursor(input.cursor, input.orderBy, input.order) : null;
  if (input.cursor && !cursor) return null;
  // One extra row tells whether there is a next page, in the same query.
  const rows = await db.todo.findMany({
    where: listWhere(userId, input, cursor),
    orderBy: listOrderBy(input),
    take: input.limit + 1,
    select: todoSelect,
  });
  const items = rows.slice(0, input.limit);
  const last = items.at(-1);
  const nextCursor =
    rows.length > input.limit && last
      ? encodeCursor({ orderBy: input.orderBy, order: input.order, value: last[input.orderBy], id: last.id })
      : null;
  return { items, nextCursor };
}

export async function todoStats(db: PrismaClient, userId: string): Promise<TodoStats> {
  const [row] = await db.$queryRaw<TodoStats[]>`
    SELECT count(*)::int AS "total",
           count(*) FILTER (WHERE NOT "completed")::int AS "active",
           count(*) FILTER (WHERE "completed")::int AS "completed",
           count(*) FILTER (WHERE NOT "completed" AND "dueAt" < now())::int AS "overdue"
    FROM "Todo" WHERE "userId" = ${userId}`;
  return row ?? { total: 0, active: 0, completed: 0, overdue: 0 };
}

/** Creates the owner's todo; the owner's User row is recreated once if it was deleted behind the registry's back. */
export async function createTodo(db: PrismaClient, users: UserRegistry, owner: Identity, input: CreateInput): Promise<TodoDTO> {
  const create = () => db.todo.create({ data: { ...input, userId: owner.id }, select: todoSelect });
  try {
    return await create();
  } catch (error) {
    // P2003: the foreign key to User failed (e.g. after a reset).
    if (!(error instanceof Prisma.PrismaClientKnownRequestError && error.code === "P2003")) throw error;
    users.forget(owner.id);
    await users.ensure(owner);
    return await create();
  }
}

export async function updateTodo(db: PrismaClient, userId: string, input: UpdateInput, now = new Date()): Promise<UpdateOutcome> {
  if (!canExist(input.id)) return { status: "not-found" };
  const sets = setClauses(input, now);
  if (sets.length === 0) return { status: "no-changes" };
  const versionCheck = input.expectedVersion === undefined ? Prisma.empty : Prisma.sql`AND "version" = ${input.expectedVersion}`;
  // One statement: the version check and the write are atomic, so concurrent updates have one winner.
  const rows = await db.$queryRaw<TodoDTO[]>`
    UPDATE "Todo"
    SET ${Prisma.join(sets)}
    WHERE "id" = ${input.id}::uuid AND "userId" = ${userId} ${versionCheck}
    RETURNING ${todoColumns}`;
  if (rows[0]) return { status: "updated", todo: rows[0] };

  // Not updated: tell a stale version from a missing todo (only on this failure path).
  if (input.expectedVersion !== undefined) {
    const current = await db.todo.findFirst({ where: { id: input.id, userId }, select: { version: true } });
    if (current) return { status: "stale", version: current.version };
  }
  return { status: "not-found" };
}

/** True when the todo existed and is gone. */
export async function deleteTodo(db: PrismaClient, userId: string, id: string): Promise<boolean> {
  if (!canExist(id)) return false;
  const { count } = await db.todo.deleteMany({ where: { id, userId } });
  return count > 0;
}

/** Marks every todo of the user completed or active; returns how many changed. */
export async function toggleAllTodos(db: PrismaClient, userId: string, completed: boolean): Promise<number> {
  const { count } = await db.todo.updateMany({
    where: { userId, completed: !completed },
    data: { completed, completedAt: completed ? new Date() : null, version: { increment: 1 } },
  });
  return count;
}

/** Deletes the user's completed todos; returns how many. */
export async function clearCompletedTodos(db: PrismaClient, userId: string): Promise<number> {
  const { count } = await db.todo.deleteMany({ where: { userId, completed: true } });
  return count;
}

// Timestamps come from the application clock, as Prisma's own @updatedAt and @default(now()) do.
function setClauses(input: UpdateInput, now: Date): Prisma.Sql[] {
  const sets: Prisma.Sql[] = [];
  if (input.title !== undefined) sets.push(Prisma.sql`"title" = ${input.title}`);
  if (input.description !== undefined) sets.push(Prisma.sql`"description" = ${input.description}`);
  if (input.priority !== undefined) sets.push(Prisma.sql`"priority" = ${input.priority}::"Priority"`);
  if (input.dueAt !== undefined) sets.push(Prisma.sql`"dueAt" = ${input.dueAt}`);
  if (input.completed !== undefined) {
    sets.push(Prisma.sql`"completed" = ${input.completed}`);
    // On the right of SET, "completed" is the old value: completedAt moves only when the state turns.
    sets.push(
      input.completed
        ? Prisma.sql`"completedAt" = CASE WHEN "completed" THEN "completedAt" ELSE ${now} END`
        : Prisma.sql`"completedAt" = NULL`,
    );
  }
  if (sets.length) sets.push(Prisma.sql`"version" = "version" + 1`, Prisma.sql`"updatedAt" = ${now}`);
  return sets;
}

type Where = Prisma.TodoWhereInput;
type Priority = (typeof PRIORITIES)[number];

/** ORDER BY the chosen column, then id, both in the same direction; todos without a due date come last. */
function listOrderBy({ orderBy, order }: Pick<ListInput, "orderBy" | "order">): Prisma.TodoOrderByWithRelationInput[] {
  const first = orderBy === "dueAt" ? { dueAt: { sort: order, nulls: "last" as const } } : { [orderBy]: order };
  return [first, { id: order }];
}

/** The filter part of the WHERE clause; the caller's id is always the first condition. */
function listWhere(userId: string, input: ListInput, cursor: Cursor | null): Where {
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
