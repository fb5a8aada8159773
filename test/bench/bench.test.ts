/** The benchmark harness's own parts (bench/): protocol reading, the relay, requests, options, reports. */
import pg from "pg";
import { afterAll, beforeAll, expect, test } from "vitest";
import { chartSvg } from "../../bench/chart.ts";
import { parseOptions, UsageError } from "../../bench/options.ts";
import { createFrontendScanner } from "../../src/db/pg-frames.ts";
import { startPgRelayFor, viaRelay, type PgRelay as Relay } from "../../tools/pg-relay.ts";
import { fillRatios, type CellResult, type RunResult } from "../../bench/results.ts";
import { markdownTable } from "../../bench/table.ts";
import { profilesMarkdown, selfTimes, type CpuProfile } from "../../bench/profile.ts";
import { checkTargets } from "../../bench/targets.ts";
import { requestFactory, type WorkloadData } from "../../bench/workload.ts";
import { createTestDatabase, type TestDatabase } from "../support/db.ts";

function message(type: string, payload: Buffer = Buffer.alloc(0)): Buffer {
  const header = Buffer.alloc(5);
  header.write(type, 0);
  header.writeInt32BE(4 + payload.length, 1);
  return Buffer.concat([header, payload]);
}

test("reads message types across chunk boundaries, after an SSL request and the startup packet", () => {
  const ssl = Buffer.alloc(8);
  ssl.writeInt32BE(8, 0);
  ssl.writeInt32BE(80877103, 4);
  const startup = Buffer.alloc(12);
  startup.writeInt32BE(12, 0);
  startup.writeInt32BE(196608, 4);
  const stream = Buffer.concat([
    ssl,
    startup,
    message("P", Buffer.alloc(40, 1)),
    message("B", Buffer.alloc(3)),
    message("S"),
    message("Q", Buffer.from("SELECT 1\0")),
  ]);
  for (const size of [1, 3, 7, stream.length]) {
    const types: string[] = [];
    const read = createFrontendScanner((type) => types.push(String.fromCharCode(type)));
    for (let i = 0; i < stream.length; i += size) read(stream.subarray(i, i + size));
    expect(types).toEqual(["P", "B", "S", "Q"]);
  }
});

let db: TestDatabase;
let relay: Relay;

beforeAll(async () => {
  db = await createTestDatabase();
  relay = await startPgRelayFor(db.url, 2);
});
afterAll(async () => {
  await relay?.close();
  await db?.close();
});

test("the relay forwards both ways and counts one round trip per simple or extended query", async () => {
  const client = new pg.Client({ connectionString: viaRelay(db.url, relay) });
  await client.connect();
  try {
    const before = relay.roundTrips();
    expect((await client.query("SELECT 1 AS one")).rows).toEqual([{ one: 1 }]); // simple protocol: Query
    expect((await client.query("SELECT $1::int AS two", [2])).rows).toEqual([{ two: 2 }]); // extended: one Sync
    expect(relay.roundTrips() - before).toBe(2);
  } finally {
    await client.end();
  }
});

const data: WorkloadData = { readerToken: "r", writerToken: "w", ids: ["a", "b"] };

test("requests are what a tRPC client sends, with the right user's token", () => {
  const byId = requestFactory("byId", data, () => 0.6)();
  expect(byId.method).toBe("GET");
  const input = new URL(byId.path, "http://x").searchParams.get("input");
  expect(byId.path.startsWith("/trpc/todo.byId?")).toBe(true);
  expect(JSON.parse(input!)).toEqual({ json: { id: "b" } });
  expect(byId.headers.authorization).toBe("Bearer r");

  const create = requestFactory("create", data)();
  expect(create).toMatchObject({ method: "POST", path: "/trpc/todo.create", headers: { authorization: "Bearer w" } });
  expect(JSON.parse(create.body!).json.title).toMatch(/^Bench todo \d+$/);

  const update = requestFactory("update", data, () => 0)();
  expect(JSON.parse(update.body!)).toMatchObject({ json: { id: "a" } });
  expect(JSON.parse(update.body!).json).not.toHaveProperty("expectedVersion");
});

test("the mixed load is 80 % reads", () => {
  let seed = 42; // a fixed linear congruential sequence: the same draws every run
  const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const next = requestFactory("mixed", data, random);
  const paths = Array.from({ length: 10_000 }, () => next().path.split("?")[0]);
  const reads = paths.filter((p) => p === "/trpc/todo.byId" || p === "/trpc/todo.list").length;
  expect(Math.abs(reads / paths.length - 0.8)).toBeLessThan(0.02);
});

