// Writes batches into the app's database and reads back what verification needs, through the app's Prisma client.
import type { PrismaClient } from "../../src/db/client.ts";
import { ANY_USER, CHANNEL } from "../../src/live/events.ts";
import { fromSqlSum, sqlRowChecksumSum } from "./checksum.ts";
import { byUserId, type TodoRecord, type UserRecord } from "./map.ts";

export class TargetError extends Error {}

/** The migrated schema must be there: this import writes rows, it does not create tables. */
export async function assertSchema(prisma: PrismaClient): Promise<void> {
  const [row] = await prisma.$queryRaw<{ todo: string | null; user: string | null }[]>`
    SELECT to_regclass('"Todo"')::text AS "todo", to_regclass('"User"')::text AS "user"`;
  if (!row?.todo || !row.user) {
    throw new TargetError('The database has no "User"/"Todo" tables: run `npm run db:deploy` against it first');
  }
}

/** Long enough for the largest batch on a slow database; a batch also waits here for the one before it. */
const TRANSACTION_TIMEOUT_MS = 10 * 60_000;

/**
 * A column as one PostgreSQL array literal (`{"a","b",NULL}`), sent as a single text parameter and cast in
 * SQL: Prisma would otherwise serialise, JSON-encode and decode each of a batch's ~10,000 values one by one,
 * which was a third of the import's own CPU time.
 */
function arrayLiteral<T>(rows: readonly T[], pick: (row: T) => string | number | boolean | null): string {
  let out = "{";
  for (let i = 0; i < rows.length; i++) {
    const value = pick(rows[i]!);
    if (i) out += ",";
    if (value === null) out += "NULL";
    else {
      const s = typeof value === "string" ? value : String(value);
      out += '"' + (NEEDS_ESCAPE.test(s) ? s.replace(ESCAPED, "\\$&") : s) + '"';
    }
  }
  return out + "}";
}
const NEEDS_ESCAPE = /[\\"]/;
const ESCAPED = /[\\"]/g;

/**
 * One batch, one transaction: its users (existing ones left as they are), then its todos. Rows already
 * present — from an earlier or interrupted run — are skipped by their ids (INSERT … ON CONFLICT DO NOTHING).
 * Each table is one statement over column arrays (unnest): a handful of parameters whatever the batch size.
 * The transaction commits only once `beforeCommit` (which waits for the previous batch) has resolved, and
 * rolls back if it throws: batches run side by side yet commit in file order, so what an interrupted run
 * leaves is always its first N whole batches. `started` is called once the transaction is open.
 */
export async function writeBatch(
  prisma: PrismaClient,
  users: UserRecord[],
  todos: TodoRecord[],
  hooks: { started?(): void; beforeCommit?(): Promise<void> } = {},
): Promise<{ users: number; todos: number }> {
  const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null);
  // Grouped by owner, the rows land on the same index pages one after another: about 15 % less work for
  // PostgreSQL, whose seven Todo indexes are most of an import's cost.
  todos = todos.toSorted(byUserId);
  const written = await prisma.$transaction(
    async (tx) => {
      hooks.started?.();
      const usersWritten = !users.length
        ? 0
        : await tx.$executeRaw`
            INSERT INTO "User" ("id", "email", "name", "createdAt")
            SELECT "id", "email", "name", coalesce("createdAt", CURRENT_TIMESTAMP)
            FROM unnest(
              ${arrayLiteral(users, (u) => u.id)}::text[], ${arrayLiteral(users, (u) => u.email)}::text[], ${arrayLiteral(users, (u) => u.name)}::text[],
              ${arrayLiteral(users, (u) => iso(u.createdAt))}::timestamptz[]
            ) AS u("id", "email", "name", "createdAt")
            ON CONFLICT ("id") DO NOTHING`;
      const todosWritten = !todos.length
        ? 0
        : await tx.$executeRaw`
            INSERT INTO "Todo" ("id", "userId", "title", "description", "completed", "priority", "dueAt", "completedAt", "version", "createdAt", "updatedAt")
            SELECT "id", "userId", "title", "description", "completed", "priority"::"Priority", "dueAt", "completedAt", "version", "createdAt", "updatedAt"
            FROM unnest(
              ${arrayLiteral(todos, (t) => t.id)}::uuid[], ${arrayLiteral(todos, (t) => t.userId)}::text[], ${arrayLiteral(todos, (t) => t.title)}::text[],
              ${arrayLiteral(todos, (t) => t.description)}::text[], ${arrayLiteral(todos, (t) => t.completed)}::boolean[], ${arrayLiteral(todos, (t) => t.priority)}::text[],
              ${arrayLiteral(todos, (t) => iso(t.dueAt))}::timestamptz[], ${arrayLiteral(todos, (t) => iso(t.completedAt))}::timestamptz[],
              ${arrayLiteral(todos, (t) => t.version)}::int[], ${arrayLiteral(todos, (t) => iso(t.createdAt))}::timestamptz[], ${arrayLiteral(todos, (t) => iso(t.updatedAt))}::timestamptz[]
            ) AS t("id", "userId", "title", "description", "completed", "priority", "dueAt", "completedAt", "version", "createdAt", "updatedAt")
            ON CONFLICT ("id") DO NOTHING`;
      await hooks.beforeCommit?.();
      return { users: usersWritten, todos: todosWritten };
    },
    { maxWait: TRANSACTION_TIMEOUT_MS, timeout: TRANSACTION_TIMEOUT_MS },
  );
  // The rows are in the change feed by their positions (set by the database); this wakes the servers' streams now
  // rather than at their next poll. After the commit (never a NOTIFY inside a write's transaction), and not
  // awaited: the next batch may already hold the embedded database's one session, waiting for this one to end.
  if (written.todos > 0) void prisma.$executeRaw`SELECT pg_notify(${CHANNEL}, ${ANY_USER})`.catch(() => {});
  return written;
}

const CHUNK = 10_000;

function chunks<T>(items: T[]): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += CHUNK) out.push(items.slice(i, i + CHUNK));
  return out;
}

