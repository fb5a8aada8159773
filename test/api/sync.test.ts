/**
 * The durable change feed over real HTTP: todo.sync (tRPC and REST), tombstones and todo.restore, retention and the
 * purge, and onChange resuming from a sync cursor on another instance, with writers racing on both instances.
 */
import { TRPCClientError } from "@trpc/client";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TodoDTO } from "../../src/todos/select.ts";
import type { AppRouter } from "../../src/trpc/routers/_app.ts";
import { liveClientOf, subscribe, type Received, type Subscription } from "../support/live.ts";
import { startTestServer, type TestServer } from "../support/server.ts";

let api: TestServer;
let other: TestServer;
beforeAll(async () => {
  api = await startTestServer();
  other = await api.variant({});
});
afterAll(async () => {
  await other?.close();
  await api?.close();
});

type Client = Awaited<ReturnType<typeof liveClientOf>>;
const client = (user: string, server = api) => liveClientOf(server, user);
const code = (error: unknown) => (error as TRPCClientError<AppRouter>).data?.code;
const subs: Subscription[] = [];
afterAll(() => subs.forEach((s) => s.unsubscribe()));

/** A client's replica, kept the way the issue tells clients to: upsert todos, remove deleted, keep the cursor. */
async function syncAll(c: Client, replica: Map<string, TodoDTO>, after: string | null, limit?: number) {
  let cursor = after;
  let calls = 0;
  for (;;) {
    const page = await c.todo.sync.query({ after: cursor, limit });
    calls++;
    for (const todo of page.todos) replica.set(todo.id, todo);
    for (const id of page.deleted) replica.delete(id);
    cursor = page.cursor;
    if (!page.more) return { cursor, calls };
  }
}

function apply(replica: Map<string, TodoDTO>, events: Received[]) {
  for (const { data } of events) {
    if (data.type === "deleted") replica.delete(data.id);
    else if (data.type !== "changed") replica.set(data.todo.id, data.todo);
  }
}

async function listAll(c: Client) {
  const all = new Map<string, TodoDTO>();
  let cursor: string | null = null;
  do {
    const page = await c.todo.list.query({ limit: 100, cursor });
    for (const todo of page.items) all.set(todo.id, todo);
    cursor = page.nextCursor;
  } while (cursor);
  return all;
}

const sorted = (m: Map<string, TodoDTO>) => [...m.values()].sort((a, b) => a.id.localeCompare(b.id));

describe("todo.sync", () => {
  it("pages through every live todo, then sends only what changed and what was deleted", async () => {
    const c = await client("sync-ann");
    const todos = [];
    for (let i = 0; i < 7; i++) todos.push(await c.todo.create.mutate({ title: `t${i}` }));
    const replica = new Map<string, TodoDTO>();
    const first = await syncAll(c, replica, null, 3);
    expect(first.calls).toBeGreaterThanOrEqual(3);
    expect(sorted(replica)).toEqual(sorted(await listAll(c)));

    const nothing = await c.todo.sync.query({ after: first.cursor });
    expect(nothing).toMatchObject({ todos: [], deleted: [], more: false });

    const updated = await c.todo.update.mutate({ id: todos[0]!.id, title: "t0 v2" });
    await c.todo.delete.mutate({ id: todos[1]!.id });
    const added = await c.todo.create.mutate({ title: "new" });
    const delta = await c.todo.sync.query({ after: first.cursor });
    expect(delta.todos.map((t) => t.id).sort()).toEqual([updated.id, added.id].sort());
    expect(delta.todos.find((t) => t.id === updated.id)).toEqual(updated);
    expect(delta.deleted).toEqual([todos[1]!.id]);
    await syncAll(c, replica, first.cursor);
    expect(sorted(replica)).toEqual(sorted(await listAll(c)));
  });

  it("refuses a malformed cursor (BAD_REQUEST) and a limit out of range, over tRPC and REST", async () => {
    const c = await client("sync-bob");
    for (const after of ["garbage", "a.b", "zzzzzzzzzzzz.1.1", "x".repeat(65)])
      await expect(c.todo.sync.query({ after })).rejects.toSatisfy((e) => code(e) === "BAD_REQUEST");
    for (const limit of [0, 1001, 1.5])
      await expect(c.todo.sync.query({ limit })).rejects.toSatisfy((e) => code(e) === "BAD_REQUEST");
    const auth = { authorization: `Bearer ${await api.token("sync-bob")}` };
    expect((await fetch(`${api.url}/api/todos/sync?after=garbage`, { headers: auth })).status).toBe(400);
    const ok = await fetch(`${api.url}/api/todos/sync?limit=2`, { headers: auth });
    expect(ok.status).toBe(200);
    expect(Object.keys((await ok.json()) as object).sort()).toEqual(["cursor", "deleted", "more", "todos"]);
  });

  it("never shows another user's todos or deletes, whatever cursor is sent", async () => {
    const eve = await client("sync-eve");
    const mallory = await client("sync-mallory");
    const start = (await mallory.todo.sync.query({})).cursor;
    const secret = await eve.todo.create.mutate({ title: "eve's" });
    await eve.todo.delete.mutate({ id: (await eve.todo.create.mutate({ title: "gone" })).id });
    const seen = await mallory.todo.sync.query({ after: start });
    expect(seen).toMatchObject({ todos: [], deleted: [] });
    await expect(mallory.todo.restore.mutate({ id: secret.id })).rejects.toSatisfy((e) => code(e) === "NOT_FOUND");
    await expect(mallory.todo.delete.mutate({ id: secret.id })).rejects.toSatisfy((e) => code(e) === "NOT_FOUND");
  });
});

