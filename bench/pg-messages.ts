/**
 * Reads the client→server side of the PostgreSQL protocol just far enough to see each message's type.
 * Startup packets (and SSL/GSS requests) have no type byte: int32 length, int32 code; every later
 * message is a type byte and an int32 length that counts itself.
 */
const SSL_REQUEST = 80877103;
const GSS_REQUEST = 80877104;

export function createMessageReader(onMessage: (type: string) => void): (chunk: Buffer) => void {
  let startup = true;
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
        onMessage(String.fromCharCode(header[0]!));
        skip = header.readInt32BE(1) - 4;
      }
      header = Buffer.alloc(0);
    }
  };
}
