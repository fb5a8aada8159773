/**
 * Fairness: one user's calls hold at most DB_USER_CONCURRENCY pool connections; the rest wait in a bounded FIFO
 * queue (DB_USER_QUEUE_MAX) or get 429 with Retry-After; another user is not held up. Search uses the trigram
 * indexes. The slot tests hold a row lock from a second session, so a call of the user blocks for as long as the
 * test wants: on PostgreSQL only (the embedded database serves every connection from one session, where a lock
 * never blocks another connection).
 */
import pg from "pg";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { serverUrl } from "../support/db.ts";
import { codeOf, errorOf } from "../support/errors.ts";
import { startTestServer, type Client, type TestServer } from "../support/server.ts";

const SEEDED = 5_000;

async function until(check: () => Promise<boolean>, what: string, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

async function session(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  return client;
}

/** A Prometheus sample of /metrics (0 when absent). */
async function metric(api: TestServer, sample: string): Promise<number> {
  const text = await (await fetch(`${api.url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${sample} `));
  return line ? Number(line.slice(sample.length + 1)) : 0;
}

/** `count` todos for `userId` in one statement (the user must exist: any call of theirs creates the row). */
async function seed(url: string, userId: string, count: number): Promise<void> {
  const db = await session(url);
  try {
    await db.query(
      `INSERT INTO "Todo" ("id", "userId", "title", "description", "updatedAt")
       SELECT gen_random_uuid(), $1, 'Seeded todo ' || g || ' ' || md5(g::text), CASE WHEN g % 3 = 0 THEN 'notes ' || md5((g * 7)::text) END, now()
       FROM generate_series(1, $2::int) AS g`,
      [userId, count],
    );
    await db.query(`ANALYZE "Todo"`);
  } finally {
    await db.end();
  }
}

describe("noisy neighbour", () => {
  let api: TestServer;
  let alice: Client;
  let bob: Client;
  beforeAll(async () => {
    api = await startTestServer({ DB_POOL_MAX: "8", DB_USER_CONCURRENCY: "2", DB_USER_QUEUE_MAX: "8" });
    alice = await api.clientUnbatched("alice");
    bob = await api.clientUnbatched("bob");
    await alice.todo.list.query();
    await seed(api.testDatabase.directUrl, "alice", SEEDED);
  });
  afterAll(async () => {
    await api?.close();
  });

  test("while one user floods with searches, another user's byId calls all succeed; the flood's calls run or get 429", async () => {
    const mine = await bob.todo.create.mutate({ title: "bob's own" });
    let flooding = true;
    const flood = Promise.all(
      Array.from({ length: 32 }, async (_, i) => {
        const outcomes: string[] = [];
        while (flooding) {
          outcomes.push((await codeOf(alice.todo.list.query({ search: `zz${i}q` }))) ?? "none");
          // A refused call comes back at once: a short pause keeps the flood from being mostly 429 round trips.
          if (outcomes.at(-1) === "TOO_MANY_REQUESTS") await new Promise((resolve) => setTimeout(resolve, 10));
        }
        return outcomes;
      }),
    );
    try {
      for (let i = 0; i < 10; i++)
        expect(await bob.todo.byId.query({ id: mine.id })).toMatchObject({ id: mine.id, title: "bob's own" });
    } finally {
      flooding = false;
    }
    const outcomes = (await flood).flat();
    // Each of Alice's calls ran (and found nothing) or was refused for her own load, never anything else.
    for (const outcome of outcomes) expect(["OK", "TOO_MANY_REQUESTS"]).toContain(outcome);
    expect(await alice.todo.list.query({ search: "seeded todo 4999 " })).toMatchObject({
      items: [{ title: expect.stringMatching(/^Seeded todo 4999 /) }],
    });
    expect(await metric(api, "db_user_slot_waiting")).toBe(0);
  });

  test("the trigram indexes serve a search (ILIKE on title or description) for one user", async () => {
    const db = await session(api.testDatabase.directUrl);
    try {
      // With these 5,000 rows the planner rightly reads all of Alice's rows (bench/README.md shows it choosing the
      // trigram indexes at 100,000). Here the other ways are taken away, inside a transaction that is rolled back:
      // no sequential scan, no btree on "userId". What is left must be the trigram indexes, not a scan of everything.
      await db.query("BEGIN");
      await db.query("SET LOCAL enable_seqscan = off");
      const { rows } = await db.query<{ name: string }>(
        `SELECT indexname AS name FROM pg_indexes WHERE tablename = 'Todo' AND indexdef LIKE '%("userId"%'`,
      );
      for (const { name } of rows) await db.query(`DROP INDEX "${name}"`);
      const plan = await db.query(
        `EXPLAIN SELECT * FROM "Todo" WHERE "userId" = 'alice' AND ("title" ILIKE '%zzqx%' OR "description" ILIKE '%zzqx%')
         ORDER BY "createdAt" DESC, "id" DESC LIMIT 21`,
      );
      const text = plan.rows.map((row) => row["QUERY PLAN"]).join("\n");
      expect(text).toContain('Bitmap Index Scan on "Todo_title_trgm_idx"');
      expect(text).toContain('Bitmap Index Scan on "Todo_description_trgm_idx"');
      expect(text).not.toContain("Seq Scan");
    } finally {
      await db.query("ROLLBACK");
      await db.end();
    }
  });

  test("a search holds up to 200 characters; longer is BAD_REQUEST; the OpenAPI document says so", async () => {
    expect(await alice.todo.list.query({ search: "😀".repeat(200) })).toEqual({ items: [], nextCursor: null });
    const error = await errorOf(alice.todo.list.query({ search: "x".repeat(201) }));
    expect(error.data?.code).toBe("BAD_REQUEST");
    expect(error.data?.zodError?.fieldErrors.search).toEqual(["Search must be at most 200 characters"]);
    const document = (await (await fetch(`${api.url}/api/openapi.json`)).json()) as {
      paths: Record<string, { get: { parameters: { name: string; schema: { description?: string } }[] } }>;
    };
    const search = document.paths["/todos"]!.get.parameters.find((p) => p.name === "search")!;
    expect(JSON.stringify(search)).toContain("up to 200 characters");
  });
});

describe.runIf(serverUrl())("per-user slots, observed with a row lock", () => {
  const CONCURRENCY = 2;
  const QUEUE = 2;
  let api: TestServer;
  let locker: pg.Client;
  let watcher: pg.Client;
  beforeAll(async () => {
    api = await startTestServer({
      DB_POOL_MAX: "8",
      DB_USER_CONCURRENCY: String(CONCURRENCY),
      DB_USER_QUEUE_MAX: String(QUEUE),
      // The blocked statements wait as long as the test holds the lock.
      DB_STATEMENT_TIMEOUT_MS: "0",
    });
    locker = await session(api.testDatabase.directUrl);
    watcher = await session(api.testDatabase.directUrl);
  });
  afterAll(async () => {
    await locker?.end();
    await watcher?.end();
    await api?.close();
  });

  /** The API's statements waiting on a lock. */
  const blocked = async () =>
    Number(
      (
        await watcher.query(
          `SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'`,
        )
      ).rows[0].n,
    );
  const waiting = () => metric(api, "db_user_slot_waiting");

  async function lockRow(id: string) {
    await locker.query("BEGIN");
    await locker.query(`SELECT 1 FROM "Todo" WHERE "id" = $1 FOR UPDATE`, [id]);
  }

  test("a user's calls hold at most DB_USER_CONCURRENCY connections, wait in order, and past the queue get 429 with Retry-After", async () => {
    const alice = await api.clientUnbatched("alice");
    const bob = await api.clientUnbatched("bob");
    const locked = await alice.todo.create.mutate({ title: "locked" });
    const free = await alice.todo.create.mutate({ title: "free" });
    const bobs = await bob.todo.create.mutate({ title: "bob's" });
    await lockRow(locked.id);
    try {
      // Four updates of the locked row: two take Alice's slots and block in the database, two wait for a slot.
      const stuck = Array.from({ length: CONCURRENCY + QUEUE }, (_, i) =>
        alice.todo.update.mutate({ id: locked.id, title: `stuck ${i}` }),
      );
      await until(
        async () => (await blocked()) === CONCURRENCY && (await waiting()) === QUEUE,
        "two blocked, two queued",
      );

      // The queue is full: one more call of Alice's is refused at once, with Retry-After, over tRPC and REST.
      const headers = { authorization: `Bearer ${await api.token("alice")}` };
      const input = encodeURIComponent(JSON.stringify({ json: { id: free.id } }));
      const refused = await fetch(`${api.trpcUrl}/todo.byId?input=${input}`, { headers });
      expect(refused.status).toBe(429);
      expect(refused.headers.get("retry-after")).toBe("1");
      const rest = await fetch(`${api.url}/api/todos/${free.id}`, { headers });
      expect(rest.status).toBe(429);
      expect(rest.headers.get("retry-after")).toBe("1");
      expect(((await rest.json()) as { code?: string; data?: { code?: string } }).data?.code ?? "").toBe(
        "TOO_MANY_REQUESTS",
      );

      // Bob is not held up, and Alice never has more than her slots in the database.
      expect(await bob.todo.byId.query({ id: bobs.id })).toMatchObject({ title: "bob's" });
      expect(await blocked()).toBe(CONCURRENCY);
      expect(await waiting()).toBe(QUEUE);

      await locker.query("COMMIT");
      const versions = (await Promise.all(stuck)).map((todo) => todo.version).sort();
      expect(versions).toEqual([2, 3, 4, 5]);
      expect(await waiting()).toBe(0);
      expect(await metric(api, 'db_user_slot_waits_total{outcome="refused"}')).toBe(2);
    } finally {
      await locker.query("ROLLBACK").catch(() => {});
    }
  });

  test("the queue is first in, first out", async () => {
    const variant = await api.variant({
      DB_POOL_MAX: "8",
      DB_USER_CONCURRENCY: "1",
      DB_USER_QUEUE_MAX: "3",
      DB_STATEMENT_TIMEOUT_MS: "0",
    });
    try {
      const alice = await variant.clientUnbatched("alice");
      const locked = await alice.todo.create.mutate({ title: "locked" });
      const target = await alice.todo.create.mutate({ title: "target" });
      await lockRow(locked.id);
      const holder = alice.todo.update.mutate({ id: locked.id, title: "holder" });
      await until(async () => (await blocked()) === 1, "the slot holder blocked");
      // Queued one at a time, so the order they joined the queue is known; each update bumps the version.
      const queued = [];
      for (let i = 0; i < 3; i++) {
        queued.push(alice.todo.update.mutate({ id: target.id, title: `queued ${i}` }));
        await until(async () => (await metric(variant, "db_user_slot_waiting")) === i + 1, `call ${i} queued`);
      }
      await locker.query("COMMIT");
      await holder;
      expect((await Promise.all(queued)).map((todo) => [todo.title, todo.version])).toEqual([
        ["queued 0", 2],
        ["queued 1", 3],
        ["queued 2", 4],
      ]);
    } finally {
      await locker.query("ROLLBACK").catch(() => {});
      await variant.close();
    }
  });

  test("a call whose client goes away while it waits leaves the queue, over tRPC (one call or a batch) and REST", async () => {
    const variant = await api.variant({
      DB_POOL_MAX: "8",
      DB_USER_CONCURRENCY: "1",
      DB_USER_QUEUE_MAX: "1",
      DB_STATEMENT_TIMEOUT_MS: "0",
    });
    try {
      const alice = await variant.clientUnbatched("alice");
      const locked = await alice.todo.create.mutate({ title: "locked" });
      await lockRow(locked.id);
      const holder = alice.todo.update.mutate({ id: locked.id, title: "holder" });
      await until(async () => (await blocked()) === 1, "the slot holder blocked");
      const headers = { authorization: `Bearer ${await variant.token("alice")}` };
      const input = encodeURIComponent(JSON.stringify({ json: { id: locked.id } }));
      const batchInput = encodeURIComponent(JSON.stringify({ 0: { json: { id: locked.id } } }));
      const urls = [
        `${variant.trpcUrl}/todo.byId?input=${input}`,
        `${variant.trpcUrl}/todo.byId?batch=1&input=${batchInput}`,
        `${variant.url}/api/todos/${locked.id}`,
      ];
      for (const [i, url] of urls.entries()) {
        const controller = new AbortController();
        const call = fetch(url, { headers, signal: controller.signal }).catch((error: Error) => error.name);
        await until(async () => (await metric(variant, "db_user_slot_waiting")) === 1, `${url} queued`);
        controller.abort();
        expect(await call).toBe("AbortError");
        await until(async () => (await metric(variant, "db_user_slot_waiting")) === 0, `${url} left the queue`);
        expect(await metric(variant, 'db_user_slot_waits_total{outcome="abandoned"}')).toBe(i + 1);
      }
      await locker.query("COMMIT");
      expect(await holder).toMatchObject({ title: "holder" });
      expect(await alice.todo.byId.query({ id: locked.id })).toMatchObject({ title: "holder" });
    } finally {
      await locker.query("ROLLBACK").catch(() => {});
      await variant.close();
    }
  });

  test("a call still waiting at its deadline (REQUEST_TIMEOUT_MS) is answered 503 and leaves the queue", async () => {
    const variant = await api.variant({
      DB_POOL_MAX: "8",
      DB_USER_CONCURRENCY: "1",
      DB_USER_QUEUE_MAX: "1",
      DB_STATEMENT_TIMEOUT_MS: "0",
      REQUEST_TIMEOUT_MS: "2000",
    });
    try {
      const alice = await variant.clientUnbatched("alice");
      const locked = await alice.todo.create.mutate({ title: "locked" });
      await lockRow(locked.id);
      const holder = codeOf(alice.todo.update.mutate({ id: locked.id, title: "holder" }));
      await until(async () => (await blocked()) === 1, "the slot holder blocked");
      const late = await errorOf(alice.todo.byId.query({ id: locked.id }));
      expect(late.data?.code).toBe("SERVICE_UNAVAILABLE");
      expect(await metric(variant, "db_user_slot_waiting")).toBe(0);
      expect(await metric(variant, 'db_user_slot_waits_total{outcome="abandoned"}')).toBe(1);
      // Its place is free: the next call queues (not 429) behind the holder, still blocked in the database.
      const next = alice.todo.byId.query({ id: locked.id });
      await until(async () => (await metric(variant, "db_user_slot_waiting")) === 1, "the next call queued");
      expect(await holder).toBe("SERVICE_UNAVAILABLE"); // its own deadline answered; its statement still runs
      await locker.query("COMMIT");
      // Once the holder's statement ends, its slot is free and the queued call runs.
      expect(await next).toMatchObject({ id: locked.id });
    } finally {
      await locker.query("ROLLBACK").catch(() => {});
      await variant.close();
    }
  });
});
