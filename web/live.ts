/** Keeps the page subscribed to todo.onChange while it is signed in (README, "Live updates"). */
import type { Api, TodoChange } from "./api.ts";

export interface LiveHandlers {
  /** The stream (re)opened. Changes made while it was closed may not come as events: refetch. */
  onStarted(): void;
  onChange(change: TodoChange): void;
  /** The server refused the stream for good (UNAUTHORIZED, TOO_MANY_REQUESTS, …); it is retried later. */
  onRefused(error: unknown): void;
  /** A fresh token, once the server refused the current one: a stream ends when its token expires. */
  renew(): Promise<unknown>;
}

const FIRST_RETRY_MS = 1_000;
const MAX_RETRY_MS = 60_000;

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
  // Set after a renewal until a stream opens: a second UNAUTHORIZED means the new token is refused too.
  let renewed = false;

  const open = () => {
    subscription = api.todo.onChange.subscribe(lastEventId === undefined ? undefined : { lastEventId }, {
      onStarted() {
        retryMs = FIRST_RETRY_MS;
        renewed = false;
        handlers.onStarted();
      },
      onData({ id, data }) {
        lastEventId = id;
        handlers.onChange(data);
      },
      onError(error) {
        if (stopped) return;
        if (codeOf(error) === "UNAUTHORIZED" && !renewed) {
          renewed = true;
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
