/**
 * Throughput of the SQLite import into a local PostgreSQL through the pg driver:
 *   npm run bench:import -- [--rows 100000] [--users 200] [--batch-size 1000,5000] [--concurrency 2,3] [--runs 3] [--driver pg|neon]
 * DATABASE_URL names a server where scratch databases may be created. Every run imports the same file into a
 * fresh migrated database; with several batch sizes or concurrencies the runs alternate between them, so each
 * comparison is made over the same minutes. Medians are reported.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { pino } from "pino";
import { parseConfig } from "../src/config.ts";
import { loadEnvFile } from "../src/project.ts";
import { createDatabase, type Database } from "../src/db/client.ts";
import { createBenchDatabase } from "../bench/database.ts";
import { cpuDelta, cpuTimes } from "../bench/proc.ts";
import { writeLargeFixture } from "../tools/sqlite-fixtures.ts";
import { table } from "./sqlite-import/report.ts";
import { DEFAULT_BATCH_SIZE, DEFAULT_CONCURRENCY, importSqlite, MAX_BATCH_SIZE } from "./sqlite-import/run.ts";

loadEnvFile();

const { values } = parseArgs({
  options: {
    rows: { type: "string", default: "100000" },
    users: { type: "string", default: "200" },
    "batch-size": { type: "string", default: String(DEFAULT_BATCH_SIZE) },
    concurrency: { type: "string", default: String(DEFAULT_CONCURRENCY) },
    runs: { type: "string", default: "3" },
    driver: { type: "string", default: "pg" },
  },
});
const rows = Number(values.rows);
const users = Number(values.users);
const runs = Number(values.runs);
const batchSizes = values["batch-size"].split(",").map(Number);
const concurrencies = values.concurrency.split(",").map(Number);
const positive = (n: number) => Number.isInteger(n) && n > 0;
if (
  ![rows, users, runs, ...concurrencies].every(positive) ||
  !batchSizes.every((b) => positive(b) && b <= MAX_BATCH_SIZE)
) {
  console.error(
    `--rows, --users, --runs and --concurrency must be positive integers; --batch-size 1–${MAX_BATCH_SIZE}; lists comma-separated`,
  );
  process.exit(1);
}
/** Every combination of the batch sizes and concurrencies asked for. */
const setups = batchSizes.flatMap((batchSize) => concurrencies.map((concurrency) => ({ batchSize, concurrency })));
type Setup = (typeof setups)[number];
const config = parseConfig({ ...process.env, DB_DRIVER: values.driver });
if (!config.db.url) {
  console.error(
    "Set DATABASE_URL to a PostgreSQL server where a scratch database may be created (e.g. postgresql://postgres@127.0.0.1:5432/postgres)",
  );
  process.exit(1);
}
const serverUrl = config.db.url;

/**
 * CPU milliseconds used so far by each of this database's backends, from /proc when the server runs on this machine.
 * On a busy machine wall-clock time says little; CPU seconds do not depend on what else runs.
 */
async function backendCpuTimes(database: Database): Promise<Map<number, number> | undefined> {
  const rows = await database.prisma.$queryRaw<
    { pid: number }[]
  >`SELECT pid FROM pg_stat_activity WHERE datname = current_database()`;
  const times = cpuTimes(rows.map((r) => r.pid));
  return times.size === rows.length ? times : undefined; // a backend not in this machine's /proc: a remote server
}

interface Run {
  importSeconds: number;
  verifySeconds: number;
  clientCpu: number;
  serverCpu: number | undefined;
}

