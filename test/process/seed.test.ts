/** npm run db:seed: idempotent, on DATABASE_URL or the embedded database, and registered as Prisma's seed command. */
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { afterAll, expect, test } from "vitest";
import prismaConfig from "../../prisma.config.ts";
import { startEmbeddedDatabase } from "../../src/db/embedded.ts";
import { DEMO_USER } from "../../src/db/seed.ts";
import { createTestDatabase, type TestDatabase } from "../support/db.ts";

const root = path.resolve(import.meta.dirname, "../..");
const TIMEOUT = 240_000;
const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

// Empty values count as unset, and keep a developer's .env from filling them in.
const noUrls = { DATABASE_URL: "", DIRECT_URL: "", TEST_DATABASE_URL: "" };

async function run(command: string, args: string[], env: Record<string, string>) {
  const { stdout } = await promisify(execFile)(command, args, {
    cwd: root,
    env: {
      ...process.env,
      ...noUrls,
      PATH: `${path.join(root, "node_modules/.bin")}${path.delimiter}${process.env.PATH}`,
      ...env,
    },
    timeout: 180_000,
  });
  return stdout;
}
const seed = (env: Record<string, string>) => run(path.join(root, "node_modules/.bin/tsx"), ["scripts/seed.ts"], env);

/** Every row of both tables, every column. */
async function rows(url: string) {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const users = (await client.query(`SELECT * FROM "User" ORDER BY "id"`)).rows;
    const todos = (await client.query(`SELECT * FROM "Todo" ORDER BY "id"`)).rows;
    return { users, todos };
  } finally {
    await client.end();
  }
}

async function migratedDatabase(): Promise<TestDatabase> {
  const database = await createTestDatabase({ migrated: true });
  cleanups.push(() => database.close());
  return database;
}

test(
  "seeds DATABASE_URL with the demo user and a spread of todos; a second run changes nothing",
  async () => {
    const { url } = await migratedDatabase();
    // The first run through Prisma's CLI (`npx prisma db seed`), the second through the script it names.
    expect(prismaConfig.migrations?.seed).toBe("tsx scripts/seed.ts");
    expect(await run(process.execPath, ["scripts/prisma.mjs", "db", "seed"], { DATABASE_URL: url })).toContain(
      `npm run token -- ${DEMO_USER.id}`,
    );
    const first = await rows(url);
    expect(first.users).toEqual([expect.objectContaining(DEMO_USER)]);
    const todos = first.todos;
    expect(todos.length).toBeGreaterThan(20); // past one page of the list
    expect(new Set(todos.map((t) => t.userId))).toEqual(new Set([DEMO_USER.id]));
    expect(new Set(todos.map((t) => t.priority))).toEqual(new Set(["LOW", "MEDIUM", "HIGH"]));
    const completed = todos.filter((t) => t.completed);
    expect(completed.length).toBeGreaterThan(0);
    expect(completed.every((t) => t.completedAt !== null)).toBe(true);
    expect(todos.some((t) => !t.completed && t.dueAt !== null && t.dueAt < new Date())).toBe(true); // overdue
    expect(todos.some((t) => t.dueAt === null)).toBe(true);

    expect(await seed({ DATABASE_URL: url })).toContain("0 user and 0 todos added");
    expect(await rows(url)).toEqual(first);
  },
  TIMEOUT,
);

test(
  "without DATABASE_URL, migrates and seeds the embedded database in PGLITE_DATA_DIR, idempotently",
  async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "todo-seed-"));
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    const dataDir = path.join(dir, "pglite");
    const env = { PGLITE_DATA_DIR: dataDir, NODE_ENV: "development" };
    expect(await seed(env)).toContain("embedded database");
    expect(await seed(env)).toContain("0 user and 0 todos added");
    const seeded = await embeddedRows(dataDir);
    expect(seeded.users).toEqual([expect.objectContaining(DEMO_USER)]);
    expect(seeded.todos.length).toBeGreaterThan(20);
  },
  TIMEOUT,
);

async function embeddedRows(dataDir: string) {
  const embedded = await startEmbeddedDatabase({ dataDir });
  try {
    return await rows(embedded.url);
  } finally {
    await embedded.close();
  }
}
