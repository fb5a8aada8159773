/**
 * The load driver: a child process (forked by the harness, so it never shares an event loop with it) that
 * runs autocannon for one cell at a time — a warm-up, then the measured run.
 * Messages: in, a LoadJob; out, `{ type: "measuring" }` when the measured run starts, then
 * `{ type: "result", result }` (or `{ type: "error", message }`). It exits when the harness disconnects.
 */
import { setTimeout as sleep } from "node:timers/promises";
import autocannon from "autocannon";
import { requestFactory, type Operation, type WorkloadData } from "./workload.ts";

/** Long enough for the server to finish requests a stopped run left in flight. */
export const DRAIN_MS = 300;

export interface LoadJob {
  url: string;
  op: Operation;
  connections: number;
  warmupSeconds: number;
  durationSeconds: number;
  data: WorkloadData;
}

export interface LoadResult {
  requests: number;
  seconds: number;
  /** Responses by HTTP status. */
  statuses: Record<string, number>;
  /** Connection errors and timeouts. */
  socketErrors: number;
  latencyMs: { p50: number; p95: number; p99: number; max: number };
  /** The first non-2xx response bodies and connection errors, to say what went wrong. */
  sampleErrors: string[];
}

function run(
  job: LoadJob,
  seconds: number,
  onResponse?: (status: number, ms: number) => void,
  onError?: (body: string) => void,
): Promise<autocannon.Result> {
  const next = requestFactory(job.op, job.data);
  return new Promise((resolve, reject) => {
    const options: autocannon.Options = {
      url: job.url,
      connections: job.connections,
      duration: seconds,
      requests: [
        {
          setupRequest: (request) => ({ ...request, ...next() }),
          onResponse: onError
            ? (status, body) => {
                if (status < 200 || status > 299) onError(`${status} ${body.slice(0, 300)}`);
              }
            : undefined,
        },
      ],
    };
    const instance = autocannon(options, (error, result) => (error ? reject(error as Error) : resolve(result)));
    if (onResponse) instance.on("response", (_client, status, _bytes, ms) => onResponse(status, ms));
    if (onError) instance.on("reqError", (error: Error) => onError(`connection: ${error.message}`));
  });
}

export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

async function measure(job: LoadJob): Promise<LoadResult> {
  if (job.warmupSeconds > 0) {
    await run(job, job.warmupSeconds);
    // autocannon abandons the requests in flight when it stops; let the server finish them first.
    await sleep(DRAIN_MS);
  }

  let latencies = new Float64Array(64 * 1024);
  let count = 0;
  const statuses: Record<string, number> = {};
  const sampleErrors: string[] = [];
  process.send!({ type: "measuring" });
  const started = performance.now();
  const result = await run(
    job,
    job.durationSeconds,
    (status, ms) => {
      if (count === latencies.length) {
        const grown = new Float64Array(latencies.length * 2);
        grown.set(latencies);
        latencies = grown;
      }
      latencies[count++] = ms;
      statuses[status] = (statuses[status] ?? 0) + 1;
    },
    (body) => {
      if (sampleErrors.length < 3) sampleErrors.push(body);
    },
  );
  const seconds = (performance.now() - started) / 1000;
  const sorted = latencies.subarray(0, count).sort();
  return {
    requests: count,
    seconds,
    statuses,
    socketErrors: result.errors, // includes timeouts
    latencyMs: {
      p50: percentile(sorted, 0.5),
      p95: percentile(sorted, 0.95),
      p99: percentile(sorted, 0.99),
      max: count ? sorted[count - 1]! : 0,
    },
    sampleErrors,
  };
}

// Jobs arrive one at a time; the process stays up between cells (its start-up is not free).
process.on("message", (job: LoadJob) => {
  measure(job).then(
    (result) => process.send!({ type: "result", result }),
    (error: Error) => process.send!({ type: "error", message: error.stack ?? error.message }),
  );
});
process.on("disconnect", () => process.exit(0));
