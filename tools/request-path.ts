/**
 * The files of src/ one request runs code in, measured rather than told: the API in this process (createRuntime
 * with the default configuration, on a fresh embedded database unless DATABASE_URL names a migrated one), two
 * warm-up requests, then V8's precise coverage around one more. The README's list of a create's files is this
 * output (test/tooling/docs.test.ts checks it).
 *
 *   npx tsx tools/request-path.ts [create|byId|list] [--json]
 *
 * Run it under plain Node (tsx), not inside vitest: vitest's module transform turns each export into a getter, so
 * reading a constant would count its file.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { Session } from "node:inspector/promises";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import pg from "pg";
import { signToken } from "../src/auth/tokens.ts";
import { loadConfig } from "../src/config.ts";
import { createLogger } from "../src/logger.ts";
import { createRuntime } from "../src/runtime.ts";
import { bootstrapDatabase } from "../src/db/bootstrap.ts";
import { CHANNEL } from "../src/live/events.ts";

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
      .filter(
        (script) =>
          script.url.startsWith("file:") && script.functions.some((fn) => fn.ranges.some((range) => range.count > 0)),
      )
      .map((script) => path.relative(SRC, fileURLToPath(script.url)))
      .filter((file) => !file.startsWith("..") && !file.startsWith("generated"))
      .sort();
  } finally {
    session.disconnect();
  }
}

export interface RequestPath {
  /** The files the request itself runs code in, from its arrival to its answer. */
  request: string[];
  /**
   * The files the database's NOTIFY runs code in when a change commits (the live updates' listener and feed, and
   * on the embedded database its delivery): measured around a NOTIFY sent from outside the API, so they are told
   * apart from the request's own files however the two interleave.
   */
  notify: string[];
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 300));

/** The files one `op` request runs code in, with the default configuration (on `databaseUrl`, else embedded). */
export async function requestPath(op: keyof typeof CALLS, databaseUrl?: string): Promise<RequestPath> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "request-path-"));
  const env = { NODE_ENV: "development", PORT: "0", PGLITE_DATA_DIR: path.join(dir, "pglite"), LOG_LEVEL: "warn" };
  const vars = databaseUrl ? { ...env, DATABASE_URL: databaseUrl } : env;
  const config = loadConfig(vars);
  // Opened here as the runtime would, so the outside NOTIFY can reach the same database.
  const db = await bootstrapDatabase("serve", { env: { ...process.env, DATABASE_URL: undefined, ...vars } });
  const runtime = await createRuntime(config, createLogger("warn"), {
    sweepers: false,
    database: { url: db.url, embedded: Boolean(db.embedded) },
  });
  const outside = new pg.Client({ connectionString: db.url });
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
    await settle();
    await outside.connect();
    const notice = JSON.stringify({ u: "request-path", op: "updated", id: randomUUID(), v: 2 });
    const notify = async () => {
      await outside.query("SELECT pg_notify($1, $2)", [CHANNEL, notice]);
      await settle();
    };
    await notify();
    const both = await filesRunBy(async () => {
      await check();
      await settle();
    });
    const notified = await filesRunBy(notify);
    return { request: both.filter((file) => !notified.includes(file)), notify: notified };
  } finally {
    await outside.end().catch(() => {});
    await runtime.close();
    await db.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === path.resolve(process.argv[1])) {
  const json = process.argv.includes("--json");
  const op = process.argv.slice(2).find((arg) => arg !== "--json") ?? "create";
  if (!(op in CALLS)) throw new Error(`unknown request ${op}: one of ${Object.keys(CALLS).join(", ")}`);
  const { request, notify } = await requestPath(op, process.env.DATABASE_URL || undefined);
  if (json) {
    console.log(JSON.stringify({ request, notify }));
    process.exit(0);
  }
  console.log(request.map((file) => `src/${file}`).join("\n"));
  console.log(`${request.length} files on the request; then the commit's NOTIFY:`);
  console.log(notify.map((file) => `src/${file}`).join("\n"));
}
