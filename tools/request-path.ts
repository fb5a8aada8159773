/**
 * The files of src/ one request runs code in, measured rather than told: the API in this process (createRuntime
 * with the default configuration, on a fresh embedded database unless DATABASE_URL names a migrated one), two
 * warm-up requests, then V8's precise coverage around one more. The README's list of a create's files is this
 * output (test/tooling/docs.test.ts checks it).
 *
 *   npx tsx tools/request-path.ts [create|byId|list]
 */
import { mkdtempSync, rmSync } from "node:fs";
import { Session } from "node:inspector/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { signToken } from "../src/auth/tokens.ts";
import { loadConfig } from "../src/config.ts";
import { createLogger } from "../src/logger.ts";
import { createRuntime } from "../src/runtime.ts";

const SRC = fileURLToPath(new URL("../src/", import.meta.url));

type Call = (url: string, token: string) => Promise<Response>;
const CALLS: Record<string, Call> = {
  create: (url, token) =>
    fetch(`${url}/trpc/todo.create`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ json: { title: "measured" } }),
    }),
  byId: async (url, token) => {
    const created = (await (await CALLS.create!(url, token)).json()) as { result: { data: { json: { id: string } } } };
    const input = encodeURIComponent(JSON.stringify({ json: { id: created.result.data.json.id } }));
    return fetch(`${url}/trpc/todo.byId?input=${input}`, { headers: { authorization: `Bearer ${token}` } });
  },
  list: (url, token) => fetch(`${url}/trpc/todo.list`, { headers: { authorization: `Bearer ${token}` } }),
};

/** Files of src/ (relative, e.g. "http/app.ts") whose code ran while `run` did. */
export async function filesRunBy(run: () => Promise<void>): Promise<string[]> {
  const session = new Session();
  session.connect();
  try {
    await session.post("Profiler.enable");
    await session.post("Profiler.startPreciseCoverage", { callCount: true, detailed: false });
    // Taking coverage resets the counts: what the warm-up and start-up ran is not counted.
    await session.post("Profiler.takePreciseCoverage");
    await run();
    const { result } = await session.post("Profiler.takePreciseCoverage");
    await session.post("Profiler.stopPreciseCoverage");
    return result
      .filter((script) => script.url.startsWith("file:") && script.functions.some((fn) => fn.ranges.some((range) => range.count > 0)))
      .map((script) => path.relative(SRC, fileURLToPath(script.url)))
      .filter((file) => !file.startsWith("..") && !file.startsWith("generated"))
      .sort();
  } finally {
    session.disconnect();
  }
}

/** The files one `op` request runs code in, with the default configuration (on `databaseUrl`, else embedded). */
export async function requestPath(op: keyof typeof CALLS, databaseUrl?: string): Promise<string[]> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "request-path-"));
  const env = { NODE_ENV: "development", PORT: "0", PGLITE_DATA_DIR: path.join(dir, "pglite"), LOG_LEVEL: "warn" };
  const config = loadConfig(databaseUrl ? { ...env, DATABASE_URL: databaseUrl } : env);
  const runtime = await createRuntime(config, createLogger("warn"), { keySweeper: false });
  try {
    const { port } = await runtime.start();
    const url = `http://127.0.0.1:${port}`;
    const token = await signToken(config.auth.secret!, { sub: "request-path" });
    const call = CALLS[op]!;
    const check = async () => {
      const response = await call(url, token);
      if (!response.ok) throw new Error(`${op} answered ${response.status}: ${await response.text()}`);
      await response.arrayBuffer();
    };
    // Twice before measuring: the first call creates the User row and warms every cache.
    await check();
    await check();
    return await filesRunBy(check);
  } finally {
    await runtime.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const op = (process.argv[2] ?? "create") as keyof typeof CALLS;
  if (!(op in CALLS)) throw new Error(`unknown request ${op}: one of ${Object.keys(CALLS).join(", ")}`);
  const files = await requestPath(op, process.env.DATABASE_URL || undefined);
  console.log(files.map((file) => `src/${file}`).join("\n"));
  console.log(`${files.length} files`);
}
