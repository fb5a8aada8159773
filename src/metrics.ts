/**
 * Prometheus metrics (prom-client), one registry per app. Label values come from fixed sets — procedure paths
 * of the router, a few routes, HTTP statuses, tRPC codes — so a caller cannot grow the number of series.
 */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry, type LabelValues } from "prom-client";
/** What the gauges read at scrape time, from the database pool, the live feed and the user slots. */
export interface PoolStats {
  max: number;
  total: number;
  idle: number;
  waiting: number;
}
export interface ChangeFeedStats {
  open: number;
  listening: boolean;
  sent: Record<string, number>;
  refused: Record<string, number>;
  slow: number;
}
export interface UserSlotStats {
  queued: number;
  refused: number;
  abandoned: number;
  waiting: number;
}

const SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
/** The label for a path that is not one of the router's procedures. */
export const UNKNOWN = "unknown";

export interface Metrics {
  registry: Registry;
  /** The label for a procedure path: itself when the router has it, otherwise "unknown". */
  procedure(path: string | undefined): string;
  /** One tRPC call ended (any outcome), after `seconds`. */
  observeCall(procedure: string, seconds: number): void;
  /** One tRPC call (or a whole request, before any call ran) failed with this code. */
  countError(procedure: string, code: string): void;
  /** One HTTP request was answered. */
  observeRequest(route: string, status: number, seconds: number): void;
  /** One rate-limit check was skipped because its shared store (Redis) did not answer. */
  countSkippedLimit(limiter: "ip" | "user"): void;
}

export function createMetrics(options: {
  procedures: string[];
  poolStats: () => PoolStats | undefined;
  /** Live updates' counts (src/live/feed.ts); undefined when they are off. */
  changeStats?: () => ChangeFeedStats;
  /** Per-user call slots' counts (src/limits/user.ts). */
  slotStats?: () => UserSlotStats;
}): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  const calls = new Histogram({
    name: "trpc_call_duration_seconds",
    help: "tRPC call latency, from the first middleware to the result, by procedure",
    labelNames: ["procedure"],
    buckets: SECONDS,
    registers: [registry],
  });
  const errors = new Counter({
    name: "trpc_errors_total",
    help: "tRPC errors by procedure and code",
    labelNames: ["procedure", "code"],
    registers: [registry],
  });
  const requests = new Histogram({
    name: "http_request_duration_seconds",
    help: "HTTP request latency by route and status",
    labelNames: ["route", "status"],
    buckets: SECONDS,
    registers: [registry],
  });

  const skippedLimits = new Counter({
    name: "rate_limit_store_skipped_total",
    help: "Rate-limit checks Redis did not answer, decided by this process's own count, by limiter",
    labelNames: ["limiter"],
    registers: [registry],
  });
  const skippedChildren = { ip: skippedLimits.labels("ip"), user: skippedLimits.labels("user") };

  // Read at scrape time only: nothing to do per request.
  const pool = (name: string, help: string, pick: (stats: PoolStats) => number) =>
    new Gauge({
      name,
      help,
      registers: [registry],
      collect() {
        const stats = options.poolStats();
        if (stats) this.set(pick(stats));
      },
    });
  pool("db_pool_max_connections", "Database pool size limit (DB_POOL_MAX)", (s) => s.max);
  pool("db_pool_total_connections", "Database connections open", (s) => s.total);
  pool("db_pool_idle_connections", "Database connections open and idle", (s) => s.idle);
  pool("db_pool_waiting_requests", "Queries waiting for a free connection", (s) => s.waiting);

  const changes = options.changeStats;
  if (changes) {
    new Gauge({
      name: "sse_streams_open",
      help: "todo.onChange streams open in this process",
      registers: [registry],
      collect() {
        this.set(changes().open);
      },
    });
    new Gauge({
      name: "sse_listening",
      help: "1 while this process holds a LISTEN session that proved delivery (only while someone subscribes, and a minute after)",
      registers: [registry],
      collect() {
        this.set(changes().listening ? 1 : 0);
      },
    });
    // Kept as plain counts by the feed; copied at scrape time.
    const counter = (name: string, help: string, label: string, read: (s: ChangeFeedStats) => Record<string, number>) =>
      new Counter({
        name,
        help,
        labelNames: [label],
        registers: [registry],
        collect() {
          this.reset();
          for (const [value, count] of Object.entries(read(changes()))) this.inc({ [label]: value }, count);
        },
      });
    counter("sse_events_sent_total", "Events sent to todo.onChange subscribers, by type", "type", (s) => s.sent);
    counter("sse_streams_refused_total", "todo.onChange streams refused, by reason", "reason", (s) => s.refused);
    new Counter({
      name: "sse_streams_slow_total",
      help: "Streams ended because their subscriber fell SSE_QUEUE_MAX events behind",
      registers: [registry],
      collect() {
        this.reset();
        this.inc(changes().slow);
      },
    });
  }

  const slots = options.slotStats;
  if (slots) {
    new Counter({
      name: "db_user_slot_waits_total",
      help: "Calls that found their user's DB_USER_CONCURRENCY slots taken, by outcome (queued, refused: queue full, abandoned: left the queue)",
      labelNames: ["outcome"],
      registers: [registry],
      collect() {
        const { queued, refused, abandoned } = slots();
        this.reset();
        this.inc({ outcome: "queued" }, queued);
        this.inc({ outcome: "refused" }, refused);
        this.inc({ outcome: "abandoned" }, abandoned);
      },
    });
    new Gauge({
      name: "db_user_slot_waiting",
      help: "Calls waiting for their user's slot right now",
      registers: [registry],
      collect() {
        this.set(slots().waiting);
      },
    });
  }

  // Children are resolved once per label set, not on every observation.
  const known = new Set(options.procedures);
  const callChildren = new Map(options.procedures.map((p) => [p, calls.labels(p)]));
  const requestChildren = new Map<string, ReturnType<typeof requests.labels>>();

  return {
    registry,
    procedure: (path) => (path !== undefined && known.has(path) ? path : UNKNOWN),
    observeCall(procedure, seconds) {
      callChildren.get(procedure)?.observe(seconds);
    },
    countError(procedure, code) {
      errors.inc({ procedure, code } satisfies LabelValues<"procedure" | "code">);
    },
    observeRequest(route, status, seconds) {
      const key = `${route} ${status}`;
      let child = requestChildren.get(key);
      if (!child) requestChildren.set(key, (child = requests.labels(route, String(status))));
      child.observe(seconds);
    },
    countSkippedLimit(limiter) {
      skippedChildren[limiter].inc();
    },
  };
}
