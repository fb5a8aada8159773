/**
 * REDIS_URL: two server processes on one database and one private redis-server share the per-user and per-IP
 * budgets. Redis down at boot, stalled, or killed under load fails open for the shared part only: each process
 * still enforces its own budgets (tRPC and REST), with no 5xx and no hang; one warning per outage, the skipped
 * checks counted; its return makes the budgets shared again.
 * Runs once (unit project): the logic does not depend on the database driver.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { signToken } from "../../src/auth/tokens.ts";
import { FAULT_SECRET, spawnServer, type ServerProcess } from "../faults/support/server-process.ts";
import { createTestDatabase, type TestDatabase } from "../support/db.ts";
import { createTestRedis, hasRedis, missingRedis, redisRequired, type TestRedis } from "../support/redis.ts";

const skip = !hasRedis && !redisRequired;
if (skip) console.warn(`Shared rate-limit tests skipped: ${missingRedis}. REQUIRE_REDIS=1 makes this an error.`);

// Small budgets: a stalled Redis costs every check REDIS_TIMEOUT_MS.
const PER_USER = 5;
const PER_IP = 12;
const TIMEOUT_MS = 200;
const WARNING = "Redis unreachable: rate limits are enforced per process until it is back (not shared)";
const RECOVERED = "Redis reachable again: rate limits are shared again";

let database: TestDatabase;
let redis: TestRedis;
let servers: ServerProcess[] = [];

const tokens = new Map<string, Promise<string>>();
const token = (user: string) => {
  if (!tokens.has(user)) tokens.set(user, signToken(FAULT_SECRET, { sub: user }));
  return tokens.get(user)!;
};

type Surface = "trpc" | "rest";

interface Answer {
  status: number;
  ms: number;
  retryAfter: string | null;
  code?: string;
}

/** One stats call (todo.stats or GET /api/todos/stats) as `user` from client address `ip` (the servers trust the loopback proxy). */
async function call(server: ServerProcess, user: string, ip: string, surface: Surface = "trpc"): Promise<Answer> {
  const started = performance.now();
  // A hang fails the test instead of stalling it.
  const res = await fetch(surface === "trpc" ? `${server.trpcUrl}/todo.stats` : `${server.url}/api/todos/stats`, {
    headers: { authorization: `Bearer ${await token(user)}`, "x-forwarded-for": ip },
    signal: AbortSignal.timeout(5_000),
  });
  const body = (await res.json()) as { error?: { json: { data: { code: string } } }; code?: string };
  const code = res.ok ? undefined : surface === "trpc" ? body.error?.json.data.code : body.code;
  return { status: res.status, ms: performance.now() - started, retryAfter: res.headers.get("retry-after"), code };
}

