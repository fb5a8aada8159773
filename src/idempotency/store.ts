/**
 * The IdempotencyKey rows: a key's claim (its lock and stored row), the row written with a change, the sweep of
 * expired rows. Every statement names the caller's id.
 */
import { Prisma } from "../generated/prisma/client.ts";
import type { PrismaClient } from "../db/client.ts";
import { driverErrorCause } from "../db/driver-errors.ts";

/** A client or a transaction's client: both run raw statements. */
export type Queryable = Pick<PrismaClient, "$queryRaw" | "$executeRaw">;

/** One keyed request: whose key, which procedure, and the fingerprint of its input. */
export interface KeyedRequest {
  userId: string;
  key: string;
  procedure: string;
  requestHash: string;
  ttlMs: number;
}

export interface StoredKey {
  procedure: string;
  requestHash: string;
  /** superjson's serialisation of the result, as stored. */
  response: string;
  expired: boolean;
}

/** What a claim found: the key held by a transaction still running, a result to replay, another request's key, or nothing. */
export type Claim =
  | { status: "busy" }
  | { status: "replay"; response: string }
  | { status: "mismatch" }
  | { status: "free"; expired: boolean };

export function judge(request: KeyedRequest, locked: boolean, stored: StoredKey | null): Claim {
  if (!locked) return { status: "busy" };
  if (!stored) return { status: "free", expired: false };
  // An expired key behaves as absent.
  if (stored.expired) return { status: "free", expired: true };
  const same = stored.procedure === request.procedure && stored.requestHash === request.requestHash;
  return same ? { status: "replay", response: stored.response } : { status: "mismatch" };
}

/**
 * The key's transaction-scoped advisory lock (held until COMMIT or ROLLBACK, so it works through transaction-mode
 * poolers; never a session lock) and its row, in one statement. Taken without waiting: a holder is still running.
 */
export function lockSql(userId: string, key: string): Prisma.Sql {
  return Prisma.sql`SELECT pg_try_advisory_xact_lock(hashtext(${userId}), hashtext(${key})) AS "locked"`;
}

export function storedColumns(alias: string): Prisma.Sql {
  const k = Prisma.raw(`"${alias}"`);
  return Prisma.sql`${k}."procedure", ${k}."requestHash", ${k}."response"::text AS "response", (${k}."expiresAt" <= now()) AS "expired"`;
}

type ClaimRow = {
  locked: boolean;
  procedure: string | null;
  requestHash: string | null;
  response: string | null;
  expired: boolean | null;
};

export function storedOf(row: ClaimRow): StoredKey | null {
  return row.procedure === null
    ? null
    : { procedure: row.procedure, requestHash: row.requestHash!, response: row.response!, expired: row.expired! };
}

/** In a transaction: takes the key's lock and reads its row. */
export async function claimKey(tx: Queryable, request: KeyedRequest): Promise<Claim> {
  const { userId, key } = request;
  const [row] = await tx.$queryRaw<ClaimRow[]>`
    SELECT "lock"."locked", ${storedColumns("k")}
    FROM (${lockSql(userId, key)}) AS "lock"
    LEFT JOIN "IdempotencyKey" AS "k" ON "k"."userId" = ${userId} AND "k"."key" = ${key}`;
  return judge(request, row!.locked, storedOf(row!));
}

/** Removes the caller's key when it has expired, so it can be written again. */
export async function deleteExpiredKey(db: Queryable, userId: string, key: string): Promise<void> {
  await db.$executeRaw`DELETE FROM "IdempotencyKey" WHERE "userId" = ${userId} AND "key" = ${key} AND "expiresAt" <= now()`;
}

/** The key row's expiry: the database's clock, which the checks read too. */
export const expiresAtSql = (ttlMs: number) => Prisma.sql`now() + ${ttlMs}::float8 * interval '1 millisecond'`;

/**
 * Writes the key with its result, in the change's transaction. A plain INSERT: a row another transaction committed
 * since this one's claim read is a unique violation, which rolls the change back.
 */
export async function saveKey(tx: Queryable, request: KeyedRequest, response: string): Promise<void> {
  await tx.$executeRaw`
    INSERT INTO "IdempotencyKey" ("userId", "key", "procedure", "requestHash", "response", "createdAt", "expiresAt")
    VALUES (${request.userId}, ${request.key}, ${request.procedure}, ${request.requestHash}, ${response}::json, now(), ${expiresAtSql(request.ttlMs)})`;
}

/** Deletes up to `limit` expired keys of any user, skipping rows a running request holds; returns how many. */
export async function sweepExpiredKeys(db: Queryable, limit: number): Promise<number> {
  return db.$executeRaw`
    DELETE FROM "IdempotencyKey" WHERE ("userId", "key") IN (
      SELECT "userId", "key" FROM "IdempotencyKey" WHERE "expiresAt" <= now() LIMIT ${limit} FOR UPDATE SKIP LOCKED)`;
}

/** A unique violation: the key row another transaction committed after this one's claim read it. */
export function isUniqueViolation(error: unknown): boolean {
  if (error instanceof Prisma.PrismaClientKnownRequestError && error.code === "P2002") return true;
  const cause = driverErrorCause(error);
  return cause?.kind === "UniqueConstraintViolation" || cause?.originalCode === "23505";
}
