import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, test } from "vitest";
import { loadConfig, parseConfig } from "../src/config.ts";

describe("configuration", () => {
  test("defaults", () => {
    const config = parseConfig({});
    expect(config).toMatchObject({
      env: "development",
      port: 3000,
      webConcurrency: 1,
      db: { url: undefined, driver: "neon", poolMax: 10, idleTimeoutMs: 10_000, connectionTimeoutMs: 5_000 },
    });
  });

  test("DIRECT_URL defaults to DATABASE_URL", () => {
    expect(parseConfig({ DATABASE_URL: "postgresql://a/b" }).db.directUrl).toBe("postgresql://a/b");
    expect(parseConfig({ DATABASE_URL: "postgresql://a/b", DIRECT_URL: "postgresql://c/d" }).db.directUrl).toBe("postgresql://c/d");
  });

  test.each([
    [{ PORT: "eighty" }, /^Invalid configuration: PORT .*"eighty"/],
    [{ DB_DRIVER: "mysql" }, /^Invalid configuration: DB_DRIVER/],
    [{ DB_POOL_MAX: "0" }, /^Invalid configuration: DB_POOL_MAX/],
    [{ DATABASE_URL: "mysql://x" }, /^Invalid configuration: DATABASE_URL must be a postgres/],
    [{ AUTH_SECRET: "short" }, /^Invalid configuration: AUTH_SECRET must be at least 32 characters$/],
    [{ DATABASE_URL: "postgresql://admin:S3cret@[::1/d" }, /^Invalid configuration: DATABASE_URL must be a postgres:\/\/ or postgresql:\/\/ URL$/],
    [{ MAX_BATCH_SIZE: "0" }, /^Invalid configuration: MAX_BATCH_SIZE/],
    [{ WEB_CONCURRENCY: "0" }, /^Invalid configuration: WEB_CONCURRENCY/],
    [{ WEB_CONCURRENCY: "two" }, /^Invalid configuration: WEB_CONCURRENCY/],
    [{ AUTH_JWKS_URL: "not a url" }, /^Invalid configuration: AUTH_JWKS_URL/],
    [{ NODE_ENV: "production", AUTH_SECRET: "x".repeat(32) }, /^Invalid configuration: DATABASE_URL is required when NODE_ENV=production$/],
    [{ NODE_ENV: "production", DATABASE_URL: "postgresql://a/b" }, /^Invalid configuration: AUTH_SECRET or AUTH_JWKS_URL is required/],
  ])("%o stops start-up with one line naming the variable", (env, message) => {
    expect(() => parseConfig(env)).toThrow(message);
    try {
      parseConfig(env);
    } catch (error) {
      expect((error as Error).message).not.toContain("\n");
    }
  });

  test("in development a secret is generated once beside the embedded database and reused", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "todo-config-"));
    const env = { PGLITE_DATA_DIR: path.join(dir, "pglite") };
    const first = loadConfig(env).auth.secret;
    expect(first!.length).toBeGreaterThanOrEqual(32);
    expect(loadConfig(env).auth.secret).toBe(first);
    expect(readFileSync(path.join(dir, "auth-secret"), "utf8").trim()).toBe(first);
    expect(loadConfig({ ...env, AUTH_SECRET: "y".repeat(32) }).auth.secret).toBe("y".repeat(32));
  });
});
