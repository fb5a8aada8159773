/**
 * The repository's raw statements against Prisma's own query path: for the same rows, every value a client can
 * see (Dates, the enum, nulls, numbers) is identical, including its JavaScript type. Generated inputs, fixed seed.
 */
import fc from "fast-check";
import { afterAll, beforeAll, expect, test } from "vitest";
import { createUserRegistry } from "../../src/users/registry.ts";
import { createTodo, deleteTodo, findTodo, listTodos, updateTodo, type TodoDTO } from "../../src/todos/repository.ts";
import { listInput, PRIORITIES, SORT_FIELDS } from "../../src/todos/schemas.ts";
import { todoSelect } from "../../src/todos/select.ts";
import { startTestServer, type TestServer } from "../support/server.ts";

let api: TestServer;
const owner = { id: "repo-owner", email: null, name: null };

beforeAll(async () => {
  api = await startTestServer();
});
afterAll(async () => {
  await api?.close();
});

const db = () => api.database.prisma;
const viaPrisma = (id: string) => db().todo.findFirst({ where: { id, userId: owner.id }, select: todoSelect });

/** Same keys, same values, same types: a Date must stay a Date, null must stay null. */
function expectSameDto(actual: TodoDTO | null | undefined, expected: TodoDTO | null) {
  expect(actual).toStrictEqual(expected);
  for (const key of Object.keys(todoSelect) as (keyof TodoDTO)[]) {
    expect(Object.prototype.toString.call(actual?.[key]), key).toBe(Object.prototype.toString.call(expected?.[key]));
  }
}

const date = fc.date({
  min: new Date(Date.UTC(1900, 0, 1)),
  max: new Date(Date.UTC(9999, 11, 31)),
  noInvalidDate: true,
});
const text = fc
  .string({ unit: "grapheme", minLength: 1, maxLength: 40 })
  .filter((s) => s.trim().length > 0 && !s.includes("\u0000"));
const createArb = fc.record(
  {
    title: text.map((s) => s.trim()),
    description: text,
    priority: fc.constantFrom(...PRIORITIES),
    dueAt: date,
  },
  { requiredKeys: ["title"] },
);

test("create, byId, update and list return exactly what Prisma's own queries read back", async () => {
  const users = createUserRegistry(db());
  await users.ensure(owner);
  await fc.assert(
    fc.asyncProperty(createArb, fc.boolean(), fc.option(date, { nil: null }), async (input, completed, dueAt) => {
      const created = await createTodo(db(), users, owner, input);
      expectSameDto(created, await viaPrisma(created.id));
      expectSameDto(await findTodo(db(), owner.id, created.id), await viaPrisma(created.id));

      const outcome = await updateTodo(db(), owner.id, { id: created.id, completed, dueAt, description: null });
      expect(outcome.status).toBe("updated");
      expectSameDto(outcome.status === "updated" ? outcome.todo : null, await viaPrisma(created.id));
    }),
    { seed: 20261202, numRuns: 40 },
  );

  // Every order: the raw page equals Prisma's findMany in the same order.
  for (const orderBy of SORT_FIELDS) {
    for (const order of ["asc", "desc"] as const) {
      const page = await listTodos(db(), owner.id, listInput.parse({ orderBy, order, limit: 100 }));
      const sort = orderBy === "dueAt" ? { dueAt: { sort: order, nulls: "last" as const } } : { [orderBy]: order };
      const expected = await db().todo.findMany({
        where: { userId: owner.id },
        orderBy: [sort, { id: order }],
        take: 100,
        select: todoSelect,
      });
      expect(page?.items.length).toBe(40);
      page?.items.forEach((item, i) => expectSameDto(item, expected[i] ?? null));
    }
  }
});

test("ids that cannot exist are not found, and another user's todo is not found either", async () => {
  const users = createUserRegistry(db());
  const todo = await createTodo(db(), users, owner, { title: "mine" });
  for (const id of ["not-a-uuid", "00000000-0000-4000-8000-000000000000"]) {
    expect(await findTodo(db(), owner.id, id)).toBeNull();
    expect(await deleteTodo(db(), owner.id, id)).toBe(false);
  }
  expect(await findTodo(db(), "someone-else", todo.id)).toBeNull();
  expect(await deleteTodo(db(), "someone-else", todo.id)).toBe(false);
  expect(await updateTodo(db(), "someone-else", { id: todo.id, title: "x" })).toEqual({ status: "not-found" });
  expect(await updateTodo(db(), owner.id, { id: todo.id, title: "x", expectedVersion: 7 })).toEqual({
    status: "stale",
    version: 1,
  });
  expect(await updateTodo(db(), owner.id, { id: todo.id })).toEqual({ status: "no-changes" });
  expect(await deleteTodo(db(), owner.id, todo.id)).toBe(true);
});

test("a create after the caller's User row was deleted behind the registry's back recreates it", async () => {
  const alice = await api.client("vanishing");
  await alice.todo.create.mutate({ title: "first" });
  await db().user.delete({ where: { id: "vanishing" } });
  const todo = await alice.todo.create.mutate({ title: "second" });
  expect(todo.userId).toBe("vanishing");
  expect(await db().user.count({ where: { id: "vanishing" } })).toBe(1);
  expect(await db().todo.count({ where: { userId: "vanishing" } })).toBe(1);
  // With an Idempotency-Key: the one statement fails on the missing row, which is recreated, and runs again.
  await db().user.delete({ where: { id: "vanishing" } });
  const headers = {
    authorization: `Bearer ${await api.token("vanishing")}`,
    "content-type": "application/json",
    "idempotency-key": "vanishing-1",
  };
  const create = () =>
    fetch(`${api.trpcUrl}/todo.create`, {
      method: "POST",
      headers,
      body: JSON.stringify({ json: { title: "third" } }),
    });
  const first = await create();
  expect(first.status).toBe(200);
  const replay = await create();
  expect(replay.headers.get("idempotent-replayed")).toBe("true");
  expect(await replay.text()).toBe(await first.text());
  expect(await db().todo.count({ where: { userId: "vanishing" } })).toBe(1);
});
