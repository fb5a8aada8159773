/**
 * The common tRPC request — one query over GET or one mutation over POST, no batch, no streaming, no method
 * override — answered without building a Fetch `Request`/`Response`: the steps of tRPC's `resolveResponse` for a
 * single call (context, procedure, error shape, `responseMeta`, `onError`, transformer), with its own helpers, on
 * Node's request and response directly. Anything else returns false and goes through tRPC's own handler.
 * test/api/fast-path.test.ts sends the same generated requests both ways and compares every byte a client sees.
 */
import {
  getErrorShape,
  getTRPCErrorFromUnknown,
  transformTRPCResponse,
  TRPCError,
  type AnyTRPCRouter,
} from "@trpc/server";
import type { NodeHTTPHandlerOptions } from "@trpc/server/adapters/node-http";
import { getHTTPStatusCode } from "@trpc/server/http";
import type { Request, Response } from "express";
import { isJsonContentType } from "../errors.ts";
import { routerConfig, routerProcedures } from "../internals/trpc.ts";

type Options<TRouter extends AnyTRPCRouter> = NodeHTTPHandlerOptions<TRouter, Request, Response>;

// tRPC's own predicates (not public), for the same verdict on a result.
const isObject = (value: unknown): value is Record<string, unknown> =>
  !!value && !Array.isArray(value) && typeof value === "object";
const isAsyncIterable = (value: unknown): value is AsyncIterable<unknown> =>
  isObject(value) && Symbol.asyncIterator in value;
const isPromise = (value: unknown): value is Promise<unknown> =>
  (isObject(value) || typeof value === "function") &&
  typeof (value as { then?: unknown }).then === "function" &&
  typeof (value as { catch?: unknown }).catch === "function";

// Procedure paths as tRPC names them: anything needing URL decoding or a batch (commas) takes the stock path.
const PLAIN_PATH = /^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$/;
// Host values that always make a valid URL (the stock adapter answers 400 for one that does not).
const PLAIN_HOST = /^[A-Za-z0-9.-]+(:\d{1,5})?$|^\[[0-9A-Fa-f:.]+\](:\d{1,5})?$/;

/** The body or query input, read and parsed once, when the procedure's input middleware asks (as tRPC's memo does). */
function lazyInput(read: () => Promise<unknown>) {
  let state: { done: true; value: unknown } | { done: false; promise?: Promise<unknown> } = { done: false };
  return {
    read: async () => {
      if (state.done) return state.value;
      state.promise ??= read().catch((cause) => {
        if (cause instanceof TRPCError) throw cause;
        throw new TRPCError({
          code: "BAD_REQUEST",
          message: cause instanceof Error ? cause.message : "Invalid input",
          cause,
        });
      });
      const value = await state.promise;
      state = { done: true, value };
      return value;
    },
    result: () => (state.done ? state.value : undefined),
  };
}

// Stateless between calls (no `stream` option): one for every request.
const utf8 = new TextDecoder();

/** The body as Fetch's `text()` reads it (UTF-8, a leading BOM dropped), refused above maxBodySize like the adapter. */
function readBody(req: Request, maxBodySize: number | null): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (!maxBodySize || size <= maxBodySize) return void chunks.push(chunk);
      req.off("data", onData).off("end", onEnd);
      reject(new TRPCError({ code: "PAYLOAD_TOO_LARGE" }));
    };
    const onEnd = () => {
      req.off("data", onData).off("end", onEnd);
      resolve(utf8.decode(chunks.length === 1 ? chunks[0] : Buffer.concat(chunks)));
    };
    req.on("data", onData).on("end", onEnd);
  });
}

function isDataStream(value: unknown): boolean {
  if (!isObject(value)) return false;
  if (isAsyncIterable(value)) return true;
  return Object.values(value).some(isPromise) || Object.values(value).some(isAsyncIterable);
}

/** The raw `input` of a GET whose query string holds nothing else; null when the request is not one we take. */
function queryInput(url: string): string | undefined | null {
  const mark = url.indexOf("?");
  if (mark === -1 || mark === url.length - 1) return undefined;
  const params = new URLSearchParams(url.slice(mark + 1));
  let input: string | undefined;
  for (const [key, value] of params) {
    if (key !== "input" || input !== undefined) return null;
    input = value;
  }
  return input;
}

/**
 * Returns a handler that answers the request and resolves true, or resolves false without touching it.
 * `path` is the procedure path from the URL (after the mount point).
 */
