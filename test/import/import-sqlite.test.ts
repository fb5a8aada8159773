import { readFile, writeFile } from "node:fs/promises";
import initSqlJs from "sql.js";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { todoIdFor } from "../../scripts/sqlite-import/map.ts";
import { importSqlite, type ImportResult, type RejectLine } from "../../scripts/sqlite-import/run.ts";
import { SourceError } from "../../scripts/sqlite-import/source.ts";
import { parseConfig } from "../../src/config.ts";
import { createDatabase } from "../../src/db/client.ts";
import { createLogger } from "../../src/logger.ts";
import { todoSelect } from "../../src/todos/select.ts";
import { createTestDatabase } from "../support/db.ts";
import { liveClientOf, subscribe } from "../support/live.ts";
import { startTestServer } from "../support/server.ts";
import {
  editSqlite,
  writeCleanFixture,
  writeMessyFixture,
  writeSqlite,
  type CleanTask,
} from "../../tools/sqlite-fixtures.ts";
import { createImportTarget, driver, tempDir, type ImportTarget } from "./support.ts";

let dir: Awaited<ReturnType<typeof tempDir>>;
beforeAll(async () => {
  dir = await tempDir();
});
afterAll(async () => {
  await dir?.remove();
});

async function readRejects(file: string): Promise<RejectLine[]> {
  const text = await readFile(file, "utf8");
  return text
    .split("\n")
    .filter(Boolean)
    .map((line) => JSON.parse(line) as RejectLine);
}

/** Every stored row, in a stable order: what "changes nothing" is checked against. */
async function snapshot(target: ImportTarget) {
  const { prisma } = target.database;
  return {
    users: await prisma.user.findMany({ orderBy: { id: "asc" } }),
    todos: await prisma.todo.findMany({ orderBy: { id: "asc" } }),
  };
}

describe("a clean file", () => {
  let target: ImportTarget;
  let fixture: { userIds: string[]; tasks: CleanTask[] };
  let first: ImportResult;
  const file = () => dir.file("clean.db");

  beforeAll(async () => {
    target = await createImportTarget();
    fixture = await writeCleanFixture(file(), { users: 3, tasksPerUser: 20 });
    first = await importSqlite({
      file: file(),
      rejectsPath: dir.file("clean-rejects.jsonl"),
      batchSize: 7,
      prisma: target.database.prisma,
    });
  });
  afterAll(async () => {
    await target?.close();
  });

  test("imports every user and task, and verifies counts and checksums per user", async () => {
    expect(first.verified).toBe(true);
    expect(first.users).toMatchObject({ source: 3, rejected: 0, inserted: 3, present: 3, createdFromTasks: 0 });
    expect(first.tasks).toEqual({ source: 60, rejected: 0, inserted: 60 });
    expect(first.perUser.map((l) => [l.userId, l.source, l.imported, l.rejected, l.ok])).toEqual(
      fixture.userIds.map((u) => [u, 20, 20, 0, true]),
    );
    for (const l of first.perUser) expect(l.targetChecksum).toBe(l.sourceChecksum);
    expect(first.unknownTables).toEqual([]);
    expect(first.unknownColumns).toEqual([]);
    expect(await readRejects(dir.file("clean-rejects.jsonl"))).toEqual([]);
  });

  test("stores each task as the API would have: same fields, version 1, completedAt when completed", async () => {
    const { prisma } = target.database;
    expect(await prisma.todo.count()).toBe(60);
    for (const task of fixture.tasks) {
      const todo = await prisma.todo.findUniqueOrThrow({
        where: { id: todoIdFor(task.userId, String(task.id)) },
        select: todoSelect,
      });
      expect(todo).toEqual({
        id: todoIdFor(task.userId, String(task.id)),
        userId: task.userId,
        title: task.title,
        description: task.description,
        completed: task.completed,
        priority: "MEDIUM",
        dueAt: null,
        completedAt: task.completed ? task.updatedAt : null,
        version: 1,
        createdAt: task.createdAt,
        updatedAt: task.updatedAt,
      });
    }
    const users = await prisma.user.findMany({ orderBy: { id: "asc" } });
    expect(users.map((u) => [u.id, u.email, u.name, u.createdAt.toISOString()])).toEqual([
      ["user-1", "user-1@example.com", "User 1", "2023-01-01T00:00:00.000Z"],
      ["user-2", "user-2@example.com", "User 2", "2023-01-01T00:00:00.000Z"],
      ["user-3", "user-3@example.com", "User 3", "2023-01-01T00:00:00.000Z"],
    ]);
  });

  test("a second run changes nothing and still verifies", async () => {
    const before = await snapshot(target);
    const second = await importSqlite({
      file: file(),
      rejectsPath: dir.file("clean-rejects.jsonl"),
      batchSize: 1000,
      prisma: target.database.prisma,
    });
    expect(second.verified).toBe(true);
    expect(second.users.inserted).toBe(0);
    expect(second.tasks.inserted).toBe(0);
    expect(await snapshot(target)).toEqual(before);
  });
});

