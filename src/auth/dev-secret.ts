import { randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";

/**
 * Outside production, with neither AUTH_SECRET nor AUTH_JWKS_URL, use a random secret generated once
 * and kept beside the embedded database, so `npm start` and `npm run token` agree.
 */
interface Settings {
  env: string;
  auth: { secret?: string; jwksUrl?: string | URL; devSecret: boolean };
  db: { pgliteDataDir: string };
}

// The configuration's shape, not its module: src/config.ts calls this while it builds the Config.
export function withDevelopmentSecret<C extends Settings>(config: C): C {
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
