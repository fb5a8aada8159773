/**
 * What the Express app adds for the TodoMVC page: POST /dev/token outside production with the development secret,
 * and the page at `/`. When the endpoint is absent otherwise: test/api/dev-defaults.test.ts.
 */
import { mkdtemp, mkdir, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startTestServer, type TestServer } from "../support/server.ts";

let webDir: string;
let dev: TestServer;
let production: TestServer;
beforeAll(async () => {
  // A stand-in for web/dist: serving is what is tested here, the Vite build in test/e2e.
  webDir = await mkdtemp(path.join(os.tmpdir(), "todo-web-"));
  await mkdir(path.join(webDir, "assets"));
  await writeFile(path.join(webDir, "index.html"), "<!doctype html><title>Todos</title>");
  await writeFile(path.join(webDir, "assets", "index-abc123.js"), "console.log(1)");
  await writeFile(path.join(webDir, "healthz"), "a file must not shadow a route");
  await writeFile(path.join(webDir, ".build-hash"), "secret-ish");
  [dev, production] = await Promise.all([
    // As `npm start` without AUTH_SECRET: the API's own development secret.
    startTestServer({ NODE_ENV: "development", AUTH_SECRET: "" }, undefined, { webDir }),
    startTestServer({ NODE_ENV: "production" }, undefined, { webDir }),
  ]);
});
afterAll(async () => {
  await Promise.all([dev?.close(), production?.close()]);
  await rm(webDir, { recursive: true, force: true });
});

const requestToken = (server: TestServer, body: unknown, contentType = "application/json") =>
  fetch(`${server.url}/dev/token`, {
    method: "POST",
    headers: { "content-type": contentType },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });

describe("POST /dev/token", () => {
  test("signs a token for the typed name that the API accepts, with the name as user id and name", async () => {
    const res = await requestToken(dev, { name: "  Zoë Example " });
    expect(res.status).toBe(200);
    const { userId, token } = (await res.json()) as { userId: string; token: string };
    expect(userId).toBe("Zoë Example");
    const me = await dev.clientWithHeader(`Bearer ${token}`).me.query();
    expect(me).toEqual({ id: "Zoë Example", email: null, name: "Zoë Example" });
  });

  test.each([
    ["an empty name", { name: "   " }, "name: must not be empty"],
    ["a name over 255 characters", { name: "x".repeat(256) }, "name: must be at most 255 characters"],
    ["a NUL character", { name: "a\u0000b" }, "name: must not contain NUL characters"],
    ["a name that is not a string", { name: 42 }, "name: must be a string"],
    ["no name", {}, "name: must be a string"],
    ["a body that is not an object", [], "body: expected a JSON object"],
  ])("refuses %s with 400 and the reason", async (_, body, error) => {
    const res = await requestToken(dev, body);
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({ error });
  });

  test("refuses a body that is not JSON", async () => {
    expect((await requestToken(dev, "name=alice", "application/x-www-form-urlencoded")).status).toBe(400);
    expect((await requestToken(dev, "{not json")).status).toBe(400);
  });

  test("does not exist with NODE_ENV=production", async () => {
    const res = await requestToken(production, { name: "alice" });
    expect(res.status).toBe(404);
    expect(await res.json()).toEqual({ error: "Not found" });
  });
});

describe("the page at /", () => {
  test.each([
    ["development", () => dev],
    ["production", () => production],
  ])("is served in %s; index.html is revalidated, hashed assets are cached for good", async (_, server) => {
    const index = await fetch(`${server().url}/`);
    expect(index.status).toBe(200);
    expect(index.headers.get("content-type")).toMatch(/^text\/html/);
    expect(index.headers.get("cache-control")).toBe("no-cache");
    expect(await index.text()).toContain("<title>Todos</title>");

    const asset = await fetch(`${server().url}/assets/index-abc123.js`);
    expect(asset.status).toBe(200);
    expect(asset.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
  });

  test("API routes win over files; dotfiles and unknown paths are a JSON 404", async () => {
    expect(await (await fetch(`${dev.url}/healthz`)).json()).toEqual({ status: "ok" });
    for (const missing of ["/.build-hash", "/nope.html"]) {
      const res = await fetch(`${dev.url}${missing}`);
      expect(res.status).toBe(404);
      expect(await res.json()).toEqual({ error: "Not found" });
    }
  });
});
