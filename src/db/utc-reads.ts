/**
 * The read half of instants that hold in any session time zone, for Prisma's own queries (raw todo statements
 * select `AT TIME ZONE 'UTC'`, src/todos/select.ts). Both adapters turn a timestamptz's text into an instant by
 * replacing its offset with +00:00, right only in a UTC session; behind a pooler the session's zone is the
 * database's (no startup option may set it). Here the text is converted to UTC first, honouring its offset, and
 * handed on in the adapters' own format. Hooked on the pool's clients (src/internals/pg.ts), the one place both adapters' queries pass.
 */
import type { EventEmitter } from "node:events";
import { wrapEveryQuery } from "../internals/pg.ts";

const TIMESTAMPTZ = 1184;
// PostgreSQL's ISO output: `2024-03-01 03:00:00.123456-05`, offsets to the second for old local mean times.
const ISO_TIMESTAMPTZ = /^(\d{4})-(\d\d)-(\d\d) (\d\d):(\d\d):(\d\d)(\.\d+)?([+-])(\d\d)(?::(\d\d))?(?::(\d\d))?$/;

/** `2024-03-01 03:00:00.5-05` → `2024-03-01T08:00:00.5+00:00`; anything else (infinity, BC) as the adapters do. */
export function timestamptzAsUtc(text: string): string {
  const m = ISO_TIMESTAMPTZ.exec(text);
  if (!m) return text.replace(" ", "T").replace(/[+-]\d{2}(:\d{2})?$/, "+00:00");
  const [, y, mo, d, h, mi, s, fraction = "", sign, oh, om = "0", os = "0"] = m;
  const date = new Date(0);
  date.setUTCFullYear(Number(y), Number(mo) - 1, Number(d));
  date.setUTCHours(Number(h), Number(mi), Number(s));
  const offsetSeconds = (sign === "-" ? -1 : 1) * (Number(oh) * 3600 + Number(om) * 60 + Number(os));
  const utc = new Date(date.getTime() - offsetSeconds * 1000);
  if (utc.getUTCFullYear() < 1 || utc.getUTCFullYear() > 9999)
    return text.replace(" ", "T").replace(/[+-]\d{2}(:\d{2})?$/, "+00:00");
  return `${utc.toISOString().slice(0, 19)}${fraction}+00:00`;
}

type TypeParser = (text: string) => unknown;
interface QueryTypes {
  getTypeParser(oid: number, format?: string): TypeParser;
}
/** Makes every client of the pool read timestamptz columns as UTC, whatever the session's TimeZone. */
export function withUtcReads(pool: EventEmitter): void {
  wrapEveryQuery(pool, (query) => (...args: unknown[]) => {
    const config = args[0] as { types?: QueryTypes } | null;
    const types = config?.types;
    // The adapters pass their parsers with each query; only theirs are replaced.
    if (typeof config === "object" && types && typeof types.getTypeParser === "function") {
      args[0] = {
        ...config,
        types: {
          getTypeParser: (oid: number, format?: string) =>
            oid === TIMESTAMPTZ && format !== "binary" ? timestamptzAsUtc : types.getTypeParser(oid, format),
        },
      };
    }
    return query(...args);
  });
}
