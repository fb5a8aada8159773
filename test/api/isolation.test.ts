import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, expect, test } from "vitest";
import { SORT_FIELDS } from "../../src/todos/schemas.ts";
import { codeOf } from "../support/errors.ts";
import { liveClient, subscribe } from "../support/live.ts";
import { startTestServer, type Client, type TestServer } from "../support/server.ts";

let api: TestServer;
let alice: Client;
let bob: Client;
let aliceTodos: { id: string; title: string; description: string | null }[];
const aliceCursors = new Map<string, string>();
const ALICE = { email: "alice@example.com", name: "Alice Example" };

// Everything of Alice's that Bob must never see: her todos' ids, titles and descriptions, her email and name.
const secrets = () => [
  ...aliceTodos.flatMap((t) => [t.id, t.title, t.description ?? t.title]),
  ALICE.email,
  ALICE.name,
];

async function snapshot() {
  const [todos, user] = await Promise.all([
    api.database.prisma.todo.findMany({ where: { userId: "alice" }, orderBy: { id: "asc" } }),
    api.database.prisma.user.findUnique({ where: { id: "alice" } }),
  ]);
  return { todos, user };
}

beforeAll(async () => {
  api = await startTestServer();
  alice = api.clientWithHeader(`Bearer ${await api.token("alice", ALICE)}`);
  bob = await api.client("bob");
  aliceTodos = [];
  for (const title of ["alice private", "alice secret plan", "alice done"]) {
    aliceTodos.push(
      await alice.todo.create.mutate({ title, description: `${title} details`, dueAt: new Date(Date.now() - 1000) }),
    );
  }
  await alice.todo.update.mutate({ id: aliceTodos[2]!.id, completed: true });
  for (const orderBy of SORT_FIELDS) {
    for (const order of ["asc", "desc"] as const) {
      const page = await alice.todo.list.query({ orderBy, order, limit: 1 });
      aliceCursors.set(`${orderBy} ${order}`, page.nextCursor!);
    }
  }
});
afterAll(async () => {
  await api?.close();
});

/** What came back, with the id Bob passed replaced, so "Alice's id" and "an id that never existed" compare equal. */
async function outcome(call: Promise<unknown>, id: string): Promise<string> {
  let result: unknown;
  try {
    result = { ok: await call };
  } catch (error) {
    const { message, data } = error as { message: string; data?: { code?: string; httpStatus?: number } };
    result = { error: { message, code: data?.code, httpStatus: data?.httpStatus } };
  }
  return JSON.stringify(result).replaceAll(id, "<id>");
}

// Every procedure, as Bob, aimed at Alice's data. `id` is one of Alice's todo ids (ignored by procedures without one).
const asBob: [string, (id: string) => Promise<unknown>][] = [
  ["me", () => bob.me.query()],
  ["todo.stats", () => bob.todo.stats.query()],
  ...(["all", "active", "completed"] as const).map((status): [string, (id: string) => Promise<unknown>] => [
    `todo.list status=${status}`,
    () => bob.todo.list.query({ status }),
  ]),
  ["todo.list search for Alice's words", () => bob.todo.list.query({ search: "alice secret" })],
  ...[...SORT_FIELDS].flatMap((orderBy) =>
    (["asc", "desc"] as const).map((order): [string, (id: string) => Promise<unknown>] => [
      `todo.list with Alice's cursor (${orderBy} ${order})`,
      () => bob.todo.list.query({ orderBy, order, limit: 100, cursor: aliceCursors.get(`${orderBy} ${order}`) }),
    ]),
  ),
  [
    "todo.create with Alice's id and userId smuggled in",
    async (id) => {
      const smuggled = { title: "mine", id, userId: "alice" } as { title: string };
      const created = await bob.todo.create.mutate(smuggled);
      await bob.todo.delete.mutate({ id: created.id });
      return { userId: created.userId, tookTheId: created.id === id };
    },
  ],
  ["todo.byId", (id) => bob.todo.byId.query({ id })],
  ["todo.update title", (id) => bob.todo.update.mutate({ id, title: "pwned" })],
  ["todo.update with expectedVersion", (id) => bob.todo.update.mutate({ id, title: "pwned", expectedVersion: 1 })],
  [
    "todo.update with a stale expectedVersion",
    (id) => bob.todo.update.mutate({ id, completed: true, expectedVersion: 0 }),
  ],
  ["todo.update completed", (id) => bob.todo.update.mutate({ id, completed: true })],
  ["todo.update clearing fields", (id) => bob.todo.update.mutate({ id, description: null, dueAt: null })],
  [
    "todo.update priority and due date",
    (id) => bob.todo.update.mutate({ id, priority: "HIGH", dueAt: new Date("2030-01-01") }),
  ],
  ["todo.delete", (id) => bob.todo.delete.mutate({ id })],
  ["todo.toggleAll completed=true", () => bob.todo.toggleAll.mutate({ completed: true })],
  ["todo.toggleAll completed=false", () => bob.todo.toggleAll.mutate({ completed: false })],
  ["todo.clearCompleted", () => bob.todo.clearCompleted.mutate()],
  ["todo.restore", (id) => bob.todo.restore.mutate({ id })],
  [
    // The cursor names a database position and a time: the same for any id Bob could pass.
    "todo.sync from scratch",
    async () => {
      const { todos, deleted, more } = await bob.todo.sync.query({});
      return { todos, deleted, more };
    },
  ],
  [
    "todo.onChange resuming from Alice's id",
    async (id) => {
      const sub = subscribe(liveClient(api.trpcUrl, `Bearer ${await api.token("bob")}`), id);
      await sub.started;
      await new Promise((resolve) => setTimeout(resolve, 200));
      sub.unsubscribe();
      return sub.events.map((e) => e.data);
    },
  ],
];

