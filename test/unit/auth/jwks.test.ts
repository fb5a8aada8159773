/**
 * The key-set module (src/auth/jwks.ts) with short timings, against a real key server on loopback: one fetch shared
 * by concurrent callers, the back-off after a failure, the refresh of old keys in the background, rotation, and the
 * token verifier's expiry with the clock tolerance.
 */
import { createServer, type Server } from "node:http";
import type { Socket } from "node:net";
import { errors, jwtVerify, SignJWT, type JWK } from "jose";
import { afterEach, beforeAll, describe, expect, test } from "vitest";
import { KeysUnavailableError, remoteKeys } from "../../../src/auth/jwks.ts";
import { AuthError, AuthUnavailableError, createTokenVerifier } from "../../../src/auth/tokens.ts";
import { makeKey, type Key } from "../../support/keys.ts";

const sign = (key: Key, claims: { exp?: number } = {}) =>
  new SignJWT({})
    .setProtectedHeader({ alg: "ES256", kid: key.kid })
    .setSubject("u")
    .setExpirationTime(claims.exp ?? "5m")
    .sign(key.privateKey);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A key server that counts its requests; `answer` is what it does with the next ones. */
async function startKeyServer() {
  const state = {
    requests: 0,
    answer: { status: 200, body: '{"keys":[]}' } as { status: number; body: string } | "hang",
  };
  const sockets = new Set<Socket>();
  const server: Server = createServer((_req, res) => {
    state.requests++;
    if (state.answer === "hang") return;
    res.writeHead(state.answer.status, { "content-type": "application/json" }).end(state.answer.body);
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as { port: number }).port}/jwks.json`,
    state,
    publish: (...keys: JWK[]) => void (state.answer = { status: 200, body: JSON.stringify({ keys }) }),
    fail: (status = 503, body = "") => void (state.answer = { status, body }),
    close: () => {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}
type KeyServer = Awaited<ReturnType<typeof startKeyServer>>;

let k1: Key;
let k2: Key;
let keyServer: KeyServer;
beforeAll(async () => {
  [k1, k2] = await Promise.all([makeKey("k1"), makeKey("k2")]);
});
afterEach(() => keyServer?.close());

const verifyWith = (getKey: ReturnType<typeof remoteKeys>, token: string) =>
  jwtVerify(token, getKey, { algorithms: ["ES256"] });
const failure = (promise: Promise<unknown>) =>
  promise.then(
    () => expect.unreachable("verification succeeded"),
    (error: unknown) => error,
  );

describe("remoteKeys", () => {
  test("concurrent first verifications share one fetch", async () => {
    keyServer = await startKeyServer();
    keyServer.publish(k1.jwk);
    const getKey = remoteKeys(keyServer.url);
    const token = await sign(k1);
    await Promise.all(Array.from({ length: 20 }, () => verifyWith(getKey, token)));
    expect(keyServer.state.requests).toBe(1);
  });

  test("a failed fetch is not retried before the back-off ends; every caller is told when to retry", async () => {
    keyServer = await startKeyServer();
    keyServer.fail(503);
    const getKey = remoteKeys(keyServer.url, { retryMs: 3_000 });
    const token = await sign(k1);
    const first = await failure(verifyWith(getKey, token));
    expect(first).toBeInstanceOf(KeysUnavailableError);
    expect((first as KeysUnavailableError).message).toMatch(/HTTP 503/);
    expect((first as KeysUnavailableError).retryAfterSeconds).toBeGreaterThanOrEqual(1);
    expect((first as KeysUnavailableError).retryAfterSeconds).toBeLessThanOrEqual(3);
    for (let i = 0; i < 5; i++) expect(await failure(verifyWith(getKey, token))).toBeInstanceOf(KeysUnavailableError);
    expect(keyServer.state.requests).toBe(1);
    keyServer.publish(k1.jwk);
    await sleep(3_100);
    await verifyWith(getKey, token);
    expect(keyServer.state.requests).toBe(2);
  });

  test.each([
    ["an HTML page", 200, "<html>Bad gateway</html>", /not JSON/],
    ["truncated JSON", 200, '{"keys": [', /not JSON/],
    ["JSON that is not a key set", 200, '{"error":"maintenance"}', /not a key set/],
    ["keys without kty", 200, '{"keys":[{"kid":"k1"}]}', /not a key set/],
    ["a redirect (not followed)", 302, "", /HTTP 302/],
  ])("%s is unavailable, not a bad token", async (_name, status, body, message) => {
    keyServer = await startKeyServer();
    keyServer.fail(status, body);
    const error = await failure(verifyWith(remoteKeys(keyServer.url), await sign(k1)));
    expect(error).toBeInstanceOf(KeysUnavailableError);
    expect((error as Error).message).toMatch(message);
  });

  test("a key that cannot be imported is unavailable", async () => {
    keyServer = await startKeyServer();
    keyServer.publish({ kty: "EC", crv: "P-256", kid: "k1", x: "not-a-point", y: "nope" });
    expect(await failure(verifyWith(remoteKeys(keyServer.url), await sign(k1)))).toBeInstanceOf(KeysUnavailableError);
  });

  test("a fetch that does not answer in time", async () => {
    keyServer = await startKeyServer();
    keyServer.state.answer = "hang";
    const error = await failure(verifyWith(remoteKeys(keyServer.url, { timeoutMs: 200 }), await sign(k1)));
    expect(error).toBeInstanceOf(KeysUnavailableError);
    expect((error as Error).message).toMatch(/no answer within 200 ms/);
  });

  test("old keys keep serving while their refresh fails; the refresh runs in the background", async () => {
    keyServer = await startKeyServer();
    keyServer.publish(k1.jwk);
    // A long cooldown: only the background refresh of old keys can bring a new one here.
    const getKey = remoteKeys(keyServer.url, { maxAgeMs: 200, retryMs: 200, cooldownMs: 60_000 });
    const token = await sign(k1);
    await verifyWith(getKey, token);
    keyServer.fail(503);
    // Old keys answer at once while refreshes beside them fail.
    for (let i = 0; i < 100 && keyServer.state.requests < 3; i++) {
      await verifyWith(getKey, token);
      await sleep(50);
    }
    expect(keyServer.state.requests).toBeGreaterThanOrEqual(3);
    // The issuer rotates to k2 and is back: a later background refresh brings it.
    keyServer.publish(k1.jwk, k2.jwk);
    const rotated = await sign(k2);
    let found = false;
    for (let i = 0; i < 100 && !found; i++) {
      await verifyWith(getKey, token);
      await sleep(50);
      found = await verifyWith(getKey, rotated).then(
        () => true,
        () => false,
      );
    }
    expect(found).toBe(true);
  });

  test("an unknown key fetches again at most once per cooldown; unknown after a good fetch is a bad token", async () => {
    keyServer = await startKeyServer();
    keyServer.publish(k1.jwk);
    const getKey = remoteKeys(keyServer.url, { cooldownMs: 1_500 });
    await verifyWith(getKey, await sign(k1));
    const unknown = await sign(k2);
    // Within the cooldown: no fetch, no key.
    expect(await failure(verifyWith(getKey, unknown))).toBeInstanceOf(errors.JWKSNoMatchingKey);
    expect(keyServer.state.requests).toBe(1);
    await sleep(1_600);
    expect(await failure(verifyWith(getKey, unknown))).toBeInstanceOf(errors.JWKSNoMatchingKey);
    expect(keyServer.state.requests).toBe(2);
    // Rotation: the new key is published, found on the next fetch after the cooldown.
    keyServer.publish(k1.jwk, k2.jwk);
    await sleep(1_600);
    await verifyWith(getKey, unknown);
    expect(keyServer.state.requests).toBe(3);
    // During an outage, an unknown key may be a new one: unavailable, while known keys still verify.
    keyServer.fail(503);
    await sleep(1_600);
    const third = await makeKey("k3");
    expect(await failure(verifyWith(getKey, await sign(third)))).toBeInstanceOf(KeysUnavailableError);
    await verifyWith(getKey, await sign(k1));
    await verifyWith(getKey, unknown);
  });
});

describe("createTokenVerifier", () => {
  const auth = { secret: undefined, devSecret: false, issuer: undefined, audience: undefined };

  test("a token is accepted until exp plus the tolerance, which is its reported expiry; the cache ends there too", async () => {
    keyServer = await startKeyServer();
    keyServer.publish(k1.jwk);
    const verify = createTokenVerifier({ ...auth, jwksUrl: keyServer.url, clockToleranceS: 2 });
    const exp = Math.floor(Date.now() / 1000) + 1;
    const token = await sign(k1, { exp });
    expect((await verify(token)).expiresAt).toBe((exp + 2) * 1000);
    await sleep((exp + 2) * 1000 - Date.now() + 1_100);
    await expect(verify(token)).rejects.toBeInstanceOf(AuthError);
  });

  test("keys that cannot be had are AuthUnavailableError with retryAfterSeconds", async () => {
    keyServer = await startKeyServer();
    keyServer.fail(500, "oops");
    const verify = createTokenVerifier({ ...auth, jwksUrl: keyServer.url, clockToleranceS: 5 });
    const error = await verify(await sign(k1)).then(
      () => expect.unreachable("verified"),
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(AuthUnavailableError);
    expect((error as AuthUnavailableError).retryAfterSeconds).toBe(5);
  });
});