test("imported todos behave like API-created ones: listed newest first, readable and updatable at version 1", async () => {
  const fixtureFile = dir.file("api.db");
  const { tasks } = await writeCleanFixture(fixtureFile, { users: 2, tasksPerUser: 30 });
  const api = await startTestServer({}, async (url) => {
    const config = parseConfig({ NODE_ENV: "test", DATABASE_URL: url, DB_DRIVER: driver });
    const database = await createDatabase({ ...config.db, url }, createLogger("silent"));
    try {
      const result = await importSqlite({
        file: fixtureFile,
        rejectsPath: dir.file("api-rejects.jsonl"),
        prisma: database.prisma,
      });
      expect(result.verified).toBe(true);
    } finally {
      await database.close();
    }
  });
  try {
    const user = await api.client("user-1");
    const mine = tasks
      .filter((t) => t.userId === "user-1")
      .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime());
    const titles: string[] = [];
    let cursor: string | null | undefined;
    do {
      const page = await user.todo.list.query({ limit: 7, cursor });
      titles.push(...page.items.map((t) => t.title));
      cursor = page.nextCursor;
    } while (cursor);
    expect(titles).toEqual(mine.map((t) => t.title));

    const newer = await user.todo.create.mutate({ title: "Created after the import" });
    expect((await user.todo.list.query({ limit: 1 })).items[0]?.id).toBe(newer.id);

    const oldest = mine.at(-1)!;
    const id = todoIdFor("user-1", String(oldest.id));
    expect(await user.todo.byId.query({ id })).toMatchObject({ title: oldest.title, version: 1 });
    const updated = await user.todo.update.mutate({ id, expectedVersion: 1, completed: true });
    expect(updated).toMatchObject({ version: 2, completed: true });
    expect(await user.todo.stats.query()).toMatchObject({ total: 31 });
    // Another user cannot see them.
    expect(
      (await (await api.client("user-2")).todo.list.query({ limit: 100 })).items.every((t) => t.userId === "user-2"),
    ).toBe(true);
  } finally {
    await api.close();
  }
});

