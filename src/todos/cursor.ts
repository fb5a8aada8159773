import { z } from "zod";
import { isStorableDate, isStorableText, PRIORITIES, SORT_FIELDS, type SortField } from "./schemas.ts";

/** The position after the last item of a page: the sort value and the id that breaks ties. */
export interface Cursor {
  orderBy: SortField;
  order: "asc" | "desc";
  value: Date | string | null;
  id: string;
}

const payload = z.object({
  k: z.enum(SORT_FIELDS),
  d: z.enum(["asc", "desc"]),
  v: z.union([z.string().max(1000), z.null()]),
  i: z.uuid(),
});

export function encodeCursor({ orderBy, order, value, id }: Cursor): string {
  const v = value instanceof Date ? value.toISOString() : value;
  return Buffer.from(JSON.stringify({ k: orderBy, d: order, v, i: id })).toString("base64url");
}

/** Returns null for anything that is not a cursor this API issued for the same ordering. */
export function decodeCursor(raw: string, orderBy: SortField, order: "asc" | "desc"): Cursor | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(raw, "base64url").toString("utf8"));
  } catch {
    return null;
  }
  const result = payload.safeParse(parsed);
  if (!result.success || result.data.k !== orderBy || result.data.d !== order) return null;
  const { v, i } = result.data;
  if (v === null) return orderBy === "dueAt" ? { orderBy, order, value: null, id: i } : null;
  // Values a todo cannot hold are forged: refuse them here rather than as a database error.
  if (orderBy === "title") return isStorableText(v, 200) ? { orderBy, order, value: v, id: i } : null;
  if (orderBy === "priority")
    return (PRIORITIES as readonly string[]).includes(v) ? { orderBy, order, value: v, id: i } : null;
  const date = new Date(v);
  return isStorableDate(date) ? { orderBy, order, value: date, id: i } : null;
}
