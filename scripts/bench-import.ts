/**
 * Throughput of the SQLite import into a local PostgreSQL through the pg driver:
 *   npm run bench:import -- [--rows 100000] [--users 200] [--batch-size 1000] [--driver pg|neon]
 * DATABASE_URL names a server where a scratch database may be created; it is migrated, filled once, dropped.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
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
    const dry = await time(true);
    const full = await time(false);
    if (!full.result.verified || full.result.tasks.inserted !== rows) throw new Error("the benchmark import did not verify");
    const rate = (s: number) => Math.round(rows / s).toLocaleString("en");
    console.log(`${rows.toLocaleString("en")} tasks of ${users} users, batches of ${batchSize}, driver ${config.db.driver}:`);
    console.log(`  read and validate only (--dry-run):   ${dry.seconds.toFixed(2)} s  ${rate(dry.seconds)} rows/s`);
    console.log(`  import into PostgreSQL, then verify:  ${full.seconds.toFixed(2)} s  ${rate(full.seconds)} rows/s`);
  } finally {
    await database.close();
  }
} finally {
  await admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  await rm(dir, { recursive: true, force: true });
}
