import type { CreateExpressContextOptions } from "@trpc/server/adapters/express";
import type { VerifyToken } from "./auth.ts";
import type { PrismaClient } from "./db/client.ts";
import type { UserRegistry } from "./users.ts";

/** What every request shares: built once by createApp. */
export interface ContextDeps {
  db: PrismaClient;
  verifyToken: VerifyToken;
  users: UserRegistry;
  /** Hides internal error messages from clients. */
  production: boolean;
}

/** The request context without HTTP: tests and server-side callers build it directly. */
export function createContextInner(deps: ContextDeps, token: string | null) {
  return { ...deps, token };
}

export type Context = ReturnType<typeof createContextInner>;

/** The request context for the Express adapter: the inner context plus the Bearer token. */
export function createContextFactory(deps: ContextDeps) {
  return ({ req }: CreateExpressContextOptions): Context => createContextInner(deps, bearerToken(req.headers.authorization));
}

function bearerToken(header: string | undefined): string | null {
  const match = header?.match(/^Bearer[ ]+([^\s]+)\s*$/i);
  return match?.[1] ?? null;
}
