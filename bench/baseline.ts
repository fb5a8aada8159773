/**
 * The baseline: what a careful engineer would write by hand instead of tRPC + Prisma — Express 5 and a pg
 * Pool doing the same work per request as the API: the same jose HS256 check with a cache of verified
 * tokens, the same zod input schemas, the caller's User row created on first sight, the same SQL with the
 * user id in every WHERE clause, JSON out, the same pool settings. It serves the same URLs and request
 * shapes as the API (`/trpc/todo.byId?input={"json":…}`, POST bodies `{"json":…}`) so the load driver
 * sends both the same requests. Compiled with tsc and run with node, like the API.
 *
 * Environment: PORT, DATABASE_URL, AUTH_SECRET, DB_POOL_MAX, WEB_CONCURRENCY (worker processes).
 */
import cluster from "node:cluster";
import { randomUUID } from "node:crypto";
import express, { type NextFunction, type Request, type Response } from "express";
import { jwtVerify } from "jose";
import pg from "pg";
import { z } from "zod";
import { decodeCursor, encodeCursor } from "../src/todos/cursor.ts";
import { byIdInput, createInput, listInput, updateInput, type UpdateInput } from "../src/todos/schemas.ts";

const env = z
  .object({
    PORT: z.coerce.number().int().default(3100),
    DATABASE_URL: z.string().min(1),
    AUTH_SECRET: z.string().min(32),
    DB_POOL_MAX: z.coerce.number().int().min(1).default(10),
    WEB_CONCURRENCY: z.coerce.number().int().min(1).default(1),
  })
  .parse(process.env);

if (env.WEB_CONCURRENCY > 1 && cluster.isPrimary) {
  for (let i = 0; i < env.WEB_CONCURRENCY; i++) cluster.fork();
  const stop = () => {
    for (const worker of Object.values(cluster.workers ?? {})) worker?.kill("SIGTERM");
    process.exit(0);
  };
  process.on("SIGTERM", stop).on("SIGINT", stop);
} else {
  serve();
}

// --- HTTP errors --------------------------------------------------------------------------------

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly fieldErrors?: unknown,
  ) {
    super(message);
  }
}

// --- auth: jose HS256, verified tokens cached until they expire (at most five minutes) ------------

type User = { id: string; email: string | null; name: string | null };

function createVerifier(secret: string) {
  const key = new TextEncoder().encode(secret);
  const cache = new Map<string, { user: User; until: number }>();
  const claims = z.object({ sub: z.string().min(1).max(255), email: z.string().nullish(), name: z.string().nullish() });
  return async (header: string | undefined): Promise<User> => {
    const token = header?.match(/^Bearer[ ]+([^\s]+)\s*$/i)?.[1];
    if (!token) throw new HttpError(401, "Missing Bearer token");
    const now = Date.now();
    const hit = cache.get(token);
    if (hit && hit.until > now) return hit.user;
    let payload;
    try {
      payload = (await jwtVerify(token, key, { algorithms: ["HS256"] })).payload;
    } catch {
      throw new HttpError(401, "Invalid or expired token");
    }
    const parsed = claims.safeParse(payload);
    if (!parsed.success) throw new HttpError(401, "Invalid or expired token");
    const user = { id: parsed.data.sub, email: parsed.data.email ?? null, name: parsed.data.name ?? null };
    if (cache.size >= 10_000) cache.delete(cache.keys().next().value!);
    cache.set(token, { user, until: Math.min(payload.exp ? payload.exp * 1000 : Infinity, now + 5 * 60_000) });
    return user;
  };
}

// --- SQL ------------------------------------------------------------------------------------------

const COLUMNS = `"id", "userId", "title", "description", "completed", "priority", "dueAt", "completedAt", "version", "createdAt", "updatedAt"`;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

// Named statements: PostgreSQL parses and plans each once per connection.
const statements = new Map<string, string>();
function named(text: string): string {
  let name = statements.get(text);
  if (!name) statements.set(text, (name = `s${statements.size}`));
  return name;
}

function query<T extends pg.QueryResultRow>(pool: pg.Pool, text: string, values: unknown[]) {
  return pool.query<T>({ name: named(text), text, values });
}

