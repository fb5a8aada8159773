import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { Config } from "../config.ts";

/**
 * Outside production, with neither AUTH_SECRET nor AUTH_JWKS_URL, use a random secret generated once
 * and kept beside the embedded database, so `npm start` and `npm run token` agree.
 */
export function withDevelopmentSecret(config: Config): Config {
  if (config.env === "production" || config.auth.secret || config.auth.jwksUrl) return config;
  const file = path.join(path.dirname(config.db.pgliteDataDir), "auth-secret");
  let secret: string;
  try {
    secret = readFileSync(file, "utf8").trim();
  } catch {
    secret = randomBytes(32).toString("base64url");
    mkdirSync(path.dirname(file), { recursive: true });
    try {
      writeFileSync(file, secret + "\n", { mode: 0o600, flag: "wx" });
    } catch (error) {
      // Another process (npm start beside npm run token) wrote it first: use theirs.
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      secret = readFileSync(file, "utf8").trim();
    }
  }
  return { ...config, auth: { ...config.auth, secret, devSecret: true } };
}
