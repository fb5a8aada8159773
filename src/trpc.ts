/**
 * tRPC initialisation: the builders every router uses.
 * - publicProcedure: no caller needed (maps database errors to client-facing codes).
 * - protectedProcedure: a verified Bearer token; `ctx.user` is the caller, whose User row exists.
 */
import { initTRPC, TRPCError } from "@trpc/server";
import { z, ZodError } from "zod";
import { AuthError, AuthUnavailableError } from "./auth.ts";
import type { Context } from "./context.ts";
import { toTRPCError } from "./errors.ts";
import type { ApiMeta } from "./openapi.ts";
import { transformer } from "./transformer.ts";

const t = initTRPC.context<Context>().meta<ApiMeta>().create({
  transformer,
  // Stacks never leave the process; the server logs them.
  isDev: false,
  errorFormatter({ shape, error, ctx }) {
    const zodError = error.code === "BAD_REQUEST" && error.cause instanceof ZodError ? z.flattenError(error.cause as ZodError<Record<string, unknown>>) : null;
    const hideMessage = error.code === "INTERNAL_SERVER_ERROR" && (ctx?.production ?? true);
    return {
      ...shape,
      message: hideMessage ? "Internal server error" : shape.message,
      data: { ...shape.data, zodError },
    };
  },
});

export const router = t.router;
export const createCallerFactory = t.createCallerFactory;
export const middleware = t.middleware;

export const publicProcedure = t.procedure.use(async ({ next }) => {
  const result = await next();
  if (!result.ok && result.error.code === "INTERNAL_SERVER_ERROR") {
    const mapped = toTRPCError(result.error.cause);
    if (mapped) throw mapped;
  }
  return result;
});

export const protectedProcedure = publicProcedure.use(async ({ ctx, next }) => {
  if (!ctx.token) throw new TRPCError({ code: "UNAUTHORIZED", message: "Missing Bearer token" });
  let identity;
  try {
    identity = await ctx.verifyToken(ctx.token);
  } catch (error) {
    if (error instanceof AuthError) throw new TRPCError({ code: "UNAUTHORIZED", message: "Invalid or expired token" });
    if (error instanceof AuthUnavailableError) {
      throw new TRPCError({ code: "SERVICE_UNAVAILABLE", message: "Token issuer unavailable, retry later", cause: error });
    }
    throw error;
  }
  await ctx.users.ensure(identity);
  return next({ ctx: { user: identity } });
});
