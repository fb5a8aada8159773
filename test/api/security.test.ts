import { createServer, type Server } from "node:http";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { codeOf } from "../support/errors.ts";
import { startTestServer, type TestServer } from "../support/server.ts";

let api: TestServer;
let auth: string;
beforeAll(async () => {
  api = await startTestServer({ NODE_ENV: "production" });
  auth = `Bearer ${await api.token("sec-user")}`;
});
afterAll(async () => {
  await api?.close();
});

const post = (base: TestServer, path: string, body: string, headers: Record<string, string> = {}) =>
  fetch(`${base.trpcUrl}/${path}`, { method: "POST", headers: { authorization: auth, ...headers }, body });

type ErrorBody = { error: { json: { message: string; data: { code: string; httpStatus: number } } } };

describe("request bodies", () => {
  test.each([
    ["text/plain", '{"json":{"title":"x"}}'],
    ["application/x-www-form-urlencoded", "title=x"],
    ["multipart/form-data; boundary=b", '--b\r\nContent-Disposition: form-data; name="title"\r\n\r\nx\r\n--b--\r\n'],
    ["application/octet-stream", '{"json":{"title":"x"}}'],
    ["application/jsonx", '{"json":{"title":"x"}}'],
    ["application/xml", "<title>x</title>"],
  ])("POST with content-type %s is 415 and writes nothing", async (type, body) => {
    const res = await post(api, "todo.create", body, { "content-type": type });
    expect(res.status).toBe(415);
    expect(((await res.json()) as ErrorBody).error.json.data.code).toBe("UNSUPPORTED_MEDIA_TYPE");
    expect(await api.database.prisma.todo.count({ where: { userId: "sec-user" } })).toBe(0);
  });

  test("POST without a content-type is 415", async () => {
    const res = await fetch(`${api.trpcUrl}/todo.create`, {
      method: "POST",
      headers: { authorization: auth },
      body: new Uint8Array(Buffer.from('{"json":{"title":"x"}}')),
    });
    expect(res.status).toBe(415);
  });

  test("JSON with parameters or another case is accepted", async () => {
    for (const type of ["application/json; charset=utf-8", "Application/JSON"]) {
      const res = await post(api, "todo.stats", "{}", { "content-type": type });
      expect(res.status).toBe(200);
    }
  });

  test("a streamed (chunked) body over the cap is 413 too: the limit is where tRPC reads the body", async () => {
    const chunk = new TextEncoder().encode("y".repeat(64 * 1024));
    let sent = 0;
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent === 0) controller.enqueue(new TextEncoder().encode('{"json":{"title":"x","description":"'));
        if (sent > 2 * 1024 * 1024) return controller.close();
        sent += chunk.length;
        controller.enqueue(chunk);
      },
    });
    const res = await fetch(`${api.trpcUrl}/todo.create`, {
      method: "POST",
      headers: { authorization: auth, "content-type": "application/json" },
      body,
      duplex: "half",
    });
    expect(res.status).toBe(413);
    expect(await api.database.prisma.todo.count({ where: { userId: "sec-user" } })).toBe(0);
  });
});

