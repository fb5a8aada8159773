/**
 * The errors a client can act on, and the one table that says how each is answered: its tRPC code, its HTTP
 * status and whether it carries Retry-After. Below tRPC and HTTP: code anywhere throws an AppError; tRPC
 * (src/trpc/errors.ts), REST and the plain error bodies (src/http/errors.ts) answer it from here.
 */
import type { TRPC_ERROR_CODE_KEY } from "@trpc/server";

interface ErrorRule {
  code: TRPC_ERROR_CODE_KEY;
  status: number;
  /** The error's retryAfterSeconds becomes Retry-After. */
  retryAfter?: true;
  /** The message when the thrower gives none. */
  message?: string;
}

export const ERRORS = {
  notFound: { code: "NOT_FOUND", status: 404 },
  staleVersion: { code: "CONFLICT", status: 409 },
  alreadyExists: { code: "CONFLICT", status: 409, message: "Already exists" },
  keyBusy: {
    code: "CONFLICT",
    status: 409,
    retryAfter: true,
    message: "A request with this Idempotency-Key is still running: retry later",
  },
  keyMismatched: {
    code: "UNPROCESSABLE_CONTENT",
    status: 422,
    message: "This Idempotency-Key was used for another procedure or input: send a new key for a new request",
  },
  rateLimited: { code: "TOO_MANY_REQUESTS", status: 429, retryAfter: true },
  userBusy: {
    code: "TOO_MANY_REQUESTS",
    status: 429,
    retryAfter: true,
    message: "Too many calls of this user at once, retry in 1 s",
  },
  authMissing: { code: "UNAUTHORIZED", status: 401, message: "Missing Bearer token" },
  authInvalid: { code: "UNAUTHORIZED", status: 401, message: "Invalid or expired token" },
  // Never 401, or clients would log their users out.
  authUnavailable: {
    code: "SERVICE_UNAVAILABLE",
    status: 503,
    retryAfter: true,
    message: "Authentication unavailable, retry later",
  },
  databaseUnavailable: { code: "SERVICE_UNAVAILABLE", status: 503, message: "Database unavailable, retry later" },
  timedOut: { code: "SERVICE_UNAVAILABLE", status: 503 },
  requestAbandoned: { code: "CLIENT_CLOSED_REQUEST", status: 499 },
  // tRPC's own code for SSE subscriptions that are turned off. Not SERVICE_UNAVAILABLE (or NOT_IMPLEMENTED, the
  // same JSON-RPC code as INTERNAL_SERVER_ERROR): httpSubscriptionLink retries those for ever.
  liveUpdatesOff: {
    code: "METHOD_NOT_SUPPORTED",
    status: 405,
    message: "Live updates are turned off on this server (SSE_MAX_STREAMS=0)",
  },
  liveUpdatesUnavailable: { code: "SERVICE_UNAVAILABLE", status: 503 },
  shuttingDown: { code: "SERVICE_UNAVAILABLE", status: 503, message: "This instance is shutting down: reconnect" },
  streamLimit: { code: "TOO_MANY_REQUESTS", status: 429 },
  badRequest: { code: "BAD_REQUEST", status: 400 },
  // A sync cursor older than CHANGE_RETENTION_MS (or one this database never handed out): sync from scratch.
  cursorExpired: {
    code: "PRECONDITION_FAILED",
    status: 412,
    message: "This cursor is older than the change retention: sync again without `after`",
  },
  invalidJson: { code: "PARSE_ERROR", status: 400, message: "Body is not valid JSON" },
  payloadTooLarge: { code: "PAYLOAD_TOO_LARGE", status: 413, message: "Request body too large" },
  unsupportedMediaType: { code: "UNSUPPORTED_MEDIA_TYPE", status: 415 },
  forbiddenHost: { code: "FORBIDDEN", status: 403 },
  unauthorized: { code: "UNAUTHORIZED", status: 401, message: "Unauthorized" },
  internal: { code: "INTERNAL_SERVER_ERROR", status: 500, message: "Internal server error" },
} as const satisfies Record<string, ErrorRule>;

export type ErrorKind = keyof typeof ERRORS;

export class AppError extends Error {
  override name = "AppError";
  readonly retryAfterSeconds: number | undefined;

  constructor(
    readonly kind: ErrorKind,
    message?: string,
    options: { cause?: unknown; retryAfterSeconds?: number } = {},
  ) {
    const rule: ErrorRule = ERRORS[kind];
    super(message ?? rule.message ?? kind, options.cause === undefined ? undefined : { cause: options.cause });
    this.retryAfterSeconds = options.retryAfterSeconds;
  }

  get rule(): ErrorRule {
    return ERRORS[this.kind];
  }
}

/** The response headers the error's kind calls for: Retry-After when it carries one and the error says how long. */
export function errorHeaders(error: AppError): Record<string, string> {
  const seconds = error.retryAfterSeconds;
  return error.rule.retryAfter && seconds !== undefined ? { "retry-after": String(seconds) } : {};
}

/**
 * The one rule for JSON bodies, on every surface: the media type is application/json in any case, with any
 * parameters (charset) and surrounding whitespace. application/json-patch+json and the like are not JSON here.
 */
export function isJsonContentType(header: string | undefined): boolean {
  if (header === undefined) return false;
  const semicolon = header.indexOf(";");
  return (semicolon === -1 ? header : header.slice(0, semicolon)).trim().toLowerCase() === "application/json";
}
