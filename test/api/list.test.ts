import type { inferProcedureOutput } from "@trpc/server";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { z } from "zod";
import type { AppRouter } from "../../src/trpc/routers/_app.ts";
import type { listInput } from "../../src/todos/schemas.ts";
import { codeOf } from "../support/errors.ts";
import { startTestServer, type Client, type TestServer } from "../support/server.ts";

type ListInput = NonNullable<z.input<typeof listInput>>;
type Todo = inferProcedureOutput<AppRouter["todo"]["byId"]>;

let api: TestServer;
let client: Client;

beforeAll(async () => {
  api = await startTestServer();
  client = await api.client("lister");
});
afterAll(async () => {
  await api?.close();
});

async function walk(input: Omit<ListInput, "cursor">, onPage?: (page: number) => Promise<void>): Promise<Todo[]> {
  const seen: Todo[] = [];
  let cursor: string | null = null;
  for (let page = 0; page < 1000; page++) {
    const result: { items: Todo[]; nextCursor: string | null } = await client.todo.list.query({ ...input, cursor });
    expect(result.items.length).toBeLessThanOrEqual(input.limit ?? 20);
    seen.push(...result.items);
    await onPage?.(page);
    if (!result.nextCursor) return seen;
    cursor = result.nextCursor;
  }
  throw new Error("pagination did not end");
}

describe("pagination", () => {
  test("walking 250 todos with limit 7 while inserting returns each existing todo exactly once", async () => {
    const walker = await api.client("walker");
    const original: string[] = [];
    for (let i = 0; i < 250; i += 50) {
      const batch = await Promise.all(
        Array.from({ length: 50 }, (_, j) =>
          walker.todo.create.mutate({ title: `item ${String(i + j).padStart(3, "0")}` }),
        ),
      );
      original.push(...batch.map((t) => t.id));
    }
    const seen: string[] = [];
    let cursor: string | null = null;
    let inserted = 0;
    do {
      const page: { items: Todo[]; nextCursor: string | null } = await walker.todo.list.query({ limit: 7, cursor });
      seen.push(...page.items.map((t) => t.id));
      // Others keep writing while the walk goes on.
      await walker.todo.create.mutate({ title: `inserted during walk ${inserted++}` });
      cursor = page.nextCursor;
    } while (cursor);

    expect(new Set(seen).size).toBe(seen.length);
    const seenSet = new Set(seen);
    expect(original.filter((id) => !seenSet.has(id))).toEqual([]);
    expect(Math.ceil(250 / 7)).toBeLessThanOrEqual(inserted);
  });

  test("the default page is 20 newest first; limit bounds are enforced", async () => {
    const pager = await api.client("pager");
    for (let i = 0; i < 25; i++) await pager.todo.create.mutate({ title: `p${i}` });
    const first = await pager.todo.list.query();
    expect(first.items).toHaveLength(20);
    expect(first.items[0]!.title).toBe("p24");
    expect(first.nextCursor).toBeTypeOf("string");
    const second = await pager.todo.list.query({ cursor: first.nextCursor });
    expect(second.items.map((t) => t.title)).toEqual(["p4", "p3", "p2", "p1", "p0"]);
    expect(second.nextCursor).toBeNull();
    expect((await pager.todo.list.query({ limit: 100 })).items).toHaveLength(25);
    expect(await codeOf(pager.todo.list.query({ limit: 0 }))).toBe("BAD_REQUEST");
    expect(await codeOf(pager.todo.list.query({ limit: 101 }))).toBe("BAD_REQUEST");
    expect(await codeOf(pager.todo.list.query({ limit: 2.5 }))).toBe("BAD_REQUEST");
  });

  test("forged or mismatched cursors are BAD_REQUEST", async () => {
    const page = await client.todo.list.query({ limit: 1 });
    expect(await codeOf(client.todo.list.query({ cursor: "not-a-cursor" }))).toBe("BAD_REQUEST");
    expect(await codeOf(client.todo.list.query({ cursor: Buffer.from('{"k":"title"}').toString("base64url") }))).toBe(
      "BAD_REQUEST",
    );
    const forged = Buffer.from(JSON.stringify({ k: "createdAt", d: "desc", v: "yesterday", i: "x" })).toString(
      "base64url",
    );
    expect(await codeOf(client.todo.list.query({ cursor: forged }))).toBe("BAD_REQUEST");
    const cursorOf = (payload: object) => Buffer.from(JSON.stringify(payload)).toString("base64url");
    const id = "00000000-0000-4000-8000-000000000000";
    for (const v of ["-271821-04-20T00:00:00.000Z", "0000-01-01T00:00:00Z", "2020-13-45"]) {
      expect(await codeOf(client.todo.list.query({ cursor: cursorOf({ k: "createdAt", d: "desc", v, i: id }) }))).toBe(
        "BAD_REQUEST",
      );
    }
    const nulTitle = cursorOf({ k: "title", d: "asc", v: "a\u0000b", i: id });
    expect(await codeOf(client.todo.list.query({ cursor: nulTitle, orderBy: "title", order: "asc" }))).toBe(
      "BAD_REQUEST",
    );
    const badPriority = cursorOf({ k: "priority", d: "desc", v: "URGENT", i: id });
    expect(await codeOf(client.todo.list.query({ cursor: badPriority, orderBy: "priority" }))).toBe("BAD_REQUEST");
    if (page.nextCursor) {
      expect(await codeOf(client.todo.list.query({ cursor: page.nextCursor, orderBy: "title" }))).toBe("BAD_REQUEST");
    }
  });
});

