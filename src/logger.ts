import { pino, type Logger } from "pino";

export type { Logger };

/** JSON logs on stdout. Authorization headers and tokens are redacted wherever they appear. */
export function createLogger(level: string): Logger {
  return pino({
    level,
    base: undefined,
    redact: {
      paths: ["req.headers.authorization", "headers.authorization", "token", "*.token"],
      censor: "[redacted]",
    },
  });
}
