import { afterAll, beforeAll, expect, test } from "vitest";
import { importSqlite } from "../../scripts/sqlite-import/run.ts";
import { serverUrl } from "../support/db.ts";
import { writeLargeFixture } from "../../tools/sqlite-fixtures.ts";
import { createImportTarget, driver, tempDir, type ImportTarget } from "./support.ts";

// 100,000 tasks end to end. On PostgreSQL (TEST_DATABASE_URL) through pg only: the embedded PGlite would take
// minutes, and the Neon driver's path is the same import covered by the other files. Throughput is shown by
// `npm run bench:import`, never asserted here.
const COUNT = 100_000;
const USERS = 200;

let dir: Awaited<ReturnType<typeof tempDir>>;
let target: ImportTarget;
const enabled = Boolean(serverUrl()) && driver === "pg";

beforeAll(async () => {
  if (!enabled) return;
  dir = await tempDir();
  target = await createImportTarget();
  await writeLargeFixture(dir.file("large.db"), { users: USERS, count: COUNT });
}, 120_000);
afterAll(async () => {
  await target?.close();
  await dir?.remove();
});

test.runIf(enabled)(
  "imports 100,000 tasks with matching counts and checksums; a second run writes nothing",
  async () => {
    const options = {
      file: dir.file("large.db"),
      rejectsPath: dir.file("rejects.jsonl"),
      prisma: target.database.prisma,
    };
    const first = await importSqlite(options);
    expect(first.verified).toBe(true);
    expect(first.tasks).toEqual({ source: COUNT, rejected: 0, inserted: COUNT });
    expect(first.users).toMatchObject({ source: USERS, inserted: USERS, present: USERS });
    expect(first.perUser).toHaveLength(USERS);
    for (const line of first.perUser) {
      expect([line.source, line.imported, line.rejected]).toEqual([COUNT / USERS, COUNT / USERS, 0]);
      expect(line.targetChecksum).toBe(line.sourceChecksum);
    }

    // Independently of the import's own verification: what the fixture generator wrote.
    const [stored] = await target.database.prisma.$queryRaw<
      { n: number; completed: number; described: number; ids: number; users: number }[]
    >`
      SELECT count(*)::int AS "n", count(*) FILTER (WHERE "completed")::int AS "completed",
             count("description")::int AS "described", count(DISTINCT "id")::int AS "ids", count(DISTINCT "userId")::int AS "users"
      FROM "Todo" WHERE "version" = 1`;
    expect(stored).toEqual({ n: COUNT, completed: COUNT / 5, described: COUNT / 2, ids: COUNT, users: USERS });

    const second = await importSqlite(options);
    expect(second.verified).toBe(true);
    expect([second.users.inserted, second.tasks.inserted]).toEqual([0, 0]);
    expect(await target.database.prisma.todo.count()).toBe(COUNT);
  },
  600_000,
);
