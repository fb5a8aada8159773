/**
 * Live updates for `todo.onChange`: the process's subscribers, fed by its one LISTEN session (listener.ts).
 * - Every statement that writes todos notifies (a trigger); this process numbers the notifications it receives,
 *   in commit order, and keeps the last SSE_REPLAY_EVENTS of them (ids and versions only) for reconnects.
 * - A row is read once per notification, and only when this process has a subscriber for its user.
 * - LISTEN runs only while someone subscribes (and a minute after): an idle process costs the database nothing.
 * - Each subscriber's queue is bounded: one that falls behind gets `changed` and its stream ends.
 * - A stream ends when its token expires, or after SSE_MAX_DURATION_MS, whichever is first (one timer per stream),
 *   the way a dropped connection ends: the client reconnects with its last event id and a token it has now.
 * - Delivery is proven, not assumed (listener.ts): a session counts once a probe NOTIFY sent through the pool came
 *   back on it. `health()` is readiness's view: proven once at start-up (changeFeedFor), then the current session's
 *   state. A proof that held stays good while the process is idle (it is about the configuration: is DIRECT_URL a
 *   session of its own?); a failed one is tried again in the background (every 30 s for notifications that never
 *   arrive, with the usual backoff for a database that cannot be reached). While delivery is not
 *   proven, `subscribe` answers SERVICE_UNAVAILABLE naming DIRECT_URL, never an open stream that stays empty.
 */
import { randomBytes } from "node:crypto";
import { tracked, type TrackedEnvelope } from "@trpc/server";
import type { Config } from "../config.ts";
import { AppError } from "../errors.ts";
import type { Logger } from "../logger.ts";
import { Prisma } from "../generated/prisma/client.ts";
import { findTodo, type Db } from "../todos/repository.ts";
import type { TodoDTO } from "../todos/select.ts";
import { CHANNEL, eventId, parseEventId, parseNotice, type Notice, type TodoChange } from "./events.ts";
import { createListener, DeliveryError, type Listener } from "./listener.ts";

export interface ChangeFeedOptions {
  db: Db;
  /** DIRECT_URL (or DATABASE_URL): where the LISTEN session connects. */
  listenUrl: string;
  /** How long connecting, and the delivery and liveness probes, may take (DB_CONNECTION_TIMEOUT_MS). */
  connectTimeoutMs: number;
  /** The LISTEN session's liveness probe runs this often (SSE_PING_MS). */
  pingMs?: number;
  logger: Logger;
  /** Open streams in this process (SSE_MAX_STREAMS). */
  maxStreams: number;
  /** Open streams of one user in this process (SSE_MAX_STREAMS_PER_USER). */
  maxStreamsPerUser: number;
  /** Open streams from one client address in this process (SSE_MAX_STREAMS_PER_IP). */
  maxStreamsPerIp?: number;
  /** A stream ends after this long, whatever its token says (SSE_MAX_DURATION_MS). */
  maxDurationMs?: number;
  /** Events waiting for one subscriber before it is cut off (SSE_QUEUE_MAX). */
  queueMax: number;
  /** Notifications kept for replay on reconnect (SSE_REPLAY_EVENTS). */
  replayEvents: number;
  /** How long LISTEN stays after the last stream closes. */
  lingerMs?: number;
}

export interface ChangeFeedStats {
  open: number;
  listening: boolean;
  /** Events sent to subscribers, by type. */
  sent: Record<TodoChange["type"], number>;
  /** Streams refused, by reason. */
  refused: { user_limit: number; ip_limit: number; global_limit: number; unavailable: number };
  /** Streams ended because their subscriber fell behind. */
  slow: number;
}

export type ChangeEvent = TrackedEnvelope<TodoChange>;

export interface StreamRequest {
  userId: string;
  /** The client's address (Express's req.ip), counted against SSE_MAX_STREAMS_PER_IP; none outside HTTP. */
  ip?: string;
  /** When the caller's token expires (ms since the epoch): the stream ends then. */
  expiresAt?: number;
  lastEventId?: string | null;
  /** tRPC's: aborted when the response ends. */
  signal?: AbortSignal;
}

/** Whether changes reach this process's subscribers (readiness); `reason` names what to fix. */
export type LiveHealth = { up: true } | { up: false; reason: string };

