/** The live-updates bench cell (bench/sse.ts) on two real server processes sharing one database: a small run, checked. */
import { afterAll, expect, test } from "vitest";
import { runSseCell, sseMarkdown } from "../../bench/sse.ts";
import { FAULT_SECRET, spawnServer, type ServerProcess } from "../faults/support/server-process.ts";
import { createTestDatabase, type TestDatabase } from "../support/db.ts";

let database: TestDatabase | undefined;
const servers: ServerProcess[] = [];
afterAll(async () => {
  for (const server of servers) if (server.alive()) server.kill("SIGKILL");
  await database?.close();
});

test("delivers every write to every subscriber of its user once, over two instances, and reports latency and memory", async () => {
  database = await createTestDatabase({ migrated: true });
  // Every subscriber comes from this one address: room beyond SSE_MAX_STREAMS_PER_IP's default.
  const env = {
    DATABASE_URL: database.url,
    DIRECT_URL: database.directUrl,
    DB_DRIVER: process.env.DB_DRIVER ?? "pg",
    SSE_MAX_STREAMS_PER_IP: "1000",
  };
  servers.push(...(await Promise.all([spawnServer(env), spawnServer(env)])));

  const result = await runSseCell({
    instances: servers.map((s) => s.url),
    authSecret: FAULT_SECRET,
    subscribers: 24,
    users: 6,
    writes: 120,
    rate: 200,
    memoryStreams: 40,
    seed: 7,
  });
  expect(result).toMatchObject({
    instances: 2,
    subscribers: 24,
    writes: 120,
    missing: 0,
    duplicates: 0,
    foreign: 0,
    changed: 0,
    failures: 0,
  });
  // Four subscribers per user: every write is four events.
  expect(result.expected).toBe(480);
  // A row deleted before its create or update was read is delivered by its `deleted` alone (docs/live-updates.md).
  expect(result.received).toBeGreaterThan(400);
  for (const d of [result.commitToEvent, result.sendToEvent, result.writeAnswer]) {
    expect(d.count).toBeGreaterThan(0);
    expect(d.p50).toBeGreaterThan(0);
    expect(d.p99).toBeGreaterThanOrEqual(d.p50);
  }
  expect(result.sendToEvent.count).toBe(480);
  expect(Number.isFinite(result.perStream.rssBytes) && Number.isFinite(result.perStream.heapBytes)).toBe(true);
  expect(sseMarkdown(result)).toContain("| missing / duplicate / another user's / changed | 0 / 0 / 0 / 0 |");
}, 120_000);
