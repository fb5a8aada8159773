/** WEB_CONCURRENCY=2: two worker processes share the port, a dead worker is replaced, SIGTERM stops them all. */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { createServer, type AddressInfo } from "node:net";
import { afterAll, beforeAll, expect, test } from "vitest";
import { projectRoot } from "../../src/project.ts";
import { createTestDatabase, type TestDatabase } from "../support/db.ts";

let database: TestDatabase;
let primary: ChildProcess;
let log = "";
let base: string;

async function freePort(): Promise<number> {
  const server = createServer().listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  server.close();
  return port;
}

async function until(condition: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}; log:\n${log}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

const count = (text: string) => log.split(text).length - 1;
// The primary also runs tsx's esbuild service: only children running the server are workers.
const workers = () =>
  execFileSync("pgrep", ["-P", String(primary.pid), "-f", "src/server.ts"], { encoding: "utf8" })
    .trim()
    .split("\n")
    .map(Number);

beforeAll(async () => {
  database = await createTestDatabase({ migrated: true });
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  primary = spawn(process.execPath, ["--import", "tsx", "src/server.ts"], {
    cwd: projectRoot,
    env: {
      ...process.env,
      NODE_ENV: "test",
      WEB_CONCURRENCY: "2",
      PORT: String(port),
      HOST: "127.0.0.1",
      DATABASE_URL: database.url,
      AUTH_SECRET: "cluster-test-secret-that-is-at-least-32-characters",
      LOG_LEVEL: "info",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  primary.stdout!.on("data", (chunk) => (log += chunk));
  primary.stderr!.on("data", (chunk) => (log += chunk));
  await until(() => count("Todo API on") === 2, "two workers listening");
}, 60_000);

afterAll(async () => {
  if (primary?.exitCode === null) primary.kill("SIGKILL");
  await database?.close();
});

test("two workers serve the same port", async () => {
  expect(workers()).toHaveLength(2);
  const statuses = await Promise.all(Array.from({ length: 20 }, () => fetch(`${base}/readyz`).then((r) => r.status)));
  expect(statuses.every((status) => status === 200)).toBe(true);
});

test("a worker that dies is replaced and the port keeps serving", async () => {
  const [victim] = workers();
  process.kill(victim!, "SIGKILL");
  await until(() => count("a worker died") === 1 && count("Todo API on") === 3, "a replacement worker");
  expect(workers()).toHaveLength(2);
  expect(workers()).not.toContain(victim);
  expect((await fetch(`${base}/healthz`)).status).toBe(200);
});

test("SIGTERM stops every worker and the primary exits 0", async () => {
  const children = workers();
  const exited = once(primary, "exit");
  primary.kill("SIGTERM");
  const [code] = await exited;
  expect(code).toBe(0);
  expect(count('"msg":"stopped"')).toBe(3); // two workers and the primary
  for (const pid of children) expect(() => process.kill(pid, 0)).toThrow();
}, 30_000);
