/** src/db/bootstrap.ts: which URL each entry point uses, the embedded database when there is none, docs/configuration.md's table. */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pg from "pg";
import { afterAll, describe, expect, test } from "vitest";
import { ConfigError } from "../../src/config.ts";
import { bootstrapDatabase, chooseDatabase, DATABASE_PURPOSES, type Purpose } from "../../src/db/bootstrap.ts";
import { lockFileFor } from "../../src/db/embedded.ts";
import { projectRoot } from "../../src/project.ts";

const purposes = Object.keys(DATABASE_PURPOSES) as Purpose[];
const dirs: string[] = [];
afterAll(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});
function tempDataDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), "todo-bootstrap-"));
  dirs.push(dir);
  return path.join(dir, "pglite");
}

/** docs/configuration.md's table of which command reads which variable, as DATABASE_PURPOSES says. */
function renderTable(): string {
  const rows = purposes.map((purpose) => {
    const rule = DATABASE_PURPOSES[purpose];
    const reads = rule.reads.map((name) => `\`${name}\``).join(", then ");
    const without =
      rule.embedded === "running"
        ? "the embedded database `npm start` is serving (its lock file); none: an error naming the variables"
        : `starts the embedded database in \`PGLITE_DATA_DIR\`${rule.migratesEmbedded ? " and applies pending migrations" : "; the command itself migrates"}`;
    return `| ${rule.commands} | \`${purpose}\` | ${reads} | ${without} |`;
  });
  return [
    "| command | purpose | reads (first set wins) | without a URL, outside production |",
    "|---|---|---|---|",
    ...rows,
  ].join("\n");
}

test("docs/configuration.md's table of database URLs is rendered from DATABASE_PURPOSES", () => {
  const doc = readFileSync(path.join(projectRoot, "docs", "configuration.md"), "utf8");
  expect(doc, `docs/configuration.md should contain:\n${renderTable()}`).toContain(renderTable());
});

describe("each purpose reads its documented variables", () => {
  const both = { DATABASE_URL: "postgresql://pooled/db", DIRECT_URL: "postgresql://direct/db", NODE_ENV: "production" };
  test.each([
    ["serve", "DATABASE_URL"],
    ["migrate", "DIRECT_URL"],
    ["seed", "DATABASE_URL"],
    ["import", "DATABASE_URL"],
    ["prisma", "DIRECT_URL"],
  ] as const)("%s: %s first", (purpose, first) => {
    expect(chooseDatabase(purpose, both)).toEqual({ url: both[first], source: first });
  });

  test("the second variable is used when the first is unset or blank", () => {
    const onlyDatabase = { DATABASE_URL: "postgresql://pooled/db", DIRECT_URL: "  ", NODE_ENV: "production" };
    const onlyDirect = { DIRECT_URL: "postgresql://direct/db", DATABASE_URL: "", NODE_ENV: "production" };
    expect(chooseDatabase("migrate", onlyDatabase).source).toBe("DATABASE_URL");
    expect(chooseDatabase("prisma", onlyDatabase).source).toBe("DATABASE_URL");
    expect(chooseDatabase("seed", onlyDirect).source).toBe("DIRECT_URL");
    // The server and the import never run on the migrations URL.
    expect(() => chooseDatabase("serve", onlyDirect)).toThrow(/set DATABASE_URL \(/);
    expect(() => chooseDatabase("import", onlyDirect)).toThrow(/set DATABASE_URL \(/);
  });
});

describe("no URL and no embedded database allowed: one line naming the variable", () => {
  test.each(purposes)("%s with NODE_ENV=production", async (purpose) => {
    const dataDir = tempDataDir();
    const env = { NODE_ENV: "production", PGLITE_DATA_DIR: dataDir };
    const set = DATABASE_PURPOSES[purpose].reads.join(" or ");
    const error = await bootstrapDatabase(purpose, { env }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as Error).message).toBe(
      `No database URL: set ${set} (NODE_ENV=production has no embedded database).`,
    );
    expect(existsSync(dataDir)).toBe(false); // nothing started
  });

  test("the Prisma CLI when no embedded database is running", () => {
    const env = { NODE_ENV: "development", PGLITE_DATA_DIR: tempDataDir() };
    expect(() => chooseDatabase("prisma", env)).toThrow(
      new ConfigError(
        "No database URL: set DIRECT_URL or DATABASE_URL, or start the embedded database with npm start.",
      ),
    );
  });
});

async function tables(url: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query(
      `SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename`,
    );
    return rows.map((row) => row.tablename);
  } finally {
    await client.end();
  }
}

