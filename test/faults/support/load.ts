/** Clients for the fault tests: real tRPC over HTTP, every call's outcome and duration recorded. */
import { createTRPCClient, httpLink, TRPCClientError, type TRPCClient } from "@trpc/client";
import { signToken } from "../../../src/auth/tokens.ts";
import type { AppRouter } from "../../../src/trpc/routers/_app.ts";
import { transformer } from "../../../src/trpc/transformer.ts";
import { FAULT_SECRET } from "./server-process.ts";

export type Client = TRPCClient<AppRouter>;

/** A client for one user; a call still unanswered after `hangMs` is aborted and counts as a hang. */
export async function userClient(trpcUrl: string, userId: string, hangMs = 30_000): Promise<Client> {
  const token = await signToken(FAULT_SECRET, { sub: userId });
  return createTRPCClient<AppRouter>({
    links: [
      httpLink({
        url: trpcUrl,
        transformer,
        headers: { authorization: `Bearer ${token}` },
        fetch: (url, init) => fetch(url, { ...(init as RequestInit), signal: AbortSignal.timeout(hangMs) }),
      }),
    ],
  });
}

export interface Outcome {
  /** "OK", a tRPC error code, "HANG" (aborted after hangMs) or "NETWORK" (no HTTP answer). */
  code: string;
  startedAt: number;
  endedAt: number;
  /** Whether the HTTP status was 500 (an unmapped error). */
  status?: number;
}

/** Runs a call and records how it ended; never throws. */
export async function measure<T>(call: () => Promise<T>): Promise<{ outcome: Outcome; value?: T }> {
  const startedAt = Date.now();
  try {
    const value = await call();
    return { outcome: { code: "OK", startedAt, endedAt: Date.now() }, value };
  } catch (error) {
    const endedAt = Date.now();
    if (error instanceof TRPCClientError) {
      const data = (error as TRPCClientError<AppRouter>).data;
      if (data?.code) return { outcome: { code: data.code, status: data.httpStatus, startedAt, endedAt } };
      const cause = (error as { cause?: { name?: string } }).cause;
      const hang = cause?.name === "TimeoutError" || cause?.name === "AbortError";
      return { outcome: { code: hang ? "HANG" : "NETWORK", startedAt, endedAt } };
    }
    throw error;
  }
}

export const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls until `check` returns a value (not undefined) or the time is up. */
export async function until<T>(
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs: number,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await sleep(everyMs);
  }
}

export function countBy(outcomes: Outcome[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const { code } of outcomes) counts[code] = (counts[code] ?? 0) + 1;
  return counts;
}
