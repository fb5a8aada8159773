/**
 * Idempotency-Key on every mutation, over tRPC (fast path and batches) and REST: replay with the same bytes and
 * `Idempotent-Replayed: true`, mismatch (422), a key still held (409 + Retry-After), expiry, per-user scope,
 * invalid keys, refused and failed calls leaving the key free, and 20 concurrent repeats over two instances.
 */
import { randomUUID } from "node:crypto";
import { createTRPCClient, httpBatchLink } from "@trpc/client";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startKeySweeper } from "../../src/idempotency/sweeper.ts";
import { KEYED } from "../../src/idempotency/trpc.ts";
import { appRouter, type AppRouter } from "../../src/trpc/routers/_app.ts";
import { transformer } from "../../src/trpc/transformer.ts";
import { serverUrl } from "../support/db.ts";
import { startTestServer, testLogger, type TestServer } from "../support/server.ts";

let api: TestServer;
let second: TestServer;
const tokens: Record<string, string> = {};

beforeAll(async () => {
  // The expiry sweep below counts rows: no server's own sweeper may take them first.
  api = await startTestServer({}, undefined, { sweepers: false });
  // Another instance on the same database.
  second = await api.variant({}, { sweepers: false });
  for (const user of ["alice", "bob"]) tokens[user] = await api.token(user);
});
afterAll(async () => {
  await second?.close();
  await api?.close();
});

interface Answer {
  status: number;
  headers: Headers;
  body: string;
}

async function send(
  url: string,
  method: string,
  body: unknown,
  { user = "alice", key }: { user?: string; key?: string } = {},
): Promise<Answer> {
  const headers: Record<string, string> = {
    authorization: `Bearer ${tokens[user]}`,
    "content-type": "application/json",
  };
  if (key !== undefined) headers["idempotency-key"] = key;
  const res = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: res.status, headers: res.headers, body: await res.text() };
}

/** One tRPC mutation over POST (the fast path takes it). */
const mutate = (
  procedure: string,
  input: unknown,
  options: { user?: string; key?: string; server?: TestServer } = {},
) =>
  send(
    `${(options.server ?? api).trpcUrl}/${procedure}`,
    "POST",
    input === undefined ? undefined : { json: transformer.input.serialize(input).json },
    options,
  );

const rest = (method: string, path: string, body: unknown, options: { user?: string; key?: string } = {}) =>
  send(`${api.url}/api${path}`, method, body, options);

const dataOf = (answer: Answer) =>
  transformer.output.deserialize<any>((JSON.parse(answer.body) as { result: { data: never } }).result.data);
const codeOf = (answer: Answer) => {
  const parsed = JSON.parse(answer.body) as { error?: { json: { data: { code: string } } }; code?: string };
  return parsed.error?.json.data.code ?? parsed.code;
};

const todosTitled = async (title: string) => (await api.database.prisma.todo.findMany({ where: { title } })).length;
const keyRows = (userId: string, key: string) =>
  api.database.prisma.idempotencyKey.findMany({ where: { userId, key } });

function expectReplayOf(repeat: Answer, first: Answer) {
  expect(first.headers.get("idempotent-replayed")).toBeNull();
  expect(repeat.status).toBe(first.status);
  expect(repeat.body).toBe(first.body);
  expect(repeat.headers.get("idempotent-replayed")).toBe("true");
}

test("every mutation honours Idempotency-Key", () => {
  const procedures = appRouter._def.procedures as unknown as Record<
    string,
    { _def: { type: string; resolver?: Record<symbol, unknown> } }
  >;
  const mutations = Object.entries(procedures).filter(([, p]) => p._def.type === "mutation");
  expect(mutations.length).toBeGreaterThan(0);
  for (const [name, procedure] of mutations) expect(procedure._def.resolver?.[KEYED], name).toBe(true);
});

test("create: a repeat gets the stored answer, byte for byte, and writes nothing", async () => {
  const key = randomUUID();
  const title = `once ${key}`;
  const first = await mutate("todo.create", { title, dueAt: new Date("2031-02-03T04:05:06.789Z") }, { key });
  expect(first.status).toBe(200);
  const repeat = await mutate("todo.create", { title, dueAt: new Date("2031-02-03T04:05:06.789Z") }, { key });
  expectReplayOf(repeat, first);
  expect(dataOf(repeat).dueAt).toEqual(new Date("2031-02-03T04:05:06.789Z"));
  expect(await todosTitled(title)).toBe(1);
  // On the other instance too.
  expectReplayOf(
    await mutate("todo.create", { title, dueAt: new Date("2031-02-03T04:05:06.789Z") }, { key, server: second }),
    first,
  );
  expect(await todosTitled(title)).toBe(1);
});