function setClauses(input: UpdateInput, now: Date, values: unknown[]): string[] {
  const sets: string[] = [];
  const param = (value: unknown) => `$${values.push(value)}`;
  if (input.title !== undefined) sets.push(`"title" = ${param(input.title)}`);
  if (input.description !== undefined) sets.push(`"description" = ${param(input.description)}`);
  if (input.priority !== undefined) sets.push(`"priority" = ${param(input.priority)}::"Priority"`);
  if (input.dueAt !== undefined) sets.push(`"dueAt" = ${param(input.dueAt)}`);
  if (input.completed !== undefined) {
    sets.push(`"completed" = ${param(input.completed)}`);
    sets.push(
      input.completed
        ? `"completedAt" = CASE WHEN "completed" THEN "completedAt" ELSE ${param(now)} END`
        : `"completedAt" = NULL`,
    );
  }
  if (sets.length) sets.push(`"version" = "version" + 1`, `"updatedAt" = ${param(now)}`);
  return sets;
}

// --- the server -----------------------------------------------------------------------------------

function serve() {
  const pool = new pg.Pool({
    connectionString: env.DATABASE_URL,
    max: env.DB_POOL_MAX,
    idleTimeoutMillis: 10_000,
    connectionTimeoutMillis: 5_000,
    options: "-c TimeZone=UTC",
  });
  pool.on("error", () => {}); // an idle connection dropped: the pool replaces it
  const verify = createVerifier(env.AUTH_SECRET);
  const seenUsers = new Set<string>();

  async function authenticate(req: Request): Promise<User> {
    const user = await verify(req.headers.authorization);
    if (!seenUsers.has(user.id)) {
      await query(pool, `INSERT INTO "User" ("id", "email", "name") VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, [
        user.id,
        user.email,
        user.name,
      ]);
      seenUsers.add(user.id);
    }
    return user;
  }

  function parse<S extends z.ZodType>(schema: S, raw: unknown): z.output<S> {
    const result = schema.safeParse(raw);
    if (!result.success) throw new HttpError(400, "Invalid input", z.flattenError(result.error).fieldErrors);
    return result.data;
  }

  /** The input of a GET (`?input=`) or POST (body), unwrapped from the `{"json": …}` envelope. */
  function rawInput(req: Request): unknown {
    if (req.method === "GET") {
      const text = typeof req.query.input === "string" ? req.query.input : undefined;
      if (text === undefined) return undefined;
      try {
        return (JSON.parse(text) as { json?: unknown }).json;
      } catch {
        throw new HttpError(400, "input is not JSON");
      }
    }
    return (req.body as { json?: unknown } | undefined)?.json;
  }

  const handle =
    (work: (req: Request, user: User) => Promise<unknown>) =>
    async (req: Request, res: Response, next: NextFunction) => {
      try {
        const user = await authenticate(req);
        res.json(await work(req, user));
      } catch (error) {
        next(error);
      }
    };

  const app = express();
  app.disable("x-powered-by");
  app.disable("etag");
  app.use(express.json({ limit: "1mb" }));

  app.get("/readyz", async (_req, res) => {
    await pool.query("SELECT 1");
    res.json({ status: "ready" });
  });

  app.get(
    "/trpc/todo.byId",
    handle(async (req, user) => {
      const { id } = parse(byIdInput, rawInput(req));
      if (!UUID.test(id)) throw new HttpError(404, `Todo ${id} not found`);
      const { rows } = await query(pool, `SELECT ${COLUMNS} FROM "Todo" WHERE "id" = $1 AND "userId" = $2`, [
        id,
        user.id,
      ]);
      if (!rows[0]) throw new HttpError(404, `Todo ${id} not found`);
      return rows[0];
    }),
  );

  app.get(
    "/trpc/todo.list",
    handle(async (req, user) => {
      const input = parse(listInput, rawInput(req));
      const cursor = input.cursor ? decodeCursor(input.cursor, input.orderBy, input.order) : null;
      if (input.cursor && !cursor) throw new HttpError(400, "Invalid cursor for this orderBy and order");
      const values: unknown[] = [user.id];
      const param = (value: unknown) => `$${values.push(value)}`;
      const where = [`"userId" = $1`];
      if (input.status !== "all") where.push(`"completed" = ${param(input.status === "completed")}`);
      if (input.search) {
        const pattern = param(`%${input.search.replace(/[\\%_]/g, "\\$&")}%`);
        where.push(`("title" ILIKE ${pattern} OR "description" ILIKE ${pattern})`);
      }
      const column = `"${input.orderBy}"`;
      const cmp = input.order === "asc" ? ">" : "<";
      if (cursor) {
        // Keyset: rows after (value, id) in the list's order; todos without a due date come last.
        const id = param(cursor.id);
        if (cursor.value === null) where.push(`"dueAt" IS NULL AND "id" ${cmp} ${id}::uuid`);
        else {
          const cast = input.orderBy === "priority" ? `::"Priority"` : "";
          const after = `(${column}, "id") ${cmp} (${param(cursor.value)}${cast}, ${id}::uuid)`;
          where.push(input.orderBy === "dueAt" ? `(${after} OR "dueAt" IS NULL)` : after);
        }
      }
      const nulls = input.orderBy === "dueAt" ? " NULLS LAST" : "";
      const sql = `SELECT ${COLUMNS} FROM "Todo" WHERE ${where.join(" AND ")}
        ORDER BY ${column} ${input.order}${nulls}, "id" ${input.order} LIMIT ${param(input.limit + 1)}`;
      const { rows } = await query<Record<string, unknown>>(pool, sql, values);
      const items = rows.slice(0, input.limit);
      const last = items.at(-1);
      const nextCursor =
        rows.length > input.limit && last
          ? encodeCursor({
              orderBy: input.orderBy,
              order: input.order,
              value: last[input.orderBy] as Date | string | null,
              id: last.id as string,
            })
          : null;
      return { items, nextCursor };
    }),
  );

  app.post(
    "/trpc/todo.create",
    handle(async (req, user) => {
      const input = parse(createInput, rawInput(req));
      const now = new Date();
      const values = [
        randomUUID(),
        user.id,
        input.title,
        input.description ?? null,
        input.priority ?? "MEDIUM",
        input.dueAt ?? null,
        now,
      ];
      const sql = `INSERT INTO "Todo" ("id", "userId", "title", "description", "priority", "dueAt", "createdAt", "updatedAt")
        VALUES ($1, $2, $3, $4, $5::"Priority", $6, $7, $7) RETURNING ${COLUMNS}`;
      try {
        return (await query(pool, sql, values)).rows[0];
      } catch (error) {
        // The remembered User row was deleted behind our back: recreate it once.
        if ((error as { code?: string }).code !== "23503") throw error;
        seenUsers.delete(user.id);
        await authenticate(req);
        return (await query(pool, sql, values)).rows[0];
      }
    }),
  );

  app.post(
    "/trpc/todo.update",
    handle(async (req, user) => {
      const input = parse(updateInput, rawInput(req));
      if (!UUID.test(input.id)) throw new HttpError(404, `Todo ${input.id} not found`);
      const values: unknown[] = [input.id, user.id];
      const sets = setClauses(input, new Date(), values);
      if (sets.length === 0) throw new HttpError(400, "Nothing to update: give at least one field to change");
      const version =
        input.expectedVersion === undefined ? "" : ` AND "version" = $${values.push(input.expectedVersion)}`;
      const sql = `UPDATE "Todo" SET ${sets.join(", ")} WHERE "id" = $1::uuid AND "userId" = $2${version} RETURNING ${COLUMNS}`;
      const { rows } = await query(pool, sql, values);
      if (rows[0]) return rows[0];
      if (input.expectedVersion !== undefined) {
        const current = await query<{ version: number }>(
          pool,
          `SELECT "version" FROM "Todo" WHERE "id" = $1 AND "userId" = $2`,
          [input.id, user.id],
        );
        if (current.rows[0])
          throw new HttpError(
            409,
            `Todo ${input.id} is at version ${current.rows[0].version}, not ${input.expectedVersion}`,
          );
      }
      throw new HttpError(404, `Todo ${input.id} not found`);
    }),
  );

  app.use((error: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (error instanceof HttpError) {
      res.status(error.status).json({ error: { message: error.message, fieldErrors: error.fieldErrors } });
      return;
    }
    const status = (error as { status?: number }).status;
    if (typeof status === "number" && status >= 400 && status < 500) {
      res.status(status).json({ error: { message: (error as Error).message } });
      return;
    }
    console.error(error);
    res.status(500).json({ error: { message: "Internal server error" } });
  });

  const server = app.listen(env.PORT, "127.0.0.1");
  const stop = () => server.close(() => pool.end().then(() => process.exit(0)));
  process.on("SIGTERM", stop).on("SIGINT", stop);
}
