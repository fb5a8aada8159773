/**
 * Two changes to the procedures trpc-to-openapi serves, both through tRPC's router `_def` (typed, underscored):
 * - `meta.response` becomes `_def.output`, the schema trpc-to-openapi documents. tRPC's `.output()` would also
 *   add a middleware parsing every result of every call; this gives the document the schema and no call parses.
 * - On every REST call trpc-to-openapi sets zod's `def.coerce` on the input's number, boolean and date fields, in
 *   place, on the schema tRPC parses with too: tRPC would then take "5" for a number and "false" as true. Each
 *   such field's `coerce` is pinned to what it was (query strings are converted strictly by src/http/rest.ts).
 * zod and trpc-to-openapi are pinned exactly; test/unit/internals/trpc-to-openapi.test.ts fails when either
 * changes this. Retired when trpc-to-openapi coerces a copy of the schema (or not at all), and documents a
 * response schema given in its meta.
 */
import type { AnyProcedure, AnyRouter } from "@trpc/server";
import { instanceofZodTypeCoercible, instanceofZodTypeObject, unwrapZodType } from "trpc-to-openapi";
import type { z } from "zod";

type Procedure = AnyProcedure & {
  _def: { meta?: { openapi?: unknown; response?: unknown }; output?: unknown; inputs: unknown[] };
};

function procedures(router: AnyRouter): Procedure[] {
  return Object.values(router._def.procedures as Record<string, Procedure>);
}

/** Each REST procedure's `meta.response` as its `_def.output`, for the document only. */
export function attachResponseSchemas(router: AnyRouter): void {
  for (const procedure of procedures(router)) {
    const response = procedure._def.meta?.response;
    if (procedure._def.meta?.openapi && response) procedure._def.output = response;
  }
}

/** Pins `coerce` on every input schema's coercible fields, so trpc-to-openapi's writes do not take. */
export function pinInputCoercion(router: AnyRouter): void {
  for (const procedure of procedures(router)) for (const input of procedure._def.inputs) pinCoercion(input);
}

export function pinCoercion(schema: unknown): void {
  const object = unwrapZodType(schema as z.ZodType, true);
  if (!instanceofZodTypeObject(object)) return;
  for (const field of Object.values(object.shape)) {
    const inner = unwrapZodType(field, false);
    if (instanceofZodTypeCoercible(inner)) {
      const def = inner._zod.def as { coerce?: boolean };
      // Already pinned by an earlier app in this process (a pinned property cannot be redefined).
      if (Object.getOwnPropertyDescriptor(def, "coerce")?.configurable === false) continue;
      const value = def.coerce ?? false;
      Object.defineProperty(def, "coerce", { get: () => value, set: () => {}, configurable: false });
    } else if (instanceofZodTypeObject(inner)) {
      pinCoercion(inner);
    }
  }
}
