/**
 * One database round trip per procedure in steady state, counted on the wire by a relay in front of the
 * database (Sync and simple Query messages), for whichever driver this project runs. Fails when one grows.
 */
import { randomUUID } from "node:crypto";
import { createTRPCClient, httpLink } from "@trpc/client";
import { afterAll, beforeAll, expect, test } from "vitest";
import type { AppRouter } from "../../src/trpc/routers/_app.ts";
import { transformer } from "../../src/trpc/transformer.ts";
import { startPgRelayFor, viaRelay, type PgRelay } from "../../tools/pg-relay.ts";
import { startTestServer, type Client, type TestServer } from "../support/server.ts";

let api: TestServer;
let relay: PgRelay;
let alice: Client;
let ids: string[];

beforeAll(async () => {
  // Live updates off: after a mutation the feed's hint to other instances is a statement of its own, beside the
  // request (src/live/feed.ts `written`), and would fall into the next call's count.
  api = await startTestServer({ SSE_MAX_STREAMS: "0" }, async (url) => {
    relay = await startPgRelayFor(url);
    return viaRelay(url, relay);
  });
  alice = await api.clientUnbatched("alice");
  ids = [];
  for (let i = 0; i < 25; i++) ids.push((await alice.todo.create.mutate({ title: `todo ${i}` })).id);
});
afterAll(async () => {
  await api?.close();
  await relay?.close();
});

async function roundTrips(call: () => Promise<unknown>): Promise<number> {
  relay.reset();
  await call();
  return relay.roundTrips();
}

test.each<[string, () => Promise<unknown>]>([
  ["me", () => alice.me.query()],
  ["todo.byId", () => alice.todo.byId.query({ id: ids[0]! })],
  ["todo.list (a page and its next cursor)", () => alice.todo.list.query({ limit: 20 })],
  [
    "todo.list after a cursor",
    async () => {
      const { nextCursor } = await alice.todo.list.query({ limit: 10 });
      relay.reset();
      await alice.todo.list.query({ limit: 10, cursor: nextCursor! });
    },
  ],
  [
    "todo.list filtered and searched",
    () => alice.todo.list.query({ status: "active", search: "todo", orderBy: "dueAt" }),
  ],
  ["todo.create", () => alice.todo.create.mutate({ title: "one more", priority: "HIGH", dueAt: new Date() })],
  ["todo.update", () => alice.todo.update.mutate({ id: ids[1]!, title: "renamed", completed: true })],
  [
    "todo.update with its version check",
    () => alice.todo.update.mutate({ id: ids[2]!, title: "checked", expectedVersion: 1 }),
  ],
  ["todo.delete", () => alice.todo.delete.mutate({ id: ids[3]! })],
  ["todo.stats", () => alice.todo.stats.query()],
  ["todo.toggleAll", () => alice.todo.toggleAll.mutate({ completed: true })],
  ["todo.clearCompleted", () => alice.todo.clearCompleted.mutate()],
])("%s: one round trip", async (_name, call) => {
  expect(await roundTrips(call)).toBe(1);
});

test("with an Idempotency-Key: a create stays one round trip; other mutations are one transaction", async () => {
  const keyed = createTRPCClient<AppRouter>({
    links: [
      httpLink({
        url: api.trpcUrl,
        transformer,
        headers: async () => ({ authorization: `Bearer ${await api.token("alice")}`, "idempotency-key": randomUUID() }),
      }),
    ],
  });
  let id = "";
  expect(
    await roundTrips(async () => ({ id } = await keyed.todo.create.mutate({ title: "keyed", dueAt: new Date() }))),
  ).toBe(1);
  // BEGIN, the key's lock and row, the update, the key row, COMMIT.
  expect(await roundTrips(() => keyed.todo.update.mutate({ id, title: "keyed update" }))).toBe(5);
});

test("a caller's first request adds one round trip (its User row); later requests add none", async () => {
  const carol = await api.clientUnbatched("carol");
  expect(await roundTrips(() => carol.todo.stats.query())).toBe(2);
  expect(await roundTrips(() => carol.todo.stats.query())).toBe(1);
});

test("a batch of three reads costs three round trips, not more", async () => {
  const batched = await api.client("alice");
  const { id } = await alice.todo.create.mutate({ title: "batched" });
  const calls = () => Promise.all([batched.todo.stats.query(), batched.todo.byId.query({ id }), batched.me.query()]);
  expect(await roundTrips(calls)).toBe(3);
});

test("NOT_FOUND costs one round trip; a malformed id costs none", async () => {
  expect(
    await roundTrips(() => alice.todo.byId.query({ id: "00000000-0000-4000-8000-000000000000" }).catch(() => {})),
  ).toBe(1);
  expect(await roundTrips(() => alice.todo.byId.query({ id: "not-a-uuid" }).catch(() => {}))).toBe(0);
});
