// Database CLI on the wasm schema engine (src/db/migrations.ts).
//   tsx scripts/db.ts deploy | status | migrate --name <name> [--create-only] | reset

import path from "node:path";
import { parseArgs } from "node:util";

import {
  createMigration,
  deployMigrations,
  MigrationError,
  migrationStatus,
  resetDatabase,
} from "../src/db/migrations.ts";
import { bootstrapDatabase, chooseDatabase } from "../src/db/bootstrap.ts";
import { loadEnvFile } from "../src/project.ts";

loadEnvFile();

const usage = `Usage: tsx scripts/db.ts <command>
  deploy                              apply pending migrations
  status                              show applied / pending migrations (exit 1 unless up to date)
  migrate --name <name> [--create-only]
                                      create a migration from schema.prisma changes, then apply it
  reset                               drop everything in the database, then apply all migrations`;

class UsageError extends Error {}

/** Runs `fn` on the migrations target (src/db/bootstrap.ts, purpose "migrate"); an embedded one is closed after. */
async function withMigrationUrl<T>(fn: (url: string) => Promise<T>): Promise<T> {
  const db = await bootstrapDatabase("migrate", { announce: console.log });
  try {
    return await fn(db.url);
  } finally {
    await db.close();
  }
}

function refuseInProduction(command: string) {
  if (process.env.NODE_ENV === "production") {
    throw new UsageError(`Refusing to run "${command}" with NODE_ENV=production.`);
  }
}

function list(names: string[]) {
  for (const name of names) console.log(`  ${name}`);
}

async function deploy(url: string) {
  const { applied } = await deployMigrations(url);
  if (applied.length === 0) {
    console.log("No pending migrations.");
  } else {
    console.log(`Applied ${applied.length} migration(s):`);
    list(applied);
  }
}

async function status(url: string): Promise<number> {
  const s = await migrationStatus(url);
  const sections: [string, string[]][] = [
    ["Applied", s.applied],
    ["Pending", s.pending],
    ["Failed", s.failed],
    ["Edited after being applied", s.edited],
    ["Applied but missing from prisma/migrations", s.missing],
  ];
  for (const [title, names] of sections) {
    if (names.length === 0) continue;
    console.log(`${title} (${names.length}):`);
    list(names);
  }
  const upToDate = s.pending.length + s.failed.length + s.edited.length + s.missing.length === 0;
  console.log(upToDate ? "Database schema is up to date." : "Database schema is not up to date.");
  return upToDate ? 0 : 1;
}

async function migrate(name: string | undefined, createOnly: boolean) {
  if (!name) throw new UsageError("migrate needs a name: migrate --name <name> (e.g. --name add_todo_tags).");
  refuseInProduction("migrate");
  // A URL that would be refused is refused before any file is written.
  if (!createOnly) chooseDatabase("migrate");
  const created = await createMigration({ name });
  if (!created) {
    console.log("No changes: schema.prisma matches the latest migration.");
  } else {
    console.log(`Created ${path.relative(process.cwd(), created.dir)}/migration.sql`);
  }
  if (!createOnly) await withMigrationUrl(deploy);
}

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      name: { type: "string", short: "n" },
      "create-only": { type: "boolean", default: false },
      help: { type: "boolean", short: "h", default: false },
    },
  });
  const [command, ...extra] = positionals;
  if (values.help || !command) {
    console.log(usage);
    return values.help ? 0 : 1;
  }
  if (extra.length > 0) throw new UsageError(`Unexpected argument: ${extra.join(" ")}`);

  switch (command) {
    case "deploy":
      await withMigrationUrl(deploy);
      return 0;
    case "status":
      return withMigrationUrl(status);
    case "migrate":
      await migrate(values.name, values["create-only"]);
      return 0;
    case "reset": {
      refuseInProduction("reset");
      const { applied } = await withMigrationUrl((url) => resetDatabase(url));
      console.log(`Database reset; applied ${applied.length} migration(s).`);
      list(applied);
      return 0;
    }
    default:
      throw new UsageError(`Unknown command "${command}".\n${usage}`);
  }
}

try {
  process.exitCode = await main(process.argv.slice(2));
} catch (error) {
  // Usage errors and engine errors alike: one message, no stack.
  const message = error instanceof Error ? error.message : String(error);
  const code = error instanceof MigrationError && error.code ? `${error.code}: ` : "";
  console.error(`Error: ${code}${message}`);
  process.exitCode = 1;
}