test("cursors of the longest titles still fit the input: a title walk over 200-character titles completes", async () => {
  const wide = await api.client("wide-titles");
  const titles = ["😀".repeat(200), "\u0001".repeat(200), '"'.repeat(200), "é".repeat(200)];
  for (const title of titles) await wide.todo.create.mutate({ title });
  for (const order of ["asc", "desc"] as const) {
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: { items: Todo[]; nextCursor: string | null } = await wide.todo.list.query({
        orderBy: "title",
        order,
        limit: 1,
        cursor,
      });
      seen.push(...page.items.map((t) => t.id));
      cursor = page.nextCursor;
    } while (cursor);
    expect(new Set(seen).size).toBe(titles.length);
  }
});

describe("filters, search and sorting", () => {
  let todos: Todo[];
  beforeAll(async () => {
    const specs = [
      { title: "Banana bread", priority: "LOW", dueAt: new Date("2030-03-01T00:00:00Z") },
      { title: "apple pie", description: "Grandma's RECIPE", priority: "HIGH" },
      { title: "Cherry jam", priority: "MEDIUM", dueAt: new Date("2030-01-01T00:00:00Z") },
      { title: "date night", priority: "HIGH", dueAt: new Date("2030-02-01T00:00:00Z") },
      { title: "Eggs", description: "a dozen", priority: "LOW" },
      { title: "100% done", priority: "MEDIUM" },
    ] as const;
    todos = [];
    for (const spec of specs) todos.push(await client.todo.create.mutate(spec));
    await client.todo.update.mutate({ id: todos[1]!.id, completed: true });
    await client.todo.update.mutate({ id: todos[4]!.id, completed: true });
  });

  test("status filters", async () => {
    const all = await walk({ limit: 4 });
    const active = await walk({ status: "active", limit: 4 });
    const completed = await walk({ status: "completed", limit: 4 });
    expect(all).toHaveLength(6);
    expect(active.every((t) => !t.completed)).toBe(true);
    expect(completed.map((t) => t.title).sort()).toEqual(["Eggs", "apple pie"]);
    expect(active.length + completed.length).toBe(6);
    expect(await codeOf(client.todo.list.query({ status: "done" as never }))).toBe("BAD_REQUEST");
  });

  test("search is case-insensitive over title and description, and treats % and _ literally", async () => {
    const titles = async (search: string, extra: Partial<ListInput> = {}) =>
      (await walk({ search, limit: 2, ...extra })).map((t) => t.title).sort();
    expect(await titles("APPLE")).toEqual(["apple pie"]);
    expect(await titles("recipe")).toEqual(["apple pie"]);
    expect(await titles("DOZEN")).toEqual(["Eggs"]);
    expect(await titles("e")).toHaveLength(6);
    expect(await titles("%")).toEqual(["100% done"]);
    expect(await titles("_")).toEqual([]);
    expect(await titles("\\\\")).toEqual([]);
    expect(await titles("a", { status: "active" })).toEqual(["Banana bread", "Cherry jam", "date night"]);
    expect(await titles("   ")).toHaveLength(6);
  });

  const sorts: [NonNullable<ListInput["orderBy"]>, (t: Todo) => unknown][] = [
    ["createdAt", (t) => t.createdAt.getTime()],
    ["updatedAt", (t) => t.updatedAt.getTime()],
    ["title", (t) => t.title],
    ["priority", (t) => ["LOW", "MEDIUM", "HIGH"].indexOf(t.priority)],
    ["dueAt", (t) => t.dueAt?.getTime() ?? null],
  ];
  for (const [orderBy, key] of sorts) {
    for (const order of ["asc", "desc"] as const) {
      test(`orderBy ${orderBy} ${order}: pages agree with one big page and are in order`, async () => {
        const paged = await walk({ orderBy, order, limit: 2 });
        const whole = (await client.todo.list.query({ orderBy, order, limit: 100 })).items;
        expect(paged.map((t) => t.id)).toEqual(whole.map((t) => t.id));
        expect(paged).toHaveLength(6);
        const keys = paged.map(key);
        for (let i = 1; i < keys.length; i++) {
          const [a, b] = [keys[i - 1], keys[i]];
          if (a === null || b === null) {
            // Todos without a due date come last in both directions.
            expect(a === null ? b : null).toBeNull();
            continue;
          }
          if (orderBy === "title") continue; // collation order is the database's; consistency is checked above
          if (order === "asc") expect(a! <= b!).toBe(true);
          else expect(a! >= b!).toBe(true);
        }
      });
    }
  }

  test("unknown orderBy or order is BAD_REQUEST", async () => {
    expect(await codeOf(client.todo.list.query({ orderBy: "userId" as never }))).toBe("BAD_REQUEST");
    expect(await codeOf(client.todo.list.query({ order: "sideways" as never }))).toBe("BAD_REQUEST");
  });
});
