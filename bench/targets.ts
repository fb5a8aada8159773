import type { CellResult, RunResult } from "./results.ts";
import { seriesName } from "./results.ts";

/** One of the targets, checked against one cell. */
export interface TargetCheck {
  target: string;
  cell: string;
  value: string;
  met: boolean;
}

const SINGLE_OPS = new Set(["byId", "list", "create", "update"]);
const SINGLE_TODO_OPS = new Set(["byId", "create", "update"]);
const RATIO_TARGETS: Partial<Record<CellResult["config"], number>> = { pg: 0.7, neon: 0.6, "pg-prod": 0.8 };
const CHECKED = new Set<CellResult["config"]>(["pg", "pg-prepared", "pg-prod", "neon"]);
const CPU_LIMIT_MS = 0.7;
const P99_LIMIT_MS = 50;
const RSS_LIMIT_MB = 250;
const RTT_SLACK_MS = 3;
/** Writes with live updates on against the same server with them off (the durable change feed's issue). */
const LIVE_WRITE_RATIO = 0.9;
const WRITE_OPS = new Set(["create", "update"]);

const where = (c: CellResult) => `${seriesName(c)} ${c.op} c=${c.concurrency}`;

/**
 * The targets of the performance issue, for whatever cells this run measured (a report, never a failure:
 * speed depends on the machine):
 * - 16 connections: pg ≥ 0.7, neon ≥ 0.6 and pg-prod ≥ 0.8 of the baseline's requests/s for byId, list, create,
 *   update;
 *   server CPU per byId request ≤ 0.7 ms;
 * - 64 connections: p99 ≤ 50 ms and no errors for every operation; peak RSS ≤ 250 MB (one process);
 * - with --rtt: p50 ≤ rtt + 3 ms for the single-todo operations at the lowest concurrency measured;
 * - create and update on pg ≥ 0.9 × the same cell on pg-live-off (live updates off), when both ran.
 * Only the API's configurations (neon, pg, pg-prepared, pg-prod) are checked; the baseline and stock are the
 * references.
 */
export function checkTargets(run: RunResult, rttMs: number | undefined): TargetCheck[] {
  const api = run.cells.filter((c) => CHECKED.has(c.config));
  const checks: TargetCheck[] = [];
  for (const c of api) {
    const min = RATIO_TARGETS[c.config];
    if (min !== undefined && c.concurrency === 16 && SINGLE_OPS.has(c.op) && c.ratioToBaseline !== null) {
      checks.push({
        target: `≥ ${min} × baseline req/s`,
        cell: where(c),
        value: `${c.ratioToBaseline.toFixed(2)} ×`,
        met: c.ratioToBaseline >= min,
      });
    }
    if (c.concurrency === 16 && c.op === "byId") {
      const ms = c.cpuMsPerRequest;
      checks.push({
        target: `server CPU ≤ ${CPU_LIMIT_MS} ms/req`,
        cell: where(c),
        value: `${ms.toFixed(3)} ms`,
        met: ms <= CPU_LIMIT_MS,
      });
    }
    if (c.concurrency === 64) {
      checks.push({
        target: `p99 ≤ ${P99_LIMIT_MS} ms`,
        cell: where(c),
        value: `${c.latencyMs.p99.toFixed(1)} ms`,
        met: c.latencyMs.p99 <= P99_LIMIT_MS,
      });
      checks.push({ target: "no errors", cell: where(c), value: String(c.errors), met: c.errors === 0 });
      if (c.workers === 1) {
        const mb = c.peakRssBytes / 1024 / 1024;
        checks.push({
          target: `peak RSS ≤ ${RSS_LIMIT_MB} MB`,
          cell: where(c),
          value: `${mb.toFixed(0)} MB`,
          met: mb <= RSS_LIMIT_MB,
        });
      }
    }
  }
  if (rttMs !== undefined && api.length) {
    const lowest = Math.min(...api.map((c) => c.concurrency));
    for (const c of api.filter((c) => c.concurrency === lowest && SINGLE_TODO_OPS.has(c.op))) {
      const limit = rttMs + RTT_SLACK_MS;
      checks.push({
        target: `p50 ≤ rtt + ${RTT_SLACK_MS} = ${limit} ms`,
        cell: where(c),
        value: `${c.latencyMs.p50.toFixed(1)} ms`,
        met: c.latencyMs.p50 <= limit,
      });
    }
  }
  for (const off of run.cells.filter((c) => c.config === "pg-live-off" && WRITE_OPS.has(c.op))) {
    const on = run.cells.find(
      (c) => c.config === "pg" && c.op === off.op && c.concurrency === off.concurrency && c.workers === off.workers,
    );
    if (!on || off.requestsPerSecond <= 0) continue;
    const ratio = on.requestsPerSecond / off.requestsPerSecond;
    checks.push({
      target: `≥ ${LIVE_WRITE_RATIO} × live updates off`,
      cell: where(on),
      value: `${ratio.toFixed(2)} ×`,
      met: ratio >= LIVE_WRITE_RATIO,
    });
  }
  return checks;
}

export function targetsMarkdown(checks: TargetCheck[]): string {
  if (!checks.length) return "No target applies to the cells measured (they are for 16 and 64 connections, and --rtt).";
  const met = checks.filter((c) => c.met).length;
  const lines = checks.map((c) => `| ${c.met ? "met" : "**missed**"} | ${c.cell} | ${c.target} | ${c.value} |`);
  return [
    `Targets: ${met} of ${checks.length} met.`,
    "",
    "| | cell | target | measured |",
    "|---|---|---|---:|",
    ...lines,
  ].join("\n");
}
