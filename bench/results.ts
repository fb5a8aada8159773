import { CONFIGURATIONS, type Configuration } from "./options.ts";
import type { ProfileSummary } from "./profile.ts";
import type { TargetCheck } from "./targets.ts";
import type { Operation } from "./workload.ts";

/** One measured cell: a configuration and worker count, an operation, a concurrency. */
export interface CellResult {
  config: Configuration;
  workers: number;
  op: Operation;
  concurrency: number;
  requests: number;
  seconds: number;
  requestsPerSecond: number;
  latencyMs: { p50: number; p95: number; p99: number; max: number };
  /** Non-2xx responses plus connection errors and timeouts. */
  errors: number;
  statuses: Record<string, number>;
  sampleErrors: string[];
  /** User + system CPU of the server process and its workers, per request. */
  cpuMsPerRequest: number;
  /** Highest resident memory of the server process and its workers, sampled during the cell. */
  peakRssBytes: number;
  /** Sync + Query messages sent to PostgreSQL per request; null without the relay (no --rtt). */
  roundTripsPerRequest: number | null;
  /** Requests/s over the baseline's in the same op, concurrency and worker count; null for the baseline. */
  ratioToBaseline: number | null;
  /** The same over the stock server's; null for the baseline, the stock server, or without a stock cell. */
  ratioToStock: number | null;
}

export interface RunResult {
  startedAt: string;
  finishedAt: string;
  machine: { cpus: number; cpuModel: string; node: string; platform: string };
  options: Record<string, unknown>;
  cells: CellResult[];
  /** The targets, checked against this run's cells (reported, never enforced). */
  targets: TargetCheck[];
  /** Configurations that could not be measured, with the reason. */
  failures: { config: Configuration; workers: number; error: string }[];
  /** With --profile: each server's top self time. */
  profiles?: ProfileSummary[];
}

/** The series a cell belongs to in tables and charts, e.g. "pg ×2". */
export function seriesName(cell: Pick<CellResult, "config" | "workers">): string {
  return cell.workers > 1 ? `${cell.config} ×${cell.workers}` : cell.config;
}

/** In CONFIGURATIONS' order (baseline, stock, then the API's); fewer workers first. */
export function compareSeries(
  a: Pick<CellResult, "config" | "workers">,
  b: Pick<CellResult, "config" | "workers">,
): number {
  return CONFIGURATIONS.indexOf(a.config) - CONFIGURATIONS.indexOf(b.config) || a.workers - b.workers;
}

/** Fills each cell's ratios to the baseline and to the stock server of the same op, concurrency and worker count. */
export function fillRatios(cells: CellResult[]): void {
  const ratio = (cell: CellResult, config: Configuration) => {
    const ref = cells.find(
      (r) =>
        r.config === config && r.op === cell.op && r.concurrency === cell.concurrency && r.workers === cell.workers,
    );
    return ref && ref.requestsPerSecond > 0 ? cell.requestsPerSecond / ref.requestsPerSecond : null;
  };
  for (const cell of cells) {
    cell.ratioToBaseline = cell.config === "baseline" ? null : ratio(cell, "baseline");
    cell.ratioToStock = cell.config === "baseline" || cell.config === "stock" ? null : ratio(cell, "stock");
  }
}
