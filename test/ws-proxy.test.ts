import { once } from "node:events";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, expect, test } from "vitest";
import WebSocket from "ws";
import { startWsProxy, type WsProxy } from "../src/db/ws-proxy.ts";

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