test("update, delete, toggleAll and clearCompleted: a repeat does not run again", async () => {
  const todo = dataOf(await mutate("todo.create", { title: `mutations ${randomUUID()}` }));

  const updateKey = randomUUID();
  const updated = await mutate("todo.update", { id: todo.id, title: "renamed" }, { key: updateKey });
  expect(dataOf(updated).version).toBe(2);
  expectReplayOf(await mutate("todo.update", { id: todo.id, title: "renamed" }, { key: updateKey }), updated);
  expect((await api.database.prisma.todo.findUnique({ where: { id: todo.id } }))!.version).toBe(2);

  const toggleKey = randomUUID();
  const toggled = await mutate("todo.toggleAll", { completed: true }, { key: toggleKey });
  expect(dataOf(toggled).count).toBeGreaterThan(0);
  // Run again it would change nothing ({ count: 0 }); replayed it says what the first did.
  expectReplayOf(await mutate("todo.toggleAll", { completed: true }, { key: toggleKey }), toggled);

  const clearKey = randomUUID();
  const cleared = await mutate("todo.clearCompleted", undefined, { key: clearKey });
  expect(dataOf(cleared).count).toBeGreaterThan(0);
  expectReplayOf(await mutate("todo.clearCompleted", undefined, { key: clearKey }), cleared);

  const other = dataOf(await mutate("todo.create", { title: `to delete ${randomUUID()}` }));
  const deleteKey = randomUUID();
  const deleted = await mutate("todo.delete", { id: other.id }, { key: deleteKey });
  expect(deleted.status).toBe(200);
  // Not NOT_FOUND: the stored answer of the delete that happened.
  expectReplayOf(await mutate("todo.delete", { id: other.id }, { key: deleteKey }), deleted);
});

test("the same key with another input or procedure is 422 and writes nothing", async () => {
  const key = randomUUID();
  const title = `first ${key}`;
  expect((await mutate("todo.create", { title }, { key })).status).toBe(200);

  const otherInput = await mutate("todo.create", { title: `second ${key}` }, { key });
  expect(otherInput.status).toBe(422);
  expect(codeOf(otherInput)).toBe("UNPROCESSABLE_CONTENT");
  expect(await todosTitled(`second ${key}`)).toBe(0);

  const otherProcedure = await mutate("todo.toggleAll", { completed: true }, { key });
  expect(otherProcedure.status).toBe(422);
  expect(await api.database.prisma.todo.count({ where: { userId: "alice", completed: true, deletedAt: null } })).toBe(
    0,
  );
  // The stored row is the first request's still.
  expect((await keyRows("alice", key)).map((row) => row.procedure)).toEqual(["todo.create"]);
});

test("inputs that parse the same are the same request, whatever their key order", async () => {
  const key = randomUUID();
  const title = `ordered ${key}`;
  const first = await mutate("todo.create", { title, priority: "HIGH" }, { key });
  const sameParsed = await mutate("todo.create", { priority: "HIGH", title: `  ${title}  `, ignored: 1 }, { key });
  expectReplayOf(sameParsed, first);
});

test("keys belong to the caller: another user's identical key runs separately and learns nothing", async () => {
  const key = randomUUID();
  const aliceAnswer = await mutate("todo.create", { title: `shared key ${key}` }, { key });
  const bobAnswer = await mutate("todo.create", { title: `shared key ${key}` }, { key, user: "bob" });
  expect(bobAnswer.status).toBe(200);
  expect(bobAnswer.headers.get("idempotent-replayed")).toBeNull();
  expect(dataOf(bobAnswer).userId).toBe("bob");
  expect(dataOf(bobAnswer).id).not.toBe(dataOf(aliceAnswer).id);
  // A different input from bob is not a mismatch either: alice's row is invisible to him.
  const bobOther = await mutate("todo.toggleAll", { completed: false }, { key: randomUUID(), user: "bob" });
  expect(bobOther.status).toBe(200);
  expect(await todosTitled(`shared key ${key}`)).toBe(2);
});