/** `n` calls one after another, alternating between the two servers, and on each between tRPC and REST. */
async function alternate(n: number, who: (i: number) => { user: string; ip: string }): Promise<Answer[]> {
  const answers: Answer[] = [];
  for (let i = 0; i < n; i++) {
    const { user, ip } = who(i);
    answers.push(await call(servers[i % 2]!, user, ip, Math.floor(i / 2) % 2 ? "rest" : "trpc"));
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

type Limit = "user" | "ip";
const budget = (limit: Limit) => (limit === "user" ? PER_USER : PER_IP);
/** One user from `ip`, or (for the address limit) ten users from `ip`, each under its own limit. */
const caller = (limit: Limit, ip: string) => (i: number) => ({
  user: limit === "user" ? `user-${ip}` : `user-${ip}-${i % 10}`,
  ip,
});

/** The first `allowed` answers are 200, the rest 429 TOO_MANY_REQUESTS with Retry-After. */
function expectLimitedAfter(answers: Answer[], allowed: number) {
  expect(answers.slice(0, allowed).map((a) => a.status)).toEqual(Array(allowed).fill(200));
  const limited = answers.slice(allowed);
  expect(limited.map((a) => a.status)).toEqual(Array(limited.length).fill(429));
  for (const answer of limited) {
    expect(answer.code).toBe("TOO_MANY_REQUESTS");
    expect(Number(answer.retryAfter)).toBeGreaterThan(0);
  }
}

/** Both servers draw on one budget: budget + 4 calls alternating between them end in 4 × 429. */
async function expectSharedBudget(limit: Limit, ip: string) {
  expectLimitedAfter(await alternate(budget(limit) + 4, caller(limit, ip)), budget(limit));
}

/** Each server keeps its own budget: budget + 2 calls to each end in 2 × 429 on each. */
async function expectOwnBudgets(limit: Limit, ip: string) {
  const answers = await alternate(2 * (budget(limit) + 2), caller(limit, ip));
  for (const server of [0, 1])
    expectLimitedAfter(
      answers.filter((_, i) => i % 2 === server),
      budget(limit),
    );
}

/** Checks expectOwnBudgets("user") then ("ip") make: every call checks its address, those let through their user. */
const OWN_CHECKS = { ip: 2 * (PER_USER + 2) + 2 * (PER_IP + 2), user: 2 * (PER_USER + 2) + 2 * PER_IP };

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

  test("Redis down at boot: both servers start, each enforces its own budgets; one warning each; its start is picked up", async () => {
    await expectOwnBudgets("user", "203.0.113.1");
    await expectOwnBudgets("ip", "203.0.113.2");
    for (const server of servers) {
      expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
      expect(count(server, WARNING)).toBe(1);
    }
    expect(await skipped()).toEqual(OWN_CHECKS);

    await redis.start();
    await until(() => servers.every((server) => count(server, RECOVERED) === 1), "both servers reconnected");
  });

  test(`per user: ${PER_USER} per window across both servers, then 429 with Retry-After`, async () => {
    await expectSharedBudget("user", "203.0.113.3");
  });

  test(`per IP: ${PER_IP} requests per window across both servers, then 429 with Retry-After`, async () => {
    await expectSharedBudget("ip", "203.0.113.4");
  });

  test(`Redis stalled (SIGSTOP): checks time out after REDIS_TIMEOUT_MS=${TIMEOUT_MS}, each server enforces its own budgets; after SIGCONT they are shared again`, async () => {
    // Spent on server 0 while Redis answers: its own count is warm when Redis stalls mid-window.
    const warm = { user: "user-warm", ip: "203.0.113.5" };
    for (let i = 0; i < PER_USER; i++) expect((await call(servers[0]!, warm.user, warm.ip)).status).toBe(200);
    const before = await skipped();
    redis.pause();
    let spent: Answer[];
    try {
      spent = [
        await call(servers[0]!, warm.user, warm.ip, "rest"),
        await call(servers[1]!, warm.user, warm.ip, "rest"),
      ];
      await expectOwnBudgets("user", "203.0.113.6");
      await expectOwnBudgets("ip", "203.0.113.7");
    } finally {
      redis.resume();
    }
    // Over its budget on server 0 (Retry-After from that server's window); server 1 had not counted it yet.
    expect(spent.map((a) => [a.status, a.code])).toEqual([
      [429, "TOO_MANY_REQUESTS"],
      [200, undefined],
    ]);
    expect(Number(spent[0]!.retryAfter)).toBeGreaterThan(0);
    const after = await skipped();
    expect({ ip: after.ip - before.ip, user: after.user - before.user }).toEqual({
      ip: OWN_CHECKS.ip + 2,
      user: OWN_CHECKS.user + 2,
    });
    for (const server of servers) expect(count(server, WARNING)).toBe(2);

    // The next check that gets an answer ends the outage; the budgets are shared again.
    await alternate(2, caller("user", "203.0.113.8"));
    for (const server of servers) expect(count(server, RECOVERED)).toBe(2);
    await expectSharedBudget("user", "203.0.113.9");
    await expectSharedBudget("ip", "203.0.113.10");
  }, 90_000);

  test("Redis killed under load: no 5xx, no hang; then each server enforces its own budgets; restarted, shared again", async () => {
    const before = await skipped();
    let killedAt = Infinity;
    const answers: (Answer & { startedAt: number })[] = [];
    const stopAt = performance.now() + 2_000;
    // A fresh address for every call: each reaches its user's check.
    const loop = async (i: number) => {
      for (let n = 0; performance.now() < stopAt; n++) {
        const startedAt = performance.now();
        answers.push({ ...(await call(servers[n % 2]!, `load-user-${i}`, `10.${i}.${n >> 8}.${n & 255}`)), startedAt });
      }
    };
    const load = Promise.all([0, 1, 2, 3, 4, 5].map(loop));
    await new Promise((resolve) => setTimeout(resolve, 700));
    await redis.stop("SIGKILL");
    killedAt = performance.now();
    await load;

    expect(answers.filter((a) => a.status >= 500)).toEqual([]);
    expect(new Set(answers.map((a) => a.status))).toSatisfy((statuses: Set<number>) =>
      [...statuses].every((s) => s === 200 || s === 429),
    );
    const afterKill = answers.filter((a) => a.startedAt > killedAt);
    expect(afterKill.length).toBeGreaterThan(10);
    expect(Math.max(...answers.map((a) => a.ms))).toBeLessThan(2_000);
    const after = await skipped();
    expect(after.ip - before.ip).toBeGreaterThanOrEqual(afterKill.length);
    expect(after.user - before.user).toBeGreaterThanOrEqual(afterKill.length);
    for (const server of servers) {
      expect(count(server, WARNING)).toBe(3);
      expect((await fetch(`${server.url}/readyz`)).status).toBe(200);
    }
    await expectOwnBudgets("user", "203.0.113.20");
    await expectOwnBudgets("ip", "203.0.113.21");

    // Same port, empty (nothing persisted): both servers reconnect on their own and the budgets are shared again.
    await redis.start();
    await until(() => servers.every((server) => count(server, RECOVERED) === 3), "both servers reconnected");
    await expectSharedBudget("user", "203.0.113.30");
    await expectSharedBudget("ip", "203.0.113.31");
  });

  test("SIGTERM: each server closes its Redis connection and stops", async () => {
    for (const server of servers) server.kill("SIGTERM");
    const exits = await Promise.all(servers.map((server) => server.exited));
    expect(exits.map((exit) => exit.code)).toEqual([0, 0]);
    for (const server of servers) expect(count(server, "stopped")).toBe(1);
  });
});
