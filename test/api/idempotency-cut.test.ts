/**
 * An answer lost after the database committed: a relay in front of the database forwards the statement (the
 * keyed create's one statement, or a keyed update's COMMIT), lets the server answer, and cuts the connection
 * instead of passing the answer on. The API cannot tell the client whether it worked; the client retries with
 * the same Idempotency-Key and gets the committed result, written once. Without a key the retry writes again.
 */
import { randomUUID } from "node:crypto";
import pg from "pg";
import { afterAll, beforeAll, expect, test } from "vitest";
import { startPgRelayFor, viaRelay, type PgRelay } from "../../tools/pg-relay.ts";
import { transformer } from "../../src/trpc/transformer.ts";
import { startTestServer, type TestServer } from "../support/server.ts";

let api: TestServer;
let relay: PgRelay;
let direct: pg.Client;
let token: string;

beforeAll(async () => {
  api = await startTestServer({}, async (url) => {
    relay = await startPgRelayFor(url);
    return viaRelay(url, relay);
  });
  token = await api.token("alice");
  // Reads the outcome around the relay.
  direct = new pg.Client({ connectionString: api.testDatabase.url });
  await direct.connect();
});
afterAll(async () => {
  await direct?.end();
  await api?.close();
  await relay?.close();
});

async function mutate(procedure: string, input: unknown, key?: string) {
  const headers: Record<string, string> = { authorization: `Bearer ${token}`, "content-type": "application/json" };
  if (key) headers["idempotency-key"] = key;
  const res = await fetch(`${api.trpcUrl}/${procedure}`, {
    method: "POST",
    headers,
    body: JSON.stringify({ json: input }),
  });
  const body = (await res.json()) as { result?: { data: never } };
  return {
    status: res.status,
    replayed: res.headers.get("idempotent-replayed"),
    data: body.result && transformer.output.deserialize<any>(body.result.data),
  };
}

/** The client's retry: again while the database is being reconnected (503). */
async function retry(procedure: string, input: unknown, key?: string) {
  for (let i = 0; ; i++) {
    const answer = await mutate(procedure, input, key);
    if (answer.status !== 503 || i === 20) return answer;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

const count = async (title: string) =>
  (
    await direct.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM "Todo" WHERE "userId" = 'alice' AND "title" = $1`,
      [title],
    )
  ).rows[0]!.n;

test("a keyed create whose answer was lost: the retry gets the committed todo, written once", async () => {
  const key = randomUUID();
  const title = `cut create ${key}`;
  const cut = relay.cutAfterAnswerTo(`INSERT INTO "IdempotencyKey"`);
  const lost = await mutate("todo.create", { title }, key);
  await cut;
  expect(lost.status).toBe(503);
  expect(await count(title)).toBe(1); // it was committed

  const retried = await retry("todo.create", { title }, key);
  expect(retried.status).toBe(200);
  expect(retried.replayed).toBe("true");
  expect(retried.data.title).toBe(title);
  expect(await count(title)).toBe(1);
});

test("a keyed update cut right after its COMMIT was forwarded: the retry replays it, the todo changed once", async () => {
  const todo = (await retry("todo.create", { title: `to update ${randomUUID()}` })).data;
  const key = randomUUID();
  const cut = relay.cutAfterAnswerTo("COMMIT");
  const lost = await mutate("todo.update", { id: todo.id, completed: true }, key);
  await cut;
  expect(lost.status).toBe(503);

  const retried = await retry("todo.update", { id: todo.id, completed: true }, key);
  expect(retried.status).toBe(200);
  expect(retried.replayed).toBe("true");
  expect(retried.data.version).toBe(2);
  const { rows } = await direct.query<{ version: number }>(`SELECT "version" FROM "Todo" WHERE "id" = $1`, [todo.id]);
  expect(rows[0]!.version).toBe(2);
});

test("without a key the same lost answer makes the retry write a second todo (why the key exists)", async () => {
  const title = `cut unkeyed ${randomUUID()}`;
  const cut = relay.cutAfterAnswerTo(title);
  const lost = await mutate("todo.create", { title });
  await cut;
  expect(lost.status).toBe(503);
  expect((await retry("todo.create", { title })).status).toBe(200);
  expect(await count(title)).toBe(2);
});
