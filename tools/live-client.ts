/** A tRPC client as a frontend builds one for live updates: splitLink, httpSubscriptionLink and an EventSource that sends the Bearer token. */
import { createTRPCClient, httpLink, httpSubscriptionLink, splitLink, type TRPCClient } from "@trpc/client";
import { EventSource } from "eventsource";
import type { AppRouter } from "../src/trpc/routers/_app.ts";
import { transformer } from "../src/trpc/transformer.ts";

export function liveClient(trpcUrl: string, authorization: string | undefined): TRPCClient<AppRouter> {
  const headers: Record<string, string> = authorization ? { authorization } : {};
  return liveClientWith(trpcUrl, () => Promise.resolve(headers));
}

/**
 * liveClient with headers asked for on every request and (re)connect, as a frontend with a refreshing token does;
 * `onConnect` sees each stream request's headers (Last-Event-ID on the link's reconnects).
 */
export function liveClientWith(
  trpcUrl: string,
  headers: () => Promise<Record<string, string>>,
  onConnect?: (headers: Headers) => void,
): TRPCClient<AppRouter> {
  return createTRPCClient<AppRouter>({
    links: [
      splitLink({
        condition: (op) => op.type === "subscription",
        true: httpSubscriptionLink({
          url: trpcUrl,
          transformer,
          EventSource,
          eventSourceOptions: () => ({
            fetch: async (input, init) => {
              const all = new Headers(init?.headers);
              for (const [key, value] of Object.entries(await headers())) all.set(key, value);
              onConnect?.(all);
              return fetch(input, { ...init, headers: all });
            },
          }),
        }),
        false: httpLink({ url: trpcUrl, transformer, headers }),
      }),
    ],
  });
}
