/** The benchmark's hand-written baseline (bench/baseline.ts) must do the API's work, or the ratios mean nothing. */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { afterAll, beforeAll, expect, test } from "vitest";
import { signToken } from "../../src/auth/tokens.ts";
import { freePort } from "../../bench/processes.ts";
import { createTestDatabase, type TestDatabase } from "../support/db.ts";

const SECRET = "baseline-test-secret-of-at-least-32-chars";
let db: TestDatabase;
let baseline: ChildProcess;
let base: string;
let alice: string;
let bob: string;

beforeAll(async () => {
  db = await createTestDatabase({ migrated: true });
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  baseline = spawn(process.execPath, ["--import", "tsx", "bench/baseline.ts"], {
    env: { ...process.env, PORT: String(port), DATABASE_URL: db.url, AUTH_SECRET: SECRET, DB_POOL_MAX: "4" },
    stdio: ["ignore", "inherit", "inherit"],
  });
  for (let i = 0; i < 150; i++) {
    const ok = await fetch(`${base}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) break;
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  alice = await signToken(SECRET, { sub: "alice" });
  bob = await signToken(SECRET, { sub: "bob" });
});
afterAll(async () => {
  if (baseline && baseline.exitCode === null) {
    baseline.kill("SIGTERM");
    await once(baseline, "exit");
  }
  await db?.close();
});

interface Todo {
  id: string;
  title: string;
  completedAt: string | null;
  createdAt: string;
}
interface Page {
  items: Todo[];
  nextCursor: string | null;
}
const json = async <T>(res: Response | Promise<Response>) => (await (await res).json()) as T;

const get = (procedure: string, input: unknown, token: string) =>
  fetch(`${base}/trpc/${procedure}?input=${encodeURIComponent(JSON.stringify({ json: input }))}`, {
    headers: { authorization: `Bearer ${token}` },
  });
const post = (procedure: string, input: unknown, token: string) =>
  fetch(`${base}/trpc/${procedure}`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ json: input }),
  });

test("create, byId, update and keyset list behave like the API, scoped to the caller", async () => {
  const created: Todo[] = [];
  for (let i = 1; i <= 25; i++) {
    const res = await post("todo.create", { title: `  Todo ${i} ` }, alice);
    expect(res.status).toBe(200);
    created.push(await json<Todo>(res));
  }
  expect(created[0]).toMatchObject({
    userId: "alice",
    title: "Todo 1",
    completed: false,
    priority: "MEDIUM",
    version: 1,
  });

  expect(await json(get("todo.byId", { id: created[3]!.id }, alice))).toEqual(created[3]);
  expect((await get("todo.byId", { id: created[3]!.id }, bob)).status).toBe(404);
  expect((await get("todo.byId", { id: "not-a-uuid" }, alice)).status).toBe(404);

  const updated = await json<Todo>(
    post("todo.update", { id: created[0]!.id, title: "Renamed", completed: true }, alice),
  );
  expect(updated).toMatchObject({ title: "Renamed", completed: true, version: 2 });
  expect(updated.completedAt).not.toBeNull();
  expect((await post("todo.update", { id: created[0]!.id, title: "Again", expectedVersion: 1 }, alice)).status).toBe(
    409,
  );
  expect((await post("todo.update", { id: created[0]!.id, title: "Bob's" }, bob)).status).toBe(404);

  const page1 = await json<Page>(get("todo.list", {}, alice));
  expect(page1.items).toHaveLength(20);
  const times = page1.items.map((t) => Date.parse(t.createdAt));
  expect(times).toEqual([...times].sort((a, b) => b - a)); // newest first
  const page2 = await json<Page>(get("todo.list", { cursor: page1.nextCursor }, alice));
  expect(page2.items).toHaveLength(5);
  expect(page2.nextCursor).toBeNull();
  const ids = new Set([...page1.items, ...page2.items].map((t) => t.id));
  expect(ids.size).toBe(25);
  expect((await json<Page>(get("todo.list", {}, bob))).items).toEqual([]);
});

test("refuses what the API refuses: no token, a bad token, invalid input", async () => {
  expect((await fetch(`${base}/trpc/todo.list`)).status).toBe(401);
  expect((await get("todo.list", {}, `${alice}x`)).status).toBe(401);
  const empty = await post("todo.create", { title: "   " }, alice);
  expect(empty.status).toBe(400);
  expect((await json<{ error: { fieldErrors: object } }>(empty)).error.fieldErrors).toHaveProperty("title");
  expect((await post("todo.update", { id: "00000000-0000-4000-8000-000000000000" }, alice)).status).toBe(400);
});
