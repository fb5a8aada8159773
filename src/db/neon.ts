/**
 * The Neon serverless driver (DB_DRIVER=neon), loaded by src/db/client.ts only for that driver: with it come
 * @neondatabase/serverless, @prisma/adapter-neon and ws, which a pg server never needs in memory.
 */
import { neonConfig, type PoolConfig } from "@neondatabase/serverless";
import { PrismaNeon } from "@prisma/adapter-neon";
import ws from "ws";
import { isNeonHost } from "./neon-hosts.ts";
import { startWsProxy, type WsProxy } from "./ws-proxy.ts";

// neonConfig is process-wide: route each proxied host:port to a local proxy. Several pools of one process may proxy
// the same host:port (tests' variants of a server): each has its own, and closing one leaves the others routed.
const proxied = new Map<string, string[]>();
neonConfig.webSocketConstructor = ws;
neonConfig.wsProxy = (host, port) => proxied.get(`${host}:${port}`)?.at(-1) ?? `${host}/v2`;

export interface NeonDriver {
  adapter: PrismaNeon;
  /** The local WebSocket proxy when the target is not a Neon endpoint. */
  proxy: WsProxy | undefined;
  /** Unroutes and stops the proxy, if any. */
  close(): Promise<void>;
}

export interface NeonDriverOptions {
  pool: PoolConfig;
  callbacks: ConstructorParameters<typeof PrismaNeon>[1];
  target: { host: string; port: number };
  /** Proxy socket errors: per connection, never fatal. */
  onProxyError: (error: Error) => void;
}

export async function neonDriver({ pool, callbacks, target, onProxyError }: NeonDriverOptions): Promise<NeonDriver> {
  if (isNeonHost(target.host))
    return { adapter: new PrismaNeon(pool, callbacks), proxy: undefined, close: async () => {} };

  const targetKey = `${target.host}:${target.port}`;
  const proxy = await startWsProxy({ targetHost: target.host, targetPort: target.port, onError: onProxyError });
  const route = `${proxy.address}?address=${targetKey}`;
  proxied.set(targetKey, [...(proxied.get(targetKey) ?? []), route]);
  // A local proxy speaks plain ws and plain PostgreSQL: no TLS, no pipelined startup.
  neonConfig.useSecureWebSocket = false;
  neonConfig.pipelineConnect = false;
  neonConfig.pipelineTLS = false;
  neonConfig.forceDisablePgSSL = true;
  return {
    adapter: new PrismaNeon(pool, callbacks),
    proxy,
    async close() {
      const rest = (proxied.get(targetKey) ?? []).filter((address) => address !== route);
      if (rest.length) proxied.set(targetKey, rest);
      else proxied.delete(targetKey);
      await proxy.close();
    },
  };
}
