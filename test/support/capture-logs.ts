/** The API's own logger (redaction included) writing into memory, for tests that assert what was logged. */
import { Writable } from "node:stream";
import { createLogger, type Logger } from "../../src/logger.ts";

export function captureLogs(level: string): { logger: Logger; lines: string[]; entries(): Record<string, unknown>[] } {
  const lines: string[] = [];
  const capture = new Writable({
    write(chunk, _encoding, done) {
      lines.push(...String(chunk).split("\n").filter(Boolean));
      done();
    },
  });
  return {
    logger: createLogger(level, capture),
    lines,
    entries: () => lines.map((line) => JSON.parse(line) as Record<string, unknown>),
  };
}
