/**
 * DB_PREPARED_STATEMENTS=on (pg driver on PostgreSQL): each statement text is parsed once per connection, then
 * reused by name; off (the default) parses it on every call. Counted on the wire by a relay (Parse messages).
 */
import { expect, inject, test } from "vitest";
import { parseConfig } from "../../src/config.ts";
import { startPgRelayFor, viaRelay, type PgRelay } from "../../tools/pg-relay.ts";
import { startTestServer } from "../support/server.ts";

// Not through the pgbouncer projects' PgBouncer 1.18: it has no protocol-level prepared statements (1.21 has), so a
// name prepared on one server connection is missing on the next; DB_PREPARED_STATEMENTS stays off behind it.
const onPostgres = Boolean(process.env.TEST_DATABASE_URL) && process.env.DB_DRIVER === "pg" && !inject("pgbouncerUrl");

test.runIf(onPostgres).each([
  ["on", 0],
  ["off", 5],
] as const)(
  "DB_PREPARED_STATEMENTS=%s: %i parses for 5 repeated calls on one connection",
  async (setting, expected) => {
    let relay: PgRelay | undefined;
    const api = await startTestServer(
      { DB_PREPARED_STATEMENTS: setting, DB_POOL_MAX: "1", SSE_MAX_STREAMS: "0" },
      async (url) => {
        relay = await startPgRelayFor(url);
        return viaRelay(url, relay);
      },
    );
    try {
      const alice = await api.clientUnbatched("alice");
      const { id } = await alice.todo.create.mutate({ title: "prepared" });
      await alice.todo.byId.query({ id });
      await alice.todo.update.mutate({ id, title: "warm" });
      relay!.reset();
      for (let i = 0; i < 5; i++) {
        expect((await alice.todo.byId.query({ id })).id).toBe(id);
      }
      expect(relay!.parses()).toBe(expected);
      // Writes and their results are the same either way.
      const updated = await alice.todo.update.mutate({ id, title: "renamed", completed: true });
      expect(updated).toMatchObject({ title: "renamed", completed: true, version: 3 });
    } finally {
      await api.close();
      await relay?.close();
    }
  },
);

test("DB_PREPARED_STATEMENTS=on is refused where statements cannot be kept: the Neon driver, the embedded database", () => {
  expect(() =>
    parseConfig({ DB_PREPARED_STATEMENTS: "on", DB_DRIVER: "neon", DATABASE_URL: "postgresql://h/db" }),
  ).toThrow("Invalid configuration: DB_PREPARED_STATEMENTS=on needs DB_DRIVER=pg");
  expect(() => parseConfig({ DB_PREPARED_STATEMENTS: "on", DB_DRIVER: "pg" })).toThrow(/needs DATABASE_URL/);
  expect(() => parseConfig({ DB_PREPARED_STATEMENTS: "sometimes" })).toThrow(/DB_PREPARED_STATEMENTS/);
  expect(parseConfig({}).db.preparedStatements).toBe(false);
});
