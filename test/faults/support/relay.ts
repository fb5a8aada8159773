/** A TCP relay in front of PostgreSQL that a test can cut, or make refuse new connections. */
import net from "node:net";

export interface Relay {
  port: number;
  /** Open client connections. */
  readonly open: number;
  /** Drops every open connection at once (both sides see the socket die). */
  cut(): void;
  /** While true, new connections are accepted and dropped at once. */
  refuse: boolean;
  close(): Promise<void>;
}

export async function startRelay(targetPort: number, targetHost = "127.0.0.1"): Promise<Relay> {
  const pairs = new Set<{ client: net.Socket; upstream: net.Socket }>();
  const relay = {
    refuse: false,
    get open() {
      return pairs.size;
    },
  } as Relay;
  const server = net.createServer((client) => {
    if (relay.refuse) {
      client.destroy();
      return;
    }
    const upstream = net.connect({ host: targetHost, port: targetPort, noDelay: true });
    const pair = { client, upstream };
    pairs.add(pair);
    client.pipe(upstream);
    upstream.pipe(client);
    const finish = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on("error", finish).on("close", finish);
    upstream.on("error", finish).on("close", finish);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  relay.port = (server.address() as net.AddressInfo).port;
  relay.cut = () => {
    for (const { client, upstream } of pairs) {
      // resetAndDestroy sends RST: the client sees ECONNRESET, as when a NAT or load balancer drops it.
      client.resetAndDestroy();
      upstream.destroy();
    }
    pairs.clear();
  };
  relay.close = async () => {
    relay.cut();
    await new Promise((resolve) => server.close(resolve));
  };
  return relay;
}
