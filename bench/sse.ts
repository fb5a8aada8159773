/**
 * The live-updates cell (`npm run bench:sse`, bench/sse-run.ts): subscribers spread over API instances that share one
 * PostgreSQL, writes made through all of them. It measures how long an event takes to reach its subscribers, checks
 * that each arrives exactly once and only for its own user, and reads what an open stream costs each server.
 */
import { performance } from "node:perf_hooks";
import { signToken } from "../src/auth/tokens.ts";
import type { TodoChange } from "../src/live/events.ts";
import { liveClient } from "../tools/live-client.ts";
import { seededRandom } from "../tools/random.ts";
import { percentile } from "./load.ts";

export interface SseCellOptions {
  /** Base URLs of the running instances (each one process: /metrics is that process). */
  instances: string[];
  authSecret: string;
  subscribers: number;
  /** Subscribers are dealt to users in turn, so each user has several, on every instance. */
  users: number;
  writes: number;
  /** Writes started per second, each user's in order; users' writes overlap. */
  rate: number;
  /**
   * Idle streams opened on each instance to measure memory: opened once to warm up, closed, then opened again between
   * two readings. Many streams, so that garbage collection's noise is small beside them.
   */
  memoryStreams: number;
  /** User ids start with it, so runs on one database do not mix. */
  prefix?: string;
  seed?: number;
  log?: (line: string) => void;
}

export interface Distribution {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

export interface SseCellResult {
  instances: number;
  subscribers: number;
  users: number;
  writes: number;
  /** Events the writes should have caused: each write once per subscriber of its user. */
  expected: number;
  received: number;
  /** Expected events that never came (a `changed` received after the write counts as delivery: it says refetch). */
  missing: number;
  /** The same tracked event id twice on one stream. */
  duplicates: number;
  /** Events about another user's todos: must be 0. */
  foreign: number;
  /** `changed` events (a missed notification, a slow subscriber): 0 in a healthy run. */
  changed: number;
  /** Writes that failed and streams that ended in an error. */
  failures: number;
  /** ms from the row's write (its updatedAt, stamped by the writing server just before the statement) to receipt. */
  commitToEvent: Distribution;
  /** ms from sending the write to receiving its event, for every event type. */
  sendToEvent: Distribution;
  /** ms from sending a write to its answer. */
  writeAnswer: Distribution;
  /** Growth of a server's memory per open stream (`memoryStreams` of them), from its /metrics. */
  perStream: { streams: number; rssBytes: number; heapBytes: number };
}

interface Received {
  eventId: string;
  data: TodoChange;
  at: number;
}

interface Write {
  user: string;
  type: "created" | "updated" | "deleted";
  id: string;
  version: number;
  sentAt: number;
}

const now = () => performance.timeOrigin + performance.now();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function distribution(values: number[]): Distribution {
  const sorted = Float64Array.from(values).sort();
  const round = (n: number) => Math.round(n * 10) / 10;
  return {
    count: sorted.length,
    p50: round(percentile(sorted, 0.5)),
    p99: round(percentile(sorted, 0.99)),
    max: round(sorted.at(-1) ?? 0),
  };
}

/** One Prometheus sample (no labels) from /metrics. */
async function metric(url: string, name: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  if (!line) throw new Error(`${url}/metrics has no ${name}`);
  return Number(line.slice(name.length + 1));
}

/** The median of three readings of RSS and V8 heap in use, a moment apart (garbage collection makes single readings jump). */
async function memory(url: string): Promise<{ rss: number; heap: number }> {
  const readings: Array<{ rss: number; heap: number }> = [];
  for (let i = 0; i < 3; i++) {
    readings.push({
      rss: await metric(url, "process_resident_memory_bytes"),
      heap: await metric(url, "nodejs_heap_size_used_bytes"),
    });
    await sleep(300);
  }
  const median = (key: "rss" | "heap") => readings.map((r) => r[key]).sort((a, b) => a - b)[1]!;
  return { rss: median("rss"), heap: median("heap") };
}

async function until(ready: () => boolean | Promise<boolean>, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await ready())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(50);
  }
}

