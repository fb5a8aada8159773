/**
 * Soak: starts the API as a child process and drives a mixed load at a fixed concurrency for a while.
 * Passes (exit 0) when no request failed, the server logged no error, and the server's RSS at the end is
 * within 10 % of its RSS after the warm-up (the first minute, or the first third of a shorter run).
 *
 *   npm run soak                       # 5 minutes at concurrency 32
 *   npm run soak -- --duration 30s     # shorter (CI)
 *
 * DATABASE_URL set: migrations are applied to it and the server uses it (DB_DRIVER picks the driver; unset, the
 * server's default: neon for a Neon host, pg for any other).
 * Unset: the server runs on a fresh embedded PGlite in a temporary folder (its memory counts in the RSS).
 */
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { createTRPCClient, httpLink, TRPCClientError, type TRPCClient } from "@trpc/client";
import { signToken } from "../src/auth/tokens.ts";
import { ConfigError, parseConfig } from "../src/config.ts";
import { loadEnvFile, projectRoot } from "../src/project.ts";
import { rssOf } from "../bench/proc.ts";
import { freePort } from "../bench/processes.ts";
import { deployMigrations } from "../src/db/migrations.ts";
import type { AppRouter } from "../src/trpc/routers/_app.ts";
import { transformer } from "../src/trpc/transformer.ts";
import { seededRandom } from "../tools/random.ts";

const USAGE = "usage: npm run soak -- [--duration 5m] [--concurrency 32] [--warmup 1m] [--max-rss-growth 10]";

function parseDuration(name: string, text: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!match) {
    console.error(`--${name} must look like 300, 30s, 5m or 1h (got ${JSON.stringify(text)})\n${USAGE}`);
    process.exit(2);
  }
  const unit = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 }[(match[2] ?? "s") as "ms" | "s" | "m" | "h"];
  return Number(match[1]) * unit;
}

function positiveInt(name: string, text: string): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`--${name} must be a positive integer (got ${JSON.stringify(text)})\n${USAGE}`);
    process.exit(2);
  }
  return n;
}

const { values: args } = parseArgs({
  options: {
    duration: { type: "string", default: "5m" },
    concurrency: { type: "string", default: "32" },
    warmup: { type: "string" },
    "max-rss-growth": { type: "string", default: "10" },
    help: { type: "boolean", default: false },
  },
});
if (args.help) {
  console.log(USAGE);
  process.exit(0);
}
const durationMs = parseDuration("duration", args.duration);
const concurrency = positiveInt("concurrency", args.concurrency);
const warmupMs = args.warmup ? parseDuration("warmup", args.warmup) : Math.min(60_000, durationMs / 3);
const maxGrowth = Number(args["max-rss-growth"]) / 100;
if (warmupMs >= durationMs) {
  console.error(`--warmup must be shorter than --duration\n${USAGE}`);
  process.exit(2);
}

