import { TRPCClientError } from "@trpc/client";
import type { inferProcedureInput } from "@trpc/server";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { AppRouter } from "../../src/trpc/routers/_app.ts";
import { codeOf, errorOf } from "../support/errors.ts";
import { startTestServer, type Client, type TestServer } from "../support/server.ts";

let api: TestServer;
let alice: Client;

beforeAll(async () => {
  api = await startTestServer();
  alice = await api.client("alice");
});
afterAll(async () => {
  await api?.close();
});

describe("me", () => {
  test("returns the caller, created on first sight from the token's claims", async () => {
    const carol = api.clientWithHeader(
      `Bearer ${await api.token("carol", { email: "carol@example.com", name: "Carol" })}`,
    );
    expect(await carol.me.query()).toEqual({ id: "carol", email: "carol@example.com", name: "Carol" });
    const row = await api.database.prisma.user.findUnique({ where: { id: "carol" } });
    expect(row?.email).toBe("carol@example.com");
  });
});

describe("create", () => {
  test("trims the title and applies defaults", async () => {
    const todo = await alice.todo.create.mutate({ title: "  Buy milk \n" });
    expect(todo).toMatchObject({
      title: "Buy milk",
      description: null,
      completed: false,
      priority: "MEDIUM",
      dueAt: null,
      completedAt: null,
      version: 1,
      userId: "alice",
    });
    expect(todo.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(todo.createdAt).toBeInstanceOf(Date);
    expect(todo.updatedAt).toBeInstanceOf(Date);
  });

  test("stores every field", async () => {
    const dueAt = new Date("2030-05-01T12:00:00.000Z");
    const input: inferProcedureInput<AppRouter["todo"]["create"]> = {
      title: "Tax return",
      description: "Before the deadline",
      priority: "HIGH",
      dueAt,
    };
    const todo = await alice.todo.create.mutate(input);
    expect(todo).toMatchObject({ ...input, dueAt });
    expect(await alice.todo.byId.query({ id: todo.id })).toEqual(todo);
  });

  test("accepts exactly 200 characters, counting characters rather than UTF-16 units", async () => {
    expect((await alice.todo.create.mutate({ title: "x".repeat(200) })).title).toHaveLength(200);
    const emoji = "😀".repeat(200);
    expect((await alice.todo.create.mutate({ title: emoji })).title).toBe(emoji);
  });

  test.each([
    ["blank title", { title: "   " }],
    ["empty title", { title: "" }],
    ["201-character title", { title: "x".repeat(201) }],
    ["2001-character description", { title: "ok", description: "d".repeat(2001) }],
    ["title with a NUL byte", { title: "a\u0000b" }],
    ["unknown priority", { title: "ok", priority: "URGENT" }],
    ["number as title", { title: 42 }],
    ["missing title", {}],
    ["invalid date", { title: "ok", dueAt: "not a date" }],
    ["date out of range", { title: "ok", dueAt: new Date("+100000-01-01T00:00:00Z") }],
  ])("rejects %s with BAD_REQUEST and writes nothing", async (_name, input) => {
    const before = await api.database.prisma.todo.count();
    const error = await errorOf(alice.todo.create.mutate(input as never));
    expect(error.data?.code).toBe("BAD_REQUEST");
    expect(error.data?.httpStatus).toBe(400);
    expect(error.data?.zodError?.fieldErrors).toBeTypeOf("object");
    expect(await api.database.prisma.todo.count()).toBe(before);
  });

  test("field errors name the field", async () => {
    const error = await errorOf(alice.todo.create.mutate({ title: "x".repeat(201) }));
    expect(error.data?.zodError?.fieldErrors.title?.[0]).toMatch(/at most 200/);
  });
});

describe("byId and delete", () => {
  test("unknown ids are NOT_FOUND, whatever their shape", async () => {
    expect(await codeOf(alice.todo.byId.query({ id: "00000000-0000-4000-8000-000000000000" }))).toBe("NOT_FOUND");
    expect(await codeOf(alice.todo.byId.query({ id: "does-not-exist" }))).toBe("NOT_FOUND");
    expect(await codeOf(alice.todo.delete.mutate({ id: "00000000-0000-4000-8000-000000000000" }))).toBe("NOT_FOUND");
  });

  test("wrong types are BAD_REQUEST", async () => {
    expect(await codeOf(alice.todo.byId.query({ id: 42 } as never))).toBe("BAD_REQUEST");
    expect(await codeOf(alice.todo.byId.query(undefined as never))).toBe("BAD_REQUEST");
  });

  test("delete removes the todo and returns its id", async () => {
    const todo = await alice.todo.create.mutate({ title: "Temporary" });
    expect(await alice.todo.delete.mutate({ id: todo.id })).toEqual({ id: todo.id });
    expect(await codeOf(alice.todo.byId.query({ id: todo.id }))).toBe("NOT_FOUND");
    expect(await codeOf(alice.todo.delete.mutate({ id: todo.id }))).toBe("NOT_FOUND");
  });
});

describe("update", () => {
  test("changes fields, increments version and bumps updatedAt", async () => {
    const todo = await alice.todo.create.mutate({
      title: "Draft",
      description: "old",
      dueAt: new Date("2031-01-01T00:00:00Z"),
    });
    const updated = await alice.todo.update.mutate({
      id: todo.id,
      title: " Final ",
      priority: "LOW",
      expectedVersion: 1,
    });
    expect(updated).toMatchObject({ title: "Final", priority: "LOW", description: "old", version: 2 });
    expect(updated.updatedAt.getTime()).toBeGreaterThanOrEqual(todo.updatedAt.getTime());
    expect(updated.createdAt).toEqual(todo.createdAt);

    const cleared = await alice.todo.update.mutate({ id: todo.id, description: null, dueAt: null });
    expect(cleared).toMatchObject({ description: null, dueAt: null, version: 3 });
    expect(await alice.todo.byId.query({ id: todo.id })).toEqual(cleared);
  });

  test("completedAt is set when completed turns true, kept while it stays true, cleared when false", async () => {
    const todo = await alice.todo.create.mutate({ title: "Finish me" });
    const done = await alice.todo.update.mutate({ id: todo.id, completed: true });
    expect(done.completed).toBe(true);
    expect(done.completedAt).toBeInstanceOf(Date);

    const again = await alice.todo.update.mutate({ id: todo.id, completed: true, title: "Finished" });
    expect(again.completedAt).toEqual(done.completedAt);
    expect(again.version).toBe(3);

    const undone = await alice.todo.update.mutate({ id: todo.id, completed: false });
    expect(undone).toMatchObject({ completed: false, completedAt: null, version: 4 });
  });

  test("a stale expectedVersion is CONFLICT and leaves the row unchanged", async () => {
    const todo = await alice.todo.create.mutate({ title: "Shared" });
    await alice.todo.update.mutate({ id: todo.id, title: "First writer", expectedVersion: 1 });
    const error = await errorOf(alice.todo.update.mutate({ id: todo.id, title: "Second writer", expectedVersion: 1 }));
    expect(error.data?.code).toBe("CONFLICT");
    expect(error.data?.httpStatus).toBe(409);
    expect(await alice.todo.byId.query({ id: todo.id })).toMatchObject({ title: "First writer", version: 2 });
  });

  test("20 concurrent updates with the same expectedVersion have exactly one winner", async () => {
    const todo = await alice.todo.create.mutate({ title: "Race" });
    const results = await Promise.allSettled(
      Array.from({ length: 20 }, (_, i) =>
        alice.todo.update.mutate({ id: todo.id, title: `Writer ${i}`, expectedVersion: 1 }),
      ),
    );
    const winners = results.filter((r) => r.status === "fulfilled");
    const losers = results.filter((r): r is PromiseRejectedResult => r.status === "rejected");
    expect(winners).toHaveLength(1);
    expect(losers.map((r) => (r.reason as TRPCClientError<AppRouter>).data?.code)).toEqual(Array(19).fill("CONFLICT"));
    const final = await alice.todo.byId.query({ id: todo.id });
    expect(final.version).toBe(2);
    expect(final.title).toBe((winners[0] as PromiseFulfilledResult<{ title: string }>).value.title);
  });

  test.each([
    ["no field to change", {}],
    ["blank title", { title: "  " }],
    ["201-character title", { title: "x".repeat(201) }],
    ["non-integer version", { expectedVersion: 1.5, title: "x" }],
    ["null title", { title: null }],
    ["string completed", { completed: "yes" }],
  ])("rejects %s with BAD_REQUEST and writes nothing", async (_name, patch) => {
    const todo = await alice.todo.create.mutate({ title: "Stable" });
    expect(await codeOf(alice.todo.update.mutate({ id: todo.id, ...(patch as object) } as never))).toBe("BAD_REQUEST");
    expect(await alice.todo.byId.query({ id: todo.id })).toEqual(todo);
  });

  test("expectedVersion 0 is a claim like any other: CONFLICT, not BAD_REQUEST", async () => {
    const todo = await alice.todo.create.mutate({ title: "Versioned" });
    expect(await codeOf(alice.todo.update.mutate({ id: todo.id, title: "x", expectedVersion: 0 }))).toBe("CONFLICT");
    expect(await codeOf(alice.todo.update.mutate({ id: todo.id, title: "x", expectedVersion: -1 }))).toBe(
      "BAD_REQUEST",
    );
  });

  test("a NUL in a claim other than sub is dropped, not a database error", async () => {
    const token = await api.token("nul-claims", { email: "a\u0000@example.com", name: "N\u0000" });
    expect(await api.clientWithHeader(`Bearer ${token}`).me.query()).toEqual({
      id: "nul-claims",
      email: null,
      name: null,
    });
  });

  test("unknown id is NOT_FOUND, with or without expectedVersion", async () => {
    const id = "00000000-0000-4000-8000-000000000001";
    expect(await codeOf(alice.todo.update.mutate({ id, title: "x" }))).toBe("NOT_FOUND");
    expect(await codeOf(alice.todo.update.mutate({ id, title: "x", expectedVersion: 1 }))).toBe("NOT_FOUND");
  });
});

describe("bulk operations and stats", () => {
  test("toggleAll, clearCompleted and stats count only what changed", async () => {
    const dave = await api.client("dave");
    const past = new Date(Date.now() - 86_400_000);
    const future = new Date(Date.now() + 86_400_000);
    const a = await dave.todo.create.mutate({ title: "overdue", dueAt: past });
    await dave.todo.create.mutate({ title: "later", dueAt: future });
    const c = await dave.todo.create.mutate({ title: "done" });
    await dave.todo.update.mutate({ id: c.id, completed: true });
    expect(await dave.todo.stats.query()).toEqual({ total: 3, active: 2, completed: 1, overdue: 1 });

    expect(await dave.todo.toggleAll.mutate({ completed: true })).toEqual({ count: 2 });
    expect(await dave.todo.toggleAll.mutate({ completed: true })).toEqual({ count: 0 });
    const toggled = await dave.todo.byId.query({ id: a.id });
    expect(toggled).toMatchObject({ completed: true, version: 2 });
    expect(toggled.completedAt).toBeInstanceOf(Date);
    expect(await dave.todo.stats.query()).toEqual({ total: 3, active: 0, completed: 3, overdue: 0 });

    expect(await dave.todo.toggleAll.mutate({ completed: false })).toEqual({ count: 3 });
    expect((await dave.todo.byId.query({ id: a.id })).completedAt).toBeNull();
    await dave.todo.update.mutate({ id: a.id, completed: true });
    expect(await dave.todo.clearCompleted.mutate()).toEqual({ count: 1 });
    expect(await dave.todo.clearCompleted.mutate()).toEqual({ count: 0 });
    expect(await dave.todo.stats.query()).toEqual({ total: 2, active: 2, completed: 0, overdue: 0 });
    expect(await codeOf(dave.todo.toggleAll.mutate({} as never))).toBe("BAD_REQUEST");
  });

  test("stats of a new user are zero", async () => {
    const erin = await api.client("erin");
    expect(await erin.todo.stats.query()).toEqual({ total: 0, active: 0, completed: 0, overdue: 0 });
  });
});
