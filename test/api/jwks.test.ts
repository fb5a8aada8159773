/**
 * Issuer keys (AUTH_JWKS_URL) that cannot be had are the issuer's outage, not a bad token: 503 with Retry-After on
 * every surface, never 401 (clients would log their users out). Real API servers, a real key server on loopback.
 */
import { createTRPCClient, httpBatchLink, TRPCClientError } from "@trpc/client";
import { createServer, type Server } from "node:http";
import type { Socket } from "node:net";
import { SignJWT, type JWK } from "jose";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { remoteKeysDefaults } from "../../src/auth/jwks.ts";
import type { AppRouter } from "../../src/trpc/routers/_app.ts";
import { transformer } from "../../src/trpc/transformer.ts";
import { codeOf } from "../support/errors.ts";
import { startTestServer, TEST_SECRET, type TestServer } from "../support/server.ts";
import { makeKey, type Key } from "../support/keys.ts";

// The API's servers in this file wait less for the key server than the API does (5 s each): the outages below take
// seconds, not tens of seconds. Retry-After stays within the 1..5 s checked below.
const BACKOFF_MS = 2_000;
const COOLDOWN_MS = 1_000;
Object.assign(remoteKeysDefaults, { timeoutMs: 1_000, cooldownMs: COOLDOWN_MS, retryMs: BACKOFF_MS });

const ISSUER = "https://issuer.example";
const AUDIENCE = "todo-api";
const MESSAGE = "Authentication unavailable, retry later";

type Mode = "ok" | "503" | "html" | "garbage" | "not a key set" | "hang";