test("options: defaults, --quick, and one line naming a bad flag", () => {
  const full = parseOptions([], {});
  expect(full).toMatchObject({ concurrency: [1, 16, 64], workers: [1, 2], duration: 10, rttMs: undefined });
  expect(parseOptions(["--quick", "--rtt", "4", "--configs", "pg,baseline"], {})).toMatchObject({
    quick: true,
    concurrency: [16],
    duration: 2,
    rttMs: 4,
    configs: ["pg", "baseline"],
  });
  expect(full).toMatchObject({ profile: false });
  expect(parseOptions(["--profile"], {})).toMatchObject({ profile: true });
  expect(parseOptions(["--help"], {})).toBe("help");
  expect(() => parseOptions(["--configs", "mysql"], {})).toThrow(UsageError);
  expect(() => parseOptions(["--concurrency", "0"], {})).toThrow(/--concurrency/);
  expect(() => parseOptions(["--rtt", "soon"], {})).toThrow(/--rtt/);
  // Another checkout runs beside pg only when named; its configuration without one is refused.
  expect(full).not.toHaveProperty("againstDir");
  expect((full as Exclude<typeof full, "help">).configs).not.toContain("pg-against");
  expect(parseOptions(["--configs", "pg", "--against", "/tmp/old"], {})).toMatchObject({
    configs: ["pg", "pg-against"],
    againstDir: "/tmp/old",
  });
  expect(() => parseOptions(["--configs", "pg-against"], {})).toThrow(/--against/);
});

function cell(config: CellResult["config"], requestsPerSecond: number): CellResult {
  return {
    config,
    workers: 1,
    op: "byId",
    concurrency: 16,
    requests: requestsPerSecond * 10,
    seconds: 10,
    requestsPerSecond,
    latencyMs: { p50: 1, p95: 2, p99: 3, max: 4 },
    errors: 0,
    statuses: { 200: requestsPerSecond * 10 },
    sampleErrors: [],
    cpuMsPerRequest: 0.2,
    peakRssBytes: 100 * 1024 * 1024,
    roundTripsPerRequest: 1,
    ratioToBaseline: null,
    ratioToStock: null,
  };
}

test("reports: ratios to the baseline and to stock of the same cell, a table row per cell in order, a chart with every series", () => {
  const cells = [cell("neon", 2000), cell("pg", 3000), cell("stock", 1000), cell("baseline", 4000)];
  fillRatios(cells);
  expect(cells.map((c) => c.ratioToBaseline)).toEqual([0.5, 0.75, 0.25, null]);
  expect(cells.map((c) => c.ratioToStock)).toEqual([2, 3, null, null]);
  const run: RunResult = {
    startedAt: "2026-01-01T00:00:00.000Z",
    finishedAt: "2026-01-01T00:01:00.000Z",
    machine: { cpus: 2, cpuModel: "cpu", node: "v20", platform: "linux" },
    options: {},
    cells,
    targets: [],
    failures: [],
  };
  const table = markdownTable(run).split("\n");
  expect(table).toHaveLength(2 + cells.length);
  expect(table.find((line) => line.includes("| pg |"))).toContain("| 3000 | 0.75 | 3.00 |");
  expect(table.find((line) => line.includes("| stock |"))).toContain("| 1000 | 0.25 | – |");
  // hand-written, stock, then the API's configurations
  expect(table.slice(2).map((line) => line.split(" | ")[2])).toEqual(["baseline", "stock", "neon", "pg"]);
  const svg = chartSvg(run);
  for (const name of ["baseline", "stock", "pg", "neon"]) expect(svg).toContain(`>${name}</text>`);
  expect(svg.match(/<circle /g)).toHaveLength(2 * cells.length);
});

