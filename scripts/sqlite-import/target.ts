// Writes batches into the app's database and reads back what verification needs, through the app's Prisma client.
import type { PrismaClient } from "../../src/db/client.ts";
import { fromSqlSum, sqlRowChecksumSum } from "./checksum.ts";
import type { TodoRecord, UserRecord } from "./map.ts";

export class TargetError extends Error {}

/** The migrated schema must be there: this import writes rows, it does not create tables. */
export async function assertSchema(prisma: PrismaClient): Promise<void> {
  const [row] = await prisma.$queryRaw<{ todo: string | null; user: string | null }[]>`
    SELECT to_regclass('"Todo"')::text AS "todo", to_regclass('"User"')::text AS "user"`;
  if (!row?.todo || !row.user) {
    throw new TargetError('The database has no "User"/"Todo" tables: run `npm run db:deploy` against it first');
  }
}

/**
 * One batch, one transaction: its users (existing ones left as they are), then its todos. Rows already
 * present — from an earlier or interrupted run — are skipped by their ids (INSERT … ON CONFLICT DO NOTHING).
 * Each table is one statement over column arrays (unnest): a handful of parameters whatever the batch size,
 * and no per-row work in the client, which is what makes tens of thousands of rows a second possible.
 */
export async function writeBatch(
  prisma: PrismaClient,
  users: UserRecord[],
  todos: TodoRecord[],
): Promise<{ users: number; todos: number }> {
  const iso = (d: Date | null | undefined) => (d ? d.toISOString() : null);
  const insertUsers = prisma.$executeRaw`
    INSERT INTO "User" ("id", "email", "name", "createdAt")
    SELECT "id", "email", "name", coalesce("createdAt", CURRENT_TIMESTAMP)
    FROM unnest(
      ${users.map((u) => u.id)}::text[], ${users.map((u) => u.email)}::text[], ${users.map((u) => u.name)}::text[],
      ${users.map((u) => iso(u.createdAt))}::timestamptz[]
    ) AS u("id", "email", "name", "createdAt")
    ON CONFLICT ("id") DO NOTHING`;
  const insertTodos = prisma.$executeRaw`
    INSERT INTO "Todo" ("id", "userId", "title", "description", "completed", "priority", "dueAt", "completedAt", "version", "createdAt", "updatedAt")
    SELECT "id", "userId", "title", "description", "completed", "priority"::"Priority", "dueAt", "completedAt", "version", "createdAt", "updatedAt"
    FROM unnest(
      ${todos.map((t) => t.id)}::uuid[], ${todos.map((t) => t.userId)}::text[], ${todos.map((t) => t.title)}::text[],
      ${todos.map((t) => t.description)}::text[], ${todos.map((t) => t.completed)}::boolean[], ${todos.map((t) => t.priority)}::text[],
      ${todos.map((t) => iso(t.dueAt))}::timestamptz[], ${todos.map((t) => iso(t.completedAt))}::timestamptz[],
      ${todos.map((t) => t.version)}::int[], ${todos.map((t) => iso(t.createdAt))}::timestamptz[], ${todos.map((t) => iso(t.updatedAt))}::timestamptz[]
    ) AS t("id", "userId", "title", "description", "completed", "priority", "dueAt", "completedAt", "version", "createdAt", "updatedAt")
    ON CONFLICT ("id") DO NOTHING`;
  // Prisma queries are lazy: only the statements handed to $transaction run.
  const [usersWritten = 0, todosWritten = 0] = await prisma.$transaction([
    ...(users.length ? [insertUsers] : []),
    ...(todos.length ? [insertTodos] : []),
  ]).then((counts) => (users.length ? counts : [0, ...counts]));
  return { users: usersWritten, todos: todosWritten };
}

const CHUNK = 10_000;

function* chunks<T>(items: T[]): Generator<T[]> {
  for (let i = 0; i < items.length; i += CHUNK) yield items.slice(i, i + CHUNK);
}

/** How many of these user ids have a row. */
export async function countUsers(prisma: PrismaClient, ids: string[]): Promise<number> {
  let count = 0;
  for (const chunk of chunks(ids)) {
    const [row] = await prisma.$queryRaw<{ n: number }[]>`SELECT count(*)::int AS "n" FROM "User" WHERE "id" = ANY(${chunk}::text[])`;
    count += row?.n ?? 0;
  }
  return count;
}

/** Per owner of the stored todos with these ids: how many there are and their checksum. */
export async function storedTodoSums(prisma: PrismaClient, ids: string[]): Promise<Map<string, { count: number; checksum: bigint }>> {
  const byUser = new Map<string, { count: number; checksum: bigint }>();
  for (const chunk of chunks(ids)) {
    const rows = await prisma.$queryRaw<{ userId: string; n: number; sum: string | null }[]>`
      SELECT "userId", count(*)::int AS "n", ${sqlRowChecksumSum} AS "sum"
      FROM "Todo" WHERE "id" = ANY(${chunk}::uuid[]) GROUP BY "userId"`;
    for (const row of rows) {
      const entry = byUser.get(row.userId) ?? { count: 0, checksum: 0n };
      entry.count += row.n;
      entry.checksum = (entry.checksum + fromSqlSum(row.sum)) % (1n << 60n);
      byUser.set(row.userId, entry);
    }
  }
  return byUser;
}
