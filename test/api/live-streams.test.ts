/**
 * How long a todo.onChange stream lives and who may open one: it ends with its token (and after
 * SSE_MAX_DURATION_MS) in a way the link reconnects from, with a fresh token and its last event id; streams are
 * capped per client address; a LISTEN session that stops answering is found and replaced. Real servers, real
 * HTTP, tRPC's httpSubscriptionLink (and raw SSE where the wire matters), and the page's own watchChanges.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signToken } from "../../src/auth/tokens.ts";
import type { TodoChange } from "../../src/live/events.ts";
import { startPgRelayFor, viaRelay, type PgRelay } from "../../tools/pg-relay.ts";
import { watchChanges } from "../../web/live.ts";
import { liveClientWith, subscribe, type Subscription } from "../support/live.ts";
import { startTestServer, TEST_SECRET, type TestServer } from "../support/server.ts";

// A token is accepted until exp + AUTH_CLOCK_TOLERANCE_S, and its stream lives as long: no tolerance here, so a
// short token's stream ends at its exp.
const NO_TOLERANCE = { AUTH_CLOCK_TOLERANCE_S: "0" };
let api: TestServer;
beforeAll(async () => {
  api = await startTestServer(NO_TOLERANCE);
});
const subs: Subscription[] = [];
afterAll(async () => {
  subs.forEach((s) => s.unsubscribe());
  await api?.close();
});

/** A token valid for about `seconds` (exp is whole seconds: between seconds - 1 and seconds). */
const shortToken = (user: string, seconds: number) =>
  signToken(TEST_SECRET, { sub: user }, { expiresIn: `${seconds}s` });
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });
const open = async (sub: Subscription) => {
  subs.push(sub);
  await sub.started;
  return sub;
};
const idOf = (change: TodoChange) => ("todo" in change ? change.todo.id : change.type);

/** Raw SSE until the server ends the response (or `ms` pass). */
async function rawUntilEnd(server: TestServer, headers: Record<string, string>, ms = 15_000) {
  const response = await fetch(`${server.trpcUrl}/todo.onChange`, { headers, signal: AbortSignal.timeout(ms) });
  let text = "";
  const started = Date.now();
  try {
    const decoder = new TextDecoder();
    for await (const chunk of response.body!) text += decoder.decode(chunk as Uint8Array, { stream: true });
    return { text, ended: true, ms: Date.now() - started };
  } catch {
    return { text, ended: false, ms: Date.now() - started };
  }
}

