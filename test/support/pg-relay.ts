/**
 * A TCP relay in front of PostgreSQL that counts the client's round trips (Sync and simple Query
 * messages) and can cut every connection. Put it between the API and the database, for either driver:
 * pg connects to it directly; the Neon driver's local proxy forwards to it like to any host.
 */
import net, { type AddressInfo } from "node:net";
import { createFrontendScanner, QUERY, SYNC } from "../../src/db/pg-frames.ts";

export interface PgRelay {
  /** The database URL with host and port replaced by the relay's. */
  url: string;
  /** Round trips the clients started since the last reset. */
  roundTrips(): number;
  reset(): void;
  /** Destroys every open connection (both sides), as a network failure would. */
  cut(): void;
  close(): Promise<void>;
}

export async function startPgRelay(databaseUrl: string): Promise<PgRelay> {
  const target = new URL(databaseUrl);
  const open = new Set<net.Socket>();
  let count = 0;
  const server = net.createServer((client) => {
    client.setNoDelay(true);
    const upstream = net.connect({ host: target.hostname, port: Number(target.port || 5432), noDelay: true });
    open.add(client).add(upstream);
    const scan = createFrontendScanner((type) => {
      if (type === SYNC || type === QUERY) count++;
    });
    client.on("data", (chunk) => {
      scan(chunk);
      upstream.write(chunk);
    });
    upstream.pipe(client);
    const finish = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    for (const socket of [client, upstream]) {
      socket.on("error", finish);
      socket.on("close", finish);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = new URL(databaseUrl);
  url.hostname = "127.0.0.1";
  url.port = String((server.address() as AddressInfo).port);
  const cut = () => {
    for (const socket of open) socket.destroy();
  };
  return {
    url: url.toString(),
    roundTrips: () => count,
    reset: () => {
      count = 0;
    },
    cut,
    async close() {
      cut();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}
