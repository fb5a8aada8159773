/**
 * `tsx src/server.ts` as `npm start` runs it: outside production it listens on 127.0.0.1 unless HOST says otherwise,
 * offers POST /dev/token only with its own development secret, and says so in one warning line when HOST or
 * DATABASE_URL points off the machine. The HTTP rules themselves: test/api/dev-defaults.test.ts.
 */
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { projectRoot } from "../../src/project.ts";
import { createTestDatabase, type TestDatabase } from "../support/db.ts";

const SECRET = "staging-secret-that-is-at-least-32-characters";

interface LogLine {
  level: number;
  msg: string;
  [key: string]: unknown;
}
interface Started {
  child: ChildProcess;
  logs: LogLine[];
  line: LogLine;
  base: string;
}

let database: TestDatabase;
let dataDir: string;
const children: ChildProcess[] = [];

beforeAll(async () => {
  database = await createTestDatabase({ migrated: true });
  // Where the development secret is kept (beside the embedded database's folder), never the project's .data.
  dataDir = await mkdtemp(path.join(os.tmpdir(), "todo-dev-defaults-"));
}, 60_000);
afterAll(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  await database?.close();
  await rm(dataDir, { recursive: true, force: true });
});

/** Exactly this environment (plus PATH and HOME): no HOST unless given. Resolves once the server listens. */
async function start(env: Record<string, string>): Promise<Started> {
  const child = spawn(process.execPath, ["--import", "tsx", path.join("src", "server.ts")], {
    cwd: projectRoot,
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? "",
      PORT: "0",
      LOG_LEVEL: "info",
      PGLITE_DATA_DIR: path.join(dataDir, "pglite"),
      ...env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  children.push(child);
  const logs: LogLine[] = [];
  let stderr = "";
  child.stderr.on("data", (chunk) => (stderr += chunk));
  const line = await new Promise<LogLine>((resolve, reject) => {
    createInterface({ input: child.stdout }).on("line", (text) => {
      let parsed: LogLine;
      try {
        parsed = JSON.parse(text) as LogLine;
      } catch {
        parsed = { level: 30, msg: text };
      }
      logs.push(parsed);
      if (parsed.msg.startsWith("Todo API on")) resolve(parsed);
    });
    child.once("exit", (code) => reject(new Error(`the server exited (${code}) before listening: ${stderr}`)));
  });
  return { child, logs, line, base: `http://127.0.0.1:${line.port as number}` };
}

async function stop({ child }: Started): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  child.kill("SIGTERM");
  await exited;
}

const offMachineWarnings = (logs: LogLine[]) =>
  logs.filter((line) => line.level === 40 && line.msg.startsWith("NODE_ENV="));

const devToken = (base: string) =>
  fetch(`${base}/dev/token`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name: "alice" }),
  });

/** What `npm run token -- alice` prints with this environment. */
async function cliToken(env: Record<string, string>): Promise<string> {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ["--import", "tsx", path.join("scripts", "token.ts"), "alice"],
    {
      cwd: projectRoot,
      env: {
        PATH: process.env.PATH ?? "",
        HOME: process.env.HOME ?? "",
        PGLITE_DATA_DIR: path.join(dataDir, "pglite"),
        ...env,
      },
    },
  );
  return stdout.trim();
}

const me = (base: string, token: string) => fetch(`${base}/trpc/me`, { headers: { authorization: `Bearer ${token}` } });

/** A non-loopback IPv4 address of this machine, if it has one. */
const lanAddress = () =>
  Object.values(os.networkInterfaces())
    .flat()
    .find((i) => i && i.family === "IPv4" && !i.internal)?.address;

function connects(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    socket.once("connect", () => (socket.destroy(), resolve(true)));
    socket.once("error", () => resolve(false));
  });
}

describe("outside production", () => {
  test("with no HOST it listens on 127.0.0.1 only, says nothing about the network, and the dev sign-in works", async () => {
    const server = await start({ NODE_ENV: "development", DATABASE_URL: database.url });
    try {
      expect(server.line.address).toBe("127.0.0.1");
      const lan = lanAddress();
      if (lan) expect(await connects(lan, server.line.port as number)).toBe(false);
      expect(offMachineWarnings(server.logs)).toEqual([]);
      // auto: pg for a server that is not Neon, so no WebSocket relay listens.
      expect(server.line.msg).toContain("driver: pg");
      expect(server.line.msg).not.toContain("WebSocket proxy");

      const res = await devToken(server.base);
      expect(res.status).toBe(200);
      const { token } = (await res.json()) as { token: string };
      expect((await me(server.base, token)).status).toBe(200);
      // npm run token finds the same generated secret.
      expect((await me(server.base, await cliToken({}))).status).toBe(200);
    } finally {
      await stop(server);
    }
  }, 60_000);

  test("AUTH_SECRET with HOST=0.0.0.0 (NODE_ENV forgotten): no dev token, one warning line, npm run token still signs", async () => {
    const server = await start({
      NODE_ENV: "development",
      HOST: "0.0.0.0",
      AUTH_SECRET: SECRET,
      DATABASE_URL: database.url,
    });
    try {
      expect(server.line.address).toBe("0.0.0.0");
      const warnings = offMachineWarnings(server.logs);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]!.msg).toMatch(
        /^NODE_ENV=development but HOST=0\.0\.0\.0 listens beyond loopback .*ALLOWED_HOSTS.*NODE_ENV=production/,
      );
      expect(warnings[0]!.msg).not.toContain("DATABASE_URL");

      expect((await devToken(server.base)).status).toBe(404);
      // The operator's CLI signs with the real secret on this machine: that is not an HTTP door.
      expect((await me(server.base, await cliToken({ AUTH_SECRET: SECRET }))).status).toBe(200);
    } finally {
      await stop(server);
    }
  }, 60_000);

  test("a DATABASE_URL on another machine is named in the same one line, without its password", async () => {
    // TEST-NET-1: nobody answers there; the API starts anyway (/readyz reports it).
    const server = await start({
      NODE_ENV: "development",
      HOST: "0.0.0.0",
      AUTH_SECRET: SECRET,
      DATABASE_URL: "postgresql://todo:hunter2-password@192.0.2.10:5432/todo",
      DB_CONNECTION_TIMEOUT_MS: "1000",
    });
    try {
      const warnings = offMachineWarnings(server.logs);
      expect(warnings).toHaveLength(1);
      expect(warnings[0]!.msg).toMatch(/HOST=0\.0\.0\.0 .* and DATABASE_URL is on 192\.0\.2\.10: /);
      expect(warnings[0]!.msg).not.toContain("hunter2");
    } finally {
      await stop(server);
    }
  }, 60_000);
});

test("in production HOST defaults to 0.0.0.0 and nothing is warned", async () => {
  const server = await start({ NODE_ENV: "production", AUTH_SECRET: SECRET, DATABASE_URL: database.url });
  try {
    expect(server.line.address).toBe("0.0.0.0");
    expect(offMachineWarnings(server.logs)).toEqual([]);
    expect((await devToken(server.base)).status).toBe(404);
  } finally {
    await stop(server);
  }
}, 60_000);
