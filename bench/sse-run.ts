/**
 * npm run bench:sse -- [--quick] [--subscribers 200] [--users 50] [--writes 2000] [--rate 100] [--instances 2]
 *                      [--memory-streams 1000] [--database-url URL]
 * The live-updates cell (bench/sse.ts) on the compiled API (`npm run build`, NODE_ENV=production), one process per
 * instance, all on one fresh migrated database. Prints a Markdown table, writes bench/results/sse-<time>.{json,md},
 * and exits 1 when an event was missing, duplicated or another user's, or a write failed; speed never fails it.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { createBenchDatabase } from "./database.ts";
import { projectRoot, startServer, type Server } from "./servers.ts";
import { runSseCell, sseMarkdown } from "./sse.ts";
import { positiveInteger } from "./positive-integer.ts";

const usage =
  "npm run bench:sse -- [--quick] [--subscribers N] [--users N] [--writes N] [--rate N] [--instances N] [--memory-streams N] [--database-url URL]";
const { values } = (() => {
  try {
    return parseArgs({
      options: {
        quick: { type: "boolean", default: false },
        subscribers: { type: "string" },
        users: { type: "string" },
        writes: { type: "string" },
        rate: { type: "string" },
        instances: { type: "string", default: "2" },
        "memory-streams": { type: "string" },
        "database-url": { type: "string" },
        help: { type: "boolean", default: false },
      },
    });
  } catch (error) {
    console.error(`${(error as Error).message}\n${usage}`);
    process.exit(2);
  }
})();
if (values.help) {
  console.log(usage);
  process.exit(0);
}
// --quick: a smoke run of a few seconds (CI); the defaults are the cell docs/live-updates.md quotes.
const defaults = values.quick
  ? { subscribers: 40, users: 10, writes: 200, rate: 100, memoryStreams: 100 }
  : { subscribers: 200, users: 50, writes: 2000, rate: 100, memoryStreams: 1000 };
const number = positiveInteger;
const options = {
  subscribers: number("subscribers", values.subscribers, defaults.subscribers),
  users: number("users", values.users, defaults.users),
  writes: number("writes", values.writes, defaults.writes),
  rate: number("rate", values.rate, defaults.rate),
  memoryStreams: number("memory-streams", values["memory-streams"], defaults.memoryStreams),
};
const instances = number("instances", values.instances, 2);
const adminUrl =
  values["database-url"] ?? process.env.BENCH_DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";

const log = (line: string) => console.error(line);
const logDir = mkdtempSync(path.join(os.tmpdir(), "todo-bench-sse-"));
const authSecret = randomBytes(32).toString("base64url");
const database = await createBenchDatabase(adminUrl);
log(`bench:sse: database ${new URL(database.url).pathname.slice(1)} created and migrated; server logs in ${logDir}`);
const servers: Server[] = [];
let failed: boolean;
try {
  // Room for the memory round's streams, all from this one address; the per-user limit stays the default.
  const room = String(options.memoryStreams + options.subscribers + 100);
  const env = { SSE_MAX_STREAMS: room, SSE_MAX_STREAMS_PER_IP: room, METRICS_TOKEN: "" };
  servers.push(
    ...(await Promise.all(
      Array.from({ length: instances }, () =>
        startServer({ config: "pg", workers: 1, databaseUrl: database.url, authSecret, poolMax: 10, logDir, env }),
      ),
    )),
  );
  const result = await runSseCell({ instances: servers.map((s) => s.url), authSecret, ...options, log });
  const markdown = sseMarkdown(result);
  console.log(markdown);
  const dir = path.join(projectRoot, "bench", "results");
  mkdirSync(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  writeFileSync(
    path.join(dir, `sse-${stamp}.json`),
    JSON.stringify({ options: { ...options, instances }, result }, null, 2),
  );
  writeFileSync(path.join(dir, `sse-${stamp}.md`), `${markdown}\n`);
  log(`bench:sse: wrote bench/results/sse-${stamp}.{json,md}`);
  failed = result.missing + result.duplicates + result.foreign + result.failures > 0;
  if (failed) log("bench:sse: FAILED: events were missing, duplicated or another user's, or a write or stream failed");
} finally {
  for (const server of servers) await server.child.stop();
  await database.drop();
}
process.exit(failed ? 1 : 0);
