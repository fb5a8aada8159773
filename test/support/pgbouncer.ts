/**
 * A private PgBouncer (Debian's package) in transaction mode — what Neon's -pooler endpoint is — in front of the
 * PostgreSQL at TEST_DATABASE_URL: its own ini, auth file, Unix socket folder and log in a temp folder, a free port.
 * Every database name is forwarded (`*`), so each test file's scratch database is reachable through it.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { chown, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";

export const PGBOUNCER = "/usr/sbin/pgbouncer";

export interface PgBouncer {
  /** postgresql://user@127.0.0.1:port/ — add a database name with withDatabase(). */
  url: string;
  log(): Promise<string>;
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

export async function startPgBouncer(serverUrl: string): Promise<PgBouncer> {
  if (!existsSync(PGBOUNCER))
    throw new Error(`${PGBOUNCER} is missing: apt-get install pgbouncer (.ci/run installs it)`);
  const target = new URL(serverUrl);
  const user = decodeURIComponent(target.username || "postgres");
  const dir = await mkdtemp(path.join(tmpdir(), "todo-pgbouncer-"));
  const port = await freePort();
  const ini = path.join(dir, "pgbouncer.ini");
  const logfile = path.join(dir, "pgbouncer.log");
  await writeFile(path.join(dir, "users.txt"), `"${user}" ""\n`);
  await writeFile(
    ini,
    [
      "[databases]",
      `* = host=${target.hostname} port=${target.port || 5432}`,
      "[pgbouncer]",
      "listen_addr = 127.0.0.1",
      `listen_port = ${port}`,
      `unix_socket_dir = ${dir}`,
      `pidfile = ${path.join(dir, "pgbouncer.pid")}`,
      `logfile = ${logfile}`,
      "auth_type = trust",
      `auth_file = ${path.join(dir, "users.txt")}`,
      "pool_mode = transaction",
      // Tests read SHOW POOLS / SHOW STATS on the admin console (the `pgbouncer` database).
      `admin_users = ${user}`,
      // Every test file's API and its helpers connect at once; few server connections serve them.
      "max_client_conn = 2000",
      "default_pool_size = 10",
      // The machine's PostgreSQL is shared: bound what this pooler may open there, across every test database.
      "max_user_connections = 40",
      // Scratch databases are dropped after each file: let go of their idle server connections soon.
      "server_idle_timeout = 5",
      "autodb_idle_timeout = 10",
      "",
    ].join("\n"),
  );
  // PgBouncer refuses to run as root; as root it switches to the PostgreSQL system user, which must read the folder.
  const asRoot = process.getuid?.() === 0;
  const systemUser = asRoot ? await postgresSystemUser(dir) : undefined;
  const child: ChildProcess = spawn(PGBOUNCER, [...(systemUser ? ["-u", systemUser] : []), "-q", ini], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let stderr = "";
  child.stderr!.on("data", (chunk) => (stderr += chunk));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));

  const url = `postgresql://${encodeURIComponent(user)}@127.0.0.1:${port}/`;
  const log = () => readFile(logfile, "utf8").catch(() => "");
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`pgbouncer exited (${child.exitCode}): ${stderr}${await log()}`);
    const probe = new pg.Client({ connectionString: `${url}postgres` });
    try {
      await probe.connect();
      await probe.query("SELECT 1");
      await probe.end();
      break;
    } catch (error) {
      await probe.end().catch(() => undefined);
      if (Date.now() > deadline) {
        child.kill("SIGTERM");
        throw new Error(`pgbouncer did not answer on port ${port}: ${(error as Error).message}\n${await log()}`, {
          cause: error,
        });
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  return {
    url,
    log,
    async stop() {
      if (child.exitCode === null) {
        child.kill("SIGTERM");
        await exited;
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
}

// The user PostgreSQL's Debian package runs as; the temp folder is handed to it.
async function postgresSystemUser(dir: string): Promise<string> {
  const passwd = await readFile("/etc/passwd", "utf8");
  const entry = passwd.split("\n").find((line) => line.startsWith("postgres:"));
  if (!entry) throw new Error("pgbouncer cannot run as root and there is no postgres system user to run it as");
  const [, , uid, gid] = entry.split(":");
  for (const file of ["", "pgbouncer.ini", "users.txt"]) await chown(path.join(dir, file), Number(uid), Number(gid));
  return "postgres";
}
