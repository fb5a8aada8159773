/**
 * Headers tRPC and REST answers share, from the call's outcome: Retry-After when an error says how long to wait
 * (a rate limit, an Idempotency-Key still in use), Idempotent-Replayed on a stored result.
 */
import type { TRPCError } from "@trpc/server";
import { REPLAYED_HEADER } from "../idempotency/key.ts";
import type { Context } from "../trpc/context.ts";

const retryAfterOf = (error: TRPCError): number | undefined => {
  const seconds = (error.cause as { retryAfterSeconds?: unknown } | undefined)?.retryAfterSeconds;
  return typeof seconds === "number" ? seconds : undefined;
};

export function responseMeta({ ctx, errors }: { ctx?: Context; errors: TRPCError[] }): { headers?: Record<string, string> } {
  if (errors.length) {
    const retryAfter = errors.map(retryAfterOf).find((seconds) => seconds !== undefined);
    return retryAfter === undefined ? {} : { headers: { "retry-after": String(retryAfter) } };
  }
  return ctx?.idempotency.replayed ? { headers: { [REPLAYED_HEADER]: "true" } } : {};
}
