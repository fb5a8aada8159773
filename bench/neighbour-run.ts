/**
 * npm run bench:neighbour -- [--quick] [--todos 100000] [--parallel 32] [--seconds 10] [--pool 10] [--database-url URL]
 * The noisy-neighbour cell (bench/neighbour.ts) on the compiled API (`npm run build`, NODE_ENV=production, DB_DRIVER=pg)
 * and a fresh migrated database, in four setups: with the trigram indexes or without (dropped), and with
 * DB_USER_CONCURRENCY at its default (a quarter of the pool) or "off" (the whole pool). Prints a Markdown table
 * and the search's plan, writes bench/results/neighbour-<time>.{json,md}, and exits 1 when a call failed (any
 * answer but 200, or 429 for the flood); speed never fails it.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import pg from "pg";
import { createBenchDatabase } from "./database.ts";
import { neighbourMarkdown, runNeighbourCell, type NeighbourRow } from "./neighbour.ts";
import { projectRoot, startServer } from "./servers.ts";
import { positiveInteger } from "./positive-integer.ts";

const usage =
  "npm run bench:neighbour -- [--quick] [--todos N] [--parallel N] [--seconds N] [--pool N] [--database-url URL]";
const { values } = (() => {
  try {
    return parseArgs({
      options: {
        quick: { type: "boolean", default: false },
        todos: { type: "string" },
        parallel: { type: "string" },
        seconds: { type: "string" },
        pool: { type: "string" },
        "database-url": { type: "string" },
        help: { type: "boolean", default: false },
      },
    });
  } catch (error) {
    console.error(`${(error as Error).message}\n${usage}`);
    process.exit(2);
  }
})();
if (values.help) {
  console.log(usage);
  process.exit(0);
}
// --quick: a smoke run of a few seconds (CI): fewer rows, short phases, the indexed setups only.
const defaults = values.quick
  ? { todos: 5_000, parallel: 32, seconds: 1, pool: 10 }
  : { todos: 100_000, parallel: 32, seconds: 10, pool: 10 };
const number = positiveInteger;
const options = {
  todos: number("todos", values.todos, defaults.todos),
  parallel: number("parallel", values.parallel, defaults.parallel),
  seconds: number("seconds", values.seconds, defaults.seconds),
  pool: number("pool", values.pool, defaults.pool),
};
const adminUrl =
  values["database-url"] ?? process.env.BENCH_DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";
const NOISY = "bench-noisy";
const QUIET = "bench-quiet";
const SEARCH_SQL = `SELECT "id" FROM "Todo" WHERE "userId" = $1 AND ("title" ILIKE '%zq1x1%' OR "description" ILIKE '%zq1x1%')
  ORDER BY "createdAt" DESC, "id" DESC LIMIT 21`;

const log = (line: string) => console.error(line);
const logDir = mkdtempSync(path.join(os.tmpdir(), "todo-bench-neighbour-"));
const authSecret = randomBytes(32).toString("base64url");
const database = await createBenchDatabase(adminUrl);
const db = new pg.Client({ connectionString: database.url });
log(
  `bench:neighbour: database ${new URL(database.url).pathname.slice(1)} created and migrated; server logs in ${logDir}`,
);
let failed: boolean;
try {
  await db.connect();
  await db.query(`INSERT INTO "User" ("id") VALUES ($1), ($2)`, [NOISY, QUIET]);
  const started = Date.now();
  // One statement: titles and (every third) descriptions of distinct words, as real todos have.
  await db.query(
    `INSERT INTO "Todo" ("id", "userId", "title", "description", "createdAt", "updatedAt")
     SELECT gen_random_uuid(), $1, 'Todo ' || g || ' ' || md5(g::text), CASE WHEN g % 3 = 0 THEN 'Notes ' || md5((g * 7)::text) END,
            now() - g * interval '1 second', now() - g * interval '1 second'
     FROM generate_series(1, $2::int) AS g`,
    [NOISY, options.todos],
  );
  const quietTodo = (
    await db.query<{ id: string }>(
      `INSERT INTO "Todo" ("id", "userId", "title", "updatedAt") VALUES (gen_random_uuid(), $1, 'Quiet', now()) RETURNING "id"`,
      [QUIET],
    )
  ).rows[0]!.id;
  await db.query(`ANALYZE "Todo"`);
  log(`bench:neighbour: seeded ${options.todos} todos in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  const plan = async () =>
    (await db.query(`EXPLAIN ${SEARCH_SQL}`, [NOISY])).rows
      .map((r: Record<string, string>) => r["QUERY PLAN"])
      .join("\n");
  const indexedPlan = await plan();

  const quarter = String(Math.max(1, Math.floor(options.pool / 4)));
  const setups = [
    { label: `trigram indexes, DB_USER_CONCURRENCY=${quarter} (default)`, indexes: true, concurrency: quarter },
    {
      label: `trigram indexes, DB_USER_CONCURRENCY=${options.pool} (off)`,
      indexes: true,
      concurrency: String(options.pool),
    },
    ...(values.quick
      ? []
      : [
          { label: `no index, DB_USER_CONCURRENCY=${quarter} (default)`, indexes: false, concurrency: quarter },
          {
            label: `no index, DB_USER_CONCURRENCY=${options.pool} (off)`,
            indexes: false,
            concurrency: String(options.pool),
          },
        ]),
  ];
  const rows: NeighbourRow[] = [];
  let unindexedPlan: string | undefined;
  for (const setup of setups) {
    if (!setup.indexes && unindexedPlan === undefined) {
      await db.query(`DROP INDEX "Todo_title_trgm_idx"; DROP INDEX "Todo_description_trgm_idx"`);
      unindexedPlan = await plan();
    }
    log(`bench:neighbour: ${setup.label}`);
    const server = await startServer({
      config: "pg",
      workers: 1,
      databaseUrl: database.url,
      authSecret,
      poolMax: options.pool,
      logDir,
      env: { DB_USER_CONCURRENCY: setup.concurrency, METRICS_TOKEN: "" },
    });
    try {
      const result = await runNeighbourCell({
        url: server.url,
        authSecret,
        noisyUser: NOISY,
        quietUser: QUIET,
        quietTodoId: quietTodo,
        parallel: options.parallel,
        seconds: options.seconds,
      });
      rows.push({ label: setup.label, result });
      if (result.failures.length)
        log(`bench:neighbour: failures: ${[...new Set(result.failures)].slice(0, 5).join("; ")}`);
    } finally {
      await server.child.stop();
    }
  }

  const markdown = [
    neighbourMarkdown(rows, options),
    "",
    "The search's plan with the trigram indexes:",
    "",
    "```",
    indexedPlan,
    "```",
    ...(unindexedPlan ? ["", "and without them:", "", "```", unindexedPlan, "```"] : []),
  ].join("\n");
  console.log(markdown);
  const dir = path.join(projectRoot, "bench", "results");
  mkdirSync(dir, { recursive: true });
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  writeFileSync(
    path.join(dir, `neighbour-${stamp}.json`),
    JSON.stringify({ options, rows, indexedPlan, unindexedPlan }, null, 2),
  );
  writeFileSync(path.join(dir, `neighbour-${stamp}.md`), `${markdown}\n`);
  log(`bench:neighbour: wrote bench/results/neighbour-${stamp}.{json,md}`);
  failed = rows.some((row) => row.result.failures.length > 0 || row.result.quietUnderFlood.count === 0);
  if (failed) log("bench:neighbour: FAILED: a call failed, or the quiet user got no call through");
} finally {
  await db.end().catch(() => {});
  await database.drop();
}
process.exit(failed ? 1 : 0);
