/**
 * Global setup of the pgbouncer projects: a private PgBouncer in transaction mode in front of TEST_DATABASE_URL.
 * Test databases are still created and migrated directly (db.ts, global-setup.ts); the API reaches them through it.
 */
import type { TestProject } from "vitest/node";
import { serverUrl } from "./db.ts";
import { startPgBouncer } from "./pgbouncer.ts";

declare module "vitest" {
  export interface ProvidedContext {
    /** postgresql://…@127.0.0.1:port/ of this project's PgBouncer; unset outside the pgbouncer projects. */
    pgbouncerUrl?: string;
  }
}

export default async function setup(project: TestProject) {
  const server = serverUrl();
  if (!server) throw new Error("the pgbouncer projects need TEST_DATABASE_URL (a PostgreSQL server behind the pooler)");
  const bouncer = await startPgBouncer(server);
  project.provide("pgbouncerUrl", bouncer.url);
  return () => bouncer.stop();
}
