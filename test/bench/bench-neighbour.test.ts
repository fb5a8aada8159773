/** The noisy-neighbour bench cell (bench/neighbour.ts) on a real server process: a small run, checked. */
import pg from "pg";
import { afterAll, expect, test } from "vitest";
import { neighbourMarkdown, runNeighbourCell } from "../../bench/neighbour.ts";
import { FAULT_SECRET, spawnServer, type ServerProcess } from "../faults/support/server-process.ts";
import { createTestDatabase, type TestDatabase } from "../support/db.ts";

let database: TestDatabase | undefined;
let server: ServerProcess | undefined;
afterAll(async () => {
  if (server?.alive()) server.kill("SIGKILL");
  await database?.close();
});

test("measures another user's byId alone and under one user's parallel searches, with no failed call", async () => {
  database = await createTestDatabase({ migrated: true });
  const db = new pg.Client({ connectionString: database.directUrl });
  await db.connect();
  let quietTodoId: string;
  try {
    await db.query(`INSERT INTO "User" ("id") VALUES ('noisy'), ('quiet')`);
    await db.query(
      `INSERT INTO "Todo" ("id", "userId", "title", "updatedAt") SELECT gen_random_uuid(), 'noisy', 'Todo ' || g, now() FROM generate_series(1, 1000) AS g`,
    );
    quietTodoId = (
      await db.query(
        `INSERT INTO "Todo" ("id", "userId", "title", "updatedAt") VALUES (gen_random_uuid(), 'quiet', 'Quiet', now()) RETURNING "id"`,
      )
    ).rows[0].id;
  } finally {
    await db.end();
  }
  server = await spawnServer({ DATABASE_URL: database.url, DB_DRIVER: process.env.DB_DRIVER ?? "pg" });

  const result = await runNeighbourCell({
    url: server.url,
    authSecret: FAULT_SECRET,
    noisyUser: "noisy",
    quietUser: "quiet",
    quietTodoId,
    parallel: 12,
    seconds: 1,
  });
  expect(result.failures).toEqual([]);
  expect(result.quietAlone.count).toBeGreaterThan(0);
  expect(result.quietUnderFlood.count).toBeGreaterThan(0);
  expect(result.searches.count).toBeGreaterThan(0);
  for (const d of [result.quietAlone, result.quietUnderFlood, result.searches])
    expect(d.p99).toBeGreaterThanOrEqual(d.p50);
  expect(neighbourMarkdown([{ label: "test", result }], { todos: 1000, parallel: 12 })).toContain("| test | ");
}, 120_000);
