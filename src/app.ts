import { createExpressMiddleware } from "@trpc/server/adapters/express";
import express, { type ErrorRequestHandler } from "express";
import { createTokenVerifier } from "./auth.ts";
import type { Config } from "./config.ts";
import { createContextFactory } from "./context.ts";
import type { Database } from "./db/client.ts";
import type { Logger } from "./logger.ts";
import { createRestRouter, restNotFound } from "./rest.ts";
import { appRouter } from "./routers/_app.ts";
import { createUserRegistry } from "./users.ts";

export interface AppOptions {
  config: Pick<Config, "env" | "auth" | "bodyLimitBytes" | "maxBatchSize">;
  database: Pick<Database, "prisma" | "ping">;
  logger: Logger;
}

/**
 * The Express application: tRPC at /trpc, the same procedures as REST at /api (OpenAPI document and docs),
 * liveness at /healthz, readiness at /readyz. Starts nothing.
 */
export function createApp({ config, database, logger }: AppOptions) {
  const app = express();
  app.disable("x-powered-by");
  app.set("trust proxy", false);

  app.get("/healthz", (_req, res) => {
    res.json({ status: "ok" });
  });
  app.get("/readyz", async (_req, res) => {
    try {
      await database.ping();
      res.json({ status: "ready", database: "up" });
    } catch (error) {
      logger.warn({ err: error }, "readiness check failed");
      res.status(503).json({ status: "unavailable", database: "down" });
    }
  });

  // One context for both surfaces: same token verification, same user registry.
  const createContext = createContextFactory({
    db: database.prisma,
    verifyToken: createTokenVerifier(config.auth),
    users: createUserRegistry(database.prisma),
    production: config.env === "production",
  });

  app.use(
    "/trpc",
    createExpressMiddleware({
      router: appRouter,
      createContext,
      // tRPC reads the body itself: this is where the size cap is enforced (413 above it).
      maxBodySize: config.bodyLimitBytes,
      // One HTTP request may carry at most this many calls (400 above it).
      maxBatchSize: config.maxBatchSize,
      // Queries may also come as POST (`methodOverride: "POST"` on the client): no URL length limit.
      allowMethodOverride: true,
      onError({ error, path, type }) {
        if (error.code === "INTERNAL_SERVER_ERROR" || error.code === "SERVICE_UNAVAILABLE") {
          logger.error({ err: error.cause ?? error, path, type, code: error.code }, "procedure failed");
        }
      },
    }),
  );

  app.use("/api", createRestRouter({ createContext, bodyLimitBytes: config.bodyLimitBytes, logger }));

  app.use("/api", restNotFound);
  app.use((_req, res) => {
    res.status(404).json({ error: "Not found" });
  });
  const onError: ErrorRequestHandler = (error, _req, res, _next) => {
    const status = typeof error?.status === "number" && error.status >= 400 && error.status < 600 ? error.status : 500;
    if (status >= 500) logger.error({ err: error }, "request failed");
    res.status(status).json({ error: status >= 500 ? "Internal server error" : String(error.message ?? "Bad request") });
  };
  app.use(onError);
  return app;
}
