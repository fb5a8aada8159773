/** Prints a signed HS256 token for local use: npm run token -- <userId> [--email e] [--name n] [--expires 1h] */
import path from "node:path";
import { parseArgs } from "node:util";
import { config as loadDotenv } from "dotenv";
import { signToken } from "../src/auth.ts";
import { ConfigError, loadConfig, projectRoot } from "../src/config.ts";

loadDotenv({ path: path.join(projectRoot, ".env"), quiet: true });

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    email: { type: "string" },
    name: { type: "string" },
    expires: { type: "string", default: "1h" },
  },
});

const userId = positionals[0];
if (!userId) {
  console.error("usage: npm run token -- <userId> [--email e] [--name n] [--expires 1h]");
  process.exit(1);
}

try {
  const { auth } = loadConfig();
  if (!auth.secret) {
    console.error("AUTH_SECRET is not set: tokens for AUTH_JWKS_URL come from your identity provider");
    process.exit(1);
  }
  const token = await signToken(
    auth.secret,
    { sub: userId, email: values.email, name: values.name },
    { expiresIn: values.expires, issuer: auth.issuer, audience: auth.audience },
  );
  console.log(token);
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(error.message);
  process.exit(1);
}
