import { decodeProtectedHeader, jwtVerify, SignJWT, type JWTPayload, type JWTVerifyGetKey } from "jose";
import { z } from "zod";
import type { Config } from "../config.ts";
import { hasNul, isStorableString, isWellFormed } from "../lib/text.ts";
import { KeysUnavailableError, remoteKeys } from "./jwks.ts";

/** Who the caller is, from a verified token. */
export interface Identity {
  id: string;
  email: string | null;
  name: string | null;
}

/**
 * A verified caller and when its token stops being accepted (ms since the epoch: `exp` plus AUTH_CLOCK_TOLERANCE_S):
 * a stream opened with it ends then.
 */
export interface Caller extends Identity {
  expiresAt: number;
}

/** The token is not acceptable: UNAUTHORIZED. */
export class AuthError extends Error {}

/** The issuer's keys could not be fetched or read: the token may be fine, so the client should retry. */
export class AuthUnavailableError extends Error {
  constructor(
    message: string,
    /** For the Retry-After header (see responseMeta). */
    readonly retryAfterSeconds: number,
  ) {
    super(message);
  }
}

export type VerifyToken = (token: string) => Promise<Caller>;

const ASYMMETRIC = ["RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"];
const CACHE_SIZE = 10_000;
const CACHE_TTL_MS = 5 * 60_000;

// PostgreSQL text cannot hold NUL, and a lone surrogate would be stored as U+FFFD (two subjects could become one):
// a subject with either is refused, optional claims with either are dropped.
const clean = (max: number) => z.string().max(max).refine(isStorableString);
/** What a user id (a token's `sub`) may be: 1–255 characters, no NUL, no lone surrogate. */
export const userIdSchema = z
  .string()
  .min(1, "must not be empty")
  .max(255, "must be at most 255 characters")
  .refine((s) => !hasNul(s), "must not contain NUL characters")
  .refine(isWellFormed, "must not contain lone surrogates");
const claimsSchema = z.object({
  sub: userIdSchema,
  email: clean(320).nullish().catch(null),
  name: clean(200).nullish().catch(null),
});

/**
 * Verifies `Authorization: Bearer` tokens: HS256 with AUTH_SECRET and/or an issuer's keys from AUTH_JWKS_URL,
 * checking AUTH_ISSUER and AUTH_AUDIENCE when set, allowing AUTH_CLOCK_TOLERANCE_S of clock skew on `exp` and `nbf`.
 * Verified tokens are remembered until they stop being accepted (at most five minutes), so a client's repeated
 * calls cost one verification.
 */
export function createTokenVerifier(auth: Config["auth"]): VerifyToken {
  const secret = auth.secret ? new TextEncoder().encode(auth.secret) : undefined;
  const jwks: JWTVerifyGetKey | undefined = auth.jwksUrl ? remoteKeys(auth.jwksUrl) : undefined;
  // A token without `exp` would be a credential that never expires: refused.
  const options = {
    issuer: auth.issuer,
    audience: auth.audience,
    requiredClaims: ["exp"],
    clockTolerance: auth.clockToleranceS,
  };
  const cache = new Map<string, { identity: Caller; until: number }>();

  async function verify(token: string): Promise<JWTPayload> {
    let alg: string | undefined;
    try {
      alg = decodeProtectedHeader(token).alg;
    } catch {
      throw new AuthError("malformed token");
    }
    if (alg === "HS256" && secret)
      return (await jwtVerify(token, secret, { ...options, algorithms: ["HS256"] })).payload;
    if (alg && ASYMMETRIC.includes(alg) && jwks) {
      try {
        return (await jwtVerify(token, jwks, { ...options, algorithms: ASYMMETRIC })).payload;
      } catch (error) {
        // Keys that cannot be had say nothing about the token.
        if (error instanceof KeysUnavailableError)
          throw new AuthUnavailableError(error.message, error.retryAfterSeconds);
        throw error;
      }
    }
    throw new AuthError(`token algorithm ${JSON.stringify(alg)} is not accepted`);
  }

  return async (token) => {
    const now = Date.now();
    const hit = cache.get(token);
    if (hit && hit.until > now) return hit.identity;
    if (hit) cache.delete(token);

    let payload: JWTPayload;
    try {
      payload = await verify(token);
    } catch (error) {
      if (error instanceof AuthError || error instanceof AuthUnavailableError) throw error;
      throw new AuthError((error as Error).message);
    }
    const claims = claimsSchema.safeParse(payload);
    if (!claims.success) throw new AuthError("token has no valid sub claim");
    // `exp` is required (requiredClaims), so it is always there; jwtVerify accepts it up to the tolerance past.
    const expiresAt = (payload.exp! + auth.clockToleranceS) * 1000;
    const identity: Caller = {
      id: claims.data.sub,
      email: claims.data.email ?? null,
      name: claims.data.name ?? null,
      expiresAt,
    };

    const until = Math.min(expiresAt, now + CACHE_TTL_MS);
    if (cache.size >= CACHE_SIZE) cache.delete(cache.keys().next().value!);
    cache.set(token, { identity, until });
    return identity;
  };
}

/** Signs an HS256 token for local use (`npm run token`) and tests. */
export async function signToken(
  secret: string,
  claims: { sub: string; email?: string; name?: string },
  options: { expiresIn?: string | number; issuer?: string; audience?: string } = {},
): Promise<string> {
  let jwt = new SignJWT({ email: claims.email, name: claims.name })
    .setProtectedHeader({ alg: "HS256", typ: "JWT" })
    .setSubject(claims.sub)
    .setIssuedAt()
    .setExpirationTime(options.expiresIn ?? "1h");
  if (options.issuer) jwt = jwt.setIssuer(options.issuer);
  if (options.audience) jwt = jwt.setAudience(options.audience);
  return jwt.sign(new TextEncoder().encode(secret));
}
