/**
 * The same procedures as REST under /api (trpc-to-openapi), the OpenAPI 3.1 document at /api/openapi.json and
 * Swagger UI at /api/docs. Plain JSON both ways: dates are ISO strings.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import type { AnyProcedure, AnyRouter } from "@trpc/server";
import type { CreateExpressContextOptions } from "@trpc/server/adapters/express";
import express, { Router, type ErrorRequestHandler, type Request, type RequestHandler, type Response } from "express";
import {
  createOpenApiNodeHttpHandler,
  createProcedureCache,
  generateOpenApiDocument,
  getInputOutputParsers,
  instanceofZodTypeKind,
  instanceofZodTypeObject,
  unwrapZodType,
  type OpenAPIObject,
} from "trpc-to-openapi";
import type { z } from "zod";
import { AppError, isJsonContentType } from "../errors.ts";
import { attachResponseSchemas, pinInputCoercion } from "../internals/trpc-to-openapi.ts";
import { projectRoot } from "../project.ts";
import type { Context } from "../trpc/context.ts";
import { toTRPCError } from "../trpc/errors.ts";
import { errorJson, type ApiMeta } from "../trpc/openapi.ts";
import { sendAppError, type FailedCall, type responseMeta as sharedResponseMeta } from "./errors.ts";
import { swaggerUi } from "./swagger-ui.ts";

type Procedure = AnyProcedure & { _def: { meta?: ApiMeta; inputs: unknown[] } };

const version = (JSON.parse(readFileSync(path.join(projectRoot, "package.json"), "utf8")) as { version: string })
  .version;

/** The OpenAPI 3.1 document of the REST surface; every error response is the tRPC error shape. */
function createOpenApiDocument(router: AnyRouter): OpenAPIObject {
  const document = generateOpenApiDocument(router, {
    title: "Todo API",
    description:
      "The tRPC procedures as REST. Authenticate with `Authorization: Bearer <JWT>`. Bodies and responses are plain JSON; " +
      "dates are ISO 8601 strings with a time zone. Errors carry the tRPC code and, for invalid input, the field errors " +
      "in `data.zodError.fieldErrors`.",
    version,
    baseUrl: "/api",
    defs: { Error: errorJson },
  });
  // The generator documents errors as { message, code, issues }; ours also carry `data` (as tRPC errors do).
  for (const operations of Object.values(document.paths ?? {})) {
    for (const operation of Object.values(
      operations as Record<string, { responses?: Record<string, { content?: Record<string, { schema: unknown }> }> }>,
    )) {
      for (const [status, response] of Object.entries(operation.responses ?? {})) {
        if (status !== "200" && response.content)
          response.content = { "application/json": { schema: { $ref: "#/components/schemas/Error" } } };
      }
    }
  }
  const schemas = document.components?.schemas ?? {};
  for (const name of Object.keys(schemas)) if (name.startsWith("error.")) delete schemas[name];
  return document;
}

// --- Requests: JSON bodies (express.json), strict conversion of query strings

const withBody = (method: string) => method !== "GET" && method !== "DELETE" && method !== "HEAD";

/** Query strings hold strings: numbers and booleans are converted only when they are exactly one. */
function convert(value: string, schema: z.ZodType): unknown {
  const inner = unwrapZodType(schema, false);
  if (instanceofZodTypeKind(inner, "number") && /^-?\d+(\.\d+)?([eE][-+]?\d+)?$/.test(value)) return Number(value);
  if (instanceofZodTypeKind(inner, "boolean") && (value === "true" || value === "false")) return value === "true";
  return value;
}

/**
 * The query as the adapter reads it: every value in an array, which it unwraps when it holds one value (a repeated
 * key stays an array, refused with a field error). A bare value would be dropped when falsy (0, false, "").
 */
function queryInput(params: URLSearchParams, procedure: Procedure): Record<string, unknown[]> {
  const object = unwrapZodType(getInputOutputParsers(procedure).inputParser, true);
  const shape = instanceofZodTypeObject(object) ? (object.shape as Record<string, z.ZodType>) : {};
  const query: Record<string, unknown[]> = {};
  for (const [key, value] of params) {
    (query[key] ??= []).push(shape[key] ? convert(value, shape[key]) : value);
  }
  return query;
}

