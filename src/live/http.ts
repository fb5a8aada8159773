/** The SSE writer of todo.onChange: a subscription's server-sent events, from tRPC's response to the socket. */
import type { Response } from "express";

/**
 * Writes a subscription's events as they come. Reads the next one only once the socket took the last (a slow
 * client stops the feed from pulling, so its bounded queue, not this process's memory, absorbs the backlog).
 * The chunks of one event are corked into one socket write.
 */
export async function streamEvents(response: globalThis.Response, res: Response): Promise<void> {
  for (const [key, value] of response.headers) res.setHeader(key, value);
  // For the access log and metrics (src/http/requests.ts): a stream is not a call.
  res.locals.streamed = true;
  res.flushHeaders();
  const reader: ReadableStreamDefaultReader<Uint8Array> = response.body!.getReader();
  const closed = new Promise<void>((resolve) => res.once("close", resolve));
  // The request's abort (tRPC's signal) ends the stream on the server side; this only stops the reads.
  void closed.then(() => reader.cancel().catch(() => {}));
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done || res.destroyed) break;
      if (!res.writableCorked) {
        res.cork();
        process.nextTick(() => res.uncork());
      }
      if (!res.write(value)) await Promise.race([new Promise((resolve) => res.once("drain", resolve)), closed]);
    }
  } finally {
    if (!res.destroyed) res.end();
  }
}
