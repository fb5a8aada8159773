import { timingSafeEqual } from "node:crypto";
import path from "node:path";
import express, { type ErrorRequestHandler, type RequestHandler } from "express";
import { createTokenVerifier } from "../auth/tokens.ts";
import type { ChangeFeed } from "../live/feed.ts";
import type { Config } from "../config.ts";
import { createContextFactory } from "../trpc/context.ts";
import type { Database } from "../db/client.ts";
import { devTokenRouter } from "./dev-token.ts";
import { AppError } from "../errors.ts";
import { callFailureHandler, responseMeta, sendAppError, sendError } from "./errors.ts";
import type { Logger } from "../logger.ts";
import { createMetrics, type Metrics } from "../metrics.ts";
import type { Limiter, SharedLimitStore } from "../limits/redis-store.ts";
import { requestLogger } from "./requests.ts";
import { createRestRouter, restNotFound } from "./rest.ts";
import { withSse } from "../trpc/init.ts";
import { sseOptions } from "../live/sse.ts";
import { appRouter } from "../trpc/routers/_app.ts";
import { corsAllowlist, hostCheck, requireJsonBody, securityHeaders } from "./security.ts";
import { ipRateLimit } from "../limits/http.ts";
import { userRateLimit } from "../limits/user.ts";
import { createTrpcMiddleware } from "./trpc-adapter.ts";
import { createUserRegistry } from "../users/registry.ts";
import { createUserSlots } from "../limits/user.ts";

export interface AppOptions {
  config: Pick<
    Config,
    | "env"
    | "allowedHosts"
    | "auth"
    | "bodyLimitBytes"
    | "maxBatchSize"
    | "requestTimeoutMs"
    | "idempotencyTtlMs"
    | "changeRetentionMs"
    | "rateLimit"
    | "trustProxy"
    | "corsOrigins"
    | "metricsToken"
    | "sse"
  > & { db: Pick<Config["db"], "userConcurrency" | "userQueueMax"> };
  database: Pick<Database, "prisma" | "ping" | "poolStats">;
  logger: Logger;
  /** Where the rate limits count, shared by every process (REDIS_URL: redisLimitStores); without it, in memory. */
  sharedLimitStore?: SharedLimitStore;
  /** The built TodoMVC page (web/dist), served at `/`; without it `/` is a 404. */
  webDir?: string;
  /** Live updates for todo.onChange (src/live/feed.ts); without it the subscription answers SERVICE_UNAVAILABLE. */
  changes?: ChangeFeed;
  /** false: every tRPC request through tRPC's own handler (src/http/trpc-fast-path.ts is then unused). */
  trpcFastPath?: boolean;
}

/**
 * The Express application: tRPC at /trpc, the same procedures as REST at /api (OpenAPI document and docs),
 * liveness at /healthz, readiness at /readyz, Prometheus at /metrics, the page at /, and outside production
 * POST /dev/token (with the generated development secret only). Outside production, a Host that is not loopback
 * or in ALLOWED_HOSTS is answered 403. Starts nothing.
 */
