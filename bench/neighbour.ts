/**
 * The noisy-neighbour cell: one user runs `parallel` searches at once, back to back, over their own many todos,
 * while another user reads one of theirs (todo.byId) one call after another. Reports the quiet user's byId
 * latency alone and under the flood, and what the flood got done.
 */
import { performance } from "node:perf_hooks";
import { signToken } from "../src/auth/tokens.ts";
import { percentile } from "./load.ts";

export interface NeighbourOptions {
  url: string;
  authSecret: string;
  noisyUser: string;
  quietUser: string;
  /** One of the quiet user's todos. */
  quietTodoId: string;
  parallel: number;
  /** Seconds of each phase: the quiet user alone, then under the flood. */
  seconds: number;
}

export interface Latency {
  count: number;
  p50: number;
  p99: number;
  max: number;
}

export interface NeighbourResult {
  quietAlone: Latency;
  quietUnderFlood: Latency;
  /** The flood's searches answered 200, and their latency. */
  searches: Latency;
  /** The flood's calls answered 429 (its queue was full). */
  refused: number;
  /** Any other answer, to either user, or a connection error: a bench run with failures fails. */
  failures: string[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function latency(samples: number[]): Latency {
  const sorted = Float64Array.from(samples).sort();
  const round = (ms: number) => Math.round(ms * 10) / 10;
  return {
    count: sorted.length,
    p50: round(percentile(sorted, 0.5)),
    p99: round(percentile(sorted, 0.99)),
    max: round(sorted.at(-1) ?? 0),
  };
}

const query = (url: string, procedure: string, input: unknown) =>
  `${url}/trpc/${procedure}?input=${encodeURIComponent(JSON.stringify({ json: input }))}`;

export async function runNeighbourCell(options: NeighbourOptions): Promise<NeighbourResult> {
  const auth = async (sub: string) => ({
    authorization: `Bearer ${await signToken(options.authSecret, { sub }, { expiresIn: "1h" })}`,
  });
  const [noisy, quiet] = await Promise.all([auth(options.noisyUser), auth(options.quietUser)]);
  const failures: string[] = [];
  const byIdUrl = query(options.url, "todo.byId", { id: options.quietTodoId });

  /** The quiet user's byId, one after another, until `until`. */
  async function quietLoop(until: number): Promise<number[]> {
    const samples: number[] = [];
    while (performance.now() < until) {
      const started = performance.now();
      try {
        const res = await fetch(byIdUrl, { headers: quiet });
        await res.arrayBuffer();
        if (res.status !== 200) failures.push(`quiet byId: ${res.status}`);
        else samples.push(performance.now() - started);
      } catch (error) {
        failures.push(`quiet byId: ${(error as Error).message}`);
      }
    }
    return samples;
  }

  await quietLoop(performance.now() + 500); // warm-up: connections, JIT, the token cache
  const quietAlone = await quietLoop(performance.now() + options.seconds * 1000);

  let flooding = true;
  let refused = 0;
  const searches: number[] = [];
  const floodLoop = async (i: number) => {
    let n = 0;
    while (flooding) {
      // A term no todo holds: without a usable index every search reads all of the user's rows.
      const url = query(options.url, "todo.list", { search: `zq${i}x${n++}` });
      const started = performance.now();
      try {
        const res = await fetch(url, { headers: noisy });
        await res.arrayBuffer();
        if (res.status === 200) searches.push(performance.now() - started);
        else if (res.status === 429) {
          refused++;
          await sleep(50);
        } else if (flooding) failures.push(`noisy search: ${res.status}`);
      } catch (error) {
        if (flooding) failures.push(`noisy search: ${(error as Error).message}`);
      }
    }
  };
  const flood = Promise.all(Array.from({ length: options.parallel }, (_, i) => floodLoop(i)));
  // Let the flood fill the queues before measuring.
  await sleep(500);
  let quietUnderFlood: number[];
  try {
    quietUnderFlood = await quietLoop(performance.now() + options.seconds * 1000);
  } finally {
    flooding = false;
  }
  await flood;
  return {
    quietAlone: latency(quietAlone),
    quietUnderFlood: latency(quietUnderFlood),
    searches: latency(searches),
    refused,
    failures,
  };
}

export interface NeighbourRow {
  label: string;
  result: NeighbourResult;
}

export function neighbourMarkdown(
  rows: NeighbourRow[],
  { todos, parallel }: { todos: number; parallel: number },
): string {
  const lines = [
    `One user runs ${parallel} parallel searches over ${todos.toLocaleString("en")} of their own todos; another user calls todo.byId one after another.`,
    "",
    "| setup | quiet byId alone p50 / p99 ms | quiet byId under flood p50 / p99 / max ms | quiet calls | flood searches answered | search p50 / p99 ms | flood 429s | failures |",
    "|---|---|---|---|---|---|---|---|",
  ];
  for (const { label, result: r } of rows) {
    lines.push(
      `| ${label} | ${r.quietAlone.p50} / ${r.quietAlone.p99} | ${r.quietUnderFlood.p50} / ${r.quietUnderFlood.p99} / ${r.quietUnderFlood.max} | ${r.quietUnderFlood.count} | ${r.searches.count} | ${r.searches.p50} / ${r.searches.p99} | ${r.refused} | ${r.failures.length} |`,
    );
  }
  return lines.join("\n");
}