export interface ChangeFeed {
  /**
   * A stream of the user's changes, after `lastEventId` when given. Throws (before any event) TOO_MANY_REQUESTS
   * over a stream limit, SERVICE_UNAVAILABLE when delivery is not proven or the process is stopping.
   */
  subscribe(request: StreamRequest): Promise<AsyncIterable<ChangeEvent>>;
  /** Proves delivery when nothing has yet (or the last proof failed); otherwise answers from what is known. */
  health(): Promise<LiveHealth>;
  stats(): ChangeFeedStats;
  /** Ends every stream the way a lost connection would, so clients reconnect (to another instance). */
  close(): Promise<void>;
}

/** One notification as this process numbered it (kept in the replay ring: no row, a few dozen bytes). */
interface Entry extends Notice {
  seq: number;
  eventId: string;
}

type Row = Promise<TodoDTO | null | Error>;
/** A live entry carries the row read once for all of its user's subscribers here; a replayed one reads it when sent. */
type Item = { entry: Entry; row?: Row } | { changed: string };

interface Subscriber {
  userId: string;
  queue: Item[];
  /** Set when the stream must end once its queue is sent (too slow), or at once (closing, aborted). */
  ending?: "slow" | "now";
  wake?: () => void;
  /** Unregisters, once: from the stream's end, or from the request's abort when the stream never started. */
  cleanup(): void;
}

const DOWN_UNREACHABLE =
  "the LISTEN session on DIRECT_URL (else DATABASE_URL) cannot be opened; the server log says why";

// tRPC ends a stream without its `return` event on an AbortError: EventSource then reconnects by itself.
const abortError = (message: string) => Object.assign(new Error(message), { name: "AbortError" });

/**
 * The feed as the configuration sets it up: SSE_* limits, DB_CONNECTION_TIMEOUT_MS for the LISTEN session; none when
 * SSE_MAX_STREAMS is 0 (live updates off: nothing listens).
 */
export function changeFeedFor(
  config: Pick<Config, "sse" | "db">,
  db: Db,
  listenUrl: string,
  logger: Logger,
): ChangeFeed | undefined {
  if (config.sse.maxStreams === 0) return undefined;
  const feed = createChangeFeed({
    ...config.sse,
    db,
    listenUrl,
    connectTimeoutMs: config.db.connectionTimeoutMs,
    logger,
  });
  // Proven at start-up, so readiness knows before the first subscriber (a failure is logged with what to fix).
  void feed.health();
  return feed;
}