describe("tombstones and todo.restore", () => {
  it("hides a deleted todo from list, byId, update, stats and search; restore brings it back as a new version", async () => {
    const c = await client("undo-ann");
    const todo = await c.todo.create.mutate({ title: "findable thing" });
    await c.todo.delete.mutate({ id: todo.id });
    await expect(c.todo.byId.query({ id: todo.id })).rejects.toSatisfy((e) => code(e) === "NOT_FOUND");
    await expect(c.todo.update.mutate({ id: todo.id, title: "x" })).rejects.toSatisfy((e) => code(e) === "NOT_FOUND");
    await expect(c.todo.delete.mutate({ id: todo.id })).rejects.toSatisfy((e) => code(e) === "NOT_FOUND");
    expect((await c.todo.list.query({ search: "findable" })).items).toEqual([]);
    expect((await c.todo.stats.query()).total).toBe(0);

    const restored = await c.todo.restore.mutate({ id: todo.id });
    expect(restored).toMatchObject({ id: todo.id, title: todo.title });
    expect(restored.version).toBeGreaterThan(todo.version + 1);
    expect(await c.todo.byId.query({ id: todo.id })).toEqual(restored);
    // Restoring a live todo changes nothing.
    expect(await c.todo.restore.mutate({ id: todo.id })).toEqual(restored);
    await expect(c.todo.restore.mutate({ id: "nope" })).rejects.toSatisfy((e) => code(e) === "NOT_FOUND");
    await expect(c.todo.restore.mutate({ id: crypto.randomUUID() })).rejects.toSatisfy((e) => code(e) === "NOT_FOUND");
  });

  it("clearCompleted keeps tombstones too; REST restore honours Idempotency-Key and sends `created` to subscribers", async () => {
    const c = await client("undo-bob");
    const done = await c.todo.create.mutate({ title: "done" });
    await c.todo.update.mutate({ id: done.id, completed: true });
    expect(await c.todo.clearCompleted.mutate()).toEqual({ count: 1 });
    const sub = subscribe(c);
    subs.push(sub);
    await sub.started;

    const headers = { authorization: `Bearer ${await api.token("undo-bob")}`, "idempotency-key": "restore-1" };
    const first = await fetch(`${api.url}/api/todos/${done.id}/restore`, { method: "POST", headers });
    expect(first.status).toBe(200);
    const body = await first.text();
    const again = await fetch(`${api.url}/api/todos/${done.id}/restore`, { method: "POST", headers });
    expect(again.headers.get("idempotent-replayed")).toBe("true");
    expect(await again.text()).toBe(body);
    const [event] = await sub.waitFor(1);
    expect(event!.data).toMatchObject({ type: "created", todo: { id: done.id, completed: true } });
    expect(
      (
        await fetch(`${api.url}/api/todos/${crypto.randomUUID()}/restore`, {
          method: "POST",
          headers: { authorization: headers.authorization },
        })
      ).status,
    ).toBe(404);
  });

  it("after CHANGE_RETENTION_MS a tombstone is purged (restore NOT_FOUND) and older cursors are PRECONDITION_FAILED", async () => {
    const short = await api.variant({ CHANGE_RETENTION_MS: "1500" });
    try {
      const c = await client("undo-carl", short);
      const todo = await c.todo.create.mutate({ title: "short-lived" });
      const before = (await c.todo.sync.query({})).cursor;
      await c.todo.delete.mutate({ id: todo.id });
      // The sweeper runs every second at this retention.
      await expect
        .poll(async () => (await short.database.prisma.todo.count({ where: { id: todo.id } })) === 0, {
          timeout: 10_000,
          interval: 250,
        })
        .toBe(true);
      await expect(c.todo.restore.mutate({ id: todo.id })).rejects.toSatisfy((e) => code(e) === "NOT_FOUND");
      await expect(c.todo.sync.query({ after: before })).rejects.toSatisfy((e) => code(e) === "PRECONDITION_FAILED");
      const auth = { authorization: `Bearer ${await short.token("undo-carl")}` };
      expect((await fetch(`${short.url}/api/todos/sync?after=${before}`, { headers: auth })).status).toBe(412);
      // A stream from it is told to sync from scratch.
      const sub = subscribe(c, before);
      subs.push(sub);
      expect((await sub.waitFor(1))[0]!.data).toEqual({ type: "changed" });
      // From scratch works.
      expect((await c.todo.sync.query({})).todos).toEqual([]);
    } finally {
      await short.close();
    }
  });
});

