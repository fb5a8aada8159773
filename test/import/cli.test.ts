import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { todoIdFor } from "../../scripts/sqlite-import/map.ts";
import { serverUrl } from "../support/db.ts";
import { editSqlite, writeCleanFixture, writeMessyFixture } from "../../tools/sqlite-fixtures.ts";
import { createImportTarget, driver, tempDir, type ImportTarget } from "./support.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const TIMEOUT = 120_000;

let dir: Awaited<ReturnType<typeof tempDir>>;
beforeAll(async () => {
  dir = await tempDir();
});
afterAll(async () => {
  await dir?.remove();
});

/** The CLI as one node process (no npm or tsx wrapper), so a signal reaches the import itself. */
function startCli(
  args: string[],
  env: Record<string, string>,
): ChildProcess & {
  output: Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>;
} {
  const child = spawn(process.execPath, ["--import", "tsx", "scripts/import-sqlite.ts", ...args], {
    cwd: root,
    env: { ...process.env, NODE_ENV: "development", DB_DRIVER: driver, LOG_LEVEL: "warn", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (chunk) => (stdout += chunk));
  child.stderr.on("data", (chunk) => (stderr += chunk));
  const output = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>(
    (resolve) => child.on("close", (code, signal) => resolve({ code, signal, stdout, stderr })),
  );
  return Object.assign(child, { output });
}

const runCli = (args: string[], env: Record<string, string> = {}) => startCli(args, env).output;

describe("npm run import:sqlite", () => {
  let target: ImportTarget;
  beforeAll(async () => {
    target = await createImportTarget();
  });
  afterAll(async () => {
    await target?.close();
  });

  test(
    "imports, prints the per-user verification table, and exits 0; plain progress lines when not on a terminal",
    async () => {
      await writeMessyFixture(dir.file("cli.db"));
      const rejects = dir.file("cli-rejects.jsonl");
      const run = await runCli([dir.file("cli.db"), "--batch-size", "3", "--rejects", rejects], {
        DATABASE_URL: target.url,
      });
      expect(run.stderr).toContain("importing 21 rows");
      expect(run.stderr).toContain("21/21 rows (100%)");
      expect(run.code).toBe(0);
      expect(run.stdout).toContain("Unknown tables (not imported): settings");
      expect(run.stdout).toMatch(/Tasks: 17 in source, 8 rejected, 9 valid, 9 written now/);
      expect(run.stdout).toMatch(/^user\s+source\s+imported\s+rejected\s+source checksum\s+stored checksum/m);
      expect(run.stdout).toMatch(/^alice\s+9\s+5\s+4\s+([0-9a-f]{15})\s+\1\s+ok$/m);
      expect(run.stdout).toContain(`Rejected rows: 10, with reasons in ${rejects}`);
      expect(run.stdout).toContain("Verified:");

      const again = await runCli([dir.file("cli.db"), "--rejects", rejects], { DATABASE_URL: target.url });
      expect(again.code).toBe(0);
      expect(again.stdout).toMatch(/Tasks: 17 in source, 8 rejected, 9 valid, 0 written now/);
    },
    TIMEOUT,
  );

  test(
    "exits 2 when verification finds a stored row that differs from the source",
    async () => {
      await target.database.prisma.todo.update({ where: { id: todoIdFor("alice", "1") }, data: { completed: false } });
      const run = await runCli([dir.file("cli.db"), "--rejects", dir.file("cli-rejects.jsonl")], {
        DATABASE_URL: target.url,
      });
      expect(run.code).toBe(2);
      expect(run.stdout).toMatch(/^alice\s.*MISMATCH$/m);
      expect(run.stdout).toContain("VERIFICATION FAILED");
    },
    TIMEOUT,
  );
});

// Not about the driver: these run in one of the two projects.
const once = driver === "neon";

test.runIf(once)(
  "--dry-run needs no database: it opens neither a URL nor the embedded one",
  async () => {
    await writeCleanFixture(dir.file("dry.db"), { users: 2, tasksPerUser: 5 });
    const dataDir = dir.file("pglite-never-created");
    const run = await runCli([dir.file("dry.db"), "--dry-run", "--rejects", dir.file("dry-rejects.jsonl")], {
      DATABASE_URL: "",
      PGLITE_DATA_DIR: dataDir,
    });
    expect(run.code).toBe(0);
    expect(run.stdout).toContain("nothing was written");
    expect(run.stdout).toMatch(/^user-1\s+5\s+5\s+0\s+[0-9a-f]{15}$/m);
    expect(existsSync(dataDir)).toBe(false);
  },
  TIMEOUT,
);

test.runIf(once)(
  "without DATABASE_URL outside production it imports into the embedded database, migrating it first",
  async () => {
    await writeCleanFixture(dir.file("embedded.db"), { users: 2, tasksPerUser: 3 });
    const env = { DATABASE_URL: "", PGLITE_DATA_DIR: dir.file("pglite") };
    const args = [dir.file("embedded.db"), "--rejects", dir.file("embedded-rejects.jsonl")];
    const first = await runCli(args, env);
    expect(first.stderr).toContain("No DATABASE_URL: importing into the embedded database");
    expect(first.code).toBe(0);
    expect(first.stdout).toContain("Tasks: 6 in source, 0 rejected, 6 valid, 6 written now");
    const second = await runCli(args, env);
    expect(second.code).toBe(0);
    expect(second.stdout).toContain("Tasks: 6 in source, 0 rejected, 6 valid, 0 written now");
    expect(second.stdout).toContain("Verified:");
  },
  TIMEOUT,
);

test(
  "an unreachable database is one line naming where it looked",
  async () => {
    await writeCleanFixture(dir.file("unreachable.db"), { users: 1, tasksPerUser: 1 });
    const run = await runCli([dir.file("unreachable.db"), "--rejects", dir.file("unreachable-rejects.jsonl")], {
      DATABASE_URL: "postgresql://someone:secret-password@127.0.0.1:1/nowhere",
      DB_CONNECTION_TIMEOUT_MS: "2000",
    });
    expect(run.code).toBe(1);
    expect(run.stderr.trim().split("\n")).toHaveLength(1);
    expect(run.stderr).toContain("Cannot reach the database at 127.0.0.1:1/nowhere");
    expect(run.stderr).not.toContain("secret-password");
  },
  TIMEOUT,
);

test.runIf(once).each([
  [[], "missing the SQLite file"],
  [["x.db", "--batch-size", "0"], "--batch-size must be a whole number from 1 to 20000"],
  [["does-not-exist.db", "--dry-run", "--bogus"], "Unknown option '--bogus'"],
])(
  "%j is refused with a one-line reason and exit 1",
  async (args, message) => {
    const run = await runCli(args, { DATABASE_URL: "" });
    expect(run.code).toBe(1);
    expect(run.stderr.split("\n")[0]).toContain(message);
  },
  TIMEOUT,
);

// A real kill in the middle of a batch. The fifth batch of tasks belongs partly to a user without a user row, so
// it is a two-statement transaction: create that user, insert the todos. The test holds an open transaction
// that has inserted the row one of those todos will become; PostgreSQL makes the import's INSERT wait for it
// (batches 1–4 commit; batch 6 waits for batch 5, whose user it may need), and the test kills the import
// with its fifth transaction open.
// PGlite serves one session, with no locks between connections to hold an import at a chosen batch, so this
// runs on PostgreSQL (TEST_DATABASE_URL).
describe.runIf(serverUrl())("an import killed half-way", () => {
  test(
    "leaves only whole batches behind, and a restart completes it with exactly one copy of every row",
    async () => {
      const target = await createImportTarget();
      const blocker = new pg.Client({ connectionString: target.url });
      const watcher = new pg.Client({ connectionString: target.url });
      await blocker.connect();
      await watcher.connect();
      try {
        const batchSize = 25;
        await writeCleanFixture(dir.file("kill.db"), { users: 3, tasksPerUser: 100 });
        // Tasks 101–125 are the fifth batch; some of them now belong to a user the user table lacks.
        await editSqlite(dir.file("kill.db"), `UPDATE task SET user_id = 'late-user' WHERE id BETWEEN 105 AND 115`);
        await blocker.query("BEGIN");
        await blocker.query(`INSERT INTO "User" ("id") VALUES ('blocker')`);
        await blocker.query(
          `INSERT INTO "Todo" ("id", "userId", "title", "updatedAt") VALUES ($1, 'blocker', 'held', now())`,
          [todoIdFor("late-user", "111")],
        );

        const args = [
          dir.file("kill.db"),
          "--batch-size",
          String(batchSize),
          "--rejects",
          dir.file("kill-rejects.jsonl"),
        ];
        const child = startCli(args, { DATABASE_URL: target.url });
        const database = new URL(target.url).pathname.slice(1);
        const deadline = Date.now() + 60_000;
        for (;;) {
          const { rows } = await watcher.query(
            `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'`,
            [database],
          );
          if (rows[0].n > 0) break;
          if (child.exitCode !== null || Date.now() > deadline)
            throw new Error(`the import never reached batch 5:\n${(await child.output).stderr}`);
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        const committed = async () =>
          (await watcher.query(`SELECT count(*)::int AS n FROM "Todo"`)).rows[0].n as number;
        // Two batches are in flight at once: batch 4 may commit a moment after batch 5 starts to wait.
        for (let i = 0; i < 100 && (await committed()) < 4 * batchSize; i++)
          await new Promise((resolve) => setTimeout(resolve, 50));
        expect(await committed()).toBe(4 * batchSize);

        child.kill("SIGKILL");
        const killed = await child.output;
        expect(killed.signal).toBe("SIGKILL");
        await blocker.query("ROLLBACK");
        // The killed import's open transaction dies with its connection: still only the four whole batches.
        for (let i = 0; i < 100; i++) {
          const { rows } = await watcher.query(
            `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()`,
            [database],
          );
          if (rows[0].n <= 1) break; // the killed import's backend is gone; only the blocker remains
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        expect(await committed()).toBe(4 * batchSize);
        // The user that batch created went with it.
        expect((await watcher.query(`SELECT "id" FROM "User" ORDER BY "id"`)).rows.map((r) => r.id)).toEqual([
          "user-1",
          "user-2",
          "user-3",
        ]);

        const restarted = await runCli(args, { DATABASE_URL: target.url });
        expect(restarted.code).toBe(0);
        expect(restarted.stdout).toContain(
          `Tasks: 300 in source, 0 rejected, 300 valid, ${300 - 4 * batchSize} written now`,
        );
        expect(restarted.stdout).toContain("Verified:");
        const { rows } = await watcher.query(
          `SELECT count(*)::int AS n, count(DISTINCT ("userId", "title"))::int AS distinct FROM "Todo"`,
        );
        expect(rows[0]).toEqual({ n: 300, distinct: 300 });
        expect((await watcher.query(`SELECT "id" FROM "User" ORDER BY "id"`)).rows.map((r) => r.id)).toEqual([
          "late-user",
          "user-1",
          "user-2",
          "user-3",
        ]);
      } finally {
        await blocker.end();
        await watcher.end();
        await target.close();
      }
    },
    TIMEOUT,
  );
});