describe("a messy file", () => {
  let target: ImportTarget;
  let dry: ImportResult;
  let afterDryRun: { users: number; todos: number };
  let result: ImportResult;
  const rejectsPath = () => dir.file("messy-rejects.jsonl");

  beforeAll(async () => {
    target = await createImportTarget();
    await writeMessyFixture(dir.file("messy.db"));
    dry = await importSqlite({
      file: dir.file("messy.db"),
      rejectsPath: dir.file("messy-dry-rejects.jsonl"),
      dryRun: true,
    });
    const { prisma } = target.database;
    afterDryRun = { users: await prisma.user.count(), todos: await prisma.todo.count() };
    result = await importSqlite({ file: dir.file("messy.db"), rejectsPath: rejectsPath(), batchSize: 4, prisma });
  });
  afterAll(async () => {
    await target?.close();
  });

  const todo = (userId: string, taskId: number) =>
    target.database.prisma.todo.findUnique({ where: { id: todoIdFor(userId, String(taskId)) } });

  test("lists unknown tables and columns, and still verifies", () => {
    expect(result.unknownTables).toEqual(["settings"]);
    expect(result.unknownColumns.sort()).toEqual(["task.position", "user.favourite_color"]);
    expect(result.verified).toBe(true);
  });

  test("counts sources, rejects and imports per user", () => {
    expect(result.users).toMatchObject({ source: 4, rejected: 2, createdFromTasks: 2, present: 4 });
    expect(result.tasks).toEqual({ source: 17, rejected: 8, inserted: 9 });
    expect(result.perUser.map((l) => [l.userId, l.source, l.imported, l.rejected, l.ok])).toEqual([
      ["(no user id)", 1, 0, 1, true],
      ["alice", 9, 5, 4, true],
      ["bob", 5, 2, 3, true],
      ["carol", 1, 1, 0, true],
      ["dave", 1, 1, 0, true],
    ]);
  });

  test("reads every timestamp, boolean and priority format", async () => {
    expect(await todo("alice", 1)).toMatchObject({
      title: "ISO task",
      description: "first",
      completed: true,
      priority: "HIGH",
      createdAt: new Date("2024-03-01T08:00:00Z"),
      updatedAt: new Date("2024-03-02T00:00:00Z"),
      completedAt: new Date("2024-03-02T00:00:00Z"),
      dueAt: new Date("2024-04-01T00:00:00Z"),
      version: 1,
    });
    expect(await todo("alice", 2)).toMatchObject({
      description: null,
      completed: false,
      priority: "LOW",
      createdAt: new Date("2024-03-01T10:00:00Z"),
      updatedAt: new Date("2024-03-01T10:00:00Z"),
      completedAt: null,
    });
    expect(await todo("bob", 3)).toMatchObject({
      description: "",
      completed: true,
      priority: "MEDIUM",
      createdAt: new Date(1709287200_000),
      updatedAt: new Date(1709290800_000),
      completedAt: new Date(1709290800_000),
      dueAt: new Date(1711929600_000),
    });
    expect(await todo("bob", 4)).toMatchObject({
      completed: false,
      priority: "LOW",
      createdAt: new Date(1709287200123),
    });
    expect(await todo("carol", 6)).toMatchObject({ priority: "HIGH" });
    expect(await todo("alice", 13)).toMatchObject({ title: "padded" });
    expect(await todo("alice", 16)).toMatchObject({
      title: "Café ☕ 😀",
      description: "ünïcode",
      completed: true,
      completedAt: new Date("2024-01-04T05:06:07.890Z"),
      dueAt: new Date("2030-12-31T23:59:59Z"),
    });
    expect(await todo("alice", 17)).toMatchObject({ title: "42", completed: true });
  });

  test("creates users from the id when their row is missing or rejected, keeps the first of duplicates", async () => {
    const users = await target.database.prisma.user.findMany({ orderBy: { id: "asc" } });
    expect(users.map((u) => [u.id, u.email, u.name])).toEqual([
      ["alice", "alice@example.com", null],
      ["bob", null, null],
      ["carol", null, null],
      ["dave", null, null],
    ]);
    expect(users[0]!.createdAt).toEqual(new Date("2020-01-02T03:04:05Z"));
    expect(users[1]!.createdAt).toEqual(new Date("2020-01-02T03:04:05Z"));
  });

  test("writes each rejected row to the rejects file with its reason", async () => {
    const rejects = await readRejects(rejectsPath());
    const reasons = rejects.map((r) => [r.table, r.row.id ?? null, r.reason]);
    expect(reasons).toEqual([
      ["user", "carol", 'created_at "not a date" is not a date'],
      ["user", "alice", 'duplicate user id "alice"'],
      ["task", "7", "title is 201 characters (at most 200)"],
      ["task", "8", "title contains NUL bytes"],
      ["task", "9", 'created_at "next week" is not a date'],
      ["task", "10", "description contains NUL bytes"],
      ["task", "11", 'completed "maybe" is not a boolean (0/1, true/false)'],
      ["task", "12", 'priority "urgent" is not one of low, medium, high, 1, 2, 3'],
      ["task", "14", "user_id is missing"],
      ["task", "15", "title is not valid UTF-8 text"],
    ]);
    // The row is kept whole, NUL bytes and binary included, so it can be fixed and imported again.
    expect(rejects.find((r) => r.row.id === "8")?.row.title).toBe("nul\u0000byte");
    expect(rejects.find((r) => r.row.id === "15")?.row.title).toEqual({
      blobBase64: Buffer.from([0xff, 0xfe]).toString("base64"),
    });
    expect(rejects[0]?.row).toMatchObject({ id: "carol", email: "carol@example.com", createdAt: "not a date" });
  });

  test("a dry run validates and reports the same figures, and writes nothing", async () => {
    expect(afterDryRun).toEqual({ users: 0, todos: 0 });
    expect(dry.verified).toBeUndefined();
    expect(dry.tasks).toEqual({ source: 17, rejected: 8, inserted: 0 });
    expect(dry.perUser.map((l) => [l.userId, l.source, l.rejected, l.sourceChecksum])).toEqual(
      result.perUser.map((l) => [l.userId, l.source, l.rejected, l.sourceChecksum]),
    );
    expect(await readFile(dir.file("messy-dry-rejects.jsonl"), "utf8")).toBe(await readFile(rejectsPath(), "utf8"));
  });

  test("a second run changes nothing and rewrites the same rejects", async () => {
    const before = await snapshot(target);
    const firstRejects = await readFile(rejectsPath(), "utf8");
    const again = await importSqlite({
      file: dir.file("messy.db"),
      rejectsPath: rejectsPath(),
      prisma: target.database.prisma,
    });
    expect(again.verified).toBe(true);
    expect([again.users.inserted, again.tasks.inserted]).toEqual([0, 0]);
    expect(await snapshot(target)).toEqual(before);
    expect(await readFile(rejectsPath(), "utf8")).toBe(firstRejects);
  });

  test("a stored row that differs from the source fails verification for its user only", async () => {
    await target.database.prisma.todo.update({
      where: { id: todoIdFor("bob", "3") },
      data: { title: "Edited after the import" },
    });
    const again = await importSqlite({
      file: dir.file("messy.db"),
      rejectsPath: rejectsPath(),
      prisma: target.database.prisma,
    });
    expect(again.verified).toBe(false);
    expect(again.perUser.filter((l) => !l.ok).map((l) => l.userId)).toEqual(["bob"]);
  });
});

