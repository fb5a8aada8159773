/**
 * `npm run bench`: the API in each configuration (Neon driver via the local proxy, pg driver, embedded
 * PGlite), the hand-written baseline and the stock packages (bench/stock.ts), driven by autocannon; a Markdown table on stdout, JSON + Markdown
 * + SVG chart in bench/results/. Exits 1 when any cell saw an error. See bench/README.md.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import { signToken } from "../src/auth/tokens.ts";
import { runCell, startDriver, type Driver } from "./cell.ts";
import { chartSvg } from "./chart.ts";
import { createBenchDatabase, READER, seed, WRITER } from "./database.ts";
import { CONFIGURATIONS, parseOptions, usage, UsageError, type Configuration, type Options } from "./options.ts";
import type { Child } from "./processes.ts";
import { profilesMarkdown, summarizeProfiles, type ProfileSummary } from "./profile.ts";
import { spawnLogged } from "./processes.ts";
import { startPgRelayFor, viaRelay, type PgRelay as Relay } from "../tools/pg-relay.ts";
import { fillRatios, seriesName, type CellResult, type RunResult } from "./results.ts";
import { assertBuilt, projectRoot, startServer, type Server } from "./servers.ts";
import { markdownTable } from "./table.ts";
import { checkTargets, targetsMarkdown } from "./targets.ts";
import type { Operation, WorkloadData } from "./workload.ts";

/** A database the servers can use: its URL and its seeded data. */
interface Database {
  url: string;
  data: WorkloadData;
}

/** One server under test, with its own relay (so round trips are counted per server). */
interface Contestant {
  config: Configuration;
  workers: number;
  name: string;
  server: Server;
  relay: Relay | undefined;
  data: WorkloadData;
  stop(): Promise<void>;
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
    lines.once("line", (line) => resolve((JSON.parse(line) as { url: string }).url));
    child.process.once("exit", () => reject(new Error(`embedded database helper exited:\n${child.tail()}`)));
  });
  lines.close();
  return { url, child };
}

/** Starts one server, behind its own relay with --rtt. */
async function startContestant(
  config: Configuration,
  workers: number,
  database: Database,
  options: Options,
  authSecret: string,
  logDir: string,
  profileDir: string | undefined,
): Promise<Contestant> {
  let relay: Relay | undefined;
  let databaseUrl = database.url;
  if (options.rttMs !== undefined) {
    relay = await startPgRelayFor(database.url, options.rttMs);
    databaseUrl = viaRelay(database.url, relay);
  }
  try {
    const server = await startServer({
      config,
      workers,
      databaseUrl,
      authSecret,
      poolMax: options.poolMax,
      logDir,
      profileDir,
      againstDir: options.againstDir,
    });
    const contestant: Contestant = {
      config,
      workers,
      name: seriesName({ config, workers }),
      server,
      relay,
      data: database.data,
      async stop() {
        const index = cleanups.indexOf(contestant.stop);
        if (index === -1) return; // already stopped
        cleanups.splice(index, 1);
        await server.child.stop();
        await relay?.close();
      },
    };
    cleanups.push(contestant.stop);
    return contestant;
  } catch (error) {
    await relay?.close();
    throw error;
  }
}

/** A stopped server's CPU profiles, summed (they are written as its processes exit: wait a little for them). */
async function collectProfile(c: Contestant): Promise<ProfileSummary | undefined> {
  const profile = c.server.profile;
  if (!profile) return undefined;
  const deadline = Date.now() + 5_000;
  while (profile.files().length < profile.processes && Date.now() < deadline) await sleep(100);
  const files = profile.files();
  if (files.length < profile.processes) {
    log(
      `${c.name}: ${files.length} of ${profile.processes} CPU profiles written (a process did not exit from its SIGTERM handler?)`,
    );
  }
  if (!files.length) return undefined;
  return summarizeProfiles(c.name, files, projectRoot);
}

