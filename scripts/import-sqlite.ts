/**
 * Imports the earlier app's SQLite database (users and tasks) into this app's database:
 *   npm run import:sqlite -- <file.db> [--dry-run] [--batch-size N] [--rejects rejects.jsonl]
 * It writes through the server's Prisma client and driver configuration (DATABASE_URL, DB_DRIVER, …); without
 * DATABASE_URL outside production it writes into the embedded database `npm start` uses.
 */
import { parseArgs } from "node:util";
import { pino } from "pino";
import { ConfigError, parseConfig, type Config } from "../src/config.ts";
import { loadEnvFile } from "../src/project.ts";
import { bootstrapDatabase, type BootstrappedDatabase } from "../src/db/bootstrap.ts";
import { createDatabase, type Database } from "../src/db/client.ts";
import { createProgress } from "./sqlite-import/progress.ts";
import { formatReport } from "./sqlite-import/report.ts";
import { DEFAULT_BATCH_SIZE, DEFAULT_CONCURRENCY, importSqlite, MAX_BATCH_SIZE } from "./sqlite-import/run.ts";
import { SourceError } from "./sqlite-import/source.ts";
import { TargetError } from "./sqlite-import/target.ts";

loadEnvFile();

const usage = `usage: npm run import:sqlite -- <file.db> [--dry-run] [--batch-size N] [--rejects rejects.jsonl]
  --dry-run         read, validate and report; write nothing to the database
  --batch-size N    rows per transaction, 1–${MAX_BATCH_SIZE} (default ${DEFAULT_BATCH_SIZE})
  --rejects FILE    where rows that cannot be imported go, with their reasons (default rejects.jsonl)`;

class UsageError extends Error {}

function parse() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      "dry-run": { type: "boolean", default: false },
      "batch-size": { type: "string", default: String(DEFAULT_BATCH_SIZE) },
      rejects: { type: "string", default: "rejects.jsonl" },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  if (values.help) return undefined;
  const [file, ...extra] = positionals;
  if (!file) throw new UsageError("missing the SQLite file to import");
  if (extra.length) throw new UsageError(`unexpected argument: ${extra.join(" ")}`);
  const batchSize = Number(values["batch-size"]);
  if (!/^\d+$/.test(values["batch-size"]) || batchSize < 1 || batchSize > MAX_BATCH_SIZE) {
    throw new UsageError(
      `--batch-size must be a whole number from 1 to ${MAX_BATCH_SIZE} (got ${JSON.stringify(values["batch-size"])})`,
    );
  }
  return { file, dryRun: values["dry-run"], batchSize, rejectsPath: values.rejects };
}

/** The server's database: DATABASE_URL, else (outside production) the embedded one, migrated as `npm start` does. */
async function openDatabase(
  config: Config,
  logger: pino.Logger,
): Promise<{ database: Database; target: BootstrappedDatabase }> {
  const target = await bootstrapDatabase("import", { announce: (line) => process.stderr.write(`${line}\n`) });
  // The embedded database cannot cancel a statement (src/server.ts): no statement limit there.
  const statementTimeoutMs = target.embedded ? 0 : config.db.statementTimeoutMs;
  const database = await createDatabase({ ...config.db, url: target.url, statementTimeoutMs }, logger);
  try {
    await database.ping();
  } catch (error) {
    await database.close();
    await target.close();
    const reason = (error as Error).message.trim().split("\n").at(-1);
    throw new TargetError(`Cannot reach the database at ${database.describe}: ${reason}`);
  }
  return { database, target };
}

async function main(): Promise<number> {
  let args: ReturnType<typeof parse>;
  try {
    args = parse();
  } catch (error) {
    console.error(`${(error as Error).message}\n${usage}`);
    return 1;
  }
  if (!args) {
    console.log(usage);
    return 0;
  }
  const config = parseConfig();
  // Logs (driver warnings) go to stderr, beside the progress; stdout carries the report alone.
  const logger = pino(
    { level: config.logLevel === "info" ? "warn" : config.logLevel, base: undefined },
    pino.destination(2),
  );

  const opened = args.dryRun ? undefined : await openDatabase(config, logger);
  try {
    // Each batch in flight holds a connection: never more than the pool has.
    const concurrency = Math.min(DEFAULT_CONCURRENCY, config.db.poolMax);
    const result = await importSqlite({
      ...args,
      concurrency,
      prisma: opened?.database.prisma,
      progress: createProgress(),
    });
    console.log(formatReport(result));
    return result.dryRun || result.verified ? 0 : 2;
  } finally {
    await opened?.database.close();
    await opened?.target.close();
  }
}

try {
  process.exitCode = await main();
} catch (error) {
  if (!(error instanceof ConfigError || error instanceof SourceError || error instanceof TargetError)) {
    // Prisma's messages end with the cause (e.g. the driver's connection error): that line is what to act on.
    const message = error instanceof Error ? error.message.trim().split("\n").at(-1) : String(error);
    console.error(`Import failed: ${message}`);
  } else {
    console.error(error.message);
  }
  process.exitCode = 1;
}