describe("writing", () => {
  let target: ImportTarget;
  beforeAll(async () => {
    target = await createImportTarget();
  });
  afterAll(async () => {
    await target?.close();
  });

  test("stores exactly the text that PostgreSQL's array syntax treats specially", async () => {
    // Columns travel as array literals: quotes, backslashes, braces, commas, NULL-like words and blanks must
    // arrive as they were, and an empty description must stay empty, not become NULL.
    const titles = [
      'say "hi"',
      "back\\slash",
      "\\",
      '\\"',
      "{braces}",
      "a,b",
      "NULL",
      "null",
      " spaced ",
      "'single'",
      "tab\there",
      "line\nbreak",
      "😀 é",
    ];
    const descriptions = ["", "NULL", '"', "\\", null, "{}", ",", "}", "{", 'a\\"b', "x", "\t", "end"];
    await writeSqlite(dir.file("special.db"), (db) => {
      db.exec(
        `CREATE TABLE task (id INTEGER, user_id TEXT, title TEXT, description TEXT, completed INTEGER, created_at TEXT)`,
      );
      titles.forEach((title, i) =>
        db.run(`INSERT INTO task VALUES (?, ?, ?, ?, 0, '2024-01-01')`, [
          i + 1,
          i % 2 ? 'user "quoted"' : "user\\slash",
          title,
          descriptions[i]!,
        ]),
      );
    });
    const result = await importSqlite({
      file: dir.file("special.db"),
      rejectsPath: dir.file("special-rejects.jsonl"),
      batchSize: 4,
      prisma: target.database.prisma,
    });
    expect(result.verified).toBe(true);
    expect(result.tasks).toEqual({ source: titles.length, rejected: 0, inserted: titles.length });
    const stored = await target.database.prisma.todo.findMany({
      select: { userId: true, title: true, description: true },
    });
    const expected = titles.map((title, i) => ({
      userId: i % 2 ? 'user "quoted"' : "user\\slash",
      title: title.trim(),
      description: descriptions[i],
    }));
    const order = (rows: { title: string }[]) => [...rows].sort((a, b) => (a.title < b.title ? -1 : 1));
    expect(order(stored)).toEqual(order(expected));
  });

  test("a batch the database refuses stops the run: the batches before it stay, none after it commits", async () => {
    // A trigger stands in for a failure the validation could not foresee, in the fourth batch of tasks; it
    // fails slowly, so the fifth batch is written meanwhile and must not commit.
    const { prisma } = target.database;
    await prisma.$executeRawUnsafe(`DELETE FROM "Todo"`);
    await prisma.$executeRawUnsafe(`CREATE FUNCTION refuse_boom() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF NEW."title" = 'boom' THEN PERFORM pg_sleep(0.5); RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; END $$`);
    await prisma.$executeRawUnsafe(
      `CREATE TRIGGER refuse_boom BEFORE INSERT ON "Todo" FOR EACH ROW EXECUTE FUNCTION refuse_boom()`,
    );
    try {
      const batchSize = 5;
      await writeCleanFixture(dir.file("boom.db"), { users: 2, tasksPerUser: 20 });
      await editSqlite(dir.file("boom.db"), `UPDATE task SET title = 'boom' WHERE id = 18`);
      const options = { file: dir.file("boom.db"), rejectsPath: dir.file("boom-rejects.jsonl"), batchSize, prisma };
      await expect(importSqlite(options)).rejects.toThrow("refused by the test");
      // Batches commit in file order, so what is left is exactly the batches before the refused one.
      const left = await prisma.todo.findMany({ select: { id: true } });
      expect(left).toHaveLength(3 * batchSize);
      const firstIds = (await readTaskIds(dir.file("boom.db"))).slice(0, 3 * batchSize);
      expect(new Set(left.map((t) => t.id))).toEqual(new Set(firstIds.map(([user, id]) => todoIdFor(user, id))));

      await prisma.$executeRawUnsafe(`DROP TRIGGER refuse_boom ON "Todo"`);
      const resumed = await importSqlite(options);
      expect(resumed.verified).toBe(true);
      expect(resumed.tasks).toEqual({ source: 40, rejected: 0, inserted: 40 - 3 * batchSize });
    } finally {
      await prisma.$executeRawUnsafe(`DROP TRIGGER IF EXISTS refuse_boom ON "Todo"`);
      await prisma.$executeRawUnsafe(`DROP FUNCTION IF EXISTS refuse_boom()`);
    }
  });
});