test("invalid keys are 400 and write nothing", async () => {
  const title = `invalid key ${randomUUID()}`;
  for (const key of ["", "has space", "x".repeat(256), "tab\there", "caf\u00e9"]) {
    const answer = await mutate("todo.create", { title }, { key });
    expect(answer.status, JSON.stringify(key)).toBe(400);
    expect(JSON.parse(answer.body).error.json.message).toMatch(
      /Idempotency-Key must be 1–255 visible ASCII characters/,
    );
  }
  expect(await todosTitled(title)).toBe(0);
  // Limits: 1 and 255 characters, every visible ASCII character.
  const visible = Array.from({ length: 94 }, (_, i) => String.fromCharCode(0x21 + i)).join("");
  for (const key of ["k", "y".repeat(255), visible])
    expect((await mutate("todo.create", { title }, { key })).status).toBe(200);
});

test("a call refused before it ran, or failed, leaves the key free", async () => {
  const key = randomUUID();
  const invalid = await mutate("todo.create", { title: "" }, { key });
  expect(invalid.status).toBe(400);
  const unauthorized = await send(
    `${api.trpcUrl}/todo.create`,
    "POST",
    { json: { title: "x" } },
    { key, user: "nobody" },
  );
  expect(unauthorized.status).toBe(401);
  expect(await keyRows("alice", key)).toEqual([]);
  // Now it runs: not a mismatch with the refused calls.
  const created = await mutate("todo.create", { title: `after refusal ${key}` }, { key });
  expect(created.status).toBe(200);
  expect(created.headers.get("idempotent-replayed")).toBeNull();

  const missing = "00000000-0000-4000-8000-000000000099";
  const failedKey = randomUUID();
  const notFound = await mutate("todo.update", { id: missing, title: "x" }, { key: failedKey });
  expect(notFound.status).toBe(404);
  expect(await keyRows("alice", failedKey)).toEqual([]);
  // Not stored: the same request runs again, and another one may take the key.
  expect(
    (await mutate("todo.update", { id: missing, title: "x" }, { key: failedKey })).headers.get("idempotent-replayed"),
  ).toBeNull();
  expect((await mutate("todo.create", { title: `after failure ${failedKey}` }, { key: failedKey })).status).toBe(200);
});

test("without a key nothing is stored", async () => {
  const before = await api.database.prisma.idempotencyKey.count();
  const todo = dataOf(await mutate("todo.create", { title: `unkeyed ${randomUUID()}` }));
  await mutate("todo.update", { id: todo.id, completed: true });
  await mutate("todo.clearCompleted", undefined);
  expect(await api.database.prisma.idempotencyKey.count()).toBe(before);
});

test("an expired key is as good as new", async () => {
  const key = randomUUID();
  const title = `expiring ${key}`;
  const first = await mutate("todo.create", { title }, { key });
  expect(dataOf(first).id).toBeDefined();
  await api.database.prisma
    .$executeRaw`UPDATE "IdempotencyKey" SET "expiresAt" = now() - interval '1 second' WHERE "key" = ${key}`;
  const again = await mutate("todo.create", { title }, { key });
  expect(again.status).toBe(200);
  expect(again.headers.get("idempotent-replayed")).toBeNull();
  expect(dataOf(again).id).not.toBe(dataOf(first).id);
  expect(await todosTitled(title)).toBe(2);
  // The key now holds the second result, for a full TTL.
  expectReplayOf(await mutate("todo.create", { title }, { key }), again);
  // Another input on an expired key is no mismatch either.
  await api.database.prisma
    .$executeRaw`UPDATE "IdempotencyKey" SET "expiresAt" = now() - interval '1 second' WHERE "key" = ${key}`;
  expect((await mutate("todo.toggleAll", { completed: false }, { key })).status).toBe(200);
});

test("the key row expires after IDEMPOTENCY_TTL_MS", async () => {
  const key = randomUUID();
  await mutate("todo.create", { title: `ttl ${key}` }, { key });
  const [row] = await keyRows("alice", key);
  const ttl = row!.expiresAt.getTime() - row!.createdAt.getTime();
  expect(Math.abs(ttl - 86_400_000)).toBeLessThan(1000);
});