export function createChangeFeed(options: ChangeFeedOptions): ChangeFeed {
  const { db, logger } = options;
  const lingerMs = options.lingerMs ?? 60_000;
  const maxStreamsPerIp = options.maxStreamsPerIp ?? Infinity;
  const maxDurationMs = options.maxDurationMs ?? 3_600_000;
  const byUser = new Map<string, Set<Subscriber>>();
  const reserved = new Map<string, number>();
  const reservedIp = new Map<string, number>();
  let reservedTotal = 0;
  let closing = false;
  let linger: NodeJS.Timeout | undefined;

  // The current LISTEN session: its epoch, its last seq, and the replay ring (oldest first from `head`).
  let epoch: string | undefined;
  let seq = 0;
  let ring: Entry[] = [];
  let head = 0;

  const stats: Omit<ChangeFeedStats, "listening"> = {
    open: 0,
    sent: { created: 0, updated: 0, deleted: 0, changed: 0 },
    refused: { user_limit: 0, ip_limit: 0, global_limit: 0, unavailable: 0 },
    slow: 0,
  };

  const push = (sub: Subscriber, item: Item) => {
    if (sub.ending) return;
    if (sub.queue.length >= options.queueMax) {
      // Fallen behind: what it has not taken is replaced by one refetch, and then the stream ends.
      sub.queue = [{ changed: here() }];
      sub.ending = "slow";
      stats.slow++;
    } else {
      sub.queue.push(item);
    }
    sub.wake?.();
  };

  const everyone = () => [...byUser.values()].flatMap((set) => [...set]);

  const listener: Listener = createListener({
    url: options.listenUrl,
    connectTimeoutMs: options.connectTimeoutMs,
    pingMs: options.pingMs ?? 15_000,
    logger,
    // The way writes' triggers notify: through the API's pool (DATABASE_URL), not the LISTEN session's URL.
    notify: (payload) => db.$executeRaw(Prisma.sql`SELECT pg_notify(${CHANNEL}, ${payload})`),
    onListening() {
      epoch = randomBytes(8).toString("hex");
      seq = 0;
      ring = [];
      head = 0;
      // Whoever was subscribed while no session listened may have missed changes.
      for (const sub of everyone()) push(sub, { changed: here() });
    },
    onLost() {
      epoch = undefined;
    },
    onNotification(payload) {
      const notice = parseNotice(payload);
      if (!notice || epoch === undefined) return;
      seq++;
      const entry: Entry = { ...notice, seq, eventId: eventId(epoch, seq) };
      if (options.replayEvents > 0) {
        ring.push(entry);
        if (ring.length - head > options.replayEvents) head++;
        // Compact now and then rather than shift() on every event.
        if (head > 1024 && head * 2 > ring.length) {
          ring = ring.slice(head);
          head = 0;
        }
      }
      const subs = byUser.get(notice.userId);
      if (!subs) return;
      const row = needsRow(entry) ? readRow(entry) : undefined;
      for (const sub of subs) push(sub, { entry, row });
    },
  });

  const needsRow = (entry: Entry) => entry.op === "created" || entry.op === "updated";
  const readRow = (entry: Entry): Row =>
    findTodo(db, entry.userId, entry.id!).catch((error: Error) => {
      logger.warn({ err: error }, "live updates: reading a changed todo failed; sending changed instead");
      return error;
    });
  /** The id of a `changed` sent now: a reconnect with it resumes after everything received so far. */
  const here = () => eventId(epoch ?? "0".repeat(16), seq);

  /** The user's entries after `lastEventId`, or undefined when they cannot all be replayed. */
  const replay = (userId: string, lastEventId: string): Entry[] | undefined => {
    const last = parseEventId(lastEventId);
    if (!last || last.epoch !== epoch || last.seq > seq) return undefined;
    const oldest = ring[head]?.seq ?? seq + 1;
    if (last.seq < oldest - 1) return undefined;
    const missed: Entry[] = [];
    for (let i = head; i < ring.length; i++) {
      const entry = ring[i]!;
      if (entry.seq > last.seq && entry.userId === userId) missed.push(entry);
    }
    return missed;
  };

  const count = (map: Map<string, number>, key: string, by: 1 | -1) => {
    const n = (map.get(key) ?? 0) + by;
    if (n > 0) map.set(key, n);
    else map.delete(key);
  };

  /** With nobody subscribed, LISTEN stops after the linger. */
  const idleLater = () => {
    if (reservedTotal > 0 || closing) return;
    clearTimeout(linger);
    linger = setTimeout(() => void listener.stop(), lingerMs);
    linger.unref();
  };

  const release = (userId: string, ip: string | undefined) => {
    reservedTotal--;
    count(reserved, userId, -1);
    if (ip !== undefined) count(reservedIp, ip, -1);
    idleLater();
  };

  async function* stream(sub: Subscriber): AsyncGenerator<ChangeEvent> {
    try {
      for (;;) {
        if (sub.ending === "now") throw abortError("stream closed");
        const item = sub.queue.shift();
        if (!item) {
          if (sub.ending) throw abortError("stream closed");
          await new Promise<void>((resolve) => (sub.wake = resolve));
          sub.wake = undefined;
          continue;
        }
        const event = await toEvent(item);
        if (!event) continue;
        stats.sent[event[1].type]++;
        yield event;
      }
    } finally {
      sub.cleanup();
    }
  }

  async function toEvent(item: Item): Promise<ChangeEvent | undefined> {
    if ("changed" in item) return tracked(item.changed, { type: "changed" });
    const { entry } = item;
    const id = entry.eventId;
    switch (entry.op) {
      case "changed":
        return tracked(id, { type: "changed" });
      case "deleted":
        return tracked(id, { type: "deleted", id: entry.id! });
      case "created":
      case "updated": {
        const row = await (item.row ?? readRow(entry));
        if (row instanceof Error) return tracked(id, { type: "changed" });
        // Deleted since: its `deleted` event follows.
        if (!row) return undefined;
        return tracked(id, { type: entry.op, todo: row });
      }
    }
  }

  return {
    async subscribe({ userId, ip, expiresAt, lastEventId, signal }) {
      if (closing) {
        stats.refused.unavailable++;
        throw new AppError("shuttingDown");
      }
      if (reservedTotal >= options.maxStreams) {
        stats.refused.global_limit++;
        throw new AppError(
          "streamLimit",
          `This instance has its limit of ${options.maxStreams} open streams: retry later`,
        );
      }
      const mine = reserved.get(userId) ?? 0;
      if (mine >= options.maxStreamsPerUser) {
        stats.refused.user_limit++;
        throw new AppError(
          "streamLimit",
          `At most ${options.maxStreamsPerUser} open streams per user: close one first`,
        );
      }
      if (ip !== undefined && (reservedIp.get(ip) ?? 0) >= maxStreamsPerIp) {
        stats.refused.ip_limit++;
        throw new AppError(
          "streamLimit",
          `At most ${maxStreamsPerIp} open streams per client address: close one first`,
        );
      }
      count(reserved, userId, 1);
      if (ip !== undefined) count(reservedIp, ip, 1);
      reservedTotal++;
      clearTimeout(linger);
      try {
        await listener.ready();
      } catch (error) {
        release(userId, ip);
        stats.refused.unavailable++;
        const message =
          error instanceof DeliveryError
            ? "Live updates are unavailable: notifications do not reach this server's LISTEN session; set DIRECT_URL to a direct (non-pooler) connection"
            : "Live updates are unavailable: the database cannot be listened to";
        throw new AppError("liveUpdatesUnavailable", message, { cause: error });
      }
      if (closing || signal?.aborted) {
        release(userId, ip);
        throw new AppError("shuttingDown");
      }
      // From here to registering, nothing awaits: no notification can fall between the replay and the live queue.
      let registered = true;
      const sub: Subscriber = {
        userId,
        queue: [],
        cleanup() {
          if (!registered) return;
          registered = false;
          clearTimeout(expiry);
          signal?.removeEventListener("abort", onAbort);
          stats.open--;
          const subs = byUser.get(userId);
          subs?.delete(sub);
          if (subs?.size === 0) byUser.delete(userId);
          release(userId, ip);
        },
      };
      // The token's end, or the backstop: then the stream ends as a dropped one does, and the client reconnects.
      const endsIn = Math.min((expiresAt ?? Infinity) - Date.now(), maxDurationMs);
      const expiry = setTimeout(
        () => {
          sub.ending = "now";
          if (sub.wake) sub.wake();
        },
        Math.max(0, endsIn),
      );
      expiry.unref();
      // tRPC aborts the signal whenever the response ends, also when it ends before the stream was ever read.
      const onAbort = () => {
        sub.ending = "now";
        if (sub.wake) sub.wake();
        else sub.cleanup();
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      stats.open++;
      if (lastEventId) {
        const missed = replay(userId, lastEventId);
        if (!missed) sub.queue.push({ changed: here() });
        else for (const entry of missed) sub.queue.push({ entry });
        if (sub.queue.length > options.queueMax) sub.queue = [{ changed: here() }];
      }
      let subs = byUser.get(userId);
      if (!subs) byUser.set(userId, (subs = new Set()));
      subs.add(sub);
      return stream(sub);
    },
    async health() {
      if (listener.listening || (!listener.running && listener.proven)) return { up: true };
      const known = listener.lastError;
      if (listener.running && known) {
        // Answered from the last attempt; the next one is made now rather than after its backoff.
        listener.ready().catch(() => {});
        return { up: false, reason: known instanceof DeliveryError ? known.message : DOWN_UNREACHABLE };
      }
      try {
        await listener.ready();
        return { up: true };
      } catch (error) {
        return { up: false, reason: error instanceof DeliveryError ? error.message : DOWN_UNREACHABLE };
      } finally {
        idleLater();
      }
    },
    stats: () => ({ ...stats, refused: { ...stats.refused }, listening: listener.listening }),
    async close() {
      closing = true;
      clearTimeout(linger);
      for (const sub of everyone()) {
        sub.ending = "now";
        sub.wake?.();
      }
      await listener.stop();
    },
  };
}
