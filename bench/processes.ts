import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream, readFileSync } from "node:fs";
import net from "node:net";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { isRunning, processTree } from "./proc.ts";

/** A child process the harness started, its output going to a log file. */
export interface Child {
  pid: number;
  process: ChildProcess;
  logFile: string;
  /** The last lines of its log, for error messages. */
  tail(lines?: number): string;
  stop(): Promise<void>;
}

export interface SpawnOptions {
  name: string;
  command: string;
  args: string[];
  env: NodeJS.ProcessEnv;
  logDir: string;
  cwd: string;
}

export function spawnLogged({ name, command, args, env, logDir, cwd }: SpawnOptions): Child {
  const logFile = path.join(logDir, `${name}.log`);
  const log = createWriteStream(logFile);
  const child = spawn(command, args, { env, cwd, stdio: ["ignore", "pipe", "pipe"] });
  child.stdout.pipe(log, { end: false });
  child.stderr.pipe(log, { end: false });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return {
    pid: child.pid!,
    process: child,
    logFile,
    tail(lines = 20) {
      try {
        return readFileSync(logFile, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
      } catch {
        return "";
      }
    },
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        // Workers it forked (cluster) should stop with it; any left over are killed below.
        const descendants = processTree(child.pid!).slice(1);
        child.kill("SIGTERM");
        const killed = await Promise.race([exited.then(() => false), sleep(15_000).then(() => true)]);
        if (killed) {
          child.kill("SIGKILL");
          await exited;
        }
        // Workers may still be finishing their own shutdown (and writing a CPU profile): give them a moment.
        const deadline = Date.now() + 10_000;
        while (descendants.some(isRunning) && Date.now() < deadline) await sleep(50);
        for (const pid of descendants) {
          try {
            process.kill(pid, "SIGKILL");
          } catch {
            // already gone
          }
        }
      }
      log.end();
    },
  };
}

/** A port that was free a moment ago. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  const { port } = server.address() as AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Polls `url` until it answers 200; fails early if the process exits. */
export async function waitUntilReady(url: string, child: Child, timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (child.process.exitCode !== null || child.process.signalCode !== null) {
      throw new Error(`${path.basename(child.logFile, ".log")} exited during start-up:\n${child.tail()}`);
    }
    try {
      const res = await fetch(url);
      if (res.ok) return;
    } catch {
      // not listening yet
    }
    await sleep(200);
  }
  throw new Error(`${url} not ready after ${timeoutMs / 1000} s:\n${child.tail()}`);
}
