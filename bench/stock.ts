/**
 * The stock configuration: the API's packages used as their documentation shows, with nothing else — tRPC 11's
 * own Express adapter (`createExpressMiddleware`), superjson, a jose HS256 check on every request (no cache of
 * verified tokens: the plain thing), the API's zod input schemas, and plain Prisma Client calls (`findFirst`,
 * `findMany` with a cursor, `create`, `update`) through PrismaPg. No logs, metrics, security headers, rate limits
 * or timeouts. It serves the API's URLs and wire format, so the load driver sends it the same requests; the gap
 * between it and the hand-written baseline is what the stock paths cost, the gap to the API what the API changed.
 *
 * Environment: PORT, DATABASE_URL, AUTH_SECRET, DB_POOL_MAX, WEB_CONCURRENCY (worker processes), as the baseline.
 */
import cluster from "node:cluster";
import { PrismaPg } from "@prisma/adapter-pg";
import { initTRPC, TRPCError } from "@trpc/server";
import { createExpressMiddleware, type CreateExpressContextOptions } from "@trpc/server/adapters/express";
import express from "express";
import { jwtVerify } from "jose";
import superjson from "superjson";
import { z } from "zod";
import { Prisma, PrismaClient } from "../src/generated/prisma/client.ts";
import { decodeCursor, encodeCursor } from "../src/todos/cursor.ts";
import { byIdInput, createInput, listInput, updateInput } from "../src/todos/schemas.ts";
import { todoSelect } from "../src/todos/select.ts";

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

// Todo ids are UUIDs; anything else is not found (Prisma would refuse it as a uuid).
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const notFound = (id: string) => new TRPCError({ code: "NOT_FOUND", message: `Todo ${id} not found` });
const claims = z.object({ sub: z.string().min(1).max(255), email: z.string().nullish(), name: z.string().nullish() });

function serve() {
  // The baseline's pool settings; TimeZone=UTC because PrismaPg reads a timestamptz's text as UTC.
  const adapter = new PrismaPg({
    connectionString: env.DATABASE_URL,
    max: env.DB_POOL_MAX,
    idleTimeoutMillis: 10_000,
    connectionTimeoutMillis: 5_000,
    options: "-c TimeZone=UTC",
  });
  const prisma = new PrismaClient({ adapter });
  const key = new TextEncoder().encode(env.AUTH_SECRET);
  const seenUsers = new Set<string>();

  const createContext = ({ req }: CreateExpressContextOptions) => ({ authorization: req.headers.authorization });
  const t = initTRPC.context<typeof createContext>().create({ transformer: superjson });

  const authed = t.procedure.use(async ({ ctx, next }) => {
    const token = ctx.authorization?.match(/^Bearer[ ]+([^\s]+)\s*$/i)?.[1];
    if (!token) throw new TRPCError({ code: "UNAUTHORIZED", message: "Missing Bearer token" });
    let user;
    try {
      user = claims.parse((await jwtVerify(token, key, { algorithms: ["HS256"] })).payload);
    } catch {
      throw new TRPCError({ code: "UNAUTHORIZED", message: "Invalid or expired token" });
    }
    if (!seenUsers.has(user.sub)) {
      await prisma.user.upsert({
        where: { id: user.sub },
        create: { id: user.sub, email: user.email ?? null, name: user.name ?? null },
        update: {},
      });
      seenUsers.add(user.sub);
    }
    return next({ ctx: { userId: user.sub } });
  });

  const todoRouter = t.router({
    byId: authed.input(byIdInput).query(async ({ ctx, input }) => {
      if (!UUID.test(input.id)) throw notFound(input.id);
      const todo = await prisma.todo.findFirst({ where: { id: input.id, userId: ctx.userId }, select: todoSelect });
      if (!todo) throw notFound(input.id);
      return todo;
    }),

    list: authed.input(listInput).query(async ({ ctx, input }) => {
      const cursor = input.cursor ? decodeCursor(input.cursor, input.orderBy, input.order) : null;
      if (input.cursor && !cursor)
        throw new TRPCError({ code: "BAD_REQUEST", message: "Invalid cursor for this orderBy and order" });
      const search = input.search ? { contains: input.search, mode: "insensitive" as const } : undefined;
      const rows = await prisma.todo.findMany({
        where: {
          userId: ctx.userId,
          ...(input.status === "all" ? {} : { completed: input.status === "completed" }),
          ...(search ? { OR: [{ title: search }, { description: search }] } : {}),
        },
        orderBy: [
          input.orderBy === "dueAt"
            ? { dueAt: { sort: input.order, nulls: "last" } }
            : { [input.orderBy]: input.order },
          { id: input.order },
        ],
        // Prisma's own cursor pagination: start after the todo the cursor names.
        ...(cursor ? { cursor: { id: cursor.id }, skip: 1 } : {}),
        take: input.limit + 1,
        select: todoSelect,
      });
      const items = rows.slice(0, input.limit);
      const last = items.at(-1);
      const nextCursor =
        rows.length > input.limit && last
          ? encodeCursor({ orderBy: input.orderBy, order: input.order, value: last[input.orderBy], id: last.id })
          : null;
      return { items, nextCursor };
    }),

    create: authed
      .input(createInput)
      .mutation(({ ctx, input }) => prisma.todo.create({ data: { ...input, userId: ctx.userId }, select: todoSelect })),

    update: authed.input(updateInput).mutation(async ({ ctx, input }) => {
      const { id, expectedVersion, completed, ...fields } = input;
      if (!UUID.test(id)) throw notFound(id);
      const completion = completed === undefined ? {} : { completed, completedAt: completed ? new Date() : null };
      const changes = { ...fields, ...completion };
      if (!Object.values(changes).some((value) => value !== undefined)) {
        throw new TRPCError({ code: "BAD_REQUEST", message: "Nothing to update: give at least one field to change" });
      }
      try {
        return await prisma.todo.update({
          where: { id, userId: ctx.userId, ...(expectedVersion === undefined ? {} : { version: expectedVersion }) },
          data: { ...changes, version: { increment: 1 } },
          select: todoSelect,
        });
      } catch (error) {
        if (!(error instanceof Prisma.PrismaClientKnownRequestError) || error.code !== "P2025") throw error;
        const current =
          expectedVersion === undefined
            ? null
            : await prisma.todo.findFirst({ where: { id, userId: ctx.userId }, select: { version: true } });
        if (current)
          throw new TRPCError({
            code: "CONFLICT",
            message: `Todo ${id} is at version ${current.version}, not ${expectedVersion}`,
          });
        throw notFound(id);
      }
    }),
  });
  const appRouter = t.router({ todo: todoRouter });

  const app = express();
  app.disable("x-powered-by");
  app.get("/readyz", async (_req, res) => {
    await prisma.$queryRaw`SELECT 1`;
    res.json({ status: "ready" });
  });
  app.use("/trpc", createExpressMiddleware({ router: appRouter, createContext }));

  const server = app.listen(env.PORT, "127.0.0.1");
  const stop = () => server.close(() => prisma.$disconnect().then(() => process.exit(0)));
  process.on("SIGTERM", stop).on("SIGINT", stop);
}