loadEnvFile();
const databaseUrl = process.env.DATABASE_URL?.trim() || undefined;
// The server's own default unless DB_DRIVER says otherwise (auto: neon for a Neon host, pg for any other).
let driver: "neon" | "pg";
try {
  driver = parseConfig({ DATABASE_URL: databaseUrl, DB_DRIVER: process.env.DB_DRIVER }).db.driver;
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(error.message);
  process.exit(2);
}

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(1)} MiB`;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

// --- the server under test
const secret = randomBytes(32).toString("base64url");
const port = await freePort();
const dataDir = databaseUrl ? undefined : await mkdtemp(path.join(os.tmpdir(), "todo-soak-"));
if (databaseUrl) await deployMigrations(databaseUrl);

const child = spawn(process.execPath, ["--import", "tsx", path.join("src", "server.ts")], {
  cwd: projectRoot,
  env: {
    ...process.env,
    // Production settings (hidden error messages); the embedded fallback is refused in production.
    NODE_ENV: databaseUrl ? "production" : "test",
    HOST: "127.0.0.1",
    PORT: String(port),
    LOG_LEVEL: process.env.LOG_LEVEL ?? "warn",
    AUTH_SECRET: secret,
    AUTH_JWKS_URL: "",
    // The soak's load comes from one address, far above the default per-address and per-user limits.
    RATE_LIMIT_PER_IP: "0",
    RATE_LIMIT_PER_USER: "0",
    DB_DRIVER: driver,
    ...(databaseUrl
      ? { DATABASE_URL: databaseUrl }
      : { DATABASE_URL: "", PGLITE_DATA_DIR: path.join(dataDir!, "pglite") }),
  },
  stdio: ["ignore", "pipe", "inherit"],
});
let serverErrors = 0;
createInterface({ input: child.stdout }).on("line", (line) => {
  // Server log lines at error level or above are failures too; show them.
  try {
    if ((JSON.parse(line) as { level?: number }).level! >= 50) {
      serverErrors++;
      if (serverErrors <= 5) console.error(`server: ${line.slice(0, 500)}`);
    }
  } catch {
    console.error(`server: ${line}`);
  }
});
let exited = false;
child.once("exit", (code, signal) => {
  exited = true;
  if (!stopping) console.error(`the server exited during the soak (code ${code}, signal ${signal})`);
});
let stopping = false;
async function stopServer() {
  stopping = true;
  if (!exited) {
    child.kill("SIGTERM");
    await new Promise((resolve) => child.once("exit", resolve));
  }
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
}

const base = `http://127.0.0.1:${port}`;
const readyBy = Date.now() + 120_000;
for (;;) {
  if (exited) process.exit(1);
  const ready = await fetch(`${base}/readyz`).then(
    (r) => r.ok,
    () => false,
  );
  if (ready) break;
  if (Date.now() > readyBy) {
    console.error("the server did not become ready within 120 s");
    await stopServer();
    process.exit(1);
  }
  await sleep(250);
}

// --- the load
type Client = TRPCClient<AppRouter>;
const run = randomBytes(4).toString("hex");
async function clientFor(userId: string): Promise<Client> {
  const token = await signToken(secret, { sub: userId }, { expiresIn: "24h" });
  return createTRPCClient<AppRouter>({
    links: [
      httpLink({
        url: `${base}/trpc`,
        transformer,
        headers: { authorization: `Bearer ${token}` },
        fetch: (url: string | URL, init) =>
          fetch(url, { ...(init as RequestInit), signal: AbortSignal.timeout(30_000) }),
      }),
    ],
  });
}

const counts = new Map<string, number>();
const errors = new Map<string, number>();
let total = 0;
let failed = 0;
const record = (op: string, error?: unknown) => {
  total++;
  counts.set(op, (counts.get(op) ?? 0) + 1);
  if (error === undefined) return;
  failed++;
  const code =
    error instanceof TRPCClientError
      ? String((error.data as { code?: string } | undefined)?.code ?? error.message)
      : // eslint-disable-next-line @typescript-eslint/no-base-to-string -- whatever was thrown, as one word for the tally
        String(error);
  const key = `${op}: ${code}`;
  errors.set(key, (errors.get(key) ?? 0) + 1);
  if (failed <= 5) console.error(`request failed — ${key}`);
};

const orders = ["createdAt", "updatedAt", "dueAt", "priority", "title"] as const;
const statuses = ["all", "active", "completed"] as const;
const deadline = Date.now() + durationMs;

async function worker(index: number) {
  const client = await clientFor(`soak-${run}-${index}`);
  const rand = seededRandom(index + 1); // the same mix on every run
  const todos: { id: string; version: number; completed: boolean }[] = [];
  let seq = 0;
  const pick = () => todos[Math.floor(rand() * todos.length)]!;
  while (Date.now() < deadline) {
    const r = rand();
    let op = "";
    try {
      if (todos.length === 0 || (r < 0.25 && todos.length < 50)) {
        op = "create";
        const dueAt = rand() < 0.5 ? new Date(Date.now() + Math.floor(rand() * 30) * 86_400_000) : undefined;
        const todo = await client.todo.create.mutate({
          title: `soak ${index}.${seq++}`,
          priority: rand() < 0.3 ? "HIGH" : "MEDIUM",
          dueAt,
        });
        todos.push({ id: todo.id, version: todo.version, completed: todo.completed });
      } else if (r < 0.5) {
        op = "list";
        const query = {
          status: statuses[Math.floor(rand() * statuses.length)],
          orderBy: orders[Math.floor(rand() * orders.length)],
          order: rand() < 0.5 ? ("asc" as const) : ("desc" as const),
          limit: 20,
          ...(rand() < 0.2 ? { search: "soak" } : {}),
        };
        const page = await client.todo.list.query(query);
        if (page.nextCursor && rand() < 0.3) {
          op = "list (next page)";
          await client.todo.list.query({ ...query, cursor: page.nextCursor });
        }
      } else if (r < 0.65) {
        op = "byId";
        await client.todo.byId.query({ id: pick().id });
      } else if (r < 0.8) {
        op = "update";
        const todo = pick();
        const updated = await client.todo.update.mutate({
          id: todo.id,
          expectedVersion: todo.version,
          completed: !todo.completed,
        });
        todo.version = updated.version;
        todo.completed = updated.completed;
      } else if (r < 0.9) {
        op = "stats";
        await client.todo.stats.query();
      } else {
        op = "delete";
        const todo = todos.splice(Math.floor(rand() * todos.length), 1)[0]!;
        await client.todo.delete.mutate({ id: todo.id });
      }
      record(op);
    } catch (error) {
      record(op, error);
    }
  }
}

