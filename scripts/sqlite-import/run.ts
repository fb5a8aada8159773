// The import: read and validate every row, write valid ones in batches (one transaction each), send the rest
// to the rejects file, then verify per user that the stored rows match the source.
import { closeSync, openSync, writeSync } from "node:fs";
import { performance } from "node:perf_hooks";
import type { PrismaClient } from "../../src/db/client.ts";
import { addChecksums, rowChecksum } from "./checksum.ts";
import { byUserId, mapTask, mapUser, type TodoRecord, type UserRecord } from "./map.ts";
import type { Progress } from "./progress.ts";
import { openSource, rawRow, type SourceRow } from "./source.ts";
import { assertSchema, countUsers, storedTodoSums, writeBatch } from "./target.ts";
import type { SqliteValue } from "./values.ts";

/** Larger batches group more of a user's rows on the same index pages (`npm run bench:import` compares sizes). */
export const DEFAULT_BATCH_SIZE = 5000;
/** Bounds one statement's size (a few MB of text) and what a failed batch has to redo. */
export const MAX_BATCH_SIZE = 20_000;
/** Two batches at once keep both PostgreSQL and this process busy on two cores; more only queue. */
export const DEFAULT_CONCURRENCY = 2;

export interface ImportOptions {
  file: string;
  /** Where rejected rows go, one JSON object per line; the file is rewritten on every run. */
  rejectsPath: string;
  batchSize?: number;
  /** Read, validate and report; no database needed. */
  dryRun?: boolean;
  /** Required unless dryRun. */
  prisma?: PrismaClient;
  progress?: Progress;
  /** The time that stands in for a task without any timestamp. */
  now?: Date;
  /** Batches written at once (each on its own connection); 1 writes them one after another. */
  concurrency?: number;
}

export interface UserLine {
  userId: string;
  source: number;
  rejected: number;
  /** Stored todos with this user's imported ids; undefined in a dry run. */
  imported: number | undefined;
  sourceChecksum: bigint;
  targetChecksum: bigint | undefined;
  ok: boolean | undefined;
}

export interface TableCounts {
  source: number;
  rejected: number;
  /** Written by this run (the rest of the valid rows were already there). */
  inserted: number;
}

export interface ImportResult {
  file: string;
  dryRun: boolean;
  unknownTables: string[];
  unknownColumns: string[];
  notes: string[];
  users: TableCounts & { createdFromTasks: number; present: number | undefined };
  tasks: TableCounts;
  perUser: UserLine[];
  rejectsPath: string;
  /** True when every user's counts and checksums match; undefined in a dry run. */
  verified: boolean | undefined;
  /** Wall-clock seconds: reading, validating and writing; then the verification (0 in a dry run). */
  seconds: { import: number; verify: number };
}

/** What the rejects file records for a row that could not be imported. */
export interface RejectLine {
  table: string;
  reason: string;
  row: Record<string, unknown>;
}

const NO_USER = "(no user id)";

function jsonValue(value: SqliteValue): unknown {
  return value instanceof Uint8Array ? { blobBase64: Buffer.from(value).toString("base64") } : value;
}

