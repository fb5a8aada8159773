/**
 * tRPC initialisation: `t`, the router and middleware builders (procedures.ts builds the procedures on them), the
 * error formatter, and a router's copy with this app's SSE settings.
 */
import { initTRPC, type AnyRouter, type TRPCDefaultErrorShape, type TRPCError } from "@trpc/server";
import { z, ZodError } from "zod";
import { sseOptions, type SseOptions } from "../live/sse.ts";
import type { Context } from "./context.ts";
import type { ApiMeta } from "./openapi.ts";
import { transformer } from "./transformer.ts";

const create = (sse: SseOptions) =>
  initTRPC.context<Context>().meta<ApiMeta>().create({
    transformer,
    // Stacks never leave the process; the server logs them.
    isDev: false,
    // Subscriptions (todo.onChange) over server-sent events.
    sse,
    errorFormatter,
  });

function errorFormatter({
  shape,
  error,
  ctx,
}: {
  shape: TRPCDefaultErrorShape;
  error: TRPCError;
  ctx: Context | undefined;
}) {
  const zodError =
    error.code === "BAD_REQUEST" && error.cause instanceof ZodError
      ? z.flattenError(error.cause as ZodError<Record<string, unknown>>)
      : null;
  const hideMessage = error.code === "INTERNAL_SERVER_ERROR" && (ctx?.production ?? true);
  return {
    ...shape,
    message: hideMessage ? "Internal server error" : shape.message,
    data: { ...shape.data, zodError },
  };
}

const t = create(sseOptions(15_000));

export const router = t.router;
export const procedure = t.procedure;
export const createCallerFactory = t.createCallerFactory;

/**
 * `appRouter` answering with these SSE settings (SSE_PING_MS): tRPC reads them from the root router's config, so
 * each app merges the router into one of its own, with the same transformer and error formatter.
 */
export function withSse<TRouter extends AnyRouter>(appRouter: TRouter, sse: SseOptions): TRouter {
  return create(sse).mergeRouters(create(sse).router({}), appRouter);
}
