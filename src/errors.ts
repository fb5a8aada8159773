import { TRPCError } from "@trpc/server";
import { Prisma } from "./generated/prisma/client.ts";

// Prisma codes that mean "the database is not there right now": the client may retry.
const UNAVAILABLE = new Set(["P1001", "P1002", "P1008", "P1017", "P2024", "P2037"]);

/** Maps database errors to the tRPC code a client can act on; undefined leaves it an internal error. */
export function toTRPCError(error: unknown): TRPCError | undefined {
  if (error instanceof TRPCError) return error;
  if (error instanceof Prisma.PrismaClientKnownRequestError) {
    if (error.code === "P2025") return new TRPCError({ code: "NOT_FOUND", message: "Not found", cause: error });
    if (error.code === "P2002") return new TRPCError({ code: "CONFLICT", message: "Already exists", cause: error });
    if (UNAVAILABLE.has(error.code)) return unavailable(error);
  }
  if (error instanceof Prisma.PrismaClientInitializationError || isConnectionFailure(error)) return unavailable(error);
  return undefined;
}

function unavailable(cause: unknown): TRPCError {
  return new TRPCError({ code: "SERVICE_UNAVAILABLE", message: "Database unavailable, retry later", cause });
}

// Driver-level failures surface with varying classes; their messages and codes are stable.
function isConnectionFailure(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === "string" && ["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EPIPE", "57P01", "57P03"].includes(code)) {
    return true;
  }
  return /connection terminated|timeout exceeded when trying to connect|ECONNREFUSED|connection (was )?closed|Can't reach database/i.test(
    error.message,
  );
}
