/**
 * `--profile`: V8 CPU profiles (`node --cpu-prof`, the `.cpuprofile` format Chrome DevTools opens) summed into a
 * self-time table per server: time attributed to the function on top of the stack at each sample, aggregated by
 * function name and location, as a share of the sampled time the process was not idle.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";

/** The parts of a `.cpuprofile` this reads (V8's Profiler.Profile). */
export interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number } }[];
  /** Microseconds. */
  startTime: number;
  endTime: number;
  /** The node on top of the stack at each sample. */
  samples?: number[];
  /** Microseconds since the previous sample (the first: since startTime). */
  timeDeltas?: number[];
}

export interface SelfTimeRow {
  /** The function name; V8's own entries keep their parentheses: (garbage collector), (program). */
  name: string;
  /** `file:line` (1-based), relative to the project; empty for V8's entries. */
  location: string;
  selfMs: number;
  /** Of the sampled non-idle time, 0–1. */
  share: number;
}

export interface ProfileSummary {
  series: string;
  /** The `.cpuprofile` files, relative to the project (one per process: the primary and each worker). */
  files: string[];
  /** Sampled time not idle, summed over the files. */
  busyMs: number;
  idleMs: number;
  top: SelfTimeRow[];
}

/** V8's pseudo-frames that are not JavaScript functions. */
export const V8_ENTRIES: Record<string, string> = {
  "(garbage collector)": "garbage collection",
  "(program)": "native code outside JavaScript: the event loop, I/O, V8 itself",
  "(idle)": "waiting for work",
  "(root)": "the profile's root",
};

function location(url: string, line: number, root: string): string {
  if (!url) return "";
  let file = url.startsWith("file://") ? decodeURIComponent(new URL(url).pathname) : url;
  if (path.isAbsolute(file)) file = path.relative(root, file);
  return `${file}:${line + 1}`;
}

/**
 * Self time per function name + location over one or more profiles (e.g. a primary and its workers). Each sample
 * lasts until the next one (the last until endTime), as Chrome DevTools counts it; `(idle)` is left out of the
 * total and of the rows.
 */
export function selfTimes(profiles: CpuProfile[], root: string, limit = 20): Omit<ProfileSummary, "series" | "files"> {
  const totals = new Map<string, { name: string; location: string; us: number }>();
  let busyUs = 0;
  let idleUs = 0;
  for (const profile of profiles) {
    const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
    const samples = profile.samples ?? [];
    const deltas = profile.timeDeltas ?? [];
    let at = profile.startTime;
    const times = deltas.map((delta) => (at += delta));
    for (let i = 0; i < samples.length; i++) {
      const us = Math.max(0, (i + 1 < samples.length ? times[i + 1]! : profile.endTime) - times[i]!);
      const frame = nodes.get(samples[i]!)?.callFrame;
      const name = frame?.functionName || "(anonymous)";
      if (name === "(idle)") {
        idleUs += us;
        continue;
      }
      busyUs += us;
      const where = frame && !(name in V8_ENTRIES) ? location(frame.url, frame.lineNumber, root) : "";
      const key = `${name}\0${where}`;
      const entry = totals.get(key) ?? { name, location: where, us: 0 };
      entry.us += us;
      totals.set(key, entry);
    }
  }
  const top = [...totals.values()]
    .sort((a, b) => b.us - a.us)
    .slice(0, limit)
    .map(({ name, location, us }) => ({ name, location, selfMs: us / 1000, share: busyUs ? us / busyUs : 0 }));
  return { busyMs: busyUs / 1000, idleMs: idleUs / 1000, top };
}

/** Every `.cpuprofile` in `dir` (not recursive). */
export function profileFiles(dir: string): string[] {
  try {
    return readdirSync(dir)
      .filter((name) => name.endsWith(".cpuprofile"))
      .sort()
      .map((name) => path.join(dir, name));
  } catch {
    return [];
  }
}

export function summarizeProfiles(series: string, files: string[], root: string): ProfileSummary {
  const profiles = files.map((file) => JSON.parse(readFileSync(file, "utf8")) as CpuProfile);
  return { series, files: files.map((file) => path.relative(root, file)), ...selfTimes(profiles, root) };
}

const cell = (s: string) => s.replace(/\|/g, "\\|").replace(/`/g, "'");

/** One top-self-time table per server, with a line on what the V8 entries mean. */
export function profilesMarkdown(summaries: ProfileSummary[]): string {
  if (!summaries.length) return "";
  const out = [
    "## CPU profiles: top self time",
    "",
    "Over each server's whole life (start-up, warm-ups, every cell). % is of the sampled time the process was not idle; " +
      `*(garbage collector)* is ${V8_ENTRIES["(garbage collector)"]}, *(program)* ${V8_ENTRIES["(program)"]}.`,
  ];
  for (const s of summaries) {
    out.push("", `### ${s.series}`, "");
    out.push(
      `${s.busyMs.toFixed(0)} ms sampled not idle (wall clock), ${s.idleMs.toFixed(0)} ms idle; ${s.files.map((f) => `\`${f}\``).join(", ")}`,
      "",
    );
    out.push("| # | self ms | % | function | location |", "|---:|---:|---:|---|---|");
    s.top.forEach((row, i) => {
      const name = row.name in V8_ENTRIES ? `*${row.name}*` : `\`${cell(row.name)}\``;
      out.push(
        `| ${i + 1} | ${row.selfMs.toFixed(0)} | ${(row.share * 100).toFixed(1)} | ${name} | ${cell(row.location) || "–"} |`,
      );
    });
  }
  return out.join("\n");
}
