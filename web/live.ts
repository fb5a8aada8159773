/** Keeps the page subscribed to todo.onChange while it is signed in (docs/live-updates.md). */
import type { TRPCClient } from "@trpc/client";
import type { inferRouterOutputs } from "@trpc/server";
import type { AppRouter } from "../src/trpc/routers/_app.ts";

/** One `todo.onChange` event's data: created, updated, deleted or changed. */
export type TodoChange =
  inferRouterOutputs<AppRouter>["todo"]["onChange"] extends AsyncIterable<{ data: infer Change }> ? Change : never;
/** What this needs of the page's client (web/api.ts); no DOM here, so Node tests drive it with their own client. */
type Api = Pick<TRPCClient<AppRouter>, "todo">;

export interface LiveHandlers {
  /**
   * The stream (re)opened. `resumed`: it asked for the changes after the last event seen, so what happened while
   * it was closed comes as events (or as one `changed` when that position is too old); otherwise refetch.
   */
  onStarted(resumed: boolean): void;
  /** `id`: the change's position, also a `todo.sync` cursor. */
  onChange(change: TodoChange, id: string): void;
  /** The server refused the stream for good (UNAUTHORIZED, TOO_MANY_REQUESTS, …); it is retried later. */
  onRefused(error: unknown): void;
  /** A fresh token, once the server refused the current one: a stream ends when its token expires. */
  renew(): Promise<unknown>;
}

const FIRST_RETRY_MS = 1_000;
const MAX_RETRY_MS = 60_000;
/** A token renewed this recently and refused again is refused for good (no loop of renewals). */
const RENEW_GAP_MS = 30_000;

const codeOf = (error: unknown) => (error as { data?: { code?: string } } | null)?.data?.code;

/**
 * Subscribes and stays subscribed. The link itself reconnects after a dropped connection or a retryable error
 * (SERVICE_UNAVAILABLE from an instance shutting down), resending the last event id; the server also ends a stream
 * when its token expires, and the reconnect asks the session for its token again. An error the link gives up on
 * ends the subscription: UNAUTHORIZED is answered by renewing the token once and resubscribing at once; anything
 * else by a new subscription after a growing pause. Every new subscription resumes after the last event seen.
 * Returns the function that stops it.
 */
export function watchChanges(api: Api, handlers: LiveHandlers): () => void {
  let stopped = false;
  let retryMs = FIRST_RETRY_MS;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let subscription: { unsubscribe(): void } | undefined;
  let lastEventId: string | undefined;
  let renewedAt = -Infinity;

  const open = () => {
    subscription = api.todo.onChange.subscribe(lastEventId === undefined ? undefined : { lastEventId }, {
      onStarted() {
        retryMs = FIRST_RETRY_MS;
        // The link's own reconnects resend the last id it received, which is this one.
        handlers.onStarted(lastEventId !== undefined);
      },
      onData({ id, data }) {
        lastEventId = id;
        handlers.onChange(data, id);
      },
      onError(error) {
        if (stopped) return;
        if (codeOf(error) === "UNAUTHORIZED" && Date.now() - renewedAt > RENEW_GAP_MS) {
          renewedAt = Date.now();
          handlers.renew().then(
            () => stopped || open(),
            () => stopped || handlers.onRefused(error),
          );
          return;
        }
        handlers.onRefused(error);
        // onRefused may have signed out, which stops this.
        if (stopped) return;
        timer = setTimeout(open, retryMs);
        retryMs = Math.min(retryMs * 2, MAX_RETRY_MS);
      },
    });
  };
  open();

  return () => {
    stopped = true;
    clearTimeout(timer);
    subscription?.unsubscribe();
  };
}
