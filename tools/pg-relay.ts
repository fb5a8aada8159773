/**
 * A TCP relay in front of PostgreSQL, for tests and the benchmark: it counts the round trips clients make
 * (one per Sync — the end of an extended-protocol exchange — or simple Query they send), can add a network
 * delay (rtt/2 each way), cut every connection, or cut one right after the server answered a chosen statement
 * (the answer dropped: the server did the work, the client never learns). Either driver goes through it: pg
 * connects to it directly; the Neon driver's local proxy forwards to it like to any host.
 */
import net, { type AddressInfo } from "node:net";
import { createFrontendScanner, PARSE, QUERY, SYNC } from "../src/db/pg-frames.ts";

export interface PgRelayOptions {
  targetPort: number;
  targetHost?: string;
  /** Added to every round trip: half on the way in, half on the way out. */
  rttMs?: number;
}

export interface PgRelay {
  readonly port: number;
  readonly rttMs: number;
  /** Connections clients opened since the relay started. */
  connections(): number;
  /** Round trips clients started since the relay started or was reset. */
  roundTrips(): number;
  /** Statement texts clients sent to be parsed (Parse messages) since the relay started or was reset. */
  parses(): number;
  reset(): void;
  /** Drops every open connection with a reset, as a NAT or load balancer would: clients see ECONNRESET. */
  cut(): void;
  /**
   * The connections open now stop carrying anything, either way, and stay open (a peer gone silent, a black-holed
   * route): no error, no answer. Connections opened after it work.
   */
  stall(): void;
  /**
   * Once: the next client bytes containing `text` (e.g. "COMMIT") are forwarded, and when the server's answer
   * comes back that connection is cut instead of answered. Resolves when it was cut.
   */
  cutAfterAnswerTo(text: string): Promise<void>;
  close(): Promise<void>;
}

/** `url` with its host and port replaced by the relay's. */
export function viaRelay(url: string, relay: PgRelay): string {
  const u = new URL(url);
  u.hostname = "127.0.0.1";
  u.port = String(relay.port);
  return u.toString();
}

/** A relay in front of the server a URL names. */
export function startPgRelayFor(url: string, rttMs = 0): Promise<PgRelay> {
  const u = new URL(url);
  return startPgRelay({ targetHost: u.hostname, targetPort: Number(u.port || 5432), rttMs });
}

export async function startPgRelay({
  targetPort,
  targetHost = "127.0.0.1",
  rttMs = 0,
}: PgRelayOptions): Promise<PgRelay> {
  const oneWay = rttMs / 2;
  const pairs = new Set<{ client: net.Socket; upstream: net.Socket; stalled?: boolean }>();
  let armed: { text: Buffer; cut: () => void } | undefined;
  let trips = 0;
  let parses = 0;
  let opened = 0;

  // setTimeout keeps order for equal delays, so delayed chunks arrive in the order they were sent.
  const forward = (to: net.Socket) => (chunk: Buffer) => {
    if (oneWay <= 0) to.write(chunk);
    else setTimeout(() => to.destroyed || to.write(chunk), oneWay);
  };
  const endAfterDelay = (socket: net.Socket) => () => setTimeout(() => socket.end(), oneWay);

  const server = net.createServer((client) => {
    client.setNoDelay(true);
    opened++;
    const upstream = net.connect({ host: targetHost, port: targetPort, noDelay: true });
    const pair: { client: net.Socket; upstream: net.Socket; stalled?: boolean } = { client, upstream };
    pairs.add(pair);
    const count = createFrontendScanner((type) => {
      if (type === SYNC || type === QUERY) trips++;
      else if (type === PARSE) parses++;
    });
    // Set when this connection sent the armed statement: its next answer is dropped with the connection.
    let dropAnswer: (() => void) | undefined;
    client.on("data", count);
    client.on("data", (chunk: Buffer) => {
      if (armed && chunk.includes(armed.text)) {
        dropAnswer = armed.cut;
        armed = undefined;
      }
    });
    const toUpstream = forward(upstream);
    client.on("data", (chunk: Buffer) => pair.stalled || toUpstream(chunk));
    const toClient = forward(client);
    upstream.on("data", (chunk: Buffer) => {
      if (pair.stalled) return;
      if (!dropAnswer) return toClient(chunk);
      client.resetAndDestroy();
      upstream.destroy();
      dropAnswer();
    });
    client.on("end", endAfterDelay(upstream));
    upstream.on("end", endAfterDelay(client));
    const finish = () => {
      pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    client.on("error", finish).on("close", finish);
    upstream.on("error", finish).on("close", finish);
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });

  const relay: PgRelay = {
    port: (server.address() as AddressInfo).port,
    rttMs,
    connections: () => opened,
    roundTrips: () => trips,
    parses: () => parses,
    reset: () => {
      trips = 0;
      parses = 0;
    },
    cut() {
      for (const { client, upstream } of pairs) {
        client.resetAndDestroy();
        upstream.destroy();
      }
      pairs.clear();
    },
    stall() {
      for (const pair of pairs) pair.stalled = true;
    },
    cutAfterAnswerTo(text) {
      return new Promise((resolve) => {
        armed = { text: Buffer.from(text), cut: resolve };
      });
    },
    async close() {
      relay.cut();
      await new Promise((resolve) => server.close(resolve));
    },
  };
  return relay;
}
