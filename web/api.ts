/** The typed client: the server's AppRouter type and its transformer, nothing else of the server. */
import {
  createTRPCClient,
  httpBatchLink,
  httpLink,
  httpSubscriptionLink,
  splitLink,
  TRPCClientError,
  type Operation,
} from "@trpc/client";
import type { inferRouterOutputs } from "@trpc/server";
import { EventSource } from "eventsource";
import type { AppRouter } from "../src/trpc/routers/_app.ts";
import { transformer } from "../src/trpc/transformer.ts";

export type Todo = inferRouterOutputs<AppRouter>["todo"]["byId"];
export type Api = ReturnType<typeof createApi>;
export type { TodoChange } from "./live.ts";

/** A call's Idempotency-Key, given as `{ context: { idempotencyKey } }`; its retries reuse it. */
const keyOf = (op: Operation) => (op.context as { idempotencyKey?: string }).idempotencyKey;

/**
 * Calls on the same tick share one HTTP request; each carries the session's current token. A call with an
 * Idempotency-Key goes alone (a key covers one mutation, never a batch). Subscriptions are server-sent events,
 * through an EventSource that can send the Authorization header (the browser's own cannot).
 */
export function createApi(token: () => Promise<string>) {
  const url = new URL("trpc", document.baseURI).href; // beside the page, wherever it is mounted
  const authorization = async () => `Bearer ${await token()}`;
  return createTRPCClient<AppRouter>({
    links: [
      splitLink({
        condition: (op) => op.type === "subscription",
        true: httpSubscriptionLink({
          url,
          transformer,
          EventSource,
          // Asked on every (re)connect, so a refreshed token is used.
          eventSourceOptions: () => ({
            fetch: async (input, init) =>
              fetch(input, { ...init, headers: { ...init?.headers, authorization: await authorization() } }),
          }),
        }),
        false: splitLink({
          condition: (op) => keyOf(op) !== undefined,
          true: httpLink({
            url,
            transformer,
            headers: async ({ op }) => ({ authorization: await authorization(), "idempotency-key": keyOf(op)! }),
          }),
          false: httpBatchLink({ url, transformer, headers: async () => ({ authorization: await authorization() }) }),
        }),
      }),
    ],
  });
}

/** A fresh Idempotency-Key. randomUUID exists only in secure contexts; the page may be served over plain HTTP. */
export function newKey(): string {
  if (typeof crypto.randomUUID === "function") return crypto.randomUUID();
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

const RETRIES = 3;
const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Runs a keyed call and retries it with the same key while its answer may have been lost or the key is still
 * held: no answer at all, SERVICE_UNAVAILABLE, or CONFLICT (the first attempt still running). The server then
 * replays the result of the attempt that went through instead of writing again.
 */
export async function withRetries<T>(call: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      const code = codeOf(error);
      const retryable =
        (error instanceof TRPCClientError && !error.data) || code === "SERVICE_UNAVAILABLE" || code === "CONFLICT";
      if (!retryable || attempt > RETRIES) throw error;
      await wait(500 * attempt);
    }
  }
}

/** The tRPC code of an API error (CONFLICT, NOT_FOUND, …), or undefined for anything else. */
export function codeOf(error: unknown): string | undefined {
  return error instanceof TRPCClientError ? (error as TRPCClientError<AppRouter>).data?.code : undefined;
}

/** One line a person can act on: the server's field errors for BAD_REQUEST, its message otherwise, and the code. */
export function describeError(error: unknown): string {
  if (!(error instanceof TRPCClientError)) return error instanceof Error ? error.message : String(error);
  const { data } = error as TRPCClientError<AppRouter>;
  if (!data) return `The API could not be reached: ${error.message}`;
  const fields = Object.values(data.zodError?.fieldErrors ?? {}).flat();
  return `${fields.length ? fields.join("; ") : error.message} (${data.code})`;
}
