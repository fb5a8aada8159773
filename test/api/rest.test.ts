/** REST under /api, driven with plain fetch, against the tRPC client on the same server: same results, same errors. */
import { Validator } from "@seriousme/openapi-schema-validator";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { z } from "zod";
import { countJson, deletedJson, statsJson, todoJson, todoPageJson, userJson } from "../../src/trpc/openapi.ts";
import { errorOf } from "../support/errors.ts";
import { startTestServer, type Client, type TestServer } from "../support/server.ts";

let api: TestServer;
let alice: Client;
let aliceToken: string;
let bob: Client;
let bobToken: string;

beforeAll(async () => {
  api = await startTestServer();
  alice = await api.client("alice");
  aliceToken = await api.token("alice");
  bob = await api.client("bob");
  bobToken = await api.token("bob");
});
afterAll(async () => {
  await api?.close();
});

interface RestResponse {
  status: number;
  body: any;
}

async function rest(
  method: string,
  path: string,
  { token, body, headers = {} }: { token?: string; body?: unknown; headers?: Record<string, string> } = {},
): Promise<RestResponse> {
  const res = await fetch(`${api.url}/api${path}`, {
    method,
    headers: {
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...(body !== undefined && typeof body !== "string" ? { "content-type": "application/json" } : {}),
      ...headers,
    },
    body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body),
  });
  expect(res.headers.get("content-type")).toMatch(/^application\/json/);
  return { status: res.status, body: await res.json() };
}

/** What the tRPC result looks like as plain JSON (Dates become ISO strings). */
const json = (value: unknown) => JSON.parse(JSON.stringify(value));

/** A 200 whose body is the documented response and equals the tRPC result. */
function expectOk(res: RestResponse, schema: z.ZodType, trpcResult?: unknown) {
  expect(res.status, JSON.stringify(res.body)).toBe(200);
  expect(schema.safeParse(res.body).error).toBeUndefined();
  if (trpcResult !== undefined) expect(res.body).toEqual(json(trpcResult));
}

/** The REST error has the tRPC call's status, code, procedure, message and field errors. */
async function expectSameError(res: RestResponse, trpcCall: Promise<unknown>, code: string) {
  const error = await errorOf(trpcCall);
  expect(error.data?.code).toBe(code);
  expect(res.status).toBe(error.data?.httpStatus);
  expect(res.body).toMatchObject({
    code,
    data: { code, httpStatus: error.data?.httpStatus, path: error.data?.path, zodError: error.data?.zodError ?? null },
  });
  if (!error.data?.zodError) expect(res.body.message).toBe(error.message);
  expect(JSON.stringify(res.body)).not.toMatch(/stack|\.ts:\d/);
}

describe("the OpenAPI document", () => {
  test("is a valid OpenAPI 3.1 document listing every operation", async () => {
    const res = await fetch(`${api.url}/api/openapi.json`);
    expect(res.status).toBe(200);
    const document: any = await res.json();
    expect(document.openapi).toMatch(/^3\.1\./);
    const result = await new Validator().validate(document);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);

    const operations = Object.entries(document.paths as Record<string, object>).flatMap(([path, ops]) =>
      Object.keys(ops).map((method) => `${method.toUpperCase()} /api${path}`),
    );
    expect(operations.sort()).toEqual(
      [
        "GET /api/todos",
        "POST /api/todos",
        "GET /api/todos/{id}",
        "PATCH /api/todos/{id}",
        "DELETE /api/todos/{id}",
        "POST /api/todos/toggle-all",
        "POST /api/todos/clear-completed",
        "GET /api/todos/stats",
        "GET /api/todos/sync",
        "POST /api/todos/{id}/restore",
        "GET /api/me",
      ].sort(),
    );
    expect(document.components.securitySchemes).toEqual({ Authorization: { type: "http", scheme: "bearer" } });
    expect(document.paths["/todos/{id}"].patch.responses["409"].content["application/json"].schema).toEqual({
      $ref: "#/components/schemas/Error",
    });
  });
});

