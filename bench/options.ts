import path from "node:path";
import { parseArgs } from "node:util";
import { OPERATIONS, type Operation } from "./workload.ts";

/** In the report's order: the hand-written baseline, the stock packages, then the API's configurations. */
/**
 * `pg-live-off`: pg with live updates off (SSE_MAX_STREAMS=0), to measure what the change feed costs a write.
 * `pg-prod`: pg as production runs it: the access log at `info` and both rate limiters on (with budgets no cell
 * reaches, so nothing is refused).
 */
export const CONFIGURATIONS = [
  "baseline",
  "stock",
  "neon",
  "pg",
  "pg-live-off",
  "pg-prod",
  "pg-against",
  "pg-prepared",
  "embedded",
] as const;
export type Configuration = (typeof CONFIGURATIONS)[number];

export interface Options {
  configs: Configuration[];
  ops: Operation[];
  concurrency: number[];
  workers: number[];
  /** Seconds measured per cell. */
  duration: number;
  /** Seconds of load before each cell's measurement. */
  warmup: number;
  /** Seconds of mixed load after each server starts (JIT, pools). */
  serverWarmup: number;
  /** Undefined: no relay (round trips are not counted). */
  rttMs: number | undefined;
  poolMax: number;
  adminUrl: string;
  outDir: string;
  quick: boolean;
  /** Write a CPU profile per server and a top self-time table per server in the report. */
  profile: boolean;
  /** --against: another built checkout, whose dist/server.js runs as `pg-against` beside `pg`. */
  againstDir?: string;
}

export const usage = `usage: npm run bench -- [options]
  --quick               a few seconds per cell, concurrency 16 and one worker only (smoke runs, CI)
  --rtt <ms>            put a TCP relay before PostgreSQL that delays each direction by ms/2 and counts
                        round trips (--rtt 0 counts them without delay)
  --configs <list>      ${CONFIGURATIONS.join(",")} (default: all)
  --ops <list>          ${OPERATIONS.join(",")} (default: all)
  --concurrency <list>  connections per cell (default: 1,16,64)
  --workers <list>      WEB_CONCURRENCY values for the API and the baseline (default: 1,2)
  --duration <s>        seconds measured per cell (default: 10; --quick: 2)
  --warmup <s>          seconds of load before each cell (default: 2; --quick: 0.5)
  --pool <n>            DB_POOL_MAX for every server (default: 10)
  --database-url <url>  PostgreSQL server where the bench database is created
                        (default: $BENCH_DATABASE_URL or postgresql://postgres@127.0.0.1:5432/postgres)
  --profile             run each server under node --cpu-prof: a .cpuprofile per server process (opens in
                        Chrome DevTools) in <out>/<timestamp>-profiles/, and a top-20 self-time table per
                        server in the report; profiling slows the servers a little
  --against <dir>       another checkout of this project, built (npm run build there): its API runs as the
                        configuration pg-against (the pg driver) in the same run, each cell right after pg's,
                        to compare two versions side by side
  --out <dir>           where results are written (default: bench/results)`;

export class UsageError extends Error {}

function list<T extends string>(value: string, allowed: readonly T[], flag: string): T[] {
  const items = value
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  for (const item of items) {
    if (!(allowed as readonly string[]).includes(item))
      throw new UsageError(`--${flag}: unknown "${item}" (one of ${allowed.join(", ")})`);
  }
  if (!items.length) throw new UsageError(`--${flag} needs at least one value`);
  return items as T[];
}

function numbers(value: string, flag: string, min: number): number[] {
  const items = value.split(",").map((s) => Number(s.trim()));
  if (!items.length || items.some((n) => !Number.isInteger(n) || n < min)) {
    throw new UsageError(`--${flag} needs whole numbers ≥ ${min}, comma-separated (got "${value}")`);
  }
  return items;
}

function seconds(value: string, flag: string, min: number): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < min)
    throw new UsageError(`--${flag} needs a number of seconds ≥ ${min} (got "${value}")`);
  return n;
}

export function parseOptions(argv: string[], env: NodeJS.ProcessEnv = process.env): Options | "help" {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        quick: { type: "boolean", default: false },
        profile: { type: "boolean", default: false },
        rtt: { type: "string" },
        configs: { type: "string" },
        ops: { type: "string" },
        concurrency: { type: "string" },
        workers: { type: "string" },
        duration: { type: "string" },
        warmup: { type: "string" },
        pool: { type: "string" },
        "database-url": { type: "string" },
        out: { type: "string", default: "bench/results" },
        against: { type: "string" },
        help: { type: "boolean", short: "h", default: false },
      },
    }));
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (values.help) return "help";
  const quick = values.quick;
  const rtt = values.rtt === undefined ? undefined : Number(values.rtt);
  if (rtt !== undefined && (!Number.isFinite(rtt) || rtt < 0 || rtt > 1000)) {
    throw new UsageError(`--rtt needs milliseconds between 0 and 1000 (got "${values.rtt}")`);
  }
  const adminUrl = values["database-url"] ?? env.BENCH_DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";
  if (!URL.canParse(adminUrl) || !/^postgres(ql)?:$/.test(new URL(adminUrl).protocol)) {
    throw new UsageError("--database-url (or BENCH_DATABASE_URL) must be a postgres:// or postgresql:// URL");
  }
  const configs = values.configs
    ? list(values.configs, CONFIGURATIONS, "configs")
    : CONFIGURATIONS.filter((c) => c !== "pg-against" || values.against);
  if (values.against && !configs.includes("pg-against")) configs.push("pg-against");
  if (configs.includes("pg-against") && !values.against) throw new UsageError("pg-against needs --against <dir>");
  return {
    configs,
    ops: values.ops ? list(values.ops, OPERATIONS, "ops") : [...OPERATIONS],
    concurrency: values.concurrency ? numbers(values.concurrency, "concurrency", 1) : quick ? [16] : [1, 16, 64],
    workers: values.workers ? numbers(values.workers, "workers", 1) : quick ? [1] : [1, 2],
    duration: values.duration ? seconds(values.duration, "duration", 1) : quick ? 2 : 10,
    warmup: values.warmup ? seconds(values.warmup, "warmup", 0) : quick ? 0.5 : 2,
    serverWarmup: quick ? 1 : 5,
    rttMs: rtt,
    poolMax: values.pool ? numbers(values.pool, "pool", 1)[0]! : 10,
    adminUrl,
    outDir: values.out,
    quick,
    profile: values.profile,
    ...(values.against && { againstDir: path.resolve(values.against) }),
  };
}
