import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { runExchangesWhole } from "./embedded-exchanges.ts";
import { deliverNotifications } from "./embedded-notify.ts";

/** PGlite (PostgreSQL in WebAssembly) served on loopback over the PostgreSQL wire protocol. */
export interface EmbeddedDatabase {
  url: string;
  /** The data folder as a tarball, for `loadDataDir`. */
  dumpDataDir(): Promise<Blob>;
  close(): Promise<void>;
}

export interface EmbeddedOptions {
  /** Folder that persists the data; undefined keeps it in memory (tests). */
  dataDir?: string;
  /** Simultaneous client connections (PGlite runs one query at a time and queues the rest). */
  maxConnections?: number;
  /** Start from a `dumpDataDir()` tarball instead of an empty database (tests: copies of one migrated database). */
  loadDataDir?: Blob;
}

/** `<dataDir>.lock.json`: who has the folder open and where it is served (read by prisma.config.ts for Studio). */
export function lockFileFor(dataDir: string): string {
  return `${path.resolve(dataDir)}.lock.json`;
}

export async function startEmbeddedDatabase({
  dataDir,
  maxConnections = 32,
  loadDataDir,
}: EmbeddedOptions = {}): Promise<EmbeddedDatabase> {
  const lock = dataDir ? acquireLock(dataDir) : undefined;
  try {
    if (dataDir) mkdirSync(dataDir, { recursive: true });
    // Loaded here, not at import: a server on DATABASE_URL never needs PGlite's modules in memory.
    const [{ PGlite }, { PGLiteSocketServer }, { pg_trgm }] = await Promise.all([
      import("@electric-sql/pglite"),
      import("@electric-sql/pglite-socket"),
      import("@electric-sql/pglite/contrib/pg_trgm"),
    ]);
    // pg_trgm: the search's trigram indexes (migration 20261207010000_todo_search_trgm); loaded on every start,
    // as PGlite keeps an extension's files outside the data folder.
    const db = await PGlite.create({ dataDir, loadDataDir, extensions: { pg_trgm } });
    const server = new PGLiteSocketServer({ db, host: "127.0.0.1", port: 0, maxConnections });
    // Order matters: notifications are routed from the answers of the exchanges as they run.
    runExchangesWhole(server);
    deliverNotifications(server);
    await server.start();
    const [, port] = server.getServerConn().split(":");
    const url = `postgresql://postgres:postgres@127.0.0.1:${port}/postgres`;
    if (lock) writeFileSync(lock, JSON.stringify({ pid: process.pid, url }) + "\n");
    return {
      url,
      dumpDataDir: () => db.dumpDataDir("none"),
      async close() {
        await server.stop();
        await db.close();
        if (lock) releaseLock(lock);
      },
    };
  } catch (error) {
    if (lock) releaseLock(lock);
    throw error;
  }
}

// Folders this process has open: a lock naming our own pid is only real if it is one of these
// (after a crash, a restarted container often gets the same pid back).
const held = new Set<string>();

// PGlite has no lock of its own: two processes on one folder would corrupt it.
function acquireLock(dataDir: string): string {
  const file = lockFileFor(dataDir);
  mkdirSync(path.dirname(file), { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, JSON.stringify({ pid: process.pid }) + "\n", { flag: "wx" });
      held.add(file);
      return file;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const holder = readHolder(file);
      const ours = holder === process.pid ? held.has(file) : undefined;
      if (ours || (ours === undefined && holder && isAlive(holder))) {
        throw new Error(
          `The embedded database in ${dataDir} is in use by process ${holder}: stop it first (or delete ${file} if that process is not this app)`,
          { cause: error },
        );
      }
      rmSync(file, { force: true }); // left behind by a process that died
    }
  }
  throw new Error(`Could not lock the embedded database in ${dataDir} (${file})`);
}

function releaseLock(file: string): void {
  held.delete(file);
  rmSync(file, { force: true });
}

function readHolder(file: string): number | undefined {
  try {
    const pid = (JSON.parse(readFileSync(file, "utf8")) as { pid?: unknown }).pid;
    return typeof pid === "number" && Number.isInteger(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}
