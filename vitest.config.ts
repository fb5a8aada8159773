import { existsSync } from "node:fs";
import { configDefaults, defineConfig } from "vitest/config";

// The pgbouncer projects need a PostgreSQL server (TEST_DATABASE_URL) and Debian's pgbouncer; without either they
// are left out, unless REQUIRE_PGBOUNCER=1 (CI), where their global setup then fails with what is missing.
const withPgBouncer =
  process.env.REQUIRE_PGBOUNCER === "1" ||
  (Boolean(process.env.TEST_DATABASE_URL) && existsSync("/usr/sbin/pgbouncer"));
const pgbouncer = (driver: "neon" | "pg") => ({
  extends: true as const,
  test: {
    name: `pgbouncer:${driver}`,
    // What depends on the database path (the rest of the API suite is HTTP-only and runs in api:*): every procedure
    // over tRPC and REST, isolation, the pagination walk, the concurrency race, one round trip per call, the raw SQL,
    // readiness, the time zone, the statement limit, the SQLite import's interactive transactions and its CLI.
    include: [
      "test/api/{todo,router,list,rest,isolation,repository,round-trips,http,timezone,statement-timeout,pooler,prepared-statements,live}.test.ts",
      "test/import/{import-sqlite,cli}.test.ts",
    ],
    // Added to the root global setup (which creates and migrates directly): the pooler in front of those databases.
    globalSetup: ["test/support/pgbouncer-setup.ts"],
    env: { DB_DRIVER: driver },
  },
});

// API tests whose calls never reach the database driver or a batching link (token checks, the page's routes): they
// run in api:neon only.
const driverFree = ["test/api/{auth,jwks,web-routes}.test.ts"];

// The API and import suites run twice: through the Neon driver (via the local WebSocket proxy) and through pg.
// The fault suite runs last, one file at a time: each file owns a PostgreSQL instance it stops and cuts.
// The e2e suite drives the built TodoMVC page in headless Chromium (skipped without /usr/bin/chromium
// unless REQUIRE_BROWSER=1).
export default defineConfig({
  test: {
    globalSetup: ["test/support/global-setup.ts"],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: "forks",
    projects: [
      // In-process tests of one module each (test/unit/<its path under src/>): no child process, no database server.
      { extends: true, test: { name: "unit", include: ["test/unit/**/*.test.ts"] } },
      // Checks of the repository itself: docs' links, the GitHub workflow, one copy of each shared package.
      { extends: true, test: { name: "tooling", include: ["test/tooling/**/*.test.ts"] } },
      // Real server processes (npm start, the cluster, the CLI scripts, redis-server) on a test database.
      { extends: true, test: { name: "process", include: ["test/process/**/*.test.ts"] } },
      // The benchmark's own code, its baseline and stock servers and small runs of its cells.
      { extends: true, test: { name: "bench", include: ["test/bench/**/*.test.ts"] } },
      { extends: true, test: { name: "api:neon", include: ["test/api/**/*.test.ts"], env: { DB_DRIVER: "neon" } } },
      {
        extends: true,
        test: {
          name: "api:pg",
          include: ["test/api/**/*.test.ts"],
          exclude: [...configDefaults.exclude, ...driverFree],
          env: { DB_DRIVER: "pg" },
        },
      },
      // The SQLite import writes through the same client and drivers as the API: both drivers again.
      {
        extends: true,
        test: { name: "import:neon", include: ["test/import/**/*.test.ts"], env: { DB_DRIVER: "neon" } },
      },
      { extends: true, test: { name: "import:pg", include: ["test/import/**/*.test.ts"], env: { DB_DRIVER: "pg" } } },
      // The API and import suites again through PgBouncer in transaction mode (Neon's -pooler URL), on databases
      // set to America/New_York.
      ...(withPgBouncer ? [pgbouncer("neon"), pgbouncer("pg")] : []),
      {
        extends: true,
        test: {
          name: "faults",
          include: ["test/faults/**/*.test.ts"],
          globalSetup: ["test/faults/support/record-setup.ts"],
          fileParallelism: false,
          // Last and alone: it stops databases and loads the machine.
          sequence: { groupOrder: 2 },
          testTimeout: 120_000,
        },
      },
      {
        extends: true,
        test: {
          name: "e2e",
          include: ["test/e2e/**/*.test.ts"],
          // Added to the root global setup (the template database), which every project inherits.
          globalSetup: ["test/e2e/global-setup.ts"],
          testTimeout: 90_000,
          hookTimeout: 120_000,
          // After the other projects: Chromium's processes would otherwise slow their timed-out-prone tests on small machines.
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
