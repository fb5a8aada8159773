/**
 * Property-based fuzzing of every procedure over real HTTP (fast-check, fixed seeds and counts).
 * Inputs: random JSON, wrong types, huge strings, deep nesting, `__proto__`/`constructor` keys, lone surrogates,
 * NUL bytes, forged superjson metadata, garbage bodies and tokens — as single calls, GET and POST, and batches.
 * Properties: never a 5xx, always a JSON answer, the server alive, another user's rows never touched, and the
 * database unchanged by every request whose calls were all refused.
 */
import fc from "fast-check";
import { afterAll, beforeAll, expect, test } from "vitest";
import { appRouter } from "../../src/trpc/routers/_app.ts";
import { startTestServer, type TestServer } from "../support/server.ts";

const SEED = 20261121;
// Bounded for CI: about 700 requests per driver (each also reads a digest of the whole database).
const RUNS = { broken: 250, single: 120, get: 60, batch: 60, meta: 60, raw: 60, auth: 40, deep: 25 };

const PROCEDURES = Object.keys(appRouter._def.procedures);
const QUERIES = Object.entries(appRouter._def.procedures as unknown as Record<string, { _def: { type: string } }>)
  .filter(([, p]) => p._def.type === "query")
  .map(([path]) => path);

let api: TestServer;
let auth: string;
const ids: string[] = [];
const stats = { requests: 0, calls: 0, fiveHundreds: 0, refusedUnchanged: 0, statuses: new Map<number, number>() };

// One round trip each: a digest of every row, and of the other user's rows alone.
async function digests(): Promise<{ all: string; victim: string }> {
  const [row] = await api.database.prisma.$queryRaw<{ all: string; victim: string }[]>`
    SELECT md5(coalesce((SELECT string_agg(t::text, '|' ORDER BY t.id) FROM "Todo" t), '') || '#' ||
               coalesce((SELECT string_agg(u::text, '|' ORDER BY u.id) FROM "User" u), '')) AS "all",
           md5(coalesce((SELECT string_agg(t::text, '|' ORDER BY t.id) FROM "Todo" t WHERE t."userId" = 'victim'), '') || '#' ||
               coalesce((SELECT string_agg(u::text, '|' ORDER BY u.id) FROM "User" u WHERE u.id = 'victim'), '')) AS "victim"`;
  return row!;
}
let baseline: { all: string; victim: string };

beforeAll(async () => {
  api = await startTestServer({ NODE_ENV: "production" });
  auth = `Bearer ${await api.token("fuzzer", { email: "fuzzer@example.com", name: "Fuzzer" })}`;
  const fuzzer = api.clientWithHeader(auth);
  const victim = api.clientWithHeader(`Bearer ${await api.token("victim")}`);
  for (let i = 0; i < 3; i++) {
    ids.push((await fuzzer.todo.create.mutate({ title: `fuzzer ${i}`, dueAt: new Date("2030-01-01") })).id);
    ids.push((await victim.todo.create.mutate({ title: `victim ${i}`, description: "private" })).id);
  }
  await victim.todo.update.mutate({ id: ids[1]!, completed: true });
  baseline = await digests();
});

afterAll(async () => {
  const statuses = [...stats.statuses]
    .sort(([a], [b]) => a - b)
    .map(([s, n]) => `${s}×${n}`)
    .join(" ");
  console.log(
    `fuzz [${process.env.DB_DRIVER}] ${stats.requests} requests, ${stats.calls} calls, 500s: ${stats.fiveHundreds}, ` +
      `refused requests with the database unchanged: ${stats.refusedUnchanged} — statuses ${statuses}`,
  );
  await api?.close();
});

// --- Generators: wire JSON text is built by hand, so keys like __proto__ really reach the server.

