import { Prisma } from "../generated/prisma/client.ts";

/** The columns a client gets: named once, so a new column never leaks by accident. */
export const todoSelect = {
  id: true,
  userId: true,
  title: true,
  description: true,
  completed: true,
  priority: true,
  dueAt: true,
  completedAt: true,
  version: true,
  createdAt: true,
  updatedAt: true,
} satisfies Prisma.TodoSelect;

const INSTANTS = new Set(["dueAt", "completedAt", "createdAt", "updatedAt"]);

/**
 * The same columns for raw statements (SELECT …, RETURNING …). Instants are read as UTC wall time: the adapters
 * take a timestamptz's text as if its offset were +00, which holds only in a UTC session (src/db/utc-dates.ts).
 */
export const todoColumns = Prisma.raw(
  Object.keys(todoSelect)
    .map((column) => (INSTANTS.has(column) ? `("${column}" AT TIME ZONE 'UTC') AS "${column}"` : `"${column}"`))
    .join(", "),
);

/**
 * superjson's serialisation of a todo, built in SQL from a row with `todoColumns` (instants as UTC wall time): the
 * result a keyed create stores in its own statement. Keys in `todoSelect`'s order, so a replay has the same bytes.
 */
export function todoSerializedSql(alias: string): Prisma.Sql {
  const column = (name: string) => `"${alias}"."${name}"`;
  const json = Object.keys(todoSelect)
    .map((name) => `'${name}', ${INSTANTS.has(name) ? `to_char(${column(name)}, 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')` : column(name)}`)
    .join(", ");
  // superjson annotates the Dates that are there: a null instant has no entry.
  const dates = [...INSTANTS].map((name) => `'${name}', CASE WHEN ${column(name)} IS NULL THEN NULL ELSE json_build_array('Date') END`).join(", ");
  return Prisma.raw(`json_build_object('json', json_build_object(${json}), 'meta', json_build_object('values', json_strip_nulls(json_build_object(${dates})), 'v', 1))`);
}

export type TodoDTO = Prisma.TodoGetPayload<{ select: typeof todoSelect }>;
