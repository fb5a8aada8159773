import type { CellResult, RunResult } from "./results.ts";
import type { Configuration } from "./options.ts";
import { compareSeries, seriesName } from "./results.ts";
import { OPERATIONS } from "./workload.ts";

/**
 * Hand-drawn SVG: one row per operation, requests/s (left) and p99 latency (right) against concurrency,
 * one line per configuration and worker count. Concurrency levels are evenly spaced (1, 16, 64 would crowd a linear axis).
 */
const PANEL = { width: 420, height: 230, left: 60, right: 20, top: 30, bottom: 40 };
/** A colour per configuration; more workers draw the same colour dashed. */
const COLORS: Record<Configuration, string> = {
  baseline: "#d62728",
  stock: "#ff7f0e",
  neon: "#2ca02c",
  pg: "#1f77b4",
  "pg-against": "#7f7f7f",
  "pg-prepared": "#17becf",
  "pg-live-off": "#bcbd22",
  "pg-prod": "#8c564b",
  embedded: "#9467bd",
};

interface Series {
  name: string;
  color: string;
  dash: string;
}

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** 1, 2, 5 × 10^n steps, so axis labels stay round. */
function niceStep(max: number, ticks: number): number {
  const raw = max / ticks;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw);
  return step ?? raw;
}

function panel(
  cells: CellResult[],
  series: Series[],
  levels: number[],
  value: (c: CellResult) => number,
  title: string,
  x0: number,
  y0: number,
): string {
  const w = PANEL.width - PANEL.left - PANEL.right;
  const h = PANEL.height - PANEL.top - PANEL.bottom;
  const max = Math.max(1e-9, ...cells.map(value));
  const step = niceStep(max, 4);
  const top = Math.ceil(max / step) * step;
  const x = (level: number) =>
    levels.length === 1 ? w / 2 : (levels.indexOf(level) / (levels.length - 1)) * (w - 40) + 20;
  const y = (v: number) => h - (v / top) * h;
  const out: string[] = [`<g transform="translate(${x0 + PANEL.left},${y0 + PANEL.top})">`];
  out.push(`<text x="${w / 2}" y="-12" text-anchor="middle" font-weight="bold">${esc(title)}</text>`);
  for (let v = 0; v <= top + step / 2; v += step) {
    out.push(`<line x1="0" x2="${w}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`);
    out.push(`<text x="-6" y="${y(v) + 4}" text-anchor="end">${+v.toPrecision(6)}</text>`);
  }
  out.push(
    `<line x1="0" x2="0" y1="0" y2="${h}" stroke="#333"/><line x1="0" x2="${w}" y1="${h}" y2="${h}" stroke="#333"/>`,
  );
  for (const level of levels) {
    out.push(`<text x="${x(level)}" y="${h + 16}" text-anchor="middle">${level}</text>`);
  }
  out.push(`<text x="${w / 2}" y="${h + 32}" text-anchor="middle" fill="#555">concurrent connections</text>`);
  for (const { name, color, dash } of series) {
    const points = cells
      .filter((c) => seriesName(c) === name)
      .sort((a, b) => a.concurrency - b.concurrency)
      .map((c) => [x(c.concurrency), y(value(c))] as const);
    if (!points.length) continue;
    if (points.length > 1) {
      const d = points.map(([px, py], j) => `${j ? "L" : "M"}${px.toFixed(1)},${py.toFixed(1)}`).join(" ");
      out.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2"${dash}/>`);
    }
    for (const [px, py] of points)
      out.push(`<circle cx="${px.toFixed(1)}" cy="${py.toFixed(1)}" r="3.5" fill="${color}"/>`);
  }
  out.push("</g>");
  return out.join("\n");
}

export function chartSvg(run: RunResult): string {
  const ops = OPERATIONS.filter((op) => run.cells.some((c) => c.op === op));
  const series: Series[] = [];
  for (const cell of [...run.cells].sort(compareSeries)) {
    const name = seriesName(cell);
    if (series.some((s) => s.name === name)) continue;
    series.push({ name, color: COLORS[cell.config], dash: cell.workers > 1 ? ` stroke-dasharray="6 4"` : "" });
  }
  const levels = [...new Set(run.cells.map((c) => c.concurrency))].sort((a, b) => a - b);
  const legendHeight = 50;
  const width = PANEL.width * 2;
  const height = legendHeight + PANEL.height * ops.length;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="11">`,
    `<rect width="100%" height="100%" fill="#fff"/>`,
    `<text x="10" y="18" font-size="13" font-weight="bold">Todo API benchmark ${esc(run.startedAt)}${run.options.rttMs !== undefined ? ` — rtt ${Number(run.options.rttMs)} ms` : ""}</text>`,
  ];
  series.forEach(({ name, color, dash }, i) => {
    const lx = 10 + i * 110;
    out.push(`<line x1="${lx}" x2="${lx + 24}" y1="36" y2="36" stroke="${color}" stroke-width="2"${dash}/>`);
    out.push(`<text x="${lx + 30}" y="40">${esc(name)}</text>`);
  });
  ops.forEach((op, row) => {
    const cells = run.cells.filter((c) => c.op === op);
    const y0 = legendHeight + row * PANEL.height;
    out.push(panel(cells, series, levels, (c) => c.requestsPerSecond, `${op}: requests/s`, 0, y0));
    out.push(panel(cells, series, levels, (c) => c.latencyMs.p99, `${op}: p99 latency (ms)`, PANEL.width, y0));
  });
  out.push("</svg>");
  return out.join("\n") + "\n";
}