/** A key server whose answer the test switches; `published` are the keys it serves in mode "ok". */
async function startKeyServer(published: JWK[]) {
  let mode: Mode = "ok";
  const sockets = new Set<Socket>();
  const server: Server = createServer((_req, res) => {
    if (mode === "hang") return;
    if (mode === "503") return void res.writeHead(503, { "content-type": "application/json" }).end('{"keys":[]}');
    if (mode === "html")
      return void res.writeHead(200, { "content-type": "text/html" }).end("<html><body>Bad gateway</body></html>");
    if (mode === "garbage") return void res.writeHead(200, { "content-type": "application/json" }).end('{"keys": [');
    if (mode === "not a key set")
      return void res.writeHead(200, { "content-type": "application/json" }).end('{"error":"maintenance"}');
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys: published }));
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}/.well-known/jwks.json`,
    set: (next: Mode) => void (mode = next),
    close: () => {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

const sign = (key: Key, sub: string, claims: { iss?: string; aud?: string; exp?: number } = {}) =>
  new SignJWT({})
    .setProtectedHeader({ alg: "ES256", kid: key.kid })
    .setSubject(sub)
    .setIssuer(claims.iss ?? ISSUER)
    .setAudience(claims.aud ?? AUDIENCE)
    .setExpirationTime(claims.exp ?? "5m")
    .sign(key.privateKey);

let api: TestServer;
let k1: Key;
let k2: Key;
beforeAll(async () => {
  api = await startTestServer();
  [k1, k2] = await Promise.all([makeKey("k1"), makeKey("k2")]);
});
afterAll(async () => {
  await api?.close();
});

const withIssuer = (jwksUrl: string, env: Record<string, string> = {}) =>
  api.variant({ AUTH_SECRET: "", AUTH_JWKS_URL: jwksUrl, AUTH_ISSUER: ISSUER, AUTH_AUDIENCE: AUDIENCE, ...env });

/** Every surface answers this token 503 with Retry-After: typed client (fast path and batched), raw tRPC, REST. */
async function expectUnavailable(server: TestServer, token: string) {
  const authorization = `Bearer ${token}`;
  const batched = createTRPCClient<AppRouter>({
    links: [httpBatchLink({ url: server.trpcUrl, transformer, headers: { authorization } })],
  });
  for (const call of [server.clientWithHeader(authorization).me.query(), batched.me.query()]) {
    const error = await call.then(
      () => expect.unreachable("the call succeeded"),
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(TRPCClientError);
    expect(error).toMatchObject({ message: MESSAGE, data: { code: "SERVICE_UNAVAILABLE", httpStatus: 503 } });
  }
  for (const [url, code] of [
    [`${server.trpcUrl}/me`, (body: any) => body.error.json.data.code],
    [`${server.trpcUrl}/me?batch=1&input=${encodeURIComponent("{}")}`, (body: any) => body[0].error.json.data.code],
    [`${server.url}/api/me`, (body: any) => body.code],
  ] as const) {
    const res = await fetch(url, { headers: { authorization } });
    expect(res.status, url).toBe(503);
    const retryAfter = Number(res.headers.get("retry-after"));
    expect(retryAfter, url).toBeGreaterThanOrEqual(1);
    expect(retryAfter, url).toBeLessThanOrEqual(5);
    const body = await res.json();
    expect(code(body), url).toBe("SERVICE_UNAVAILABLE");
    expect(JSON.stringify(body), url).toContain(MESSAGE);
  }
}

describe("a key set that cannot be fetched or read is 503 with Retry-After, never 401", () => {
  test.concurrent.each(["503", "html", "garbage", "not a key set"] as const)(
    "the key server answers %s",
    async (mode) => {
      const keys = await startKeyServer([k1.jwk]);
      keys.set(mode);
      const server = await withIssuer(keys.url);
      try {
        await expectUnavailable(server, await sign(k1, `down-${mode}`));
        // Once the issuer is back (and the short back-off is over), the same kind of token passes.
        keys.set("ok");
        await new Promise((resolve) => setTimeout(resolve, BACKOFF_MS + 100));
        expect(await server.clientWithHeader(`Bearer ${await sign(k1, `back-${mode}`)}`).me.query()).toMatchObject({
          id: `back-${mode}`,
        });
      } finally {
        await server.close();
        keys.close();
      }
    },
  );

  test("a refused connection", async () => {
    // A port just freed: nothing listens there.
    const keys = await startKeyServer([]);
    const url = keys.url;
    keys.close();
    const server = await withIssuer(url);
    try {
      await expectUnavailable(server, await sign(k1, "refused"));
    } finally {
      await server.close();
    }
  });

  test("a key server that never answers (the fetch timeout)", async () => {
    const keys = await startKeyServer([k1.jwk]);
    keys.set("hang");
    const server = await withIssuer(keys.url);
    try {
      expect(await codeOf(server.clientWithHeader(`Bearer ${await sign(k1, "hang")}`).me.query())).toBe(
        "SERVICE_UNAVAILABLE",
      );
      // Within the back-off every surface answers at once, from the recorded failure.
      await expectUnavailable(server, await sign(k1, "hang-2"));
    } finally {
      await server.close();
      keys.close();
    }
  });
});

describe("the last good key set serves through an outage", () => {
  test("known keys keep verifying; an unknown key is 503; a bad token is still 401", async () => {
    const keys = await startKeyServer([k1.jwk]);
    const server = await withIssuer(keys.url);
    const me = async (token: string) => codeOf(server.clientWithHeader(`Bearer ${token}`).me.query());
    try {
      expect(await me(await sign(k1, "before"))).toBe("OK");
      keys.set("503");
      // New tokens (not in the verified-token cache) signed with a known key.
      expect(await me(await sign(k1, "during-1"))).toBe("OK");
      // Once the refresh cooldown is over, an unknown key sends the server to the issuer, which is down:
      // that key may be new, so the answer is "retry later", not 401.
      await new Promise((resolve) => setTimeout(resolve, COOLDOWN_MS + 100));
      await expectUnavailable(server, await sign(k2, "unknown-kid"));
      expect(await me(await sign(k1, "during-2"))).toBe("OK");
      // Genuinely bad tokens are bad whatever the issuer's state: wrong issuer, audience, signature, expired.
      const forged = { ...k1, privateKey: k2.privateKey };
      for (const token of [
        await sign(k1, "x", { iss: "https://evil.example" }),
        await sign(k1, "x", { aud: "another-app" }),
        await sign(forged, "x"),
        await sign(k1, "x", { exp: Math.floor(Date.now() / 1000) - 60 }),
      ]) {
        expect(await me(token)).toBe("UNAUTHORIZED");
      }
    } finally {
      await server.close();
      keys.close();
    }
  }, 60_000);

  test("an unknown key with the key set fetched fine is 401", async () => {
    const keys = await startKeyServer([k1.jwk]);
    const server = await withIssuer(keys.url);
    try {
      expect(await codeOf(server.clientWithHeader(`Bearer ${await sign(k1, "known")}`).me.query())).toBe("OK");
      expect(await codeOf(server.clientWithHeader(`Bearer ${await sign(k2, "unknown")}`).me.query())).toBe(
        "UNAUTHORIZED",
      );
    } finally {
      await server.close();
      keys.close();
    }
  });
});

describe("AUTH_CLOCK_TOLERANCE_S (default 5) on exp and nbf", () => {
  // Whole seconds, as in tokens; 2 s past leaves room for a slow machine within the 5 s default.
  const secondsAgo = (s: number) => Math.floor(Date.now() / 1000) - s;
  const hs256 = (claims: { exp: number; nbf?: number }) => {
    let jwt = new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject("skewed").setExpirationTime(claims.exp);
    if (claims.nbf !== undefined) jwt = jwt.setNotBefore(claims.nbf);
    return jwt.sign(new TextEncoder().encode(TEST_SECRET));
  };

  test("HS256: an exp just past and an nbf just ahead are accepted by default, refused with 0", async () => {
    const strict = await api.variant({ AUTH_CLOCK_TOLERANCE_S: "0" });
    try {
      const justExpired = await hs256({ exp: secondsAgo(2) });
      const notYet = await hs256({ exp: secondsAgo(-300), nbf: secondsAgo(-2) });
      expect(await codeOf(api.clientWithHeader(`Bearer ${justExpired}`).me.query())).toBe("OK");
      expect(await codeOf(api.clientWithHeader(`Bearer ${notYet}`).me.query())).toBe("OK");
      expect(await codeOf(strict.clientWithHeader(`Bearer ${justExpired}`).me.query())).toBe("UNAUTHORIZED");
      expect(await codeOf(strict.clientWithHeader(`Bearer ${notYet}`).me.query())).toBe("UNAUTHORIZED");
      // Beyond the tolerance, refused by default too.
      expect(await codeOf(api.clientWithHeader(`Bearer ${await hs256({ exp: secondsAgo(60) })}`).me.query())).toBe(
        "UNAUTHORIZED",
      );
      expect(
        await codeOf(
          api.clientWithHeader(`Bearer ${await hs256({ exp: secondsAgo(-300), nbf: secondsAgo(-60) })}`).me.query(),
        ),
      ).toBe("UNAUTHORIZED");
    } finally {
      await strict.close();
    }
  });

  test("JWKS tokens get the same tolerance", async () => {
    const keys = await startKeyServer([k1.jwk]);
    const lenient = await withIssuer(keys.url);
    const strict = await withIssuer(keys.url, { AUTH_CLOCK_TOLERANCE_S: "0" });
    try {
      const justExpired = await sign(k1, "skewed-jwks", { exp: secondsAgo(2) });
      expect(await codeOf(lenient.clientWithHeader(`Bearer ${justExpired}`).me.query())).toBe("OK");
      expect(await codeOf(strict.clientWithHeader(`Bearer ${justExpired}`).me.query())).toBe("UNAUTHORIZED");
    } finally {
      await strict.close();
      await lenient.close();
      keys.close();
    }
  });
});