describe("resuming on another instance", () => {
  it("concurrent writers on two instances; a follower that leaves and resumes on the other ends equal to the list", async () => {
    const user = "follow-ann";
    const [a, b] = [await client(user, api), await client(user, other)];
    const seedTodos = await Promise.all(
      Array.from({ length: 5 }, (_, i) => a.todo.create.mutate({ title: `seed ${i}` })),
    );
    const replica = new Map<string, TodoDTO>();
    const { cursor } = await syncAll(a, replica, null);

    // Writers on both instances, several at once, racing their commits.
    const write = async (c: Client, n: number) => {
      const mine: string[] = [];
      for (let i = 0; i < n; i++) {
        const step = i % 4;
        if (step === 0 || mine.length === 0) mine.push((await c.todo.create.mutate({ title: `w${i}` })).id);
        else if (step === 1) await c.todo.update.mutate({ id: mine.at(-1)!, completed: true });
        else if (step === 2) await c.todo.delete.mutate({ id: mine.shift()! });
        else await c.todo.toggleAll.mutate({ completed: i % 8 === 3 });
      }
    };
    const writers = Promise.all([write(a, 24), write(b, 24), write(a, 16), write(b, 16)]);

    // Follow on one instance, leave mid-way, resume on the other from the last event id.
    const first = subscribe(a, cursor);
    await first.started;
    await new Promise((r) => setTimeout(r, 150));
    first.unsubscribe();
    apply(replica, first.events);
    const last = first.events.at(-1)?.id ?? cursor;
    const second = subscribe(b, last);
    subs.push(second);
    await second.started;
    await writers;
    await b.todo.delete.mutate({ id: seedTodos[0]!.id });
    const marker = await b.todo.create.mutate({ title: "marker" });
    await expect
      .poll(() => second.events.some((e) => e.data.type === "created" && e.data.todo.id === marker.id), {
        timeout: 10_000,
      })
      .toBe(true);
    apply(replica, second.events);
    expect(sorted(replica)).toEqual(sorted(await listAll(a)));

    const events = [...first.events, ...second.events];
    expect(events.some((e) => e.data.type === "changed")).toBe(false);
    // No id twice, and each todo's versions only go up.
    expect(new Set(second.events.map((e) => e.id)).size).toBe(second.events.length);
    const versions = new Map<string, number>();
    for (const { data } of events) {
      if (data.type !== "created" && data.type !== "updated") continue;
      expect(data.todo.version).toBeGreaterThan(versions.get(data.todo.id) ?? 0);
      versions.set(data.todo.id, data.todo.version);
    }
    // The cursor and event ids are the same strings: a sync from the last event id has nothing new.
    const tail = await b.todo.sync.query({ after: second.events.at(-1)!.id });
    expect(tail).toMatchObject({ todos: [], deleted: [] });
  });
});
