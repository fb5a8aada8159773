/** SQLite files in the earlier app's formats, built by the tests themselves with sql.js. */
import { readFile, writeFile } from "node:fs/promises";
import initSqlJs, { type Database, type SqlValue } from "sql.js";

export async function writeSqlite(file: string, build: (db: Database) => void): Promise<void> {
  const SQL = await initSqlJs();
  const db = new SQL.Database();
  try {
    db.exec("BEGIN");
    build(db);
    db.exec("COMMIT");
    await writeFile(file, db.export());
  } finally {
    db.close();
  }
}

export function insertRows(db: Database, table: string, columns: string[], rows: SqlValue[][]): void {
  const statement = db.prepare(
    `INSERT INTO "${table}" (${columns.map((c) => `"${c}"`).join(", ")}) VALUES (${columns.map(() => "?").join(", ")})`,
  );
  try {
    for (const row of rows) statement.run(row);
  } finally {
    statement.free();
  }
}

const CLEAN_SCHEMA = `
  CREATE TABLE user (id TEXT PRIMARY KEY, email TEXT, name TEXT, created_at TEXT NOT NULL);
  CREATE TABLE task (id INTEGER PRIMARY KEY, user_id TEXT NOT NULL REFERENCES user(id), title TEXT NOT NULL,
                     description TEXT, completed INTEGER NOT NULL DEFAULT 0, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);`;

export interface CleanTask {
  id: number;
  userId: string;
  title: string;
  description: string | null;
  completed: boolean;
  createdAt: Date;
  updatedAt: Date;
}

const sqliteTime = (d: Date) => d.toISOString().slice(0, 19).replace("T", " ");

/** The earlier app's own format: snake_case, 0/1 booleans, 'YYYY-MM-DD HH:MM:SS' UTC timestamps. */
export async function writeCleanFixture(
  file: string,
  { users = 3, tasksPerUser = 20 }: { users?: number; tasksPerUser?: number } = {},
): Promise<{ userIds: string[]; tasks: CleanTask[] }> {
  const userIds = Array.from({ length: users }, (_, i) => `user-${i + 1}`);
  const tasks: CleanTask[] = [];
  const start = Date.UTC(2023, 0, 1);
  let id = 0;
  // Interleaved owners, as a shared file fills up over time.
  for (let n = 0; n < tasksPerUser; n++) {
    for (const userId of userIds) {
      id++;
      const createdAt = new Date(start + id * 3_600_000);
      tasks.push({
        id,
        userId,
        title: `Task ${id} of ${userId}`,
        description: id % 3 === 0 ? null : `Description ${id}`,
        completed: id % 4 === 0,
        createdAt,
        updatedAt: new Date(createdAt.getTime() + 60_000),
      });
    }
  }
  await writeSqlite(file, (db) => {
    db.exec(CLEAN_SCHEMA);
    insertRows(
      db,
      "user",
      ["id", "email", "name", "created_at"],
      userIds.map((u, i) => [u, `${u}@example.com`, `User ${i + 1}`, sqliteTime(new Date(start))]),
    );
    insertRows(
      db,
      "task",
      ["id", "user_id", "title", "description", "completed", "created_at", "updated_at"],
      tasks.map((t) => [
        t.id,
        t.userId,
        t.title,
        t.description,
        t.completed ? 1 : 0,
        sqliteTime(t.createdAt),
        sqliteTime(t.updatedAt),
      ]),
    );
  });
  return { userIds, tasks };
}

