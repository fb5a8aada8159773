/** The API as a real process (`node --import tsx src/server.ts`), its JSON log lines collected. */
import { spawn, type ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";
import { projectRoot } from "../../../src/project.ts";

export const FAULT_SECRET = "fault-test-secret-that-is-at-least-32-characters";

export interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}

export interface ServerProcess {
  pid: number;
  url: string;
  trpcUrl: string;
  logs: LogLine[];
  /** Lines the process wrote to stderr (a crash's stack lands here). */
  stderr: string[];
  /** Resolves with the first log line (already seen or to come) that matches. */
  waitForLog(match: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** Resident set size in bytes, from /proc (Linux). */
  rss(): number;
  alive(): boolean;
  kill(signal?: NodeJS.Signals): void;
  /** Resolves when the process has exited. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

export function readRss(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const kb = /^VmRSS:\s+(\d+) kB/m.exec(status);
  if (!kb) throw new Error(`no VmRSS for process ${pid}`);
  return Number(kb[1]) * 1024;
}

/** Starts the server with exactly this environment (plus PATH/HOME) and waits until it listens. */
export async function spawnServer(env: Record<string, string>): Promise<ServerProcess> {
  const child: ChildProcess = spawn(process.execPath, ["--import", "tsx", path.join("src", "server.ts")], {
    cwd: projectRoot,
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "",
      NODE_ENV: "test",
      PORT: "0",
      HOST: "127.0.0.1",
      LOG_LEVEL: "info",
      AUTH_SECRET: FAULT_SECRET,
      // The load here comes from one address and a few users, far above the default limits.
      RATE_LIMIT_PER_IP: "0",
      RATE_LIMIT_PER_USER: "0",
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const logs: LogLine[] = [];
  const waiters = new Set<{ match: (line: LogLine) => boolean; resolve: (line: LogLine) => void }>();
  const stderr: string[] = [];
  createInterface({ input: child.stdout! }).on("line", (text) => {
    let line: LogLine;
    try {
      line = JSON.parse(text) as LogLine;
    } catch {
      line = { level: 30, msg: text };
    }
    logs.push(line);
    for (const waiter of waiters) {
      if (waiter.match(line)) {
        waiters.delete(waiter);
        waiter.resolve(line);
      }
    }
  });
  createInterface({ input: child.stderr! }).on("line", (text) => stderr.push(text));
  let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    // "close" comes after the exit and after stdout is drained: the last log lines are in.
    child.once("close", (code, signal) => resolve((exitInfo = { code, signal }))),
  );

  const waitForLog = (match: (line: LogLine) => boolean, timeoutMs = 30_000) => {
    const seen = logs.find(match);
    if (seen) return Promise.resolve(seen);
    return new Promise<LogLine>((resolve, reject) => {
      const waiter = { match, resolve };
      waiters.add(waiter);
      const timer = setTimeout(() => {
        waiters.delete(waiter);
        reject(new Error(`log line not seen within ${timeoutMs} ms; stderr: ${stderr.join("\n")}`));
      }, timeoutMs);
      void exited.then(() => {
        clearTimeout(timer);
        if (waiters.delete(waiter))
          reject(new Error(`server exited before the log line; stderr: ${stderr.join("\n")}`));
      });
      waiter.resolve = (line) => {
        clearTimeout(timer);
        resolve(line);
      };
    });
  };

  const started = await waitForLog(
    (line) => typeof line.port === "number" && line.msg.startsWith("Todo API on"),
    60_000,
  );
  const url = `http://127.0.0.1:${started.port as number}`;
  return {
    pid: child.pid!,
    url,
    trpcUrl: `${url}/trpc`,
    logs,
    stderr,
    waitForLog,
    rss: () => readRss(child.pid!),
    alive: () => exitInfo === undefined && child.exitCode === null && child.signalCode === null,
    kill: (signal = "SIGTERM") => void child.kill(signal),
    exited,
  };
}