const LONE_SURROGATE = fc.integer({ min: 0xd800, max: 0xdfff }).map((c) => String.fromCharCode(c));
const nastyUnit = fc.oneof(
  { weight: 6, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 1 }) },
  { weight: 2, arbitrary: LONE_SURROGATE },
  { weight: 1, arbitrary: fc.constantFrom("\u0000", "\uFFFF", "\uFEFF", "\u202E", "%", "_", "\\", "'", '"', "😀") },
);
const nastyString = () =>
  fc.oneof(
    { weight: 4, arbitrary: fc.string({ unit: nastyUnit, maxLength: 40 }) },
    { weight: 2, arbitrary: fc.string({ maxLength: 40 }) },
    { weight: 2, arbitrary: fc.constantFrom(...ids, "00000000-0000-4000-8000-000000000000", "not-a-uuid", "") },
    {
      weight: 2,
      arbitrary: fc.constantFrom(
        "a\u0000b",
        "\u0000",
        "x\ud800y",
        "\udfff",
        "\ud83d",
        "title\u0000",
        "' OR 1=1 --",
        "%_%",
        "2030-01-01T00:00:00Z",
        "0001-01-01T00:00:00Z",
        "+275760-09-13T00:00:00.000Z",
        "1e309",
        "LOW",
        "HIGH",
        "createdAt",
        "desc",
        "all",
      ),
    },
    // Huge strings: 201, 2,001 and 300,000 characters (the body cap is 1 MB).
    {
      weight: 1,
      arbitrary: fc
        .constantFrom(201, 2001, 300_000)
        .chain((n) => fc.constantFrom("x".repeat(n), "\u00e9".repeat(n), "😀".repeat(n))),
    },
  );

const KEYS = [
  "__proto__",
  "constructor",
  "prototype",
  "toString",
  "hasOwnProperty",
  "title",
  "description",
  "priority",
  "dueAt",
  "completed",
  "id",
  "userId",
  "expectedVersion",
  "version",
  "status",
  "search",
  "orderBy",
  "order",
  "limit",
  "cursor",
];
const key = fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...KEYS) }, { weight: 1, arbitrary: nastyString() });

const scalar = fc.oneof(
  nastyString().map((v) => JSON.stringify(v)),
  fc.integer().map(String),
  fc.constantFrom("0", "-1", "1", "100", "101", "2147483648", "1e308", "-0", "0.5", "9007199254740993", "1e-7"),
  fc.double().map((d) => JSON.stringify(d)),
  fc.constantFrom("true", "false", "null"),
);

/** JSON text: scalars, arrays and objects (with duplicate and prototype-ish keys), a few levels deep. */
const json: fc.Arbitrary<string> = fc.letrec<{ value: string }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    scalar,
    fc.array(tie("value"), { maxLength: 5 }).map((items) => `[${items.join(",")}]`),
    fc
      .array(fc.tuple(key, tie("value")), { maxLength: 6 })
      .map((entries) => `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(",")}}`),
  ),
})).value;

/** An input near the procedure's real shape: the right keys with wrong or hostile values, plus extras. */
const nearValid = fc
  .tuple(fc.subarray(KEYS.slice(5)), fc.array(fc.tuple(key, json), { maxLength: 2 }))
  .chain(([keys, extra]) =>
    fc.tuple(fc.constant(keys), fc.array(json, { minLength: keys.length, maxLength: keys.length }), fc.constant(extra)),
  )
  .map(([keys, values, extra]) => {
    const entries = [...keys.map((k, i) => [k, values[i]!] as const), ...extra];
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(",")}}`;
  });

// A valid input per procedure (JSON text per field), to be broken one or two fields at a time.
const VALID: Record<string, Record<string, () => string>> = {
  "todo.list": {
    status: () => '"active"',
    search: () => '"fuzzer"',
    orderBy: () => '"title"',
    order: () => '"asc"',
    limit: () => "10",
    cursor: () => "null",
  },
  "todo.byId": { id: () => JSON.stringify(ids[0]) },
  "todo.create": {
    title: () => '"fuzzed"',
    description: () => '"d"',
    priority: () => '"LOW"',
    dueAt: () => '"2030-01-01T00:00:00Z"',
  },
  "todo.update": {
    id: () => JSON.stringify(ids[2]),
    title: () => '"fuzzed"',
    description: () => "null",
    completed: () => "true",
    priority: () => '"HIGH"',
    dueAt: () => '"2031-01-01T00:00:00+02:00"',
    expectedVersion: () => "0",
  },
  "todo.delete": { id: () => JSON.stringify(ids[4]) },
  "todo.toggleAll": { completed: () => "false" },
};
const FIELDS = [...new Set(Object.values(VALID).flatMap((v) => Object.keys(v)))];

/** For the procedure at `path`: its valid fields, one or two replaced by hostile values, sometimes an extra key. */
const broken = (path: string) => {
  const valid = VALID[path] ?? {};
  const names = Object.keys(valid);
  const hostile = fc.oneof({ weight: 4, arbitrary: scalar }, { weight: 1, arbitrary: json });
  return fc
    .tuple(
      fc.subarray(names),
      fc.array(fc.tuple(fc.constantFrom(...(names.length ? names : FIELDS)), hostile), { minLength: 1, maxLength: 2 }),
      fc.option(fc.tuple(key, hostile), { nil: undefined, freq: 4 }),
    )
    .map(([kept, replaced, extra]) => {
      const fields = new Map(kept.map((name) => [name, valid[name]!()]));
      for (const [name, value] of replaced) fields.set(name, value);
      const entries = [...fields, ...(extra ? [extra] : [])];
      return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(",")}}`;
    });
};

