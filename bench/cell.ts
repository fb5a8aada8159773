import { fork, type ChildProcess } from "node:child_process";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { DRAIN_MS, type LoadJob, type LoadResult } from "./load.ts";
import { cpuDelta, cpuTimes, processTree, residentBytes } from "./proc.ts";
import type { PgRelay as Relay } from "../tools/pg-relay.ts";

export interface CellMeasurement {
  load: LoadResult;
  cpuMsPerRequest: number;
  peakRssBytes: number;
  roundTripsPerRequest: number | null;
}

type DriverMessage =
  { type: "measuring" } | { type: "result"; result: LoadResult } | { type: "error"; message: string };

const RSS_SAMPLE_MS = 100;

/** The load driver process (bench/load.ts), kept for many cells. */
export interface Driver {
  process: ChildProcess;
  close(): void;
}

export function startDriver(): Driver {
  const child = fork(path.join(import.meta.dirname, "load.ts"), [], {
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  return {
    process: child,
    close() {
      if (child.connected) child.disconnect();
    },
  };
}

/**
 * Runs one cell on the driver while this process reads the server's CPU time, memory and (through the
 * relay) database round trips over the measured part only.
 *
 * Round trips: when the run stops, each connection leaves one request in flight that the server still
 * serves; the count waits for them and divides by responses + connections.
 */
export function runCell(
  driver: Driver,
  job: LoadJob,
  serverPid: number,
  relay: Relay | undefined,
): Promise<CellMeasurement> {
  const child = driver.process;
  return new Promise((resolve, reject) => {
    let pids: number[] = [];
    let cpuBefore = new Map<number, number>();
    let tripsBefore = 0;
    let peak = 0;
    let sampler: NodeJS.Timeout | undefined;

    const done = (fn: () => void) => {
      clearInterval(sampler);
      child.off("message", onMessage).off("exit", onExit);
      fn();
    };
    const onExit = (code: number | null) =>
      done(() => reject(new Error(`load driver exited (code ${code}) during a cell`)));
    const onMessage = (message: DriverMessage) => {
      if (message.type === "measuring") {
        pids = processTree(serverPid);
        cpuBefore = cpuTimes(pids);
        tripsBefore = relay?.roundTrips() ?? 0;
        sampler = setInterval(() => (peak = Math.max(peak, residentBytes(pids))), RSS_SAMPLE_MS);
      } else if (message.type === "result") {
        const load = message.result;
        const after = processTree(serverPid);
        const cpuMs = cpuDelta(cpuBefore, cpuTimes(after));
        peak = Math.max(peak, residentBytes(after));
        const per = (n: number) => (load.requests ? n / load.requests : 0);
        done(() => {
          if (!relay) {
            resolve({ load, cpuMsPerRequest: per(cpuMs), peakRssBytes: peak, roundTripsPerRequest: null });
            return;
          }
          void sleep(DRAIN_MS + relay.rttMs).then(() => {
            const trips = relay.roundTrips() - tripsBefore;
            const served = load.requests + job.connections;
            resolve({ load, cpuMsPerRequest: per(cpuMs), peakRssBytes: peak, roundTripsPerRequest: trips / served });
          });
        });
      } else {
        done(() => reject(new Error(`load driver failed: ${message.message}`)));
      }
    };
    child.on("message", onMessage).on("exit", onExit);
    child.send(job);
  });
}
