/**
 * The procedures through a server-side caller (no HTTP, no client): inputs typed from the router, results
 * checked as they come back, on a real database through the project's driver.
 */
import type { inferProcedureInput } from "@trpc/server";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { AppRouter } from "../../src/trpc/routers/_app.ts";
import { startTestCallers, type Caller, type TestCallers } from "../support/caller.ts";
import { codeOf } from "../support/errors.ts";

type TodoInput<K extends keyof AppRouter["todo"]> = inferProcedureInput<AppRouter["todo"][K]>;

let callers: TestCallers;
let alice: Caller;
let bob: Caller;

beforeAll(async () => {
  callers = await startTestCallers();
  alice = await callers.as("alice", { email: "alice@example.com", name: "Alice" });
  bob = await callers.as("bob");
});
afterAll(async () => {
  await callers?.close();
});

describe("me", () => {
  test("is the caller, from the token's claims; no token is UNAUTHORIZED", async () => {
    expect(await alice.me()).toEqual({ id: "alice", email: "alice@example.com", name: "Alice" });
    expect(await bob.me()).toEqual({ id: "bob", email: null, name: null });
    expect(await codeOf(callers.anonymous().me())).toBe("UNAUTHORIZED");
    expect(await codeOf(callers.anonymous().todo.list())).toBe("UNAUTHORIZED");
  });
});

describe("create and byId", () => {
  test("create returns the stored todo, byId the same one", async () => {
    const dueAt = new Date("2030-01-02T03:04:05.678Z");
    const input: TodoInput<"create"> = {
      title: "  Write the router tests ",
      description: "no HTTP",
      priority: "HIGH",
      dueAt,
    };
    const todo = await alice.todo.create(input);
    expect(todo).toMatchObject({
      userId: "alice",
      title: "Write the router tests",
      description: "no HTTP",
      priority: "HIGH",
      dueAt,
      completed: false,
      completedAt: null,
      version: 1,
    });
    expect(todo.createdAt).toBeInstanceOf(Date);
    const byId: TodoInput<"byId"> = { id: todo.id };
    expect(await alice.todo.byId(byId)).toEqual(todo);
  });

  test("invalid input is BAD_REQUEST; unknown, malformed and other users' ids are NOT_FOUND", async () => {
    expect(await codeOf(alice.todo.create({ title: "   " }))).toBe("BAD_REQUEST");
    const todo = await alice.todo.create({ title: "alice's" });
    expect(await codeOf(bob.todo.byId({ id: todo.id }))).toBe("NOT_FOUND");
    expect(await codeOf(alice.todo.byId({ id: "00000000-0000-4000-8000-000000000000" }))).toBe("NOT_FOUND");
    expect(await codeOf(alice.todo.byId({ id: "not-a-uuid" }))).toBe("NOT_FOUND");
  });
});

describe("list", () => {
  test("pages through the caller's todos only, newest first, and filters by status", async () => {
    const carol = await callers.as("carol");
    const dave = await callers.as("dave");
    const created = [];
    for (const title of ["one", "two", "three", "four", "five"]) created.push(await carol.todo.create({ title }));
    await dave.todo.create({ title: "dave's" });
    await carol.todo.update({ id: created[0]!.id, completed: true });

    const input: TodoInput<"list"> = { limit: 2 };
    const titles: string[] = [];
    let cursor: string | null = null;
    do {
      const page = await carol.todo.list({ ...input, cursor });
      expect(page.items.length).toBeLessThanOrEqual(2);
      expect(page.items.every((t) => t.userId === "carol")).toBe(true);
      titles.push(...page.items.map((t) => t.title));
      cursor = page.nextCursor;
    } while (cursor);
    expect(titles).toEqual(["five", "four", "three", "two", "one"]);

    expect((await carol.todo.list({ status: "completed" })).items.map((t) => t.title)).toEqual(["one"]);
    expect((await carol.todo.list({ status: "active" })).items).toHaveLength(4);
    expect((await dave.todo.list()).items.map((t) => t.title)).toEqual(["dave's"]);
    expect(await codeOf(carol.todo.list({ cursor: "garbage" }))).toBe("BAD_REQUEST");
  });
});

describe("update", () => {
  test("changes the given fields, bumps the version, and sets completedAt when completed", async () => {
    const todo = await alice.todo.create({ title: "to change", description: "old" });
    const input: TodoInput<"update"> = {
      id: todo.id,
      expectedVersion: 1,
      title: "changed",
      description: null,
      completed: true,
    };
    const updated = await alice.todo.update(input);
    expect(updated).toMatchObject({ id: todo.id, title: "changed", description: null, completed: true, version: 2 });
    expect(updated.completedAt).toBeInstanceOf(Date);
    expect(await alice.todo.byId({ id: todo.id })).toEqual(updated);

    const reopened = await alice.todo.update({ id: todo.id, completed: false });
    expect(reopened).toMatchObject({ completed: false, completedAt: null, version: 3 });
  });

  test("a stale expectedVersion is CONFLICT, nothing to change is BAD_REQUEST, another user's todo is NOT_FOUND", async () => {
    const todo = await alice.todo.create({ title: "contended" });
    await alice.todo.update({ id: todo.id, title: "first" });
    expect(await codeOf(alice.todo.update({ id: todo.id, expectedVersion: 1, title: "second" }))).toBe("CONFLICT");
    expect(await codeOf(alice.todo.update({ id: todo.id }))).toBe("BAD_REQUEST");
    expect(await codeOf(bob.todo.update({ id: todo.id, title: "bob's now" }))).toBe("NOT_FOUND");
    expect(await alice.todo.byId({ id: todo.id })).toMatchObject({ title: "first", version: 2 });
  });
});

describe("delete", () => {
  test("removes the caller's todo once; another user's stays", async () => {
    const mine = await alice.todo.create({ title: "to delete" });
    expect(await codeOf(bob.todo.delete({ id: mine.id }))).toBe("NOT_FOUND");
    const input: TodoInput<"delete"> = { id: mine.id };
    expect(await alice.todo.delete(input)).toEqual({ id: mine.id });
    expect(await codeOf(alice.todo.byId({ id: mine.id }))).toBe("NOT_FOUND");
    expect(await codeOf(alice.todo.delete({ id: mine.id }))).toBe("NOT_FOUND");
  });
});

describe("stats", () => {
  test("counts the caller's todos: total, active, completed, overdue", async () => {
    const erin = await callers.as("erin");
    expect(await erin.todo.stats()).toEqual({ total: 0, active: 0, completed: 0, overdue: 0 });
    await erin.todo.create({ title: "overdue", dueAt: new Date(Date.now() - 86_400_000) });
    await erin.todo.create({ title: "due later", dueAt: new Date(Date.now() + 86_400_000) });
    const done = await erin.todo.create({ title: "done", dueAt: new Date(Date.now() - 86_400_000) });
    await erin.todo.update({ id: done.id, completed: true });
    expect(await erin.todo.stats()).toEqual({ total: 3, active: 2, completed: 1, overdue: 1 });
    expect((await bob.todo.stats()).total).toBe(0);
  });
});
