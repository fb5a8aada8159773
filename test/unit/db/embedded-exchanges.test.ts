/**
 * Connections share PGlite's one session: an extended-protocol exchange (Parse … Sync) must not interleave with
 * another connection's messages (src/db/embedded-exchanges.ts). A failing statement makes the session skip every
 * message until the next Sync, so without that, other connections' queries would be dropped and never answered.
 */
import pg from "pg";
import { afterAll, beforeAll, expect, test } from "vitest";
import { startEmbeddedDatabase, type EmbeddedDatabase } from "../../../src/db/embedded.ts";

let embedded: EmbeddedDatabase;
const clients: pg.Client[] = [];
beforeAll(async () => {
  embedded = await startEmbeddedDatabase({ maxConnections: 16 });
  for (let i = 0; i < 8; i++) {
    const client = new pg.Client({ connectionString: embedded.url, query_timeout: 10_000 });
    await client.connect();
    clients.push(client);
  }
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.end().catch(() => {})));
  await embedded?.close();
});

test("concurrent parameterised queries, some failing, each get their own answer", async () => {
  const rounds = 40;
  const results = await Promise.all(
    clients.map(async (client, c) => {
      const seen: string[] = [];
      for (let i = 0; i < rounds; i++) {
        // Every third client divides by zero: its error and the session's skip-to-Sync must stay its own.
        const divisor = c % 3 === 0 && i % 2 === 0 ? 0 : 1;
        try {
          const { rows } = await client.query<{ v: number }>("SELECT ($1::int / $2::int) AS v", [
            c * 1000 + i,
            divisor,
          ]);
          seen.push(`ok ${rows[0]!.v}`);
        } catch (error) {
          seen.push(`error ${(error as { code?: string }).code}`);
        }
      }
      return seen;
    }),
  );
  results.forEach((seen, c) => {
    const expected = Array.from({ length: rounds }, (_, i) =>
      c % 3 === 0 && i % 2 === 0 ? "error 22012" : `ok ${c * 1000 + i}`,
    );
    expect(seen).toEqual(expected);
  });
});

test("a transaction on one connection and statements on others still see their own results", async () => {
  const [tx, ...others] = clients;
  await tx!.query("CREATE TABLE IF NOT EXISTS exchange_probe (n int)");
  await tx!.query("BEGIN");
  const writes = (async () => {
    for (let i = 0; i < 20; i++) await tx!.query("INSERT INTO exchange_probe VALUES ($1)", [i]);
    await tx!.query("COMMIT");
  })();
  const reads = Promise.all(others.map((client, c) => client.query<{ v: string }>("SELECT $1::text AS v", [`c${c}`])));
  await writes;
  expect((await reads).map((r) => r.rows[0]!.v)).toEqual(others.map((_, c) => `c${c}`));
  const { rows } = await clients[1]!.query<{ count: string }>("SELECT count(*) FROM exchange_probe");
  expect(rows[0]!.count).toBe("20");
});
