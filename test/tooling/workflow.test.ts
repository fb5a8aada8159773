/** .github/workflows/ci.yml cannot run here: it is checked against GitHub's workflow schema (action-validator, offline). */
import { readFileSync } from "node:fs";
import path from "node:path";
import { validateWorkflow } from "@action-validator/core";
import { expect, test } from "vitest";
import { parse } from "yaml";

const file = path.resolve(import.meta.dirname, "../../.github/workflows/ci.yml");
const source = readFileSync(file, "utf8");

interface Step {
  name?: string;
  uses?: string;
  run?: string;
  env?: Record<string, string>;
}

test("the workflow is valid against the GitHub workflow schema", () => {
  expect(validateWorkflow(source).errors).toEqual([]);
});

test("the validator does catch mistakes", () => {
  expect(validateWorkflow(source.replace("runs-on:", "runs_on:")).errors).not.toEqual([]);
  expect(validateWorkflow(source.replace("    steps:", "    stepz:")).errors).not.toEqual([]);
});

test("PostgreSQL service, npm ci, prisma migrate deploy on DIRECT_URL, then npm test", () => {
  const workflow = parse(source);
  const job = workflow.jobs.test;
  expect(job.services.postgres.image).toMatch(/^postgres:\d+/);
  expect(job.services.postgres.ports).toContain("5432:5432");

  const steps: Step[] = job.steps;
  const index = (run: string) => steps.findIndex((step) => step.run?.split("&&").some((part) => part.trim() === run));
  const install = index("npm ci");
  const migrate = index("npx prisma migrate deploy");
  const tests = index("npm test");
  expect(install).toBeGreaterThan(-1);
  expect(migrate).toBeGreaterThan(install);
  expect(tests).toBeGreaterThan(migrate);
  expect(steps[migrate]!.env?.DIRECT_URL).toMatch(/^postgresql:\/\/.*@localhost:5432\//);
  expect(steps[tests]!.env?.TEST_DATABASE_URL).toMatch(/^postgresql:\/\/.*@localhost:5432\//);
  // The shared rate-limit tests must run there, not skip.
  const redis = steps.findIndex((step) => /apt-get install -y redis-server/.test(step.run ?? ""));
  expect(redis).toBeGreaterThan(-1);
  expect(redis).toBeLessThan(tests);
  expect(steps[tests]!.env?.REQUIRE_REDIS).toBe("1");
});
