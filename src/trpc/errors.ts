import { isDriverAdapterError } from "@prisma/driver-adapter-utils";
import { TRPCError } from "@trpc/server";
import { driverErrorCause } from "../db/driver-errors.ts";
import { AppError } from "../errors.ts";
import { Prisma } from "../generated/prisma/client.ts";

// Prisma codes that mean "the database is not there right now": the client may retry.
const UNAVAILABLE = new Set(["P1001", "P1002", "P1008", "P1017", "P2024", "P2037"]);
// SQLSTATEs of a server that went away or is not accepting connections yet: class 08 connection
// exceptions (not 08P01, a protocol violation), 57P01–57P03 (admin shutdown, crash shutdown, starting up), and
// 57014, a statement cancelled by DB_STATEMENT_TIMEOUT_MS (src/db/statement-timeout.ts).
const UNAVAILABLE_SQLSTATE = /^(080\d\d|57P0[1-3]|57014)$/;
// Driver adapter error kinds with the same meaning (raw queries report them under P2010).
const UNAVAILABLE_KINDS = new Set(["DatabaseNotReachable", "ConnectionClosed", "SocketTimeout", "TooManyConnections"]);

/**
 * The tRPC error for an AppError (its code from the table in src/errors.ts; the AppError stays the cause, for
 * Retry-After) or for a database error a client can act on; undefined leaves it an internal error.
 */
export function toTRPCError(error: AppError | TRPCError): TRPCError;
export function toTRPCError(error: unknown): TRPCError | undefined;
export function toTRPCError(error: unknown): TRPCError | undefined {
  if (error instanceof TRPCError) return error;
  const app = error instanceof AppError ? error : databaseError(error);
  return app && new TRPCError({ code: app.rule.code, message: app.message, cause: app });
}

function databaseError(error: unknown): AppError | undefined {
  if (error instanceof Prisma.PrismaClientKnownRequestError) {
    if (error.code === "P2025") return new AppError("notFound", "Not found", { cause: error });
    if (error.code === "P2002") return new AppError("alreadyExists", undefined, { cause: error });
    if (UNAVAILABLE.has(error.code) || isUnavailableCause(error)) return unavailable(error);
  }
  // An interactive transaction's COMMIT or ROLLBACK fails with the adapter's own error, unwrapped.
  if (isDriverAdapterError(error) && UNAVAILABLE_KINDS.has(error.cause.kind)) return unavailable(error);
  if (error instanceof Prisma.PrismaClientInitializationError || isConnectionFailure(error)) return unavailable(error);
  return undefined;
}

// Prisma reports PostgreSQL errors it has no code for (a terminated session is one), and every
// failure of a raw query, under a generic code; the driver adapter's view is kept in meta.
function isUnavailableCause(error: Prisma.PrismaClientKnownRequestError): boolean {
  const cause = driverErrorCause(error);
  if (!cause) return false;
  if (typeof cause.kind === "string" && UNAVAILABLE_KINDS.has(cause.kind)) return true;
  return typeof cause.originalCode === "string" && UNAVAILABLE_SQLSTATE.test(cause.originalCode);
}

const unavailable = (cause: unknown) => new AppError("databaseUnavailable", undefined, { cause });

// Driver-level failures surface with varying classes; their messages and codes are stable.
function isConnectionFailure(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (
    typeof code === "string" &&
    (["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE"].includes(code) || UNAVAILABLE_SQLSTATE.test(code))
  ) {
    return true;
  }
  return /connection terminated|timeout exceeded when trying to connect|ECONNREFUSED|connection (was )?closed|Can't reach database/i.test(
    error.message,
  );
}
