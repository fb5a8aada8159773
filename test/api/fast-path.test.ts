/**
 * Differential test of the tRPC fast path (src/http/trpc-fast-path.ts): the same generated requests go to an API
 * with it and to one where every request takes tRPC's own handler, each on its own database seeded with the same
 * rows. Status, every response header (but Date) in order, and the body bytes must be identical; values that
 * only a fresh write makes (new ids, timestamps of now) are replaced by placeholders of the same length first.
 * Then the official @trpc/client links, which the fast path must serve like tRPC does.
 */
import http from "node:http";
import { createTRPCClient, httpBatchLink, httpBatchStreamLink, httpLink, type TRPCLink } from "@trpc/client";
import fc from "fast-check";
import pg from "pg";
import { afterAll, beforeAll, expect, test } from "vitest";
import { signToken } from "../../src/auth/tokens.ts";
import type { Database } from "../../src/db/client.ts";
import { createRuntime } from "../../src/runtime.ts";
import { appRouter, type AppRouter } from "../../src/trpc/routers/_app.ts";
import { transformer } from "../../src/trpc/transformer.ts";
import { createTestDatabase, type TestDatabase } from "../support/db.ts";
import { runtimeDatabase, TEST_SECRET, testConfig, testLogger } from "../support/server.ts";

const SEED = 20261202;
const BODY_LIMIT = 4096;

interface Api {
  url: string;
  databaseUrl: string;
  database: Database;
  close(): Promise<void>;
}

async function startApi(fastPath: boolean, env: Record<string, string>): Promise<Api> {
  const testDatabase: TestDatabase = await createTestDatabase({ migrated: true });
  const config = testConfig(testDatabase.url, {
    NODE_ENV: "production",
    PORT: "0",
    HOST: "127.0.0.1",
    BODY_LIMIT_BYTES: String(BODY_LIMIT),
    MAX_BATCH_SIZE: "3",
    // Live updates off: a generated todo.onChange would otherwise open a stream that never ends (it answers 503 here).
    SSE_MAX_STREAMS: "0",
    ...env,
  });
  const runtime = await createRuntime(config, testLogger(), {
    database: runtimeDatabase(testDatabase),
    trpcFastPath: fastPath,
  });
  return {
    url: `http://127.0.0.1:${(await runtime.start()).port}`,
    databaseUrl: testDatabase.url,
    database: runtime.database,
    async close() {
      await runtime.close();
      await testDatabase.close();
    },
  };
}

// The same rows, with the same ids and times, in both databases.
const SEEDED = Array.from({ length: 6 }, (_, i) => ({
  id: `00000000-0000-4000-8000-${String(i + 1).padStart(12, "0")}`,
  userId: i % 2 === 0 ? "alice" : "bob",
  title: `todo ${i}`,
  description: i % 3 === 0 ? null : `details ${i}`,
  priority: (["LOW", "MEDIUM", "HIGH"] as const)[i % 3],
  dueAt: i % 2 === 0 ? new Date(Date.UTC(2030, 0, i + 1)) : null,
  completed: i === 4,
  completedAt: i === 4 ? new Date(Date.UTC(2026, 0, 1)) : null,
  createdAt: new Date(Date.UTC(2026, 0, 1, 0, i)),
  updatedAt: new Date(Date.UTC(2026, 0, 1, 0, i)),
}));

async function seed(api: Api) {
  await api.database.prisma.user.createMany({ data: [{ id: "alice" }, { id: "bob" }] });
  await api.database.prisma.todo.createMany({ data: SEEDED });
}

interface Answer {
  status: number;
  headers: [string, string][];
  body: string;
}

interface WireRequest {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
}

