/**
 * The one place a pg client's `query` is wrapped (src/db/utc-reads.ts, src/db/statement-timeout.ts). pg has no
 * per-statement hook, and both Prisma adapters build their pool themselves (the Neon driver's Pool is pg's, over a
 * WebSocket), so a pool's "connect" event — before the client's first query — is the one place both pass. The
 * wrappers rely on pg's query taking `types` in its config and on `processID`/`secretKey` of a connected client.
 * pg is pinned exactly; test/unit/internals/pg.test.ts fails when that changes. Retired when pg (and the
 * adapters) take a per-query hook or a custom Client class for the pools they create.
 */
import type { EventEmitter } from "node:events";

export type QueryFn = (...args: unknown[]) => unknown;
export interface PgClient extends EventEmitter {
  query: QueryFn;
  processID?: number | null;
  secretKey?: number | null;
}

/** Every client the pool connects runs its queries through `wrap(query, client)`. */
export function wrapEveryQuery(pool: EventEmitter, wrap: (query: QueryFn, client: PgClient) => QueryFn): void {
  pool.on("connect", (client: PgClient) => {
    client.query = wrap(client.query.bind(client), client);
  });
}
