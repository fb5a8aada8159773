import net from "node:net";
import type { AddressInfo } from "node:net";
import { createMessageReader } from "./pg-messages.ts";

/**
 * A TCP relay in front of PostgreSQL: delays each direction by rtt/2 to put the database one network hop
 * away, and counts the round trips clients make. A round trip is one Sync ('S', the end of an
 * extended-protocol exchange) or one simple Query ('Q') sent by a client: each makes the server answer.
 */
export interface Relay {
  readonly port: number;
  readonly rttMs: number;
  /** Round trips (Sync + Query messages) clients have sent so far. */
  roundTrips(): number;
  close(): Promise<void>;
}

export interface RelayOptions {
  targetHost: string;
  targetPort: number;
  /** Added to every round trip: half on the way in, half on the way out. */
  rttMs: number;
}

export async function startRelay({ targetHost, targetPort, rttMs }: RelayOptions): Promise<Relay> {
  const oneWay = rttMs / 2;
  let trips = 0;
  const open = new Set<net.Socket>();

  // setTimeout keeps order for equal delays, so delayed chunks arrive in the order they were sent.
  const forward = (from: net.Socket, to: net.Socket) => (chunk: Buffer) => {
    if (oneWay <= 0) {
      to.write(chunk);
      return;
    }
    setTimeout(() => {
      if (!to.destroyed) to.write(chunk);
    }, oneWay);
  };
  const closeAfterDelay = (socket: net.Socket) => () => {
    setTimeout(() => socket.end(), oneWay);
  };

  const server = net.createServer((client) => {
    const upstream = net.connect({ host: targetHost, port: targetPort, noDelay: true });
    client.setNoDelay(true);
    open.add(client).add(upstream);
    const count = createMessageReader((type) => {
      if (type === "S" || type === "Q") trips++;
    });
    client.on("data", count);
    client.on("data", forward(client, upstream));
    upstream.on("data", forward(upstream, client));
    client.on("end", closeAfterDelay(upstream));
    upstream.on("end", closeAfterDelay(client));
    const destroy = () => {
      open.delete(client);
      open.delete(upstream);
      client.destroy();
      upstream.destroy();
    };
    client.on("close", destroy).on("error", destroy);
    upstream.on("close", destroy).on("error", destroy);
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    rttMs,
    roundTrips: () => trips,
    async close() {
      for (const socket of open) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