const input = fc.oneof({ weight: 3, arbitrary: nearValid }, { weight: 2, arbitrary: json });
/** The superjson envelope tRPC expects, sometimes missing or wrong. */
const envelope = fc.oneof(
  { weight: 8, arbitrary: input.map((i) => `{"json":${i}}`) },
  { weight: 1, arbitrary: input },
  { weight: 1, arbitrary: fc.tuple(input, json).map(([i, m]) => `{"json":${i},"meta":${m}}`) },
);

const procedure = fc.constantFrom(
  ...PROCEDURES,
  "todo",
  "todo.nope",
  "__proto__",
  "constructor",
  "todo.__proto__",
  "me.constructor",
);

// --- Sending and checking

/**
 * A subscription (todo.onChange) that opened: its first event after `connected` (an error or nothing within
 * 300 ms), then the stream is dropped. An internal error is a 5xx in disguise; a stream never writes.
 */
async function fireStream(shot: Shot, res: Response, controller: AbortController): Promise<boolean> {
  const reader = res.body!.getReader();
  const timer = setTimeout(() => controller.abort(), 300);
  let text = "";
  try {
    while (!/\n\n(event|data|id):/.test(text.slice(text.indexOf("event: connected")))) {
      const { done, value } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
  } catch {
    // dropped after 300 ms
  } finally {
    clearTimeout(timer);
    controller.abort();
  }
  stats.requests++;
  stats.statuses.set(res.status, (stats.statuses.get(res.status) ?? 0) + 1);
  if (text.includes("INTERNAL_SERVER_ERROR")) {
    stats.fiveHundreds++;
    console.error(
      `internal error on the stream for ${shot.method} ${shot.path.slice(0, 200)}\n→ ${text.slice(0, 500)}`,
    );
    return false;
  }
  const now = await digests();
  if (now.all !== baseline.all) {
    console.error(`a subscription changed the database: ${shot.method} ${shot.path}`);
    return false;
  }
  stats.refusedUnchanged++;
  return true;
}

interface Shot {
  method: "GET" | "POST";
  path: string;
  body?: string;
  headers?: Record<string, string>;
}

async function fire(shot: Shot): Promise<boolean> {
  const controller = new AbortController();
  const res = await fetch(`${api.trpcUrl}/${shot.path}`, {
    method: shot.method,
    headers: {
      authorization: auth,
      ...(shot.method === "POST" ? { "content-type": "application/json" } : {}),
      ...shot.headers,
    },
    body: shot.body,
    signal: controller.signal,
  });
  if (res.headers.get("content-type") === "text/event-stream") return fireStream(shot, res, controller);
  const text = await res.text();
  stats.requests++;
  stats.statuses.set(res.status, (stats.statuses.get(res.status) ?? 0) + 1);
  if (res.status >= 500) {
    stats.fiveHundreds++;
    console.error(
      `5xx for ${shot.method} ${shot.path.slice(0, 200)} ${shot.body?.slice(0, 300) ?? ""}\n→ ${res.status} ${text.slice(0, 500)}`,
    );
    return false;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    // Only Node itself answers without JSON, for requests it cannot parse (431, 400).
    return res.status === 431 || res.status === 400;
  }
  const results = Array.isArray(parsed) ? parsed : [parsed];
  stats.calls += results.length;
  const anySucceeded = results.some((r) => r && typeof r === "object" && "result" in r);
  if (
    anySucceeded &&
    !Array.isArray(parsed) &&
    /^todo\.(create|update)$/.test(shot.path) &&
    !storedAsSent(shot.body!, parsed)
  ) {
    console.error(
      `an accepted write stored something else than was sent: ${shot.body?.slice(0, 300)} → ${text.slice(0, 300)}`,
    );
    return false;
  }

  const now = await digests();
  if (now.victim !== baseline.victim) {
    console.error(`another user's rows changed after ${shot.method} ${shot.path} ${shot.body?.slice(0, 300)}`);
    return false;
  }
  if (!anySucceeded) {
    if (now.all !== baseline.all) {
      console.error(`a refused request changed the database: ${shot.method} ${shot.path} ${shot.body?.slice(0, 300)}`);
      return false;
    }
    stats.refusedUnchanged++;
  }
  baseline = now;
  return true;
}

/** An accepted title or description comes back exactly as sent (titles trimmed): nothing silently replaced. */
function storedAsSent(body: string, response: unknown): boolean {
  const sent = (JSON.parse(body) as { json?: Record<string, unknown> }).json ?? {};
  const stored = (response as { result: { data: { json: Record<string, unknown> } } }).result.data.json;
  for (const field of ["title", "description"]) {
    const value = sent[field];
    if (typeof value === "string" && stored[field] !== (field === "title" ? value.trim() : value)) return false;
  }
  return true;
}

const getUrl = (paths: string[], inputs: string[] | undefined, batch: boolean) => {
  const joined = paths.join(",");
  if (!batch) return `${joined}${inputs ? `?input=${encodeURIComponent(inputs[0]!)}` : ""}`;
  const object = `{${(inputs ?? []).map((i, n) => `"${n}":${i}`).join(",")}}`;
  return `${joined}?batch=1&input=${encodeURIComponent(object)}`;
};

const run = (property: fc.IAsyncProperty<[Shot]>, numRuns: number) =>
  fc.assert(property, { seed: SEED, numRuns, endOnFailure: true, verbose: true });

test("valid inputs with one or two fields broken never 5xx, and refused ones change nothing", async () => {
  await run(
    fc.asyncProperty(
      fc
        .constantFrom(...PROCEDURES)
        .chain((path) => broken(path).map((body): Shot => ({ method: "POST", path, body: `{"json":${body}}` }))),
      fire,
    ),
    RUNS.broken,
  );
});

test("single POST calls to every procedure never 5xx, and refused ones change nothing", async () => {
  await run(
    fc.asyncProperty(
      fc.tuple(procedure, envelope).map(([path, body]): Shot => ({ method: "POST", path, body })),
      fire,
    ),
    RUNS.single,
  );
});

test("GET calls (queries and mutations alike) never 5xx", async () => {
  await run(
    fc.asyncProperty(
      fc
        .tuple(fc.oneof(fc.constantFrom(...QUERIES), procedure), fc.option(envelope, { nil: undefined }))
        .filter(([, body]) => (body?.length ?? 0) < 4000)
        .map(([path, body]): Shot => ({
          method: "GET",
          path: getUrl([path], body === undefined ? undefined : [body], false),
        })),
      fire,
    ),
    RUNS.get,
  );
});

test("batches, GET and POST, mixed procedures and inputs, never 5xx", async () => {
  await run(
    fc.asyncProperty(
      fc
        .tuple(fc.boolean(), fc.array(fc.tuple(procedure, envelope), { minLength: 1, maxLength: 6 }), fc.boolean())
        .map(([post, calls, asArray]): Shot => {
          const paths = calls.map(([p]) => p);
          const bodies = calls.map(([, b]) => b);
          if (!post) return { method: "GET", path: getUrl(paths, bodies, true) };
          const body = asArray ? `[${bodies.join(",")}]` : `{${bodies.map((b, i) => `"${i}":${b}`).join(",")}}`;
          return { method: "POST", path: `${paths.join(",")}?batch=1`, body };
        })
        .filter((shot) => shot.path.length < 6000),
      fire,
    ),
    RUNS.batch,
  );
});

test("forged superjson metadata (types, paths into __proto__) never 5xx nor pollutes prototypes", async () => {
  // superjson's meta.values maps a path to [annotation]; annotations are names or [kind, name] pairs.
  const type = fc.oneof(
    fc.constantFrom(
      "Date",
      "map",
      "set",
      "bigint",
      "regexp",
      "undefined",
      "number",
      "symbol",
      "error",
      "URL",
      "Int8Array",
      "nope",
    ),
    fc.tuple(fc.constantFrom("class", "custom", "symbol", "typed-array"), nastyString()),
  );
  const annotation = fc.oneof(
    type.map((t) => JSON.stringify([t])),
    type.map((t) => JSON.stringify(t)),
    fc.array(type, { maxLength: 3 }).map((ts) => JSON.stringify([ts[0] ?? "Date", { x: ts }])),
    json,
  );
  const path = fc.oneof(
    fc.constantFrom(
      "title",
      "dueAt",
      "__proto__",
      "__proto__.polluted",
      "constructor.prototype.polluted",
      "a.b.c",
      "",
      "0",
    ),
    nastyString(),
  );
  const meta = fc
    .tuple(fc.array(fc.tuple(path, annotation), { maxLength: 4 }), fc.option(json, { nil: undefined }))
    .map(
      ([values, referentialEqualities]) =>
        `{"values":{${values.map(([p, a]) => `${JSON.stringify(p)}:${a}`).join(",")}}` +
        (referentialEqualities ? `,"referentialEqualities":${referentialEqualities}` : "") +
        "}",
    );
  await run(
    fc.asyncProperty(
      fc
        .tuple(procedure, input, meta)
        .map(([p, i, m]): Shot => ({ method: "POST", path: p, body: `{"json":${i},"meta":${m}}` })),
      fire,
    ),
    RUNS.meta,
  );
  expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  expect(Object.prototype).not.toHaveProperty("polluted");
});

test("garbage bodies, truncated JSON and odd batch markers never 5xx", async () => {
  await run(
    fc.asyncProperty(
      fc
        .tuple(
          procedure,
          fc.oneof(
            fc.string({ unit: nastyUnit, maxLength: 200 }),
            envelope.map((s) => s.slice(0, Math.max(1, Math.floor(s.length / 2)))),
            fc.constantFrom("", "null", "[]", "{}", '"json"', '{"json":', "\u0000", "\ufeff{}", '{"0":{}}'),
          ),
          fc.constantFrom(
            "",
            "?batch=1",
            "?batch=0",
            "?batch=true",
            "?batch=1&batch=1",
            "?input=%E0%A4%A",
            "?input=1&batch=1",
          ),
        )
        .map(([p, body, query]): Shot => ({ method: "POST", path: `${p}${query}`, body })),
      fire,
    ),
    RUNS.raw,
  );
});

test("garbage Authorization headers are 401 (or refused earlier), never 5xx", async () => {
  await run(
    fc.asyncProperty(
      fc
        .tuple(
          fc.constantFrom(...PROCEDURES),
          fc.oneof(
            fc.string({ unit: "binary-ascii", maxLength: 300 }).filter((s) => /^[\t\x20-\x7e\x80-\xff]*$/.test(s)),
            fc.string({ maxLength: 300 }).map((s) => `Bearer ${s}`),
            fc
              .tuple(json, json)
              .map(
                ([h, p]) =>
                  `Bearer ${Buffer.from(h).toString("base64url")}.${Buffer.from(p).toString("base64url")}.sig`,
              ),
          ),
        )
        .map(([p, authorization]): Shot => ({ method: "POST", path: p, body: "{}", headers: { authorization } })),
      fire,
    ),
    RUNS.auth,
  );
});

test("deeply nested input (up to 100,000 levels) never 5xx", async () => {
  await run(
    fc.asyncProperty(
      fc
        .tuple(
          procedure,
          fc.integer({ min: 1, max: 100_000 }),
          fc.constantFrom("[", '{"title":', '{"json":'),
          fc.boolean(),
        )
        .map(([p, depth, open, wrap]): Shot => {
          const close = open === "[" ? "]" : "}";
          const nested = `${open.repeat(depth)}1${close.repeat(depth)}`;
          return { method: "POST", path: p, body: wrap ? `{"json":${nested}}` : nested };
        }),
      fire,
    ),
    RUNS.deep,
  );
});

test("afterwards the server is alive and serves the fuzzer normally", async () => {
  expect((await fetch(`${api.url}/healthz`)).status).toBe(200);
  expect((await fetch(`${api.url}/readyz`)).status).toBe(200);
  const client = api.clientWithHeader(auth);
  const todo = await client.todo.create.mutate({ title: "still fine" });
  expect((await client.todo.byId.query({ id: todo.id })).title).toBe("still fine");
  expect(stats.fiveHundreds).toBe(0);
});
