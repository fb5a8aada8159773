/**
 * todo.onChange over real HTTP with tRPC's httpSubscriptionLink (and raw SSE where the wire matters), fed by
 * the database's NOTIFY through the API's own LISTEN session.
 */
import fc from "fast-check";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, inject, it } from "vitest";
import type { TodoChange } from "../../src/live/events.ts";
import { createChangeFeed } from "../../src/live/feed.ts";
import { serverUrl, withDatabase } from "../support/db.ts";
import { liveClient, liveClientOf, subscribe, type Received, type Subscription } from "../support/live.ts";
import { startTestServer, testLogger, type TestServer } from "../support/server.ts";

let api: TestServer;
beforeAll(async () => {
  api = await startTestServer();
});
afterAll(() => api?.close());

const bearer = async (server: TestServer, user: string) => `Bearer ${await server.token(user)}`;
const client = (user: string, server = api) => liveClientOf(server, user);
const types = (events: Received[]) => events.map((e) => e.data.type);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const subs: Subscription[] = [];
const open = async (c: Awaited<ReturnType<typeof client>>, lastEventId?: string | null) => {
  const sub = subscribe(c, lastEventId);
  subs.push(sub);
  await sub.started;
  return sub;
};
afterAll(() => subs.forEach((s) => s.unsubscribe()));

