// Parsers for the loosely typed values of the earlier app's SQLite files. Each returns a value or throws
// an InvalidValue whose message becomes the reject reason.

import { codePoints, hasNul } from "../../src/lib/text.ts";

export class InvalidValue extends Error {}

/** A SQLite value as read (text arrives as string, integers and reals as number, BLOBs as bytes). */
export type SqliteValue = string | number | Uint8Array | null;

const MIN_DATE = Date.UTC(1900, 0, 1);
const MAX_DATE = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
// Below this a number is Unix seconds (1e11 s is the year 5138), at or above it milliseconds.
const SECONDS_LIMIT = 1e11;

const show = (value: SqliteValue) =>
  value instanceof Uint8Array ? `a ${value.length}-byte BLOB` : JSON.stringify(value);

/** Strict UTF-8: throws on invalid bytes. ignoreBOM keeps a leading U+FEFF, part of the text (dropping it
 * would go unseen by the checksum). */
export const utf8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** Text, or null for NULL. Numbers become their decimal text; BLOBs must be valid UTF-8. */
export function text(value: SqliteValue, field: string): string | null {
  if (value === null) return null;
  if (typeof value === "number") return String(value);
  if (typeof value === "string") return value;
  try {
    return utf8.decode(value);
  } catch {
    throw new InvalidValue(`${field} is not valid UTF-8 text`);
  }
}

/** A legacy id (integer or text) as text; integral reals lose their ".0". */
export function legacyId(value: SqliteValue, field: string): string {
  if (typeof value === "number") {
    if (!Number.isSafeInteger(value)) throw new InvalidValue(`${field} ${value} is not an integer`);
    return String(value);
  }
  const s = text(value, field);
  if (s === null || s.trim() === "") throw new InvalidValue(`${field} is missing`);
  if (hasNul(s)) throw new InvalidValue(`${field} contains NUL bytes`);
  return s;
}

const TRUE = new Set(["1", "true", "t", "yes", "y"]);
const FALSE = new Set(["0", "false", "f", "no", "n", ""]);

/** 0/1, 'true'/'false' (any case), 't'/'f', 'yes'/'no'; NULL is false. */
export function boolean(value: SqliteValue, field: string): boolean {
  if (value === null) return false;
  if (value === 1 || value === 0) return value === 1;
  if (typeof value === "string") {
    const s = value.trim().toLowerCase();
    if (TRUE.has(s)) return true;
    if (FALSE.has(s)) return false;
  }
  throw new InvalidValue(`${field} ${show(value)} is not a boolean (0/1, true/false)`);
}

const DATE_TIME =
  /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?)?\s*(Z|[+-]\d{2}(?::?\d{2})?)?$/i;
const NUMBER = /^-?\d+(\.\d+)?$/;

const daysIn = (year: number, month: number) => new Date(Date.UTC(year, month, 0)).getUTCDate();

/**
 * ISO 8601 text, 'YYYY-MM-DD HH:MM:SS' (SQLite's CURRENT_TIMESTAMP), a date alone, or Unix seconds or
 * milliseconds (as numbers or digits). Text without a zone is UTC, as SQLite writes it. NULL and '' are null.
 */
export function timestamp(value: SqliteValue, field: string): Date | null {
  if (value === null) return null;
  if (value instanceof Uint8Array) throw new InvalidValue(`${field} is ${show(value)}, not a date`);
  const s = typeof value === "number" ? String(value) : value.trim();
  if (s === "") return null;

  let ms: number;
  if (NUMBER.test(s)) {
    const n = Number(s);
    ms = Math.abs(n) < SECONDS_LIMIT ? Math.round(n * 1000) : Math.round(n);
  } else {
    const m = DATE_TIME.exec(s);
    if (!m) throw new InvalidValue(`${field} ${show(value)} is not a date`);
    const [year, month, day, hour = 0, minute = 0, second = 0] = m
      .slice(1, 7)
      .map((part) => (part === undefined ? undefined : Number(part))) as number[];
    const fraction = Math.round(Number(`0.${m[7] ?? "0"}`) * 1000);
    if (
      month! < 1 ||
      month! > 12 ||
      day! < 1 ||
      day! > daysIn(year!, month!) ||
      hour > 23 ||
      minute > 59 ||
      second > 59
    ) {
      throw new InvalidValue(`${field} ${show(value)} is not a date`);
    }
    ms = Date.UTC(year!, month! - 1, day, hour, minute, second, fraction) - offsetMs(m[8]);
  }
  if (!Number.isFinite(ms) || ms < MIN_DATE || ms > MAX_DATE) {
    throw new InvalidValue(`${field} ${show(value)} is outside 1900-01-01 … 9999-12-31`);
  }
  return new Date(ms);
}

function offsetMs(zone: string | undefined): number {
  if (!zone || zone.toUpperCase() === "Z") return 0;
  const sign = zone.startsWith("-") ? -1 : 1;
  const digits = zone.slice(1).replace(":", "");
  const hours = Number(digits.slice(0, 2));
  const minutes = Number(digits.slice(2) || "0");
  return sign * (hours * 60 + minutes) * 60_000;
}

export type Priority = "LOW" | "MEDIUM" | "HIGH";
const PRIORITY_NAMES: Record<string, Priority> = {
  low: "LOW",
  medium: "MEDIUM",
  high: "HIGH",
  "1": "LOW",
  "2": "MEDIUM",
  "3": "HIGH",
};

/** 'low'/'medium'/'high' (any case) or 1/2/3; NULL and '' are the API's default, MEDIUM. */
export function priority(value: SqliteValue, field: string): Priority {
  if (value === null) return "MEDIUM";
  const s =
    typeof value === "number" ? String(value) : typeof value === "string" ? value.trim().toLowerCase() : undefined;
  if (s === "") return "MEDIUM";
  const p = s === undefined ? undefined : PRIORITY_NAMES[s];
  if (!p) throw new InvalidValue(`${field} ${show(value)} is not one of low, medium, high, 1, 2, 3`);
  return p;
}

/** Text for a column of at most `max` characters; PostgreSQL text cannot hold NUL. */
export function boundedText(value: string, field: string, max: number): string {
  if (hasNul(value)) throw new InvalidValue(`${field} contains NUL bytes`);
  const length = codePoints(value);
  if (length > max) throw new InvalidValue(`${field} is ${length} characters (at most ${max})`);
  return value;
}
