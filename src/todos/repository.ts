/**
 * Every statement on todos. Each one carries the caller's id in its WHERE clause and is one round trip;
 * results are the client-facing DTO or an outcome the caller maps to an error (not found, stale version).
 * A deleted todo stays as a tombstone ("deletedAt", for sync and restore) that every read and write here skips.
 */
import { randomUUID } from "node:crypto";
import { Prisma } from "../generated/prisma/client.ts";
import { driverErrorCause } from "../db/driver-errors.ts";
import type { Identity } from "../auth/tokens.ts";
import type { UserRegistry } from "../users/registry.ts";
import { decodeCursor, encodeCursor, type Cursor } from "./cursor.ts";
import type { CreateInput, ListInput, SortField, UpdateInput } from "./schemas.ts";
import { todoColumns, type TodoDTO } from "./select.ts";
import {
  deleteExpiredKey,
  expiresAtSql,
  isUniqueViolation,
  judge,
  lockSql,
  storedColumns,
  storedOf,
  type Claim,
  type KeyedRequest,
} from "../idempotency/store.ts";

export type { TodoDTO };
/** A client or a transaction's client (a keyed mutation runs in one: src/idempotency/trpc.ts). */
export type Db = Prisma.TransactionClient;
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

export async function findTodo(db: Db, userId: string, id: string): Promise<TodoDTO | null> {
  if (!canExist(id)) return null;
  const rows = await db.$queryRaw<TodoDTO[]>`
    SELECT ${todoColumns} FROM "Todo" WHERE "id" = ${id}::uuid AND "userId" = ${userId} AND "deletedAt" IS NULL`;
  return rows[0] ?? null;
}

/** One page in the list's order; null when `input.cursor` is not a cursor issued for this orderBy and order. */
export async function listTodos(db: Db, userId: string, input: ListInput): Promise<TodoPage | null> {
  const cursor = input.cursor ? decodeCursor(input.cursor, input.orderBy, input.order) : null;
  if (input.cursor && !cursor) return null;
  // One extra row tells whether there is a next page, in the same query.
  const rows = await db.$queryRaw<TodoDTO[]>`
    SELECT ${todoColumns} FROM "Todo"
    WHERE ${listWhere(userId, input, cursor)}
    ORDER BY ${listOrderBy(input)}
    LIMIT ${input.limit + 1}`;
  const items = rows.slice(0, input.limit);
  const last = items.at(-1);
  const nextCursor =
    rows.length > input.limit && last
      ? encodeCursor({ orderBy: input.orderBy, order: input.order, value: last[input.orderBy], id: last.id })
      : null;
  return { items, nextCursor };
}

export async function todoStats(db: Db, userId: string): Promise<TodoStats> {
  const [row] = await db.$queryRaw<TodoStats[]>`
    SELECT count(*)::int AS "total",
           count(*) FILTER (WHERE NOT "completed")::int AS "active",
           count(*) FILTER (WHERE "completed")::int AS "completed",
           count(*) FILTER (WHERE NOT "completed" AND "dueAt" < now())::int AS "overdue"
    FROM "Todo" WHERE "userId" = ${userId} AND "deletedAt" IS NULL`;
  return row ?? { total: 0, active: 0, completed: 0, overdue: 0 };
}

const NEW_TODO_COLUMNS = Prisma.raw(
  `"id", "userId", "title", "description", "priority", "dueAt", "createdAt", "updatedAt"`,
);

/**
 * The todo a create writes, every value chosen here as Prisma's create would (a v4 id, both timestamps from the
 * application clock, the schema's defaults for the rest), so a keyed create knows its answer before the statement.
 * Keys in todoSelect's order, the order the statement returns them in: the same bytes once serialised.
 */
