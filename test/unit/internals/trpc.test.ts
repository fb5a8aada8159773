import { initTRPC } from "@trpc/server";
import superjson from "superjson";
import { describe, expect, it } from "vitest";
import { routerConfig, routerProcedures } from "../../../src/internals/trpc.ts";

// The router internals src/internals/trpc.ts reads; a tRPC upgrade that moves them fails here.
describe("tRPC router internals", () => {
  const t = initTRPC.create({ transformer: superjson });
  const router = t.router({
    todo: t.router({ list: t.procedure.query(() => []), create: t.procedure.mutation(() => 1) }),
  });

  it("keeps the root config with its transformer and error formatter", () => {
    const config = routerConfig(router);
    expect(typeof config.transformer.input.deserialize).toBe("function");
    expect(typeof config.transformer.output.serialize).toBe("function");
    expect(typeof config.errorFormatter).toBe("function");
  });

  it("keeps a flat procedure table keyed by dotted path, each with its type", () => {
    const procedures = routerProcedures(router);
    expect(Object.keys(procedures).sort()).toEqual(["todo.create", "todo.list"]);
    expect(procedures["todo.list"]?._def.type).toBe("query");
    expect(procedures["todo.create"]?._def.type).toBe("mutation");
  });
});
