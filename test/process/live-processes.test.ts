/**
 * Live updates across real server processes: two on one database (PostgreSQL with TEST_DATABASE_URL, else the
 * embedded PGlite served over its socket), and `npm start`'s embedded database with WEB_CONCURRENCY=2.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { signToken } from "../../src/auth/tokens.ts";
import { FAULT_SECRET, spawnServer, type ServerProcess } from "../faults/support/server-process.ts";
import { createTestDatabase, type TestDatabase } from "../support/db.ts";
import { liveClient, subscribe, type Subscription } from "../support/live.ts";

const processes: ServerProcess[] = [];
const subs: Subscription[] = [];
const cleanups: Array<() => Promise<void> | void> = [];
afterAll(async () => {
  subs.forEach((s) => s.unsubscribe());
  for (const p of processes) if (p.alive()) p.kill("SIGKILL");
  for (const cleanup of cleanups) await cleanup();
});

const clientOf = async (server: ServerProcess, user: string) =>
  liveClient(server.trpcUrl, `Bearer ${await signToken(FAULT_SECRET, { sub: user })}`);
const open = async (server: ServerProcess, user: string) => {
  const sub = subscribe(await clientOf(server, user));
  subs.push(sub);
  await sub.started;
  return sub;
};
const todoIds = (sub: Subscription) => sub.events.map((e) => ("todo" in e.data ? e.data.todo.id : e.data.type));

describe("two server processes on one database", () => {
  let database: TestDatabase;
  let a: ServerProcess;
  let b: ServerProcess;

  it("deliver a write made through either to subscribers of both, and nothing to another user", async () => {
    database = await createTestDatabase({ migrated: true });
    cleanups.push(() => database.close());
    const env = {
      DATABASE_URL: database.url,
      DIRECT_URL: database.directUrl,
      DB_DRIVER: process.env.DB_DRIVER ?? "pg",
    };
    [a, b] = await Promise.all([spawnServer(env), spawnServer(env)]);
    processes.push(a, b);

    const [onA, onB, otherOnA, otherOnB] = await Promise.all([
      open(a, "proc-u"),
      open(b, "proc-u"),
      open(a, "proc-v"),
      open(b, "proc-v"),
    ]);
    const viaA = await (await clientOf(a, "proc-u")).todo.create.mutate({ title: "via A" });
    const viaB = await (await clientOf(b, "proc-u")).todo.create.mutate({ title: "via B" });
    await (await clientOf(b, "proc-u")).todo.toggleAll.mutate({ completed: true });
    // Each todo in its latest state, in the order of its last change: toggleAll's rows as updates (or, if they were
    // read after it, the creates already completed), never `changed`.
    for (const sub of [onA, onB]) {
      const completed = () =>
        new Set(sub.events.flatMap((e) => ("todo" in e.data && e.data.todo.completed ? [e.data.todo.id] : [])));
      await expect.poll(() => completed().size, { timeout: 10_000 }).toBe(2);
      expect(completed()).toEqual(new Set([viaA.id, viaB.id]));
      expect(todoIds(sub)).not.toContain("changed");
    }
    expect(otherOnA.events).toEqual([]);
    expect(otherOnB.events).toEqual([]);
  }, 120_000);

  it("end their streams on SIGTERM at once, and exit cleanly", async () => {
    const sub = await open(a, "proc-w");
    const started = Date.now();
    a.kill("SIGTERM");
    expect(await a.exited).toEqual({ code: 0, signal: null });
    expect(Date.now() - started).toBeLessThan(5_000);
    // The other instance keeps serving its subscribers.
    const still = await open(b, "proc-w");
    await (await clientOf(b, "proc-w")).todo.create.mutate({ title: "after A stopped" });
    await still.waitFor(1, 10_000);
    sub.unsubscribe();
  }, 60_000);
});

describe("after both processes restart", () => {
  it("a subscriber resumes from its last event id on either: each change once, no `changed`", async () => {
    const database = await createTestDatabase({ migrated: true });
    cleanups.push(() => database.close());
    const env = {
      DATABASE_URL: database.url,
      DIRECT_URL: database.directUrl,
      DB_DRIVER: process.env.DB_DRIVER ?? "pg",
    };
    const user = "proc-restart";
    const before = await Promise.all([spawnServer(env), spawnServer(env)]);
    processes.push(...before);
    const sub = await open(before[0], user);
    const writer = await clientOf(before[1], user);
    const kept = await writer.todo.create.mutate({ title: "kept" });
    const doomed = await writer.todo.create.mutate({ title: "doomed" });
    await sub.waitFor(2, 10_000);
    const last = sub.events.at(-1)!.id;
    sub.unsubscribe();
    for (const p of before) p.kill("SIGTERM");
    await Promise.all(before.map((p) => p.exited));

    const after = await Promise.all([spawnServer(env), spawnServer(env)]);
    processes.push(...after);
    const again = await clientOf(after[1], user);
    const added = await again.todo.create.mutate({ title: "added while away" });
    await again.todo.update.mutate({ id: kept.id, completed: true });
    await again.todo.delete.mutate({ id: doomed.id });

    const resumed = subscribe(await clientOf(after[0], user), last);
    subs.push(resumed);
    await resumed.waitFor(3, 10_000);
    const seen = resumed.events.map((e) => e.data);
    expect(seen.map((d) => d.type).sort()).toEqual(["created", "deleted", "updated"]);
    expect(seen).toContainEqual(
      expect.objectContaining({ type: "created", todo: expect.objectContaining({ id: added.id }) }),
    );
    expect(seen).toContainEqual(
      expect.objectContaining({ type: "updated", todo: expect.objectContaining({ id: kept.id, completed: true }) }),
    );
    expect(seen).toContainEqual({ type: "deleted", id: doomed.id });
    expect(new Set(resumed.events.map((e) => e.id)).size).toBe(3);
  }, 120_000);
});

describe("the embedded database with WEB_CONCURRENCY=2", () => {
  it("delivers every write to every subscriber, whichever worker serves each", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "todo-live-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const server = await spawnServer({ WEB_CONCURRENCY: "2", PGLITE_DATA_DIR: path.join(dir, "data") });
    processes.push(server);
    await expect
      .poll(() => server.logs.filter((l) => l.msg.startsWith("Todo API on")).length, { timeout: 60_000 })
      .toBe(2);

    // Connections are spread over the workers: six streams land on both.
    const streams = await Promise.all(Array.from({ length: 6 }, () => open(server, "cluster-u")));
    const other = await open(server, "cluster-v");
    const written: string[] = [];
    for (let i = 0; i < 6; i++)
      written.push((await (await clientOf(server, "cluster-u")).todo.create.mutate({ title: `w${i}` })).id);
    for (const sub of streams) {
      await sub.waitFor(6, 10_000);
      expect(todoIds(sub)).toEqual(written);
    }
    expect(other.events).toEqual([]);
    server.kill("SIGTERM");
    expect((await server.exited).code).toBe(0);
  }, 120_000);
});
