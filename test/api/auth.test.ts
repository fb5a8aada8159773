import { TRPCClientError } from "@trpc/client";
import { createServer } from "node:http";
import { SignJWT, generateKeyPair, exportJWK, exportSPKI } from "jose";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { signToken } from "../../src/auth/tokens.ts";
import type { AppRouter } from "../../src/trpc/routers/_app.ts";
import { codeOf } from "../support/errors.ts";
import { startTestServer, TEST_SECRET, type TestServer } from "../support/server.ts";

let api: TestServer;
beforeAll(async () => {
  api = await startTestServer();
});
afterAll(async () => {
  await api?.close();
});

const codeWith = (authorization: string | undefined) => codeOf(api.clientWithHeader(authorization).todo.list.query());

const secret = new TextEncoder().encode(TEST_SECRET);
const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString("base64url");

describe("UNAUTHORIZED", () => {
  test("a valid token passes", async () => {
    expect(await codeWith(`Bearer ${await signToken(TEST_SECRET, { sub: "valid" })}`)).toBe("OK");
  });

  test.each([
    ["missing header", async () => undefined],
    ["empty bearer", async () => "Bearer "],
    ["not a bearer scheme", async () => `Basic ${Buffer.from("a:b").toString("base64")}`],
    ["malformed token", async () => "Bearer not.a.jwt"],
    ["garbage", async () => "Bearer %%%"],
    ["wrong secret", async () => `Bearer ${await signToken("another-secret-that-is-at-least-32-chars", { sub: "x" })}`],
    [
      "expired",
      async () =>
        `Bearer ${await new SignJWT({})
          .setProtectedHeader({ alg: "HS256" })
          .setSubject("x")
          .setExpirationTime(Math.floor(Date.now() / 1000) - 60)
          .sign(secret)}`,
    ],
    [
      "not yet valid",
      async () =>
        `Bearer ${await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject("x").setNotBefore("1h").sign(secret)}`,
    ],
    ["sub with a NUL character", async () => `Bearer ${await signToken(TEST_SECRET, { sub: "a\u0000b" })}`],
    ["sub with a lone surrogate", async () => `Bearer ${await signToken(TEST_SECRET, { sub: "a\ud800b" })}`],
    ["empty sub", async () => `Bearer ${await signToken(TEST_SECRET, { sub: "" })}`],
    [
      "no exp (would never expire)",
      async () => `Bearer ${await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject("x").sign(secret)}`,
    ],
    [
      "HS512 with the right secret",
      async () =>
        `Bearer ${await new SignJWT({}).setProtectedHeader({ alg: "HS512" }).setSubject("x").setExpirationTime("1h").sign(secret)}`,
    ],
    [
      "alg None",
      async () =>
        `Bearer ${b64({ alg: "None", typ: "JWT" })}.${b64({ sub: "x", exp: Math.floor(Date.now() / 1000) + 600 })}.`,
    ],
    [
      "alg none with a signature",
      async () => {
        const [, , s] = (await signToken(TEST_SECRET, { sub: "x" })).split(".");
        return `Bearer ${b64({ alg: "none" })}.${b64({ sub: "x", exp: Math.floor(Date.now() / 1000) + 600 })}.${s}`;
      },
    ],
    [
      "missing sub",
      async () =>
        `Bearer ${await new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setExpirationTime("1h").sign(secret)}`,
    ],
    [
      "alg none",
      async () =>
        `Bearer ${b64({ alg: "none", typ: "JWT" })}.${b64({ sub: "x", exp: Math.floor(Date.now() / 1000) + 600 })}.`,
    ],
    [
      "RS256 token",
      async () => {
        const { privateKey } = await generateKeyPair("RS256");
        return `Bearer ${await new SignJWT({}).setProtectedHeader({ alg: "RS256" }).setSubject("x").setExpirationTime("1h").sign(privateKey)}`;
      },
    ],
    [
      "HS256 signed with the secret but tampered payload",
      async () => {
        const [h, , s] = (await signToken(TEST_SECRET, { sub: "x" })).split(".");
        return `Bearer ${h}.${b64({ sub: "admin", exp: Math.floor(Date.now() / 1000) + 600 })}.${s}`;
      },
    ],
  ])("%s", async (_name, header) => {
    expect(await codeWith(await header())).toBe("UNAUTHORIZED");
  });

  test("every procedure requires a token", async () => {
    const anonymous = api.clientWithHeader(undefined);
    const calls = [
      anonymous.me.query(),
      anonymous.todo.list.query(),
      anonymous.todo.byId.query({ id: "00000000-0000-4000-8000-000000000000" }),
      anonymous.todo.create.mutate({ title: "x" }),
      anonymous.todo.update.mutate({ id: "00000000-0000-4000-8000-000000000000", title: "x" }),
      anonymous.todo.delete.mutate({ id: "00000000-0000-4000-8000-000000000000" }),
      anonymous.todo.toggleAll.mutate({ completed: true }),
      anonymous.todo.clearCompleted.mutate(),
      anonymous.todo.stats.query(),
    ];
    const results = await Promise.allSettled(calls);
    for (const result of results) {
      expect(result.status).toBe("rejected");
      expect(((result as PromiseRejectedResult).reason as TRPCClientError<AppRouter>).data?.code).toBe("UNAUTHORIZED");
    }
    expect(await api.database.prisma.todo.count()).toBe(0);
  });
});

