/**
 * tRPC's Express adapter with a buffered response: the same request handling (tRPC's own
 * `incomingMessageToRequest` and `resolveResponse`), but the answer is written with one `res.end(body)`
 * and a Content-Length, instead of piped through a WritableStream as a chunked body (a stream, a
 * promise per chunk and a second socket write per response; see bench/README.md). A subscription's
 * server-sent events are the one answer that is streamed (src/live/http.ts). The common single call skips even
 * that (src/http/trpc-fast-path.ts).
 */
import type { AnyTRPCRouter } from "@trpc/server";
import {
  incomingMessageToRequest,
  internal_exceptionHandler,
  type NodeHTTPHandlerOptions,
} from "@trpc/server/adapters/node-http";
import { resolveResponse } from "@trpc/server/http";
import type { Handler, Request, Response } from "express";
import { streamEvents } from "../live/http.ts";
import { createFastPath } from "./trpc-fast-path.ts";

/** `fastPath: false` sends every request the stock way (the differential test compares the two). */
export function createTrpcMiddleware<TRouter extends AnyTRPCRouter>(
  opts: NodeHTTPHandlerOptions<TRouter, Request, Response> & { fastPath?: boolean },
): Handler {
  const fast = opts.fastPath === false ? undefined : createFastPath(opts);
  return (req, res) => {
    // Mounted on a prefix: req.path is the procedure path (several joined by commas for a batch).
    const path = req.path.slice(req.path.lastIndexOf("/") + 1);
    const answered = fast ? fast(req, res, path) : Promise.resolve(false);
    answered
      .then((done) => (done ? undefined : handle(opts, req, res, path)))
      .catch(internal_exceptionHandler({ ...opts, req, res, path }));
  };
}

async function handle<TRouter extends AnyTRPCRouter>(
  opts: NodeHTTPHandlerOptions<TRouter, Request, Response>,
  req: Request,
  res: Response,
  path: string,
): Promise<void> {
  const request = incomingMessageToRequest(req, res, { maxBodySize: opts.maxBodySize ?? null });
  const response = await resolveResponse({
    ...opts,
    req: request,
    path,
    error: null,
    createContext: async (inner) => opts.createContext?.({ req, res, ...inner }),
    onError: (o) => opts.onError?.({ ...o, req }),
  });
  if (res.statusCode === 200) res.statusCode = response.status;
  if (response.body && response.headers.get("content-type")?.startsWith("text/event-stream")) {
    return streamEvents(response, res);
  }
  const body = Buffer.from(await response.arrayBuffer());
  // A streamed (jsonl) answer says `transfer-encoding: chunked`; buffered, it has a Content-Length instead.
  for (const [key, value] of response.headers) if (key !== "transfer-encoding") res.setHeader(key, value);
  res.setHeader("content-length", body.length);
  res.end(body);
}
