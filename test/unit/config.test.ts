import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, test } from "vitest";
import { loadConfig, parseConfig } from "../../src/config.ts";

describe("configuration", () => {
  test("defaults", () => {
    const config = parseConfig({});
    expect(config).toMatchObject({
      env: "development",
      port: 3000,
      webConcurrency: 1,
      db: {
        url: undefined,
        driver: "pg",
        poolMax: 10,
        userConcurrency: 2,
        userQueueMax: 64,
        idleTimeoutMs: 10_000,
        connectionTimeoutMs: 5_000,
      },
    });
  });

  test("security and operability defaults: limits on, no cross-origin access, no proxy trusted, /metrics open", () => {
    expect(parseConfig({})).toMatchObject({
      requestTimeoutMs: 30_000,
      idempotencyTtlMs: 86_400_000,
      rateLimit: { windowMs: 60_000, perIp: 1200, perUser: 600 },
      trustProxy: false,
      corsOrigins: [],
      metricsToken: undefined,
    });
  });

  test.each([
    ["false", false],
    ["true", true],
    ["1", 1],
    ["loopback", "loopback"],
    ["10.0.0.0/8, 192.168.1.1,::1", "10.0.0.0/8, 192.168.1.1,::1"],
  ])("TRUST_PROXY=%s", (value, expected) => {
    expect(parseConfig({ TRUST_PROXY: value }).trustProxy).toEqual(expected);
  });

  test("CORS_ORIGINS is a comma-separated list of exact origins; 0 disables a rate limit", () => {
    expect(parseConfig({ CORS_ORIGINS: "https://app.example, http://localhost:5173" }).corsOrigins).toEqual([
      "https://app.example",
      "http://localhost:5173",
    ]);
    expect(parseConfig({ RATE_LIMIT_PER_IP: "0", RATE_LIMIT_PER_USER: "0" }).rateLimit).toMatchObject({
      perIp: 0,
      perUser: 0,
    });
  });

  test("REDIS_URL: unset or empty keeps the limits in memory; redis:// and rediss:// are taken; never echoed", () => {
    expect(parseConfig({}).redis).toEqual({ url: undefined, timeoutMs: 100 });
    expect(parseConfig({ REDIS_URL: " " }).redis.url).toBeUndefined();
    expect(parseConfig({ REDIS_URL: "redis://127.0.0.1:6380/2" }).redis.url).toBe("redis://127.0.0.1:6380/2");
    expect(parseConfig({ REDIS_URL: "rediss://:pw@cache.example:6380", REDIS_TIMEOUT_MS: "50" }).redis).toEqual({
      url: "rediss://:pw@cache.example:6380",
      timeoutMs: 50,
    });
    expect(() => parseConfig({ REDIS_URL: "https://:Secret123@cache.example" })).toThrow(
      /^Invalid configuration: REDIS_URL/,
    );
    try {
      parseConfig({ REDIS_URL: "https://:Secret123@cache.example" });
    } catch (error) {
      expect((error as Error).message).not.toContain("Secret123");
    }
  });

  test("METRICS_TOKEN is never echoed", () => {
    expect(() => parseConfig({ METRICS_TOKEN: "short-secret" })).toThrow(/METRICS_TOKEN/);
    try {
      parseConfig({ METRICS_TOKEN: "short-secret" });
    } catch (error) {
      expect((error as Error).message).not.toContain("short-secret");
    }
  });

  test("DB_STATEMENT_TIMEOUT_MS: 10 s unless set, 0 turns the limit off", () => {
    expect(parseConfig({}).db.statementTimeoutMs).toBe(10_000);
    expect(parseConfig({ DB_STATEMENT_TIMEOUT_MS: "0" }).db.statementTimeoutMs).toBe(0);
    expect(parseConfig({ DB_STATEMENT_TIMEOUT_MS: "2500" }).db.statementTimeoutMs).toBe(2_500);
  });

  test("DIRECT_URL defaults to DATABASE_URL", () => {
    expect(parseConfig({ DATABASE_URL: "postgresql://a/b" }).db.directUrl).toBe("postgresql://a/b");
    expect(parseConfig({ DATABASE_URL: "postgresql://a/b", DIRECT_URL: "postgresql://c/d" }).db.directUrl).toBe(
      "postgresql://c/d",
    );
  });

  test.each([
    [{ PORT: "eighty" }, /^Invalid configuration: PORT .*"eighty"/],
    [{ DB_DRIVER: "mysql" }, /^Invalid configuration: DB_DRIVER/],
    [{ DB_POOL_MAX: "0" }, /^Invalid configuration: DB_POOL_MAX/],
    [{ DB_STATEMENT_TIMEOUT_MS: "-1" }, /^Invalid configuration: DB_STATEMENT_TIMEOUT_MS .*"-1"/],
    [{ DB_STATEMENT_TIMEOUT_MS: "5s" }, /^Invalid configuration: DB_STATEMENT_TIMEOUT_MS .*"5s"/],
    [{ DATABASE_URL: "mysql://x" }, /^Invalid configuration: DATABASE_URL must be a postgres/],
    [{ AUTH_SECRET: "short" }, /^Invalid configuration: AUTH_SECRET must be at least 32 characters$/],
    [
      { DATABASE_URL: "postgresql://admin:S3cret@[::1/d" },
      /^Invalid configuration: DATABASE_URL must be a postgres:\/\/ or postgresql:\/\/ URL$/,
    ],
    [{ MAX_BATCH_SIZE: "0" }, /^Invalid configuration: MAX_BATCH_SIZE/],
    [{ WEB_CONCURRENCY: "0" }, /^Invalid configuration: WEB_CONCURRENCY/],
    [{ WEB_CONCURRENCY: "two" }, /^Invalid configuration: WEB_CONCURRENCY/],
    [{ AUTH_JWKS_URL: "not a url" }, /^Invalid configuration: AUTH_JWKS_URL/],
    [
      { NODE_ENV: "production", AUTH_SECRET: "x".repeat(32) },
      /^Invalid configuration: DATABASE_URL is required when NODE_ENV=production$/,
    ],
    [
      { NODE_ENV: "production", DATABASE_URL: "postgresql://a/b" },
      /^Invalid configuration: AUTH_SECRET or AUTH_JWKS_URL is required/,
    ],
    [{ RATE_LIMIT_PER_IP: "-1" }, /^Invalid configuration: RATE_LIMIT_PER_IP .*"-1"/],
    [{ RATE_LIMIT_PER_USER: "many" }, /^Invalid configuration: RATE_LIMIT_PER_USER/],
    [{ RATE_LIMIT_WINDOW_MS: "10" }, /^Invalid configuration: RATE_LIMIT_WINDOW_MS/],
    [{ REQUEST_TIMEOUT_MS: "0" }, /^Invalid configuration: REQUEST_TIMEOUT_MS/],
    [{ IDEMPOTENCY_TTL_MS: "a day" }, /^Invalid configuration: IDEMPOTENCY_TTL_MS .*"a day"/],
    [{ IDEMPOTENCY_TTL_MS: "10" }, /^Invalid configuration: IDEMPOTENCY_TTL_MS/],
    [{ TRUST_PROXY: "yes please" }, /^Invalid configuration: TRUST_PROXY must be false, true, a hop count/],
    [{ TRUST_PROXY: "10.0.0.0/8,not-an-ip" }, /^Invalid configuration: TRUST_PROXY/],
    [
      { CORS_ORIGINS: "https://app.example/path" },
      /^Invalid configuration: CORS_ORIGINS .*https:\/\/app\.example\/path/,
    ],
    [{ CORS_ORIGINS: "*" }, /^Invalid configuration: CORS_ORIGINS/],
    [{ METRICS_TOKEN: "short" }, /^Invalid configuration: METRICS_TOKEN must be at least 16 characters$/],
    [{ REDIS_URL: "http://cache:6379" }, /^Invalid configuration: REDIS_URL must be a redis:\/\/ or rediss:\/\/ URL$/],
    [{ REDIS_URL: "cache:6379" }, /^Invalid configuration: REDIS_URL must be a redis/],
    [{ REDIS_TIMEOUT_MS: "0" }, /^Invalid configuration: REDIS_TIMEOUT_MS .*"0"/],
  ])("%o stops start-up with one line naming the variable", (env, message) => {
    expect(() => parseConfig(env)).toThrow(message);
    try {
      parseConfig(env);
    } catch (error) {
      expect((error as Error).message).not.toContain("\n");
    }
  });

  describe("tokens", () => {
    const jwks = { AUTH_JWKS_URL: "https://issuer.example/.well-known/jwks.json" };
    const production = { NODE_ENV: "production", DATABASE_URL: "postgresql://a/b", ...jwks };

    test.each([
      [
        { ...production },
        /^Invalid configuration: AUTH_ISSUER is required with AUTH_JWKS_URL when NODE_ENV=production$/,
      ],
      [{ ...production, AUTH_AUDIENCE: "todo-api" }, /^Invalid configuration: AUTH_ISSUER is required/],
      [
        { ...production, AUTH_ISSUER: "https://issuer.example" },
        /^Invalid configuration: AUTH_AUDIENCE is required with AUTH_JWKS_URL when NODE_ENV=production$/,
      ],
      [
        { ...production, AUTH_ISSUER: " ", AUTH_AUDIENCE: "todo-api" },
        /^Invalid configuration: AUTH_ISSUER is required/,
      ],
      [
        { AUTH_JWKS_URL: "http://issuer.example/jwks.json" },
        /^Invalid configuration: AUTH_JWKS_URL must be https:\/\/ \(plain http only for a loopback host\)$/,
      ],
      [{ AUTH_JWKS_URL: "http://10.0.0.5/jwks.json" }, /^Invalid configuration: AUTH_JWKS_URL must be https/],
      [{ AUTH_JWKS_URL: "http://127.0.0.1.nip.io/jwks.json" }, /^Invalid configuration: AUTH_JWKS_URL must be https/],
      [{ AUTH_JWKS_URL: "ftp://127.0.0.1/jwks.json" }, /^Invalid configuration: AUTH_JWKS_URL must be https/],
      [{ AUTH_CLOCK_TOLERANCE_S: "-1" }, /^Invalid configuration: AUTH_CLOCK_TOLERANCE_S .*"-1"/],
      [{ AUTH_CLOCK_TOLERANCE_S: "5s" }, /^Invalid configuration: AUTH_CLOCK_TOLERANCE_S .*"5s"/],
      [{ AUTH_CLOCK_TOLERANCE_S: "3601" }, /^Invalid configuration: AUTH_CLOCK_TOLERANCE_S/],
    ])("%o stops start-up with one line", (env, message) => {
      expect(() => parseConfig(env)).toThrow(message);
      expect(() => parseConfig(env)).not.toThrow(/\n/);
    });

    test("production with AUTH_JWKS_URL, AUTH_ISSUER and AUTH_AUDIENCE starts; outside production the checks are optional", () => {
      expect(
        parseConfig({ ...production, AUTH_ISSUER: "https://issuer.example", AUTH_AUDIENCE: "todo-api" }).auth,
      ).toMatchObject({
        jwksUrl: jwks.AUTH_JWKS_URL,
        issuer: "https://issuer.example",
        audience: "todo-api",
      });
      // AUTH_SECRET alone needs neither in production (the operator signs the tokens).
      expect(
        parseConfig({ NODE_ENV: "production", DATABASE_URL: "postgresql://a/b", AUTH_SECRET: "x".repeat(32) }).auth
          .issuer,
      ).toBeUndefined();
      expect(parseConfig(jwks).auth).toMatchObject({
        jwksUrl: jwks.AUTH_JWKS_URL,
        issuer: undefined,
        audience: undefined,
      });
    });

    test.each([
      "http://127.0.0.1:8080/jwks.json",
      "http://localhost:4000/jwks",
      "http://[::1]:9000/jwks.json",
      "http://auth.localhost/jwks",
    ])("plain http is allowed for the loopback host of %s", (url) => {
      expect(parseConfig({ AUTH_JWKS_URL: url }).auth.jwksUrl).toBe(url);
    });

    test("AUTH_CLOCK_TOLERANCE_S: 5 s unless set, 0 for none", () => {
      expect(parseConfig({}).auth.clockToleranceS).toBe(5);
      expect(parseConfig({ AUTH_CLOCK_TOLERANCE_S: "0" }).auth.clockToleranceS).toBe(0);
      expect(parseConfig({ AUTH_CLOCK_TOLERANCE_S: "30" }).auth.clockToleranceS).toBe(30);
    });

    test("a real production start with AUTH_JWKS_URL and no issuer or audience exits 1 with one line naming the variable", async () => {
      const { execFile } = await import("node:child_process");
      const { projectRoot } = await import("../../src/project.ts");
      const start = (env: Record<string, string>) =>
        new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
          execFile(
            process.execPath,
            ["--import", "tsx", path.join("src", "server.ts")],
            {
              cwd: projectRoot,
              env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", PORT: "0", ...env },
              timeout: 30_000,
            },
            (error, stdout, stderr) =>
              resolve({ code: error ? ((error as { code?: number }).code ?? null) : 0, stdout, stderr }),
          );
        });
      // Empty, not absent: a developer's .env cannot fill them in.
      const env = {
        NODE_ENV: "production",
        DATABASE_URL: "postgresql://todo@127.0.0.1:1/todo",
        AUTH_JWKS_URL: "https://issuer.example/.well-known/jwks.json",
        AUTH_ISSUER: "",
        AUTH_AUDIENCE: "",
      };
      const [noIssuer, noAudience] = await Promise.all([
        start(env),
        start({ ...env, AUTH_ISSUER: "https://issuer.example" }),
      ]);
      expect(noIssuer).toEqual({
        code: 1,
        stdout: "",
        stderr: "Invalid configuration: AUTH_ISSUER is required with AUTH_JWKS_URL when NODE_ENV=production\n",
      });
      expect(noAudience).toEqual({
        code: 1,
        stdout: "",
        stderr: "Invalid configuration: AUTH_AUDIENCE is required with AUTH_JWKS_URL when NODE_ENV=production\n",
      });
    }, 60_000);
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