describe("REST", () => {
  test("POST, PATCH and DELETE replay their stored answer", async () => {
    const key = randomUUID();
    const title = `rest ${key}`;
    const created = await rest("POST", "/todos", { title }, { key });
    expect(created.status).toBe(200);
    expectReplayOf(await rest("POST", "/todos", { title }, { key }), created);
    expect(await todosTitled(title)).toBe(1);
    const { id } = JSON.parse(created.body) as { id: string };

    const patchKey = randomUUID();
    const patched = await rest("PATCH", `/todos/${id}`, { completed: true }, { key: patchKey });
    expectReplayOf(await rest("PATCH", `/todos/${id}`, { completed: true }, { key: patchKey }), patched);
    expect((await api.database.prisma.todo.findUnique({ where: { id } }))!.version).toBe(2);

    const deleteKey = randomUUID();
    const deleted = await rest("DELETE", `/todos/${id}`, undefined, { key: deleteKey });
    expect(deleted.status).toBe(200);
    expectReplayOf(await rest("DELETE", `/todos/${id}`, undefined, { key: deleteKey }), deleted);
  });

  test("mismatch is 422, an invalid key 400, in the REST error shape", async () => {
    const key = randomUUID();
    await rest("POST", "/todos", { title: `rest first ${key}` }, { key });
    const mismatch = await rest("POST", "/todos", { title: `rest second ${key}` }, { key });
    expect(mismatch.status).toBe(422);
    expect(JSON.parse(mismatch.body)).toMatchObject({ code: "UNPROCESSABLE_CONTENT", data: { httpStatus: 422 } });
    const invalid = await rest("POST", "/todos", { title: "x" }, { key: "no spaces allowed" });
    expect(invalid.status).toBe(400);
    expect(JSON.parse(invalid.body)).toMatchObject({ code: "BAD_REQUEST" });
  });

  test("the same key and input over tRPC replays the REST call's result", async () => {
    const key = randomUUID();
    const title = `both surfaces ${key}`;
    const viaRest = JSON.parse((await rest("POST", "/todos", { title }, { key })).body) as { id: string };
    const viaTrpc = await mutate("todo.create", { title }, { key });
    expect(viaTrpc.headers.get("idempotent-replayed")).toBe("true");
    expect(dataOf(viaTrpc).id).toBe(viaRest.id);
  });
});

describe("batches", () => {
  const batchClient = (key: string) =>
    createTRPCClient<AppRouter>({
      links: [
        httpBatchLink({
          url: api.trpcUrl,
          transformer,
          headers: { authorization: `Bearer ${tokens.alice}`, "idempotency-key": key },
        }),
      ],
    });

  test("a batch of several mutations with a key is 400 and writes nothing", async () => {
    const client = batchClient(randomUUID());
    const title = `batched ${randomUUID()}`;
    const results = await Promise.allSettled([
      client.todo.create.mutate({ title }),
      client.todo.create.mutate({ title }),
    ]);
    for (const result of results) {
      expect(result.status).toBe("rejected");
      expect((result as PromiseRejectedResult).reason).toMatchObject({
        data: { code: "BAD_REQUEST", httpStatus: 400 },
      });
    }
    expect(await todosTitled(title)).toBe(0);
  });

  test("a batch of one mutation with a key replays like a single call", async () => {
    const key = randomUUID();
    const title = `batch of one ${key}`;
    const first = await batchClient(key).todo.create.mutate({ title });
    const again = await batchClient(key).todo.create.mutate({ title });
    expect(again).toEqual(first);
    expect(await todosTitled(title)).toBe(1);
  });
});

describe.skipIf(!serverUrl())(
  "concurrency (PostgreSQL: the embedded database serves one transaction at a time)",
  () => {
    test("a repeat while the first still holds the key is 409 with Retry-After, and leaves it free", async () => {
      const key = randomUUID();
      const holder = new pg.Client({ connectionString: api.testDatabase.url });
      await holder.connect();
      try {
        await holder.query("BEGIN");
        await holder.query("SELECT pg_advisory_xact_lock(hashtext($1), hashtext($2))", ["alice", key]);
        const busy = await mutate("todo.create", { title: `busy ${key}` }, { key });
        expect(busy.status).toBe(409);
        expect(codeOf(busy)).toBe("CONFLICT");
        expect(busy.headers.get("retry-after")).toBe("1");
        const busyRest = await rest("POST", "/todos", { title: `busy ${key}` }, { key });
        expect(busyRest.status).toBe(409);
        expect(busyRest.headers.get("retry-after")).toBe("1");
        const busyUpdate = await mutate("todo.toggleAll", { completed: true }, { key });
        expect(busyUpdate.status).toBe(409);
      } finally {
        await holder.query("ROLLBACK");
        await holder.end();
      }
      expect(await todosTitled(`busy ${key}`)).toBe(0);
      expect((await mutate("todo.create", { title: `busy ${key}` }, { key })).status).toBe(200);
    });
  },
);

