import { execFile } from "node:child_process";
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

import pg from "pg";
import { afterAll, describe, expect, it, vi } from "vitest";

import {
  createMigration,
  defaultMigrationsDir,
  defaultSchemaPath,
  deployMigrations,
  diffSchemas,
  migrationNameSlug,
  migrationStatus,
  resetDatabase,
  SNAPSHOT_FILE,
} from "../../src/db/migrations.ts";
import { createTestDatabase } from "../support/db.ts";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const TIMEOUT = 60_000;

// Databases and temp folders opened by a test, closed/removed at the end.
const cleanups: (() => Promise<void>)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function database() {
  const db = await createTestDatabase();
  cleanups.push(() => db.close());
  return db.url;
}

async function tempDir() {
  const dir = await mkdtemp(path.join(tmpdir(), "migrations-test-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

async function query<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

async function localMigrations(dir = defaultMigrationsDir) {
  const entries = await readdir(dir, { withFileTypes: true });
  return entries
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
}

/** A scratch copy of prisma/schema.prisma and prisma/migrations. */
async function scratchProject() {
  const dir = await tempDir();
  const schemaPath = path.join(dir, "schema.prisma");
  const migrationsDir = path.join(dir, "migrations");
  await cp(defaultSchemaPath, schemaPath);
  await cp(defaultMigrationsDir, migrationsDir, { recursive: true });
  return { schemaPath, migrationsDir };
}

const countMigrationRows = async (url: string) =>
  Number((await query<{ n: string }>(url, `SELECT count(*) AS n FROM "_prisma_migrations"`))[0]?.n);

describe("deployMigrations", () => {
  it(
    "applies the migrations folder once; a second deploy is a no-op",
    async () => {
      const url = await database();
      const expected = await localMigrations();
      expect(expected.length).toBeGreaterThan(0);

      expect((await deployMigrations(url)).applied).toEqual(expected);
      const rows = await countMigrationRows(url);
      expect(rows).toBe(expected.length);

      expect((await deployMigrations(url)).applied).toEqual([]);
      expect(await countMigrationRows(url)).toBe(rows);
    },
    TIMEOUT,
  );

  it(
    "works when the module is loaded twice and both copies run at once",
    async () => {
      // vitest projects evaluate this module once per project in one process; the wasm glue
      // is shared, so a second wasm instance would corrupt the first one's memory.
      vi.resetModules();
      const copy = await import("../../src/db/migrations.ts");
      expect(copy.deployMigrations).not.toBe(deployMigrations);

      const [a, b] = await Promise.all([database(), database()]);
      const expected = await localMigrations();
      const results = await Promise.all([deployMigrations(a), copy.deployMigrations(b)]);
      expect(results).toEqual([{ applied: expected }, { applied: expected }]);
    },
    TIMEOUT,
  );
});

describe("migrationStatus", () => {
  it(
    "shows pending before deploy and applied after",
    async () => {
      const url = await database();
      const names = await localMigrations();

      const before = await migrationStatus(url);
      expect(before).toMatchObject({ applied: [], pending: names, failed: [], edited: [], missing: [] });

      await deployMigrations(url);
      const after = await migrationStatus(url);
      expect(after).toMatchObject({ applied: names, pending: [], failed: [], edited: [], missing: [] });
    },
    TIMEOUT,
  );

  it(
    "reports a migration edited after it was applied",
    async () => {
      const url = await database();
      const { migrationsDir } = await scratchProject();
      await deployMigrations(url, { migrationsDir });

      const [first] = await localMigrations(migrationsDir);
      const file = path.join(migrationsDir, first!, "migration.sql");
      await writeFile(file, `${await readFile(file, "utf8")}\n-- edited\n`);

      expect((await migrationStatus(url, { migrationsDir })).edited).toEqual([first]);
    },
    TIMEOUT,
  );
});

describe("createMigration", () => {
  const now = new Date(Date.UTC(2099, 0, 2, 3, 4, 5));

  it(
    "writes a folder with the SQL for a schema change, and returns null when nothing changed",
    async () => {
      const { schemaPath, migrationsDir } = await scratchProject();
      const schema = await readFile(schemaPath, "utf8");
      const changed = schema
        .replace(/(model Todo \{\n)/, "$1  archived Boolean @default(false)\n")
        .concat("\nmodel Tag {\n  id   Int    @id @default(autoincrement())\n  name String @unique\n}\n");
      expect(changed).not.toBe(schema);
      await writeFile(schemaPath, changed);

      const created = await createMigration({ name: "Add archived & Tags", schemaPath, migrationsDir, now });
      expect(created).not.toBeNull();
      expect(path.basename(created!.dir)).toBe("20990102030405_add_archived_and_tags");
      expect(created!.sql).toMatch(/ALTER TABLE "Todo" ADD COLUMN\s+"archived" BOOLEAN NOT NULL DEFAULT false;/);
      expect(created!.sql).toContain(`CREATE TABLE "Tag"`);
      expect(created!.sql).not.toContain(`CREATE TABLE "User"`); // only the change, not the whole schema
      expect(await readFile(path.join(created!.dir, "migration.sql"), "utf8")).toBe(created!.sql);
      expect(await readFile(path.join(created!.dir, SNAPSHOT_FILE), "utf8")).toBe(changed);

      expect(await createMigration({ name: "again", schemaPath, migrationsDir, now: new Date() })).toBeNull();

      // The new folder applies on top of the existing ones.
      const url = await database();
      const { applied } = await deployMigrations(url, { migrationsDir });
      expect(applied.at(-1)).toBe("20990102030405_add_archived_and_tags");
      const columns = await query(
        url,
        `SELECT 1 FROM information_schema.columns WHERE table_name = 'Todo' AND column_name = 'archived'`,
      );
      expect(columns).toHaveLength(1);
    },
    TIMEOUT,
  );

  it(
    "starts from an empty database and writes migration_lock.toml when there are no migrations",
    async () => {
      const dir = await tempDir();
      const migrationsDir = path.join(dir, "migrations");
      const created = await createMigration({ name: "init", schemaPath: defaultSchemaPath, migrationsDir, now });
      expect(created!.sql).toBe(await diffSchemas(null, await readFile(defaultSchemaPath, "utf8")));
      expect(await readFile(path.join(migrationsDir, "migration_lock.toml"), "utf8")).toBe(
        `# Please do not edit this file manually\n# It should be added in your version-control system (e.g., Git)\nprovider = "postgresql"\n`,
      );
    },
    TIMEOUT,
  );

  it("names migrations like Prisma", () => {
    expect(migrationNameSlug("init")).toBe("init");
    expect(migrationNameSlug("Add due date!")).toBe("add_due_date");
    expect(migrationNameSlug("addTodoTags")).toBe("add_todo_tags");
    expect(migrationNameSlug("  Crème brûlée  ")).toBe("creme_brulee");
    expect(migrationNameSlug("!!!")).toBe("");
  });
});

describe("resetDatabase", () => {
  it(
    "drops data and tables, then reapplies every migration",
    async () => {
      const url = await database();
      await deployMigrations(url);
      await query(url, `INSERT INTO "User" (id) VALUES ('u1'); CREATE TABLE stray (id int)`);

      const { applied } = await resetDatabase(url);
      expect(applied).toEqual(await localMigrations());
      expect(await query(url, `SELECT * FROM "User"`)).toEqual([]);
      expect(await query(url, `SELECT 1 FROM pg_tables WHERE tablename = 'stray'`)).toEqual([]);
      expect(await countMigrationRows(url)).toBe(applied.length);
    },
    TIMEOUT,
  );
});

describe("scripts/db.ts", () => {
  // Each run starts tsx, and the embedded database when there is no URL: slow on a busy machine.
  const RUN_TIMEOUT = 90_000;
  const run = (args: string[], env: Record<string, string | undefined>) =>
    promisify(execFile)(path.join(root, "node_modules/.bin/tsx"), ["scripts/db.ts", ...args], {
      cwd: root,
      env: { ...process.env, ...env },
      timeout: RUN_TIMEOUT,
    }).then(
      ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
      (error: { code?: number; stdout: string; stderr: string }) => ({ ...error, code: error.code ?? -1 }),
    );

  it(
    "refuses reset with NODE_ENV=production",
    async () => {
      const result = await run(["reset"], {
        NODE_ENV: "production",
        DIRECT_URL: "postgresql://nobody@127.0.0.1:1/never",
      });
      expect(result.code).toBe(1);
      expect(result.stderr.trim().split("\n")).toHaveLength(1);
      expect(result.stderr).toContain("NODE_ENV=production");
    },
    TIMEOUT,
  );

  it(
    "deploys and exits on its own (no leaked handles)",
    async () => {
      const url = await database();
      const result = await run(["deploy"], { DIRECT_URL: url, NODE_ENV: "development" });
      expect(result.code).toBe(0);
      expect(result.stdout).toContain(`Applied ${(await localMigrations()).length} migration(s)`);
    },
    TIMEOUT,
  );

  it(
    "falls back to the embedded database outside production",
    async () => {
      const dataDir = await mkdtemp(path.join(tmpdir(), "todo-embedded-"));
      const env = { DIRECT_URL: "", DATABASE_URL: "", NODE_ENV: "development", PGLITE_DATA_DIR: dataDir };
      const first = await run(["deploy"], env);
      expect(first.code).toBe(0);
      expect(first.stdout).toContain("embedded database");
      expect(first.stdout).toContain(`Applied ${(await localMigrations()).length} migration(s)`);
      const second = await run(["status"], env);
      expect(second.code).toBe(0);
      expect(second.stdout).toContain("up to date");
    },
    2 * RUN_TIMEOUT,
  );

  it(
    "needs a URL and a migration name",
    async () => {
      const noUrl = await run(["status"], { DIRECT_URL: "", DATABASE_URL: "", NODE_ENV: "production" });
      expect(noUrl.code).toBe(1);
      expect(noUrl.stderr).toMatch(/DIRECT_URL.*DATABASE_URL/);

      const noName = await run(["migrate"], {});
      expect(noName.code).toBe(1);
      expect(noName.stderr).toContain("--name");
    },
    TIMEOUT,
  );
});

// --- drift: migrations folder vs. schema.prisma -------------------------------------------

const catalogQueries = {
  relations: `
    SELECT c.relname AS name, c.relkind AS kind
    FROM pg_class c
    WHERE c.relnamespace = 'public'::regnamespace AND c.relname NOT LIKE '\\_prisma\\_migrations%'
    ORDER BY 1`,
  // No ordinal position: a column added by a later migration legitimately lands last.
  columns: `
    SELECT c.relname AS "table", a.attname AS "column", format_type(a.atttypid, a.atttypmod) AS type,
           a.attnotnull AS "notNull", pg_get_expr(d.adbin, d.adrelid) AS "default"
    FROM pg_attribute a
    JOIN pg_class c ON c.oid = a.attrelid
    LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
    WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm')
      AND c.relname <> '_prisma_migrations' AND a.attnum > 0 AND NOT a.attisdropped
    ORDER BY 1, 2`,
  indexes: `
    SELECT tablename AS "table", indexname AS name, indexdef AS definition
    FROM pg_indexes
    WHERE schemaname = 'public' AND tablename <> '_prisma_migrations'
    ORDER BY 2`,
  constraints: `
    SELECT c.relname AS "table", k.conname AS name, k.contype AS type, pg_get_constraintdef(k.oid) AS definition
    FROM pg_constraint k
    JOIN pg_class c ON c.oid = k.conrelid
    WHERE c.relnamespace = 'public'::regnamespace AND c.relname <> '_prisma_migrations'
    ORDER BY 1, 2`,
  enums: `
    SELECT t.typname AS name, array_agg(e.enumlabel ORDER BY e.enumsortorder)::text[] AS labels
    FROM pg_type t
    JOIN pg_enum e ON e.enumtypid = t.oid
    WHERE t.typnamespace = 'public'::regnamespace
    GROUP BY t.typname
    ORDER BY 1`,
};

async function catalog(url: string) {
  const dump: Record<string, unknown[]> = {};
  for (const [name, sql] of Object.entries(catalogQueries)) dump[name] = await query(url, sql);
  return dump;
}

describe("drift", () => {
  it(
    "the migrations folder builds the same database as schema.prisma",
    async () => {
      const [fromMigrations, fromSchema] = await Promise.all([database(), database()]);
      await deployMigrations(fromMigrations);
      // schema.prisma cannot declare the extension (a preview feature); its migration creates it.
      await query(fromSchema, "CREATE EXTENSION IF NOT EXISTS pg_trgm");
      await query(fromSchema, await diffSchemas(null, await readFile(defaultSchemaPath, "utf8")));

      const expected = await catalog(fromSchema);
      expect(expected.columns!.length).toBeGreaterThan(0); // the dump sees the tables at all
      expect(await catalog(fromMigrations)).toEqual(expected);
    },
    TIMEOUT,
  );
});
