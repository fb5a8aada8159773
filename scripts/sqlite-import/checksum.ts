// The verification checksum over (title, description, completed), computed the same way in JavaScript over
// the source rows and in SQL over the stored rows: each row hashes to
//   md5(<title's UTF-8 length>:<title>:<description's length>:<description> or -:<completed>)
// (the lengths keep the fields apart whatever they contain: one hash per row, not one per field) and a set
// of rows sums the first 60 bits of those hashes modulo 2^60 (order-free, so it adds up per batch).
import { hash } from "node:crypto";
import { Prisma } from "../../src/generated/prisma/client.ts";

const MODULUS = 1n << 60n;
const md5 = (s: string) => hash("md5", s, "hex");

const field = (s: string) => `${Buffer.byteLength(s)}:${s}`;

export function rowChecksum(title: string, description: string | null, completed: boolean): bigint {
  const hash = md5(`${field(title)}:${description === null ? "-" : field(description)}:${completed}`);
  return BigInt(`0x${hash.slice(0, 15)}`);
}

export const addChecksums = (a: bigint, b: bigint) => (a + b) % MODULUS;

export const formatChecksum = (sum: bigint) => sum.toString(16).padStart(15, "0");

/** The SQL side: sum of the same 60-bit prefixes, as numeric text (taken modulo 2^60 in JavaScript). */
export const sqlRowChecksumSum = Prisma.sql`sum(('x' || substr(md5(
  octet_length("title") || ':' || "title" || ':' || coalesce(octet_length("description") || ':' || "description", '-') || ':' || "completed"::text
), 1, 15))::bit(60)::bigint)::text`;

export const fromSqlSum = (sum: string | null) => (sum === null ? 0n : BigInt(sum) % MODULUS);
