import pg from "pg";
import { afterAll, beforeAll, expect, test } from "vitest";
import { startTestServer, type TestServer } from "../support/server.ts";

// A self-hosted PostgreSQL set up in another time zone must still store and compare instants correctly.
let api: TestServer;
beforeAll(async () => {
  api = await startTestServer({}, async (url) => {
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query("SELECT current_database() AS name");
      await client.query(`ALTER DATABASE "${rows[0].name}" SET timezone TO 'America/New_York'`);
    } finally {
      await client.end();
    }
  });
});
afterAll(async () => {
  await api?.close();
});

test("timestamps are the same instants whatever the database's time zone", async () => {
  const client = await api.client("tz-user");
  const before = Date.now();
  const dueAt = new Date("2030-01-01T12:00:00.000Z");
  const todo = await client.todo.create.mutate({ title: "tz", dueAt });
  expect(todo.dueAt).toEqual(dueAt);
  expect(Math.abs(todo.createdAt.getTime() - before)).toBeLessThan(60_000);

  const done = await client.todo.update.mutate({
    id: todo.id,
    completed: true,
    dueAt: new Date("2031-06-01T08:30:00.000Z"),
  });
  expect(done.dueAt).toEqual(new Date("2031-06-01T08:30:00.000Z"));
  expect(Math.abs(done.completedAt!.getTime() - Date.now())).toBeLessThan(60_000);
  expect(done.updatedAt.getTime()).toBeGreaterThanOrEqual(done.createdAt.getTime());
  expect(await client.todo.byId.query({ id: todo.id })).toEqual(done);

  await client.todo.create.mutate({ title: "due an hour ago", dueAt: new Date(Date.now() - 3_600_000) });
  await client.todo.create.mutate({ title: "due in an hour", dueAt: new Date(Date.now() + 3_600_000) });
  expect(await client.todo.stats.query()).toMatchObject({ total: 3, overdue: 1 });

  // Keyset pages over dueAt: the cursor's instant compares right in the session's zone.
  const walked: string[] = [];
  let cursor: string | null = null;
  do {
    const page: { items: { id: string }[]; nextCursor: string | null } = await client.todo.list.query({
      orderBy: "dueAt",
      order: "asc",
      limit: 1,
      cursor,
    });
    walked.push(...page.items.map((t) => t.id));
    cursor = page.nextCursor;
  } while (cursor);
  const all = await client.todo.list.query({ orderBy: "dueAt", order: "asc", limit: 100 });
  expect(walked).toEqual(all.items.map((t) => t.id));
  expect(all.items.map((t) => t.title)).toEqual(["due an hour ago", "due in an hour", "tz"]);

  // toggleAll's completedAt goes through Prisma's own query path.
  await client.todo.toggleAll.mutate({ completed: true });
  const toggled = await client.todo.list.query({ status: "completed", limit: 100 });
  for (const t of toggled.items) expect(Math.abs(t.completedAt!.getTime() - Date.now())).toBeLessThan(60_000);

  // Prisma's own reads (the import, the users) too: the adapters would drop the session's offset.
  const read = await api.database.prisma.todo.findUniqueOrThrow({ where: { id: todo.id } });
  expect(read.dueAt).toEqual(new Date("2031-06-01T08:30:00.000Z"));
  expect(read.createdAt).toEqual(done.createdAt);
  expect(read.completedAt).toEqual(done.completedAt);

  // What the database holds is the same instant too, read without any driver's conversion.
  const raw = new pg.Client({ connectionString: api.testDatabase.url });
  await raw.connect();
  try {
    const { rows } = await raw.query(
      `SELECT (extract(epoch FROM "dueAt") * 1000)::bigint::text AS ms FROM "Todo" WHERE "id" = $1`,
      [todo.id],
    );
    expect(Number(rows[0].ms)).toBe(Date.parse("2031-06-01T08:30:00.000Z"));
  } finally {
    await raw.end();
  }
});