export async function importSqlite(options: ImportOptions): Promise<ImportResult> {
  const { file, rejectsPath, dryRun = false, prisma, progress } = options;
  const batchSize = options.batchSize ?? DEFAULT_BATCH_SIZE;
  const concurrency = options.concurrency ?? DEFAULT_CONCURRENCY;
  if (!Number.isInteger(batchSize) || batchSize < 1)
    throw new Error(`batchSize must be a positive integer (got ${batchSize})`);
  if (!Number.isInteger(concurrency) || concurrency < 1)
    throw new Error(`concurrency must be a positive integer (got ${concurrency})`);
  const now = options.now ?? new Date();
  if (!dryRun && !prisma) throw new Error("importSqlite needs a Prisma client unless dryRun is set");

  const started = performance.now();
  const source = await openSource(file);
  let rejects: number;
  try {
    if (prisma && !dryRun) await assertSchema(prisma);
    rejects = openSync(rejectsPath, "w");
  } catch (error) {
    source.close();
    throw error;
  }
  const notes: string[] = [];
  if (source.user?.rowidAsId) notes.push(`${source.user.name} has no id column: its rowid is the user id`);
  if (source.task?.rowidAsId) notes.push(`${source.task.name} has no id column: its rowid is the legacy task id`);
  if (!source.user) notes.push("no user table: users are created from the tasks' user ids");
  if (!source.task) notes.push("no task table: only users are imported");

  const users: ImportResult["users"] = { source: 0, rejected: 0, inserted: 0, createdFromTasks: 0, present: undefined };
  const tasks: TableCounts = { source: 0, rejected: 0, inserted: 0 };
  const perUser = new Map<string, UserLine>();
  const line = (userId: string) => {
    let entry = perUser.get(userId);
    if (!entry) {
      entry = {
        userId,
        source: 0,
        rejected: 0,
        imported: undefined,
        sourceChecksum: 0n,
        targetChecksum: undefined,
        ok: undefined,
      };
      perUser.set(userId, entry);
    }
    return entry;
  };

  const reject = (table: string, row: SourceRow<string>, reason: string) => {
    const raw = Object.fromEntries(Object.entries(rawRow(row)).map(([k, v]) => [k, jsonValue(v)]));
    writeSync(rejects, JSON.stringify({ table, reason, row: raw } satisfies RejectLine) + "\n");
  };

  // Up to `concurrency` batches in flight while the next is read and validated: PostgreSQL works on two at
  // once, and writeBatch makes them commit in order. A failed batch stops the run; later ones roll back.
  const pending: { started: Promise<void>; committed: Promise<boolean>; newUsers: Set<string> }[] = [];
  let failure: Error | undefined;
  let done = 0;
  const total = (source.user?.rowCount ?? 0) + (source.task?.rowCount ?? 0);
  progress?.start(total);
  const flush = async (batchUsers: UserRecord[], batchTodos: TodoRecord[], rows: number) => {
    // Todos wait for the commit of batches creating their users: a foreign key does not see another
    // transaction's uncommitted rows.
    const needsUsersOf = () => {
      const creating = pending.filter((p) => p.newUsers.size);
      return creating.length > 0 && batchTodos.some((t) => creating.some((p) => p.newUsers.has(t.userId)));
    };
    while (pending.length >= concurrency || needsUsersOf()) await pending.shift()!.committed;
    if (failure) throw failure;
    if (dryRun || !prisma || (!batchUsers.length && !batchTodos.length)) {
      done += rows;
      progress?.update(done);
      return;
    }
    const previous = pending.at(-1);
    // Transactions open in file order too: on a database that serves one session at a time (the embedded
    // PGlite) a later batch holding the session while it waits for an earlier one would never finish.
    if (previous) await Promise.race([previous.started, previous.committed]);
    // eslint-disable-next-line @typescript-eslint/only-throw-error -- set by the batch callbacks; TS narrows it to never here
    if (failure) throw failure;
    let started!: () => void;
    const opened = new Promise<void>((resolve) => (started = resolve));
    const beforeCommit = async () => {
      if (previous && !(await previous.committed)) throw new Error("not committed: the batch before it failed");
    };
    const committed = writeBatch(prisma, batchUsers, batchTodos, { started, beforeCommit }).then(
      (written) => {
        users.inserted += written.users;
        tasks.inserted += written.todos;
        done += rows;
        progress?.update(done);
        return true;
      },
      (error: unknown) => {
        failure ??= error instanceof Error ? error : new Error(String(error));
        return false;
      },
    );
    pending.push({ started: opened, committed, newUsers: new Set(batchUsers.map((u) => u.id)) });
  };

  const knownUsers = new Set<string>();
  const todoIds: string[] = [];
  try {
    let batch: UserRecord[] = [];
    let rows = 0;
    for (const row of source.users()) {
      users.source++;
      rows++;
      const mapped = mapUser(row);
      if (!mapped.ok) {
        users.rejected++;
        reject(source.user!.name, row, mapped.reason);
      } else if (knownUsers.has(mapped.record.id)) {
        users.rejected++;
        reject(source.user!.name, row, `duplicate user id ${JSON.stringify(mapped.record.id)}`);
      } else {
        knownUsers.add(mapped.record.id);
        line(mapped.record.id);
        batch.push(mapped.record);
      }
      if (rows === batchSize) {
        await flush(batch, [], rows);
        batch = [];
        rows = 0;
      }
    }
    if (rows) await flush(batch, [], rows);

    const taskIds = new Set<string>();
    let batchUsers: UserRecord[] = [];
    let batchTodos: TodoRecord[] = [];
    rows = 0;
    for (const row of source.tasks()) {
      tasks.source++;
      rows++;
      const mapped = mapTask(row, now);
      const legacyTaskId = row.values.id === null ? null : String(row.values.id);
      const userKey = mapped.ok
        ? mapped.record.userId
        : typeof row.values.userId === "string" && row.values.userId.trim()
          ? row.values.userId
          : NO_USER;
      const entry = line(userKey);
      entry.source++;
      if (!mapped.ok) {
        entry.rejected++;
        tasks.rejected++;
        reject(source.task!.name, row, mapped.reason);
      } else if (taskIds.has(legacyTaskId!)) {
        entry.rejected++;
        tasks.rejected++;
        reject(source.task!.name, row, `duplicate task id ${legacyTaskId}`);
      } else {
        const todo = mapped.record;
        taskIds.add(legacyTaskId!);
        if (!knownUsers.has(todo.userId)) {
          // A task whose user row is missing (or was rejected): the user is created from the id alone.
          knownUsers.add(todo.userId);
          users.createdFromTasks++;
          batchUsers.push({ id: todo.userId, email: null, name: null });
        }
        entry.sourceChecksum = addChecksums(
          entry.sourceChecksum,
          rowChecksum(todo.title, todo.description, todo.completed),
        );
        todoIds.push(todo.id);
        batchTodos.push(todo);
      }
      if (rows === batchSize) {
        await flush(batchUsers, batchTodos, rows);
        batchUsers = [];
        batchTodos = [];
        rows = 0;
      }
    }
    if (rows) await flush(batchUsers, batchTodos, rows);
    await Promise.all(pending.map((p) => p.committed));
    if (failure) throw failure;
  } finally {
    await Promise.all(pending.map((p) => p.committed));
    progress?.stop();
    closeSync(rejects);
    source.close();
  }

  const imported = performance.now();
  let verified: boolean | undefined;
  if (!dryRun && prisma) {
    users.present = await countUsers(prisma, [...knownUsers], concurrency);
    const stored = await storedTodoSums(prisma, todoIds, concurrency);
    verified = users.present === knownUsers.size;
    for (const entry of perUser.values()) {
      const found = stored.get(entry.userId);
      stored.delete(entry.userId);
      entry.imported = found?.count ?? 0;
      entry.targetChecksum = found?.checksum ?? 0n;
      entry.ok = entry.imported === entry.source - entry.rejected && entry.targetChecksum === entry.sourceChecksum;
      verified &&= entry.ok;
    }
    // Imported ids owned by a user the source does not have (an id collision): never expected, always reported.
    for (const [userId, found] of stored) {
      perUser.set(userId, {
        userId,
        source: 0,
        rejected: 0,
        imported: found.count,
        sourceChecksum: 0n,
        targetChecksum: found.checksum,
        ok: false,
      });
      verified = false;
    }
  }

  return {
    file,
    dryRun,
    unknownTables: source.unknownTables,
    unknownColumns: source.unknownColumns,
    notes,
    users,
    tasks,
    perUser: [...perUser.values()].sort(byUserId),
    rejectsPath,
    verified,
    seconds: { import: (imported - started) / 1000, verify: (performance.now() - imported) / 1000 },
  };
}