function send(base: string, request: WireRequest): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${base}${request.path}`,
      { method: request.method, headers: request.headers, agent: false },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("end", () => {
          const headers: [string, string][] = [];
          for (let i = 0; i < res.rawHeaders.length; i += 2) {
            const name = res.rawHeaders[i]!.toLowerCase();
            if (name !== "date") headers.push([name, res.rawHeaders[i + 1]!]);
          }
          resolve({ status: res.statusCode!, headers, body: Buffer.concat(chunks).toString("latin1") });
        });
        res.on("error", reject);
      },
    );
    req.on("error", reject);
    if (request.body !== undefined) req.write(request.body);
    req.end();
  });
}

const known = new Set(SEEDED.map((t) => t.id));
const knownTimes = new Set(
  SEEDED.flatMap((t) => [t.dueAt, t.completedAt, t.createdAt, t.updatedAt])
    .filter(Boolean)
    .map((d) => d!.toISOString()),
);
const UUID = /[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}/g;
const ISO = /\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z/g;

/** Ids and instants made by this run's writes, replaced in order of appearance; a request's own values are kept. */
function masked(answer: Answer, request: WireRequest, names: Map<string, string>): Answer {
  const sent = `${request.path} ${request.body ?? ""}`;
  const body = answer.body
    .replace(UUID, (id) => {
      if (known.has(id) || sent.includes(id)) return id;
      if (!names.has(id)) names.set(id, `new-${String(names.size).padStart(4, "0")}`.padEnd(36, "-"));
      return names.get(id)!;
    })
    .replace(ISO, (time) => (knownTimes.has(time) || sent.includes(time) ? time : "<now>".padEnd(24, "-")))
    // A sync cursor names the database's position and the time it was handed out: the same length, other digits.
    .replace(
      /"cursor":"[0-9a-z]+\.[0-9a-z]+\.[0-9a-z]+"/g,
      (cursor) => `"cursor":"${"<position>".padEnd(cursor.length - 12, "-")}"`,
    );
  return { ...answer, body };
}

// --- Generated requests

const tokens: Record<string, string> = {};
const PROCEDURES = Object.keys(appRouter._def.procedures);

const anyId = fc.constantFrom(...SEEDED.map((t) => t.id), "00000000-0000-4000-8000-000000000099", "not-a-uuid", "");
const inputs: Record<string, fc.Arbitrary<unknown>> = {
  me: fc.constant(undefined),
  "todo.list": fc.record(
    {
      status: fc.constantFrom("all", "active", "completed", "bogus"),
      orderBy: fc.constantFrom("createdAt", "dueAt", "priority", "title", "nope"),
      order: fc.constantFrom("asc", "desc"),
      limit: fc.oneof(fc.integer({ min: 0, max: 120 }), fc.constant("5")),
      search: fc.string({ maxLength: 8 }),
      cursor: fc.constantFrom("garbage", null),
    },
    { requiredKeys: [] },
  ),
  "todo.stats": fc.constant(undefined),
  "todo.byId": fc.oneof(fc.record({ id: anyId }), fc.constant({}), fc.constant(null)),
  "todo.create": fc.oneof(
    fc.record(
      {
        title: fc.oneof(
          fc.string({ minLength: 1, maxLength: 20 }),
          fc.constant(""),
          fc.constant("x".repeat(201)),
          fc.constant("a\u0000b"),
        ),
        description: fc.string({ maxLength: 20 }),
        priority: fc.constantFrom("LOW", "HIGH", "urgent"),
        dueAt: fc.constantFrom("2031-05-01T10:00:00.000Z", "not a date"),
      },
      { requiredKeys: ["title"] },
    ),
    fc.constant({ title: "y".repeat(BODY_LIMIT) }),
  ),
  "todo.update": fc.record(
    {
      id: anyId,
      title: fc.string({ minLength: 1, maxLength: 20 }),
      completed: fc.boolean(),
      expectedVersion: fc.integer({ min: 0, max: 3 }),
    },
    { requiredKeys: ["id"] },
  ),
  "todo.delete": fc.record({ id: anyId }),
  "todo.restore": fc.record({ id: anyId }),
  "todo.sync": fc.record(
    {
      after: fc.constantFrom("garbage", null, "1.1.1"),
      limit: fc.oneof(fc.integer({ min: 0, max: 1001 }), fc.constant("5")),
    },
    { requiredKeys: [] },
  ),
  "todo.toggleAll": fc.record({ completed: fc.oneof(fc.boolean(), fc.constant("yes")) }),
  "todo.clearCompleted": fc.constant(undefined),
};

const wrap = (input: unknown, plain: boolean) => (input === undefined ? undefined : plain ? input : { json: input });

const often = <T>(usual: T, ...rare: T[]) =>
  fc.oneof({ weight: 6, arbitrary: fc.constant(usual) }, { weight: 1, arbitrary: fc.constantFrom(...rare) });
const TYPES = appRouter._def.procedures as unknown as Record<string, { _def: { type: string } }>;

// Mostly requests the fast path takes (the right method, JSON, no streaming), the rest of every kind it must refuse.
const requestArb: fc.Arbitrary<WireRequest> = fc
  .record({
    procedure: fc.oneof(
      { weight: 8, arbitrary: fc.constantFrom(...PROCEDURES) },
      { weight: 1, arbitrary: fc.constantFrom("todo.nope", "todo", "todo.list,todo.stats", "%74odo.stats", "") },
    ),
    method: often<string | undefined>(undefined, "GET", "POST", "PUT", "HEAD", "PATCH", "DELETE"),
    user: fc.oneof(
      { weight: 4, arbitrary: fc.constantFrom("alice", "bob") },
      { weight: 1, arbitrary: fc.constantFrom("forged", "none", "malformed") },
    ),
    form: often("json", "plain", "garbage", "empty", "batch", "twice", "extra", "connectionParams"),
    contentType: often<string | undefined>(
      "application/json",
      "Application/JSON; charset=utf-8",
      undefined,
      "text/plain",
      "multipart/form-data",
    ),
    accept: often<string | undefined>(undefined, "trpc-accept", "accept-jsonl"),
    host: often<string | undefined>(undefined, "example.com:8080", "bad host"),
    // Repeats of a few keys: replays (Idempotent-Replayed), mismatches (422), invalid keys (400).
    idempotencyKey: often<string | undefined>(undefined, "key-1", "key-2", "key-3", "bad key", ""),
  })
  // undefined: the method that matches the procedure's type.
  .map((r) => ({ ...r, method: r.method ?? (TYPES[r.procedure]?._def.type === "mutation" ? "POST" : "GET") }))
  .chain((r) => (inputs[r.procedure] ?? fc.constant({ json: 1 })).map((input) => ({ ...r, input })))
  .map(({ procedure, method, user, form, contentType, accept, host, idempotencyKey, input }) => {
    const headers: Record<string, string> = { "x-request-id": "differential" };
    if (idempotencyKey !== undefined) headers["idempotency-key"] = idempotencyKey;
    if (user === "alice" || user === "bob") headers.authorization = `Bearer ${tokens[user]}`;
    if (user === "forged") headers.authorization = `Bearer ${tokens.alice!.slice(0, -3)}abc`;
    if (user === "malformed") headers.authorization = "Bearer";
    if (accept === "trpc-accept") headers["trpc-accept"] = "application/jsonl";
    if (accept === "accept-jsonl") headers.accept = "application/jsonl, */*";
    if (host) headers.host = host;
    const payload = wrap(input, form === "plain");
    const text =
      form === "garbage" ? '{"json": ' : form === "empty" || payload === undefined ? "" : JSON.stringify(payload);
    let query = "";
    if (method !== "POST" && text) query = `?input=${encodeURIComponent(text)}`;
    if (form === "batch") query = `?batch=1&input=${encodeURIComponent(JSON.stringify({ 0: payload }))}`;
    if (form === "twice") query = `?input=${encodeURIComponent(text)}&input=x`;
    if (form === "extra") query += `${query ? "&" : "?"}foo=1`;
    if (form === "connectionParams") query += `${query ? "&" : "?"}connectionParams=${encodeURIComponent("{bad")}`;
    const request: WireRequest = { method, path: `/trpc/${procedure}${query}`, headers };
    if (method !== "GET" && method !== "HEAD") {
      if (contentType) headers["content-type"] = contentType;
      request.body = form === "batch" ? JSON.stringify({ 0: payload }) : text;
    } else if (contentType && contentType !== "application/json") {
      headers["content-type"] = contentType;
    }
    return request;
  });

let fast: Api;
let stock: Api;
let limitedFast: Api;
let limitedStock: Api;
let slowFast: Api;
let slowStock: Api;

beforeAll(async () => {
  tokens.alice = await signToken(TEST_SECRET, { sub: "alice" });
  tokens.bob = await signToken(TEST_SECRET, { sub: "bob" });
  [fast, stock] = await Promise.all([startApi(true, {}), startApi(false, {})]);
  [limitedFast, limitedStock] = await Promise.all([
    startApi(true, { RATE_LIMIT_PER_USER: "3", RATE_LIMIT_WINDOW_MS: "600000" }),
    startApi(false, { RATE_LIMIT_PER_USER: "3", RATE_LIMIT_WINDOW_MS: "600000" }),
  ]);
  [slowFast, slowStock] = await Promise.all([
    startApi(true, { REQUEST_TIMEOUT_MS: "1000" }),
    startApi(false, { REQUEST_TIMEOUT_MS: "1000" }),
  ]);
  await Promise.all([fast, stock, limitedFast, limitedStock, slowFast, slowStock].map(seed));
});

afterAll(async () => {
  await Promise.all([fast, stock, limitedFast, limitedStock, slowFast, slowStock].map((api) => api?.close()));
});

async function expectSameAnswers(requests: WireRequest[], a: Api, b: Api): Promise<Answer[]> {
  const names = [new Map<string, string>(), new Map<string, string>()] as const;
  const answers: Answer[] = [];
  for (const request of requests) {
    // One at a time, the same order on both: the databases stay identical.
    const fromFast = masked(await send(a.url, request), request, names[0]);
    const fromStock = masked(await send(b.url, request), request, names[1]);
    expect(
      fromFast,
      `${request.method} ${request.path} ${JSON.stringify(request.headers)} ${request.body ?? ""}`,
    ).toEqual(fromStock);
    answers.push(fromFast);
  }
  return answers;
}

test("generated requests get the same status, headers and body from the fast path and from tRPC's handler", async () => {
  const alice = {
    authorization: `Bearer ${tokens.alice}`,
    "content-type": "application/json",
    "x-request-id": "fixed",
  };
  const fixed: WireRequest[] = [
    {
      method: "POST",
      path: "/trpc/todo.update",
      headers: alice,
      body: JSON.stringify({ json: { id: SEEDED[0]!.id, title: "t", expectedVersion: 99 } }),
    },
    { method: "POST", path: "/trpc/todo.byId", headers: alice, body: JSON.stringify({ json: { id: SEEDED[0]!.id } }) },
    { method: "GET", path: "/trpc/todo.create", headers: alice },
  ];
  // Idempotency-Key: a replay, a mismatch, an invalid key, a batch of two mutations with a key.
  const keyed = (key: string) => ({ ...alice, "idempotency-key": key });
  const create = (key: string, title: string): WireRequest => ({
    method: "POST",
    path: "/trpc/todo.create",
    headers: keyed(key),
    body: JSON.stringify({ json: { title } }),
  });
  const update: WireRequest = {
    method: "POST",
    path: "/trpc/todo.update",
    headers: keyed("fixed-2"),
    body: JSON.stringify({ json: { id: SEEDED[0]!.id, completed: true } }),
  };
  const batch = JSON.stringify({ 0: { json: { title: "b" } }, 1: { json: { title: "c" } } });
  fixed.push(
    create("fixed-1", "keyed"),
    create("fixed-1", "keyed"),
    create("fixed-1", "other"),
    update,
    update,
    create("bad key", "x"),
  );
  fixed.push({ method: "POST", path: "/trpc/todo.create,todo.create?batch=1", headers: keyed("fixed-3"), body: batch });
  const requests = [...fixed, ...fc.sample(requestArb, { seed: SEED, numRuns: 600 })];
  const answers = await expectSameAnswers(requests, fast, stock);
  // The keyed requests met every outcome: replays, mismatches, invalid keys.
  expect(answers.filter((a) => a.headers.some(([name]) => name === "idempotent-replayed")).length).toBeGreaterThan(0);
  expect(answers.filter((a) => a.status === 422).length).toBeGreaterThan(0);
  // Both databases went through the same writes.
  const rows = (api: Api) =>
    api.database.prisma.todo.findMany({
      orderBy: [{ userId: "asc" }, { title: "asc" }, { version: "asc" }],
      select: { userId: true, title: true, completed: true, version: true, priority: true },
    });
  expect(await rows(fast)).toEqual(await rows(stock));
});

test("rate-limited calls: the same 429, body and Retry-After", async () => {
  const requests: WireRequest[] = [];
  for (let i = 0; i < 5; i++) {
    requests.push({
      method: "GET",
      path: "/trpc/todo.stats",
      headers: { authorization: `Bearer ${tokens.alice}`, "x-request-id": "r" },
    });
    requests.push({
      method: "POST",
      path: "/trpc/todo.create",
      headers: { authorization: `Bearer ${tokens.bob}`, "content-type": "application/json", "x-request-id": "r" },
      body: JSON.stringify({ json: { title: `limited ${i}` } }),
    });
  }
  await expectSameAnswers(requests, limitedFast, limitedStock);
  const last = await send(limitedFast.url, requests[0]!);
  expect(last.status).toBe(429);
  expect(last.headers.find(([name]) => name === "retry-after")?.[1]).toMatch(/^\d+$/);
});

test("a call that outlives REQUEST_TIMEOUT_MS: the same 503 from both", async () => {
  const request: WireRequest = {
    method: "POST",
    path: "/trpc/todo.create",
    headers: { authorization: `Bearer ${tokens.bob}`, "content-type": "application/json", "x-request-id": "slow" },
    body: JSON.stringify({ json: { title: "waits for the lock" } }),
  };
  const locks = await Promise.all(
    [slowFast, slowStock].map(async (api) => {
      const client = new pg.Client({ connectionString: api.databaseUrl });
      await client.connect();
      await client.query('BEGIN; LOCK TABLE "Todo"');
      return client;
    }),
  );
  try {
    const [a, b] = await Promise.all([send(slowFast.url, request), send(slowStock.url, request)]);
    expect(a.status).toBe(503);
    expect(a).toEqual(b);
  } finally {
    await Promise.all(
      locks.map(async (client) => {
        await client.query("ROLLBACK");
        await client.end();
      }),
    );
  }
});

test("the official client links work through the fast path", async () => {
  const links: [string, (url: string) => TRPCLink<AppRouter>][] = [
    ["httpLink", (url) => httpLink({ url, transformer, headers: { authorization: `Bearer ${tokens.alice}` } })],
    [
      "httpLink (POST queries)",
      (url) =>
        httpLink({ url, transformer, methodOverride: "POST", headers: { authorization: `Bearer ${tokens.alice}` } }),
    ],
    [
      "httpBatchLink",
      (url) => httpBatchLink({ url, transformer, headers: { authorization: `Bearer ${tokens.alice}` } }),
    ],
    [
      "httpBatchStreamLink",
      (url) => httpBatchStreamLink({ url, transformer, headers: { authorization: `Bearer ${tokens.alice}` } }),
    ],
  ];
  for (const [name, link] of links) {
    const client = createTRPCClient<AppRouter>({ links: [link(`${fast.url}/trpc`)] });
    const created = await client.todo.create.mutate({ title: `via ${name}`, dueAt: new Date("2031-01-01T00:00:00Z") });
    expect(created.dueAt, name).toEqual(new Date("2031-01-01T00:00:00Z"));
    const [byId, stats, me] = await Promise.all([
      client.todo.byId.query({ id: created.id }),
      client.todo.stats.query(),
      client.me.query(),
    ]);
    expect(byId, name).toEqual(created);
    expect(stats.total, name).toBeGreaterThan(0);
    expect(me.id, name).toBe("alice");
    await expect(client.todo.byId.query({ id: "00000000-0000-4000-8000-000000000099" }), name).rejects.toMatchObject({
      data: { code: "NOT_FOUND", httpStatus: 404 },
    });
    await expect(client.todo.create.mutate({ title: "" }), name).rejects.toMatchObject({
      data: { code: "BAD_REQUEST" },
    });
  }
});