/** The raw SSE text of one stream until `until` holds (or `ms` pass), then the stream is dropped. */
async function rawStream(
  server: TestServer,
  user: string | undefined,
  until: (text: string) => boolean,
  ms = 5_000,
  query = "",
) {
  const controller = new AbortController();
  const response = await fetch(`${server.trpcUrl}/todo.onChange${query}`, {
    headers: user ? { authorization: await bearer(server, user) } : {},
    signal: controller.signal,
  });
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let text = "";
  let ended = false;
  const timer = setTimeout(() => controller.abort(), ms);
  try {
    while (!until(text)) {
      const { done, value } = await reader.read();
      if (done) {
        ended = true;
        break;
      }
      text += decoder.decode(value, { stream: true });
    }
  } catch {
    // aborted after `ms`
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
  return { status: response.status, headers: response.headers, text, ended };
}

describe("todo.onChange", () => {
  it("streams the caller's creates, updates and deletes, each tracked, from tRPC and REST", async () => {
    const alice = await client("live-alice");
    const sub = await open(alice);
    const todo = await alice.todo.create.mutate({ title: "one" });
    await sub.waitFor(1);
    const updated = await alice.todo.update.mutate({ id: todo.id, completed: true, expectedVersion: 1 });
    await sub.waitFor(2);
    const rest = await fetch(`${api.url}/api/todos`, {
      method: "POST",
      headers: { authorization: await bearer(api, "live-alice"), "content-type": "application/json" },
      body: JSON.stringify({ title: "by REST" }),
    });
    const restTodo = (await rest.json()) as { id: string };
    await sub.waitFor(3);
    await alice.todo.delete.mutate({ id: todo.id });

    const events = await sub.waitFor(4);
    expect(events.map((e) => e.data)).toEqual([
      { type: "created", todo },
      { type: "updated", todo: updated },
      { type: "created", todo: expect.objectContaining({ id: restTodo.id, title: "by REST" }) },
      { type: "deleted", id: todo.id },
    ]);
    // Dates arrive as Dates (the transformer); ids are distinct and increase within the session.
    expect((events[0]!.data as { todo: { createdAt: unknown } }).todo.createdAt).toBeInstanceOf(Date);
    const seqs = events.map((e) => Number(e.id.split(".")[1]));
    expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
    expect(new Set(events.map((e) => e.id)).size).toBe(4);
  });

  it("converges on the final state when writes come faster than rows are read", async () => {
    const ann = await client("live-ann");
    const sub = await open(ann);
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const todo = await ann.todo.create.mutate({ title: `fast ${i}` });
      ids.push(todo.id);
      await ann.todo.update.mutate({ id: todo.id, title: `fast ${i} v2` });
      await ann.todo.update.mutate({ id: todo.id, completed: true });
      if (i % 2 === 0) await ann.todo.delete.mutate({ id: todo.id });
    }
    const last = await ann.todo.create.mutate({ title: "last" });
    await expect.poll(() => sub.events.some((e) => e.data.type === "created" && e.data.todo.id === last.id)).toBe(true);
    // Each event carries the row as read when it is sent: never older than its change, perhaps newer.
    // A row deleted before it was read has no created/updated event, only its `deleted`.
    const shown = new Map<string, { version: number } | null>();
    for (const { data } of sub.events) {
      if (data.type === "deleted") shown.set(data.id, null);
      else if (data.type !== "changed") {
        expect(data.todo.version).toBeGreaterThanOrEqual(shown.get(data.todo.id)?.version ?? 0);
        shown.set(data.todo.id, data.todo);
      }
    }
    ids.forEach((id, i) => {
      if (i % 2 === 0) expect(shown.get(id)).toBeNull();
      else expect(shown.get(id)).toMatchObject({ version: 3, completed: true, title: `fast ${i} v2` });
    });
  });

  it("sends every row a statement changes (toggleAll, clearCompleted), each in its latest state, never `changed`", async () => {
    const bob = await client("live-bob");
    const a = await bob.todo.create.mutate({ title: "a" });
    const b = await bob.todo.create.mutate({ title: "b" });
    const sub = await open(bob);
    await bob.todo.toggleAll.mutate({ completed: true });
    await bob.todo.clearCompleted.mutate();
    // A statement that changes nothing sends nothing: the next event is the create.
    await bob.todo.clearCompleted.mutate();
    const c = await bob.todo.create.mutate({ title: "c" });
    await expect.poll(() => sub.events.some((e) => e.data.type === "created" && e.data.todo.id === c.id)).toBe(true);
    expect(types(sub.events)).not.toContain("changed");
    const last = new Map<string, string>();
    for (const e of sub.events)
      last.set(e.data.type === "deleted" ? e.data.id : (e.data as { todo: { id: string } }).todo.id, e.data.type);
    expect([last.get(a.id), last.get(b.id), last.get(c.id)]).toEqual(["deleted", "deleted", "created"]);
    const ids = sub.events.map((e) => e.id);
    expect(new Set(ids).size).toBe(ids.length);
  });

  it("never sends a user another user's events: concurrent users, fuzzed titles and ids", async () => {
    const users = ["fuzz-1", "fuzz-2", "fuzz-3"];
    const clients = await Promise.all(users.map((u) => client(u)));
    const streams = await Promise.all(clients.map((c) => open(c)));
    const own = users.map(() => new Set<string>());
    const intruder = await client("fuzz-intruder");
    const titles = fc.sample(
      fc.string({ minLength: 1, maxLength: 40 }).filter((s) => s.trim() !== "" && !/[\0\uD800-\uDFFF]/.test(s)),
      { numRuns: 30, seed: 20261202 },
    );
    const foreignIds = fc.sample(fc.uuid(), { numRuns: 10, seed: 20261202 });

    await Promise.all(
      clients.map(async (c, u) => {
        for (let i = 0; i < 10; i++) {
          const todo = await c.todo.create.mutate({ title: titles[(u * 10 + i) % titles.length]! });
          own[u]!.add(todo.id);
          if (i % 3 === 0) await c.todo.update.mutate({ id: todo.id, title: `${todo.title}!` });
        }
      }),
    );
    // Someone else's ids, real and random, get NOT_FOUND and send nothing to anyone.
    for (const id of [...own[0]!].slice(0, 3).concat(foreignIds)) {
      await expect(intruder.todo.update.mutate({ id, title: "stolen" })).rejects.toMatchObject({
        data: { code: "NOT_FOUND" },
      });
      await expect(intruder.todo.delete.mutate({ id })).rejects.toMatchObject({ data: { code: "NOT_FOUND" } });
    }
    // Each todo arrives at least once, in its latest state (a create and its update may come as one event).
    const idOfEvent = (e: { data: TodoChange }) => (e.data as Extract<TodoChange, { type: "created" }>).todo.id;
    for (const sub of streams)
      await expect.poll(() => new Set(sub.events.map(idOfEvent)).size, { timeout: 10_000 }).toBe(10);
    for (const [u, sub] of streams.entries()) {
      const events = sub.events;
      for (const event of events) {
        const data = event.data as Extract<TodoChange, { type: "created" | "updated" }>;
        expect(own[u]!.has(data.todo.id)).toBe(true);
        expect(data.todo.userId).toBe(users[u]);
      }
    }
    await sleep(300);
    for (const sub of streams) expect(sub.events.length).toBeLessThanOrEqual(14);
  });

  it("is UNAUTHORIZED before any event without a token or with a bad one", async () => {
    for (const authorization of [undefined, "Bearer nope", `Bearer ${await api.token("x")}x`]) {
      const sub = subscribe(liveClient(api.trpcUrl, authorization));
      subs.push(sub);
      await expect(sub.waitForError()).resolves.toMatchObject({ data: { code: "UNAUTHORIZED", httpStatus: 401 } });
      expect(sub.events).toEqual([]);
    }
    // On the wire: tRPC's serialized-error, before any data.
    const raw = await rawStream(api, undefined, (t) => t.includes("serialized-error"));
    expect(raw.text).toMatch(/^event: connected\n/);
    expect(raw.text).toContain('"code":"UNAUTHORIZED"');
    expect(raw.text).not.toMatch(/\ndata: \{"json":\{"type"/);
  });

  it("rejects a lastEventId that is not a string or too long, as BAD_REQUEST", async () => {
    const c = await client("live-bad-id");
    const sub = subscribe(c, "x".repeat(300));
    subs.push(sub);
    await expect(sub.waitForError()).resolves.toMatchObject({ data: { code: "BAD_REQUEST" } });
  });

  it("replays what a reconnecting subscriber missed, in order; sends one `changed` when it cannot", async () => {
    const carol = await client("live-carol");
    const first = await open(carol);
    const todo = await carol.todo.create.mutate({ title: "seen" });
    const [seen] = await first.waitFor(1);
    first.unsubscribe();

    const missed1 = await carol.todo.update.mutate({ id: todo.id, title: "missed 1" });
    const missed2 = await carol.todo.create.mutate({ title: "missed 2" });
    // Someone else's writes in between are not replayed to carol.
    await (await client("live-dave")).todo.create.mutate({ title: "dave's" });

    const again = await open(carol, seen!.id);
    const replayed = await again.waitFor(2);
    expect(replayed.map((e) => e.data)).toEqual([
      { type: "updated", todo: missed1 },
      { type: "created", todo: missed2 },
    ]);
    // Then live again.
    await carol.todo.update.mutate({ id: todo.id, completed: true });
    expect(types(await again.waitFor(3))).toEqual(["updated", "created", "updated"]);

    // Unknown, garbage and other sessions' ids: one `changed`, whose id resumes from here.
    for (const id of ["garbage", "0123456789abcdef.1", `${seen!.id.split(".")[0]}.999999999`]) {
      const sub = await open(carol, id);
      const [event] = await sub.waitFor(1);
      expect(event!.data).toEqual({ type: "changed" });
      await sleep(100);
      expect(sub.events).toHaveLength(1);
      sub.unsubscribe();
    }
  });

  it("replays a row deleted after its create as just the delete", async () => {
    const erin = await client("live-erin");
    const first = await open(erin);
    await erin.todo.create.mutate({ title: "anchor" });
    const [seen] = await first.waitFor(1);
    first.unsubscribe();
    const gone = await erin.todo.create.mutate({ title: "gone" });
    await erin.todo.delete.mutate({ id: gone.id });
    const again = await open(erin, seen!.id);
    const events = await again.waitFor(1);
    await sleep(200);
    expect(again.events.map((e) => e.data)).toEqual([{ type: "deleted", id: gone.id }]);
    expect(events).toHaveLength(1);
  });

  it("streams through the buffered adapter: headers and the first event arrive while the stream stays open", async () => {
    const raw = await rawStream(api, "live-raw", (t) => t.includes("event: connected"), 3_000);
    expect(raw.status).toBe(200);
    expect(raw.headers.get("content-type")).toBe("text/event-stream");
    expect(raw.headers.get("content-length")).toBeNull();
    expect(raw.ended).toBe(false);
  });

  it("pings idle streams every SSE_PING_MS", async () => {
    const pinging = await api.variant({ SSE_PING_MS: "1000" });
    try {
      const raw = await rawStream(pinging, "live-ping", (t) => t.includes("event: ping"), 4_000);
      expect(raw.text).toContain("event: ping");
      expect(raw.text).toMatch(/"reconnectAfterInactivityMs":7000/);
    } finally {
      await pinging.close();
    }
  });

  it("limits open streams per user and per process (TOO_MANY_REQUESTS before the stream), and frees a slot on close", async () => {
    const limited = await api.variant({ SSE_MAX_STREAMS_PER_USER: "2", SSE_MAX_STREAMS: "3" });
    try {
      const frank = await client("live-frank", limited);
      const a = await open(frank);
      await open(frank);
      const third = subscribe(frank);
      subs.push(third);
      await expect(third.waitForError()).resolves.toMatchObject({ data: { code: "TOO_MANY_REQUESTS" } });
      await open(await client("live-gina", limited));
      const overall = subscribe(await client("live-hal", limited));
      subs.push(overall);
      await expect(overall.waitForError()).resolves.toMatchObject({ data: { code: "TOO_MANY_REQUESTS" } });
      a.unsubscribe();
      await expect.poll(() => limited.changes.stats().open, { timeout: 2_000 }).toBe(2);
      await open(frank);
      expect(limited.changes.stats().refused).toMatchObject({ user_limit: 1, global_limit: 1 });
    } finally {
      await limited.close();
    }
  });

  it("with SSE_MAX_STREAMS=0 is turned off: METHOD_NOT_SUPPORTED before the stream, once (the link does not retry it)", async () => {
    const off = await api.variant({ SSE_MAX_STREAMS: "0" });
    try {
      const sub = subscribe(await client("live-off", off));
      subs.push(sub);
      await expect(sub.waitForError()).resolves.toMatchObject({ data: { code: "METHOD_NOT_SUPPORTED" } });
      // No feed was built, so nothing in this server can LISTEN; writes work as before.
      expect(() => off.changes).toThrow(/live updates are off/);
      expect((await (await client("live-off", off)).todo.create.mutate({ title: "unheard" })).title).toBe("unheard");
      expect(sub.events).toEqual([]);
      expect(sub.errors).toHaveLength(1);
    } finally {
      await off.close();
    }
  });

  it("reaches subscribers of another instance on the same database", async () => {
    const other = await api.variant({});
    try {
      const here = await open(await client("live-ivy"));
      const there = await open(await client("live-ivy", other));
      const viaOther = await (await client("live-ivy", other)).todo.create.mutate({ title: "via B" });
      const viaThis = await (await client("live-ivy")).todo.create.mutate({ title: "via A" });
      for (const sub of [here, there]) {
        const events = await sub.waitFor(2);
        expect(events.map((e) => (e.data as { todo: { id: string } }).todo.id)).toEqual([viaOther.id, viaThis.id]);
      }
    } finally {
      await other.close();
    }
  });

  // PGlite has one session and no backends to terminate.
  it.skipIf(!serverUrl())("delivers again after its LISTEN session dropped, without `changed`", async () => {
    const jack = await client("live-jack");
    const sub = await open(jack);
    const admin = new pg.Client({ connectionString: api.testDatabase.directUrl });
    await admin.connect();
    try {
      const { rowCount } = await admin.query(
        `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'todo-api listener' AND datname = current_database()`,
      );
      expect(rowCount).toBeGreaterThan(0);
    } finally {
      await admin.end();
    }
    await jack.todo.create.mutate({ title: "after the drop" });
    expect(types(await sub.waitFor(1, 8_000))).toEqual(["created"]);
  });

  it("shows open streams and events sent in /metrics", async () => {
    await open(await client("live-kim"));
    const text = await (await fetch(`${api.url}/metrics`)).text();
    expect(Number(text.match(/^sse_streams_open (\d+)/m)?.[1])).toBeGreaterThan(0);
    expect(Number(text.match(/^sse_events_sent_total\{type="created"\} (\d+)/m)?.[1])).toBeGreaterThan(0);
    expect(text).toMatch(/^sse_listening 1$/m);
  });

  it("ends streams on shutdown without tRPC's `return`, so EventSource reconnects elsewhere", async () => {
    const closing = await api.variant({});
    const raw = rawStream(closing, "live-leo", () => false, 8_000);
    await expect.poll(() => closing.changes.stats().open, { timeout: 3_000 }).toBe(1);
    const started = Date.now();
    await closing.close();
    const { text, ended } = await raw;
    expect(ended).toBe(true);
    expect(Date.now() - started).toBeLessThan(3_000);
    expect(text).toContain("event: connected");
    expect(text).not.toContain("event: return");
  });
});

describe("delivery is proven before ready", () => {
  /** /readyz's status and body, and what a stream answers first. */
  async function readinessOf(server: TestServer) {
    const ready = await fetch(`${server.url}/readyz`);
    const raw = await rawStream(
      server,
      "proof-user",
      (t) => t.includes("serialized-error") || t.includes("event: ping"),
      15_000,
    );
    return { status: ready.status, body: (await ready.json()) as Record<string, string>, stream: raw.text };
  }

  it("/readyz says live updates are up once a probe came back; the probe reaches no subscriber", async () => {
    expect(await (await fetch(`${api.url}/readyz`)).json()).toEqual({
      status: "ready",
      database: "up",
      liveUpdates: "up",
    });
    const c = await client("live-probe");
    const sub = await open(c);
    // A probe of another process on the channel (the same shape the listener sends): not a change.
    await api.database.prisma.$executeRaw`SELECT pg_notify('todo_changes', 'todo-api probe 0123456789abcdef')`;
    const todo = await c.todo.create.mutate({ title: "after a probe" });
    const [first] = await sub.waitFor(1);
    expect(first!.data).toEqual({ type: "created", todo });
    await sleep(100);
    expect(sub.events).toHaveLength(1);
  });

  it("with SSE_MAX_STREAMS=0 readiness does not look at live updates", async () => {
    const off = await api.variant({ SSE_MAX_STREAMS: "0" });
    try {
      const ready = await fetch(`${off.url}/readyz`);
      expect(ready.status).toBe(200);
      expect(await ready.json()).toEqual({ status: "ready", database: "up" });
    } finally {
      await off.close();
    }
  });

  it("a LISTEN URL that cannot be reached: /readyz 503 naming live updates, onChange SERVICE_UNAVAILABLE", async () => {
    const nowhere = await api.variant(
      { DB_CONNECTION_TIMEOUT_MS: "2000" },
      { listenUrl: "postgresql://postgres@127.0.0.1:1/postgres" },
    );
    try {
      const { status, body, stream } = await readinessOf(nowhere);
      expect(status).toBe(503);
      expect(body).toMatchObject({
        status: "unavailable",
        database: "up",
        liveUpdates: "down",
        reason: expect.stringMatching(/LISTEN.*DIRECT_URL/),
      });
      expect(body.reason).not.toMatch(/127\.0\.0\.1|ECONNREFUSED/);
      expect(stream).toContain('"code":"SERVICE_UNAVAILABLE"');
      expect(stream).toMatch(/Live updates are unavailable/);
      expect(nowhere.changes.stats().open).toBe(0);
    } finally {
      await nowhere.close();
    }
  });

  // LISTEN in another database of the same server: it connects and listens, and hears nothing (NOTIFY is per database).
  it.skipIf(!serverUrl())(
    "a LISTEN session that never hears the pool's NOTIFY: /readyz 503 naming DIRECT_URL, onChange an error, not an empty stream",
    async () => {
      const deaf = await api.variant(
        { DB_CONNECTION_TIMEOUT_MS: "2000" },
        { listenUrl: withDatabase(api.testDatabase.directUrl, "postgres") },
      );
      try {
        const { status, body, stream } = await readinessOf(deaf);
        expect(status).toBe(503);
        expect(body).toMatchObject({ status: "unavailable", database: "up", liveUpdates: "down" });
        expect(body.reason).toMatch(
          /did not reach the LISTEN session.*set DIRECT_URL to a direct \(non-pooler\) connection/,
        );
        expect(stream).toContain('"code":"SERVICE_UNAVAILABLE"');
        expect(stream).toContain("DIRECT_URL");
        expect(stream).not.toContain("event: ping");
        expect(deaf.changes.stats().refused.unavailable).toBeGreaterThan(0);
      } finally {
        await deaf.close();
      }
    },
  );

  // The case: DATABASE_URL on a transaction-mode PgBouncer and no DIRECT_URL, so LISTEN goes through the pooler.
  it.runIf(inject("pgbouncerUrl"))(
    "LISTEN through PgBouncer in transaction mode: /readyz 503 naming live updates and DIRECT_URL, onChange SERVICE_UNAVAILABLE",
    async () => {
      const pooled = await api.variant({ DB_CONNECTION_TIMEOUT_MS: "2000" }, { listenUrl: api.testDatabase.url });
      try {
        const { status, body, stream } = await readinessOf(pooled);
        expect(status).toBe(503);
        expect(body).toMatchObject({
          status: "unavailable",
          database: "up",
          liveUpdates: "down",
          reason: expect.stringMatching(/DIRECT_URL/),
        });
        expect(stream).toContain('"code":"SERVICE_UNAVAILABLE"');
        expect(stream).toMatch(/LISTEN session; set DIRECT_URL/);
        // The typed client sees the error too (the link keeps retrying it, as it does every SERVICE_UNAVAILABLE).
        const states: Array<{ state: string; error: unknown }> = [];
        const sub = (await client("proof-typed", pooled)).todo.onChange.subscribe(undefined, {
          onConnectionStateChange: (state) => void states.push(state),
        });
        try {
          await expect
            .poll(() => states.find((s) => s.error)?.error, { timeout: 15_000 })
            .toMatchObject({ data: { code: "SERVICE_UNAVAILABLE" } });
        } finally {
          sub.unsubscribe();
        }
      } finally {
        await pooled.close();
      }
    },
  );
});

describe("the feed's bounded queue", () => {
  it("lets a subscriber that stopped reading fall behind without holding its events, then catches it up from the database", async () => {
    const feed = createChangeFeed({
      db: api.database.prisma,
      listenUrl: api.testDatabase.directUrl,
      connectTimeoutMs: 10_000,
      logger: testLogger(),
      maxStreams: 10,
      maxStreamsPerUser: 10,
      queueMax: 5,
      retentionMs: 60_000,
    });
    try {
      const controller = new AbortController();
      const stream = (await feed.subscribe({ userId: "live-slow", signal: controller.signal }))[Symbol.asyncIterator]();
      const c = await client("live-slow");
      const created = [];
      for (let i = 0; i < 8; i++) created.push(await c.todo.create.mutate({ title: `t${i}` }));
      await expect.poll(() => feed.stats().slow, { timeout: 5_000 }).toBe(1);
      const titles = [];
      for (let i = 0; i < 8; i++) {
        const { value } = await stream.next();
        expect(value?.[1].type).toBe("created");
        titles.push((value?.[1] as { todo: { title: string } }).todo.title);
      }
      expect(titles).toEqual(created.map((t) => t.title));
      controller.abort();
      await stream.return?.(undefined);
      expect(feed.stats().open).toBe(0);
    } finally {
      await feed.close();
    }
  });
});
