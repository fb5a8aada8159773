import { afterAll, beforeAll, expect, test } from "vitest";
import { codeOf } from "../support/errors.ts";
import { startTestServer, type Client, type TestServer } from "../support/server.ts";

let api: TestServer;
let alice: Client;
let bob: Client;
let aliceTodos: { id: string; title: string }[];

async function snapshot() {
  return api.database.prisma.todo.findMany({ where: { userId: "alice" }, orderBy: { id: "asc" } });
}

beforeAll(async () => {
  api = await startTestServer();
  alice = await api.client("alice");
  bob = await api.client("bob");
  aliceTodos = [];
  for (const title of ["alice private", "alice secret plan", "alice done"]) {
    aliceTodos.push(await alice.todo.create.mutate({ title, dueAt: new Date(Date.now() - 1000) }));
  }
  await alice.todo.update.mutate({ id: aliceTodos[2]!.id, completed: true });
});
afterAll(async () => {
  await api?.close();
});

// Every procedure, called by Bob with Alice's ids: Bob gets NOT_FOUND or his own (empty) view.
const byAlicesId: [string, (id: string) => Promise<unknown>][] = [
  ["todo.byId", (id) => bob.todo.byId.query({ id })],
  ["todo.update", (id) => bob.todo.update.mutate({ id, title: "pwned" })],
  ["todo.update with expectedVersion", (id) => bob.todo.update.mutate({ id, title: "pwned", expectedVersion: 1 })],
  ["todo.update completed", (id) => bob.todo.update.mutate({ id, completed: true })],
  ["todo.delete", (id) => bob.todo.delete.mutate({ id })],
];

for (const [name, call] of byAlicesId) {
  test(`${name} on Alice's todo is NOT_FOUND for Bob and changes nothing`, async () => {
    const before = await snapshot();
    for (const todo of aliceTodos) expect(await codeOf(call(todo.id))).toBe("NOT_FOUND");
    expect(await snapshot()).toEqual(before);
  });
}

test("Bob's collection procedures see and touch none of Alice's todos", async () => {
  const before = await snapshot();
  for (const status of ["all", "active", "completed"] as const) {
    expect((await bob.todo.list.query({ status })).items).toEqual([]);
    expect((await bob.todo.list.query({ status, search: "alice" })).items).toEqual([]);
  }
  expect(await bob.todo.stats.query()).toEqual({ total: 0, active: 0, completed: 0, overdue: 0 });
  expect(await bob.todo.toggleAll.mutate({ completed: true })).toEqual({ count: 0 });
  expect(await bob.todo.toggleAll.mutate({ completed: false })).toEqual({ count: 0 });
  expect(await bob.todo.clearCompleted.mutate()).toEqual({ count: 0 });
  expect((await bob.me.query()).id).toBe("bob");
  expect(await snapshot()).toEqual(before);
});

test("a cursor taken from Alice's list gives Bob nothing of hers", async () => {
  const page = await alice.todo.list.query({ limit: 1 });
  expect(page.nextCursor).not.toBeNull();
  expect((await bob.todo.list.query({ limit: 1, cursor: page.nextCursor })).items).toEqual([]);
});

test("Bob's own todos stay his while Alice's are untouched", async () => {
  const mine = await bob.todo.create.mutate({ title: "bob's" });
  expect(await codeOf(alice.todo.byId.query({ id: mine.id }))).toBe("NOT_FOUND");
  expect(await alice.todo.stats.query()).toEqual({ total: 3, active: 2, completed: 1, overdue: 2 });
  expect((await alice.todo.list.query({ limit: 100 })).items.map((t) => t.id).sort()).toEqual(
    aliceTodos.map((t) => t.id).sort(),
  );
});