/** The server should live through every cell; if something else stops it, say so instead of counting errors. */
function assertRunning(c: Contestant): void {
  const { exitCode, signalCode } = c.server.child.process;
  if (exitCode !== null || signalCode !== null) {
    throw new Error(`${c.name} exited (${signalCode ?? `code ${exitCode}`}) during the run:\n${c.server.child.tail()}`);
  }
}

async function measureCell(
  driver: Driver,
  c: Contestant,
  op: Operation,
  concurrency: number,
  options: Options,
): Promise<CellResult> {
  assertRunning(c);
  const m = await runCell(
    driver,
    {
      url: c.server.url,
      data: c.data,
      op,
      connections: concurrency,
      warmupSeconds: options.warmup,
      durationSeconds: options.duration,
    },
    c.server.child.pid,
    c.relay,
  );
  assertRunning(c);
  const non2xx = Object.entries(m.load.statuses).reduce(
    (n, [status, count]) => (status.startsWith("2") ? n : n + count),
    0,
  );
  const cell: CellResult = {
    config: c.config,
    workers: c.workers,
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
    ratioToStock: null,
  };
  log(
    `${c.name.padEnd(12)} ${op.padEnd(6)} c=${String(concurrency).padEnd(3)} ${cell.requestsPerSecond.toFixed(0).padStart(6)} req/s` +
      `  p50 ${cell.latencyMs.p50.toFixed(1)} ms  p99 ${cell.latencyMs.p99.toFixed(1)} ms  errors ${cell.errors}` +
      (cell.roundTripsPerRequest === null ? "" : `  trips/req ${cell.roundTripsPerRequest.toFixed(2)}`) +
      (cell.sampleErrors.length ? `\n    ${cell.sampleErrors.join("\n    ")}` : ""),
  );
  return cell;
}

/**
 * Every server of one worker count runs at once, and the cells interleave (op × concurrency, then each
 * server in turn): on a shared, noisy machine each ratio to the baseline compares the same minutes.
 */
async function benchWorkers(
  workers: number,
  databases: Partial<Record<"postgres" | "embedded", Database>>,
  options: Options,
  authSecret: string,
  logDir: string,
  profileDir: string | undefined,
  failures: RunResult["failures"],
  profiles: ProfileSummary[],
): Promise<CellResult[]> {
  const fail = (config: Configuration, error: unknown) => {
    const message = (error as Error).message;
    log(`${seriesName({ config, workers })} failed: ${message}`);
    failures.push({ config, workers, error: message });
  };
  // The report's order (baseline, stock, then the API), so each API cell follows its references.
  const order = [...options.configs].sort((a, b) => CONFIGURATIONS.indexOf(a) - CONFIGURATIONS.indexOf(b));
  const contestants: Contestant[] = [];
  const driver = startDriver();
  const cells: CellResult[] = [];
  try {
    for (const config of order) {
      // One PGlite process serves every worker: more workers would only queue on it.
      if (config === "embedded" && workers !== Math.min(...options.workers)) continue;
      const database = config === "embedded" ? databases.embedded! : databases.postgres!;
      let c: Contestant | undefined;
      try {
        c = await startContestant(config, workers, database, options, authSecret, logDir, profileDir);
        const warmup = { url: c.server.url, data: c.data, op: "mixed" as const, connections: 16, warmupSeconds: 0 };
        await runCell(driver, { ...warmup, durationSeconds: options.serverWarmup }, c.server.child.pid, c.relay);
        contestants.push(c);
      } catch (error) {
        fail(config, error);
        await c?.stop();
      }
    }
    let running = contestants;
    for (const op of options.ops) {
      for (const concurrency of options.concurrency) {
        for (const c of running) {
          try {
            cells.push(await measureCell(driver, c, op, concurrency, options));
          } catch (error) {
            fail(c.config, error);
            running = running.filter((r) => r !== c);
            await c.stop();
          }
        }
      }
    }
  } finally {
    driver.close();
    for (const c of contestants) await c.stop();
  }
  for (const c of contestants) {
    const summary = await collectProfile(c);
    if (summary) profiles.push(summary);
  }
  return cells;
}

