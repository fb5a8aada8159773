/**
 * Follows the client→server side of the PostgreSQL protocol far enough to see each message's type.
 * The proxy uses it to see Terminate ('X'): the Neon driver sends Terminate but keeps its WebSocket
 * open; a real server hangs up on Terminate, and some (pglite-socket) do not — so the proxy hangs up for
 * them, or every pooled connection would leak. Tests and the benchmark count Sync/Query with it.
 */
const SSL_REQUEST = 80877103;
const GSS_REQUEST = 80877104;
const TERMINATE = 0x58; // 'X'
export const SYNC = 0x53; // 'S': ends an extended-protocol query (Parse/Bind/Execute…)
export const QUERY = 0x51; // 'Q': a simple-protocol query
export const PARSE = 0x50; // 'P': a statement's text to parse (skipped when a named statement is reused)

/** Returns a function that takes the client's bytes in order, chunk by chunk, and calls `onMessage` per message type. */
export function createFrontendScanner(onMessage: (type: number) => void): (chunk: Buffer) => void {
  let startup = true; // startup packets have no type byte: int32 length, int32 code
  let header: Buffer = Buffer.alloc(0);
  let skip = 0;
  return (chunk) => {
    let i = 0;
    while (i < chunk.length) {
      if (skip > 0) {
        const n = Math.min(skip, chunk.length - i);
        skip -= n;
        i += n;
        continue;
      }
      const size = startup ? 8 : 5;
      const take = chunk.subarray(i, i + size - header.length);
      header = header.length ? Buffer.concat([header, take]) : take;
      i += take.length;
      if (header.length < size) break;
      if (startup) {
        const code = header.readInt32BE(4);
        if (code !== SSL_REQUEST && code !== GSS_REQUEST) startup = false;
        skip = header.readInt32BE(0) - 8;
      } else {
        onMessage(header[0]!);
        skip = header.readInt32BE(1) - 4;
      }
      header = Buffer.alloc(0);
    }
  };
}

/** True for the chunk that carries Terminate. */
export function createTerminateDetector(): (chunk: Buffer) => boolean {
  let terminated = false;
  const scan = createFrontendScanner((type) => {
    if (type === TERMINATE) terminated = true;
  });
  return (chunk) => {
    terminated = false;
    scan(chunk);
    return terminated;
  };
}

/** Protocol messages end to end, as one buffer (the embedded database's message queue takes whole buffers). */
export function concatFrames(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}
