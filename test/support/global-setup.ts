/**
 * Migrate once per run; every test database is a copy.
 * - With TEST_DATABASE_URL: a template database, cloned with CREATE DATABASE … TEMPLATE.
 * - Without it: an embedded PGlite's data folder dumped before and after the migrations, loaded by each copy
 *   (a fresh PGlite runs initdb, about 2 s; loading a dump takes a fraction of that).
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { TestProject } from "vitest/node";
import { startEmbeddedDatabase } from "../../src/db/embedded.ts";
import { deployMigrations } from "../../src/db/migrations.ts";
import { adminQuery, serverUrl, withDatabase, type EmbeddedTemplates } from "./db.ts";

declare module "vitest" {
  export interface ProvidedContext {
    templateDatabase: string | undefined;
    embeddedTemplates: EmbeddedTemplates | undefined;
  }
}

export default async function setup(project: TestProject) {
  // Every project inherits this file, and every project inherits the root project's provided values: once is enough.
  if (!project.isRootProject()) return;
  const server = serverUrl();
  if (!server) {
    project.provide("templateDatabase", undefined);
    const dir = await mkdtemp(path.join(tmpdir(), "todo-test-pglite-"));
    project.provide("embeddedTemplates", await dumpEmbeddedTemplates(dir));
    return () => rm(dir, { recursive: true, force: true });
  }
  project.provide("embeddedTemplates", undefined);
  const name = `todo_template_${randomBytes(6).toString("hex")}`;
  await adminQuery(`CREATE DATABASE "${name}"`);
  await deployMigrations(withDatabase(server, name));
  project.provide("templateDatabase", name);
  return async () => {
    await adminQuery(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  };
}

async function dumpEmbeddedTemplates(dir: string): Promise<EmbeddedTemplates> {
  const templates = { empty: path.join(dir, "empty.tar"), migrated: path.join(dir, "migrated.tar") };
  const embedded = await startEmbeddedDatabase();
  try {
    const save = async (file: string) =>
      writeFile(file, Buffer.from(await (await embedded.dumpDataDir()).arrayBuffer()));
    await save(templates.empty);
    await deployMigrations(embedded.url);
    await save(templates.migrated);
  } finally {
    await embedded.close();
  }
  return templates;
}
