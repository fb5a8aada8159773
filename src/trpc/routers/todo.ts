import { AppError } from "../../errors.ts";
import {
  byIdInput,
  createInput,
  listInput,
  onChangeInput,
  syncInput,
  toggleAllInput,
  updateInput,
} from "../../todos/schemas.ts";
import { syncTodos } from "../../live/sync.ts";
import {
  clearCompletedTodos,
  createTodo,
  createTodoOnce,
  deleteTodo,
  findTodo,
  listTodos,
  restoreTodo,
  todoStats,
  toggleAllTodos,
  updateTodo,
  type TodoDTO,
} from "../../todos/repository.ts";
import { idempotent, idempotentStatement, settled, storedResponse } from "../../idempotency/trpc.ts";
import { router } from "../init.ts";
import { protectedProcedure } from "../procedures.ts";
import {
  countJson,
  deletedJson,
  errorResponses,
  idempotencyHeaders,
  statsJson,
  syncJson,
  todoJson,
  todoPageJson,
} from "../openapi.ts";

// Input, REST meta and the mapping of outcomes to errors (src/errors.ts); the statements live in src/todos/repository.ts.
// `meta` also serves each procedure as REST under /api (src/http/rest.ts); the tRPC contract is unaffected.

const notFound = (id: string) => new AppError("notFound", `Todo ${id} not found`);

