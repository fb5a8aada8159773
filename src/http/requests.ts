/** Per-request bookkeeping: a request id (accepted or generated, echoed back), one access log line, HTTP metrics. */
import { randomUUID } from "node:crypto";
import type { RequestHandler } from "express";
import type { Logger } from "../logger.ts";
import { UNKNOWN, type Metrics } from "../metrics.ts";

// An id from a proxy or client is kept when it is short and plain (UUIDs, trace ids, ULIDs); anything else is replaced.
const REQUEST_ID = /^[A-Za-z0-9._:/+=-]{1,128}$/;
const ROUTES = new Set(["/healthz", "/readyz", "/metrics"]);
const SURFACES = ["/trpc", "/api"];

/** A URL without its query string. */
export function pathOf(url: string): string {
  const query = url.indexOf("?");
  return query === -1 ? url : url.slice(0, query);
}

/** The route label for metrics: a fixed set, whatever the URL. */
export function routeOf(path: string): string {
  for (const surface of SURFACES) if (path === surface || path.startsWith(`${surface}/`)) return surface;
  return ROUTES.has(path) ? path : "other";
}

/** The path as logged: only names this API knows; anything else a client typed is not repeated. */
function loggedPath(path: string, route: string, metrics: Metrics): string {
  // A REST call is named by its procedure (its own field), not by the URL, which holds ids.
  if (route === "/api") return route;
  if (route !== "/trpc") return route === "other" ? "(other)" : path;
  if (path.length <= 6) return path;
  const known = path
    .slice(6)
    .split(",")
    .every((name) => metrics.procedure(name) !== UNKNOWN);
  return known ? path : "/trpc/(unknown)";
}

function requestId(header: string | string[] | undefined): string {
  return typeof header === "string" && REQUEST_ID.test(header) ? header : randomUUID();
}

/**
 * Sets `res.locals.requestId` and the `x-request-id` response header, then, once the response is done, logs
 * method, path (never the query string: tRPC GET inputs carry user data; never an unknown path; `/api` for REST),
 * a REST call's procedure, status and duration.
 */
export function requestLogger({ logger, metrics }: { logger: Logger; metrics: Metrics }): RequestHandler {
  return (req, res, next) => {
    const started = performance.now();
    const id = requestId(req.headers["x-request-id"]);
    res.locals.requestId = id;
    res.setHeader("x-request-id", id);
    res.once("close", () => {
      const ms = performance.now() - started;
      const path = pathOf(req.originalUrl);
      // A subscription's stream lasts minutes or hours: its own route label, so /trpc's latencies stay about calls.
      const streamed = res.locals.streamed === true;
      const route = streamed ? "/trpc (stream)" : routeOf(path);
      // A client that hung up before the response was complete: 499, as nginx logs it (a stream the client closed).
      const status = res.writableFinished ? res.statusCode : 499;
      metrics.observeRequest(route, status, ms / 1000);
      if (logger.isLevelEnabled("info")) {
        const logged = loggedPath(path, streamed ? "/trpc" : route, metrics);
        // Set by the REST router when the method and path name a procedure.
        const procedure = res.locals.procedure as string | undefined;
        logger.info(
          { reqId: id, method: req.method, path: logged, procedure, status, ms: Math.round(ms * 10) / 10 },
          "request",
        );
      }
    });
    next();
  };
}
