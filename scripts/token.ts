/** Prints a signed HS256 token for local use: npm run token -- <userId> [--email e] [--name n] [--expires 1h] */
import { parseArgs } from "node:util";
import { signToken } from "../src/auth/tokens.ts";
import { ConfigError, loadConfig } from "../src/config.ts";
import { loadEnvFile } from "../src/project.ts";

loadEnvFile();

const usage = "usage: npm run token -- <userId> [--email e] [--name n] [--expires 1h|30m|7d|<seconds>]";

function parse() {
  try {
    return parseArgs({
      allowPositionals: true,
      options: {
        email: { type: "string" },
        name: { type: "string" },
        expires: { type: "string", default: "1h" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (error) {
    console.error(`${(error as Error).message}\n${usage}`);
    process.exit(1);
  }
}

const { values, positionals } = parse();
const userId = positionals[0];
if (values.help || !userId || positionals.length > 1) {
  (values.help ? console.log : console.error)(usage);
  process.exit(values.help ? 0 : 1);
}
// jose takes a number of seconds or a span such as "1h"; anything else would throw deep inside.
const expires = /^\d+$/.test(values.expires) ? Number(values.expires) : values.expires;
if (
  typeof expires === "string" &&
  !/^\d+\s*(s|sec|secs|second|seconds|m|min|mins|minute|minutes|h|hr|hrs|hour|hours|d|day|days|w|week|weeks|y|yr|yrs|year|years)$/i.test(
    expires,
  )
) {
  console.error(
    `--expires must be a number of seconds or a span like 30m, 1h, 7d (got ${JSON.stringify(values.expires)})`,
  );
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
    { expiresIn: typeof expires === "number" ? `${expires}s` : expires, issuer: auth.issuer, audience: auth.audience },
  );
  console.log(token);
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(error.message);
  process.exit(1);
}
