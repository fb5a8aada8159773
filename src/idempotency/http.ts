/** Idempotency's answer header: `Idempotent-Replayed: true` on a stored result, on tRPC and REST alike. */
import type { Context } from "../trpc/context.ts";
import { REPLAYED_HEADER } from "./key.ts";

export const replayedHeaders = (ctx: Context | undefined): Record<string, string> | undefined =>
  ctx?.idempotency.replayed ? { [REPLAYED_HEADER]: "true" } : undefined;
