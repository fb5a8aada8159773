import { mkdirSync } from "node:fs";
import { PGlite } from "@electric-sql/pglite";
import { PGLiteSocketServer } from "@electric-sql/pglite-socket";

/** PGlite (PostgreSQL in WebAssembly) served on loopback over the PostgreSQL wire protocol. */
export interface EmbeddedDatabase {
  url: string;
  close(): Promise<void>;
}

export interface EmbeddedOptions {
  /** Folder that persists the data; undefined keeps it in memory (tests). */
  dataDir?: string;
  /** Simultaneous client connections (PGlite runs one query at a time and queues the rest). */
  maxConnections?: number;
}

export async function startEmbeddedDatabase({ dataDir, maxConnections = 32 }: EmbeddedOptions = {}): Promise<EmbeddedDatabase> {
  if (dataDir) mkdirSync(dataDir, { recursive: true });
  const db = await PGlite.create(dataDir);
  const server = new PGLiteSocketServer({ db, host: "127.0.0.1", port: 0, maxConnections });
  await server.start();
  const [, port] = server.getServerConn().split(":");
  return {
    url: `postgresql://postgres:postgres@127.0.0.1:${port}/postgres`,
    async close() {
      await server.stop();
      await db.close();
    },
  };
}
