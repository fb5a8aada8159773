/** Library entry: the router, its type for clients, and the app factory. Starts nothing. */
export { appRouter, type AppRouter } from "./trpc/routers/_app.ts";
export { createApp, type AppOptions } from "./http/app.ts";
export { createDatabase, type Database } from "./db/client.ts";
export { loadConfig, parseConfig, type Config } from "./config.ts";
export { createLogger } from "./logger.ts";
export { transformer } from "./trpc/transformer.ts";
