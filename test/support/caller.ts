/**
 * The API's procedures without HTTP: `createCallerFactory` + `createContextInner` on a test database of its own,
 * with the app's token verifier and user registry (as createApp wires them).
 */
import { createTokenVerifier, signToken } from "../../src/auth/tokens.ts";
import { createDatabase, type Database } from "../../src/db/client.ts";
import { createContextInner, type ContextDeps } from "../../src/trpc/context.ts";
import { createCallerFactory } from "../../src/trpc/init.ts";
import { appRouter } from "../../src/trpc/routers/_app.ts";
import { createUserRegistry } from "../../src/users/registry.ts";
import { createTestDatabase } from "./db.ts";
import { TEST_SECRET, testConfig, testLogger } from "./server.ts";

const createCaller = createCallerFactory(appRouter);
export type Caller = ReturnType<typeof createCaller>;

export interface TestCallers {
  database: Database;
  /** A caller holding a signed token for this user, verified on every call like a request's. */
  as(userId: string, claims?: { email?: string; name?: string }): Promise<Caller>;
  /** A caller without a token. */
  anonymous(): Caller;
  close(): Promise<void>;
}

export async function startTestCallers(): Promise<TestCallers> {
  const testDatabase = await createTestDatabase({ migrated: true });
  const config = testConfig(testDatabase.url);
  const database = await createDatabase({ ...config.db, url: testDatabase.url }, testLogger());
  const deps: ContextDeps = {
    db: database.prisma,
    verifyToken: createTokenVerifier(config.auth),
    users: createUserRegistry(database.prisma),
    production: false,
    idempotencyTtlMs: config.idempotencyTtlMs,
    changeRetentionMs: config.changeRetentionMs,
  };
  return {
    database,
    async as(userId, claims = {}) {
      return createCaller(createContextInner(deps, await signToken(TEST_SECRET, { sub: userId, ...claims })));
    },
    anonymous: () => createCaller(createContextInner(deps, null)),
    async close() {
      await database.close();
      await testDatabase.close();
    },
  };
}
