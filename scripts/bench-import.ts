/**
 * Throughput of the SQLite import into a local PostgreSQL through the pg driver:
 *   npm run bench:import -- [--rows 100000] [--users 200] [--batch-size 1000] [--driver pg|neon]
 * DATABASE_URL names a server where a scratch database may be created; it is migrated, filled once, dropped.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import pg from "pg";
import { pino } from "pino";
import { loadEnvFile, parseConfig } from "../src/config.ts";
import { createDatabase } from "../src/db/client.ts";
import { deployMigrations } from "../src/db/migrations.ts";
import { writeLargeFixture } from "../test/support/sqlite.ts";
import { DEFAULT_BATCH_SIZE, importSqlite } from "./sqlite-import/run.ts";

loadEnvFile();

const { values } = parseArgs({
  options: {
    rows: { type: "string", default: "100000" },
    users: { type: "string", default: "200" },
    "batch-size": { type: "string", default: String(DEFAULT_BATCH_SIZE) },
    driver: { type: "string", default: "pg" },
  },
});
const rows = Number(values.rows);
const users = Number(values.users);
const batchSize = Number(values["batch-size"]);
const config = parseConfig({ ...process.env, DB_DRIVER: values.driver });
if (!config.db.url) {
  console.error("Set DATABASE_URL to a PostgreSQL server where a scratch database may be created (e.g. postgresql://postgres@127.0.0.1:5432/postgres)");
  process.exit(1);
}

const admin = async (sql: string) => {
  const client = new pg.Client({ connectionString: config.db.url });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
};
const name = `todo_bench_${randomBytes(6).toString("hex")}`;
const url = new URL(config.db.url);
url.pathname = `/${name}`;
const dir = await mkdtemp(path.join(tmpdir(), "bench-import-"));
const file = path.join(dir, "bench.db");

await admin(`CREATE DATABASE "${name}"`);
try {
  await deployMigrations(url.toString());
  await writeLargeFixture(file, { users, count: rows });
  const database = await createDatabase({ ...config.db, url: url.toString() }, pino({ level: "warn" }, pino.destination(2)));
  try {
    const time = async (dryRun: boolean) => {
      const started = performance.now();
      const result = await importSqlite({ file, rejectsPath: path.join(dir, "rejects.jsonl"), batchSize, dryRun, prisma: database.prisma });
      return { seconds: (performance.now() - started) / 1000, result };
    };
    // On a busy machine wall-clock time says little: also count the CPU seconds the import itself and its
    // PostgreSQL backends spent (the backends' from /proc, when the server runs on this machine).
    const backendCpuSeconds = async () => {
      const pids = await database.prisma.$queryRaw<{ pid: number }[]>`SELECT pid FROM pg_stat_activity WHERE datname = current_database()`;
      let ticks = 0;
      for (const { pid } of pids) {
        const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => undefined);
        if (!stat) return undefined;
        const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        ticks += Number(fields[11]) + Number(fields[12]); // utime + stime, in clock ticks (100 per second)
      }
      return ticks / 100;
    };
    const dry = await time(true);
    const serverBefore = await backendCpuSeconds();
    const clientBefore = process.cpuUsage();
    const full = await time(false);
    const client = process.cpuUsage(clientBefore);
    const serverAfter = await backendCpuSeconds();
    if (!full.result.verified || full.result.tasks.inserted !== rows) throw new Error("the benchmark import did not verify");
    const rate = (s: number) => Math.round(rows / s).toLocaleString("en");
    console.log(`${rows.toLocaleString("en")} tasks of ${users} users, batches of ${batchSize}, driver ${config.db.driver}:`);
    console.log(`  read and validate only (--dry-run):   ${dry.seconds.toFixed(2)} s  ${rate(dry.seconds)} rows/s`);
    const { import: importSeconds, verify: verifySeconds } = full.result.seconds;
    console.log(`  import into PostgreSQL:               ${importSeconds.toFixed(2)} s  ${rate(importSeconds)} rows/s`);
    console.log(`  then verify (counts and checksums):   ${verifySeconds.toFixed(2)} s`);
    console.log(`  import and verify, end to end:        ${full.seconds.toFixed(2)} s  ${rate(full.seconds)} rows/s`);
    const clientSeconds = (client.user + client.system) / 1e6;
    if (serverBefore !== undefined && serverAfter !== undefined) {
      const serverSeconds = serverAfter - serverBefore;
      console.log(
        `  CPU time of that import: ${clientSeconds.toFixed(2)} s here + ${serverSeconds.toFixed(2)} s in PostgreSQL = ` +
          `${rate(clientSeconds + serverSeconds)} rows per CPU-second (a rate that does not depend on what else the machine runs)`,
      );
    } else {
      console.log(`  CPU time of that import here: ${clientSeconds.toFixed(2)} s (PostgreSQL's is not readable from this machine)`);
    }
  } finally {
    await database.close();
  }
} finally {
  await admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  await rm(dir, { recursive: true, force: true });
}
