import { TRPCClientError } from "@trpc/client";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { parseConfig } from "../../src/config.ts";
import { createLogger } from "../../src/logger.ts";
import { createRuntime } from "../../src/runtime.ts";
import type { AppRouter } from "../../src/trpc/routers/_app.ts";
import { startTestServer, TEST_SECRET, type TestServer } from "../support/server.ts";

let api: TestServer;
let auth: string;
beforeAll(async () => {
  api = await startTestServer({ NODE_ENV: "production" });
  auth = `Bearer ${await api.token("http-user")}`;
});
afterAll(async () => {
  await api?.close();
});

const post = (path: string, body: string, headers: Record<string, string> = {}) =>
  fetch(`${api.trpcUrl}/${path}`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: auth, ...headers },
    body,
  });

describe("health", () => {
  test("/healthz and /readyz answer JSON", async () => {
    const health = await fetch(`${api.url}/healthz`);
    expect(health.status).toBe(200);
    expect(await health.json()).toEqual({ status: "ok" });
    const ready = await fetch(`${api.url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ status: "ready" });
  });

  test("unknown paths are a JSON 404", async () => {
    const res = await fetch(`${api.url}/nope`);
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: "Not found" });
  });
});

describe("malformed requests are 4xx, never 500", () => {
  test("invalid JSON", async () => {
    const res = await post("todo.create", "{not json");
    expect(res.status).toBe(400);
    const text = await res.text();
    expect(text).not.toMatch(/at .*\.ts|stack/i);
  });

  test("a body over the 1 MB cap is 413 and writes nothing", async () => {
    const res = await post("todo.create", JSON.stringify({ json: { title: "x", description: "y".repeat(1_100_000) } }));
    expect(res.status).toBe(413);
    expect(await api.database.prisma.todo.count()).toBe(0);
  });

  test("a mutation called with GET is refused", async () => {
    const res = await fetch(
      `${api.trpcUrl}/todo.create?input=${encodeURIComponent(JSON.stringify({ json: { title: "x" } }))}`,
      {
        headers: { authorization: auth },
      },
    );
    expect(res.status).toBe(405);
  });

  test("a batch beyond MAX_BATCH_SIZE (50) is refused with 400 and runs nothing", async () => {
    const paths = (n: number) => Array(n).fill("todo.create").join(",");
    const input = (n: number) =>
      JSON.stringify(Object.fromEntries(Array.from({ length: n }, (_, i) => [i, { json: { title: `b${i}` } }])));
    const tooMany = await post(`${paths(51)}?batch=1`, input(51));
    expect(tooMany.status).toBe(400);
    expect(await api.database.prisma.todo.count()).toBe(0);
    const fine = await post(`${paths(2)}?batch=1`, input(2));
    expect(fine.status).toBe(200);
    expect(await api.database.prisma.todo.count()).toBe(2);
    await api.database.prisma.todo.deleteMany();
  });

  test("queries may be sent as POST, so long inputs need no long URL", async () => {
    // The longest search (200 code points), about 2,400 characters once URL-encoded.
    const res = await post("todo.list", JSON.stringify({ json: { search: "😀".repeat(200) } }));
    expect(res.status).toBe(200);
    expect(((await res.json()) as { result: { data: { json: { items: unknown[] } } } }).result.data.json.items).toEqual(
      [],
    );
  });

  test("an unknown procedure is 404", async () => {
    const res = await post("todo.nope", "{}");
    expect(res.status).toBe(404);
  });

  test("wrong shapes give BAD_REQUEST with field errors", async () => {
    const res = await post("todo.create", JSON.stringify({ json: { title: ["array"] } }));
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { json: { data: Record<string, any> } } };
    expect(body.error.json.data.code).toBe("BAD_REQUEST");
    expect(body.error.json.data.zodError.fieldErrors.title).toBeDefined();
    expect(body.error.json.data.stack).toBeUndefined();
  });

  test("a NUL byte is BAD_REQUEST, not a database error", async () => {
    const res = await post("todo.create", JSON.stringify({ json: { title: "nul\u0000byte" } }));
    expect(res.status).toBe(400);
  });
});

describe("database unreachable", () => {
  test("/readyz is 503 and procedures fail fast with SERVICE_UNAVAILABLE and no internals", async () => {
    const config = parseConfig({
      NODE_ENV: "production",
      AUTH_SECRET: TEST_SECRET,
      // Port 1 on loopback: nothing listens there.
      DATABASE_URL: "postgresql://postgres@127.0.0.1:1/postgres",
      DB_DRIVER: process.env.DB_DRIVER ?? "neon",
      DB_CONNECTION_TIMEOUT_MS: "1000",
      PORT: "0",
      HOST: "127.0.0.1",
    });
    const runtime = await createRuntime(config, createLogger("silent"), { database: { url: config.db.url! } });
    const base = `http://127.0.0.1:${(await runtime.start()).port}`;
    try {
      const started = Date.now();
      const ready = await fetch(`${base}/readyz`);
      expect(ready.status).toBe(503);
      expect(await ready.json()).toMatchObject({ status: "unavailable" });

      const res = await fetch(`${base}/trpc/todo.list`, { headers: { authorization: auth } });
      const body = await res.text();
      expect(res.status).toBeGreaterThanOrEqual(500);
      expect(body).not.toMatch(/prisma|ECONNREFUSED|127\.0\.0\.1|select|stack/i);
      expect(Date.now() - started).toBeLessThan(10_000);
    } finally {
      await runtime.close();
    }
  });
});

test("the typed client surfaces errors as TRPCClientError with a code", async () => {
  const client = api.clientWithHeader(auth);
  const error = await client.todo.byId.query({ id: "nope" }).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(TRPCClientError);
  expect((error as TRPCClientError<AppRouter>).data).toMatchObject({ code: "NOT_FOUND", httpStatus: 404 });
});
