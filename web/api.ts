/** The typed client: the server's AppRouter type and its transformer, nothing else of the server. */
import { createTRPCClient, httpBatchLink, TRPCClientError } from "@trpc/client";
import type { inferRouterOutputs } from "@trpc/server";
import type { AppRouter } from "../src/trpc/routers/_app.ts";
import { transformer } from "../src/trpc/transformer.ts";

export type Todo = inferRouterOutputs<AppRouter>["todo"]["byId"];
export type Stats = inferRouterOutputs<AppRouter>["todo"]["stats"];
export type Api = ReturnType<typeof createApi>;

/** Calls on the same tick share one HTTP request; each carries the session's current token. */
export function createApi(token: () => Promise<string>) {
  return createTRPCClient<AppRouter>({
    links: [
      httpBatchLink({
        url: new URL("trpc", document.baseURI).href, // beside the page, wherever it is mounted
        transformer,
        headers: async () => ({ authorization: `Bearer ${await token()}` }),
      }),
    ],
  });
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
