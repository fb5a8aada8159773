/**
 * A private redis-server for a test file, on a free port of its own — never the shared one on 6379. Nothing is
 * persisted, so a restart on the same port starts empty. Tests skip without /usr/bin/redis-server unless
 * REQUIRE_REDIS=1 (CI), where that is a failure.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer, type AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";

export const REDIS_SERVER = "/usr/bin/redis-server";
export const redisRequired = process.env.REQUIRE_REDIS === "1";
export const hasRedis = existsSync(REDIS_SERVER);
export const missingRedis = `${REDIS_SERVER} is missing (apt-get install -y redis-server)`;

export interface TestRedis {
  port: number;
  url: string;
  /** Starts it (again) on the same port. */
  start(): Promise<void>;
  /** Stops it with `signal` and waits for the exit; SIGKILL is a crash. */
  stop(signal?: NodeJS.Signals): Promise<void>;
  /** SIGSTOP / SIGCONT: connections stay open and commands get no answer until it resumes. */
  pause(): void;
  resume(): void;
  close(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer().listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** A port and a URL for Redis; nothing runs until start(). */
export async function createTestRedis(): Promise<TestRedis> {
  if (!hasRedis) throw new Error(missingRedis);
  const port = await freePort();
  const dir = mkdtempSync(path.join(tmpdir(), "todo-redis-"));
  let child: ChildProcess | undefined;

  const start = async () => {
    if (child) throw new Error("redis-server is already running");
    const args = ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir];
    const started = spawn(REDIS_SERVER, args, { stdio: ["ignore", "pipe", "pipe"] });
    child = started;
    let output = "";
    started.stdout.on("data", (chunk) => (output += chunk));
    started.stderr.on("data", (chunk) => (output += chunk));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`redis-server did not start on ${port}:\n${output}`)), 10_000);
      const ready = () => {
        if (!output.includes("Ready to accept connections")) return;
        clearTimeout(timer);
        started.stdout.off("data", ready);
        resolve();
      };
      started.stdout.on("data", ready);
      started.once("exit", () => {
        clearTimeout(timer);
        reject(new Error(`redis-server exited on start (port ${port}):\n${output}`));
      });
    });
  };

  const stop = async (signal: NodeJS.Signals = "SIGTERM") => {
    const running = child;
    if (!running) return;
    child = undefined;
    if (running.exitCode !== null || running.signalCode !== null) return;
    const exited = once(running, "exit");
    running.kill("SIGCONT"); // a paused server would not act on SIGTERM
    running.kill(signal);
    await exited;
  };

  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    start,
    stop,
    pause: () => void child?.kill("SIGSTOP"),
    resume: () => void child?.kill("SIGCONT"),
    async close() {
      await stop("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
