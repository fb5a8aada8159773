/**
 * A PostgreSQL instance the fault tests own: `initdb` into a temporary folder, a free port on loopback.
 * Tests may stop, start and kill it; the machine's shared cluster is never touched.
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { chmod, chown, mkdtemp, readFile, rm } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { deployMigrations } from "../../../src/db/migrations.ts";

const run = promisify(execFile);

export const PG_BIN = process.env.FAULTS_PG_BIN ?? "/usr/lib/postgresql/15/bin";

/** Why the fault tests cannot run here, or undefined when they can. */
export function unavailableReason(): string | undefined {
  if (!existsSync(path.join(PG_BIN, "initdb"))) return `PostgreSQL binaries not found in ${PG_BIN} (set FAULTS_PG_BIN)`;
  if (process.getuid?.() === 0 && !existsSync("/usr/sbin/runuser") && !existsSync("/sbin/runuser")) {
    return "running as root and runuser is missing (initdb refuses root)";
  }
  return undefined;
}

export interface OwnPostgres {
  port: number;
  /** URL of a database on this instance (default `postgres`). */
  url(database?: string): string;
  /** A new database with the project's migrations applied; returns its URL. */
  createMigratedDatabase(name: string): Promise<string>;
  query<T extends pg.QueryResultRow = pg.QueryResultRow>(
    sql: string,
    params?: unknown[],
    database?: string,
  ): Promise<T[]>;
  /** pg_ctl stop: "fast" rolls back and disconnects sessions, "immediate" is a crash (recovery on start). */
  stop(mode?: "fast" | "immediate"): Promise<void>;
  /** Starts it again and waits until it accepts connections. */
  start(): Promise<void>;
  /** The server log so far. */
  log(): Promise<string>;
  destroy(): Promise<void>;
}

export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

// initdb and postgres refuse to run as root: use the `postgres` account then.
async function asOwner(command: string, args: string[]): Promise<void> {
  const bin = path.join(PG_BIN, command);
  if (process.getuid?.() === 0) await run("runuser", ["-u", "postgres", "--", bin, ...args]);
  else await run(bin, args);
}

export async function startOwnPostgres(): Promise<OwnPostgres> {
  const dir = await mkdtemp(path.join(os.tmpdir(), "todo-faults-pg-"));
  const data = path.join(dir, "data");
  const logFile = path.join(dir, "postgres.log");
  if (process.getuid?.() === 0) {
    const { stdout } = await run("id", ["-u", "postgres"]);
    const { stdout: gid } = await run("id", ["-g", "postgres"]);
    await chown(dir, Number(stdout), Number(gid));
  }
  await chmod(dir, 0o700);
  await asOwner("initdb", ["-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "--locale=C"]);
  const port = await freePort();
  // fsync off: durability across a process crash or a fast stop needs no fsync; only an OS crash would.
  const options = [
    `-p ${port}`,
    "-c listen_addresses=127.0.0.1",
    `-c unix_socket_directories=${dir}`,
    "-c fsync=off",
    "-c max_connections=200",
    "-c log_connections=off",
  ].join(" ");
  const pgCtl = (...args: string[]) => asOwner("pg_ctl", ["-D", data, ...args]);
  const start = () => pgCtl("-o", options, "-l", logFile, "-w", "-t", "60", "start");
  await start();

  const url = (database = "postgres") => `postgresql://postgres@127.0.0.1:${port}/${database}`;
  const query = async <T extends pg.QueryResultRow>(sql: string, params: unknown[] = [], database?: string) => {
    const client = new pg.Client({ connectionString: url(database) });
    await client.connect();
    try {
      return (await client.query<T>(sql, params)).rows;
    } finally {
      await client.end();
    }
  };
  let running = true;
  return {
    port,
    url,
    async createMigratedDatabase(name) {
      await query(`CREATE DATABASE "${name}"`);
      await deployMigrations(url(name));
      return url(name);
    },
    query,
    async stop(mode = "fast") {
      await pgCtl("-m", mode, "-w", "-t", "60", "stop");
      running = false;
    },
    async start() {
      await start();
      running = true;
    },
    log: () => readFile(logFile, "utf8"),
    async destroy() {
      if (running) await pgCtl("-m", "immediate", "-w", "stop").catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
}
