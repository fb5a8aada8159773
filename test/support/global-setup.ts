/** With TEST_DATABASE_URL: migrate one template database per run; every test database is cloned from it. */
import { randomBytes } from "node:crypto";
import type { TestProject } from "vitest/node";
import { deployMigrations } from "../../src/db/migrations.ts";
import { adminQuery, serverUrl, withDatabase } from "./db.ts";

declare module "vitest" {
  export interface ProvidedContext {
    templateDatabase: string | undefined;
  }
}

export default async function setup(project: TestProject) {
  const server = serverUrl();
  if (!server) {
    project.provide("templateDatabase", undefined);
    return;
  }
  const name = `todo_template_${randomBytes(6).toString("hex")}`;
  await adminQuery(`CREATE DATABASE "${name}"`);
  await deployMigrations(withDatabase(server, name));
  project.provide("templateDatabase", name);
  return async () => {
    await adminQuery(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  };
}
