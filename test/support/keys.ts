/** An issuer's ES256 signing key and its public JWK, as a JWKS endpoint would publish it. */
import { exportJWK, generateKeyPair, type CryptoKey, type JWK } from "jose";

export interface Key {
  kid: string;
  privateKey: CryptoKey;
  jwk: JWK;
}

export async function makeKey(kid: string): Promise<Key> {
  const { publicKey, privateKey } = await generateKeyPair("ES256");
  return { kid, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg: "ES256", use: "sig" } };
}