/** One import of the file into a fresh database, timed. */
async function run(file: string, dir: string, { batchSize, concurrency }: Setup): Promise<Run> {
  const scratch = await createBenchDatabase(serverUrl);
  try {
    const poolMax = Math.max(config.db.poolMax, concurrency);
    const database = await createDatabase(
      { ...config.db, poolMax, url: scratch.url },
      pino({ level: "warn" }, pino.destination(2)),
    );
    try {
      const serverBefore = await backendCpuTimes(database);
      const clientBefore = process.cpuUsage();
      const result = await importSqlite({
        file,
        rejectsPath: path.join(dir, "rejects.jsonl"),
        batchSize,
        concurrency,
        prisma: database.prisma,
      });
      const client = process.cpuUsage(clientBefore);
      const serverAfter = await backendCpuTimes(database);
      if (!result.verified || result.tasks.inserted !== rows) throw new Error("the benchmark import did not verify");
      return {
        importSeconds: result.seconds.import,
        verifySeconds: result.seconds.verify,
        clientCpu: (client.user + client.system) / 1e6,
        serverCpu: serverBefore && serverAfter ? cpuDelta(serverBefore, serverAfter) / 1000 : undefined,
      };
    } finally {
      await database.close();
    }
  } finally {
    await scratch.drop();
  }
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
const rate = (seconds: number) => Math.round(rows / seconds).toLocaleString("en");

const dir = await mkdtemp(path.join(tmpdir(), "bench-import-"));
try {
  const file = path.join(dir, "bench.db");
  await writeLargeFixture(file, { users, count: rows });
  const dry: number[] = [];
  const results = new Map<Setup, Run[]>(setups.map((setup) => [setup, []]));
  // A first, unmeasured import warms the file cache, the JIT and PostgreSQL's catalogue caches.
  await run(file, dir, setups[0]!);
  for (let i = 0; i < runs; i++) {
    const result = await importSqlite({ file, rejectsPath: path.join(dir, "rejects.jsonl"), dryRun: true });
    dry.push(result.seconds.import);
    for (const setup of setups) {
      const r = await run(file, dir, setup);
      results.get(setup)!.push(r);
      process.stderr.write(
        `run ${i + 1}/${runs}, batches of ${setup.batchSize}, ${setup.concurrency} at once: ` +
          `import ${r.importSeconds.toFixed(2)} s, verify ${r.verifySeconds.toFixed(2)} s\n`,
      );
    }
  }

  console.log(
    `${rows.toLocaleString("en")} tasks of ${users} users, driver ${config.db.driver}, median of ${runs} runs:`,
  );
  console.log(`  read and validate only (--dry-run): ${median(dry).toFixed(2)} s, ${rate(median(dry))} rows/s`);
  console.log("");
  const header = [
    "batch",
    "at once",
    "import s",
    "import rows/s",
    "verify s",
    "end to end rows/s",
    "CPU here s",
    "CPU PostgreSQL s",
    "rows per CPU-s",
  ];
  const lines = setups.map((setup) => {
    const rs = results.get(setup)!;
    const imp = median(rs.map((r) => r.importSeconds));
    const ver = median(rs.map((r) => r.verifySeconds));
    const total = median(rs.map((r) => r.importSeconds + r.verifySeconds));
    const here = median(rs.map((r) => r.clientCpu));
    const server = rs.every((r) => r.serverCpu !== undefined) ? median(rs.map((r) => r.serverCpu!)) : undefined;
    return [
      String(setup.batchSize),
      String(setup.concurrency),
      imp.toFixed(2),
      rate(imp),
      ver.toFixed(2),
      rate(total),
      here.toFixed(2),
      server === undefined ? "n/a" : server.toFixed(2),
      server === undefined ? "n/a" : rate(here + server),
    ];
  });
  console.log(
    table(
      header,
      lines,
      header.map(() => true),
    ).replace(/^/gm, "  "),
  );
  console.log("");
  console.log(
    "  import: read, validate, write and commit; verify: per-user counts and checksums read back afterwards.",
  );
  console.log("  at once: batches in flight, each on its own connection.");
  console.log("  CPU PostgreSQL: the database's backends, from /proc (n/a when the server is not on this machine).");
  console.log("  Target: at least 20,000 rows/s into local PostgreSQL with the pg driver.");
} finally {
  await rm(dir, { recursive: true, force: true });
}
