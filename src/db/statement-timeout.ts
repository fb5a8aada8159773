/**
 * DB_STATEMENT_TIMEOUT_MS enforced by PostgreSQL, through a transaction-mode pooler too: a pooler refuses the
 * `statement_timeout` startup option, and a session `SET` would leak to its other clients. Instead every query a
 * pool client runs gets a timer; on expiry the protocol's CancelRequest for that backend goes out on a fresh
 * connection (PgBouncer forwards it to the server its client is on) and PostgreSQL fails the statement with
 * SQLSTATE 57014, which src/trpc/errors.ts answers with 503. No extra statement, no extra round trip.
 *
 * Covers both drivers (the Neon driver is a fork of pg: same Client, Connection and pool events) and interactive
 * transactions, whose statements run on a checked-out client of the same pool.
 */
import type { EventEmitter } from "node:events";
import { wrapEveryQuery, type QueryFn } from "../internals/pg.ts";

interface CancelConnection extends EventEmitter {
  connect(port: number | string, host?: string): void;
  cancel(processID: number, secretKey: number): void;
  stream?: { destroy(): void };
}

interface PoolClient extends EventEmitter {
  query(...args: unknown[]): unknown;
  processID: number | null;
  secretKey: number | null;
}

/** What pg.Pool and the Neon driver's Pool both have. */
export interface CancellablePool extends EventEmitter {
  Client: new (config: unknown) => { host: string; port: number; connection: CancelConnection };
  options: unknown;
}

interface Call {
  timer?: NodeJS.Timeout;
  /** Settles when the CancelRequest has been delivered (the server closed its connection) or given up. */
  cancelled?: Promise<void>;
}

export interface StatementTimeoutOptions {
  timeoutMs: number;
  /** How long the cancel connection may take; it is given up after that (the statement then runs on). */
  connectTimeoutMs: number;
  onCancelError?: (error: Error) => void;
}

/** Makes every client of the pool cancel its statements after `timeoutMs`; 0 leaves the pool as it is. */
export function withStatementTimeout(pool: CancellablePool, options: StatementTimeoutOptions): void {
  if (options.timeoutMs <= 0) return;
  wrapEveryQuery(pool, (query, client) =>
    limitQueries(query, options.timeoutMs, () => sendCancel(pool, client as PoolClient, options)),
  );
}

function limitQueries(query: QueryFn, timeoutMs: number, cancel: () => Promise<void>): QueryFn {
  // The client runs its queries one at a time in this order: the first unfinished one is the one running.
  const pending: Call[] = [];
  const startFirst = () => {
    const call = pending[0];
    if (!call || call.timer) return;
    call.timer = setTimeout(() => {
      // Only a query still running is cancelled: a finished one has left `pending`.
      if (pending[0] === call) call.cancelled = cancel();
    }, timeoutMs);
  };
  const finish = async (call: Call) => {
    clearTimeout(call.timer);
    pending.splice(pending.indexOf(call), 1);
    // A cancel on its way must land while this statement runs or on an idle backend, never on the next statement:
    // its result (and so the client's release to the pool) waits until the cancel has been delivered.
    if (call.cancelled) await call.cancelled;
    startFirst();
  };

  return (...args: unknown[]) => {
    // Submittables (cursors, Query objects) drive themselves; the adapters never send them.
    if (typeof (args[0] as { submit?: unknown } | null)?.submit === "function") return query(...args);
    const call: Call = {};
    pending.push(call);
    startFirst();
    const last = args.length - 1;
    const callback = args[last];
    if (typeof callback === "function") {
      args[last] = (error: unknown, result: unknown) =>
        void finish(call).then(() => (callback as (error: unknown, result: unknown) => void)(error, result));
      return query(...args);
    }
    return (query(...args) as Promise<unknown>).then(
      async (result) => {
        await finish(call);
        return result;
      },
      async (error: unknown) => {
        await finish(call);
        throw error;
      },
    );
  };
}

// The driver's own Connection sends the CancelRequest, so it goes wherever the pool connects (TCP, a Unix socket,
// the Neon driver's WebSocket). The server closes the connection once it has signalled the backend.
function sendCancel(
  pool: CancellablePool,
  client: PoolClient,
  { connectTimeoutMs, onCancelError }: StatementTimeoutOptions,
): Promise<void> {
  const { processID, secretKey } = client;
  if (processID === null || secretKey === null) return Promise.resolve();
  return new Promise((resolve) => {
    const canceller = new pool.Client(pool.options);
    const connection = canceller.connection;
    const timer = setTimeout(() => {
      connection.stream?.destroy();
      done(new Error(`statement cancel request not delivered within ${connectTimeoutMs} ms`));
    }, connectTimeoutMs);
    let settled = false;
    const done = (error?: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error) onCancelError?.(error);
      resolve();
    };
    connection.once("connect", () => connection.cancel(processID, secretKey));
    connection.once("end", () => done());
    connection.on("error", (error: Error) => done(error));
    const { host, port } = canceller;
    if (host?.startsWith("/")) connection.connect(`${host}/.s.PGSQL.${port}`);
    else connection.connect(port, host);
  });
}
