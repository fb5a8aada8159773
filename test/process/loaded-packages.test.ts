/**
 * Only what is configured is loaded (src/runtime.ts): a real `src/server.ts` process records every package it
 * loads (test/support/record-packages.mjs) from start to SIGTERM. On a PostgreSQL URL with DB_DRIVER=pg and no
 * REDIS_URL that is neither Redis's client and store, nor the Neon stack and ws, nor PGlite; each comes with
 * what needs it.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, expect, test } from "vitest";
import { spawnServer } from "../faults/support/server-process.ts";
import { createTestDatabase } from "../support/db.ts";

const REDIS = ["@redis/client", "rate-limit-redis"];
const NEON = ["@neondatabase/serverless", "@prisma/adapter-neon", "ws"];
const PGLITE = ["@electric-sql/pglite", "@electric-sql/pglite-socket"];

const dir = mkdtempSync(path.join(tmpdir(), "todo-loaded-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The packages (node_modules/<name>) a server with this environment loads until it has answered /readyz and stopped. */
async function packagesLoadedWith(env: Record<string, string>, name: string): Promise<Set<string>> {
  const file = path.join(dir, `${name}.txt`);
  const server = await spawnServer({
    ...env,
    NODE_OPTIONS: `--import ${path.resolve("test/support/record-packages.mjs")}`,
    RECORD_PACKAGES_FILE: file,
  });
  try {
    // The database pinged and the live feed's LISTEN session proven: everything start-up loads is in.
    await fetch(`${server.url}/readyz`);
  } finally {
    server.kill("SIGTERM");
  }
  expect(await server.exited).toEqual({ code: 0, signal: null });
  const packages = new Set<string>();
  for (const line of readFileSync(file, "utf8").split("\n")) {
    const name = /.*node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(line)?.[1];
    if (name) packages.add(name);
  }
  return packages;
}

test("DB_DRIVER=pg on a PostgreSQL URL without REDIS_URL loads neither Redis, the Neon stack, ws nor PGlite", async () => {
  const database = await createTestDatabase({ migrated: true });
  try {
    const loaded = await packagesLoadedWith(
      { DATABASE_URL: database.url, DIRECT_URL: database.directUrl, DB_DRIVER: "pg" },
      "pg",
    );
    // What every server loads: the record works.
    expect(loaded).toContain("@prisma/adapter-pg");
    expect(loaded).toContain("express");
    for (const name of [...REDIS, ...NEON, ...PGLITE]) expect(loaded, name).not.toContain(name);
  } finally {
    await database.close();
  }
}, 120_000);

test("DB_DRIVER=neon loads the Neon stack and ws, REDIS_URL Redis's client and store, and still no PGlite", async () => {
  const database = await createTestDatabase({ migrated: true });
  try {
    // Nothing answers on port 1: the client keeps reconnecting in the background, which is all this needs.
    const env = {
      DATABASE_URL: database.url,
      DIRECT_URL: database.directUrl,
      DB_DRIVER: "neon",
      REDIS_URL: "redis://127.0.0.1:1",
    };
    const loaded = await packagesLoadedWith(env, "neon-redis");
    for (const name of [...REDIS, ...NEON]) expect(loaded, name).toContain(name);
    for (const name of PGLITE) expect(loaded, name).not.toContain(name);
  } finally {
    await database.close();
  }
}, 120_000);

test("without DATABASE_URL the embedded database loads PGlite, and neither Redis nor the Neon stack", async () => {
  const loaded = await packagesLoadedWith({ PGLITE_DATA_DIR: path.join(dir, "pglite") }, "embedded");
  for (const name of PGLITE) expect(loaded, name).toContain(name);
  for (const name of [...REDIS, ...NEON]) expect(loaded, name).not.toContain(name);
}, 120_000);
