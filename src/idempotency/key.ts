/**
 * The Idempotency-Key header (draft-ietf-httpapi-idempotency-key-header, as Stripe uses it): the value a client
 * sends, and the fingerprint a repeat must match.
 */
import { createHash } from "node:crypto";

export const IDEMPOTENCY_KEY_HEADER = "idempotency-key";
export const REPLAYED_HEADER = "idempotent-replayed";

// 1–255 visible ASCII characters. Node joins a repeated header with ", ", which the space makes invalid.
const KEY = /^[\x21-\x7e]{1,255}$/;

export const isValidKey = (value: string): boolean => KEY.test(value);

/**
 * Input as canonical JSON: object keys sorted, undefined fields left out, Dates tagged — so two requests that
 * parse to the same input have the same text, whatever their key order or surface (tRPC or REST).
 */
export function canonicalJson(value: unknown): string {
  if (value === undefined) return "null";
  if (value instanceof Date) return JSON.stringify({ $date: value.toISOString() });
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.keys(value)
      .filter((key) => (value as Record<string, unknown>)[key] !== undefined)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`);
    return `{${entries.join(",")}}`;
  }
  return JSON.stringify(value);
}

/** sha256 (hex) of the procedure's canonical input. */
export const requestHash = (input: unknown): string => createHash("sha256").update(canonicalJson(input)).digest("hex");
