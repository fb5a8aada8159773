/** A real API for a test file: its own database, the configured driver, Express on a free port, real clients. */
import { once } from "node:events";
import type { AddressInfo } from "node:net";
import { createTRPCClient, httpBatchLink, httpLink, type TRPCClient } from "@trpc/client";
import { signToken } from "../../src/auth.ts";
import { createApp } from "../../src/app.ts";
import { parseConfig } from "../../src/config.ts";
import { createDatabase, type Database } from "../../src/db/client.ts";
import { createLogger, type Logger } from "../../src/logger.ts";
import type { AppRouter } from "../../src/routers/_app.ts";
import { transformer } from "../../src/transformer.ts";
import { createTestDatabase, type TestDatabase } from "./db.ts";

export const TEST_SECRET = "test-secret-that-is-at-least-32-characters-long";

export type Client = TRPCClient<AppRouter>;

export interface TestServer {
  url: string;
  trpcUrl: string;
  database: Database;
  testDatabase: TestDatabase;
  token(userId: string, claims?: { email?: string; name?: string }): Promise<string>;
  /** A typed client for a user (batched, as frontends use it). */
  client(userId: string): Promise<Client>;
  /** A typed client sending exactly this Authorization header (or none). */
  clientWithHeader(authorization: string | undefined): Client;
  close(): Promise<void>;
}

/**
 * `prepare` runs on the migrated database before the API connects (e.g. to change its settings);
 * `logger` replaces the silent one (e.g. to capture what the API logs); `database` shares another server's test
 * database (a second configuration of the API without the cost of a new database; it stays open on close).
 */
export async function startTestServer(
  env: Record<string, string> = {},
  prepare?: (url: string) => Promise<void>,
  options: { logger?: Logger; database?: TestDatabase } = {},
): Promise<TestServer> {
  const testDatabase = options.database ?? (await createTestDatabase({ migrated: true }));
  await prepare?.(testDatabase.url);
  const config = parseConfig({
    NODE_ENV: "test",
    AUTH_SECRET: TEST_SECRET,
    DATABASE_URL: testDatabase.url,
    DB_DRIVER: process.env.DB_DRIVER ?? "neon",
    DB_CONNECTION_TIMEOUT_MS: "3000",
    // Many requests come from one address and user here; the tests for the limits turn them on.
    RATE_LIMIT_PER_IP: "0",
    RATE_LIMIT_PER_USER: "0",
    ...env,
  });
  const logger = options.logger ?? createLogger(process.env.TEST_LOG_LEVEL ?? "silent");
  const database = await createDatabase({ ...config.db, url: testDatabase.url }, logger);
  const app = createApp({ config, database, logger });
  const server = app.listen(0, "127.0.0.1");
  await once(server, "listening");
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const trpcUrl = `${url}/trpc`;

  const clientWithHeader = (authorization: string | undefined, batch = false): Client =>
    createTRPCClient<AppRouter>({
      links: [
        (batch ? httpBatchLink : httpLink)({
          url: trpcUrl,
          transformer,
          headers: () => (authorization ? { authorization } : {}),
        }),
      ],
    });
  const token = (userId: string, claims: { email?: string; name?: string } = {}) =>
    signToken(TEST_SECRET, { sub: userId, ...claims });

  return {
    url,
    trpcUrl,
    database,
    testDatabase,
    token,
    async client(userId) {
      return clientWithHeader(`Bearer ${await token(userId)}`, true);
    },
    clientWithHeader: (authorization) => clientWithHeader(authorization),
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await database.close();
      if (!options.database) await testDatabase.close();
    },
  };
}