export async function runSseCell(options: SseCellOptions): Promise<SseCellResult> {
  const { instances, subscribers, writes, rate } = options;
  const log = options.log ?? (() => {});
  const prefix = options.prefix ?? `sse-${Date.now().toString(36)}`;
  const random = seededRandom(options.seed ?? 1);
  const users = Array.from({ length: options.users }, (_, i) => `${prefix}-u${i}`);
  const clients = new Map(await Promise.all(users.map(async (u) => [u, await clientsOf(options, u)] as const)));

  const perStream = await memoryPerStream(options, prefix);
  log(`sse: memory per stream measured over ${options.memoryStreams} streams per instance`);

  // Subscriber k belongs to user k mod U, on instance ⌊k / U⌋ mod N: each user has subscribers on every instance.
  const streams = await openStreams(
    Array.from({ length: subscribers }, (_, k) => {
      const user = users[k % users.length]!;
      const instance = Math.floor(k / users.length) % instances.length;
      return { client: clients.get(user)![instance]!, user, instance };
    }),
  );
  await streamsOpen(instances, (i) => streams.filter((s) => s.instance === i).length);
  log(`sse: ${subscribers} streams open over ${instances.length} instances; writing ${writes} at ${rate}/s`);

  // Each user's writes run in order (an update follows its create); users' writes overlap.
  const todos = new Map(users.map((u) => [u, [] as Array<{ id: string; version: number }>]));
  const chains = new Map(users.map((u) => [u, Promise.resolve()]));
  const done: Write[] = [];
  const answers: number[] = [];
  let failures = 0;
  const start = now();
  for (let i = 0; i < writes; i++) {
    const wait = start + (i * 1000) / rate - now();
    if (wait > 0) await sleep(wait);
    const user = users[i % users.length]!;
    const client = clients.get(user)![i % instances.length]!;
    const pick = random();
    const write = async () => {
      const mine = todos.get(user)!;
      const sentAt = now();
      if (mine.length === 0 || pick < 0.4) {
        const todo = await client.todo.create.mutate({ title: `w${i}` });
        mine.push({ id: todo.id, version: todo.version });
        done.push({ user, type: "created", id: todo.id, version: todo.version, sentAt });
      } else if (pick < 0.8) {
        const target = mine[Math.floor(random() * mine.length)]!;
        const todo = await client.todo.update.mutate({ id: target.id, title: `w${i}` });
        target.version = todo.version;
        done.push({ user, type: "updated", id: todo.id, version: todo.version, sentAt });
      } else {
        const [target] = mine.splice(Math.floor(random() * mine.length), 1);
        await client.todo.delete.mutate({ id: target!.id });
        done.push({ user, type: "deleted", id: target!.id, version: target!.version, sentAt });
      }
      answers.push(now() - sentAt);
    };
    chains.set(
      user,
      chains
        .get(user)!
        .then(write)
        .catch(() => void failures++),
    );
  }
  await Promise.all(chains.values());

  const subscribersOf = new Map(users.map((u) => [u, streams.filter((s) => s.user === u)]));
  const expected = done.reduce((sum, w) => sum + subscribersOf.get(w.user)!.length, 0);
  // The event that delivers a write to a stream: its own, one carrying a later version of the row (read after a
  // further write), the row's `deleted` (it was gone when read), or a `changed` received after the write was sent.
  const delivery = (received: Received[], w: Write) =>
    received.find((r) =>
      r.data.type === "changed"
        ? r.at >= w.sentAt
        : r.data.type === "deleted"
          ? r.data.id === w.id
          : w.type !== "deleted" && r.data.todo.id === w.id && r.data.todo.version >= w.version,
    );
  // Each write's delivery on each stream of its user, undefined while it has not come.
  const deliveries = () =>
    done.flatMap((w) => subscribersOf.get(w.user)!.map((s) => ({ w, r: delivery(s.received, w) })));
  await until(() => deliveries().every((d) => d.r), 10_000, "every event").catch((error: Error) =>
    log(`sse: ${error.message}`),
  );
  const delivered = deliveries().filter((d) => d.r !== undefined);

  const idsOf = new Map(users.map((u) => [u, new Set(done.filter((w) => w.user === u).map((w) => w.id))]));
  let duplicates = 0;
  let foreign = 0;
  let changed = 0;
  const commitToEvent: number[] = [];
  for (const stream of streams) {
    const seen = new Set<string>();
    for (const r of stream.received) {
      if (seen.has(r.eventId)) duplicates++;
      seen.add(r.eventId);
      if (r.data.type === "changed") changed++;
      else if (r.data.type === "deleted") foreign += idsOf.get(stream.user)!.has(r.data.id) ? 0 : 1;
      else {
        if (r.data.todo.userId !== stream.user) foreign++;
        commitToEvent.push(r.at - r.data.todo.updatedAt.getTime());
      }
    }
  }
  const sendToEvent = delivered.map(({ w, r }) => r!.at - w.sentAt);
  const result: SseCellResult = {
    instances: instances.length,
    subscribers,
    users: users.length,
    writes,
    expected,
    received: streams.reduce((sum, s) => sum + s.received.length, 0),
    missing: expected - delivered.length,
    duplicates,
    foreign,
    changed,
    failures: failures + streams.reduce((sum, s) => sum + s.errors.length, 0),
    commitToEvent: distribution(commitToEvent),
    sendToEvent: distribution(sendToEvent),
    writeAnswer: distribution(answers),
    perStream,
  };
  streams.forEach((s) => s.subscription.unsubscribe());
  await streamsOpen(instances, () => 0).catch((error: Error) => log(`sse: ${error.message}`));
  return result;
}

