/** A real API for a test file: its own database, the configured driver, Express on a free port, real clients. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { createTRPCClient, httpBatchLink, httpBatchStreamLink, httpLink, type TRPCClient } from "@trpc/client";
import { signToken } from "../../src/auth/tokens.ts";
import type { ChangeFeed } from "../../src/live/feed.ts";
import { withDevelopmentSecret } from "../../src/auth/dev-secret.ts";
import { parseConfig, type Config } from "../../src/config.ts";
import type { Database } from "../../src/db/client.ts";
import { createLogger, type Logger } from "../../src/logger.ts";
import { createRuntime } from "../../src/runtime.ts";
import type { AppRouter } from "../../src/trpc/routers/_app.ts";
import { transformer } from "../../src/trpc/transformer.ts";
import { createTestDatabase, serverUrl, type TestDatabase } from "./db.ts";

export const TEST_SECRET = "test-secret-that-is-at-least-32-characters-long";

export type Client = TRPCClient<AppRouter>;

export interface TestServer {
  url: string;
  trpcUrl: string;
  database: Database;
  testDatabase: TestDatabase;
  changes: ChangeFeed;
  token(userId: string, claims?: { email?: string; name?: string }): Promise<string>;
  /**
   * A typed client for a user (batched, as frontends use it): httpBatchLink in the neon projects,
   * httpBatchStreamLink in the pg ones, so the whole API suite runs through both tRPC links that batch.
   */
  client(userId: string): Promise<Client>;
  /** A typed client for a user, one HTTP request per call. */
  clientUnbatched(userId: string): Promise<Client>;
  /** A typed client sending exactly this Authorization header (or none). */
  clientWithHeader(authorization: string | undefined): Client;
  /** Another configuration of the API on this server's database (no new database to build); close it first. */
  variant(env: Record<string, string>, options?: Omit<TestServerOptions, "database">): Promise<TestServer>;
  close(): Promise<void>;
}

/**
 * The API's configuration in tests: the project's driver (DB_DRIVER) on `url`, signing with TEST_SECRET.
 * `AUTH_SECRET: ""` is `npm start` without a secret: TEST_SECRET is then the development secret the API finds
 * beside its data folder (config.auth.devSecret, so POST /dev/token exists outside production).
 */
export function testConfig(url: string, env: Record<string, string> = {}): Config {
  const config = parseConfig({
    NODE_ENV: "test",
    AUTH_SECRET: TEST_SECRET,
    DATABASE_URL: url,
    DB_DRIVER: process.env.DB_DRIVER ?? "neon",
    // Generous: on a busy machine the embedded database can take seconds to accept a connection.
    DB_CONNECTION_TIMEOUT_MS: "10000",
    // Many requests come from one address and user here; the tests for the limits turn them on.
    RATE_LIMIT_PER_IP: "0",
    RATE_LIMIT_PER_USER: "0",
    ...(env.AUTH_SECRET === "" ? { PGLITE_DATA_DIR: path.join(devSecretDir(), "pglite") } : {}),
    ...env,
  });
  return env.AUTH_SECRET === "" ? withDevelopmentSecret(config) : config;
}

let secretDir: string | undefined;
/** A folder holding TEST_SECRET as `auth-secret`, where the API keeps its development secret; one per process. */
function devSecretDir(): string {
  if (!secretDir) {
    const dir = (secretDir = mkdtempSync(path.join(os.tmpdir(), "todo-dev-secret-")));
    writeFileSync(path.join(dir, "auth-secret"), `${TEST_SECRET}\n`, { mode: 0o600 });
    process.once("exit", () => rmSync(dir, { recursive: true, force: true }));
  }
  return secretDir;
}

export const testLogger = (): Logger => createLogger(process.env.TEST_LOG_LEVEL ?? "silent");

/** A test database as the runtime takes one: the API on `url`, LISTEN on the database itself (as DIRECT_URL does). */
export function runtimeDatabase(
  testDatabase: TestDatabase,
  url = testDatabase.url,
  listenUrl = testDatabase.directUrl,
) {
  return { url, listenUrl, embedded: !serverUrl() };
}

export interface TestServerOptions {
  webDir?: string;
  logger?: Logger;
  database?: TestDatabase;
  listenUrl?: string;
  /** false: without the expired-key sweeper production runs (a test that counts Idempotency-Key rows). */
  sweepers?: boolean;
}

/**
 * `prepare` runs on the migrated database before the API connects (e.g. to change its settings); the URL
 * it returns, if any, is where the API connects instead (e.g. a relay in front of the database).
 * `webDir` is the built page to serve at `/` (the e2e project's global setup builds web/dist);
 * `logger` replaces the silent one (e.g. to capture what the API logs); `database` shares another server's test
 * database (a second configuration of the API without the cost of a new database; it stays open on close);
 * `listenUrl` is where live updates LISTEN instead of the database itself (a pooler, a relay).
 * The API is src/runtime.ts's, as `npm start` builds it, on 127.0.0.1 and a free port.
 */
export async function startTestServer(
  env: Record<string, string> = {},
  prepare?: (url: string) => Promise<string | void>,
  { webDir, logger: givenLogger, database: sharedDatabase, listenUrl, sweepers }: TestServerOptions = {},
): Promise<TestServer> {
  const testDatabase = sharedDatabase ?? (await createTestDatabase({ migrated: true }));
  const apiUrl = (await prepare?.(testDatabase.url)) ?? testDatabase.url;
  const config = testConfig(apiUrl, { PORT: "0", HOST: "127.0.0.1", ...env });
  const logger = givenLogger ?? testLogger();
  // In the pgbouncer projects `url` is the pooler; LISTEN stays on the database itself.
  const runtime = await createRuntime(config, logger, {
    database: runtimeDatabase(testDatabase, apiUrl, listenUrl),
    webDir,
    sweepers,
  });
  const { database, changes } = runtime;
  const url = `http://127.0.0.1:${(await runtime.start()).port}`;
  const trpcUrl = `${url}/trpc`;

  const batchLink = process.env.DB_DRIVER === "pg" ? httpBatchStreamLink : httpBatchLink;
  const clientWithHeader = (authorization: string | undefined, batch = false): Client =>
    createTRPCClient<AppRouter>({
      links: [
        (batch ? batchLink : httpLink)({
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
    async clientUnbatched(userId) {
      return clientWithHeader(`Bearer ${await token(userId)}`);
    },
    clientWithHeader: (authorization) => clientWithHeader(authorization),
    variant: (variantEnv, options) => startTestServer(variantEnv, undefined, { ...options, database: testDatabase }),
    get changes() {
      if (!changes) throw new Error("live updates are off in this server (SSE_MAX_STREAMS=0)");
      return changes;
    },
    async close() {
      await runtime.close();
      if (!sharedDatabase) await testDatabase.close();
    },
  };
}