describe("issuer keys (JWKS), issuer and audience", () => {
  test("tokens from a JWKS issuer are accepted; wrong issuer, audience or key are not", async () => {
    const { publicKey, privateKey } = await generateKeyPair("ES256");
    const jwk = { ...(await exportJWK(publicKey)), kid: "k1", alg: "ES256", use: "sig" };
    const { createServer } = await import("node:http");
    const jwksServer = createServer((_req, res) => {
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ keys: [jwk] }));
    });
    await new Promise<void>((resolve) => jwksServer.listen(0, "127.0.0.1", resolve));
    const port = (jwksServer.address() as { port: number }).port;
    const issuerApi = await api.variant({
      AUTH_SECRET: "",
      AUTH_JWKS_URL: `http://127.0.0.1:${port}/.well-known/jwks.json`,
      AUTH_ISSUER: "https://issuer.example",
      AUTH_AUDIENCE: "todo-api",
    });
    try {
      const sign = (claims: { iss?: string; aud?: string }, key = privateKey) =>
        new SignJWT({ email: "jwks@example.com" })
          .setProtectedHeader({ alg: "ES256", kid: "k1" })
          .setSubject("jwks-user")
          .setIssuer(claims.iss ?? "https://issuer.example")
          .setAudience(claims.aud ?? "todo-api")
          .setExpirationTime("5m")
          .sign(key);
      const me = await issuerApi.clientWithHeader(`Bearer ${await sign({})}`).me.query();
      expect(me).toEqual({ id: "jwks-user", email: "jwks@example.com", name: null });

      const otherKey = (await generateKeyPair("ES256")).privateKey;
      for (const token of [
        await sign({ iss: "https://evil.example" }),
        await sign({ aud: "other" }),
        await sign({}, otherKey),
      ]) {
        await expect(issuerApi.clientWithHeader(`Bearer ${token}`).me.query()).rejects.toMatchObject({
          data: { code: "UNAUTHORIZED" },
        });
      }
      // Issuer keys that cannot be fetched are the issuer's outage, not a bad token: retryable 503.
      const unreachable = await api.variant({
        AUTH_SECRET: "",
        AUTH_JWKS_URL: "http://127.0.0.1:1/.well-known/jwks.json",
        AUTH_ISSUER: "https://issuer.example",
        AUTH_AUDIENCE: "todo-api",
      });
      try {
        await expect(unreachable.clientWithHeader(`Bearer ${await sign({})}`).me.query()).rejects.toMatchObject({
          data: { code: "SERVICE_UNAVAILABLE", httpStatus: 503 },
        });
      } finally {
        await unreachable.close();
      }
      // An HS256 token is refused when only issuer keys are configured (no HS/RS confusion).
      const hs = await signToken(TEST_SECRET, { sub: "x" }, { issuer: "https://issuer.example", audience: "todo-api" });
      await expect(issuerApi.clientWithHeader(`Bearer ${hs}`).me.query()).rejects.toMatchObject({
        data: { code: "UNAUTHORIZED" },
      });
    } finally {
      await issuerApi.close();
      jwksServer.close();
    }
    // Two more servers, with their JWKS fetches: seconds each on a busy machine.
  }, 90_000);
});