function newTodo(owner: Identity, input: CreateInput): TodoDTO {
  const now = new Date();
  return {
    id: randomUUID(),
    userId: owner.id,
    title: input.title,
    description: input.description ?? null,
    completed: false,
    priority: input.priority ?? "MEDIUM",
    dueAt: input.dueAt ?? null,
    completedAt: null,
    version: 1,
    createdAt: now,
    // Its own Date: one shared object would make superjson add referentialEqualities, which rows never have.
    updatedAt: new Date(now),
  };
}

// Typed, so they also fit an INSERT … SELECT.
function newTodoValues(todo: TodoDTO): Prisma.Sql {
  return Prisma.sql`${todo.id}::uuid, ${todo.userId}::text, ${todo.title}::text, ${todo.description}::text,
    ${todo.priority}::"Priority", ${todo.dueAt}::timestamptz, ${todo.createdAt}::timestamptz, ${todo.updatedAt}::timestamptz`;
}

/** Creates the owner's todo; the owner's User row is recreated once if it was deleted behind the registry's back. */
export async function createTodo(db: Db, users: UserRegistry, owner: Identity, input: CreateInput): Promise<TodoDTO> {
  const create = async () => {
    const rows = await db.$queryRaw<TodoDTO[]>`
      INSERT INTO "Todo" (${NEW_TODO_COLUMNS}) VALUES (${newTodoValues(newTodo(owner, input))})
      RETURNING ${todoColumns}`;
    return rows[0]!;
  };
  try {
    return await create();
  } catch (error) {
    // The foreign key to User failed (e.g. after a reset).
    if (!isForeignKeyViolation(error)) throw error;
    users.forget(owner.id);
    await users.ensure(owner);
    return await create();
  }
}

export type CreateOnceOutcome = { status: "created"; todo: TodoDTO } | Exclude<Claim, { status: "free" }>;

type CreateOnceRow = TodoDTO & {
  locked: boolean;
  procedure: string | null;
  requestHash: string | null;
  response: string | null;
  expired: boolean | null;
};

/**
 * A create with an Idempotency-Key, in one statement: the key's lock, its row, the todo and the key row with the
 * todo as its result (`store(todo)`, the answer's serialisation) — the todo only when the lock was taken and the
 * key is new. A key row committed after the statement's snapshot makes the key INSERT fail, which undoes the
 * todo; the next attempt then reads that row.
 */
export async function createTodoOnce(
  db: Db,
  users: UserRegistry,
  owner: Identity,
  input: CreateInput,
  request: KeyedRequest,
  store: (todo: TodoDTO) => string,
): Promise<CreateOnceOutcome> {
  const { userId, key } = request;
  const attempt = async (): Promise<CreateOnceOutcome | { status: "expired" }> => {
    const todo = newTodo(owner, input);
    const [row] = await db.$queryRaw<CreateOnceRow[]>`
      WITH "lock" AS (${lockSql(userId, key)}),
      "found" AS (SELECT ${storedColumns("k")} FROM "IdempotencyKey" AS "k" WHERE "k"."userId" = ${userId} AND "k"."key" = ${key}),
      "todo" AS (
        INSERT INTO "Todo" (${NEW_TODO_COLUMNS})
        SELECT ${newTodoValues(todo)} WHERE (SELECT "locked" FROM "lock") AND NOT EXISTS (SELECT 1 FROM "found")
        RETURNING ${todoColumns}),
      "saved" AS (
        INSERT INTO "IdempotencyKey" ("userId", "key", "procedure", "requestHash", "response", "createdAt", "expiresAt")
        SELECT ${userId}, ${key}, ${request.procedure}, ${request.requestHash}, ${store(todo)}::json, now(), ${expiresAtSql(request.ttlMs)}
        FROM "todo")
      SELECT "lock"."locked", "found".*, "todo".* FROM "lock" LEFT JOIN "found" ON true LEFT JOIN "todo" ON true`;
    const { locked, procedure, requestHash, response, expired, ...created } = row!;
    if (created.id) return { status: "created", todo: created };
    const claim = judge(request, locked, storedOf({ locked, procedure, requestHash, response, expired }));
    // An expired row blocks the key INSERT: removed, then tried again.
    return claim.status === "free" ? { status: "expired" } : claim;
  };
  const TRIES = 3;
  for (let tries = 1; tries <= TRIES; tries++) {
    try {
      const outcome = await attempt();
      if (outcome.status !== "expired") return outcome;
      await deleteExpiredKey(db, userId, key);
    } catch (error) {
      const userMissing = isForeignKeyViolation(error);
      if (tries === TRIES || !(userMissing || isUniqueViolation(error))) throw error;
      if (userMissing) {
        users.forget(owner.id);
        await users.ensure(owner);
      }
    }
  }
  throw new Error(`Idempotency-Key: no outcome for a create after ${TRIES} attempts`);
}

