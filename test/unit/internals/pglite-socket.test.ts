import { PGLiteSocketServer } from "@electric-sql/pglite-socket";
import { describe, expect, it } from "vitest";

// The members src/internals/pglite-socket.ts relies on; a pglite-socket upgrade that moves them fails here.
describe("pglite-socket server internals", () => {
  it("has a query queue with enqueue and a set of connection handlers", () => {
    const server = new PGLiteSocketServer({ db: {} as never }) as unknown as Record<string, unknown>;
    expect(typeof (server.queryQueue as { enqueue?: unknown }).enqueue).toBe("function");
    expect(server.handlers).toBeInstanceOf(Set);
  });
});
