/**
 * Every error response built outside tRPC's and trpc-to-openapi's own handling, in the shape of the surface the
 * request was for; the headers a call's outcome adds on both surfaces; the one place a failed call is counted and
 * logged.
 */
import type { TRPCError } from "@trpc/server";
import { TRPC_ERROR_CODES_BY_KEY, type TRPC_ERROR_CODE_KEY } from "@trpc/server/rpc";
import type { Request, Response } from "express";
import { AppError, errorHeaders } from "../errors.ts";
import type { Logger } from "../logger.ts";
import { replayedHeaders } from "../idempotency/http.ts";
import type { Context } from "../trpc/context.ts";
import { transformer } from "../trpc/transformer.ts";
import type { Metrics } from "../metrics.ts";
import { pathOf, routeOf } from "./requests.ts";

/**
 * On /trpc the tRPC shape, serialised as tRPC does, so typed clients still get a TRPCClientError with `data.code`;
 * on /api the REST shape (docs/api.md); anywhere else `{ error: message }`. Given a status directly only for Express's
 * own errors, whose status the table cannot know; everything else goes through sendAppError.
 */
export function sendError(
  req: Request,
  res: Response,
  status: number,
  code: TRPC_ERROR_CODE_KEY,
  message: string,
): void {
  const route = routeOf(pathOf(req.originalUrl));
  res.status(status);
  if (route === "/trpc") {
    const shape = { message, code: TRPC_ERROR_CODES_BY_KEY[code], data: { code, httpStatus: status, zodError: null } };
    res.type("application/json").end(JSON.stringify({ error: transformer.output.serialize(shape) }));
  } else if (route === "/api") {
    res.json({ message, code, data: { code, httpStatus: status, zodError: null } });
  } else {
    res.json({ error: message });
  }
}

/** An AppError answered as the error table says: its status, its code, its headers (Retry-After). */
export function sendAppError(req: Request, res: Response, error: AppError): void {
  for (const [name, value] of Object.entries(errorHeaders(error))) res.setHeader(name, value);
  sendError(req, res, error.rule.status, error.rule.code, error.message);
}

/** A tRPC or REST call that ended in an error. `path` is whatever the client asked for, a procedure or not. */
export interface FailedCall {
  error: TRPCError;
  path: string | undefined;
  type: string;
  reqId: string | undefined;
  surface: "trpc" | "rest";
}

/**
 * Counts every failed call by procedure and code, and logs those that are the server's fault (the client's own
 * mistakes would only flood the log). The path is logged only when it names a procedure.
 */
export function callFailureHandler({
  metrics,
  logger,
}: {
  metrics: Metrics;
  logger: Logger;
}): (call: FailedCall) => void {
  return ({ error, path, type, reqId, surface }) => {
    const procedure = metrics.procedure(path);
    metrics.countError(procedure, error.code);
    if (error.code === "INTERNAL_SERVER_ERROR" || error.code === "SERVICE_UNAVAILABLE") {
      logger.error(
        { err: causeOf(error), path: procedure, type, code: error.code, reqId, surface },
        "procedure failed",
      );
    }
  };
}

// What went wrong underneath: an AppError's own cause (the database's, the key fetch's) when it has one.
function causeOf(error: TRPCError): unknown {
  if (error.cause instanceof AppError) return error.cause.cause ?? error.cause;
  return error.cause ?? error;
}

// toTRPCError keeps the AppError as the cause.
const retryAfterOf = (error: TRPCError): string | undefined =>
  error.cause instanceof AppError ? errorHeaders(error.cause)["retry-after"] : undefined;

/**
 * Headers tRPC and REST answers share, from the call's outcome: those the error table gives an error (Retry-After
 * for a rate limit, an Idempotency-Key still in use…), Idempotent-Replayed on a stored result.
 */
export function responseMeta({ ctx, errors }: { ctx?: Context; errors: TRPCError[] }): {
  headers?: Record<string, string>;
} {
  if (errors.length) {
    const retryAfter = errors.map(retryAfterOf).find((seconds) => seconds !== undefined);
    return retryAfter === undefined ? {} : { headers: { "retry-after": retryAfter } };
  }
  const replayed = replayedHeaders(ctx);
  return replayed ? { headers: replayed } : {};
}
