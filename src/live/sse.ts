/** The SSE settings of todo.onChange streams, which tRPC reads from the root router's config. */
export interface SseOptions {
  ping: { enabled: boolean; intervalMs: number };
  client: { reconnectAfterInactivityMs: number };
}

/**
 * A comment on idle streams every `pingMs` (SSE_PING_MS), so proxies keep them open; a client that hears nothing
 * for a little over two intervals reconnects.
 */
export function sseOptions(pingMs: number): SseOptions {
  return { ping: { enabled: true, intervalMs: pingMs }, client: { reconnectAfterInactivityMs: pingMs * 2 + 5_000 } };
}
