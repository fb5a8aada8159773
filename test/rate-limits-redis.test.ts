/**
 * REDIS_URL: two server processes on one database and one private redis-server share the per-user and per-IP
 * budgets; Redis down at boot, stalled, or killed under load lets requests through (fail open) with no 5xx and
 * no hang, logs one warning per outage and counts the skipped checks; its return restores the limits.
 * Runs once (unit project): the logic does not depend on the database driver.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { signToken } from "../src/auth/tokens.ts";
import { FAULT_SECRET, spawnServer, type ServerProcess } from "./faults/support/server-process.ts";
import { createTestDatabase, type TestDatabase } from "./support/db.ts";
import { createTestRedis, hasRedis, missingRedis, redisRequired, type TestRedis } from "./support/redis.ts";

const skip = !hasRedis && !redisRequired;
if (skip) console.warn(`Shared rate-limit tests skipped: ${missingRedis}. REQUIRE_REDIS=1 makes this an error.`);

const PER_USER = 40;
const PER_IP = 100;
const TIMEOUT_MS = 200;
const WARNING = "Redis unreachable: rate limits are not enforced until it is back (fail open)";
const RECOVERED = "Redis reachable again: rate limits are enforced";

let database: TestDatabase;
let redis: TestRedis;
let servers: ServerProcess[] = [];

const tokens = new Map<string, Promise<string>>();
const token = (user: string) => {
  if (!tokens.has(user)) tokens.set(user, signToken(FAULT_SECRET, { sub: user }));
  return tokens.get(user)!;
};

interface Answer {
  status: number;
  ms: number;
  retryAfter: string | null;
  code?: string;
}

/** One todo.stats call as `user` from client address `ip` (the servers trust the loopback proxy). */
async function call(server: ServerProcess, user: string, ip: string): Promise<Answer> {
  const started = performance.now();
  // A hang fails the test instead of stalling it.
  const res = await fetch(`${server.trpcUrl}/todo.stats`, {
    headers: { authorization: `Bearer ${await token(user)}`, "x-forwarded-for": ip },
    signal: AbortSignal.timeout(5_000),
  });
  const body = (await res.json()) as { error?: { json: { data: { code: string } } } };
  return { status: res.status, ms: performance.now() - started, retryAfter: res.headers.get("retry-after"), code: body.error?.json.data.code };
}

/** `n` calls one after another, alternating between the two servers. */
async function alternate(n: number, who: (i: number) => { user: string; ip: string }): Promise<Answer[]> {
  const answers: Answer[] = [];
  for (let i = 0; i < n; i++) {
    const { user, ip } = who(i);
    answers.push(await call(servers[i % 2]!, user, ip));
  }
  return answers;
}

const count = (server: ServerProcess, msg: string) => server.logs.filter((line) => line.msg === msg).length;

