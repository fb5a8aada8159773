/**
 * The process's one LISTEN session, on DIRECT_URL: LISTEN is session state, which a transaction-mode pooler
 * does not keep. It reconnects with backoff after the connection drops; each new session is announced with
 * `onListening`, since notifications sent while none was listening are gone.
 *
 * A session counts only once it has proven delivery: after LISTEN, a probe NOTIFY sent the way writes' triggers
 * send theirs (`notify`: through the API's own pool) must come back on it within connectTimeoutMs. Through a
 * transaction-mode pooler it never does (the LISTEN stayed on a server connection nobody reads): that is a
 * DeliveryError, naming DIRECT_URL. While listening, the session answers a liveness probe every `pingMs`; one
 * unanswered within connectTimeoutMs (a dead peer, a black-holed network) is a lost session: reconnect.
 */
import { randomBytes } from "node:crypto";
import pg from "pg";
import type { Logger } from "../logger.ts";
import { CHANNEL, isProbe, probePayload } from "./events.ts";

export interface ListenerOptions {
  url: string;
  connectTimeoutMs: number;
  /** The liveness probe's interval (SSE_PING_MS). */
  pingMs: number;
  logger: Logger;
  /** Sends NOTIFY on CHANNEL with this payload through the API's pool (the path writes take). */
  notify(payload: string): Promise<unknown>;
  onNotification(payload: string | undefined): void;
  /** A new LISTEN session is active and delivers: anything sent before it may have been missed. */
  onListening(): void;
  /** The session is gone (the database dropped it, it stopped answering, or stop()). */
  onLost(): void;
}

/** Notifications do not reach the LISTEN session: it is not a session of its own (a transaction-mode pooler). */
export class DeliveryError extends Error {}

export interface Listener {
  readonly listening: boolean;
  /** Trying to hold a session (from ready() until stop()). */
  readonly running: boolean;
  /** true once a session proved delivery, false after a proof failed; undefined before either. */
  readonly proven: boolean | undefined;
  /** Why the last attempt failed, while not listening. */
  readonly lastError: Error | undefined;
  /**
   * Connects (if not already; a pending retry is made at once) and resolves once a session delivers. Rejects on a
   * DeliveryError at once, otherwise after twice connectTimeoutMs (connect, then the probe).
   */
  ready(): Promise<void>;
  stop(): Promise<void>;
}

const MIN_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 5_000;
// Notifications that never arrive are a configuration's doing: tried again now and then, not every few seconds.
const DELIVERY_RETRY_MS = 30_000;

const timeout = (ms: number, error: () => Error) => {
  let timer: NodeJS.Timeout | undefined;
  const promise = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(error()), ms);
    timer.unref();
  });
  return { promise, clear: () => clearTimeout(timer) };
};

