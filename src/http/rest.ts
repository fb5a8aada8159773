/**
 * The same procedures as REST under /api (trpc-to-openapi), the OpenAPI 3.1 document at /api/openapi.json and
 * Swagger UI at /api/docs, served from node_modules (no CDN). Plain JSON both ways: dates are ISO strings.
 */
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import type { AnyProcedure, AnyRouter } from "@trpc/server";
import type { CreateExpressContextOptions } from "@trpc/server/adapters/express";
import express, { Router, type ErrorRequestHandler, type Request, type RequestHandler } from "express";
import {
  createOpenApiNodeHttpHandler,
  createProcedureCache,
  generateOpenApiDocument,
  getInputOutputParsers,
  instanceofZodTypeCoercible,
  instanceofZodTypeKind,
  instanceofZodTypeObject,
  unwrapZodType,
  type OpenAPIObject,
} from "trpc-to-openapi";
import type { z } from "zod";
import { projectRoot } from "../project.ts";
import type { Context } from "../trpc/context.ts";
import type { Logger } from "../logger.ts";
import { errorJson, type ApiMeta } from "../trpc/openapi.ts";
import { appRouter } from "../trpc/routers/_app.ts";

type Procedure = AnyProcedure & { _def: { meta?: ApiMeta; output?: unknown; inputs: unknown[] } };

function procedures(router: AnyRouter): Procedure[] {
  return Object.values(router._def.procedures as Record<string, Procedure>);
}

/**
 * trpc-to-openapi documents a procedure's `_def.output`, which tRPC's `.output()` sets together with a middleware
 * that parses every result of every tRPC call. `meta.response` is attached as `_def.output` instead: the document
 * gets the schema, and no call parses its result.
 */
function attachResponseSchemas(router: AnyRouter): void {
  for (const procedure of procedures(router)) {
    const response = procedure._def.meta?.response;
    if (procedure._def.meta?.openapi && response) procedure._def.output = response;
  }
}

/**
 * On every REST call trpc-to-openapi sets `coerce` on the number, boolean and date fields of the procedure's input
 * schema, in place — the schema tRPC parses with too. That would let tRPC accept "5" for a number and read the
 * string "false" as true (Boolean("false")). Each such field's `coerce` is pinned to what it was; query strings
 * are converted strictly by `queryInput` instead.
 */
function pinCoercion(schema: unknown): void {
  const object = unwrapZodType(schema as z.ZodType, true);
  if (!instanceofZodTypeObject(object)) return;
  for (const field of Object.values(object.shape)) {
    const inner = unwrapZodType(field as z.ZodType, false);
    if (instanceofZodTypeCoercible(inner)) {
      const def = inner._zod.def as { coerce?: boolean };
      const value = def.coerce ?? false;
      Object.defineProperty(def, "coerce", { get: () => value, set: () => {}, configurable: false });
    } else if (instanceofZodTypeObject(inner)) {
      pinCoercion(inner);
    }
  }
}

for (const procedure of procedures(appRouter)) for (const input of procedure._def.inputs) pinCoercion(input);
attachResponseSchemas(appRouter);

const version = (JSON.parse(readFileSync(path.join(projectRoot, "package.json"), "utf8")) as { version: string }).version;

/** The OpenAPI document as served: built and serialised once, on first request. */
let documentJson: string | undefined;

