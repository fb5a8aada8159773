/** Express middleware in front of the API: security headers, the Host check, the CORS allowlist, JSON-only bodies. */
import cors from "cors";
import type { RequestHandler } from "express";
import helmet from "helmet";
import { isLoopbackHost } from "../config.ts";
import { AppError, isJsonContentType } from "../errors.ts";
import { sendAppError } from "./errors.ts";

/**
 * helmet's defaults, but for `upgrade-insecure-requests`: it would make browsers fetch the page's own assets over
 * https when the page is opened over plain http under a host name (npm start on a LAN, an internal host).
 */
export const securityHeaders = (): RequestHandler =>
  helmet({ contentSecurityPolicy: { directives: { upgradeInsecureRequests: null } } });

/** Browsers may call from these origins only; without any, no cross-origin response carries CORS headers. */
export function corsAllowlist(origins: string[]): RequestHandler | undefined {
  if (!origins.length) return undefined;
  return cors({
    origin: origins,
    methods: ["GET", "POST", "PATCH", "DELETE"], // PATCH and DELETE: the REST surface
    allowedHeaders: ["authorization", "content-type", "x-request-id", "idempotency-key"],
    exposedHeaders: ["x-request-id", "retry-after", "ratelimit", "ratelimit-policy", "idempotent-replayed"],
    maxAge: 600,
  });
}

/**
 * POST bodies must be JSON: tRPC would also accept multipart/form-data and octet-stream, which no procedure
 * here takes. Refused with 415 before anything reads the body.
 */
export const requireJsonBody: RequestHandler = (req, res, next) => {
  if (req.method !== "POST" || isJsonContentType(req.headers["content-type"])) return next();
  sendAppError(req, res, new AppError("unsupportedMediaType", "POST bodies must be application/json"));
};

/**
 * The DNS-rebinding defence of development servers (Vite's server.allowedHosts): a page on evil.example can point
 * its own name at 127.0.0.1 and then talk to this server as same-origin, but its requests still carry
 * `Host: evil.example`. Outside production only a loopback name or an ALLOWED_HOSTS entry is answered.
 */
/** The name in a Host header (`name`, `name:port`, `[v6]:port`), lower case; undefined when it is malformed. */
export function hostName(header: string): string | undefined {
  const match = /^(\[[0-9a-f:.]+\]|[^:[\]]+)(?::\d{1,5})?$/i.exec(header.trim());
  // A trailing dot names the same host (`localhost.`).
  return match?.[1]!.toLowerCase().replace(/\.$/, "");
}

/** `allowed` entries are names, or `.example.com` for that domain and every name under it. */
export function isAllowedHost(header: string | undefined, allowed: readonly string[]): boolean {
  // No Host at all (HTTP/1.0): nothing on the list names it. Browsers always send one.
  const name = header === undefined ? undefined : hostName(header);
  if (!name) return false;
  if (isLoopbackHost(name)) return true;
  return allowed.some(
    (entry) => entry === name || (entry.startsWith(".") && (name === entry.slice(1) || name.endsWith(entry))),
  );
}

/** 403 FORBIDDEN for any other Host; mounted outside production only. */
export function hostCheck(allowed: readonly string[]): RequestHandler {
  return (req, res, next) => {
    if (isAllowedHost(req.headers.host, allowed)) return next();
    const name = req.headers.host === undefined ? "(none)" : JSON.stringify(req.headers.host);
    sendAppError(
      req,
      res,
      new AppError(
        "forbiddenHost",
        `Host ${name} is not allowed outside production: use localhost, or list it in ALLOWED_HOSTS`,
      ),
    );
  };
}
