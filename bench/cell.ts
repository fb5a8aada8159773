import { fork } from "node:child_process";
import path from "node:path";
import type { LoadJob, LoadResult } from "./load.ts";
import { cpuDelta, cpuTimes, processTree, residentBytes } from "./proc.ts";
import type { Relay } from "./relay.ts";

export interface CellMeasurement {
  load: LoadResult;
  cpuMsPerRequest: number;
  peakRssBytes: number;
  roundTripsPerRequest: number | null;
}

const RSS_SAMPLE_MS = 100;

/**
 * Runs one cell: the load driver in its own process, while this process reads the server's CPU time,
 * memory and (through the relay) database round trips over the measured part only.
 */
export function runCell(job: LoadJob, serverPid: number, relay: Relay | undefined): Promise<CellMeasurement> {
  const driver = fork(path.join(import.meta.dirname, "load.ts"), [], {
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  return new Promise((resolve, reject) => {
    let pids: number[] = [];
    let cpuBefore = new Map<number, number>();
    let tripsBefore = 0;
    let peak = 0;
    let sampler: NodeJS.Timeout | undefined;
    let settled = false;
    const settle = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearInterval(sampler);
      fn();
    };

    driver.on("message", (message: { type: string; result?: LoadResult; message?: string }) => {
      if (message.type === "measuring") {
        pids = processTree(serverPid);
        cpuBefore = cpuTimes(pids);
        tripsBefore = relay?.roundTrips() ?? 0;
        sampler = setInterval(() => (peak = Math.max(peak, residentBytes(pids))), RSS_SAMPLE_MS);
      } else if (message.type === "result") {
        const load = message.result!;
        const after = processTree(serverPid);
        const cpuMs = cpuDelta(cpuBefore, cpuTimes(after));
        peak = Math.max(peak, residentBytes(after));
        const trips = relay ? relay.roundTrips() - tripsBefore : null;
        const per = (n: number) => (load.requests ? n / load.requests : 0);
        settle(() =>
          resolve({
            load,
            cpuMsPerRequest: per(cpuMs),
            peakRssBytes: peak,
            roundTripsPerRequest: trips === null ? null : per(trips),
          }),
        );
      } else if (message.type === "error") {
        settle(() => reject(new Error(`load driver failed: ${message.message}`)));
      }
    });
    driver.on("exit", (code) => settle(() => reject(new Error(`load driver exited with code ${code} before reporting`))));
    driver.on("error", (error) => settle(() => reject(error)));
    driver.send(job);
  });
}