const migrations = readdirSync(path.join(projectRoot, "prisma/migrations"), { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => entry.name)
  .sort();

test("no URL outside production: a migrated embedded database in PGLITE_DATA_DIR, which the Prisma CLI then finds", async () => {
  const dataDir = tempDataDir();
  const env = { NODE_ENV: "development", PGLITE_DATA_DIR: dataDir, DATABASE_URL: "", DIRECT_URL: "" };
  const lines: string[] = [];
  const db = await bootstrapDatabase("seed", { env, announce: (line) => lines.push(line) });
  try {
    expect(db.source).toBe("embedded");
    expect(db.embedded?.url).toBe(db.url);
    expect(db.applied).toEqual(migrations);
    expect(lines).toEqual([`No DATABASE_URL or DIRECT_URL: seeding the embedded database in ${dataDir}`]);
    expect(await tables(db.url)).toEqual(expect.arrayContaining(["Todo", "User", "_prisma_migrations"]));
    // prisma.config.ts reads the running database's lock file and starts nothing.
    expect(chooseDatabase("prisma", env)).toEqual({ url: db.url, source: "embedded" });
  } finally {
    await db.close();
  }
  expect(existsSync(lockFileFor(dataDir))).toBe(false);

  const again = await bootstrapDatabase("serve", { env });
  try {
    expect(again.applied).toEqual([]); // already migrated: the data persisted
  } finally {
    await again.close();
  }
}, 120_000);

test("for migrate the embedded database is started but not migrated: the command does that", async () => {
  const env = { NODE_ENV: "development", PGLITE_DATA_DIR: tempDataDir() };
  const db = await bootstrapDatabase("migrate", { env });
  try {
    expect(db.source).toBe("embedded");
    expect(db.applied).toEqual([]);
    expect(await tables(db.url)).toEqual([]);
  } finally {
    await db.close();
  }
}, 120_000);

test("with a URL nothing is started and close() does nothing", async () => {
  const env = {
    NODE_ENV: "development",
    DATABASE_URL: "postgresql://nobody@127.0.0.1:1/never",
    PGLITE_DATA_DIR: tempDataDir(),
  };
  const db = await bootstrapDatabase("serve", { env });
  expect(db).toMatchObject({ url: env.DATABASE_URL, source: "DATABASE_URL", applied: [] });
  expect(db.embedded).toBeUndefined();
  await db.close();
  expect(existsSync(env.PGLITE_DATA_DIR)).toBe(false);
});

describe("migrations refuse a Neon pooler URL before connecting", () => {
  const pooler = "postgresql://u:p@ep-cool-name-123456-pooler.eu-central-1.aws.neon.tech/app?sslmode=require";
  const direct = "postgresql://u:p@ep-cool-name-123456.eu-central-1.aws.neon.tech/app?sslmode=require";
  const line = (name: string) =>
    `${name} is a Neon pooler (-pooler) URL, which cannot hold migrations' session locks: set DIRECT_URL to the direct (non-pooler) endpoint.`;

  test("DIRECT_URL, or DATABASE_URL as its fallback, on a pooler host is refused; the direct host is used", () => {
    expect(() => chooseDatabase("migrate", { DIRECT_URL: pooler })).toThrow(new ConfigError(line("DIRECT_URL")));
    expect(() => chooseDatabase("migrate", { DATABASE_URL: pooler })).toThrow(new ConfigError(line("DATABASE_URL")));
    expect(chooseDatabase("migrate", { DIRECT_URL: direct, DATABASE_URL: pooler })).toEqual({
      url: direct,
      source: "DIRECT_URL",
    });
    // The server itself runs on the pooler, as docs/operations.md recommends.
    expect(chooseDatabase("serve", { DATABASE_URL: pooler })).toEqual({ url: pooler, source: "DATABASE_URL" });
  });

  test.each(["deploy", "status", "reset"])(
    "npm run db:%s says so in one line and exits 1",
    async (command) => {
      const { execFile } = await import("node:child_process");
      const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
        const child = execFile(
          process.execPath,
          ["--import", "tsx", "scripts/db.ts", command],
          {
            cwd: projectRoot,
            env: { ...process.env, DIRECT_URL: "", DATABASE_URL: pooler, NODE_ENV: "development" },
          },
          (error, _stdout, stderr) => resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stderr }),
        );
        child.stdin?.end();
      });
      expect(result.code).toBe(1);
      expect(result.stderr.trim()).toBe(`Error: ${line("DATABASE_URL")}`);
    },
    30_000,
  );
});
