/** A pino logger that keeps its lines in memory, for tests that assert what the server logged. */
import { pino, type Logger } from "pino";
import type { LogLine } from "./server-process.ts";

export function captureLogger(): { logger: Logger; lines: LogLine[] } {
  const lines: LogLine[] = [];
  const logger = pino(
    { level: "debug", base: undefined },
    { write: (text: string) => void lines.push(JSON.parse(text) as LogLine) },
  );
  return { logger, lines };
}