export const todoRouter = router({
  list: protectedProcedure
    .meta({
      openapi: {
        method: "GET",
        path: "/todos",
        tags: ["todos"],
        summary: "List todos (keyset pages)",
        errorResponses: errorResponses(400),
      },
      response: todoPageJson,
    })
    .input(listInput)
    .query(async ({ ctx, input }) => {
      const page = await listTodos(ctx.db, ctx.user.id, input);
      if (!page) throw new AppError("badRequest", "Invalid cursor for this orderBy and order");
      return page;
    }),

  // REST matches routes in this order: /todos/stats must come before /todos/{id}.
  stats: protectedProcedure
    .meta({
      openapi: {
        method: "GET",
        path: "/todos/stats",
        tags: ["todos"],
        summary: "Counts: total, active, completed, overdue",
        errorResponses: errorResponses(),
      },
      response: statsJson,
    })
    .query(({ ctx }) => todoStats(ctx.db, ctx.user.id)),

  /**
   * The caller's replica, caught up: without `after` every live todo, with it what changed and what was deleted
   * since (src/live/sync.ts). The cursor is also an onChange event id: a stream from it misses nothing.
   */
  sync: protectedProcedure
    .meta({
      openapi: {
        method: "GET",
        path: "/todos/sync",
        tags: ["todos"],
        summary: "Changes since a cursor (or every todo), in pages: upsert `todos`, remove `deleted`, keep `cursor`",
        errorResponses: errorResponses(400, 412),
      },
      response: syncJson,
    })
    .input(syncInput)
    .query(async ({ ctx, input }) => {
      const outcome = await syncTodos(ctx.db, ctx.user.id, input, ctx.changeRetentionMs);
      if (outcome.status === "malformed") throw new AppError("badRequest", "Invalid cursor: pass one sync returned");
      if (outcome.status === "expired") throw new AppError("cursorExpired");
      return outcome.result;
    }),

  byId: protectedProcedure
    .meta({
      openapi: {
        method: "GET",
        path: "/todos/{id}",
        tags: ["todos"],
        summary: "One todo",
        errorResponses: errorResponses(400, 404),
      },
      response: todoJson,
    })
    .input(byIdInput)
    .query(async ({ ctx, input }) => {
      const todo = await findTodo(ctx.db, ctx.user.id, input.id);
      if (!todo) throw notFound(input.id);
      return todo;
    }),

  create: protectedProcedure
    .meta({
      openapi: {
        method: "POST",
        path: "/todos",
        tags: ["todos"],
        summary: "Create a todo",
        requestHeaders: idempotencyHeaders,
        errorResponses: errorResponses(400, 409, 413, 422),
      },
      response: todoJson,
    })
    .input(createInput)
    .mutation(
      idempotentStatement(async ({ ctx, input }, request) => {
        if (!request) return createTodo(ctx.db, ctx.users, ctx.user, input);
        // One statement claims the key, writes the todo and stores it.
        const outcome = await createTodoOnce(ctx.db, ctx.users, ctx.user, input, request, storedResponse);
        return outcome.status === "created" ? outcome.todo : (settled(ctx, outcome) as TodoDTO);
      }),
    ),

  update: protectedProcedure
    .meta({
      openapi: {
        method: "PATCH",
        path: "/todos/{id}",
        tags: ["todos"],
        summary: "Change fields; with expectedVersion, only if the todo is still at that version",
        requestHeaders: idempotencyHeaders,
        errorResponses: errorResponses(400, 404, 409, 413, 422),
      },
      response: todoJson,
    })
    .input(updateInput)
    .mutation(
      idempotent(async ({ ctx, input }) => {
        const outcome = await updateTodo(ctx.db, ctx.user.id, input);
        switch (outcome.status) {
          case "updated":
            return outcome.todo;
          case "not-found":
            throw notFound(input.id);
          case "no-changes":
            throw new AppError("badRequest", "Nothing to update: give at least one field to change");
          case "stale":
            throw new AppError(
              "staleVersion",
              `Todo ${input.id} is at version ${outcome.version}, not ${input.expectedVersion}: reload and retry`,
            );
        }
      }),
    ),

  delete: protectedProcedure
    .meta({
      openapi: {
        method: "DELETE",
        path: "/todos/{id}",
        tags: ["todos"],
        summary: "Delete a todo (restorable within CHANGE_RETENTION_MS)",
        requestHeaders: idempotencyHeaders,
        errorResponses: errorResponses(400, 404, 409, 422),
      },
      response: deletedJson,
    })
    .input(byIdInput)
    .mutation(
      idempotent(async ({ ctx, input }) => {
        if (!(await deleteTodo(ctx.db, ctx.user.id, input.id))) throw notFound(input.id);
        return { id: input.id };
      }),
    ),

  restore: protectedProcedure
    .meta({
      openapi: {
        method: "POST",
        path: "/todos/{id}/restore",
        tags: ["todos"],
        summary: "Bring back a deleted todo (within CHANGE_RETENTION_MS), as a new version",
        requestHeaders: idempotencyHeaders,
        errorResponses: errorResponses(400, 404, 409, 422),
      },
      response: todoJson,
    })
    .input(byIdInput)
    .mutation(
      idempotent(async ({ ctx, input }) => {
        const outcome = await restoreTodo(ctx.db, ctx.user.id, input.id, ctx.changeRetentionMs);
        if (outcome.status === "not-found") throw notFound(input.id);
        return outcome.todo;
      }),
    ),

  toggleAll: protectedProcedure
    .meta({
      openapi: {
        method: "POST",
        path: "/todos/toggle-all",
        tags: ["todos"],
        summary: "Mark every todo completed or active",
        requestHeaders: idempotencyHeaders,
        errorResponses: errorResponses(400, 409, 413, 422),
      },
      response: countJson,
    })
    .input(toggleAllInput)
    .mutation(
      idempotent(async ({ ctx, input }) => ({ count: await toggleAllTodos(ctx.db, ctx.user.id, input.completed) })),
    ),

  clearCompleted: protectedProcedure
    .meta({
      openapi: {
        method: "POST",
        path: "/todos/clear-completed",
        tags: ["todos"],
        summary: "Delete every completed todo",
        requestHeaders: idempotencyHeaders,
        errorResponses: errorResponses(409, 422),
      },
      response: countJson,
    })
    .mutation(idempotent(async ({ ctx }) => ({ count: await clearCompletedTodos(ctx.db, ctx.user.id) }))),

  /**
   * The caller's changes as they commit, on any instance (src/live/): created, updated, deleted. Every event is
   * tracked: reconnecting with the last id (or a sync cursor), to any instance, first sends what was missed, each
   * todo once in its latest state; an unknown id or one older than CHANGE_RETENTION_MS gets `changed` (sync again).
   */
  onChange: protectedProcedure.input(onChangeInput).subscription(({ ctx, input, signal }) => {
    if (!ctx.changes) throw new AppError("liveUpdatesOff");
    // Accepted within the clock tolerance, but a stream opened now would end at once: the client needs a new token.
    if (ctx.user.expiresAt <= Date.now())
      throw new AppError("authInvalid", "Token expired: reconnect with a fresh one");
    // The stream ends when the token expires; the client reconnects with a fresh token and its last event id.
    return ctx.changes.subscribe({
      userId: ctx.user.id,
      ip: ctx.ip,
      expiresAt: ctx.user.expiresAt,
      lastEventId: input?.lastEventId,
      signal,
    });
  }),
});
