import type { CellResult, RunResult } from "./results.ts";
import { compareSeries, seriesName } from "./results.ts";
import { OPERATIONS } from "./workload.ts";

const fixed = (n: number, digits: number) => n.toFixed(digits);

/** The Markdown report: one row per cell, grouped by operation and concurrency. */
export function markdownTable(run: RunResult): string {
  const header = [
    "op",
    "conn",
    "configuration",
    "req/s",
    "× baseline",
    "× stock",
    "p50 ms",
    "p95 ms",
    "p99 ms",
    "errors",
    "CPU ms/req",
    "peak RSS MB",
    "DB trips/req",
  ];
  const rows = [...run.cells].sort(
    (a, b) =>
      OPERATIONS.indexOf(a.op) - OPERATIONS.indexOf(b.op) || a.concurrency - b.concurrency || compareSeries(a, b),
  );
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  const out = [line(header), line(header.map((_, i) => (i < 3 ? "---" : "---:")))];
  for (const c of rows) out.push(line(row(c)));
  for (const f of run.failures) out.push(`\n**${seriesName(f)} failed:** ${f.error.split("\n")[0]}`);
  return out.join("\n");
}

function row(c: CellResult): string[] {
  return [
    c.op,
    String(c.concurrency),
    seriesName(c),
    fixed(c.requestsPerSecond, 0),
    c.ratioToBaseline === null ? "–" : fixed(c.ratioToBaseline, 2),
    c.ratioToStock === null ? "–" : fixed(c.ratioToStock, 2),
    fixed(c.latencyMs.p50, 1),
    fixed(c.latencyMs.p95, 1),
    fixed(c.latencyMs.p99, 1),
    c.errors ? `**${c.errors}**` : "0",
    fixed(c.cpuMsPerRequest, 3),
    fixed(c.peakRssBytes / 1024 / 1024, 0),
    c.roundTripsPerRequest === null ? "–" : fixed(c.roundTripsPerRequest, 2),
  ];
}
