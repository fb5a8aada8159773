/** Keeps the page subscribed to todo.onChange while it is signed in (README, "Live updates"). */
import type { Api, TodoChange } from "./api.ts";

export interface LiveHandlers {
  /** The stream (re)opened. Changes made while it was closed may not come as events: refetch. */
  onStarted(): void;
  onChange(change: TodoChange): void;
  /** The server refused the stream for good (UNAUTHORIZED, TOO_MANY_REQUESTS, …); it is retried later. */
  onRefused(error: unknown): void;
}

const FIRST_RETRY_MS = 1_000;
const MAX_RETRY_MS = 60_000;

/**
 * Subscribes and stays subscribed. The link itself reconnects after a dropped connection or a retryable error
 * (SERVICE_UNAVAILABLE from an instance shutting down), resending the last event id; an error it gives up on ends
 * the subscription, so this opens a new one after a growing pause. Returns the function that stops it.
 */
export function watchChanges(api: Api, handlers: LiveHandlers): () => void {
  let stopped = false;
  let retryMs = FIRST_RETRY_MS;
  let timer: ReturnType<typeof setTimeout> | undefined;
  let subscription: { unsubscribe(): void } | undefined;

  const open = () => {
    subscription = api.todo.onChange.subscribe(undefined, {
      onStarted() {
        retryMs = FIRST_RETRY_MS;
        handlers.onStarted();
      },
      onData: ({ data }) => handlers.onChange(data),
      onError(error) {
        if (stopped) return;
        handlers.onRefused(error);
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