describe("the docs page", () => {
  test("renders Swagger UI from local assets only", async () => {
    const res = await fetch(`${api.url}/api/docs`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    const html = await res.text();
    expect(html).not.toMatch(/https?:\/\//);
    const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!);
    expect(assets).toEqual(
      expect.arrayContaining(["docs/swagger-ui-bundle.js", "docs/swagger-ui.css", "docs/init.js"]),
    );
    for (const asset of assets) {
      const file = await fetch(new URL(asset, `${api.url}/api/docs`));
      expect(file.status, asset).toBe(200);
      expect((await file.arrayBuffer()).byteLength, asset).toBeGreaterThan(0);
    }
    const init = await (await fetch(`${api.url}/api/docs/init.js`)).text();
    expect(init).toContain('url: "openapi.json"');
    expect(init).toContain("validatorUrl: null");
  });

  test("/api/docs/ redirects to /api/docs, whose relative URLs it needs", async () => {
    const res = await fetch(`${api.url}/api/docs/`, { redirect: "manual" });
    expect(res.status).toBe(301);
    expect(res.headers.get("location")).toBe("/api/docs");
  });
});

describe("every operation gives the tRPC result", () => {
  test("create, byId, me", async () => {
    const created = await rest("POST", "/todos", {
      token: aliceToken,
      body: { title: "  Buy milk ", description: "2 litres", priority: "HIGH", dueAt: "2030-05-01T14:00:00+02:00" },
    });
    expectOk(created, todoJson);
    expect(created.body).toMatchObject({
      title: "Buy milk",
      priority: "HIGH",
      dueAt: "2030-05-01T12:00:00.000Z",
      version: 1,
    });
    expectOk(
      await rest("GET", `/todos/${created.body.id}`, { token: aliceToken }),
      todoJson,
      await alice.todo.byId.query({ id: created.body.id }),
    );

    const viaTrpc = await alice.todo.create.mutate({ title: "Via tRPC", dueAt: new Date("2031-01-01T00:00:00Z") });
    expectOk(await rest("GET", `/todos/${viaTrpc.id}`, { token: aliceToken }), todoJson, viaTrpc);

    expectOk(await rest("GET", "/me", { token: aliceToken }), userJson, await alice.me.query());
  });

  test("list with every filter as query parameters, and its cursor", async () => {
    for (const title of ["alpha", "bravo", "charlie", "delta"])
      await alice.todo.create.mutate({ title: `list ${title}` });
    const input = { status: "active", search: "list", orderBy: "title", order: "asc", limit: 2 } as const;
    const page = await rest("GET", `/todos?${new URLSearchParams({ ...input, limit: "2" })}`, { token: aliceToken });
    const trpcPage = await alice.todo.list.query(input);
    expectOk(page, todoPageJson, trpcPage);
    expect(page.body.items.map((t: { title: string }) => t.title)).toEqual(["list alpha", "list bravo"]);

    const next = await rest(
      "GET",
      `/todos?${new URLSearchParams({ ...input, limit: "2", cursor: page.body.nextCursor })}`,
      { token: aliceToken },
    );
    expectOk(next, todoPageJson, await alice.todo.list.query({ ...input, cursor: trpcPage.nextCursor }));
    expect(next.body.items.map((t: { title: string }) => t.title)).toEqual(["list charlie", "list delta"]);

    expectOk(await rest("GET", "/todos", { token: aliceToken }), todoPageJson, await alice.todo.list.query());
    expectOk(await rest("GET", "/todos/stats", { token: aliceToken }), statsJson, await alice.todo.stats.query());
  });

  test("update, including CONFLICT on a stale expectedVersion", async () => {
    const todo = await alice.todo.create.mutate({ title: "Draft", description: "old" });
    const updated = await rest("PATCH", `/todos/${todo.id}`, {
      token: aliceToken,
      body: { expectedVersion: 1, title: "Final", completed: true, description: null, dueAt: "2032-02-02T00:00:00Z" },
    });
    expectOk(updated, todoJson, await alice.todo.byId.query({ id: todo.id }));
    expect(updated.body).toMatchObject({ title: "Final", completed: true, description: null, version: 2 });
    expect(updated.body.completedAt).toEqual(expect.any(String));

    const stale = await rest("PATCH", `/todos/${todo.id}`, {
      token: aliceToken,
      body: { expectedVersion: 1, title: "Late" },
    });
    await expectSameError(
      stale,
      alice.todo.update.mutate({ id: todo.id, expectedVersion: 1, title: "Late" }),
      "CONFLICT",
    );
    expect(stale.body.message).toMatch(/at version 2, not 1/);
    expect((await alice.todo.byId.query({ id: todo.id })).title).toBe("Final");
  });

  test("delete", async () => {
    const todo = await alice.todo.create.mutate({ title: "Temporary" });
    expectOk(await rest("DELETE", `/todos/${todo.id}`, { token: aliceToken }), deletedJson, { id: todo.id });
    const again = await rest("DELETE", `/todos/${todo.id}`, { token: aliceToken });
    await expectSameError(again, alice.todo.delete.mutate({ id: todo.id }), "NOT_FOUND");
  });

  test("toggle-all and clear-completed, on two users in the same state", async () => {
    const restUser = await api.token("carol");
    const trpcUser = await api.client("dave");
    for (const title of ["one", "two", "three"]) {
      await rest("POST", "/todos", { token: restUser, body: { title } });
      await trpcUser.todo.create.mutate({ title });
    }
    expectOk(
      await rest("POST", "/todos/toggle-all", { token: restUser, body: { completed: true } }),
      countJson,
      await trpcUser.todo.toggleAll.mutate({ completed: true }),
    );
    expectOk(
      await rest("POST", "/todos/toggle-all", { token: restUser, body: { completed: true } }),
      countJson,
      await trpcUser.todo.toggleAll.mutate({ completed: true }),
    );
    expectOk(await rest("GET", "/todos/stats", { token: restUser }), statsJson, await trpcUser.todo.stats.query());
    // No body and no Content-Type, as curl -X POST sends it: read as JSON.
    const cleared = await fetch(`${api.url}/api/todos/clear-completed`, {
      method: "POST",
      headers: { authorization: `Bearer ${restUser}` },
    });
    expectOk(
      { status: cleared.status, body: await cleared.json() },
      countJson,
      await trpcUser.todo.clearCompleted.mutate(),
    );
    expectOk(await rest("GET", "/todos/stats", { token: restUser }), statsJson, {
      total: 0,
      active: 0,
      completed: 0,
      overdue: 0,
    });
  });
});

describe("another user's todos are NOT_FOUND over REST as over tRPC", () => {
  test("byId, update, update with expectedVersion, delete; list and stats show none of them", async () => {
    const todo = await alice.todo.create.mutate({ title: "alice private" });
    const before = await alice.todo.byId.query({ id: todo.id });
    await expectSameError(
      await rest("GET", `/todos/${todo.id}`, { token: bobToken }),
      bob.todo.byId.query({ id: todo.id }),
      "NOT_FOUND",
    );
    await expectSameError(
      await rest("PATCH", `/todos/${todo.id}`, { token: bobToken, body: { title: "pwned" } }),
      bob.todo.update.mutate({ id: todo.id, title: "pwned" }),
      "NOT_FOUND",
    );
    await expectSameError(
      await rest("PATCH", `/todos/${todo.id}`, { token: bobToken, body: { title: "pwned", expectedVersion: 1 } }),
      bob.todo.update.mutate({ id: todo.id, title: "pwned", expectedVersion: 1 }),
      "NOT_FOUND",
    );
    await expectSameError(
      await rest("DELETE", `/todos/${todo.id}`, { token: bobToken }),
      bob.todo.delete.mutate({ id: todo.id }),
      "NOT_FOUND",
    );
    expectOk(await rest("GET", "/todos?search=alice", { token: bobToken }), todoPageJson, {
      items: [],
      nextCursor: null,
    });
    expectOk(await rest("POST", "/todos/toggle-all", { token: bobToken, body: { completed: true } }), countJson, {
      count: 0,
    });
    expect(await alice.todo.byId.query({ id: todo.id })).toEqual(before);
  });
});

describe("validation errors carry the same field errors", () => {
  const create = (body: unknown) => rest("POST", "/todos", { token: aliceToken, body });
  test.each([
    ["empty title", { title: "" }],
    ["201-character title", { title: "x".repeat(201) }],
    ["unknown priority", { title: "ok", priority: "URGENT" }],
    ["invalid date", { title: "ok", dueAt: "not a date" }],
    ["date without a time zone", { title: "ok", dueAt: "2030-01-01T00:00:00" }],
    ["number as title", { title: 42 }],
    ["missing title", {}],
  ])("create: %s", async (_name, input) => {
    const before = await api.database.prisma.todo.count();
    const res = await create(input);
    await expectSameError(res, alice.todo.create.mutate(input as never), "BAD_REQUEST");
    expect(Object.keys(res.body.data.zodError.fieldErrors).length).toBeGreaterThan(0);
    expect(await api.database.prisma.todo.count()).toBe(before);
  });

  test('update: "false" is not a boolean and "1" is not a version, over REST or tRPC', async () => {
    const todo = await alice.todo.create.mutate({ title: "Strict" });
    for (const body of [{ completed: "false" }, { expectedVersion: "1", title: "x" }, { completed: null }]) {
      const res = await rest("PATCH", `/todos/${todo.id}`, { token: aliceToken, body });
      await expectSameError(res, alice.todo.update.mutate({ id: todo.id, ...body } as never), "BAD_REQUEST");
    }
    expect(await codeOfToggle({ completed: "false" })).toBe("BAD_REQUEST");
    expect(await alice.todo.byId.query({ id: todo.id })).toMatchObject({ completed: false, version: 1 });
  });

  test("update with nothing to change, and toggle-all without its field", async () => {
    const todo = await alice.todo.create.mutate({ title: "Unchanged" });
    await expectSameError(
      await rest("PATCH", `/todos/${todo.id}`, { token: aliceToken, body: {} }),
      alice.todo.update.mutate({ id: todo.id }),
      "BAD_REQUEST",
    );
    await expectSameError(
      await rest("POST", "/todos/toggle-all", { token: aliceToken, body: {} }),
      alice.todo.toggleAll.mutate({} as never),
      "BAD_REQUEST",
    );
  });

  test.each([
    ["limit=0", { limit: 0 }],
    ["limit=101", { limit: 101 }],
    ["limit=2.5", { limit: 2.5 }],
    ["status=bogus", { status: "bogus" }],
    ["orderBy=userId", { orderBy: "userId" }],
    ["cursor=garbage", { cursor: "garbage" }],
  ])("list: %s", async (_name, input) => {
    const res = await rest(
      "GET",
      `/todos?${new URLSearchParams(Object.entries(input).map(([k, v]): [string, string] => [k, String(v)]))}`,
      { token: aliceToken },
    );
    await expectSameError(res, alice.todo.list.query(input as never), "BAD_REQUEST");
  });

  test("list: a limit that is not one number is a field error, and tRPC still refuses numeric strings", async () => {
    const res = await rest("GET", "/todos?limit=ten", { token: aliceToken });
    await expectSameError(res, alice.todo.list.query({ limit: "ten" } as never), "BAD_REQUEST");
    expect(res.body.data.zodError.fieldErrors.limit).toHaveLength(1);
    const twice = await rest("GET", "/todos?limit=1&limit=2", { token: aliceToken });
    await expectSameError(twice, alice.todo.list.query({ limit: [1, 2] } as never), "BAD_REQUEST");
    expect((await errorOf(alice.todo.list.query({ limit: "5" } as never))).data?.code).toBe("BAD_REQUEST");
  });
});

async function codeOfToggle(input: unknown) {
  return (await errorOf(alice.todo.toggleAll.mutate(input as never))).data?.code;
}

describe("auth is the same Bearer token", () => {
  test.each([
    ["no Authorization header", undefined],
    ["a malformed header", "Token abc"],
    ["a wrongly signed token", "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJtYWxsb3J5In0.c2lnbmF0dXJl"],
  ])("%s is UNAUTHORIZED", async (_name, authorization) => {
    const headers: Record<string, string> = authorization ? { authorization } : {};
    await expectSameError(
      await rest("GET", "/todos", { headers }),
      api.clientWithHeader(authorization).todo.list.query(),
      "UNAUTHORIZED",
    );
    await expectSameError(
      await rest("POST", "/todos", { headers, body: { title: "x" } }),
      api.clientWithHeader(authorization).todo.create.mutate({ title: "x" }),
      "UNAUTHORIZED",
    );
    await expectSameError(
      await rest("GET", "/me", { headers }),
      api.clientWithHeader(authorization).me.query(),
      "UNAUTHORIZED",
    );
  });
});

describe("HTTP details", () => {
  test("invalid JSON is PARSE_ERROR, a body over the limit is 413, another content type is 415", async () => {
    const bad = await rest("POST", "/todos", {
      token: aliceToken,
      body: "{not json",
      headers: { "content-type": "application/json" },
    });
    expect(bad).toMatchObject({
      status: 400,
      body: { code: "PARSE_ERROR", data: { code: "PARSE_ERROR", httpStatus: 400 } },
    });
    const big = await rest("POST", "/todos", {
      token: aliceToken,
      body: { title: "x", description: "y".repeat(1_100_000) },
    });
    expect(big).toMatchObject({ status: 413, body: { code: "PAYLOAD_TOO_LARGE" } });
    const text = await rest("POST", "/todos", {
      token: aliceToken,
      body: "title=x",
      headers: { "content-type": "text/plain" },
    });
    expect(text).toMatchObject({ status: 415, body: { code: "UNSUPPORTED_MEDIA_TYPE" } });
  });

  test("a JSON body with a charset is read", async () => {
    const res = await rest("POST", "/todos", {
      token: aliceToken,
      body: JSON.stringify({ title: "charset" }),
      headers: { "content-type": "application/json; charset=utf-8" },
    });
    expectOk(res, todoJson);
  });

  test("the content type is /trpc's rule (isJsonContentType): any case is JSON, a +json type is not", async () => {
    for (const type of ["APPLICATION/JSON", "Application/Json; Charset=UTF-8"]) {
      expectOk(
        await rest("POST", "/todos", {
          token: aliceToken,
          body: JSON.stringify({ title: "case" }),
          headers: { "content-type": type },
        }),
        todoJson,
      );
    }
    const patch = await rest("POST", "/todos", {
      token: aliceToken,
      body: JSON.stringify({ title: "x" }),
      headers: { "content-type": "application/json-patch+json" },
    });
    expect(patch).toMatchObject({
      status: 415,
      body: {
        message: 'Unsupported content-type "application/json-patch+json',
        code: "UNSUPPORTED_MEDIA_TYPE",
        data: { httpStatus: 415 },
      },
    });
  });

  test("unknown routes and methods are a JSON 404 in the same error shape", async () => {
    for (const [method, path] of [
      ["GET", "/nope"],
      ["PUT", "/todos/x"],
      ["POST", "/todos/stats"],
    ] as const) {
      const res = await rest(method, path, { token: aliceToken });
      expect(res).toMatchObject({
        status: 404,
        body: { code: "NOT_FOUND", data: { code: "NOT_FOUND", httpStatus: 404 } },
      });
    }
  });
});