export async function updateTodo(db: Db, userId: string, input: UpdateInput, now = new Date()): Promise<UpdateOutcome> {
  if (!canExist(input.id)) return { status: "not-found" };
  const sets = setClauses(input, now);
  if (sets.length === 0) return { status: "no-changes" };
  const versionCheck =
    input.expectedVersion === undefined ? Prisma.empty : Prisma.sql`AND "version" = ${input.expectedVersion}`;
  // One statement: the version check and the write are atomic, so concurrent updates have one winner.
  const rows = await db.$queryRaw<TodoDTO[]>`
    UPDATE "Todo"
    SET ${Prisma.join(sets)}
    WHERE "id" = ${input.id}::uuid AND "userId" = ${userId} AND "deletedAt" IS NULL ${versionCheck}
    RETURNING ${todoColumns}`;
  if (rows[0]) return { status: "updated", todo: rows[0] };

  // Not updated: tell a stale version from a missing todo (only on this failure path).
  if (input.expectedVersion !== undefined) {
    const [current] = await db.$queryRaw<{ version: number }[]>`
      SELECT "version" FROM "Todo" WHERE "id" = ${input.id}::uuid AND "userId" = ${userId} AND "deletedAt" IS NULL`;
    if (current) return { status: "stale", version: current.version };
  }
  return { status: "not-found" };
}

/** True when the todo existed and is now a tombstone (a new version, so a restore's is newer still). */
export async function deleteTodo(db: Db, userId: string, id: string): Promise<boolean> {
  if (!canExist(id)) return false;
  const count = await db.$executeRaw`
    UPDATE "Todo" SET "deletedAt" = ${new Date()}, "version" = "version" + 1
    WHERE "id" = ${id}::uuid AND "userId" = ${userId} AND "deletedAt" IS NULL`;
  return count > 0;
}

export type RestoreOutcome = { status: "restored" | "live"; todo: TodoDTO } | { status: "not-found" };

/**
 * Brings a tombstone back as a new version, if it was deleted less than `retentionMs` ago (an older one is as
 * good as purged). A todo that is not deleted is answered as it is: a repeated restore changes nothing.
 */
export async function restoreTodo(db: Db, userId: string, id: string, retentionMs: number): Promise<RestoreOutcome> {
  if (!canExist(id)) return { status: "not-found" };
  const now = new Date();
  const rows = await db.$queryRaw<TodoDTO[]>`
    UPDATE "Todo" SET "deletedAt" = NULL, "version" = "version" + 1, "updatedAt" = ${now}
    WHERE "id" = ${id}::uuid AND "userId" = ${userId} AND "deletedAt" > ${new Date(now.getTime() - retentionMs)}
    RETURNING ${todoColumns}`;
  if (rows[0]) return { status: "restored", todo: rows[0] };
  const live = await findTodo(db, userId, id);
  return live ? { status: "live", todo: live } : { status: "not-found" };
}

