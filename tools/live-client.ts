/** A tRPC client as a frontend builds one for live updates: splitLink, httpSubscriptionLink and an EventSource that sends the Bearer token. */
import { createTRPCClient, httpLink, httpSubscriptionLink, splitLink, type TRPCClient } from "@trpc/client";
import { EventSource } from "eventsource";
import type { AppRouter } from "../src/trpc/routers/_app.ts";
import { transformer } from "../src/trpc/transformer.ts";

export function liveClient(trpcUrl: string, authorization: string | undefined): TRPCClient<AppRouter> {
  const headers = (): Record<string, string> => (authorization ? { authorization } : {});
  return createTRPCClient<AppRouter>({
    links: [
      splitLink({
        condition: (op) => op.type === "subscription",
        true: httpSubscriptionLink({
          url: trpcUrl,
          transformer,
          EventSource,
          eventSourceOptions: () => ({
            fetch: (input, init) => fetch(input, { ...init, headers: { ...init?.headers, ...headers() } }),
          }),
        }),
        false: httpLink({ url: trpcUrl, transformer, headers }),
      }),
    ],
  });
}
