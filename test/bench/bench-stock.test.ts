/** The benchmark's stock server (bench/stock.ts) must answer the workload's requests as the API does, scoped to the caller. */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import superjson from "superjson";
import { afterAll, beforeAll, expect, test } from "vitest";
import { signToken } from "../../src/auth/tokens.ts";
import { freePort } from "../../bench/processes.ts";
import { createTestDatabase, type TestDatabase } from "../support/db.ts";

const SECRET = "stock-test-secret-of-at-least-32-chars!";
let db: TestDatabase;
let stock: ChildProcess;
let base: string;
let alice: string;
let bob: string;

beforeAll(async () => {
  db = await createTestDatabase({ migrated: true });
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  stock = spawn(process.execPath, ["--import", "tsx", "bench/stock.ts"], {
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
}, 60_000);
afterAll(async () => {
  if (stock && stock.exitCode === null) {
    stock.kill("SIGTERM");
    await once(stock, "exit");
  }
  await db?.close();
});

interface Todo {
  id: string;
  userId: string;
  title: string;
  completed: boolean;
  completedAt: Date | null;
  createdAt: Date;
  version: number;
}
interface Page {
  items: Todo[];
  nextCursor: string | null;
}

/** Status and the tRPC result, superjson-decoded (Dates come back as Dates). */
async function call<T>(res: Promise<Response>): Promise<{ status: number; data: T }> {
  const r = await res;
  const body = (await r.json()) as { result?: { data: Parameters<typeof superjson.deserialize>[0] } };
  return { status: r.status, data: (body.result ? superjson.deserialize(body.result.data) : undefined) as T };
}
const get = <T>(procedure: string, input: unknown, token: string) =>
  call<T>(
    fetch(`${base}/trpc/${procedure}?input=${encodeURIComponent(JSON.stringify({ json: input }))}`, {
      headers: { authorization: `Bearer ${token}` },
    }),
  );
const post = <T>(procedure: string, input: unknown, token: string) =>
  call<T>(
    fetch(`${base}/trpc/${procedure}`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ json: input }),
    }),
  );

test("create, byId, update and list answer in the API's wire format, scoped to the caller", async () => {
  const created: Todo[] = [];
  for (let i = 1; i <= 25; i++) {
    const res = await post<Todo>("todo.create", { title: `  Todo ${i} ` }, alice);
    expect(res.status).toBe(200);
    created.push(res.data);
  }
  expect(created[0]).toMatchObject({
    userId: "alice",
    title: "Todo 1",
    completed: false,
    version: 1,
    completedAt: null,
  });
  expect(created[0]!.createdAt).toBeInstanceOf(Date);

  expect(await get("todo.byId", { id: created[3]!.id }, alice)).toEqual({ status: 200, data: created[3] });
  expect((await get("todo.byId", { id: created[3]!.id }, bob)).status).toBe(404);
  expect((await get("todo.byId", { id: "not-a-uuid" }, alice)).status).toBe(404);

  const updated = await post<Todo>("todo.update", { id: created[0]!.id, title: "Renamed", completed: true }, alice);
  expect(updated.data).toMatchObject({ title: "Renamed", completed: true, version: 2 });
  expect(updated.data.completedAt).toBeInstanceOf(Date);
  expect((await post("todo.update", { id: created[0]!.id, title: "Again", expectedVersion: 1 }, alice)).status).toBe(
    409,
  );
  expect((await post("todo.update", { id: created[0]!.id, title: "Bob's" }, bob)).status).toBe(404);
  expect((await post("todo.update", { id: created[0]!.id }, alice)).status).toBe(400);

  const page1 = await get<Page>("todo.list", {}, alice);
  expect(page1.status).toBe(200);
  expect(page1.data.items).toHaveLength(20);
  const times = page1.data.items.map((t) => t.createdAt.getTime());
  expect(times).toEqual([...times].sort((a, b) => b - a)); // newest first
  const page2 = await get<Page>("todo.list", { cursor: page1.data.nextCursor }, alice);
  expect(page2.data.items).toHaveLength(5);
  expect(page2.data.nextCursor).toBeNull();
  expect(new Set([...page1.data.items, ...page2.data.items].map((t) => t.id)).size).toBe(25);
  expect((await get<Page>("todo.list", {}, bob)).data.items).toEqual([]);
});

test("refuses a missing or bad token and invalid input", async () => {
  expect((await fetch(`${base}/trpc/todo.list`)).status).toBe(401);
  expect((await get("todo.list", {}, `${alice}x`)).status).toBe(401);
  expect((await post("todo.create", { title: "   " }, alice)).status).toBe(400);
});
