import { TRPCError } from "@trpc/server";
import { getHTTPStatusCodeFromError } from "@trpc/server/http";
import { TRPC_ERROR_CODES_BY_KEY } from "@trpc/server/rpc";
import { describe, expect, test } from "vitest";
import { AppError, ERRORS, errorHeaders, isJsonContentType, type ErrorKind } from "../../src/errors.ts";
import { responseMeta } from "../../src/http/errors.ts";
import { toTRPCError } from "../../src/trpc/errors.ts";

const kinds = Object.keys(ERRORS) as ErrorKind[];
// The kinds whose errors say how long to wait; any other must never send Retry-After.
const WITH_RETRY_AFTER = ["keyBusy", "rateLimited", "userBusy", "authUnavailable"];

describe("the error table", () => {
  test.each(kinds)("%s: a tRPC code whose HTTP status is the table's", (kind) => {
    const { code, status } = ERRORS[kind];
    expect(Object.keys(TRPC_ERROR_CODES_BY_KEY)).toContain(code);
    const error = toTRPCError(new AppError(kind, "message"));
    expect(error.code).toBe(code);
    expect(error.message).toBe("message");
    expect(getHTTPStatusCodeFromError(error)).toBe(status);
  });

  test.each(kinds)("%s: Retry-After exactly when the kind carries it", (kind) => {
    const error = new AppError(kind, undefined, { retryAfterSeconds: 7 });
    const expected = WITH_RETRY_AFTER.includes(kind) ? { "retry-after": "7" } : {};
    expect(errorHeaders(error)).toEqual(expected);
    // The same header on tRPC and REST answers (responseMeta), from the error's cause.
    expect(responseMeta({ errors: [toTRPCError(error)] })).toEqual(
      WITH_RETRY_AFTER.includes(kind) ? { headers: expected } : {},
    );
    // No seconds, no header (the per-IP limiter sets its own).
    expect(errorHeaders(new AppError(kind))).toEqual({});
  });

  test("an error without a message takes the table's, or its kind", () => {
    expect(new AppError("databaseUnavailable").message).toBe("Database unavailable, retry later");
    expect(new AppError("notFound").message).toBe("notFound");
  });

  test("toTRPCError keeps tRPC's own errors and leaves unknown ones internal", () => {
    const own = new TRPCError({ code: "NOT_FOUND" });
    expect(toTRPCError(own)).toBe(own);
    expect(toTRPCError(new Error("boom"))).toBeUndefined();
    expect(toTRPCError(new AppError("keyBusy")).cause).toBeInstanceOf(AppError);
  });
});

describe("isJsonContentType: one rule for /trpc, the fast path and /api", () => {
  test.each([
    "application/json",
    "Application/JSON",
    "APPLICATION/JSON",
    " application/json ",
    "application/json; charset=utf-8",
    "application/JSON;charset=UTF-8",
    "application/json ; foo=bar",
  ])("%j is JSON", (header) => expect(isJsonContentType(header)).toBe(true));

  test.each([
    undefined,
    "",
    " ",
    ";",
    "application/json-patch+json",
    "application/jsonx",
    "application/merge-patch+json",
    "text/json",
    "text/plain",
    "multipart/form-data",
    "application/octet-stream",
    "application/x-www-form-urlencoded",
    "application /json",
  ])("%j is not", (header) => expect(isJsonContentType(header)).toBe(false));
});