// --- memory samples and progress
const samples: { at: number; rss: number }[] = [];
const startedAt = Date.now();
const sampler = setInterval(() => {
  if (!exited) samples.push({ at: Date.now() - startedAt, rss: rssOf(child.pid!) });
}, 250);
let lastTotal = 0;
const progress = setInterval(() => {
  const elapsed = Math.round((Date.now() - startedAt) / 1000);
  const rss = samples.at(-1)?.rss ?? NaN;
  console.log(
    `${elapsed}s  requests ${total} (+${((total - lastTotal) / 10).toFixed(0)}/s)  errors ${failed}  server RSS ${mib(rss)}`,
  );
  lastTotal = total;
}, 10_000);

console.log(
  `soak: ${concurrency} clients for ${durationMs / 1000}s against ${databaseUrl ? `DATABASE_URL (driver ${driver})` : "an embedded PGlite"}; ` +
    `RSS compared at ${warmupMs / 1000}s and at the end`,
);
await Promise.all(Array.from({ length: concurrency }, (_, i) => worker(i)));
clearInterval(progress);
clearInterval(sampler);
samples.push({ at: Date.now() - startedAt, rss: exited ? NaN : rssOf(child.pid!) });
const died = exited;
await stopServer();

// RSS swings by tens of MiB between garbage collections: "after the warm-up" and "at the end" are each
// the mean of the samples in a window up to the mark (30 s in a 5-minute run, 5 s in a 30-second one).
const windowMs = Math.max(5_000, Math.min(30_000, durationMs / 10));
const around = (mark: number) => {
  const near = samples.filter((s) => s.at <= mark && s.at > mark - windowMs);
  return near.reduce((sum, s) => sum + s.rss, 0) / near.length;
};
const rssWarm = around(warmupMs);
const rssEnd = around(samples.at(-1)!.at);
const growth = rssEnd / rssWarm - 1;
const elapsedS = (Date.now() - startedAt) / 1000;

console.log(
  `\nrequests   ${total} in ${elapsedS.toFixed(0)}s (${(total / elapsedS).toFixed(0)}/s), by operation: ${JSON.stringify(Object.fromEntries(counts))}`,
);
console.log(
  `errors     ${failed}${failed ? ` ${JSON.stringify(Object.fromEntries(errors))}` : ""}; server error logs ${serverErrors}`,
);
console.log(
  `server RSS ${mib(rssWarm)} at ${warmupMs / 1000}s, ${mib(rssEnd)} at the end, means over ${windowMs / 1000}s (${growth >= 0 ? "+" : ""}${(growth * 100).toFixed(1)} %, limit ${(maxGrowth * 100).toFixed(0)} %)`,
);

const problems = [
  died && "the server process died",
  failed > 0 && `${failed} requests failed`,
  serverErrors > 0 && `the server logged ${serverErrors} errors`,
  !(growth <= maxGrowth) && `RSS grew ${(growth * 100).toFixed(1)} %`,
].filter(Boolean);
console.log(problems.length ? `SOAK FAILED: ${problems.join("; ")}` : "SOAK PASSED");
process.exit(problems.length ? 1 : 0);
