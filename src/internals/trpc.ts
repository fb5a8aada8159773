/**
 * tRPC's router internals, read by the fast path (src/http/trpc-fast-path.ts): the root config (transformer, error
 * formatter) and the flat procedure table. tRPC has no public accessor for either; `_def` is typed but underscored.
 * The gate is test/api/fast-path.test.ts (byte-identical with tRPC's own handler) and
 * test/unit/internals/trpc.test.ts (the shape read here). Retired when tRPC exports a router's config and lookup.
 */
import type { AnyTRPCProcedure, AnyTRPCRouter } from "@trpc/server";

export function routerConfig<TRouter extends AnyTRPCRouter>(router: TRouter): TRouter["_def"]["_config"] {
  return router._def._config;
}

export function routerProcedures(router: AnyTRPCRouter): Record<string, AnyTRPCProcedure | undefined> {
  return router._def.procedures as Record<string, AnyTRPCProcedure | undefined>;
}