async function main(options: Options): Promise<number> {
  assertBuilt();
  const startedAt = new Date();
  const stamp = startedAt.toISOString().replace(/[:.]/g, "-");
  const outDir = path.resolve(projectRoot, options.outDir);
  const logDir = mkdtempSync(path.join(os.tmpdir(), "todo-bench-"));
  log(`bench: server logs in ${logDir}`);
  const profileDir = options.profile ? path.join(outDir, `${stamp}-profiles`) : undefined;
  if (profileDir) {
    mkdirSync(profileDir, { recursive: true });
    log(`bench: CPU profiles in ${path.relative(process.cwd(), profileDir)}`);
  }

  const authSecret = randomBytes(32).toString("base64url");
  const tokens = {
    readerToken: await signToken(authSecret, { sub: READER }, { expiresIn: "12h" }),
    writerToken: await signToken(authSecret, { sub: WRITER }, { expiresIn: "12h" }),
  };

  const postgres = await createBenchDatabase(options.adminUrl);
  cleanups.push(() => postgres.drop());
  log(`bench: database ${new URL(postgres.url).pathname.slice(1)} created and migrated`);
  const databases: Partial<Record<"postgres" | "embedded", Database>> = {
    postgres: { url: postgres.url, data: { ...tokens, ids: await seed(postgres.url) } },
  };
  if (options.configs.includes("embedded")) {
    const embedded = await startEmbedded(logDir);
    cleanups.push(() => embedded.child.stop());
    databases.embedded = { url: embedded.url, data: { ...tokens, ids: await seed(embedded.url) } };
  }

  const cells: CellResult[] = [];
  const failures: RunResult["failures"] = [];
  const profiles: ProfileSummary[] = [];
  for (const workers of options.workers) {
    cells.push(
      ...(await benchWorkers(workers, databases, options, authSecret, logDir, profileDir, failures, profiles)),
    );
  }
  fillRatios(cells);

  const run: RunResult = {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    machine: {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model ?? "unknown",
      node: process.version,
      platform: `${os.platform()} ${os.release()}`,
    },
    options: { ...options, adminUrl: undefined },
    cells,
    targets: [],
    failures,
    ...(options.profile ? { profiles } : {}),
  };
  run.targets = checkTargets(run, options.rttMs);
  const sections = [
    describeRun(run, options),
    markdownTable(run),
    targetsMarkdown(run.targets),
    profilesMarkdown(profiles),
  ];
  const report = `${sections.filter(Boolean).join("\n\n")}\n`;
  mkdirSync(outDir, { recursive: true });
  writeFileSync(path.join(outDir, `${stamp}.json`), JSON.stringify(run, null, 2) + "\n");
  writeFileSync(path.join(outDir, `${stamp}.md`), `# Benchmark ${run.startedAt}\n\n${report}`);
  writeFileSync(path.join(outDir, `${stamp}.svg`), chartSvg(run));

  console.log(`\n${report}`);
  log(`bench: results in ${path.relative(process.cwd(), outDir) || "."}/${stamp}.{json,md,svg}`);
  const errors = cells.reduce((n, c) => n + c.errors, 0);
  if (errors || failures.length) {
    log(`bench: ${errors} request errors, ${failures.length} configurations failed`);
    return 1;
  }
  return 0;
}

function describeRun(run: RunResult, o: Options): string {
  return [
    `${run.machine.cpus} × ${run.machine.cpuModel}, Node ${run.machine.node}.`,
    `${o.duration} s per cell after ${o.warmup} s warm-up; pool ${o.poolMax} per process;` +
      (o.rttMs === undefined ? " no relay (round trips not counted)." : ` relay with rtt ${o.rttMs} ms.`),
    ...(o.profile
      ? ["Servers ran under `node --cpu-prof`, which costs some speed: compare ratios within this run only."]
      : []),
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
  log(`bench failed: ${(error as Error).stack ?? String(error)}`);
} finally {
  await cleanup();
}
process.exit(code);
