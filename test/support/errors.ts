import { TRPCClientError } from "@trpc/client";
import { TRPCError } from "@trpc/server";
import type { AppRouter } from "../../src/trpc/routers/_app.ts";

/** The TRPCClientError a call failed with; throws if the call succeeded or failed some other way. */
export async function errorOf(call: Promise<unknown>): Promise<TRPCClientError<AppRouter>> {
  try {
    await call;
  } catch (error) {
    if (error instanceof TRPCClientError) return error as TRPCClientError<AppRouter>;
    throw error;
  }
  throw new Error("expected the call to fail");
}

/** The tRPC error code of a call (over HTTP or through a server-side caller), or "OK" when it succeeded. */
export async function codeOf(call: Promise<unknown>): Promise<string | undefined> {
  try {
    await call;
    return "OK";
  } catch (error) {
    if (error instanceof TRPCClientError) return (error as TRPCClientError<AppRouter>).data?.code;
    if (error instanceof TRPCError) return error.code;
    throw error;
  }
}