/** The OpenAPI 3.1 document of the REST surface; every error response is the tRPC error shape. */
function createOpenApiDocument(): OpenAPIObject {
  const document = generateOpenApiDocument(appRouter, {
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
    for (const operation of Object.values(operations as Record<string, { responses?: Record<string, { content?: Record<string, { schema: unknown }> }> }>)) {
      for (const [status, response] of Object.entries(operation.responses ?? {})) {
        if (status !== "200" && response.content) response.content = { "application/json": { schema: { $ref: "#/components/schemas/Error" } } };
      }
    }
  }
  const schemas = document.components?.schemas ?? {};
  for (const name of Object.keys(schemas)) if (name.startsWith("error.")) delete schemas[name];
  return document;
}

// --- Requests: JSON bodies (express.json), strict conversion of query strings

const withBody = (method: string) => method !== "GET" && method !== "DELETE" && method !== "HEAD";
const findProcedure = createProcedureCache(appRouter as never);

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
function queryInput(req: Request, procedure: Procedure): Record<string, unknown[]> {
  const object = unwrapZodType(getInputOutputParsers(procedure).inputParser as z.ZodType, true);
  const shape = instanceofZodTypeObject(object) ? (object.shape as Record<string, z.ZodType>) : {};
  const query: Record<string, unknown[]> = {};
  for (const [key, value] of new URL(req.url, "http://localhost").searchParams) {
    (query[key] ??= []).push(shape[key] ? convert(value, shape[key]) : value);
  }
  return query;
}

export interface RestOptions {
  createContext: (opts: CreateExpressContextOptions) => Context;
  bodyLimitBytes: number;
  logger: Logger;
}

interface RestError {
  message: string;
  code: string;
  data: { code: string; httpStatus: number; zodError: null };
}

const restError = (httpStatus: number, code: string, message: string): RestError => ({
  message,
  code,
  data: { code, httpStatus, zodError: null },
});

/** The Express router for /api. */
export function createRestRouter({ createContext, bodyLimitBytes, logger }: RestOptions): Router {
  const router = Router();
  router.get("/openapi.json", (_req, res) => {
    documentJson ??= JSON.stringify(createOpenApiDocument());
    res.type("json").send(documentJson);
  });
  router.use("/docs", docs());

  const parseJson = express.json({ limit: bodyLimitBytes, strict: true, type: () => true });
  const prepare: RequestHandler = (req, res, next) => {
    const url = new URL(req.url, "http://localhost");
    const found = findProcedure(req.method as never, url.pathname.replace(/\/+$/, "") || "/");
    if (!found?.procedure) return next();
    if (withBody(req.method)) {
      // No Content-Type is read as JSON, so `curl -X POST …/clear-completed` needs no header (the adapter requires one).
      req.headers["content-type"] ??= "application/json";
      if (!req.headers["content-type"].startsWith("application/json")) return next();
      return parseJson(req, res, next);
    }
    Object.defineProperty(req, "query", { value: queryInput(req, found.procedure.procedure as Procedure), writable: true });
    next();
  };
  router.use(prepare);

  const handler = createOpenApiNodeHttpHandler({
    router: appRouter,
    createContext: createContext as never,
    maxBodySize: bodyLimitBytes,
    onError({ error, path, type }) {
      if (error.code === "INTERNAL_SERVER_ERROR" || error.code === "SERVICE_UNAVAILABLE") {
        logger.error({ err: error.cause ?? error, path, type, code: error.code, surface: "rest" }, "procedure failed");
      }
    },
  });
  router.use((req, res, next) => handler(req, res, next));

  // Body parser failures, in the REST error shape and with tRPC's codes.
  const onError: ErrorRequestHandler = (error, _req, res, next) => {
    if (res.headersSent) return next(error);
    if (error?.type === "entity.too.large") return void res.status(413).json(restError(413, "PAYLOAD_TOO_LARGE", "Request body too large"));
    if (error?.type === "entity.parse.failed") return void res.status(400).json(restError(400, "PARSE_ERROR", "Body is not valid JSON"));
    if (error?.type === "charset.unsupported" || error?.type === "encoding.unsupported") {
      return void res.status(415).json(restError(415, "UNSUPPORTED_MEDIA_TYPE", String(error.message)));
    }
    next(error);
  };
  router.use(onError);
  return router;
}

/**
 * 404 for /api paths no route answered, in the REST error shape. Mounted by the app after the REST router,
 * so other routes under /api may be added between the two.
 */
export const restNotFound: RequestHandler = (req, res) => {
  res.status(404).json(restError(404, "NOT_FOUND", `No route ${req.method} ${req.baseUrl}${req.path}`));
};

// --- Swagger UI, from the swagger-ui-dist package

const swaggerUiDir = path.dirname(createRequire(import.meta.url).resolve("swagger-ui-dist/package.json"));
const SWAGGER_FILES = ["swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png"];

// Relative URLs: the page lives at /api/docs, its assets under /api/docs/, the document at /api/openapi.json.
const DOCS_HTML = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Todo API — REST</title>
  <link rel="icon" type="image/png" href="docs/favicon-32x32.png">
  <link rel="stylesheet" href="docs/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="docs/swagger-ui-bundle.js"></script>
  <script src="docs/init.js"></script>
</body>
</html>
`;

// A file rather than an inline script, so a strict Content-Security-Policy (script-src 'self') allows it.
// validatorUrl: null keeps Swagger UI from sending the document to its online validator.
const DOCS_INIT = `window.ui = SwaggerUIBundle({
  url: "openapi.json",
  dom_id: "#swagger-ui",
  validatorUrl: null,
  deepLinking: true,
});
`;

function docs(): Router {
  const router = Router({ strict: true });
  router.get("/", (req, res) => {
    // /api/docs/ would resolve the page's relative URLs one level too deep.
    if (req.originalUrl.split("?")[0]!.endsWith("/")) return res.redirect(301, `${req.baseUrl}`);
    res.type("html").send(DOCS_HTML);
  });
  router.get("/init.js", (_req, res) => {
    res.type("js").send(DOCS_INIT);
  });
  for (const file of SWAGGER_FILES) {
    router.get(`/${file}`, (_req, res) => {
      res.sendFile(path.join(swaggerUiDir, file), { maxAge: "1d" });
    });
  }
  return router;
}
