/**
 * Nothing open by default: POST /dev/token only with the API's own development secret, and outside production
 * only Host names of this machine (or ALLOWED_HOSTS) are answered, the DNS-rebinding defence.
 * The process defaults (HOST, the start-up warning): test/process/dev-defaults.test.ts.
 */
import { request } from "node:http";
import net from "node:net";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startTestServer, type TestServer } from "../support/server.ts";

let dev: TestServer;
let withSecret: TestServer;
let withJwks: TestServer;
let production: TestServer;

beforeAll(async () => {
  // As `npm start` with no AUTH_SECRET: the API generated its secret (here TEST_SECRET, kept where it keeps it).
  dev = await startTestServer({
    NODE_ENV: "development",
    AUTH_SECRET: "",
    ALLOWED_HOSTS: "app.internal, .example.test",
  });
  [withSecret, withJwks, production] = await Promise.all([
    // A staging box where NODE_ENV was forgotten: a real secret, development otherwise.
    dev.variant({ NODE_ENV: "development" }),
    // Nothing listens on port 1: only the endpoint's absence is tested here.
    dev.variant({
      NODE_ENV: "development",
      AUTH_SECRET: "",
      AUTH_JWKS_URL: "http://127.0.0.1:1/.well-known/jwks.json",
    }),
    dev.variant({ NODE_ENV: "production" }),
  ]);
});
afterAll(async () => {
  await Promise.all([withSecret, withJwks, production].map((server) => server?.close()));
  await dev?.close();
});

const devToken = (server: TestServer) =>
  fetch(`${server.url}/dev/token`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ name: "mallory" }),
  });

describe("POST /dev/token", () => {
  test("exists in development when the API generated its own secret; the token it gives works", async () => {
    const res = await devToken(dev);
    expect(res.status).toBe(200);
    const { token } = (await res.json()) as { token: string };
    expect(await dev.clientWithHeader(`Bearer ${token}`).me.query()).toMatchObject({ id: "mallory" });
    // The generated secret is the one test/support keeps for it (the browser tests sign with it too).
    expect(await (await dev.client("bob")).me.query()).toMatchObject({ id: "bob" });
  });

  test.each([
    ["AUTH_SECRET is set (development)", () => withSecret],
    ["AUTH_JWKS_URL is set (development)", () => withJwks],
    ["NODE_ENV=production", () => production],
  ])("does not exist when %s: 404", async (_, server) => {
    const res = await devToken(server());
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: "Not found" });
  });

  test("the API still accepts tokens signed with AUTH_SECRET (npm run token), just not minted over HTTP", async () => {
    expect(await (await withSecret.client("alice")).me.query()).toMatchObject({ id: "alice" });
  });
});

/** One request with exactly this Host header (node:http sends what it is given). */
function withHost(
  server: TestServer,
  host: string,
  path = "/healthz",
  method = "GET",
): Promise<{ status: number; body: string }> {
  const { port } = new URL(server.url);
  return new Promise((resolve, reject) => {
    const req = request(
      { host: "127.0.0.1", port, path, method, headers: { host, "content-type": "application/json" }, agent: false },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (chunk) => (body += chunk));
        res.on("end", () => resolve({ status: res.statusCode!, body }));
      },
    );
    req.on("error", reject);
    req.end(method === "POST" ? JSON.stringify({ name: "mallory" }) : undefined);
  });
}

describe("the Host header outside production", () => {
  const port = () => new URL(dev.url).port;

  test.each([
    "localhost",
    "localhost:3000",
    "LOCALHOST:3000",
    "localhost.",
    "app.localhost:5173",
    "127.0.0.1",
    "127.1.2.3:80",
    "[::1]",
    "[::1]:3000",
    "app.internal",
    "app.internal:8080",
    "example.test",
    "api.example.test:443",
  ])("%s is answered", async (host) => {
    expect((await withHost(dev, host)).status).toBe(200);
  });

  test("the port in it may be any, including the server's own", async () => {
    expect((await withHost(dev, `127.0.0.1:${port()}`)).status).toBe(200);
    expect((await withHost(dev, `localhost:${port()}`, "/dev/token", "POST")).status).toBe(200);
  });

  test.each([
    "evil.example",
    "evil.example:3000",
    "localhost.evil.example",
    "127.0.0.1.nip.io",
    "app.internal.evil.example",
    "other.internal",
    "notexample.test",
    "192.168.1.5:3000",
    "0.0.0.0",
    "[fe80::1]:3000",
    "[::ffff:127.0.0.1]",
    "localhost:port",
    "local host",
  ])("%s is 403 FORBIDDEN, whatever the path", async (host) => {
    const health = await withHost(dev, host);
    expect(health.status).toBe(403);
    expect(JSON.parse(health.body)).toEqual({ error: expect.stringContaining("ALLOWED_HOSTS") });
    // A rebound page must not mint tokens, read todos, or reach the page.
    expect((await withHost(dev, host, "/dev/token", "POST")).status).toBe(403);
    expect((await withHost(dev, host, "/")).status).toBe(403);
  });

  test("the 403 has each surface's error shape", async () => {
    const trpc = await withHost(dev, "evil.example", "/trpc/todo.list");
    expect(trpc.status).toBe(403);
    expect(JSON.parse(trpc.body).error.json).toMatchObject({
      code: -32003,
      data: { code: "FORBIDDEN", httpStatus: 403 },
    });
    const rest = await withHost(dev, "evil.example", "/api/todos");
    expect(rest.status).toBe(403);
    expect(JSON.parse(rest.body)).toMatchObject({ code: "FORBIDDEN", data: { code: "FORBIDDEN", httpStatus: 403 } });
  });

  test("a request with no Host at all (HTTP/1.0) is 403: no name, nothing on the list", async () => {
    const socket = net.connect({ host: "127.0.0.1", port: Number(port()) });
    socket.end("GET /healthz HTTP/1.0\r\n\r\n");
    let response = "";
    socket.setEncoding("utf8");
    for await (const chunk of socket) response += chunk;
    expect(response).toMatch(/^HTTP\/1\.1 403 /);
  });

  test("the same check applies with AUTH_SECRET in development", async () => {
    expect((await withHost(withSecret, "evil.example")).status).toBe(403);
    expect((await withHost(withSecret, "localhost")).status).toBe(200);
  });

  test("in production any Host is answered (a proxy or load balancer names the service)", async () => {
    expect((await withHost(production, "todo.example.com")).status).toBe(200);
    expect((await withHost(production, "10.0.0.7:3000")).status).toBe(200);
  });
});
