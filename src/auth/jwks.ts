/**
 * The issuer's signing keys (AUTH_JWKS_URL) for jose's jwtVerify. jose's createRemoteJWKSet drops its keys when a
 * refresh fails and reports a bad response like a bad token; here the last good key set stays in use while the
 * issuer is down, and a failure to get keys is a KeysUnavailableError (retry later), never a verdict on the token.
 */
import { createLocalJWKSet, errors, type JSONWebKeySet, type JWTVerifyGetKey } from "jose";

/** The keys could not be fetched or read: the token may be fine. `retryAfterSeconds` goes into Retry-After. */
export class KeysUnavailableError extends Error {
  constructor(
    message: string,
    readonly retryAfterSeconds: number,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

export interface RemoteKeysOptions {
  /** One fetch waits at most this long. */
  timeoutMs?: number;
  /** Keys older than this are refreshed in the background (the old ones serve meanwhile). */
  maxAgeMs?: number;
  /** A token naming an unknown key triggers a fetch at most this often (rotation; not a way to flood the issuer). */
  cooldownMs?: number;
  /** After a failed fetch, the next waits this long; callers are told to retry then. */
  retryMs?: number;
}

const isKeySet = (value: unknown): value is JSONWebKeySet =>
  typeof value === "object" &&
  value !== null &&
  Array.isArray((value as { keys?: unknown }).keys) &&
  (value as { keys: unknown[] }).keys.every(
    (key) => typeof key === "object" && key !== null && typeof (key as { kty?: unknown }).kty === "string",
  );

async function fetchKeySet(url: string, timeoutMs: number): Promise<ReturnType<typeof createLocalJWKSet>> {
  const response = await fetch(url, {
    signal: AbortSignal.timeout(timeoutMs),
    redirect: "manual",
    headers: { accept: "application/json, application/jwk-set+json" },
  }).catch((error: Error) => {
    throw new Error(
      error.name === "TimeoutError"
        ? `no answer within ${timeoutMs} ms`
        : `${error.message}${error.cause ? ` (${(error.cause as Error).message})` : ""}`,
    );
  });
  if (response.status !== 200) {
    await response.body?.cancel().catch(() => {});
    throw new Error(`answered HTTP ${response.status}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(await response.text());
  } catch {
    throw new Error("answered something that is not JSON");
  }
  if (!isKeySet(json)) throw new Error('answered JSON that is not a key set ({"keys": [...]})');
  return createLocalJWKSet(json);
}

/** What remoteKeys uses for an option not given. Tests of the whole API shorten the waits here, in their process. */
export const remoteKeysDefaults: Required<RemoteKeysOptions> = {
  timeoutMs: 5_000,
  maxAgeMs: 10 * 60_000,
  cooldownMs: 5_000,
  retryMs: 5_000,
};

/** A key lookup for jwtVerify, backed by the key set at `url`. */
export function remoteKeys(url: string, options: RemoteKeysOptions = {}): JWTVerifyGetKey {
  const d = remoteKeysDefaults;
  const { timeoutMs = d.timeoutMs, maxAgeMs = d.maxAgeMs, cooldownMs = d.cooldownMs, retryMs = d.retryMs } = options;
  let keys: ReturnType<typeof createLocalJWKSet> | undefined;
  let fetchedAt = -Infinity;
  let failedAt = -Infinity;
  // Why the latest fetch failed; undefined when it succeeded.
  let failure: Error | undefined;
  let pending: Promise<void> | undefined;

  // One fetch at a time, shared by every caller; it records its outcome and never rejects.
  const refresh = (): Promise<void> =>
    (pending ??= fetchKeySet(url, timeoutMs)
      .then(
        (next) => {
          keys = next;
          fetchedAt = Date.now();
          failure = undefined;
        },
        (error: Error) => {
          failedAt = Date.now();
          failure = error;
        },
      )
      .finally(() => {
        pending = undefined;
      }));
  const mayFetch = () => Date.now() >= failedAt + retryMs;
  const unavailable = () =>
    new KeysUnavailableError(
      `issuer keys unavailable: ${failure?.message ?? "not fetched yet"}`,
      Math.max(1, Math.ceil((failedAt + retryMs - Date.now()) / 1000)),
      {
        cause: failure,
      },
    );

  // jose's own lookup errors say the token names no key (or several); anything else is a key that cannot be imported.
  const lookup: JWTVerifyGetKey = async (header, token) => {
    try {
      return await keys!(header, token);
    } catch (error) {
      if (error instanceof errors.JWKSNoMatchingKey || error instanceof errors.JWKSMultipleMatchingKeys) throw error;
      throw new KeysUnavailableError(`issuer key unusable: ${(error as Error).message}`, Math.ceil(retryMs / 1000), {
        cause: error,
      });
    }
  };

  return async (header, token) => {
    if (!keys) {
      if (mayFetch() || pending) await refresh();
      if (!keys) throw unavailable();
    } else if (Date.now() - fetchedAt > maxAgeMs && mayFetch()) {
      void refresh();
    }
    try {
      return await lookup(header, token);
    } catch (error) {
      if (!(error instanceof errors.JWKSNoMatchingKey)) throw error;
    }
    // An unknown key may be a new one (rotation): fetch again, at most once per cooldown.
    if (Date.now() - fetchedAt >= cooldownMs && mayFetch()) await refresh();
    // While the issuer is down, a key it may have just added cannot be checked: retry later, not 401.
    if (failure) throw unavailable();
    return lookup(header, token);
  };
}
