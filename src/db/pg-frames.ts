/**
 * Follows the client→server side of the PostgreSQL protocol just far enough to see Terminate ('X').
 * The Neon driver sends Terminate but keeps its WebSocket open; a real server hangs up on Terminate, and
 * some (pglite-socket) do not — so the proxy hangs up for them, or every pooled connection would leak.
 */
const SSL_REQUEST = 80877103;
const GSS_REQUEST = 80877104;
const TERMINATE = 0x58; // 'X'

export function createTerminateDetector(): (chunk: Buffer) => boolean {
  let startup = true; // startup packets have no type byte: int32 length, int32 code
  let header: Buffer = Buffer.alloc(0);
  let skip = 0;
  return (chunk) => {
    let terminated = false;
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
        if (header[0] === TERMINATE) terminated = true;
        skip = header.readInt32BE(1) - 4;
      }
      header = Buffer.alloc(0);
    }
    return terminated;
  };
}