export function createApp({
  config,
  database,
  logger,
  sharedLimitStore,
  webDir,
  changes,
  trpcFastPath = true,
}: AppOptions) {
  const userSlots = createUserSlots({ concurrency: config.db.userConcurrency, queueMax: config.db.userQueueMax });
  const metrics = createMetrics({
    procedures: Object.keys(appRouter._def.procedures),
    poolStats: database.poolStats,
    changeStats: changes && (() => changes.stats()),
    slotStats: () => userSlots.stats(),
  });
  const sharedStore = (limiter: Limiter) => sharedLimitStore?.(limiter, () => metrics.countSkippedLimit(limiter));
  // Both surfaces count and log their failed calls the same way.
  const onCallError = callFailureHandler({ metrics, logger });
  const app = express();
  app.disable("x-powered-by");
  // Whose X-Forwarded-For to believe: decides req.ip, which the per-IP rate limit counts by.
  app.set("trust proxy", config.trustProxy);

  app.use(requestLogger({ logger, metrics }));
  app.use(securityHeaders());
  // Before every route: a page on a rebound name must not reach anything (DNS rebinding).
  if (config.env !== "production") app.use(hostCheck(config.allowedHosts));

  app.get("/healthz", (_req, res) => {
    res.json({ status: "ok" });
  });
  // Live updates count when they are on: a process whose notifications never arrive is not ready (src/live/feed.ts).
  app.get("/readyz", async (_req, res) => {
    const [pinged, live] = await Promise.all([
      database.ping().then(
        () => undefined,
        (error: unknown) => ({ error }),
      ),
      changes?.health(),
    ]);
    const liveUpdates = live && {
      liveUpdates: live.up ? "up" : "down",
      ...(!live.up && { reason: `live updates: ${live.reason}` }),
    };
    if (pinged) {
      logger.warn({ err: pinged.error, reqId: res.locals.requestId }, "readiness check failed");
      return res.status(503).json({ status: "unavailable", database: "down", ...liveUpdates });
    }
    if (live && !live.up) return res.status(503).json({ status: "unavailable", database: "up", ...liveUpdates });
    res.json({ status: "ready", database: "up", ...liveUpdates });
  });
  app.get("/metrics", metricsHandler(metrics, config.metricsToken));

  // One context for both surfaces: same token verification, user registry, limits and metrics.
  const createContext = createContextFactory({
    db: database.prisma,
    verifyToken: createTokenVerifier(config.auth),
    users: createUserRegistry(database.prisma),
    production: config.env === "production",
    limitUser: userRateLimit(config.rateLimit, sharedStore("user")),
    userSlots,
    metrics,
    callTimeoutMs: config.requestTimeoutMs,
    idempotencyTtlMs: config.idempotencyTtlMs,
    changeRetentionMs: config.changeRetentionMs,
    changes,
  });
  // One middleware instance per concern, so both surfaces share the per-IP counters.
  const cors = corsAllowlist(config.corsOrigins);
  const ipLimit = ipRateLimit(config.rateLimit, { store: sharedStore("ip"), logger });
  for (const middleware of [cors, ipLimit]) {
    if (middleware) app.use(["/trpc", "/api"], middleware);
  }
  app.use("/trpc", requireJsonBody);
  app.use(
    "/trpc",
    createTrpcMiddleware({
      // This app's SSE settings (SSE_PING_MS) on a copy of the router.
      router: withSse(appRouter, sseOptions(config.sse.pingMs)),
      fastPath: trpcFastPath,
      createContext,
      // tRPC reads the body itself: this is where the size cap is enforced (413 above it).
      maxBodySize: config.bodyLimitBytes,
      // One HTTP request may carry at most this many calls (400 above it).
      maxBatchSize: config.maxBatchSize,
      // Queries may also come as POST (`methodOverride: "POST"` on the client): no URL length limit.
      allowMethodOverride: true,
      responseMeta,
      onError({ error, path, type, ctx }) {
        onCallError({ error, path, type, reqId: ctx?.requestId, surface: "trpc" });
      },
    }),
  );

  app.use(
    "/api",
    createRestRouter({
      router: appRouter,
      createContext,
      bodyLimitBytes: config.bodyLimitBytes,
      onCallError,
      responseMeta,
    }),
  );
  app.use("/api", restNotFound(onCallError));

  // Only with the secret generated here: never a door to tokens signed with a real AUTH_SECRET.
  const { secret, devSecret } = config.auth;
  if (config.env !== "production" && devSecret && secret) app.use("/dev", devTokenRouter({ ...config.auth, secret }));

  // After every API route, so none of them can be shadowed by a file.
  if (webDir) {
    // Vite names assets by content hash, so they never change; index.html is revalidated to pick up new ones.
    const isAsset = (file: string) => path.relative(webDir, file).startsWith(`assets${path.sep}`);
    app.use(
      express.static(webDir, {
        setHeaders: (res, file) =>
          res.setHeader("Cache-Control", isAsset(file) ? "public, max-age=31536000, immutable" : "no-cache"),
      }),
    );
  }

  app.use((req, res) => {
    sendAppError(req, res, new AppError("notFound", "Not found"));
  });
  const onError: ErrorRequestHandler = (cause, req, res, _next) => {
    const error = cause as { status?: unknown; message?: unknown } | undefined;
    const status = typeof error?.status === "number" && error.status >= 400 && error.status < 600 ? error.status : 500;
    if (status >= 500) {
      logger.error({ err: error, reqId: res.locals.requestId }, "request failed");
      return sendError(req, res, status, "INTERNAL_SERVER_ERROR", "Internal server error");
    }
    // Express's own errors (a body's, a file's) carry a status, no tRPC code: the nearest one, for the API shapes.
    sendError(
      req,
      res,
      status,
      status === 404 ? "NOT_FOUND" : "BAD_REQUEST",
      typeof error?.message === "string" ? error.message : "Bad request",
    );
  };
  app.use(onError);
  return app;
}

/** Prometheus text format. With METRICS_TOKEN set, only `Authorization: Bearer <METRICS_TOKEN>` may read it. */
function metricsHandler(metrics: Metrics, token: string | undefined): RequestHandler {
  const expected = token ? Buffer.from(`Bearer ${token}`) : undefined;
  return async (req, res) => {
    if (expected) {
      const given = Buffer.from(req.headers.authorization ?? "");
      if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
        res.setHeader("www-authenticate", "Bearer");
        return sendAppError(req, res, new AppError("unauthorized"));
      }
    }
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  };
}