test("targets: ratios and byId CPU at 16 connections, p99/errors/RSS at 64, one round trip with --rtt", () => {
  const at64 = { ...cell("pg", 3000), concurrency: 64, latencyMs: { p50: 5, p95: 20, p99: 60, max: 80 } };
  const at1 = {
    ...cell("neon", 500),
    concurrency: 1,
    op: "create" as const,
    latencyMs: { p50: 6.5, p95: 8, p99: 9, max: 10 },
  };
  const neon = { ...cell("neon", 2500), cpuMsPerRequest: 0.9 };
  const cells = [cell("baseline", 4000), cell("stock", 1500), cell("pg", 2700), neon, at64, at1];
  fillRatios(cells);
  const run = {
    startedAt: "",
    finishedAt: "",
    machine: { cpus: 2, cpuModel: "", node: "", platform: "" },
    options: {},
    cells,
    targets: [],
    failures: [],
  };
  const checks = checkTargets(run, 4);
  const find = (cellName: string, target: string) =>
    checks.find((c) => c.cell === cellName && c.target.startsWith(target));
  expect(find("pg byId c=16", "≥ 0.7")).toMatchObject({ met: false, value: "0.68 ×" });
  expect(find("neon byId c=16", "≥ 0.6")).toMatchObject({ met: true, value: "0.63 ×" });
  expect(find("pg byId c=16", "server CPU ≤ 0.7 ms")).toMatchObject({ met: true, value: "0.200 ms" });
  expect(find("neon byId c=16", "server CPU")).toMatchObject({ met: false, value: "0.900 ms" });
  expect(checks.filter((c) => c.cell.startsWith("stock") || c.cell.startsWith("baseline"))).toEqual([]);
  expect(find("pg byId c=64", "p99")).toMatchObject({ met: false });
  expect(find("pg byId c=64", "no errors")).toMatchObject({ met: true });
  expect(find("pg byId c=64", "peak RSS")).toMatchObject({ met: true, value: "100 MB" });
  expect(find("neon create c=1", "p50")).toMatchObject({ met: true, target: "p50 ≤ rtt + 3 = 7 ms" });
});

test("targets: create and update with live updates on against the same server with them off", () => {
  const write = (config: "pg" | "pg-live-off", op: "create" | "update", rps: number) => ({ ...cell(config, rps), op });
  const cells = [
    write("pg", "create", 920),
    write("pg-live-off", "create", 1000),
    write("pg", "update", 850),
    write("pg-live-off", "update", 1000),
    cell("pg-live-off", 5000), // byId: not a write, no check
  ];
  fillRatios(cells);
  const run = { startedAt: "", finishedAt: "", machine: { cpus: 2, cpuModel: "", node: "", platform: "" } };
  const checks = checkTargets({ ...run, options: {}, cells, targets: [], failures: [] }, undefined).filter((c) =>
    c.target.includes("live updates off"),
  );
  expect(checks).toEqual([
    { target: "≥ 0.9 × live updates off", cell: "pg create c=16", value: "0.92 ×", met: true },
    { target: "≥ 0.9 × live updates off", cell: "pg update c=16", value: "0.85 ×", met: false },
  ]);
});

test("profiles: self time per function and location, idle left out, V8's entries marked", () => {
  const frame = (functionName: string, url = "", lineNumber = -1) => ({
    functionName,
    url,
    lineNumber,
    columnNumber: 0,
    scriptId: "0",
  });
  const profile: CpuProfile = {
    nodes: [
      { id: 1, callFrame: frame("(root)") },
      { id: 2, callFrame: frame("(idle)") },
      { id: 3, callFrame: frame("handle", "file:///app/dist/server.js", 9) },
      { id: 4, callFrame: frame("", "node:internal/streams/readable", 0) },
      { id: 5, callFrame: frame("(garbage collector)") },
      { id: 6, callFrame: frame("handle", "file:///app/dist/server.js", 9) }, // the same function, another stack
    ],
    startTime: 1_000,
    endTime: 11_000,
    // timestamps 1000, 2000, 4000, 5000, 8000, 9000; each sample lasts until the next, the last until endTime
    samples: [2, 3, 4, 6, 5, 3],
    timeDeltas: [0, 1_000, 2_000, 1_000, 3_000, 1_000],
  };
  const summary = selfTimes([profile, { ...profile }], "/app");
  expect(summary.idleMs).toBe(2); // 1 ms in each profile
  expect(summary.busyMs).toBe(18);
  expect(summary.top).toEqual([
    { name: "handle", location: "dist/server.js:10", selfMs: 14, share: 14 / 18 },
    { name: "(anonymous)", location: "node:internal/streams/readable:1", selfMs: 2, share: 2 / 18 },
    { name: "(garbage collector)", location: "", selfMs: 2, share: 2 / 18 },
  ]);
  expect(selfTimes([profile], "/app", 1).top).toHaveLength(1);

  const markdown = profilesMarkdown([
    { series: "pg", files: ["bench/results/x-profiles/pg-w1.cpuprofile"], ...summary },
  ]);
  expect(markdown).toContain("### pg");
  expect(markdown).toContain("| 1 | 14 | 77.8 | `handle` | dist/server.js:10 |");
  expect(markdown).toContain("| *(garbage collector)* |");
});
