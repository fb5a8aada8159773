import { createServer, type Server } from "node:http";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { WebSocketServer, type WebSocket } from "ws";
import { createTerminateDetector } from "./pg-frames.ts";

/**
 * A WebSocket → TCP relay on loopback, so the Neon serverless driver can reach a PostgreSQL that is
 * not a Neon endpoint (local, CI, the embedded database) — the way Neon documents local development.
 * It forwards only to the one configured target: never an open relay. The embedded database takes any user
 * name and password, so no web page may reach it: an upgrade carrying an `Origin` header (every browser sends one,
 * Node's ws client sends none) is refused with 403.
 */
export interface WsProxy {
  /** `host:port/v1` — the address the driver's `wsProxy` function returns (without the scheme). */
  readonly address: string;
  readonly port: number;
  /** Open client sockets: lets a test cut every connection at once. */
  destroyConnections(): void;
  close(): Promise<void>;
}

export interface WsProxyOptions {
  targetHost: string;
  targetPort: number;
  /** Called for socket errors; they are per-connection and never fatal. */
  onError?: (error: Error) => void;
}

const BROWSER_REFUSED = "No browser may reach this relay\n";

// Pause the TCP side when the WebSocket has this much unsent data (backpressure).
const HIGH_WATER_MARK = 1024 * 1024;

export async function startWsProxy({ targetHost, targetPort, onError }: WsProxyOptions): Promise<WsProxy> {
  const server: Server = createServer((_req, res) => {
    res.writeHead(426, { "content-type": "text/plain" }).end("WebSocket upgrade required\n");
  });
  const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 64 * 1024 * 1024 });
  server.on("upgrade", (req, socket, head) => {
    // Sec-WebSocket-Origin: what protocol version 8 (older browsers) sent instead.
    const fromBrowser = req.headers.origin !== undefined || req.headers["sec-websocket-origin"] !== undefined;
    if (!fromBrowser) return wss.handleUpgrade(req, socket, head, (ws) => wss.emit("connection", ws, req));
    socket.on("error", (error) => onError?.(error));
    socket.end(
      `HTTP/1.1 403 Forbidden\r\nConnection: close\r\nContent-Type: text/plain\r\nContent-Length: ${BROWSER_REFUSED.length}\r\n\r\n${BROWSER_REFUSED}`,
    );
  });
  const open = new Set<{ ws: WebSocket; tcp: net.Socket }>();

  wss.on("connection", (ws, req) => {
    const requested = new URL(req.url ?? "/", "http://proxy").searchParams.get("address");
    if (requested !== null && requested !== `${targetHost}:${targetPort}`) {
      ws.close(1008, "address not allowed");
      return;
    }
    const tcp = net.connect({ host: targetHost, port: targetPort, noDelay: true });
    const pair = { ws, tcp };
    open.add(pair);
    const finish = () => {
      open.delete(pair);
      tcp.destroy();
      if (ws.readyState === ws.OPEN || ws.readyState === ws.CONNECTING) ws.terminate();
    };

    // The driver may send before the TCP connection is up; net.Socket queues writes until then.
    const isTerminate = createTerminateDetector();
    ws.on("message", (data: Buffer) => {
      tcp.write(data);
      if (isTerminate(data)) tcp.end();
    });
    tcp.on("data", (chunk) => {
      ws.send(chunk, { binary: true });
      if (ws.bufferedAmount > HIGH_WATER_MARK) {
        tcp.pause();
        const resume = setInterval(() => {
          if (ws.readyState !== ws.OPEN || ws.bufferedAmount < HIGH_WATER_MARK / 2) {
            clearInterval(resume);
            tcp.resume();
          }
        }, 1);
      }
    });
    tcp.on("error", (error) => onError?.(error));
    ws.on("error", (error) => onError?.(error));
    tcp.on("close", finish);
    ws.on("close", finish);
  });
  wss.on("error", (error) => onError?.(error));

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  const destroyConnections = () => {
    for (const pair of open) {
      pair.tcp.destroy();
      pair.ws.terminate();
    }
  };
  return {
    address: `127.0.0.1:${port}/v1`,
    port,
    destroyConnections,
    async close() {
      destroyConnections();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