type Client = ReturnType<typeof liveClient>;

/** A user's client on each instance. */
async function clientsOf({ instances, authSecret }: SseCellOptions, user: string): Promise<Client[]> {
  const authorization = `Bearer ${await signToken(authSecret, { sub: user }, { expiresIn: "1h" })}`;
  return instances.map((url) => liveClient(`${url}/trpc`, authorization));
}

interface Stream {
  user: string;
  instance: number;
  received: Received[];
  errors: unknown[];
  subscription: { unsubscribe(): void };
}

/** Opens one subscription per spec; resolves when every one has started. */
async function openStreams(specs: Array<{ client: Client; user: string; instance: number }>): Promise<Stream[]> {
  const opened: Array<Promise<void>> = [];
  const streams = specs.map(({ client, user, instance }): Stream => {
    const received: Received[] = [];
    const errors: unknown[] = [];
    let started!: () => void;
    opened.push(new Promise<void>((resolve) => (started = resolve)));
    const subscription = client.todo.onChange.subscribe(undefined, {
      onStarted: () => started(),
      onData: ({ id, data }) => received.push({ eventId: id, data, at: now() }),
      onError: (error) => errors.push(error),
    });
    return { user, instance, received, errors, subscription };
  });
  await Promise.all(opened);
  return streams;
}

/** Waits until each instance's sse_streams_open reads `count(instance)`. */
async function streamsOpen(instances: string[], count: (instance: number) => number): Promise<void> {
  const counted = async () =>
    (await Promise.all(instances.map((url, i) => metric(url, "sse_streams_open").then((v) => v === count(i))))).every(
      Boolean,
    );
  await until(counted, 30_000, "the servers' count of open streams");
}

async function memoryPerStream(options: SseCellOptions, prefix: string): Promise<SseCellResult["perStream"]> {
  const { instances, memoryStreams } = options;
  const perUser = 8; // under SSE_MAX_STREAMS_PER_USER's default
  const users = Array.from({ length: Math.ceil(memoryStreams / perUser) }, (_, i) => `${prefix}-m${i}`);
  const clients = await Promise.all(users.map((u) => clientsOf(options, u)));
  const specs = instances.flatMap((_, instance) =>
    Array.from({ length: memoryStreams }, (_, k) => ({
      client: clients[Math.floor(k / perUser)]![instance]!,
      user: users[Math.floor(k / perUser)]!,
      instance,
    })),
  );
  const cycle = async () => {
    const streams = await openStreams(specs);
    await streamsOpen(instances, () => memoryStreams);
    return streams;
  };
  const closeAll = async (streams: Stream[]) => {
    streams.forEach((s) => s.subscription.unsubscribe());
    await streamsOpen(instances, () => 0);
  };
  // The first round warms what a stream touches (the LISTEN session, JIT-compiled code, socket buffers).
  await closeAll(await cycle());
  const before = await Promise.all(instances.map(memory));
  const streams = await cycle();
  const after = await Promise.all(instances.map(memory));
  await closeAll(streams);
  const growth = (key: "rss" | "heap") =>
    Math.round(before.reduce((sum, b, i) => sum + (after[i]![key] - b[key]), 0) / (memoryStreams * instances.length));
  return { streams: memoryStreams, rssBytes: growth("rss"), heapBytes: growth("heap") };
}

/** The result as a Markdown table. */
export function sseMarkdown(r: SseCellResult): string {
  const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
  const ms = (d: Distribution) => `${d.p50} / ${d.p99} / ${d.max}`;
  return [
    `${r.subscribers} subscribers (${r.users} users) over ${r.instances} instances, ${r.writes} writes`,
    "",
    "| measure | value |",
    "|---|---:|",
    `| write → event received, ms (p50 / p99 / max; from the row's updatedAt, ${r.commitToEvent.count} events) | ${ms(r.commitToEvent)} |`,
    `| write sent → event received, ms (p50 / p99 / max; ${r.sendToEvent.count} events) | ${ms(r.sendToEvent)} |`,
    `| write sent → its answer, ms (p50 / p99 / max) | ${ms(r.writeAnswer)} |`,
    `| events expected / received | ${r.expected} / ${r.received} |`,
    `| missing / duplicate / another user's / changed | ${r.missing} / ${r.duplicates} / ${r.foreign} / ${r.changed} |`,
    `| failed writes or streams | ${r.failures} |`,
    `| server memory per open stream: RSS / V8 heap (${r.perStream.streams} idle streams per instance) | ${kb(r.perStream.rssBytes)} / ${kb(r.perStream.heapBytes)} |`,
  ].join("\n");
}