/** Marks every todo of the user completed or active; returns how many changed. */
export async function toggleAllTodos(db: Db, userId: string, completed: boolean): Promise<number> {
  const { count } = await db.todo.updateMany({
    where: { userId, completed: !completed, deletedAt: null },
    data: { completed, completedAt: completed ? new Date() : null, version: { increment: 1 } },
  });
  return count;
}

/** Deletes (as tombstones) the user's completed todos; returns how many. */
export async function clearCompletedTodos(db: Db, userId: string): Promise<number> {
  const { count } = await db.todo.updateMany({
    where: { userId, completed: true, deletedAt: null },
    data: { deletedAt: new Date(), version: { increment: 1 } },
  });
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

// Column names come from this fixed map (the input's orderBy is an enum), never from a client's string.
const SORT_COLUMN = {
  createdAt: Prisma.raw(`"createdAt"`),
  updatedAt: Prisma.raw(`"updatedAt"`),
  dueAt: Prisma.raw(`"dueAt"`),
  priority: Prisma.raw(`"priority"`),
  title: Prisma.raw(`"title"`),
} satisfies Record<SortField, Prisma.Sql>;

/** ORDER BY the chosen column, then id, both in the same direction; todos without a due date come last. */
function listOrderBy({ orderBy, order }: Pick<ListInput, "orderBy" | "order">): Prisma.Sql {
  const direction = Prisma.raw(order === "asc" ? "ASC" : "DESC");
  const nulls = orderBy === "dueAt" ? Prisma.raw(" NULLS LAST") : Prisma.empty;
  return Prisma.sql`${SORT_COLUMN[orderBy]} ${direction}${nulls}, "id" ${direction}`;
}

/** The WHERE clause; the caller's id is always the first condition. */
function listWhere(userId: string, input: ListInput, cursor: Cursor | null): Prisma.Sql {
  const and = [Prisma.sql`"userId" = ${userId}`, Prisma.sql`"deletedAt" IS NULL`];
  if (input.status !== "all") and.push(Prisma.sql`"completed" = ${input.status === "completed"}`);
  if (input.search) {
    // ILIKE's wildcards in the search are escaped so they match literally (backslash is ILIKE's escape).
    const pattern = `%${input.search.replace(/[\\%_]/g, "\\$&")}%`;
    and.push(Prisma.sql`("title" ILIKE ${pattern} OR "description" ILIKE ${pattern})`);
  }
  if (cursor) and.push(after(cursor));
  return Prisma.join(and, " AND ");
}

/** Keyset condition: rows strictly after (value, id) in the list's order. */
function after({ orderBy, order, value, id }: Cursor): Prisma.Sql {
  const cmp = Prisma.raw(order === "asc" ? ">" : "<");
  const idAfter = Prisma.sql`"id" ${cmp} ${id}::uuid`;
  const column = SORT_COLUMN[orderBy];
  if (orderBy === "dueAt") {
    // NULLS LAST in both directions: after a null only nulls with a later id remain.
    if (value === null) return Prisma.sql`("dueAt" IS NULL AND ${idAfter})`;
    return Prisma.sql`("dueAt" ${cmp} ${value} OR ("dueAt" = ${value} AND ${idAfter}) OR "dueAt" IS NULL)`;
  }
  // Enum values compare in declaration order (LOW < MEDIUM < HIGH), as they sort.
  const typed = orderBy === "priority" ? Prisma.sql`${value}::"Priority"` : Prisma.sql`${value}`;
  return Prisma.sql`(${column} ${cmp} ${typed} OR (${column} = ${typed} AND ${idAfter}))`;
}

/** P2003 from Prisma's own queries; raw queries report the driver's view under P2010. */
function isForeignKeyViolation(error: unknown): boolean {
  if (error instanceof Prisma.PrismaClientKnownRequestError && error.code === "P2003") return true;
  const cause = driverErrorCause(error);
  return cause?.kind === "ForeignKeyConstraintViolation" || cause?.originalCode === "23503";
}