describe("HS/RS confusion: an HS256 token signed with the issuer's public key as the secret", () => {
  for (const withSecret of [false, true]) {
    test(`is UNAUTHORIZED with an RS256 JWKS configured${withSecret ? " beside AUTH_SECRET" : ""}`, async () => {
      const { publicKey, privateKey } = await generateKeyPair("RS256");
      const jwk = { ...(await exportJWK(publicKey)), kid: "rs", alg: "RS256", use: "sig" };
      const jwksServer = createServer((_req, res) => {
        res.setHeader("content-type", "application/json");
        res.end(JSON.stringify({ keys: [jwk] }));
      });
      await new Promise<void>((resolve) => jwksServer.listen(0, "127.0.0.1", resolve));
      const issuerApi = await api.variant({
        AUTH_SECRET: withSecret ? TEST_SECRET : "",
        AUTH_JWKS_URL: `http://127.0.0.1:${(jwksServer.address() as { port: number }).port}/jwks.json`,
      });
      try {
        const me = (token: string) => codeOf(issuerApi.clientWithHeader(`Bearer ${token}`).me.query());
        const claims = () => new SignJWT({}).setSubject("attacker").setExpirationTime("5m");
        // The real key pair works…
        expect(await me(await claims().setProtectedHeader({ alg: "RS256", kid: "rs" }).sign(privateKey))).toBe("OK");
        // …the public key, in every form an attacker could get it, is not an HMAC secret.
        const pem = await exportSPKI(publicKey);
        for (const material of [pem, pem.trim(), JSON.stringify(jwk), jwk.n!]) {
          for (const alg of ["HS256", "HS384", "HS512"]) {
            const forged = await claims()
              .setProtectedHeader({ alg, kid: "rs" })
              .sign(new TextEncoder().encode(material));
            expect(await me(forged)).toBe("UNAUTHORIZED");
          }
        }
        expect(await issuerApi.database.prisma.user.count({ where: { id: "attacker" } })).toBe(1);
        expect(await issuerApi.database.prisma.todo.count({ where: { userId: "attacker" } })).toBe(0);
      } finally {
        await issuerApi.close();
        jwksServer.close();
      }
    });
  }
});

describe("AUTH_ISSUER and AUTH_AUDIENCE with HS256", () => {
  test("tokens must name both; wrong, missing or extra-audience-only values are UNAUTHORIZED", async () => {
    const scoped = await api.variant({ AUTH_ISSUER: "https://auth.example", AUTH_AUDIENCE: "todo-api" });
    try {
      const code = async (options: { issuer?: string; audience?: string | string[] }) => {
        let jwt = new SignJWT({}).setProtectedHeader({ alg: "HS256" }).setSubject("scoped").setExpirationTime("5m");
        if (options.issuer) jwt = jwt.setIssuer(options.issuer);
        if (options.audience) jwt = jwt.setAudience(options.audience);
        return codeOf(scoped.clientWithHeader(`Bearer ${await jwt.sign(secret)}`).me.query());
      };
      expect(await code({ issuer: "https://auth.example", audience: "todo-api" })).toBe("OK");
      expect(await code({ issuer: "https://auth.example", audience: ["other", "todo-api"] })).toBe("OK");
      expect(await code({ issuer: "https://evil.example", audience: "todo-api" })).toBe("UNAUTHORIZED");
      expect(await code({ issuer: "https://auth.example", audience: "other" })).toBe("UNAUTHORIZED");
      expect(await code({ audience: "todo-api" })).toBe("UNAUTHORIZED");
      expect(await code({ issuer: "https://auth.example" })).toBe("UNAUTHORIZED");
      expect(await code({})).toBe("UNAUTHORIZED");
    } finally {
      await scoped.close();
    }
  });
});
