/**
 * pglite-socket's server internals, used by src/db/embedded-notify.ts to give LISTEN/NOTIFY per connection: its
 * query queue (every connection's messages pass through `enqueue`, which is wrapped here) and its set of
 * connection handlers. Both are public members of the instance but absent from its types. The package is pinned
 * exactly; test/unit/internals/pglite-socket.test.ts fails when they move. Retired when pglite-socket routes
 * notifications to the connections that listen, or offers a public message hook.
 */
import type { Socket } from "node:net";

export type OnData = (data: Uint8Array) => void;
export type Enqueue = (handlerId: number, message: Uint8Array, onData: OnData) => Promise<number>;

interface SocketServerInternals {
  queryQueue: { enqueue: Enqueue };
  handlers: Set<{ handlerId: number; socket: Socket | null }>;
}

/** The server's connection handlers, and a way to see every message a connection sends to the shared session. */
export function socketServerInternals(server: unknown) {
  const { queryQueue, handlers } = server as SocketServerInternals;
  return {
    handlers,
    wrapEnqueue(wrap: (enqueue: Enqueue) => Enqueue): void {
      queryQueue.enqueue = wrap(queryQueue.enqueue.bind(queryQueue));
    },
  };
}