describe("a stream ends with its token", () => {
  it("over raw SSE: ends by itself, without tRPC's `return` (so EventSource reconnects); that token then gets UNAUTHORIZED", async () => {
    const token = await shortToken("exp-raw", 2);
    const { text, ended } = await rawUntilEnd(api, bearer(token));
    expect(ended).toBe(true);
    expect(text).toMatch(/^event: connected\n/);
    expect(text).not.toContain("event: return");
    expect(text).not.toContain("serialized-error");
    await expect.poll(() => api.changes.stats().open).toBe(0);

    const again = await rawUntilEnd(api, bearer(token), 5_000);
    expect(again.text).toContain("event: serialized-error");
    expect(again.text).toContain('"code":"UNAUTHORIZED"');
  });

  it("over httpSubscriptionLink: the link reconnects with a fresh token and the last event id, and resumes with what it missed", async () => {
    let token = await shortToken("exp-link", 2);
    const connects: Headers[] = [];
    const client = liveClientWith(
      api.trpcUrl,
      async () => bearer(token),
      (headers) => connects.push(headers),
    );
    const sub = await open(subscribe(client));
    const first = await client.todo.create.mutate({ title: "before expiry" });
    const [seen] = await sub.waitFor(1);

    // The token runs out: the server ends the stream. From now on the client has a fresh one.
    token = await api.token("exp-link");
    await expect.poll(() => api.changes.stats().open, { timeout: 5_000, interval: 20 }).toBe(0);
    const missed = await client.todo.create.mutate({ title: "while reconnecting" });

    const events = await sub.waitFor(2, 15_000);
    expect(events.map((e) => idOf(e.data))).toEqual([first.id, missed.id]);
    expect(sub.errors).toEqual([]);
    expect(sub.starts).toBe(2);
    // The reconnect carried the fresh token and the id of the last event seen.
    expect(connects).toHaveLength(2);
    expect(connects[1]!.get("authorization")).toBe(`Bearer ${token}`);
    expect(connects[1]!.get("last-event-id")).toBe(seen!.id);
  });

  it("a reconnect with the expired token is UNAUTHORIZED; the page's watchChanges renews it and resumes after its last event", async () => {
    // A server of its own: its open streams are this test's alone.
    const page = await api.variant(NO_TOLERANCE);
    let token = await shortToken("exp-page", 2);
    const client = liveClientWith(page.trpcUrl, async () => bearer(token));
    const changes: TodoChange[] = [];
    const refused: unknown[] = [];
    let renewals = 0;
    let starts = 0;
    const stop = watchChanges(client, {
      onStarted: () => void starts++,
      onChange: (change) => void changes.push(change),
      onRefused: (error) => void refused.push(error),
      async renew() {
        renewals++;
        token = await page.token("exp-page");
      },
    });
    try {
      await expect.poll(() => page.changes.stats().open).toBe(1);
      const writer = await page.client("exp-page");
      const first = await writer.todo.create.mutate({ title: "seen" });
      await expect.poll(() => changes.length).toBe(1);

      // Expired: the stream ends; the EventSource's reconnect still sends the old token and is refused.
      await expect.poll(() => page.changes.stats().open, { timeout: 5_000, interval: 20 }).toBe(0);
      const missed = await writer.todo.create.mutate({ title: "missed" });
      // Only a subscription that resumes from the last id gets this one (a fresh one starts with nothing).
      await expect.poll(() => changes.map(idOf), { timeout: 15_000 }).toEqual([first.id, missed.id]);
      expect(renewals).toBe(1);
      expect(refused).toEqual([]);
      const later = await writer.todo.create.mutate({ title: "live again" });
      await expect.poll(() => changes.map(idOf)).toEqual([first.id, missed.id, later.id]);
      expect(starts).toBeGreaterThanOrEqual(2);
    } finally {
      stop();
      await page.close();
    }
  });

  it("a token past exp but inside AUTH_CLOCK_TOLERANCE_S gets a stream that ends when the tolerance runs out", async () => {
    const tolerant = await api.variant({ AUTH_CLOCK_TOLERANCE_S: "3" });
    try {
      // exp one second ago: accepted for about two more seconds, and the stream lives exactly that long.
      const token = await signToken(
        TEST_SECRET,
        { sub: "exp-tolerated" },
        { expiresIn: Math.floor(Date.now() / 1000) - 1 },
      );
      const { text, ended } = await rawUntilEnd(tolerant, bearer(token), 10_000);
      expect(ended).toBe(true);
      expect(text).toMatch(/^event: connected\n/);
      expect(text).not.toContain("event: return");
      const again = await rawUntilEnd(tolerant, bearer(token), 5_000);
      expect(again.text).toContain('"code":"UNAUTHORIZED"');
      expect(again.text).not.toMatch(/\ndata: \{"json":\{"type"/);
    } finally {
      await tolerant.close();
    }
  });

  it("SSE_MAX_DURATION_MS ends a stream whatever its token says, and the link reconnects", async () => {
    const capped = await api.variant({ SSE_MAX_DURATION_MS: "1500" });
    try {
      const raw = await rawUntilEnd(capped, bearer(await capped.token("dur-raw")));
      expect(raw.ended).toBe(true);
      expect(raw.text).not.toContain("event: return");
      expect(raw.ms).toBeGreaterThanOrEqual(1_000);

      const client = liveClientWith(capped.trpcUrl, async () => bearer(await capped.token("dur-link")));
      const sub = await open(subscribe(client));
      await expect.poll(() => sub.starts, { timeout: 15_000 }).toBeGreaterThanOrEqual(2);
      const todo = await client.todo.create.mutate({ title: "after a reconnect" });
      await expect.poll(() => sub.events.map((e) => idOf(e.data)), { timeout: 10_000 }).toContain(todo.id);
      expect(sub.errors).toEqual([]);
    } finally {
      await capped.close();
    }
  });
});

describe("SSE_MAX_STREAMS_PER_IP", () => {
  it("caps the open streams of one client address (req.ip, after TRUST_PROXY): TOO_MANY_REQUESTS before the stream; others are unaffected", async () => {
    const capped = await api.variant({ SSE_MAX_STREAMS_PER_IP: "2", TRUST_PROXY: "loopback" });
    try {
      // Different users behind one address: the per-user cap is not what refuses them.
      const from = (address: string, user: string) =>
        subscribe(
          liveClientWith(capped.trpcUrl, async () => ({
            ...bearer(await capped.token(user)),
            "x-forwarded-for": address,
          })),
        );
      await open(from("203.0.113.7", "ip-a"));
      await open(from("203.0.113.7", "ip-b"));
      const third = from("203.0.113.7", "ip-c");
      subs.push(third);
      await expect(third.waitForError()).resolves.toMatchObject({
        data: { code: "TOO_MANY_REQUESTS" },
        message: expect.stringMatching(/per client address/),
      });
      await open(from("198.51.100.1", "ip-c"));
      expect(capped.changes.stats()).toMatchObject({
        open: 3,
        refused: { ip_limit: 1, user_limit: 0, global_limit: 0 },
      });
      const metrics = await (await fetch(`${capped.url}/metrics`)).text();
      expect(metrics).toMatch(/^sse_streams_refused_total\{reason="ip_limit"\} 1$/m);
    } finally {
      await capped.close();
    }
  });

  it("without TRUST_PROXY counts the socket's address, whatever X-Forwarded-For says", async () => {
    const capped = await api.variant({ SSE_MAX_STREAMS_PER_IP: "1" });
    try {
      await open(
        subscribe(
          liveClientWith(capped.trpcUrl, async () => ({
            ...bearer(await capped.token("ip-x")),
            "x-forwarded-for": "192.0.2.1",
          })),
        ),
      );
      const second = subscribe(
        liveClientWith(capped.trpcUrl, async () => ({
          ...bearer(await capped.token("ip-y")),
          "x-forwarded-for": "192.0.2.2",
        })),
      );
      subs.push(second);
      await expect(second.waitForError()).resolves.toMatchObject({ data: { code: "TOO_MANY_REQUESTS" } });
    } finally {
      await capped.close();
    }
  });
});

describe("the LISTEN session's liveness probe", () => {
  let relay: PgRelay | undefined;
  afterAll(() => relay?.close());

  it("finds a session that stopped answering (no error, no close): reconnects, and delivers throughout", async () => {
    relay = await startPgRelayFor(api.testDatabase.directUrl);
    const probed = await api.variant(
      { SSE_PING_MS: "1000", DB_CONNECTION_TIMEOUT_MS: "3000" },
      { listenUrl: viaRelay(api.testDatabase.directUrl, relay) },
    );
    try {
      const client = liveClientWith(probed.trpcUrl, async () => bearer(await probed.token("alive")));
      const sub = await open(subscribe(client));
      const before = await client.todo.create.mutate({ title: "before" });
      await sub.waitFor(1);

      // The LISTEN connection goes silent; the API's pool does not go through the relay and keeps working.
      const opened = relay.connections();
      relay.stall();
      // A new LISTEN session through the relay (only the listener uses it): the probe found the silent one.
      await expect.poll(() => relay!.connections(), { timeout: 20_000, interval: 200 }).toBeGreaterThan(opened);
      const after = await client.todo.create.mutate({ title: "after" });
      const events = await sub.waitFor(2, 10_000);
      expect(events.map((e) => idOf(e.data))).toEqual([before.id, after.id]);
      await expect.poll(() => probed.changes.stats().listening, { timeout: 5_000 }).toBe(true);
    } finally {
      await probed.close();
    }
  });
});
