/**
 * `npm run bench`: the API in each configuration (Neon driver via the local proxy, pg driver, embedded
 * PGlite) and the hand-written baseline, driven by autocannon; a Markdown table on stdout, JSON + Markdown
 * + SVG chart in bench/results/. Exits 1 when any cell saw an error. See bench/README.md.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { signToken } from "../src/auth.ts";
import { runCell } from "./cell.ts";
import { chartSvg } from "./chart.ts";
import { createBenchDatabase, READER, resetWrites, seed, WRITER } from "./database.ts";
import { parseOptions, usage, UsageError, type Configuration, type Options } from "./options.ts";
import type { Child } from "./processes.ts";
import { spawnLogged } from "./processes.ts";
import { startRelay, type Relay } from "./relay.ts";
import { fillRatios, seriesName, type CellResult, type RunResult } from "./results.ts";
import { assertBuilt, projectRoot, startServer } from "./servers.ts";
import { markdownTable } from "./table.ts";
import type { WorkloadData } from "./workload.ts";

/** A database the servers can use: its URL (through the relay with --rtt) and its seeded data. */
interface Target {
  url: string;
  data: WorkloadData;
  relay: Relay | undefined;
}

const log = (line: string) => process.stderr.write(line + "\n");
const cleanups: (() => Promise<unknown>)[] = [];

async function cleanup() {
  while (cleanups.length) await cleanups.pop()!().catch((error: Error) => log(`cleanup: ${error.message}`));
}

/** PGlite in a helper process (production refuses to start without DATABASE_URL). */
async function startEmbedded(logDir: string): Promise<{ url: string; child: Child }> {
  const child = spawnLogged({
    name: "embedded-db",
    command: process.execPath,
    args: ["--import", "tsx", path.join(import.meta.dirname, "embedded-db.ts")],
    env: process.env,
    cwd: projectRoot,
    logDir,
  });
  // Its first stdout line is `{"url": …}`; spawnLogged also copies stdout to the log.
  const lines = createInterface({ input: child.process.stdout! });
  const url = await new Promise<string>((resolve, reject) => {
    lines.once("line", (line) => resolve(JSON.parse(line).url));
    child.process.once("exit", () => reject(new Error(`embedded database helper exited:\n${child.tail()}`)));
  });
  lines.close();
  return { url, child };
}

async function prepareTarget(url: string, options: Options, tokens: Pick<WorkloadData, "readerToken" | "writerToken">): Promise<Target> {
  const ids = await seed(url);
  let relay: Relay | undefined;
  let serverUrl = url;
  if (options.rttMs !== undefined) {
    const u = new URL(url);
    relay = await startRelay({ targetHost: u.hostname, targetPort: Number(u.port || 5432), rttMs: options.rttMs });
    cleanups.push(() => relay!.close());
    u.hostname = "127.0.0.1";
    u.port = String(relay.port);
    serverUrl = u.toString();
  }
  return { url: serverUrl, data: { ...tokens, ids }, relay };
}

/** All cells of one server: start it, warm it up, measure each op × concurrency, stop it. */
async function benchServer(
  config: Configuration,
  workers: number,
  target: Target,
  options: Options,
  authSecret: string,
  logDir: string,
): Promise<CellResult[]> {
  const server = await startServer({ config, workers, databaseUrl: target.url, authSecret, poolMax: options.poolMax, logDir });
  const name = seriesName({ config, workers });
  const cells: CellResult[] = [];
  const stop = () => server.child.stop();
  cleanups.push(stop);
  try {
    const job = { url: server.url, data: target.data, warmupSeconds: 0 };
    await runCell({ ...job, op: "mixed", connections: 16, durationSeconds: options.serverWarmup }, server.child.pid, target.relay);
    for (const op of options.ops) {
      for (const concurrency of options.concurrency) {
        const m = await runCell(
          { ...job, op, connections: concurrency, warmupSeconds: options.warmup, durationSeconds: options.duration },
          server.child.pid,
          target.relay,
        );
        const non2xx = Object.entries(m.load.statuses).reduce((n, [status, count]) => (/^2/.test(status) ? n : n + count), 0);
        const cell: CellResult = {
          config,
          workers,
          op,
          concurrency,
          requests: m.load.requests,
          seconds: m.load.seconds,
          requestsPerSecond: m.load.requests / m.load.seconds,
          latencyMs: m.load.latencyMs,
          errors: non2xx + m.load.socketErrors,
          statuses: m.load.statuses,
          sampleErrors: m.load.sampleErrors,
          cpuMsPerRequest: m.cpuMsPerRequest,
          peakRssBytes: m.peakRssBytes,
          roundTripsPerRequest: m.roundTripsPerRequest,
          ratioToBaseline: null,
        };
        cells.push(cell);
        log(
          `${name.padEnd(12)} ${op.padEnd(6)} c=${String(concurrency).padEnd(3)} ${cell.requestsPerSecond.toFixed(0).padStart(6)} req/s` +
            `  p50 ${cell.latencyMs.p50.toFixed(1)} ms  p99 ${cell.latencyMs.p99.toFixed(1)} ms  errors ${cell.errors}` +
            (cell.roundTripsPerRequest === null ? "" : `  trips/req ${cell.roundTripsPerRequest.toFixed(2)}`) +
            (cell.sampleErrors.length ? `\n    ${cell.sampleErrors.join("\n    ")}` : ""),
        );
      }
    }
  } finally {
    cleanups.splice(cleanups.indexOf(stop), 1);
    await stop();
  }
  return cells;
}

