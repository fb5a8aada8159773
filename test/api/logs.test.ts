import { SignJWT } from "jose";
import { afterAll, beforeAll, expect, test } from "vitest";
import { captureLogs } from "../support/capture-logs.ts";
import { codeOf } from "../support/errors.ts";
import { startTestServer, TEST_SECRET, type TestServer } from "../support/server.ts";

// Everything the API logs, at the most verbose level, captured line by line.
const { logger, lines, entries } = captureLogs("trace");

let api: TestServer;
beforeAll(async () => {
  api = await startTestServer({ NODE_ENV: "production", RATE_LIMIT_PER_USER: "40" }, undefined, { logger });
});
afterAll(async () => {
  await api?.close();
});

// Personal data and credentials, each with a marker no log line may contain.
const EMAIL = "pii-email-7f3a@example.com";
const NAME = "Pii Name 7f3a";
const TITLE = "pii-title-7f3a";
const DESCRIPTION = "pii-description-7f3a";
const SEARCH = "pii-search-7f3a";

test("tokens and personal data never reach the logs, on success, refusal, rate limit or failure", async () => {
  const token = await api.token("pii-user", { email: EMAIL, name: NAME });
  const headers = { authorization: `Bearer ${token}`, "content-type": "application/json" };
  const client = api.clientWithHeader(`Bearer ${token}`);

  const todo = await client.todo.create.mutate({ title: TITLE, description: DESCRIPTION });
  await client.todo.update.mutate({ id: todo.id, title: `${TITLE}-2` });
  await client.todo.list.query({ search: SEARCH });
  await client.me.query();
  // Refusals that echo input back to the client.
  expect(await codeOf(client.todo.create.mutate({ title: `${TITLE}\u0000` }))).toBe("BAD_REQUEST");
  expect(await codeOf(client.todo.update.mutate({ id: `${TITLE}-id`, title: TITLE }))).toBe("NOT_FOUND");
  await fetch(`${api.trpcUrl}/todo.create`, { method: "POST", headers, body: `{"json":{"title":"${TITLE}"` });
  await fetch(`${api.trpcUrl}/todo.create`, {
    method: "POST",
    headers: { ...headers, "content-type": "text/plain" },
    body: TITLE,
  });
  await fetch(`${api.trpcUrl}/${TITLE}?input=${SEARCH}`, { headers });
  // Bad and expired tokens.
  const expired = await new SignJWT({ email: EMAIL })
    .setProtectedHeader({ alg: "HS256" })
    .setSubject("pii-user")
    .setExpirationTime(1)
    .sign(new TextEncoder().encode(TEST_SECRET));
  for (const bad of [expired, `${token}x`, `${TITLE}.${NAME}.${EMAIL}`]) {
    expect(await codeOf(api.clientWithHeader(`Bearer ${bad}`).todo.list.query())).toBe("UNAUTHORIZED");
  }
  // Over the per-user limit.
  let limited = 0;
  for (let i = 0; i < 45; i++) if ((await codeOf(client.todo.stats.query())) === "TOO_MANY_REQUESTS") limited++;
  expect(limited).toBeGreaterThan(0);
  // Internal failures: the table is gone, so the database's own error is what gets logged.
  await api.database.prisma.$executeRawUnsafe(`ALTER TABLE "Todo" RENAME TO "TodoAway"`);
  try {
    const other = api.clientWithHeader(`Bearer ${await api.token("pii-user-2", { email: EMAIL, name: NAME })}`);
    expect(await codeOf(other.todo.create.mutate({ title: TITLE, description: DESCRIPTION }))).toBe(
      "INTERNAL_SERVER_ERROR",
    );
    expect(await codeOf(other.todo.update.mutate({ id: todo.id, title: TITLE }))).toBe("INTERNAL_SERVER_ERROR");
    expect(await codeOf(other.todo.list.query({ search: SEARCH }))).toBe("INTERNAL_SERVER_ERROR");
  } finally {
    await api.database.prisma.$executeRawUnsafe(`ALTER TABLE "TodoAway" RENAME TO "Todo"`);
  }
  // Let the last 'close' events log.
  await new Promise((resolve) => setTimeout(resolve, 50));

  expect(lines.length).toBeGreaterThan(60);
  const failures = entries().filter((e) => e.msg === "procedure failed");
  expect(failures).toHaveLength(3);
  // A failure can be matched to its request line (and to the client's x-request-id).
  for (const failure of failures)
    expect(entries().filter((e) => e.reqId === failure.reqId && e.msg === "request")).toHaveLength(1);
  const all = lines.join("\n");
  for (const secret of [token, token.split(".")[2]!, expired, EMAIL, NAME, TITLE, DESCRIPTION, SEARCH, "Bearer"]) {
    expect(all).not.toContain(secret);
  }
});

test("each request logs one line with its request id, method, path without query, status and duration", async () => {
  lines.length = 0;
  const res = await fetch(
    `${api.trpcUrl}/todo.list?input=${encodeURIComponent(JSON.stringify({ json: { search: SEARCH } }))}`,
    {
      headers: { authorization: `Bearer ${await api.token("log-user")}`, "x-request-id": "req-from-proxy-1" },
    },
  );
  expect(res.headers.get("x-request-id")).toBe("req-from-proxy-1");
  await new Promise((resolve) => setTimeout(resolve, 50));
  const logged = entries().filter((e) => e.reqId === "req-from-proxy-1");
  expect(logged).toHaveLength(1);
  expect(logged[0]).toMatchObject({ level: 30, msg: "request", method: "GET", path: "/trpc/todo.list", status: 200 });
  expect(typeof logged[0]!.ms).toBe("number");
  expect(typeof logged[0]!.time).toBe("number");
});

test("LOG_LEVEL above info drops request lines but keeps failures", async () => {
  const quiet = captureLogs("warn");
  const warnOnly = await api.variant({}, { logger: quiet.logger });
  try {
    await fetch(`${warnOnly.url}/healthz`);
    await fetch(`${warnOnly.trpcUrl}/todo.stats`);
    expect(quiet.lines.join("")).toBe("");
  } finally {
    await warnOnly.close();
  }
});
