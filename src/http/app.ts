import { timingSafeEqual } from "node:crypto";
import path from "node:path";
import express, { type ErrorRequestHandler, type RequestHandler } from "express";
import { createTokenVerifier } from "../auth/tokens.ts";
import type { Config } from "../config.ts";
import { createContextFactory } from "../trpc/context.ts";
import type { Database } from "../db/client.ts";
import { devTokenRouter } from "./dev-token.ts";
import type { Logger } from "../logger.ts";
import { createMetrics, type Metrics } from "./metrics.ts";
import { requestLogger } from "./requests.ts";
import { createRestRouter, restNotFound } from "./rest.ts";
import { appRouter } from "../trpc/routers/_app.ts";
import { corsAllowlist, ipRateLimit, RateLimitedError, requireJsonBody, securityHeaders, userRateLimit } from "./security.ts";
import { createTrpcMiddleware } from "./trpc-adapter.ts";
import { createUserRegistry } from "../users/registry.ts";

export interface AppOptions {
  config: Pick<
    Config,
    | "env"
    | "auth"
    | "bodyLimitBytes"
    | "maxBatchSize"
    | "requestTimeoutMs"
    | "rateLimit"
    | "trustProxy"
    | "corsOrigins"
    | "metricsToken"
  >;
  database: Pick<Database, "prisma" | "ping" | "poolStats">;
  logger: Logger;
  /** The built TodoMVC page (web/dist), served at `/`; without it `/` is a 404. */
  webDir?: string;
}

/**
 * The Express application: tRPC at /trpc, the same procedures as REST at /api (OpenAPI document and docs),
 * liveness at /healthz, readiness at /readyz, Prometheus at /metrics, the page at /, and outside production
 * POST /dev/token. Starts nothing.
 */
export function createApp({ config, database, logger, webDir }: AppOptions) {
  const metrics = createMetrics({ procedures: Object.keys(appRouter._def.procedures), poolStats: database.poolStats });
  const app = express();
  app.disable("x-powered-by");
  // Whose X-Forwarded-For to believe: decides req.ip, which the per-IP rate limit counts by.
  app.set("trust proxy", config.trustProxy);

  app.use(requestLogger({ logger, metrics }));
  app.use(securityHeaders());

  app.get("/healthz", (_req, res) => {
    res.json({ status: "ok" });
  });
  app.get("/readyz", async (_req, res) => {
    try {
      await database.ping();
      res.json({ status: "ready", database: "up" });
    } catch (error) {
      logger.warn({ err: error, reqId: res.locals.requestId }, "readiness check failed");
      res.status(503).json({ status: "unavailable", database: "down" });
    }
  });
  app.get("/metrics", metricsHandler(metrics, config.metricsToken));

  // One context for both surfaces: same token verification, user registry, limits and metrics.
  const createContext = createContextFactory({
    db: database.prisma,
    verifyToken: createTokenVerifier(config.auth),
    users: createUserRegistry(database.prisma),
    production: config.env === "production",
    limitUser: userRateLimit(config.rateLimit),
    metrics,
    callTimeoutMs: config.requestTimeoutMs,
  });
  // One middleware instance per concern, so both surfaces share the per-IP counters.
  const cors = corsAllowlist(config.corsOrigins);
  const ipLimit = ipRateLimit(config.rateLimit);
  for (const middleware of [cors, ipLimit]) {
    if (middleware) app.use(["/trpc", "/api"], middleware);
  }
  app.use("/trpc", requireJsonBody);
  app.use(
    "/trpc",
    createTrpcMiddleware({
      router: appRouter,
      createContext,
      // tRPC reads the body itself: this is where the size cap is enforced (413 above it).
      maxBodySize: config.bodyLimitBytes,
      // One HTTP request may carry at most this many calls (400 above it).
      maxBatchSize: config.maxBatchSize,
      // Queries may also come as POST (`methodOverride: "POST"` on the client): no URL length limit.
      allowMethodOverride: true,
      responseMeta({ errors }) {
        if (!errors.length) return {};
        const limited = errors.find((error) => error.cause instanceof RateLimitedError)?.cause as RateLimitedError | undefined;
        return limited ? { headers: { "retry-after": String(limited.retryAfterSeconds) } } : {};
      },
      onError({ error, path, type, ctx }) {
        metrics.countError(metrics.procedure(path), error.code);
        if (error.code === "INTERNAL_SERVER_ERROR" || error.code === "SERVICE_UNAVAILABLE") {
          // The path is logged only when it names a procedure: an unknown one is whatever the client sent.
          logger.error(
            { err: error.cause ?? error, path: metrics.procedure(path), type, code: error.code, reqId: ctx?.requestId },
            "procedure failed",
          );
        }
      },
    }),
  );

  app.use("/api", createRestRouter({ createContext, bodyLimitBytes: config.bodyLimitBytes, logger }));
  app.use("/api", restNotFound);

  const { secret } = config.auth;
  if (config.env !== "production" && secret) app.use("/dev", devTokenRouter({ ...config.auth, secret }));

  // After every API route, so none of them can be shadowed by a file.
  if (webDir) {
    // Vite names assets by content hash, so they never change; index.html is revalidated to pick up new ones.
    const isAsset = (file: string) => path.relative(webDir, file).startsWith(`assets${path.sep}`);
    app.use(
      express.static(webDir, {
        setHeaders: (res, file) => res.setHeader("Cache-Control", isAsset(file) ? "public, max-age=31536000, immutable" : "no-cache"),
      }),
    );
  }

  app.use((_req, res) => {
    res.status(404).json({ error: "Not found" });
  });
  const onError: ErrorRequestHandler = (error, _req, res, _next) => {
    const status = typeof error?.status === "number" && error.status >= 400 && error.status < 600 ? error.status : 500;
    if (status >= 500) logger.error({ err: error, reqId: res.locals.requestId }, "request failed");
    res.status(status).json({ error: status >= 500 ? "Internal server error" : String(error.message ?? "Bad request") });
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
        res.status(401).setHeader("www-authenticate", "Bearer").json({ error: "Unauthorized" });
        return;
      }
    }
    res.type(metrics.registry.contentType).send(await metrics.registry.metrics());
  };
}