/** `count` tasks spread over `users` users, in the clean format; returns nothing to keep memory flat. */
export async function writeLargeFixture(
  file: string,
  { users, count }: { users: number; count: number },
): Promise<void> {
  await writeSqlite(file, (db) => {
    db.exec(CLEAN_SCHEMA);
    insertRows(
      db,
      "user",
      ["id", "email", "name", "created_at"],
      Array.from({ length: users }, (_, i) => [`bulk-${i}`, `bulk-${i}@example.com`, null, "2022-01-01 00:00:00"]),
    );
    const statement = db.prepare(
      `INSERT INTO task (id, user_id, title, description, completed, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
    );
    try {
      for (let id = 1; id <= count; id++) {
        const at = 1_650_000_000 + id * 37;
        statement.run([
          id,
          `bulk-${id % users}`,
          `Bulk task number ${id}`,
          id % 2 ? `Some longer description for task ${id}` : null,
          id % 5 === 0 ? 1 : 0,
          at,
          at + 600,
        ]);
      }
    } finally {
      statement.free();
    }
  });
}

/**
 * Every variation the earlier app's files show: mixed snake_case/camelCase columns, booleans as 0/1 and text,
 * timestamps as ISO text, 'YYYY-MM-DD HH:MM:SS', Unix seconds and milliseconds, optional columns missing
 * (user.name), priority and due_date present, duplicate and invalid users, tasks whose user row is missing,
 * unknown tables and columns, and rows that cannot be imported.
 */
export async function writeMessyFixture(file: string): Promise<void> {
  await writeSqlite(file, (db) => {
    db.exec(`
      CREATE TABLE "user" (id TEXT, email TEXT, createdAt, favourite_color TEXT);
      CREATE TABLE task (id INTEGER PRIMARY KEY, userId, title, description, completed, created_at, updatedAt,
                         priority, due_date, position INTEGER);
      CREATE TABLE settings (key TEXT, value TEXT);
      INSERT INTO settings VALUES ('theme', 'dark');

      INSERT INTO "user" VALUES ('alice', 'alice@example.com', '2020-01-02T03:04:05Z', 'red');
      INSERT INTO "user" VALUES ('bob', NULL, 1577934245, 'blue');
      INSERT INTO "user" VALUES ('carol', 'carol@example.com', 'not a date', NULL);
      INSERT INTO "user" VALUES ('alice', 'second-alice@example.com', NULL, NULL);

      INSERT INTO task VALUES (1, 'alice', 'ISO task', 'first', 'true', '2024-03-01T10:00:00+02:00', '2024-03-02T00:00:00Z', 'high', '2024-04-01', 1);
      INSERT INTO task VALUES (2, 'alice', 'Space format', NULL, 0, '2024-03-01 10:00:00', NULL, 1, NULL, 2);
      INSERT INTO task VALUES (3, 'bob', 'Unix seconds and milliseconds', '', 1, 1709287200, 1709290800000, NULL, 1711929600, 3);
      INSERT INTO task VALUES (4, 'bob', 'Milliseconds as text', 'x', 'false', '1709287200123', NULL, 'Low', NULL, NULL);
      INSERT INTO task VALUES (5, 'dave', 'Task of a user without a user row', NULL, 'FALSE', '2024-02-01T08:00:00Z', NULL, NULL, NULL, NULL);
      INSERT INTO task VALUES (6, 'carol', 'Task of a rejected user row', NULL, 0, '2024-02-02 08:00:00', NULL, '3', NULL, NULL);
      INSERT INTO task VALUES (7, 'alice', '${"x".repeat(201)}', NULL, 0, '2024-01-01', NULL, NULL, NULL, NULL);
      INSERT INTO task VALUES (8, 'alice', 'nul' || char(0) || 'byte', NULL, 0, '2024-01-01', NULL, NULL, NULL, NULL);
      INSERT INTO task VALUES (9, 'bob', 'Unparseable date', NULL, 0, 'next week', NULL, NULL, NULL, NULL);
      INSERT INTO task VALUES (10, 'alice', 'NUL in description', 'a' || char(0), 0, '2024-01-01', NULL, NULL, NULL, NULL);
      INSERT INTO task VALUES (11, 'bob', 'Not a boolean', NULL, 'maybe', '2024-01-01', NULL, NULL, NULL, NULL);
      INSERT INTO task VALUES (12, 'bob', 'Unknown priority', NULL, 0, '2024-01-01', NULL, 'urgent', NULL, NULL);
      INSERT INTO task VALUES (13, 'alice', '  padded  ', NULL, 0, '2024-01-03 00:00:00', NULL, NULL, NULL, NULL);
      INSERT INTO task VALUES (14, NULL, 'No user', NULL, 0, '2024-01-01', NULL, NULL, NULL, NULL);
      INSERT INTO task VALUES (15, 'alice', X'FFFE', NULL, 0, '2024-01-01', NULL, NULL, NULL, NULL);
      INSERT INTO task VALUES (16, 'alice', 'Café ☕ 😀', 'ünïcode', 1, '2024-01-04T05:06:07.890Z', NULL, 'medium', '2030-12-31T23:59:59Z', NULL);
      INSERT INTO task VALUES (17, 'alice', 42, NULL, '1', '2024-01-05', '2024-01-06', NULL, NULL, NULL);
    `);
  });
}

/** Runs SQL against an existing fixture file and saves it. */
export async function editSqlite(file: string, sql: string): Promise<void> {
  const SQL = await initSqlJs();
  const db = new SQL.Database(await readFile(file));
  try {
    db.exec(sql);
    await writeFile(file, db.export());
  } finally {
    db.close();
  }
}
