/**
 * The Redis connection the rate limits count in (REDIS_URL). Never blocks or fails start-up, reconnects on its own,
 * and logs an outage once: a warning when Redis is lost, an info line when it is back.
 */
import { createClient } from "@redis/client";
import type { Logger } from "../logger.ts";

export interface RedisConnection {
  /** One command. Rejects at once while disconnected: there is no offline queue to wait in. */
  send(args: string[]): Promise<unknown>;
  isReady(): boolean;
  /** Runs on every (re)connection. */
  onReady(listener: () => void): void;
  /** A check could not use Redis; only the first of an outage is logged. */
  reportDown(error: unknown): void;
  /** A check used Redis: ends an outage. */
  reportUp(): void;
  close(): Promise<void>;
}

// Backoff 50 ms … 2 s, for ever: Redis's return is picked up without a restart.
const reconnectDelay = (retries: number) => Math.min(50 * 2 ** retries, 2_000);

export function connectRedis(url: string, logger: Logger): RedisConnection {
  const client = createClient({
    url,
    // Requests must not queue behind a connection that is not there; each process counts on its own instead.
    disableOfflineQueue: true,
    // A Redis that stops answering but keeps the connection (stalled, a network black hole): checks past this many
    // in flight fail at once, so waiting commands cannot pile up in memory.
    commandsQueueMaxLength: 1_000,
    socket: { connectTimeout: 2_000, reconnectStrategy: reconnectDelay },
  });
  let down = false;
  let closed = false;
  const reportDown = (error: unknown) => {
    if (down || closed) return;
    down = true;
    const reason = error instanceof Error ? error.message || error.name : String(error);
    logger.warn({ reason }, "Redis unreachable: rate limits are enforced per process until it is back (not shared)");
  };
  const reportUp = () => {
    if (!down || closed) return;
    down = false;
    logger.info("Redis reachable again: rate limits are shared again");
  };
  // Without an error listener an EventEmitter error would crash the process.
  client.on("error", reportDown);
  client.on("ready", reportUp);
  // Resolves once connected, however long Redis is away; rejects only if the client is closed first.
  client.connect().catch((error: unknown) => reportDown(error));

  return {
    send: (args) => client.sendCommand(args),
    isReady: () => client.isReady,
    onReady(listener) {
      client.on("ready", listener);
    },
    reportDown,
    reportUp,
    async close() {
      closed = true;
      try {
        // close() lets commands in flight finish; while reconnecting there are none, and destroy() ends the retries.
        if (client.isReady) await client.close();
        else client.destroy();
      } catch {
        // Already closed.
      }
    },
  };
}
