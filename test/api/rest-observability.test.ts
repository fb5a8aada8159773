import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { captureLogs } from "../support/capture-logs.ts";
import { startTestServer, type TestServer } from "../support/server.ts";

// REST calls are measured and logged as tRPC calls are: by procedure, never by the URL a client typed.

const { logger, lines, entries } = captureLogs("info");
// Let the last 'close' events log and count.
const settle = () => new Promise((resolve) => setTimeout(resolve, 50));

let api: TestServer;
let auth: string;
beforeAll(async () => {
  api = await startTestServer({}, undefined, { logger });
  auth = `Bearer ${await api.token("rest-obs-user")}`;
});
afterAll(async () => {
  await api?.close();
});

const metrics = async () => {
  await settle();
  return (await fetch(`${api.url}/metrics`)).text();
};
const count = (text: string, series: string) =>
  Number(text.match(new RegExp(`^${series.replace(/[{}.()[\]|]/g, "\\$&")} (\\d+)$`, "m"))?.[1] ?? 0);

describe("metrics and the access log", () => {
  test("GET /api/todos and GET /api/todos/<unknown id>: route /api, their procedures, the NOT_FOUND counted", async () => {
    const missing = "rest-obs-missing-id-5c1e";
    const list = await fetch(`${api.url}/api/todos?limit=5`, {
      headers: { authorization: auth, "x-request-id": "rest-obs-list" },
    });
    expect(list.status).toBe(200);
    const byId = await fetch(`${api.url}/api/todos/${missing}`, {
      headers: { authorization: auth, "x-request-id": "rest-obs-by-id" },
    });
    expect(byId.status).toBe(404);

    const text = await metrics();
    expect(count(text, `http_request_duration_seconds_count{route="/api",status="200"}`)).toBe(1);
    expect(count(text, `http_request_duration_seconds_count{route="/api",status="404"}`)).toBe(1);
    expect(text).not.toContain(`route="other"`);
    expect(count(text, `trpc_call_duration_seconds_count{procedure="todo.list"}`)).toBe(1);
    expect(count(text, `trpc_call_duration_seconds_count{procedure="todo.byId"}`)).toBe(1);
    expect(count(text, `trpc_errors_total{procedure="todo.byId",code="NOT_FOUND"}`)).toBe(1);
    expect(text).not.toContain(missing);

    const logged = (reqId: string) => entries().filter((e) => e.reqId === reqId);
    expect(logged("rest-obs-list")).toEqual([
      expect.objectContaining({ msg: "request", method: "GET", path: "/api", procedure: "todo.list", status: 200 }),
    ]);
    expect(logged("rest-obs-by-id")).toEqual([
      expect.objectContaining({ msg: "request", method: "GET", path: "/api", procedure: "todo.byId", status: 404 }),
    ]);
    const all = lines.join("\n");
    expect(all).not.toContain(missing);
    expect(all).not.toContain("/api/todos");
  });

  test("an unknown /api path is route /api, procedure unknown, and never echoed in the log or the metrics", async () => {
    const typed = "rest-obs-typed-path-9d2b";
    const res = await fetch(`${api.url}/api/${typed}`, {
      headers: { authorization: auth, "x-request-id": "rest-obs-unknown" },
    });
    expect(res.status).toBe(404);
    const text = await metrics();
    expect(count(text, `trpc_errors_total{procedure="unknown",code="NOT_FOUND"}`)).toBe(1);
    expect(text).not.toContain(typed);
    const logged = entries().filter((e) => e.reqId === "rest-obs-unknown");
    expect(logged).toHaveLength(1);
    expect(logged[0]).toMatchObject({ msg: "request", path: "/api", status: 404 });
    expect(logged[0]).not.toHaveProperty("procedure");
    expect(lines.join("\n")).not.toContain(typed);
  });

  test("a REST body the parser refuses counts against its procedure", async () => {
    const res = await fetch(`${api.url}/api/todos`, {
      method: "POST",
      headers: { authorization: auth, "content-type": "application/json" },
      body: "{not json",
    });
    expect(res.status).toBe(400);
    expect(count(await metrics(), `trpc_errors_total{procedure="todo.create",code="PARSE_ERROR"}`)).toBe(1);
  });

  test("a REST call that fails on the server is logged once, as a tRPC one is, with its request id", async () => {
    await api.database.prisma.$executeRawUnsafe(`ALTER TABLE "Todo" RENAME TO "TodoAway"`);
    try {
      const res = await fetch(`${api.url}/api/todos`, {
        headers: { authorization: auth, "x-request-id": "rest-obs-failed" },
      });
      expect(res.status).toBe(500);
    } finally {
      await api.database.prisma.$executeRawUnsafe(`ALTER TABLE "TodoAway" RENAME TO "Todo"`);
    }
    expect(count(await metrics(), `trpc_errors_total{procedure="todo.list",code="INTERNAL_SERVER_ERROR"}`)).toBe(1);
    const logged = entries().filter((e) => e.reqId === "rest-obs-failed");
    expect(logged.filter((e) => e.msg === "procedure failed")).toEqual([
      expect.objectContaining({
        level: 50,
        path: "todo.list",
        type: "query",
        code: "INTERNAL_SERVER_ERROR",
        surface: "rest",
      }),
    ]);
    expect(logged.filter((e) => e.msg === "request")).toEqual([
      expect.objectContaining({ path: "/api", procedure: "todo.list", status: 500 }),
    ]);
  });
});

describe("error bodies built outside the handlers", () => {
  test("the per-IP limit answers each surface in its own error shape", async () => {
    const limited = await api.variant({ RATE_LIMIT_PER_IP: "1", RATE_LIMIT_WINDOW_MS: "60000" });
    try {
      expect((await fetch(`${limited.url}/api/me`, { headers: { authorization: auth } })).status).toBe(200);
      const rest = await fetch(`${limited.url}/api/me`, { headers: { authorization: auth } });
      expect(rest.status).toBe(429);
      expect(await rest.json()).toEqual({
        message: "Too many requests from this address, retry later",
        code: "TOO_MANY_REQUESTS",
        data: { code: "TOO_MANY_REQUESTS", httpStatus: 429, zodError: null },
      });
      const trpc = await fetch(`${limited.trpcUrl}/me`, { headers: { authorization: auth } });
      expect(trpc.status).toBe(429);
      expect(((await trpc.json()) as { error: { json: { data: { code: string } } } }).error.json.data.code).toBe(
        "TOO_MANY_REQUESTS",
      );
    } finally {
      await limited.close();
    }
  });

  test("anywhere else an error is { error }", async () => {
    const res = await fetch(`${api.url}/nope`);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: "Not found" });
    // POST /dev/token exists with the development secret only (no AUTH_SECRET).
    const dev = await api.variant({ AUTH_SECRET: "" });
    try {
      const token = await fetch(`${dev.url}/dev/token`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "{}",
      });
      expect(token.status).toBe(400);
      expect(await token.json()).toEqual({ error: expect.stringMatching(/^name: /) });
    } finally {
      await dev.close();
    }
  });
});