/** The file's (user id, task id) pairs in the order the import reads them. */
async function readTaskIds(file: string): Promise<[string, string][]> {
  const SQL = await initSqlJs();
  const db = new SQL.Database(await readFile(file));
  try {
    return (db.exec(`SELECT user_id, id FROM task`)[0]?.values ?? []).map(([user, id]) => [String(user), String(id)]);
  } finally {
    db.close();
  }
}

describe("files of other shapes", () => {
  const dryRun = (name: string) =>
    importSqlite({ file: dir.file(name), rejectsPath: dir.file(`${name}.rejects.jsonl`), dryRun: true });

  test("only a tasks table, camelCase, without an id column: rowids stand in and users come from the tasks", async () => {
    await writeSqlite(dir.file("tasks-only.db"), (db) => {
      db.exec(`CREATE TABLE Tasks (UserId TEXT, Title TEXT, Completed TEXT, CreatedAt INTEGER);
               INSERT INTO Tasks VALUES ('zoe', 'one', 'true', 1700000000), ('zoe', 'two', 'false', 1700000001000), ('yann', 'three', NULL, NULL);`);
    });
    const result = await dryRun("tasks-only.db");
    expect(result.notes).toEqual([
      "Tasks has no id column: its rowid is the legacy task id",
      "no user table: users are created from the tasks' user ids",
    ]);
    expect(result.users).toMatchObject({ source: 0, createdFromTasks: 2 });
    expect(result.tasks).toEqual({ source: 3, rejected: 0, inserted: 0 });
    expect(result.perUser.map((l) => [l.userId, l.source])).toEqual([
      ["yann", 1],
      ["zoe", 2],
    ]);
  });

  test("refuses, before writing anything, a file that is not SQLite or has no usable tables", async () => {
    await expect(dryRun("does-not-exist.db")).rejects.toThrow(/Cannot read .*does-not-exist\.db: ENOENT/);
    await writeFile(dir.file("text.db"), "just some text, not a database");
    await expect(dryRun("text.db")).rejects.toThrow(SourceError);
    await expect(dryRun("text.db")).rejects.toThrow("is not a SQLite database");

    await writeSqlite(dir.file("other.db"), (db) => db.exec(`CREATE TABLE notes (body TEXT)`));
    await expect(dryRun("other.db")).rejects.toThrow("has neither a user nor a task table (tables: notes)");

    await writeSqlite(dir.file("untitled.db"), (db) =>
      db.exec(`CREATE TABLE task (id INTEGER, user_id TEXT, name TEXT)`),
    );
    await expect(dryRun("untitled.db")).rejects.toThrow("The task table has no title column");
  });

  test("refuses a database without the app's schema", async () => {
    const empty = await createTestDatabase();
    const config = parseConfig({ NODE_ENV: "test", DATABASE_URL: empty.url, DB_DRIVER: driver });
    const database = await createDatabase({ ...config.db, url: empty.url }, createLogger("silent"));
    try {
      await writeCleanFixture(dir.file("schema.db"), { users: 1, tasksPerUser: 1 });
      await expect(
        importSqlite({
          file: dir.file("schema.db"),
          rejectsPath: dir.file("schema-rejects.jsonl"),
          prisma: database.prisma,
        }),
      ).rejects.toThrow("run `npm run db:deploy` against it first");
    } finally {
      await database.close();
      await empty.close();
    }
  });
});

