import { once } from "node:events";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, expect, test } from "vitest";
import WebSocket from "ws";
import { startWsProxy, type WsProxy } from "../../../src/db/ws-proxy.ts";

let echo: net.Server;
let echoPort: number;
let proxy: WsProxy;

beforeAll(async () => {
  echo = net.createServer((socket) => socket.pipe(socket));
  echo.listen(0, "127.0.0.1");
  await once(echo, "listening");
  echoPort = (echo.address() as AddressInfo).port;
  proxy = await startWsProxy({ targetHost: "127.0.0.1", targetPort: echoPort });
});
afterAll(async () => {
  await proxy.close();
  echo.close();
});

function open(address: string): WebSocket {
  return new WebSocket(`ws://127.0.0.1:${proxy.port}/v1?address=${address}`);
}

test("relays bytes both ways to the configured target", async () => {
  const ws = open(`127.0.0.1:${echoPort}`);
  await once(ws, "open");
  const payload = Buffer.alloc(300_000, 7);
  let received = 0;
  const done = new Promise<void>((resolve) =>
    ws.on("message", (data: Buffer) => {
      received += data.length;
      if (received === payload.length) resolve();
    }),
  );
  ws.send(payload);
  await done;
  expect(received).toBe(payload.length);
  ws.close();
});

test("is not an open relay: any other address is refused", async () => {
  const ws = open("127.0.0.1:6379");
  const [code] = (await once(ws, "close")) as [number];
  expect(code).toBe(1008);
});

/** The HTTP status an upgrade is refused with (ws hands the refusal to this listener, which ends it). */
async function refusal(ws: WebSocket): Promise<number> {
  const [req, res] = (await once(ws, "unexpected-response")) as [{ destroy(): void }, { statusCode: number }];
  req.destroy();
  return res.statusCode;
}

test("a browser cannot reach it: any upgrade with an Origin is 403, without one it opens", async () => {
  for (const origin of ["https://evil.example", "http://localhost:3000", "null"]) {
    expect(
      await refusal(new WebSocket(`ws://127.0.0.1:${proxy.port}/v1?address=127.0.0.1:${echoPort}`, { origin })),
    ).toBe(403);
  }
  // What protocol version 8 (older browsers) sent instead of Origin.
  expect(
    await refusal(
      new WebSocket(`ws://127.0.0.1:${proxy.port}/v1`, { origin: "https://evil.example", protocolVersion: 8 }),
    ),
  ).toBe(403);

  const node = open(`127.0.0.1:${echoPort}`);
  await once(node, "open");
  node.send("ping");
  const [echoed] = (await once(node, "message")) as [Buffer];
  expect(echoed.toString()).toBe("ping");
  node.close();
});

test("nothing listens by default: auto picks pg for a server that is not Neon; only DB_DRIVER=neon starts the relay", async () => {
  const { parseConfig } = await import("../../../src/config.ts");
  const { createDatabase } = await import("../../../src/db/client.ts");
  const { createLogger } = await import("../../../src/logger.ts");
  const connect = async (env: Record<string, string>) => {
    const { db } = parseConfig(env);
    return createDatabase({ ...db, url: db.url! }, createLogger("silent"));
  };
  const local = `postgresql://postgres@127.0.0.1:${echoPort}/postgres`;
  for (const env of [
    { DATABASE_URL: local },
    { DATABASE_URL: "postgresql://u@ep-cool-name-123.eu-central-1.aws.neon.tech/neondb" },
  ]) {
    const database = await connect(env);
    expect(database.proxy).toBeUndefined();
    await database.close();
  }
  const relayed = await connect({ DATABASE_URL: local, DB_DRIVER: "neon" });
  try {
    expect(relayed.proxy).toBeDefined();
    const ws = new WebSocket(`ws://127.0.0.1:${relayed.proxy!.port}/v1`, { origin: "https://evil.example" });
    expect(await refusal(ws)).toBe(403);
  } finally {
    await relayed.close();
  }
});

test("destroyConnections cuts every client (used to inject faults)", async () => {
  const ws = open(`127.0.0.1:${echoPort}`);
  await once(ws, "open");
  proxy.destroyConnections();
  await once(ws, "close");
});

test("plain HTTP gets 426", async () => {
  const res = await fetch(`http://127.0.0.1:${proxy.port}/`);
  expect(res.status).toBe(426);
});

test("the Terminate detector follows message framing across any chunking", async () => {
  const { createTerminateDetector } = await import("../../../src/db/pg-frames.ts");
  const startup = Buffer.alloc(16);
  startup.writeInt32BE(16, 0);
  startup.writeInt32BE(196608, 4);
  const ssl = Buffer.from([0, 0, 0, 8, 4, 210, 22, 47]);
  // A Query whose text contains 'X' bytes must not look like Terminate.
  const sql = Buffer.from("SELECT 'XXXX'\0");
  const query = Buffer.concat([Buffer.from("Q"), Buffer.alloc(4), sql]);
  query.writeInt32BE(4 + sql.length, 1);
  const terminate = Buffer.from([0x58, 0, 0, 0, 4]);
  const stream = Buffer.concat([ssl, startup, query, query, terminate]);

  for (const size of [1, 3, 7, stream.length]) {
    const detect = createTerminateDetector();
    const hits: number[] = [];
    for (let i = 0; i < stream.length; i += size) if (detect(stream.subarray(i, i + size))) hits.push(i);
    expect(hits).toHaveLength(1);
    expect(hits[0]).toBeGreaterThan(stream.length - terminate.length - size);
  }
});
