/**
 * Headers tRPC and REST answers share, from the call's outcome: those the error table gives an error (Retry-After
 * for a rate limit, an Idempotency-Key still in use…), Idempotent-Replayed on a stored result.
 */
import type { TRPCError } from "@trpc/server";
import { AppError, errorHeaders } from "../errors.ts";
import { REPLAYED_HEADER } from "../idempotency/key.ts";
import type { Context } from "../trpc/context.ts";

// toTRPCError keeps the AppError as the cause.
const retryAfterOf = (error: TRPCError): string | undefined =>
  error.cause instanceof AppError ? errorHeaders(error.cause)["retry-after"] : undefined;

export function responseMeta({ ctx, errors }: { ctx?: Context; errors: TRPCError[] }): { headers?: Record<string, string> } {
  if (errors.length) {
    const retryAfter = errors.map(retryAfterOf).find((seconds) => seconds !== undefined);
    return retryAfter === undefined ? {} : { headers: { "retry-after": retryAfter } };
  }
  return ctx?.idempotency.replayed ? { headers: { [REPLAYED_HEADER]: "true" } } : {};
}
