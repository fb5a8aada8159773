/**
 * Live updates for `todo.onChange`, resumable on any instance after any restart (within CHANGE_RETENTION_MS).
 * - The database is the feed: every todo row carries its last change's position (src/todos/changes.ts). Event ids
 *   name positions (src/live/position.ts), so a stream resumes from any id any instance handed out.
 * - A stream starts by catching up from its id: the user's rows after it, in position order, pages of
 *   REPLAY_PAGE, only those before the frontier (never past a transaction that may still commit). Then live.
 * - Live: this process polls the changes of the users it has subscribers for, after its own cursor, and hands
 *   each ready row to those subscribers. A poll runs on a hint: this process's own writes, a NOTIFY from another
 *   instance's (sent after commit, coalesced: `written`), and every `pollMs` while anyone listens, so a lost hint
 *   costs latency, never a change. Rows committed but not yet final are polled again after a few milliseconds.
 * - Each subscriber's queue is bounded: one that falls behind drops it and catches up from the database again.
 * - A stream ends when its token expires, or after SSE_MAX_DURATION_MS, whichever is first (one timer per stream),
 *   the way a dropped connection ends: the client reconnects with its last event id and a token it has now.
 * - The LISTEN session that receives hints proves its delivery (listener.ts): a session counts once a probe
 *   NOTIFY sent through the pool came back on it. `health()` is readiness's view. While delivery is not proven,
 *   `subscribe` answers SERVICE_UNAVAILABLE naming DIRECT_URL, never a stream that would lag by `pollMs`.
 */
import { tracked, type TrackedEnvelope } from "@trpc/server";
import type { Config } from "../config.ts";
import { AppError } from "../errors.ts";
import type { Logger } from "../logger.ts";
import { Prisma } from "../generated/prisma/client.ts";
import type { Db } from "../todos/repository.ts";
import { isReady, readChangesOf, readFrontier, readUserChanges, type ChangeRow } from "../todos/changes.ts";
import { ANY_USER, CHANNEL, hintPayload, parseHint, type TodoChange } from "./events.ts";
import { createListener, DeliveryError, type Listener } from "./listener.ts";
import { compare, decodePosition, encodePosition, later, type Position } from "./position.ts";
import { isCurrent } from "./sync.ts";

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
  /** Events waiting for one subscriber before it catches up from the database instead (SSE_QUEUE_MAX). */
  queueMax: number;
  /** How old an event id may be to resume from (CHANGE_RETENTION_MS). */
  retentionMs: number;
  /** How long LISTEN stays after the last stream closes. */
  lingerMs?: number;
  /** The poll that runs without a hint while anyone listens. */
  pollMs?: number;
}

export interface ChangeFeedStats {
  open: number;
  listening: boolean;
  /** Events sent to subscribers, by type. */
  sent: Record<TodoChange["type"], number>;
  /** Streams refused, by reason. */
  refused: { user_limit: number; ip_limit: number; global_limit: number; unavailable: number };
  /** Times a subscriber fell SSE_QUEUE_MAX events behind and caught up from the database. */
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
  /**
   * A mutation of the user's todos committed here: this process polls, and the other instances get a hint
   * (one NOTIFY after commit, coalesced with others).
   */
  written(userId: string): void;
  /** Ends every stream the way a lost connection would, so clients reconnect (to another instance). */
  close(): Promise<void>;
}

interface Subscriber {
  userId: string;
  /** The position of the last event sent (or of the frontier it started at); undefined until started. */
  last: Position | undefined;
  /** Rows handed over by polls, in position order; those at or before `last` are skipped. */
  queue: ChangeRow[];
  /** Read the database from `last` before the queue: at the start, and after falling behind. */
  catchUp: boolean;
  /** Set when the stream must end at once (closing, aborted, expired). */
  ending?: "now";
  wake?: () => void;
  /** Unregisters, once: from the stream's end, or from the request's abort when the stream never started. */
  cleanup(): void;
}

