#!/usr/bin/env node
// Runs the Prisma CLI without its native schema engine, which cannot be downloaded here:
// generate/validate/format/studio never use it, but the CLI checks that the file exists.
import { spawnSync } from "node:child_process";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import { tsImport } from "tsx/esm/api";

const args = process.argv.slice(2);

// Studio needs the URL prisma.config.ts gives; without one, say which variable to set instead of Prisma's
// generic "No database URL found".
if (args[0] === "studio" && !args.some((arg) => arg === "--url" || arg.startsWith("--url="))) {
  const { loadEnvFile } = await tsImport("../src/project.ts", import.meta.url);
  const { chooseDatabase } = await tsImport("../src/db/bootstrap.ts", import.meta.url);
  loadEnvFile();
  try {
    chooseDatabase("prisma");
  } catch (error) {
    console.error(`Error: ${error.message}`);
    process.exit(1);
  }
}

const require = createRequire(import.meta.url);
const cli = require.resolve("prisma/build/index.js");
const env = { ...process.env };
env.PRISMA_SCHEMA_ENGINE_BINARY ??= fileURLToPath(import.meta.url);
env.PRISMA_HIDE_UPDATE_MESSAGE ??= "1";
const result = spawnSync(process.execPath, [cli, ...args], { stdio: "inherit", env });
process.exit(result.status ?? 1);