describe("headers", () => {
  test("helmet's security headers on every response, no x-powered-by", async () => {
    for (const res of [
      await fetch(`${api.url}/healthz`),
      await fetch(`${api.trpcUrl}/todo.stats`, { headers: { authorization: auth } }),
    ]) {
      expect(res.headers.get("x-content-type-options")).toBe("nosniff");
      expect(res.headers.get("strict-transport-security")).toMatch(/max-age=/);
      expect(res.headers.get("x-frame-options")).toBe("SAMEORIGIN");
      expect(res.headers.get("content-security-policy")).toMatch(/default-src 'self'/);
      expect(res.headers.get("x-powered-by")).toBeNull();
    }
  });

  test("a request id is generated, or a sane one accepted, and echoed back", async () => {
    const generated = await fetch(`${api.url}/healthz`);
    expect(generated.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    const given = await fetch(`${api.url}/healthz`, { headers: { "x-request-id": "trace-abc.123:4" } });
    expect(given.headers.get("x-request-id")).toBe("trace-abc.123:4");
    for (const bad of ["x".repeat(129), "has space", "semi;colon", "<script>"]) {
      const res = await fetch(`${api.url}/healthz`, { headers: { "x-request-id": bad } });
      expect(res.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
    }
  });
});

describe("CORS", () => {
  const preflight = (base: TestServer, origin: string) =>
    fetch(`${base.trpcUrl}/todo.create`, {
      method: "OPTIONS",
      headers: {
        origin,
        "access-control-request-method": "POST",
        "access-control-request-headers": "authorization,content-type",
      },
    });

  test("without CORS_ORIGINS no origin gets CORS headers", async () => {
    const res = await preflight(api, "https://app.example");
    expect(res.headers.get("access-control-allow-origin")).toBeNull();
    const get = await fetch(`${api.trpcUrl}/todo.stats`, {
      headers: { authorization: auth, origin: "https://app.example" },
    });
    expect(get.headers.get("access-control-allow-origin")).toBeNull();
  });

  test("CORS_ORIGINS allows exactly the listed origins", async () => {
    const cors = await api.variant({ CORS_ORIGINS: "https://app.example, http://localhost:5173" });
    try {
      for (const origin of ["https://app.example", "http://localhost:5173"]) {
        const res = await preflight(cors, origin);
        expect(res.status).toBe(204);
        expect(res.headers.get("access-control-allow-origin")).toBe(origin);
        expect(res.headers.get("access-control-allow-headers")).toMatch(/authorization/);
        const get = await fetch(`${cors.trpcUrl}/todo.stats`, { headers: { authorization: auth, origin } });
        expect(get.headers.get("access-control-allow-origin")).toBe(origin);
        expect(get.headers.get("access-control-expose-headers")).toMatch(/x-request-id/);
      }
      for (const origin of ["https://evil.example", "https://app.example.evil.example", "http://app.example", "null"]) {
        const res = await preflight(cors, origin);
        expect(res.headers.get("access-control-allow-origin")).toBeNull();
      }
    } finally {
      await cors.close();
    }
  });
});

describe("rate limits", () => {
  test("per IP: 429 with Retry-After and a tRPC error after RATE_LIMIT_PER_IP requests; health checks are not counted", async () => {
    const limited = await api.variant({ RATE_LIMIT_PER_IP: "5", RATE_LIMIT_WINDOW_MS: "60000" });
    try {
      for (let i = 0; i < 5; i++) {
        const res = await fetch(`${limited.trpcUrl}/todo.stats`, { headers: { authorization: auth } });
        expect(res.status).toBe(200);
        expect(res.headers.get("ratelimit")).toMatch(/limit=5/);
      }
      const res = await fetch(`${limited.trpcUrl}/todo.stats`, { headers: { authorization: auth } });
      expect(res.status).toBe(429);
      expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
      expect(((await res.json()) as ErrorBody).error.json.data.code).toBe("TOO_MANY_REQUESTS");
      // The typed client sees the code, batched or not.
      expect(await codeOf(limited.clientWithHeader(auth).todo.stats.query())).toBe("TOO_MANY_REQUESTS");
      expect(await codeOf((await limited.client("other")).todo.stats.query())).toBe("TOO_MANY_REQUESTS");
      // A spoofed X-Forwarded-For does not help while TRUST_PROXY is off.
      const spoofed = await fetch(`${limited.trpcUrl}/todo.stats`, {
        headers: { authorization: auth, "x-forwarded-for": "203.0.113.9" },
      });
      expect(spoofed.status).toBe(429);
      expect((await fetch(`${limited.url}/healthz`)).status).toBe(200);
      expect((await fetch(`${limited.url}/readyz`)).status).toBe(200);
    } finally {
      await limited.close();
    }
  });

  test("per IP behind a trusted proxy: each X-Forwarded-For client has its own budget", async () => {
    const proxied = await api.variant({ RATE_LIMIT_PER_IP: "2", TRUST_PROXY: "loopback" });
    try {
      const from = (ip: string) =>
        fetch(`${proxied.trpcUrl}/todo.stats`, { headers: { authorization: auth, "x-forwarded-for": ip } });
      expect((await from("203.0.113.1")).status).toBe(200);
      expect((await from("203.0.113.1")).status).toBe(200);
      expect((await from("203.0.113.1")).status).toBe(429);
      expect((await from("203.0.113.2")).status).toBe(200);
    } finally {
      await proxied.close();
    }
  });

  test("per user: calls beyond RATE_LIMIT_PER_USER are TOO_MANY_REQUESTS with Retry-After; other users are unaffected", async () => {
    const limited = await api.variant({ RATE_LIMIT_PER_USER: "3" });
    try {
      const alice = `Bearer ${await limited.token("rl-alice")}`;
      const call = (authorization: string) => fetch(`${limited.trpcUrl}/todo.stats`, { headers: { authorization } });
      for (let i = 0; i < 3; i++) expect((await call(alice)).status).toBe(200);
      const res = await call(alice);
      expect(res.status).toBe(429);
      expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
      expect(((await res.json()) as ErrorBody).error.json.data.code).toBe("TOO_MANY_REQUESTS");
      // A fresh token for the same user is the same user.
      expect((await call(`Bearer ${await limited.token("rl-alice")}`)).status).toBe(429);
      expect((await call(`Bearer ${await limited.token("rl-bob")}`)).status).toBe(200);
      // Each call of a batch counts: of four, three pass.
      const batch = await fetch(`${limited.trpcUrl}/todo.create,todo.create,todo.create,todo.create?batch=1`, {
        method: "POST",
        headers: { authorization: `Bearer ${await limited.token("rl-carol")}`, "content-type": "application/json" },
        body: JSON.stringify(Object.fromEntries([0, 1, 2, 3].map((i) => [i, { json: { title: `t${i}` } }]))),
      });
      const results = (await batch.json()) as { result?: unknown; error?: { json: { data: { code: string } } } }[];
      expect(results.filter((r) => r.result)).toHaveLength(3);
      expect(results.filter((r) => r.error?.json.data.code === "TOO_MANY_REQUESTS")).toHaveLength(1);
      expect(await limited.database.prisma.todo.count({ where: { userId: "rl-carol" } })).toBe(3);
    } finally {
      await limited.close();
    }
  });
});

describe("request timeout", () => {
  test("a call still running after REQUEST_TIMEOUT_MS is answered 503, and the server goes on serving", async () => {
    // An issuer whose key endpoint never answers: token verification hangs (jose would wait 5 s).
    const sockets = new Set<import("node:net").Socket>();
    const hanging: Server = createServer(() => {});
    hanging.on("connection", (socket) => sockets.add(socket));
    await new Promise<void>((resolve) => hanging.listen(0, "127.0.0.1", resolve));
    const slow = await api.variant({
      REQUEST_TIMEOUT_MS: "1000",
      AUTH_JWKS_URL: `http://127.0.0.1:${(hanging.address() as { port: number }).port}/jwks.json`,
    });
    try {
      const { SignJWT, generateKeyPair } = await import("jose");
      const { privateKey } = await generateKeyPair("ES256");
      const token = await new SignJWT({})
        .setProtectedHeader({ alg: "ES256", kid: "k" })
        .setSubject("slow")
        .setExpirationTime("5m")
        .sign(privateKey);
      const res = await fetch(`${slow.trpcUrl}/todo.stats`, { headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBe(503);
      const body = (await res.json()) as ErrorBody;
      expect(body.error.json.data.code).toBe("SERVICE_UNAVAILABLE");
      expect(body.error.json.message).toMatch(/timed out/);
      expect((await fetch(`${slow.trpcUrl}/todo.stats`, { headers: { authorization: auth } })).status).toBe(200);
    } finally {
      await slow.close();
      for (const socket of sockets) socket.destroy();
      hanging.close();
    }
  });
});

describe("/metrics", () => {
  test("Prometheus text: latency per procedure, errors by code, pool gauges; unknown paths share one label", async () => {
    await fetch(`${api.trpcUrl}/todo.list`, { headers: { authorization: auth } });
    await fetch(`${api.trpcUrl}/todo.byId?input=${encodeURIComponent(JSON.stringify({ json: { id: "nope" } }))}`, {
      headers: { authorization: auth },
    });
    await fetch(`${api.trpcUrl}/todo.list`);
    await fetch(`${api.trpcUrl}/random-${Math.random()}`, { headers: { authorization: auth } });
    await fetch(`${api.url}/random-${Math.random()}`);
    const res = await fetch(`${api.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain/);
    const text = await res.text();
    expect(text).toMatch(/trpc_call_duration_seconds_bucket\{le="0\.005",procedure="todo\.list"\}/);
    expect(text).toMatch(/trpc_call_duration_seconds_count\{procedure="todo\.byId"\} [1-9]/);
    expect(text).toMatch(/trpc_errors_total\{procedure="todo\.byId",code="NOT_FOUND"\} [1-9]/);
    expect(text).toMatch(/trpc_errors_total\{procedure="todo\.list",code="UNAUTHORIZED"\} [1-9]/);
    expect(text).toMatch(/trpc_errors_total\{procedure="unknown",code="NOT_FOUND"\} [1-9]/);
    expect(text).toMatch(/http_request_duration_seconds_count\{route="other",status="404"\} [1-9]/);
    expect(text).toMatch(/http_request_duration_seconds_count\{route="\/trpc",status="200"\} [1-9]/);
    expect(text).toMatch(/db_pool_max_connections 10/);
    // Connections come and go (idle timeout): their count is there, whatever it is at this instant.
    expect(text).toMatch(/db_pool_total_connections \d+/);
    expect(text).toMatch(/db_pool_idle_connections \d/);
    expect(text).toMatch(/db_pool_waiting_requests \d+/);
    expect(text).toMatch(/process_cpu_seconds_total/);
    expect(text).not.toMatch(/random-/);
  });

  test("with METRICS_TOKEN only its bearer may read /metrics", async () => {
    const guarded = await api.variant({ METRICS_TOKEN: "metrics-token-0123456789" });
    try {
      expect((await fetch(`${guarded.url}/metrics`)).status).toBe(401);
      expect((await fetch(`${guarded.url}/metrics`, { headers: { authorization: "Bearer wrong" } })).status).toBe(401);
      const ok = await fetch(`${guarded.url}/metrics`, {
        headers: { authorization: "Bearer metrics-token-0123456789" },
      });
      expect(ok.status).toBe(200);
      expect(await ok.text()).toMatch(/trpc_call_duration_seconds/);
    } finally {
      await guarded.close();
    }
  });
});