/** Rows per statement when a stream catches up, and per poll. */
const REPLAY_PAGE = 500;
const POLL_PAGE = 1000;
/** Rows committed but not final yet are polled again after this, doubling up to the maximum. */
const RETRY_MIN_MS = 5;
const RETRY_MAX_MS = 200;
/**
 * The shortest time between two hints an instance sends. Each NOTIFY takes a pooled connection and PostgreSQL's
 * notify queue lock; one per write cost creates about a fifth of their throughput in the bench (pg vs pg-live-off).
 */
const HINT_GAP_MS = 20;
/** Users named in one hint before it becomes a hint for all. */
const MAX_HINTED_USERS = 256;

const DOWN_UNREACHABLE =
  "the LISTEN session on DIRECT_URL (else DATABASE_URL) cannot be opened; the server log says why";

// tRPC ends a stream without its `return` event on an AbortError: EventSource then reconnects by itself.
const ended = () => Object.assign(new Error("stream closed"), { name: "AbortError" });

/**
 * The feed as the configuration sets it up: SSE_* limits, DB_CONNECTION_TIMEOUT_MS for the LISTEN session; none when
 * SSE_MAX_STREAMS is 0 (live updates off: nothing listens, nothing polls, writes send no hints).
 */
export function changeFeedFor(
  config: Pick<Config, "sse" | "db" | "changeRetentionMs">,
  db: Db,
  listenUrl: string,
  logger: Logger,
): ChangeFeed | undefined {
  if (config.sse.maxStreams === 0) return undefined;
  const feed = createChangeFeed({
    ...config.sse,
    retentionMs: config.changeRetentionMs,
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
  const pollMs = options.pollMs ?? 1_000;
  const maxStreamsPerIp = options.maxStreamsPerIp ?? Infinity;
  const maxDurationMs = options.maxDurationMs ?? 3_600_000;
  const byUser = new Map<string, Set<Subscriber>>();
  const reserved = new Map<string, number>();
  const reservedIp = new Map<string, number>();
  let reservedTotal = 0;
  let closing = false;
  let linger: NodeJS.Timeout | undefined;

  const stats: Omit<ChangeFeedStats, "listening"> = {
    open: 0,
    sent: { created: 0, updated: 0, deleted: 0, changed: 0 },
    refused: { user_limit: 0, ip_limit: 0, global_limit: 0, unavailable: 0 },
    slow: 0,
  };

  // The poll: this process's cursor (everything of its subscribers' users before it was handed over), reset
  // when nobody subscribes. A subscriber registers only once it is set, and starts at or after it.
  let cursor: Position | undefined;
  let cursorRead: Promise<Position> | undefined;
  let polling = false;
  // Subscribers registered while a poll ran: it did not read their user's rows, yet moves the cursor past them.
  const joinedDuringPoll = new Set<Subscriber>();
  let again = false;
  let soon: NodeJS.Immediate | undefined;
  let retry: NodeJS.Timeout | undefined;
  let retryMs = RETRY_MIN_MS;
  let safety: NodeJS.Timeout | undefined;
  let pollFailing = false;

  const pollSoon = () => {
    if (byUser.size === 0 || closing) return;
    if (polling) again = true;
    else soon ??= setImmediate(() => void poll());
  };

  const pollAfter = (ms: number) => {
    if (retry) return;
    retry = setTimeout(() => {
      retry = undefined;
      pollSoon();
    }, ms);
    retry.unref();
  };

  async function poll() {
    soon = undefined;
    const users = [...byUser.keys()];
    const base = cursor;
    if (users.length === 0 || base === undefined) return;
    polling = true;
    try {
      const page = await readChangesOf(db, users, base, POLL_PAGE);
      let ready = 0;
      for (const row of page.rows) {
        if (!isReady(row, page.frontier)) break;
        ready++;
        handOver(row);
      }
      const full = page.rows.length === POLL_PAGE && ready === page.rows.length;
      // A full page of final rows: go on from its last one. Otherwise all final rows were here.
      cursor = full ? page.rows[ready - 1]!.position : later(base, page.frontier);
      if (full) again = true;
      else if (ready < page.rows.length) {
        pollAfter(retryMs);
        retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
      } else retryMs = RETRY_MIN_MS;
      if (pollFailing) logger.info("live updates: reading changes works again");
      pollFailing = false;
    } catch (error) {
      if (!pollFailing) logger.warn({ err: error }, "live updates: reading changes failed; retrying");
      pollFailing = true;
      pollAfter(pollMs);
    } finally {
      polling = false;
      // Each reads its own rows up to a frontier no older than this poll's; later polls include its user.
      for (const sub of joinedDuringPoll) {
        sub.catchUp = true;
        sub.wake?.();
      }
      joinedDuringPoll.clear();
      if (again) {
        again = false;
        pollSoon();
      }
    }
  }

  const handOver = (row: ChangeRow) => {
    const subs = byUser.get(row.todo.userId);
    if (!subs) return;
    for (const sub of subs) {
      if (sub.ending || (sub.last && compare(row.position, sub.last) <= 0)) continue;
      if (sub.queue.length >= options.queueMax) {
        // Fallen behind: what it has not taken is read from the database again when it is ready for it.
        sub.queue = [];
        if (!sub.catchUp) stats.slow++;
        sub.catchUp = true;
      } else sub.queue.push(row);
      sub.wake?.();
    }
  };

  // Hints for the other instances: one NOTIFY in flight at a time, at most one per HINT_GAP_MS, naming the users
  // written since the last one. A write after a quiet spell is hinted at once.
  const hinted = new Set<string>();
  let hintsForAll = false;
  let hinting = false;
  let lastHintAt = -Infinity;
  let hintTimer: ReturnType<typeof setTimeout> | undefined;
  const sendHints = async () => {
    if (hinting || hintTimer || (hinted.size === 0 && !hintsForAll)) return;
    const wait = lastHintAt + HINT_GAP_MS - performance.now();
    if (wait > 0) {
      hintTimer = setTimeout(() => {
        hintTimer = undefined;
        void sendHints();
      }, wait);
      return;
    }
    hinting = true;
    lastHintAt = performance.now();
    const payload = hintsForAll ? ANY_USER : hintPayload(hinted);
    hinted.clear();
    hintsForAll = false;
    try {
      await db.$executeRaw(Prisma.sql`SELECT pg_notify(${CHANNEL}, ${payload})`);
    } catch (error) {
      // Only a hint: the other instances' polls still find the change, within their pollMs.
      logger.debug({ err: error }, "live updates: sending a hint failed");
    } finally {
      hinting = false;
      void sendHints();
    }
  };

  const everyone = () => [...byUser.values()].flatMap((set) => [...set]);

  const listener: Listener = createListener({
    url: options.listenUrl,
    connectTimeoutMs: options.connectTimeoutMs,
    pingMs: options.pingMs ?? 15_000,
    logger,
    // Hints are sent through the API's pool (DATABASE_URL), not the LISTEN session's URL: the probe does the same.
    notify: (payload) => db.$executeRaw(Prisma.sql`SELECT pg_notify(${CHANNEL}, ${payload})`),
    // Hints sent while no session listened are gone: the poll finds their changes.
    onListening: pollSoon,
    onLost() {},
    onNotification(payload) {
      const users = parseHint(payload);
      if (users === ANY_USER || users?.some((user) => byUser.has(user))) pollSoon();
    },
  });

  const toEvent = (row: ChangeRow): ChangeEvent => {
    const id = encodePosition(row.position);
    switch (row.kind) {
      case "DELETED":
        return tracked(id, { type: "deleted", id: row.todo.id });
      case "UPDATED":
        return tracked(id, { type: "updated", todo: row.todo });
      case "CREATED":
      case "RESTORED":
        return tracked(id, { type: "created", todo: row.todo });
    }
  };

  const count = (map: Map<string, number>, key: string, by: 1 | -1) => {
    const n = (map.get(key) ?? 0) + by;
    if (n > 0) map.set(key, n);
    else map.delete(key);
  };

  /** With nobody subscribed, LISTEN stops after the linger, and the poll stops. */
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

  const unregister = (sub: Subscriber) => {
    const subs = byUser.get(sub.userId);
    subs?.delete(sub);
    if (subs?.size === 0) byUser.delete(sub.userId);
    if (byUser.size === 0) {
      cursor = undefined;
      clearInterval(safety);
      safety = undefined;
    }
  };

  /** `from`: the position the client resumes from, checked on the first page it reads; `unknown`: send `changed` first. */
  async function* stream(
    sub: Subscriber,
    from: (Position & { mintedAt: number }) | undefined,
    unknown: boolean,
  ): AsyncGenerator<ChangeEvent> {
    try {
      if (unknown) {
        stats.sent.changed++;
        yield tracked(encodePosition(sub.last!), { type: "changed" });
      }
      let checked = !from;
      for (;;) {
        if (sub.ending) throw ended();
        if (sub.catchUp) {
          sub.catchUp = false;
          for (;;) {
            const page = await readUserChanges(db, sub.userId, {
              after: sub.last!,
              limit: REPLAY_PAGE,
              readyOnly: true,
            });
            if (!checked) {
              checked = true;
              if (!isCurrent(from!, page, options.retentionMs)) {
                sub.last = page.frontier;
                stats.sent.changed++;
                yield tracked(encodePosition(sub.last), { type: "changed" });
                break;
              }
            }
            for (const row of page.rows) {
              if (sub.ending) throw ended();
              sub.last = row.position;
              const event = toEvent(row);
              stats.sent[event[1].type]++;
              yield event;
            }
            if (page.rows.length < REPLAY_PAGE) {
              // Every final row of the user is sent: the queue goes on from the frontier.
              sub.last = later(sub.last!, page.frontier);
              break;
            }
          }
          continue;
        }
        const row = sub.queue.shift();
        if (!row) {
          await new Promise<void>((resolve) => (sub.wake = resolve));
          sub.wake = undefined;
          continue;
        }
        if (compare(row.position, sub.last!) <= 0) continue;
        sub.last = row.position;
        const event = toEvent(row);
        stats.sent[event[1].type]++;
        yield event;
      }
    } catch (error) {
      if ((error as Error).name === "AbortError") throw error;
      // A database that failed mid-stream: the stream ends as a dropped one, and the client resumes from its id.
      logger.warn({ err: error }, "live updates: a stream could not read its changes; ending it");
      throw ended();
    } finally {
      sub.cleanup();
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
        while (cursor === undefined) {
          cursorRead ??= readFrontier(db).finally(() => (cursorRead = undefined));
          const read = await cursorRead;
          // Set only if nobody else did meanwhile: a cursor only ever moves forward while someone listens.
          cursor ??= read;
        }
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
      let registered = true;
      const sub: Subscriber = {
        userId,
        last: undefined,
        queue: [],
        catchUp: false,
        cleanup() {
          if (!registered) return;
          registered = false;
          clearTimeout(expiry);
          signal?.removeEventListener("abort", onAbort);
          stats.open--;
          joinedDuringPoll.delete(sub);
          unregister(sub);
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
      let subs = byUser.get(userId);
      if (!subs) byUser.set(userId, (subs = new Set()));
      subs.add(sub);
      if (polling) joinedDuringPoll.add(sub);
      if (!safety) {
        safety = setInterval(pollSoon, pollMs);
        safety.unref();
      }
      const from = lastEventId ? decodePosition(lastEventId) : undefined;
      if (from) {
        sub.last = from;
        sub.catchUp = true;
      } else {
        try {
          // Registered before this read: every change after its frontier reaches the queue.
          sub.last = await readFrontier(db);
        } catch (error) {
          sub.cleanup();
          throw new AppError("liveUpdatesUnavailable", "Live updates are unavailable: the database cannot be read", {
            cause: error,
          });
        }
      }
      return stream(sub, from, Boolean(lastEventId) && !from);
    },
    written(userId) {
      if (byUser.has(userId)) pollSoon();
      if (hinted.size >= MAX_HINTED_USERS) hintsForAll = true;
      else hinted.add(userId);
      void sendHints();
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
      clearTimeout(retry);
      clearTimeout(hintTimer); // what it would have hinted, the other instances' next poll finds
      clearInterval(safety);
      if (soon) clearImmediate(soon);
      for (const sub of everyone()) {
        sub.ending = "now";
        sub.wake?.();
      }
      await listener.stop();
    },
  };
}
