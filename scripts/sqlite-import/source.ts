// Reads the earlier app's SQLite file with sql.js (SQLite compiled to WebAssembly): finds the user and task
// tables whatever their column spelling, and streams their rows.
import { readFile } from "node:fs/promises";
import initSqlJs, { type Database, type SqlValue } from "sql.js";
import { utf8, type SqliteValue } from "./values.ts";

export const USER_FIELDS = ["id", "email", "name", "createdAt"] as const;
export const TASK_FIELDS = [
  "id",
  "userId",
  "title",
  "description",
  "completed",
  "createdAt",
  "updatedAt",
  "priority",
  "dueDate",
] as const;
export type UserField = (typeof USER_FIELDS)[number];
export type TaskField = (typeof TASK_FIELDS)[number];

const TABLE_NAMES = { user: ["user", "users"], task: ["task", "tasks"] } as const;
type Kind = keyof typeof TABLE_NAMES;

/** created_at, createdAt and CreatedAt are one column. */
const normalise = (name: string) => name.replace(/_/g, "").toLowerCase();

export interface SourceTable<F extends string> {
  name: string;
  /** Field → the file's column name. */
  columns: Partial<Record<F, string>>;
  /** True when the table has no id column and its rowid stands in. */
  rowidAsId: boolean;
  rowCount: number;
}

export interface SourceRow<F extends string> {
  values: Record<F, SqliteValue>;
  /** Field → the file's column name, shared by a table's rows: the rejects file shows a row as the file has it. */
  columns: Partial<Record<F, string>>;
}

/** A row by the file's column names, for the rejects file. */
export function rawRow<F extends string>({ values, columns }: SourceRow<F>): Record<string, SqliteValue> {
  const raw: Record<string, SqliteValue> = {};
  for (const [field, column] of Object.entries(columns) as [F, string][]) raw[column] = values[field];
  return raw;
}

export interface SourceFile {
  user: SourceTable<UserField> | undefined;
  task: SourceTable<TaskField> | undefined;
  unknownTables: string[];
  /** "table.column" for columns this import does not know. */
  unknownColumns: string[];
  users(): Generator<SourceRow<UserField>>;
  tasks(): Generator<SourceRow<TaskField>>;
  close(): void;
}

export class SourceError extends Error {}

const quote = (name: string) => `"${name.replace(/"/g, '""')}"`;

export async function openSource(file: string): Promise<SourceFile> {
  let bytes: Buffer;
  try {
    bytes = await readFile(file);
  } catch (error) {
    throw new SourceError(`Cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  const SQL = await initSqlJs();
  let db: Database;
  let tableNames: string[];
  try {
    db = new SQL.Database(bytes);
    tableNames =
      db
        .exec(
          `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\\_%' ESCAPE '\\' ORDER BY name`,
        )[0]
        ?.values.map((row) => String(row[0])) ?? [];
  } catch (error) {
    throw new SourceError(`${file} is not a SQLite database (${(error as Error).message})`);
  }

  const unknownTables: string[] = [];
  const unknownColumns: string[] = [];
  const found: Partial<Record<Kind, string>> = {};
  for (const name of tableNames) {
    const kind = (Object.keys(TABLE_NAMES) as Kind[]).find((k) =>
      (TABLE_NAMES[k] as readonly string[]).includes(name.toLowerCase()),
    );
    if (kind && !found[kind]) found[kind] = name;
    else unknownTables.push(name);
  }

  const describe = <F extends string>(name: string | undefined, fields: readonly F[]): SourceTable<F> | undefined => {
    if (!name) return undefined;
    const columns: Partial<Record<F, string>> = {};
    const info = db.exec(`PRAGMA table_info(${quote(name)})`)[0]?.values ?? [];
    for (const row of info) {
      const column = String(row[1]);
      const field = fields.find((f) => normalise(f) === normalise(column));
      if (field && !columns[field]) columns[field] = column;
      else unknownColumns.push(`${name}.${column}`);
    }
    const rowCount = Number(db.exec(`SELECT count(*) FROM ${quote(name)}`)[0]?.values[0]?.[0] ?? 0);
    return { name, columns, rowidAsId: !("id" in columns), rowCount };
  };

  const user = describe(found.user, USER_FIELDS);
  const task = describe(found.task, TASK_FIELDS);
  if (!user && !task)
    throw new SourceError(`${file} has neither a user nor a task table (tables: ${tableNames.join(", ") || "none"})`);
  if (task && !task.columns.title) throw new SourceError(`The ${task.name} table has no title column`);
  if (task && !task.columns.userId) throw new SourceError(`The ${task.name} table has no user_id column`);

  function* rows<F extends string>(table: SourceTable<F> | undefined, fields: readonly F[]): Generator<SourceRow<F>> {
    if (!table) return;
    const present = fields.filter((f) => table.columns[f] || (f === "id" && table.rowidAsId));
    const columns: Partial<Record<F, string>> = {};
    for (const f of present) columns[f] = f === "id" && table.rowidAsId ? "rowid" : table.columns[f]!;
    // One column per field, its SQLite type told by its JavaScript type. Text arrives as bytes: sql.js would
    // cut it at the first NUL, and NULs must be seen to be refused. Integers arrive as "i<digits>", exact
    // beyond 2^53; BLOBs as "x<hex>"; reals as numbers.
    const select = present.map((f) => {
      const c = columns[f] === "rowid" ? "rowid" : quote(columns[f]!);
      return `CASE typeof(${c}) WHEN 'text' THEN CAST(${c} AS BLOB) WHEN 'integer' THEN 'i' || ${c} WHEN 'blob' THEN 'x' || hex(${c}) ELSE ${c} END`;
    });
    const statement = db.prepare(`SELECT ${select.join(", ")} FROM ${quote(table.name)}`);
    const absent = fields.filter((f) => !present.includes(f));
    try {
      while (statement.step()) {
        const row = statement.get();
        const values = {} as Record<F, SqliteValue>;
        for (let i = 0; i < present.length; i++) values[present[i]!] = decode(row[i] ?? null);
        for (const f of absent) values[f] = null;
        yield { values, columns };
      }
    } finally {
      statement.free();
    }
  }

  return {
    user,
    task,
    unknownTables,
    unknownColumns,
    users: () => rows(user, USER_FIELDS),
    tasks: () => rows(task, TASK_FIELDS),
    close: () => db.close(),
  };
}

function decode(value: SqlValue): SqliteValue {
  if (value instanceof Uint8Array) {
    try {
      return utf8.decode(value);
    } catch {
      return value; // invalid UTF-8 stays bytes; the field's parser rejects it with a reason
    }
  }
  if (typeof value === "string") return value[0] === "i" ? value.slice(1) : Buffer.from(value.slice(1), "hex");
  return value;
}