test("the import reaches live subscribers (a `created` per imported todo) and sync; nothing for others", async () => {
  const fixtureFile = dir.file("live.db");
  await writeCleanFixture(fixtureFile, { users: 2, tasksPerUser: 30 });
  const api = await startTestServer();
  try {
    const user1 = await liveClientOf(api, "user-1");
    const before = (await user1.todo.sync.query({})).cursor;
    const [imported, bystander] = [subscribe(user1), subscribe(await liveClientOf(api, "someone-else"))];
    await Promise.all([imported.started, bystander.started]);
    const result = await importSqlite({
      file: fixtureFile,
      rejectsPath: dir.file("live-rejects.jsonl"),
      batchSize: 25,
      prisma: api.database.prisma,
    });
    expect(result.verified).toBe(true);
    const events = await imported.waitFor(30, 10_000);
    expect(new Set(events.map((e) => e.data.type))).toEqual(new Set(["created"]));
    const synced = await user1.todo.sync.query({ after: before, limit: 1000 });
    expect(synced.todos.map((t) => t.id).sort()).toEqual(
      events.map((e) => (e.data as { todo: { id: string } }).todo.id).sort(),
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(bystander.events).toEqual([]);
    imported.unsubscribe();
    bystander.unsubscribe();
  } finally {
    await api.close();
  }
});