export function createFastPath<TRouter extends AnyTRPCRouter>(opts: Options<TRouter>) {
  const config = routerConfig(opts.router);
  const procedures = routerProcedures(opts.router);
  const deserialize = (value: unknown): unknown => config.transformer.input.deserialize(value);

  return async (req: Request, res: Response, path: string): Promise<boolean> => {
    const { method, headers: h } = req;
    const type = method === "GET" ? "query" : method === "POST" ? "mutation" : undefined;
    if (!type || !PLAIN_PATH.test(path)) return false;
    const procedure = Object.hasOwn(procedures, path) ? procedures[path] : undefined;
    if (procedure?._def.type !== type) return false;
    if (h["trpc-accept"] !== undefined || h.accept?.includes("application/jsonl") || h[":scheme"] !== undefined)
      return false;
    if (h.host !== undefined && !PLAIN_HOST.test(h.host)) return false;

    let rawInput: () => Promise<unknown>;
    if (type === "query") {
      if (h["content-type"] !== undefined && !isJsonContentType(h["content-type"])) return false;
      const raw = queryInput(req.url);
      if (raw === null) return false;
      // A parse error rejects, as in the body's case, rather than throwing.
      rawInput = () => new Promise((resolve) => resolve(raw ? deserialize(JSON.parse(raw)) : undefined));
    } else {
      if (req.url.includes("?") || !isJsonContentType(h["content-type"]) || req.readableEnded || "body" in req)
        return false;
      const maxBodySize = opts.maxBodySize ?? null;
      rawInput = async () => {
        const body = await readBody(req, maxBodySize);
        return body ? deserialize(JSON.parse(body)) : undefined;
      };
    }
    const input = lazyInput(rawInput);

    const call = { batchIndex: 0, path, procedure, getRawInput: input.read, result: input.result };
    let signal: AbortSignal | undefined;
    const info = {
      isBatchCall: false,
      accept: null,
      calls: [call],
      type,
      connectionParams: null,
      get signal() {
        return (signal ??= new AbortController().signal);
      },
      get url() {
        return new URL(req.url, `http://${h.host ?? "localhost"}`);
      },
    };

    let ctx: unknown;
    let ctxError: TRPCError | undefined;
    try {
      ctx = await opts.createContext?.({ req, res, info } as never);
    } catch (cause) {
      ctxError = getTRPCErrorFromUnknown(cause);
    }

    let error: TRPCError | undefined;
    let data: unknown;
    try {
      if (ctxError) throw ctxError;
      data = await procedure({ path, getRawInput: input.read, ctx, type, signal: undefined, batchIndex: 0 });
    } catch (cause) {
      error = getTRPCErrorFromUnknown(cause);
      opts.onError?.({ error, path, input: input.result(), ctx, type, req } as never);
    }

    let body: { error: unknown } | { result: { data: unknown } };
    let shapePath: string | undefined = path;
    if (!error && isDataStream(data)) {
      // Outside the call in tRPC too: reported without a path.
      error = new TRPCError({
        code: "UNSUPPORTED_MEDIA_TYPE",
        message: "Cannot use stream-like response in non-streaming request - use httpBatchStreamLink",
      });
      shapePath = undefined;
      opts.onError?.({ error, path: undefined, input: undefined, ctx, type, req } as never);
    }
    if (error) {
      const input_ = shapePath === undefined ? undefined : input.result();
      body = { error: getErrorShape({ config, ctx, error, input: input_, path: shapePath, type }) };
    } else {
      body = { result: { data } };
    }

    const headers = new Map<string, string>([
      ["vary", "trpc-accept, accept"],
      ["content-type", "application/json"],
    ]);
    let status = getHTTPStatusCode(body as never, error ? [error] : []);
    const meta =
      opts.responseMeta?.({
        ctx,
        info,
        paths: [path],
        data: [body],
        errors: error ? [error] : [],
        eagerGeneration: false,
        type,
      } as never) ?? {};
    if (meta.headers) {
      const entries = meta.headers instanceof Headers ? [...meta.headers.entries()] : Object.entries(meta.headers);
      for (const [key, value] of entries) {
        const name = key.toLowerCase();
        const append = (v: string) => headers.set(name, headers.has(name) ? `${headers.get(name)}, ${v}` : v);
        if (meta.headers instanceof Headers) append(value as string);
        else if (Array.isArray(value)) value.forEach(append);
        else if (typeof value === "string") headers.set(name, value);
      }
    }
    if (meta.status) status = meta.status;

    const payload = Buffer.from(JSON.stringify(transformTRPCResponse(config, body as never)));
    if (res.statusCode === 200) res.statusCode = status;
    // Fetch's Headers iterate in name order: the same order on the wire as the stock path.
    for (const name of [...headers.keys()].sort()) res.setHeader(name, headers.get(name)!);
    res.setHeader("content-length", payload.length);
    res.end(payload);
    return true;
  };
}
