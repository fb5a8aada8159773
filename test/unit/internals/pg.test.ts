import { EventEmitter } from "node:events";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { wrapEveryQuery, type QueryFn } from "../../../src/internals/pg.ts";

// What src/internals/pg.ts and its users rely on in pg; an upgrade that changes it fails here.
describe("pg internals", () => {
  it("a pool emits connect with a new client before handing it out, and the wrapped query is the one called", async () => {
    const calls: unknown[] = [];
    class FakeClient extends EventEmitter {
      connect(callback: (error?: Error) => void) {
        callback();
      }
      query(...args: unknown[]) {
        calls.push(args[0]);
        return Promise.resolve({ rows: [] });
      }
      release() {}
      end() {}
    }
    const pool = new pg.Pool({ Client: FakeClient as never });
    wrapEveryQuery(
      pool,
      (query: QueryFn) =>
        (...args) =>
          query(`/* wrapped */ ${String(args[0])}`),
    );
    const client = await pool.connect();
    await client.query("SELECT 1");
    expect(calls).toEqual(["/* wrapped */ SELECT 1"]);
    client.release();
    await pool.end();
  });

  it("a query takes its type parsers from its config", () => {
    const types = { getTypeParser: () => (text: string) => text };
    expect((new pg.Query({ text: "SELECT 1", types }) as unknown as { types: unknown }).types).toBe(types);
  });

  it("a client keeps the backend key a CancelRequest needs", () => {
    const client = new pg.Client();
    expect(client).toHaveProperty("processID", null);
    expect(client).toHaveProperty("secretKey", null);
  });
});
