/**
 * WEB_CONCURRENCY > 1: this (primary) process forks that many HTTP workers sharing the port (node:cluster),
 * replaces a worker that dies while serving, and stops them all on SIGTERM/SIGINT. The workers hold no
 * state between requests, so any of them may serve any request.
 */
import cluster, { type Worker } from "node:cluster";
import type { Logger } from "./logger.ts";

export interface PrimaryOptions {
  workers: number;
  /** Extra environment for the workers (e.g. the embedded database's URL). */
  env?: Record<string, string>;
  shutdownTimeoutMs: number;
  logger: Logger;
  /** Runs after every worker has exited, before this process exits. */
  onStopped?: () => Promise<void>;
}

export function runPrimary({ workers, env = {}, shutdownTimeoutMs, logger, onStopped }: PrimaryOptions): void {
  const alive = new Set<Worker>();
  const serving = new Set<Worker>();
  let stopping = false;
  let exitCode = 0;

  const fork = () => alive.add(cluster.fork(env));

  const stop = (code: number) => {
    exitCode ||= code;
    if (stopping) return;
    stopping = true;
    for (const worker of alive) worker.process.kill("SIGTERM");
    // Workers have the same bound for their own shutdown; this one only catches a stuck worker.
    setTimeout(() => {
      logger.error({ timeoutMs: shutdownTimeoutMs }, "workers did not stop in time, killing them");
      for (const worker of alive) worker.process.kill("SIGKILL");
      process.exit(1);
    }, shutdownTimeoutMs + 1000).unref();
    if (alive.size === 0) void finish();
  };

  const finish = async () => {
    await onStopped?.();
    logger.info("stopped");
    process.exit(exitCode);
  };

  cluster.on("listening", (worker) => serving.add(worker));
  cluster.on("exit", (worker, code, signal) => {
    alive.delete(worker);
    const wasServing = serving.delete(worker);
    if (stopping) {
      if (code !== 0) exitCode = 1;
      if (alive.size === 0) void finish();
    } else if (!wasServing) {
      // It never listened (bad port, database refused at start-up…): forking again would loop.
      logger.fatal({ pid: worker.process.pid, code, signal }, "a worker exited during start-up: stopping");
      stop(1);
    } else {
      logger.error({ pid: worker.process.pid, code, signal }, "a worker died: starting another");
      fork();
    }
  });

  for (let i = 0; i < workers; i++) fork();
  logger.info({ workers }, "started HTTP workers");
  process.on("SIGTERM", () => stop(0));
  process.on("SIGINT", () => stop(0));
}