export interface RestOptions {
  /** Its procedures with `meta.openapi` are served; prepared for REST here (see above), idempotently. */
  router: AnyRouter;
  createContext: (opts: CreateExpressContextOptions) => Context;
  bodyLimitBytes: number;
  onCallError: (call: FailedCall) => void;
  /** Headers from the call's outcome (Retry-After, Idempotent-Replayed), as on /trpc. */
  responseMeta?: typeof sharedResponseMeta;
}

/** The Express router for /api. */
export function createRestRouter({
  router,
  createContext,
  bodyLimitBytes,
  onCallError,
  responseMeta,
}: RestOptions): Router {
  pinInputCoercion(router);
  attachResponseSchemas(router);
  const findProcedure = createProcedureCache(router);

  const rest = Router();
  // Built and serialised once, on first request.
  let documentJson: string | undefined;
  rest.get("/openapi.json", (_req, res) => {
    documentJson ??= JSON.stringify(createOpenApiDocument(router));
    res.type("json").send(documentJson);
  });
  rest.use("/docs", swaggerUi());

  // Requests refused before the handler (bodies), with the table's codes, counted as failed calls of the procedure.
  const refuse = (req: Request, res: Response, error: AppError) => {
    onCallError({
      error: toTRPCError(error),
      path: res.locals.procedure as string,
      type: "unknown",
      reqId: res.locals.requestId as string,
      surface: "rest",
    });
    sendAppError(req, res, error);
  };
  const parseJson = express.json({ limit: bodyLimitBytes, strict: true, type: () => true });
  const prepare: RequestHandler = (req, res, next) => {
    const url = new URL(req.url, "http://localhost");
    const found = findProcedure(req.method as never, url.pathname.replace(/\/+$/, "") || "/");
    if (!found?.procedure) return next();
    // Names the call in the access log and in the metrics of a refused body.
    res.locals.procedure = found.procedure.path;
    if (withBody(req.method)) {
      // No Content-Type is read as JSON, so `curl -X POST …/clear-completed` needs no header (the adapter requires one).
      const type = (req.headers["content-type"] ??= "application/json");
      // The same rule as /trpc's (isJsonContentType). trpc-to-openapi checks again, with a case-sensitive prefix:
      // a JSON body reaches it as plain application/json; any other type it refuses itself (415, in its words),
      // but those its prefix lets through (application/json-patch+json), refused here in the same words.
      if (isJsonContentType(type)) {
        return parseJson(req, res, (error?: unknown) => {
          if (!error) req.headers["content-type"] = "application/json";
          next(error);
        });
      }
      if (type.startsWith("application/json"))
        return refuse(req, res, new AppError("unsupportedMediaType", `Unsupported content-type "${type}`));
      return next();
    }
    Object.defineProperty(req, "query", {
      value: queryInput(url.searchParams, found.procedure.procedure as Procedure),
      writable: true,
    });
    next();
  };
  rest.use(prepare);

  const handler = createOpenApiNodeHttpHandler({
    router,
    createContext: createContext as never,
    maxBodySize: bodyLimitBytes,
    responseMeta: responseMeta as never,
    onError({ error, path, type, ctx }) {
      onCallError({ error, path, type, reqId: (ctx as Context | undefined)?.requestId, surface: "rest" });
    },
  });
  rest.use((req, res, next) => handler(req, res, next));

  // Body parser failures.
  const onError: ErrorRequestHandler = (cause, req, res, next) => {
    if (res.headersSent) return next(cause);
    const error = cause as { type?: unknown; message?: unknown } | undefined;
    if (error?.type === "entity.too.large") return refuse(req, res, new AppError("payloadTooLarge"));
    if (error?.type === "entity.parse.failed") return refuse(req, res, new AppError("invalidJson"));
    if (error?.type === "charset.unsupported" || error?.type === "encoding.unsupported") {
      return refuse(req, res, new AppError("unsupportedMediaType", String(error.message)));
    }
    next(error);
  };
  rest.use(onError);
  return rest;
}

/**
 * 404 for /api paths no route answered, in the REST error shape, counted as a call of an unknown procedure (as
 * tRPC counts one). Mounted by the app after the REST router, so other routes under /api may be added between the two.
 */
export function restNotFound(onCallError: (call: FailedCall) => void): RequestHandler {
  return (req, res) => {
    const error = new AppError("notFound", `No route ${req.method} ${req.baseUrl}${req.path}`);
    onCallError({
      error: toTRPCError(error),
      path: undefined,
      type: "unknown",
      reqId: res.locals.requestId as string,
      surface: "rest",
    });
    sendAppError(req, res, error);
  };
}