export function createListener(options: ListenerOptions): Listener {
  const { logger, connectTimeoutMs } = options;
  let client: pg.Client | undefined;
  let listening = false;
  let running = false;
  let proven: boolean | undefined;
  let lastError: Error | undefined;
  let backoffMs = MIN_BACKOFF_MS;
  let retry: NodeJS.Timeout | undefined;
  let pinger: NodeJS.Timeout | undefined;
  let waiters: Array<{ resolve(): void; reject(error: Error): void }> = [];
  let failures = 0;
  // Probes of this process in flight, by payload (other processes' probes arrive too, and are ignored).
  const probes = new Map<string, () => void>();

  const lose = (which: pg.Client, error?: Error): Promise<void> => {
    if (client !== which) return Promise.resolve();
    client = undefined;
    clearInterval(pinger);
    which.removeAllListeners("notification");
    // end() waits for the server to close: on a dead peer it would wait for ever, so the socket goes after a while.
    const socket = (which as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream;
    const waited = new Promise((resolve) => setTimeout(resolve, connectTimeoutMs).unref());
    const ended = Promise.race([which.end().catch(() => {}), waited]).then(() => socket?.destroy());
    if (listening) {
      listening = false;
      if (running) logger.warn({ err: error }, "live updates: LISTEN connection lost, reconnecting");
      options.onLost();
    }
    if (error) lastError = error;
    if (running) schedule();
    return ended;
  };

  const schedule = () => {
    clearTimeout(retry);
    retry = setTimeout(connect, backoffMs);
    backoffMs = Math.min(backoffMs * 2, MAX_BACKOFF_MS);
  };

  /** Resolves once a probe, sent through the pool, arrived on `on`. */
  async function prove(on: pg.Client): Promise<void> {
    const payload = probePayload(randomBytes(8).toString("hex"));
    const arrived = new Promise<void>((resolve) => probes.set(payload, resolve));
    let sent = false;
    const limit = timeout(connectTimeoutMs, () =>
      sent
        ? new DeliveryError(
            `a NOTIFY sent through the database pool did not reach the LISTEN session within ${connectTimeoutMs} ms ` +
              "(LISTEN through a transaction-mode pooler is never delivered): set DIRECT_URL to a direct (non-pooler) connection",
          )
        : new Error(`the probe NOTIFY through the database pool did not complete within ${connectTimeoutMs} ms`),
    );
    try {
      const notified = options.notify(payload).then(
        () => void (sent = true),
        (error: Error) => {
          throw new Error(`the probe NOTIFY failed: ${error.message}`, { cause: error });
        },
      );
      await Promise.race([Promise.all([notified, arrived]), limit.promise]);
    } finally {
      limit.clear();
      probes.delete(payload);
    }
    if (client !== on) throw new Error("the LISTEN connection closed during the probe");
  }

  /** The liveness probe; returns whether it has been answered yet. */
  const ping = (on: pg.Client): (() => boolean) => {
    let answered = false;
    const limit = timeout(
      connectTimeoutMs,
      () => new Error(`the LISTEN session did not answer a liveness probe within ${connectTimeoutMs} ms`),
    );
    Promise.race([on.query("SELECT 1"), limit.promise])
      .then(() => void (answered = true))
      .catch((error: Error) => void lose(on, error))
      .finally(limit.clear);
    return () => answered;
  };

  async function connect(): Promise<void> {
    if (!running || client) return;
    const next = new pg.Client({
      connectionString: options.url,
      connectionTimeoutMillis: connectTimeoutMs,
      keepAlive: true,
      application_name: "todo-api listener",
    });
    client = next;
    next.on("error", (error) => lose(next, error));
    next.on("end", () => lose(next));
    next.on("notification", (message) => {
      if (message.channel !== CHANNEL) return;
      if (isProbe(message.payload)) return probes.get(message.payload!)?.();
      options.onNotification(message.payload);
    });
    try {
      await next.connect();
      await next.query(`LISTEN ${CHANNEL}`);
      await prove(next);
    } catch (error) {
      const delivery = error instanceof DeliveryError;
      if (delivery) proven = false;
      // Once per outage at warn (notifications that never arrive at error); the retries after it at debug.
      if (failures++ === 0) {
        if (delivery) logger.error(`live updates are down: ${error.message}`);
        else logger.warn({ err: error }, "live updates: cannot LISTEN yet, retrying");
      } else logger.debug({ err: error }, "live updates: LISTEN retry failed");
      lastError = error as Error;
      if (delivery) {
        for (const waiter of waiters.splice(0)) waiter.reject(error);
        backoffMs = Math.max(backoffMs, DELIVERY_RETRY_MS);
      }
      void lose(next, error as Error);
      return;
    }
    if (client !== next) return;
    if (failures > 0) logger.info("live updates: listening again");
    failures = 0;
    backoffMs = MIN_BACKOFF_MS;
    listening = true;
    proven = true;
    lastError = undefined;
    let answered = () => true;
    pinger = setInterval(() => {
      // One probe at a time: a slow answer is the one in flight timing out, not a pile of them.
      if (answered()) answered = ping(next);
    }, options.pingMs);
    pinger.unref();
    options.onListening();
    for (const waiter of waiters.splice(0)) waiter.resolve();
  }

  return {
    get listening() {
      return listening;
    },
    get running() {
      return running;
    },
    get proven() {
      return proven;
    },
    get lastError() {
      return listening ? undefined : lastError;
    },
    ready() {
      if (listening) return Promise.resolve();
      if (!running) {
        running = true;
        void connect();
      } else if (lastError instanceof DeliveryError) {
        return Promise.reject(lastError);
      } else if (!client) {
        // Waiting out the backoff helps nobody when someone wants the session now.
        clearTimeout(retry);
        void connect();
      }
      return new Promise((resolve, reject) => {
        const limit = timeout(connectTimeoutMs * 2, () => {
          const why = lastError ? `: ${lastError.message}` : "";
          return new Error(`no LISTEN session within ${connectTimeoutMs * 2} ms${why}`);
        });
        const waiter = {
          resolve() {
            limit.clear();
            resolve();
          },
          reject(error: Error) {
            limit.clear();
            reject(error);
          },
        };
        limit.promise.catch((error: Error) => {
          waiters = waiters.filter((w) => w !== waiter);
          reject(error);
        });
        waiters.push(waiter);
      });
    },
    async stop() {
      running = false;
      clearTimeout(retry);
      backoffMs = MIN_BACKOFF_MS;
      for (const waiter of waiters.splice(0)) waiter.reject(new Error("live updates stopped"));
      if (client) await lose(client);
    },
  };
}