/** Runs `fn` over the chunks, `concurrency` at a time (each query takes its own pooled connection). */
async function eachChunk<T>(items: T[], concurrency: number, fn: (chunk: T[]) => Promise<void>): Promise<void> {
  const queue = chunks(items);
  const worker = async () => {
    try {
      for (let chunk = queue.shift(); chunk; chunk = queue.shift()) await fn(chunk);
    } catch (error) {
      queue.length = 0; // the other workers stop too: the result is lost anyway
      throw error;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, concurrency) }, worker));
}

/** How many of these user ids have a row. */
export async function countUsers(prisma: PrismaClient, ids: string[], concurrency = 1): Promise<number> {
  let count = 0;
  await eachChunk(ids, concurrency, async (chunk) => {
    const [row] = await prisma.$queryRaw<{ n: number }[]>`
      SELECT count(*)::int AS "n" FROM "User" WHERE "id" = ANY(${arrayLiteral(chunk, (id) => id)}::text[])`;
    count += row?.n ?? 0;
  });
  return count;
}

/** Per owner of the stored todos with these ids: how many there are and their checksum. */
export async function storedTodoSums(
  prisma: PrismaClient,
  ids: string[],
  concurrency = 1,
): Promise<Map<string, { count: number; checksum: bigint }>> {
  const byUser = new Map<string, { count: number; checksum: bigint }>();
  await eachChunk(ids, concurrency, async (chunk) => {
    const rows = await prisma.$queryRaw<{ userId: string; n: number; sum: string | null }[]>`
      SELECT "userId", count(*)::int AS "n", ${sqlRowChecksumSum} AS "sum"
      FROM "Todo" WHERE "id" = ANY(${arrayLiteral(chunk, (id) => id)}::uuid[]) GROUP BY "userId"`;
    for (const row of rows) {
      const entry = byUser.get(row.userId) ?? { count: 0, checksum: 0n };
      entry.count += row.n;
      entry.checksum = (entry.checksum + fromSqlSum(row.sum)) % (1n << 60n);
      byUser.set(row.userId, entry);
    }
  });
  return byUser;
}
