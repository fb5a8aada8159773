import { pino, type DestinationStream, type Logger } from "pino";

export type { Logger };

/**
 * JSON logs on stdout (or `destination`). Authorization headers and tokens are redacted wherever they appear;
 * request logs carry no query strings, bodies or user data (src/http/requests.ts).
 */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = {
    level,
    base: undefined,
    redact: {
      paths: ["req.headers.authorization", "headers.authorization", "token", "*.token"],
      censor: "[redacted]",
    },
  };
  return destination ? pino(options, destination) : pino(options);
}
