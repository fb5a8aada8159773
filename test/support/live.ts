/** Subscribing as a frontend does (tools/live-client.ts), and waiting for what arrives. */
import type { TRPCClient } from "@trpc/client";
import type { TodoChange } from "../../src/live/events.ts";
import type { AppRouter } from "../../src/trpc/routers/_app.ts";
import { liveClient, liveClientWith } from "../../tools/live-client.ts";

export { liveClient, liveClientWith };

export interface Received {
  id: string;
  data: TodoChange;
}

/** liveClient for a user of a test server (test/support/server.ts). */
export async function liveClientOf(server: { trpcUrl: string; token(user: string): Promise<string> }, user: string) {
  return liveClient(server.trpcUrl, `Bearer ${await server.token(user)}`);
}

export interface Subscription {
  events: Received[];
  errors: unknown[];
  /** Resolves once the stream is open (tRPC's `started`). */
  started: Promise<void>;
  /** How many times a stream opened (the link's reconnects count). */
  readonly starts: number;
  /** Resolves when `count` events (in all) have arrived; rejects after `timeoutMs`. */
  waitFor(count: number, timeoutMs?: number): Promise<Received[]>;
  /** Resolves at the first error (rejects after `timeoutMs`). */
  waitForError(timeoutMs?: number): Promise<unknown>;
  unsubscribe(): void;
}

export function subscribe(client: TRPCClient<AppRouter>, lastEventId?: string | null): Subscription {
  const events: Received[] = [];
  const errors: unknown[] = [];
  const listeners = new Set<() => void>();
  const notify = () => listeners.forEach((l) => l());
  let onStarted!: () => void;
  const started = new Promise<void>((resolve) => (onStarted = resolve));
  let starts = 0;
  const sub = client.todo.onChange.subscribe(lastEventId === undefined ? undefined : { lastEventId }, {
    onStarted() {
      starts++;
      onStarted();
    },
    onData(event) {
      events.push(event);
      notify();
    },
    onError(error) {
      errors.push(error);
      notify();
    },
  });
  const until = <T>(ready: () => T | undefined, timeoutMs: number, what: string) =>
    new Promise<T>((resolve, reject) => {
      const check = () => {
        const value = ready();
        if (value === undefined) return;
        listeners.delete(check);
        clearTimeout(timer);
        resolve(value);
      };
      const timer = setTimeout(() => {
        listeners.delete(check);
        reject(
          new Error(
            `timed out waiting for ${what}; got ${JSON.stringify(events.map((e) => e.data.type))}, errors ${errors.length}`,
          ),
        );
      }, timeoutMs);
      listeners.add(check);
      check();
    });
  return {
    events,
    errors,
    started,
    get starts() {
      return starts;
    },
    waitFor: (count, timeoutMs = 5_000) =>
      until(() => (events.length >= count ? events.slice() : undefined), timeoutMs, `${count} events`),
    waitForError: (timeoutMs = 5_000) => until(() => errors[0], timeoutMs, "an error"),
    unsubscribe: () => sub.unsubscribe(),
  };
}
