import { existsSync } from "node:fs";
import path from "node:path";
import type { Configuration } from "./options.ts";
import { freePort, spawnLogged, waitUntilReady, type Child } from "./processes.ts";

export const projectRoot = path.resolve(import.meta.dirname, "..");
export const apiEntry = path.join(projectRoot, "dist", "server.js");
export const baselineEntry = path.join(projectRoot, "dist", "baseline", "bench", "baseline.js");

export interface ServerOptions {
  config: Configuration;
  workers: number;
  databaseUrl: string;
  authSecret: string;
  poolMax: number;
  logDir: string;
}

export interface Server {
  url: string;
  child: Child;
}

/** Fails with the command to run when the compiled entries are missing. */
export function assertBuilt(): void {
  for (const file of [apiEntry, baselineEntry]) {
    if (!existsSync(file)) throw new Error(`${path.relative(projectRoot, file)} is missing: run \`npm run bench\`, which compiles first`);
  }
}

/**
 * Starts the compiled API (NODE_ENV=production, as `npm run start:prod` does) or the baseline, and waits
 * for /readyz. Variables from the parent that would change the server's behaviour are cleared; rate limits
 * are turned off (the load comes from one address and two users).
 */
export async function startServer(options: ServerOptions): Promise<Server> {
  const port = await freePort();
  const api = options.config !== "baseline";
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
    DB_PREPARED_STATEMENTS: options.config === "pg-prepared" ? "on" : "off",
  };
  const child = spawnLogged({
    name: `${options.config}-w${options.workers}`,
    command: process.execPath,
    args: ["--enable-source-maps", api ? apiEntry : baselineEntry],
    env,
    cwd: projectRoot,
    logDir: options.logDir,
  });
  const url = `http://127.0.0.1:${port}`;
  try {
    await waitUntilReady(`${url}/readyz`, child);
  } catch (error) {
    await child.stop();
    throw error;
  }
  return { url, child };
}
