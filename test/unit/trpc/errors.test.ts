import { DriverAdapterError } from "@prisma/driver-adapter-utils";
import { TRPCError } from "@trpc/server";
import { expect, test } from "vitest";
import { toTRPCError } from "../../../src/trpc/errors.ts";
import { Prisma } from "../../../src/generated/prisma/client.ts";

// The shape Prisma 7 gives a PostgreSQL error it has no code of its own for (seen when the server shuts down).
function driverError(sqlState: string) {
  return new Prisma.PrismaClientKnownRequestError("Database error", {
    code: "P2039",
    clientVersion: Prisma.prismaVersion.client,
    meta: {
      driverAdapterError: {
        name: "DriverAdapterError",
        cause: { kind: "postgres", originalCode: sqlState, code: sqlState },
      },
    },
  });
}

test.each(["57P01", "57P02", "57P03", "08006"])(
  "SQLSTATE %s (server gone or not ready) is SERVICE_UNAVAILABLE",
  (state) => {
    expect(toTRPCError(driverError(state))?.code).toBe("SERVICE_UNAVAILABLE");
  },
);

test.each(["ConnectionClosed", "DatabaseNotReachable", "SocketTimeout"])(
  "a raw query failing with %s is SERVICE_UNAVAILABLE",
  (kind) => {
    const error = new Prisma.PrismaClientKnownRequestError("Raw query failed", {
      code: "P2010",
      clientVersion: Prisma.prismaVersion.client,
      meta: { driverAdapterError: { name: "DriverAdapterError", cause: { kind } } },
    });
    expect(toTRPCError(error)?.code).toBe("SERVICE_UNAVAILABLE");
  },
);

test("a transaction's COMMIT on a closed connection (the adapter's own error, unwrapped) is SERVICE_UNAVAILABLE", () => {
  expect(toTRPCError(new DriverAdapterError({ kind: "ConnectionClosed" }))?.code).toBe("SERVICE_UNAVAILABLE");
  expect(toTRPCError(new DriverAdapterError({ kind: "GenericJs", id: 1 }))).toBeUndefined();
});

test("other driver errors stay internal", () => {
  expect(toTRPCError(driverError("42601"))).toBeUndefined();
  expect(toTRPCError(driverError("08P01"))).toBeUndefined(); // protocol violation: a bug, not an outage
});

test("Prisma's own unavailable codes and raw driver errors are SERVICE_UNAVAILABLE", () => {
  const unreachable = new Prisma.PrismaClientKnownRequestError("Can't reach database server", {
    code: "P1001",
    clientVersion: "7",
  });
  expect(toTRPCError(unreachable)?.code).toBe("SERVICE_UNAVAILABLE");
  expect(toTRPCError(new Error("Connection terminated unexpectedly"))?.code).toBe("SERVICE_UNAVAILABLE");
  expect(toTRPCError(Object.assign(new Error("terminating connection"), { code: "57P01" }))?.code).toBe(
    "SERVICE_UNAVAILABLE",
  );
  expect(toTRPCError(new TRPCError({ code: "NOT_FOUND" }))?.code).toBe("NOT_FOUND");
});