test("20 concurrent repeats over two instances: one write, every answer 200 with the same id or 409", async () => {
  for (const procedure of ["create", "update"] as const) {
    const key = randomUUID();
    const title = `raced ${procedure} ${key}`;
    const target =
      procedure === "update" ? dataOf(await mutate("todo.create", { title: `to race ${key}` })) : undefined;
    const call = (i: number) =>
      procedure === "create"
        ? mutate("todo.create", { title }, { key, server: i % 2 ? second : api })
        : mutate("todo.update", { id: target.id, title }, { key, server: i % 2 ? second : api });
    const answers = await Promise.all(Array.from({ length: 20 }, (_, i) => call(i)));
    const statuses = answers.map((a) => a.status);
    expect(
      statuses.every((s) => s === 200 || s === 409),
      statuses.join(","),
    ).toBe(true);
    const ok = answers.filter((a) => a.status === 200);
    expect(ok.length).toBeGreaterThan(0);
    expect(new Set(ok.map((a) => a.body)).size).toBe(1);
    for (const busy of answers.filter((a) => a.status === 409)) expect(busy.headers.get("retry-after")).toBe("1");
    if (procedure === "create") expect(await todosTitled(title)).toBe(1);
    else expect((await api.database.prisma.todo.findUnique({ where: { id: target.id } }))!.version).toBe(2);
  }
});

describe("the expiry sweep", () => {
  const insertKeys = async (userId: string, count: number, expired: boolean) => {
    await api.database.prisma.user.upsert({ where: { id: userId }, create: { id: userId }, update: {} });
    await api.database.prisma.$executeRaw`
      INSERT INTO "IdempotencyKey" ("userId", "key", "procedure", "requestHash", "response", "expiresAt")
      SELECT ${userId}, ${expired ? "old" : "live"} || n, 'todo.create', repeat('0', 64), '{"json":null}',
             now() + CASE WHEN ${expired} THEN interval '-1 hour' ELSE interval '1 hour' END
      FROM generate_series(1, ${count}) AS n`;
  };
  const countKeys = (userId: string) => api.database.prisma.idempotencyKey.count({ where: { userId } });

  test("removes expired rows in bounded batches and keeps live ones", async () => {
    await insertKeys("sweep", 250, true);
    await insertKeys("sweep", 3, false);
    const sweeper = startKeySweeper({ db: api.database.prisma, logger: testLogger(), batchSize: 100, maxBatches: 2 });
    try {
      // Two batches of 100 per run at most; the next run takes the rest.
      expect(await sweeper.runOnce()).toBe(200);
      expect(await sweeper.runOnce()).toBeGreaterThanOrEqual(50);
      expect(await countKeys("sweep")).toBe(3);
    } finally {
      sweeper.stop();
    }
  });

  test.skipIf(!serverUrl())("skips a row a running request holds instead of waiting for it", async () => {
    await insertKeys("sweep-held", 5, true);
    const holder = new pg.Client({ connectionString: api.testDatabase.url });
    await holder.connect();
    const sweeper = startKeySweeper({ db: api.database.prisma, logger: testLogger() });
    try {
      await holder.query("BEGIN");
      await holder.query(`SELECT 1 FROM "IdempotencyKey" WHERE "userId" = 'sweep-held' AND "key" = 'old1' FOR UPDATE`);
      const started = Date.now();
      await sweeper.runOnce();
      expect(Date.now() - started).toBeLessThan(2000);
      expect((await keyRows("sweep-held", "old1")).length).toBe(1);
      expect(await countKeys("sweep-held")).toBe(1);
    } finally {
      sweeper.stop();
      await holder.query("ROLLBACK");
      await holder.end();
    }
  });
});
