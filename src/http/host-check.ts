/**
 * The DNS-rebinding defence of development servers (Vite's server.allowedHosts): a page on evil.example can point
 * its own name at 127.0.0.1 and then talk to this server as same-origin, but its requests still carry
 * `Host: evil.example`. Outside production only a loopback name or an ALLOWED_HOSTS entry is answered.
 */
import type { RequestHandler } from "express";
import { isLoopbackHost } from "../config.ts";
import { AppError } from "../errors.ts";
import { sendAppError } from "./errors.ts";

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
  return allowed.some((entry) => entry === name || (entry.startsWith(".") && (name === entry.slice(1) || name.endsWith(entry))));
}

/** 403 FORBIDDEN for any other Host; mounted outside production only. */
export function hostCheck(allowed: readonly string[]): RequestHandler {
  return (req, res, next) => {
    if (isAllowedHost(req.headers.host, allowed)) return next();
    const name = req.headers.host === undefined ? "(none)" : JSON.stringify(req.headers.host);
    sendAppError(req, res, new AppError("forbiddenHost", `Host ${name} is not allowed outside production: use localhost, or list it in ALLOWED_HOSTS`));
  };
}
