import { existsSync } from "node:fs";
import path from "node:path";
import type { Configuration } from "./options.ts";
import { freePort, spawnLogged, waitUntilReady, type Child } from "./processes.ts";
import { profileFiles } from "./profile.ts";

export const projectRoot = path.resolve(import.meta.dirname, "..");
export const apiEntry = path.join(projectRoot, "dist", "server.js");
export const baselineEntry = path.join(projectRoot, "dist", "baseline", "bench", "baseline.js");
export const stockEntry = path.join(projectRoot, "dist", "baseline", "bench", "stock.js");

export interface ServerOptions {
  config: Configuration;
  workers: number;
  databaseUrl: string;
  authSecret: string;
  poolMax: number;
  logDir: string;
  /** With --profile: the folder for this run's CPU profiles. */
  profileDir?: string;
  /** Further variables for the server (bench:sse's stream limits). */
  env?: NodeJS.ProcessEnv;
  /** pg-against: the checkout whose dist/server.js runs. */
  againstDir?: string;
}

export interface Server {
  url: string;
  child: Child;
  /** With --profile: the `.cpuprofile` files written so far (each appears as its process exits), and how many to expect. */
  profile?: { files(): string[]; processes: number };
}

/**
 * `node --cpu-prof` writes a profile when the process exits normally (the servers exit from their SIGTERM handlers).
 * One process: `<series>.cpuprofile`. Cluster workers inherit the flags, so with several each process writes
 * node's default name (it holds the pid) into a folder of the series.
 */
function profileFlags(
  profileDir: string,
  name: string,
  workers: number,
): { args: string[]; profile: NonNullable<Server["profile"]> } {
  if (workers === 1) {
    const file = path.join(profileDir, `${name}.cpuprofile`);
    return {
      args: ["--cpu-prof", "--cpu-prof-dir", profileDir, "--cpu-prof-name", path.basename(file)],
      profile: { files: () => (existsSync(file) ? [file] : []), processes: 1 },
    };
  }
  const dir = path.join(profileDir, name);
  return {
    args: ["--cpu-prof", "--cpu-prof-dir", dir],
    profile: { files: () => profileFiles(dir), processes: workers + 1 },
  };
}

/** The limiters' budgets are their maximum, far above what a cell sends in a window, so they count but never refuse. */
const PRODUCTION_DEFAULTS = { LOG_LEVEL: "info", RATE_LIMIT_PER_IP: "10000000", RATE_LIMIT_PER_USER: "10000000" };

function entryOf(config: Configuration, againstDir: string | undefined): string {
  if (config === "pg-against") {
    const entry = path.join(againstDir ?? "", "dist", "server.js");
    if (!againstDir || !existsSync(entry)) throw new Error(`${entry} is missing: run npm run build in ${againstDir}`);
    return entry;
  }
  if (config === "baseline") return baselineEntry;
  if (config === "stock") return stockEntry;
  return apiEntry;
}

/** Fails with the command to run when the compiled entries are missing. */
export function assertBuilt(): void {
  for (const file of [apiEntry, baselineEntry, stockEntry]) {
    if (!existsSync(file))
      throw new Error(`${path.relative(projectRoot, file)} is missing: run \`npm run bench\`, which compiles first`);
  }
}

/**
 * Starts the compiled API (NODE_ENV=production, as `npm run start:prod` does), the baseline or the stock server,
 * and waits for /readyz. Variables from the parent that would change the server's behaviour are cleared; rate limits
 * are turned off and one user may use the whole pool (the load comes from one address and two users).
 */
export async function startServer(options: ServerOptions): Promise<Server> {
  const port = await freePort();
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    NODE_ENV: "production",
    HOST: "127.0.0.1",
    PORT: String(port),
    DATABASE_URL: options.databaseUrl,
    DIRECT_URL: "",
    DB_DRIVER: options.config === "neon" ? "neon" : "pg",
    DB_POOL_MAX: String(options.poolMax),
    AUTH_SECRET: options.authSecret,
    AUTH_JWKS_URL: "",
    AUTH_ISSUER: "",
    AUTH_AUDIENCE: "",
    LOG_LEVEL: process.env.BENCH_LOG_LEVEL ?? "warn",
    WEB_CONCURRENCY: String(options.workers),
    RATE_LIMIT_PER_IP: "0",
    RATE_LIMIT_PER_USER: "0",
    // The load is one reader's: the whole pool is theirs, as in the baseline (bench:neighbour sets its own).
    DB_USER_CONCURRENCY: String(options.poolMax),
    DB_PREPARED_STATEMENTS: options.config === "pg-prepared" ? "on" : "off",
    // Live updates off: no LISTEN session, no polls, no hints after writes (the change columns stay).
    ...(options.config === "pg-live-off" ? { SSE_MAX_STREAMS: "0" } : {}),
    // The production defaults: an access log line per request, both limiters counting every request.
    ...(options.config === "pg-prod" ? PRODUCTION_DEFAULTS : {}),
    ...options.env,
  };
  const name = `${options.config}-w${options.workers}`;
  const profiling =
    options.profileDir === undefined ? undefined : profileFlags(options.profileDir, name, options.workers);
  const child = spawnLogged({
    name,
    command: process.execPath,
    args: [...(profiling?.args ?? []), "--enable-source-maps", entryOf(options.config, options.againstDir)],
    env,
    cwd: options.config === "pg-against" ? options.againstDir! : projectRoot,
    logDir: options.logDir,
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitUntilReady(`${url}/readyz`, child);
  } catch (error) {
    await child.stop();
    throw error;
  }
  return { url, child, profile: profiling?.profile };
}
