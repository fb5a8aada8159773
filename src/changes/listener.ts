/**
 * The process's one LISTEN session, on DIRECT_URL: LISTEN is session state, which a transaction-mode pooler
 * does not keep. It reconnects with backoff after the connection drops; each new session is announced with
 * `onListening`, since notifications sent while none was listening are gone.
 */
import pg from "pg";
import type { Logger } from "../logger.ts";
import { CHANNEL } from "./events.ts";

export interface ListenerOptions {
  url: string;
  connectTimeoutMs: number;
  logger: Logger;
  onNotification(payload: string | undefined): void;
  /** A new LISTEN session is active: anything sent before it may have been missed. */
  onListening(): void;
  /** The session is gone (the database dropped it, or stop()). */
  onLost(): void;
}

export interface Listener {
  readonly listening: boolean;
  /** Connects (if not already) and resolves once LISTEN is active; rejects after connectTimeoutMs. */
  ready(): Promise<void>;
  stop(): Promise<void>;
}

const MIN_BACKOFF_MS = 100;
const MAX_BACKOFF_MS = 5_000;

export function createListener(options: ListenerOptions): Listener {
  const { logger } = options;
  let client: pg.Client | undefined;
  let listening = false;
  let running = false;
  let backoffMs = MIN_BACKOFF_MS;
  let retry: NodeJS.Timeout | undefined;
  let waiters: Array<() => void> = [];
  let failures = 0;

  const lose = (which: pg.Client, error?: Error): Promise<void> => {
    if (client !== which) return Promise.resolve();
    client = undefined;
    which.removeAllListeners("notification");
    const ended = which.end().catch(() => {});
    if (listening) {
      listening = false;
      if (running) logger.warn({ err: error }, "live updates: LISTEN connection lost, reconnecting");
      options.onLost();
    }
    if (running) schedule();
    return ended;
  };

  const schedule = () => {
    clearTimeout(retry);
    retry = setTimeout(connect, backoffMs);
    backoffMs = Math.min(backoffMs * 2, MAX_BACKOFF_MS);
  };

  async function connect(): Promise<void> {
    if (!running || client) return;
    const next = new pg.Client({
      connectionString: options.url,
      connectionTimeoutMillis: options.connectTimeoutMs,
      keepAlive: true,
      application_name: "todo-api listener",
    });
    client = next;
    next.on("error", (error) => lose(next, error));
    next.on("end", () => lose(next));
    next.on("notification", (message) => {
      if (message.channel === CHANNEL) options.onNotification(message.payload);
    });
    try {
      await next.connect();
      await next.query(`LISTEN ${CHANNEL}`);
    } catch (error) {
      // Once per outage at warn; the retries after it at debug.
      if (failures++ === 0) logger.warn({ err: error }, "live updates: cannot LISTEN yet, retrying");
      else logger.debug({ err: error }, "live updates: LISTEN retry failed");
      lose(next, error as Error);
      return;
    }
    if (client !== next) return;
    if (failures > 0) logger.info("live updates: listening again");
    failures = 0;
    backoffMs = MIN_BACKOFF_MS;
    listening = true;
    options.onListening();
    for (const wake of waiters) wake();
    waiters = [];
  }

  return {
    get listening() {
      return listening;
    },
    ready() {
      if (listening) return Promise.resolve();
      if (!running) {
        running = true;
        void connect();
      }
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters = waiters.filter((w) => w !== done);
          reject(new Error(`no LISTEN session within ${options.connectTimeoutMs} ms`));
        }, options.connectTimeoutMs);
        const done = () => {
          clearTimeout(timer);
          resolve();
        };
        waiters.push(done);
      });
    },
    async stop() {
      running = false;
      clearTimeout(retry);
      backoffMs = MIN_BACKOFF_MS;
      if (client) await lose(client);
    },
  };
}