for (const [name, call] of asBob) {
  test(`${name}: Bob learns nothing of Alice's and changes nothing`, async () => {
    const before = await snapshot();
    for (const todo of aliceTodos) {
      const seen = await outcome(call(todo.id), todo.id);
      // Indistinguishable from an id that never existed…
      const unknown = randomUUID();
      expect(seen).toBe(await outcome(call(unknown), unknown));
      // …and nothing of Alice's in it.
      for (const secret of secrets()) expect(seen).not.toContain(secret);
    }
    expect(await snapshot()).toEqual(before);
  });
}

test("every procedure of the router is in the table", async () => {
  const { appRouter } = await import("../../src/trpc/routers/_app.ts");
  const covered = new Set(asBob.map(([name]) => name.split(" ")[0]));
  expect([...covered].sort()).toEqual(Object.keys(appRouter._def.procedures).sort());
});

test("Bob's view of his own data is empty, not Alice's", async () => {
  expect(await bob.todo.stats.query()).toEqual({ total: 0, active: 0, completed: 0, overdue: 0 });
  expect((await bob.todo.list.query({ status: "all" })).items).toEqual([]);
  expect(await bob.me.query()).toEqual({ id: "bob", email: null, name: null });
});

test("a userId smuggled into create or update input is ignored: the row is Bob's", async () => {
  const before = await snapshot();
  const res = await fetch(`${api.trpcUrl}/todo.create`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${await api.token("bob")}` },
    body: JSON.stringify({ json: { title: "smuggled", userId: "alice", id: aliceTodos[0]!.id } }),
  });
  expect(res.status).toBe(200);
  const created = ((await res.json()) as { result: { data: { json: { id: string; userId: string } } } }).result.data
    .json;
  expect(created.userId).toBe("bob");
  expect(created.id).not.toBe(aliceTodos[0]!.id);
  const update = await fetch(`${api.trpcUrl}/todo.update`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${await api.token("bob")}` },
    body: JSON.stringify({ json: { id: created.id, title: "still bob's", userId: "alice" } }),
  });
  expect(update.status).toBe(200);
  expect((await api.database.prisma.todo.findUniqueOrThrow({ where: { id: created.id } })).userId).toBe("bob");
  expect(await snapshot()).toEqual(before);
  await bob.todo.delete.mutate({ id: created.id });
});

test("Bob's own todos stay his while Alice's are untouched", async () => {
  const mine = await bob.todo.create.mutate({ title: "bob's" });
  expect(await codeOf(alice.todo.byId.query({ id: mine.id }))).toBe("NOT_FOUND");
  expect(await alice.todo.stats.query()).toEqual({ total: 3, active: 2, completed: 1, overdue: 2 });
  expect((await alice.todo.list.query({ limit: 100 })).items.map((t) => t.id).sort()).toEqual(
    aliceTodos.map((t) => t.id).sort(),
  );
  await bob.todo.delete.mutate({ id: mine.id });
});
