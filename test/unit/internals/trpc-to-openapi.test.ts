import { coerceSchema } from "trpc-to-openapi";
import { describe, expect, it } from "vitest";
import { z } from "zod";
import { pinCoercion } from "../../../src/internals/trpc-to-openapi.ts";

// What src/internals/trpc-to-openapi.ts relies on: trpc-to-openapi coerces the input schema itself, by writing
// zod's def.coerce, and a pinned def.coerce stays as it was. An upgrade of either library that changes this fails here.
describe("trpc-to-openapi's coercion of zod schemas", () => {
  const schema = () =>
    z.object({ n: z.number(), done: z.boolean().optional(), nested: z.object({ at: z.date() }).optional() });

  it("writes def.coerce on the schema it is given, so that schema accepts strings", () => {
    const input = schema();
    expect(input.safeParse({ n: "5" }).success).toBe(false);
    coerceSchema(input);
    expect((input.shape.n._zod.def as { coerce?: boolean }).coerce).toBe(true);
    expect(input.safeParse({ n: "5", done: "false" })).toMatchObject({ success: true, data: { n: 5, done: true } });
  });

  it("leaves a pinned schema as strict as it was", () => {
    const input = schema();
    pinCoercion(input);
    coerceSchema(input);
    expect(input.safeParse({ n: "5" }).success).toBe(false);
    expect(input.safeParse({ n: 5, done: "false" }).success).toBe(false);
    expect(input.safeParse({ n: 5, nested: { at: "2024-01-01" } }).success).toBe(false);
    expect(input.safeParse({ n: 5, done: false, nested: { at: new Date() } }).success).toBe(true);
  });
});
