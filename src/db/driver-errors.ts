import { Prisma } from "../generated/prisma/client.ts";

/** What the driver adapter said about a failed query, which Prisma keeps in `meta` (raw queries report P2010). */
export function driverErrorCause(error: unknown): { kind?: unknown; originalCode?: unknown } | undefined {
  if (!(error instanceof Prisma.PrismaClientKnownRequestError)) return undefined;
  return (error.meta as { driverAdapterError?: { cause?: { kind?: unknown; originalCode?: unknown } } } | undefined)
    ?.driverAdapterError?.cause;
}