async function main(options: Options): Promise<number> {
  assertBuilt();
  const startedAt = new Date();
  const logDir = mkdtempSync(path.join(os.tmpdir(), "todo-bench-"));
  log(`bench: server logs in ${logDir}`);

  const authSecret = randomBytes(32).toString("base64url");
  const tokens = {
    readerToken: await signToken(authSecret, { sub: READER }, { expiresIn: "12h" }),
    writerToken: await signToken(authSecret, { sub: WRITER }, { expiresIn: "12h" }),
  };

  const postgres = await createBenchDatabase(options.adminUrl);
  cleanups.push(() => postgres.drop());
  log(`bench: database ${new URL(postgres.url).pathname.slice(1)} created and migrated`);
  const pgTarget = await prepareTarget(postgres.url, options, tokens);

  let embeddedTarget: Target | undefined;
  if (options.configs.includes("embedded")) {
    const embedded = await startEmbedded(logDir);
    cleanups.push(() => embedded.child.stop());
    embeddedTarget = await prepareTarget(embedded.url, options, tokens);
  }

  const cells: CellResult[] = [];
  const failures: RunResult["failures"] = [];
  // Baseline first in each worker count, so every API row has its reference from the same minutes.
  const order = [...options.configs].sort((a, b) => (a === "baseline" ? -1 : b === "baseline" ? 1 : 0));
  for (const workers of options.workers) {
    for (const config of order) {
      // One PGlite process serves every worker: more workers would only queue on it.
      if (config === "embedded" && workers !== Math.min(...options.workers)) continue;
      const target = config === "embedded" ? embeddedTarget! : pgTarget;
      try {
        if (config !== "embedded") await resetWrites(postgres.url);
        cells.push(...(await benchServer(config, workers, target, options, authSecret, logDir)));
      } catch (error) {
        const message = (error as Error).message;
        log(`${seriesName({ config, workers })} failed: ${message}`);
        failures.push({ config, workers, error: message });
      }
    }
  }
  fillRatios(cells);

  const run: RunResult = {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    machine: { cpus: os.cpus().length, cpuModel: os.cpus()[0]?.model ?? "unknown", node: process.version, platform: `${os.platform()} ${os.release()}` },
    options: { ...options, adminUrl: undefined },
    cells,
    failures,
  };
  const table = markdownTable(run);
  const outDir = path.resolve(projectRoot, options.outDir);
  mkdirSync(outDir, { recursive: true });
  const stamp = run.startedAt.replace(/[:.]/g, "-");
  const files = { json: `${stamp}.json`, md: `${stamp}.md`, svg: `${stamp}.svg` };
  writeFileSync(path.join(outDir, files.json), JSON.stringify(run, null, 2) + "\n");
  writeFileSync(path.join(outDir, files.md), `# Benchmark ${run.startedAt}\n\n${describeRun(run)}\n\n${table}\n`);
  writeFileSync(path.join(outDir, files.svg), chartSvg(run));

  console.log(`\n${describeRun(run)}\n\n${table}\n`);
  log(`bench: results in ${path.relative(process.cwd(), outDir) || "."}/${stamp}.{json,md,svg}`);
  const errors = cells.reduce((n, c) => n + c.errors, 0);
  if (errors || failures.length) {
    log(`bench: ${errors} request errors, ${failures.length} configurations failed`);
    return 1;
  }
  return 0;
}

function describeRun(run: RunResult): string {
  const o = run.options as unknown as Options;
  return [
    `${run.machine.cpus} × ${run.machine.cpuModel}, Node ${run.machine.node}.`,
    `${o.duration} s per cell after ${o.warmup} s warm-up; pool ${o.poolMax} per process;` +
      (o.rttMs === undefined ? " no relay (round trips not counted)." : ` relay with rtt ${o.rttMs} ms.`),
  ].join(" ");
}

let options: Options | "help";
try {
  options = parseOptions(process.argv.slice(2));
} catch (error) {
  if (!(error instanceof UsageError)) throw error;
  console.error(`${error.message}\n${usage}`);
  process.exit(2);
}
if (options === "help") {
  console.log(usage);
  process.exit(0);
}

for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    log(`bench: ${signal}, cleaning up`);
    void cleanup().then(() => process.exit(130));
  });
}

let code = 1;
try {
  code = await main(options);
} catch (error) {
  log(`bench failed: ${(error as Error).stack ?? error}`);
} finally {
  await cleanup();
}
process.exit(code);
