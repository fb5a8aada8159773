/**
 * Instants that mean the same in any session time zone, with no startup option (a transaction-mode pooler refuses
 * those) and no extra statement. The adapters send a Date as UTC wall time without an offset, which PostgreSQL
 * reads in the session's TimeZone; this sends it as ISO 8601 with `Z` instead. Reads are the other half:
 * src/todos/select.ts selects each timestamptz `AT TIME ZONE 'UTC'`, and src/db/utc-reads.ts fixes Prisma's own
 * reads, because the adapters read a timestamptz's text as if its offset were +00.
 */
import type { ArgType, SqlDriverAdapter, SqlQuery, SqlQueryable, Transaction } from "@prisma/driver-adapter-utils";
import { overriding } from "./overriding.ts";

// Raw parameters have no database type; DATE and TIME columns keep the adapters' own formatting.
const isInstant = (type: ArgType | undefined) =>
  type?.scalarType === "datetime" && (type.dbType === undefined || /^timestamp/i.test(type.dbType));

function instantArg(arg: unknown, type: ArgType): unknown {
  if (arg === null || arg === undefined) return arg;
  if (Array.isArray(arg) && type.arity === "list") return arg.map((item) => instantArg(item, type));
  const date = arg instanceof Date ? arg : typeof arg === "string" ? new Date(arg) : undefined;
  return date && !Number.isNaN(date.getTime()) ? date.toISOString() : arg;
}

/** The query with its instants as ISO strings (typed as strings, so the adapter passes them through). */
export function utcQuery(query: SqlQuery): SqlQuery {
  let changed = false;
  const args = query.args.map((arg, i) => {
    const type = query.argTypes[i];
    if (!isInstant(type)) return arg;
    changed = true;
    return instantArg(arg, type!);
  });
  if (!changed) return query;
  const argTypes = query.argTypes.map((type) => (isInstant(type) ? { ...type, scalarType: "string" as const } : type));
  return { ...query, args, argTypes };
}

function wrapQueryable<Q extends SqlQueryable>(queryable: Q, extra: Partial<Q> = {}): Q {
  return overriding(queryable, {
    queryRaw: (query: SqlQuery) => queryable.queryRaw(utcQuery(query)),
    executeRaw: (query: SqlQuery) => queryable.executeRaw(utcQuery(query)),
    ...extra,
  });
}

/** The adapter seen through a wrapper that sends instants as UTC (and so does every transaction it starts). */
export function withUtcInstants<A extends SqlDriverAdapter>(adapter: A): A {
  return wrapQueryable(adapter, {
    startTransaction: async (isolationLevel) =>
      wrapQueryable<Transaction>(await adapter.startTransaction(isolationLevel)),
  } as Partial<A>);
}
