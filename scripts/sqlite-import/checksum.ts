// The verification checksum over (title, description, completed), computed the same way in JavaScript over
// the source rows and in SQL over the stored rows: each row hashes to
//   md5(md5(title) || ':' || coalesce(md5(description), '-') || ':' || completed::text)
// and a set of rows sums the first 60 bits of those hashes modulo 2^60 (order-free, so it adds up per batch).
import { hash } from "node:crypto";
import { Prisma } from "../../src/generated/prisma/client.ts";

const MODULUS = 1n << 60n;
const md5 = (s: string) => hash("md5", s, "hex");

export function rowChecksum(title: string, description: string | null, completed: boolean): bigint {
  const hash = md5(`${md5(title)}:${description === null ? "-" : md5(description)}:${completed}`);
  return BigInt(`0x${hash.slice(0, 15)}`);
}

export const addChecksums = (a: bigint, b: bigint) => (a + b) % MODULUS;

export const formatChecksum = (sum: bigint) => sum.toString(16).padStart(15, "0");

/** The SQL side: sum of the same 60-bit prefixes, as numeric text (taken modulo 2^60 in JavaScript). */
export const sqlRowChecksumSum = Prisma.sql`sum(('x' || substr(md5(md5("title") || ':' || coalesce(md5("description"), '-') || ':' || "completed"::text), 1, 15))::bit(60)::bigint)::text`;

export const fromSqlSum = (sum: string | null) => (sum === null ? 0n : BigInt(sum) % MODULUS);
