import { TRPCError } from "@trpc/server";
import { Prisma } from "../../generated/prisma/client.ts";
import { decodeCursor, encodeCursor } from "../../todos/cursor.ts";
import { listOrderBy, listWhere } from "../../todos/list.ts";
import { byIdInput, createInput, listInput, toggleAllInput, updateInput, type UpdateInput } from "../../todos/schemas.ts";
import { countJson, deletedJson, errorResponses, statsJson, todoJson, todoPageJson } from "../openapi.ts";
import { todoColumns, todoSelect, type TodoDTO } from "../../todos/select.ts";
import { protectedProcedure, router } from "../init.ts";

// Every statement below carries the caller's id in its WHERE clause.
// `meta` also serves each procedure as REST under /api (src/http/rest.ts); the tRPC contract is unaffected.

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function notFound(id: string): TRPCError {
  return new TRPCError({ code: "NOT_FOUND", message: `Todo ${id} not found` });
}

/** Ids that cannot exist are NOT_FOUND without a database round trip. */
function assertUuid(id: string): void {
  if (!UUID.test(id)) throw notFound(id);
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

export const todoRouter = router({
  list: protectedProcedure
    .meta({
      openapi: { method: "GET", path: "/todos", tags: ["todos"], summary: "List todos (keyset pages)", errorResponses: errorResponses(400) },
      response: todoPageJson,
    })
    .input(listInput)
    .query(async ({ ctx, input }) => {
      const cursor = input.cursor ? decodeCursor(input.cursor, input.orderBy, input.order) : null;
      if (input.cursor && !cursor) {
        throw new TRPCError({ code: "BAD_REQUEST", message: "Invalid cursor for this orderBy and order" });
      }
      // One extra row tells whether there is a next page, in the same query.
      const rows = await ctx.db.todo.findMany({
        where: listWhere(ctx.user.id, input, cursor),
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
    }),

  // REST matches routes in this order: /todos/stats must come before /todos/{id}.
  stats: protectedProcedure
    .meta({
      openapi: { method: "GET", path: "/todos/stats", tags: ["todos"], summary: "Counts: total, active, completed, overdue", errorResponses: errorResponses() },
      response: statsJson,
    })
    .query(async ({ ctx }) => {
      const [row] = await ctx.db.$queryRaw<{ total: number; active: number; completed: number; overdue: number }[]>`
        SELECT count(*)::int AS "total",
               count(*) FILTER (WHERE NOT "completed")::int AS "active",
               count(*) FILTER (WHERE "completed")::int AS "completed",
               count(*) FILTER (WHERE NOT "completed" AND "dueAt" < now())::int AS "overdue"
        FROM "Todo" WHERE "userId" = ${ctx.user.id}`;
      return row ?? { total: 0, active: 0, completed: 0, overdue: 0 };
    }),

  byId: protectedProcedure
    .meta({
      openapi: { method: "GET", path: "/todos/{id}", tags: ["todos"], summary: "One todo", errorResponses: errorResponses(400, 404) },
      response: todoJson,
    })
    .input(byIdInput)
    .query(async ({ ctx, input }) => {
      assertUuid(input.id);
      const todo = await ctx.db.todo.findFirst({ where: { id: input.id, userId: ctx.user.id }, select: todoSelect });
      if (!todo) throw notFound(input.id);
      return todo;
    }),

  create: protectedProcedure
    .meta({
      openapi: { method: "POST", path: "/todos", tags: ["todos"], summary: "Create a todo", errorResponses: errorResponses(400, 413) },
      response: todoJson,
    })
    .input(createInput)
    .mutation(async ({ ctx, input }) => {
      const create = () => ctx.db.todo.create({ data: { ...input, userId: ctx.user.id }, select: todoSelect });
      try {
        return await create();
      } catch (error) {
        // The remembered User row was deleted behind our back (e.g. a reset): recreate it once.
        if (!(error instanceof Prisma.PrismaClientKnownRequestError && error.code === "P2003")) throw error;
        ctx.users.forget(ctx.user.id);
        await ctx.users.ensure(ctx.user);
        return await create();
      }
    }),

  update: protectedProcedure
    .meta({
      openapi: {
        method: "PATCH",
        path: "/todos/{id}",
        tags: ["todos"],
        summary: "Change fields; with expectedVersion, only if the todo is still at that version",
        errorResponses: errorResponses(400, 404, 409, 413),
      },
      response: todoJson,
    })
    .input(updateInput)
    .mutation(async ({ ctx, input }) => {
      assertUuid(input.id);
      const sets = setClauses(input, new Date());
      if (sets.length === 0) {
        throw new TRPCError({ code: "BAD_REQUEST", message: "Nothing to update: give at least one field to change" });
      }
      const versionCheck =
        input.expectedVersion === undefined ? Prisma.empty : Prisma.sql`AND "version" = ${input.expectedVersion}`;
      // One statement: the version check and the write are atomic, so concurrent updates have one winner.
      const rows = await ctx.db.$queryRaw<TodoDTO[]>`
        UPDATE "Todo"
        SET ${Prisma.join(sets)}
        WHERE "id" = ${input.id}::uuid AND "userId" = ${ctx.user.id} ${versionCheck}
        RETURNING ${todoColumns}`;
      if (rows[0]) return rows[0];

      // Not updated: tell a stale version from a missing todo (only on this failure path).
      if (input.expectedVersion !== undefined) {
        const current = await ctx.db.todo.findFirst({
          where: { id: input.id, userId: ctx.user.id },
          select: { version: true },
        });
        if (current) {
          throw new TRPCError({
            code: "CONFLICT",
            message: `Todo ${input.id} is at version ${current.version}, not ${input.expectedVersion}: reload and retry`,
          });
        }
      }
      throw notFound(input.id);
    }),

  delete: protectedProcedure
    .meta({
      openapi: { method: "DELETE", path: "/todos/{id}", tags: ["todos"], summary: "Delete a todo", errorResponses: errorResponses(400, 404) },
      response: deletedJson,
    })
    .input(byIdInput)
    .mutation(async ({ ctx, input }) => {
      assertUuid(input.id);
      const { count } = await ctx.db.todo.deleteMany({ where: { id: input.id, userId: ctx.user.id } });
      if (count === 0) throw notFound(input.id);
      return { id: input.id };
    }),

  toggleAll: protectedProcedure
    .meta({
      openapi: { method: "POST", path: "/todos/toggle-all", tags: ["todos"], summary: "Mark every todo completed or active", errorResponses: errorResponses(400, 413) },
      response: countJson,
    })
    .input(toggleAllInput)
    .mutation(async ({ ctx, input }) => {
      const { count } = await ctx.db.todo.updateMany({
        where: { userId: ctx.user.id, completed: !input.completed },
        data: {
          completed: input.completed,
          completedAt: input.completed ? new Date() : null,
          version: { increment: 1 },
        },
      });
      return { count };
    }),

  clearCompleted: protectedProcedure
    .meta({
      openapi: { method: "POST", path: "/todos/clear-completed", tags: ["todos"], summary: "Delete every completed todo", errorResponses: errorResponses() },
      response: countJson,
    })
    .mutation(async ({ ctx }) => {
      const { count } = await ctx.db.todo.deleteMany({ where: { userId: ctx.user.id, completed: true } });
      return { count };
    }),
});
