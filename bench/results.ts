import { CONFIGURATIONS, type Configuration } from "./options.ts";
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
}

/** The series a cell belongs to in tables and charts, e.g. "pg ×2". */
export function seriesName(cell: Pick<CellResult, "config" | "workers">): string {
  return cell.workers > 1 ? `${cell.config} ×${cell.workers}` : cell.config;
}

/** Neon, pg, embedded, then the baseline; fewer workers first. */
export function compareSeries(a: Pick<CellResult, "config" | "workers">, b: Pick<CellResult, "config" | "workers">): number {
  return CONFIGURATIONS.indexOf(a.config) - CONFIGURATIONS.indexOf(b.config) || a.workers - b.workers;
}

export function fillRatios(cells: CellResult[]): void {
  for (const cell of cells) {
    if (cell.config === "baseline") continue;
    const base = cells.find(
      (b) => b.config === "baseline" && b.op === cell.op && b.concurrency === cell.concurrency && b.workers === cell.workers,
    );
    cell.ratioToBaseline = base && base.requestsPerSecond > 0 ? cell.requestsPerSecond / base.requestsPerSecond : null;
  }
}