async function until(condition: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** rate_limit_store_skipped_total of both servers, by limiter. */
async function skipped(): Promise<{ ip: number; user: number }> {
  const total = { ip: 0, user: 0 };
  for (const server of servers) {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    for (const limiter of ["ip", "user"] as const) {
      const match = new RegExp(`^rate_limit_store_skipped_total\\{limiter="${limiter}"\\} (\\d+)`, "m").exec(text);
      total[limiter] += Number(match?.[1] ?? NaN);
    }
  }
  return total;
}

/** A user's budget is shared: 60 calls alternating between the servers are 40 answers and then 20 × 429. */
async function expectSharedUserBudget(user: string, ip: string) {
  const answers = await alternate(60, () => ({ user, ip }));
  expect(answers.slice(0, PER_USER).map((a) => a.status)).toEqual(Array(PER_USER).fill(200));
  const limited = answers.slice(PER_USER);
  expect(limited.map((a) => a.status)).toEqual(Array(60 - PER_USER).fill(429));
  for (const answer of limited) {
    expect(answer.code).toBe("TOO_MANY_REQUESTS");
    expect(Number(answer.retryAfter)).toBeGreaterThan(0);
  }
}

/** An address's budget is shared: PER_IP + 20 requests from ten users (each under its own limit) end in 20 × 429. */
async function expectSharedIpBudget(ip: string) {
  const answers = await alternate(PER_IP + 20, (i) => ({ user: `${ip}-user-${i % 10}`, ip }));
  expect(answers.filter((a) => a.status === 200)).toHaveLength(PER_IP);
  const limited = answers.slice(PER_IP);
  expect(limited.map((a) => a.status)).toEqual(Array(20).fill(429));
  for (const answer of limited) {
    expect(answer.code).toBe("TOO_MANY_REQUESTS");
    expect(Number(answer.retryAfter)).toBeGreaterThan(0);
  }
}

describe.skipIf(skip)("rate limits shared through Redis", () => {
  beforeAll(async () => {
    if (!hasRedis) throw new Error(`REQUIRE_REDIS=1 but ${missingRedis}`);
    redis = await createTestRedis();
    database = await createTestDatabase({ migrated: true });
    const env = {
      DATABASE_URL: database.url,
      DB_DRIVER: "pg",
      REDIS_URL: redis.url,
      REDIS_TIMEOUT_MS: String(TIMEOUT_MS),
      RATE_LIMIT_PER_USER: String(PER_USER),
      RATE_LIMIT_PER_IP: String(PER_IP),
      RATE_LIMIT_WINDOW_MS: "600000",
      // Each scenario below is its own client address.
      TRUST_PROXY: "loopback",
    };
    // Redis is not running yet: start-up must neither fail nor wait for it.
    servers = await Promise.all([spawnServer(env), spawnServer(env)]);
  }, 90_000);

  afterAll(async () => {
    for (const server of servers) if (server.alive()) server.kill("SIGKILL");
    await Promise.all(servers.map((server) => server.exited));
    await redis?.close();
    await database?.close();
  });

  test("Redis down at boot: both servers start and serve unlimited; one warning each; its start is picked up", async () => {
    const answers = await alternate(PER_USER + 10, () => ({ user: "boot-user", ip: "203.0.113.1" }));
    expect(answers.every((a) => a.status === 200)).toBe(true);
    for (const server of servers) {
      expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
      expect(count(server, WARNING)).toBe(1);
    }
    const counted = await skipped();
    expect(counted.ip).toBeGreaterThanOrEqual(PER_USER + 10);
    expect(counted.user).toBeGreaterThanOrEqual(PER_USER + 10);

    await redis.start();
    await until(() => servers.every((server) => count(server, RECOVERED) === 1), "both servers reconnected");
  });

  test(`per user: ${PER_USER} per window across both servers, then 429 with Retry-After`, async () => {
    await expectSharedUserBudget("shared-user", "203.0.113.2");
  });

  test(`per IP: ${PER_IP} requests per window across both servers, then 429 with Retry-After`, async () => {
    await expectSharedIpBudget("203.0.113.3");
  });

  test(`Redis stalled (SIGSTOP): each check waits at most REDIS_TIMEOUT_MS=${TIMEOUT_MS}, then lets the call through`, async () => {
    const before = await skipped();
    redis.pause();
    let answers: Answer[];
    try {
      answers = await alternate(6, (i) => ({ user: `stall-user-${i}`, ip: "203.0.113.4" }));
    } finally {
      redis.resume();
    }
    expect(answers.map((a) => a.status)).toEqual(Array(6).fill(200));
    // Two checks (address, user) of at most TIMEOUT_MS each, plus the call itself on a busy machine.
    for (const answer of answers) expect(answer.ms).toBeLessThan(2 * TIMEOUT_MS + 1_000);
    const after = await skipped();
    expect(after.ip - before.ip).toBe(6);
    expect(after.user - before.user).toBe(6);
    for (const server of servers) expect(count(server, WARNING)).toBe(2);
    // The next check that gets an answer ends the outage.
    await alternate(2, () => ({ user: "after-stall", ip: "203.0.113.5" }));
    for (const server of servers) expect(count(server, RECOVERED)).toBe(2);
  });

  test("Redis killed under load: no 5xx, no hang, every call after the kill answered; then restarted, limits again", async () => {
    const before = await skipped();
    let killedAt = Infinity;
    const answers: (Answer & { startedAt: number })[] = [];
    const stopAt = performance.now() + 2_000;
    const loop = async (i: number) => {
      for (let n = 0; performance.now() < stopAt; n++) {
        const startedAt = performance.now();
        answers.push({ ...(await call(servers[n % 2]!, `load-user-${i}`, `203.0.113.${10 + i}`)), startedAt });
      }
    };
    const load = Promise.all([0, 1, 2, 3, 4, 5].map(loop));
    await new Promise((resolve) => setTimeout(resolve, 700));
    await redis.stop("SIGKILL");
    killedAt = performance.now();
    await load;

    expect(answers.filter((a) => a.status >= 500)).toEqual([]);
    expect(new Set(answers.map((a) => a.status))).toSatisfy((statuses: Set<number>) => [...statuses].every((s) => s === 200 || s === 429));
    const afterKill = answers.filter((a) => a.startedAt > killedAt);
    expect(afterKill.length).toBeGreaterThan(10);
    expect(afterKill.every((a) => a.status === 200)).toBe(true);
    expect(Math.max(...answers.map((a) => a.ms))).toBeLessThan(2_000);
    const after = await skipped();
    expect(after.ip - before.ip).toBeGreaterThanOrEqual(afterKill.length);
    expect(after.user - before.user).toBeGreaterThanOrEqual(afterKill.length);
    for (const server of servers) {
      expect(count(server, WARNING)).toBe(3);
      expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
    }

    // Same port, empty (nothing persisted): both servers reconnect on their own and the budgets are shared again.
    await redis.start();
    await until(() => servers.every((server) => count(server, RECOVERED) === 3), "both servers reconnected");
    await expectSharedUserBudget("user-after-restart", "203.0.113.30");
    await expectSharedIpBudget("203.0.113.31");
  });

  test("SIGTERM: each server closes its Redis connection and stops", async () => {
    for (const server of servers) server.kill("SIGTERM");
    const exits = await Promise.all(servers.map((server) => server.exited));
    expect(exits.map((exit) => exit.code)).toEqual([0, 0]);
    for (const server of servers) expect(count(server, "stopped")).toBe(1);
  });
});
