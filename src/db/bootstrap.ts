/**
 * Which database an entry point uses: the first URL variable its purpose reads, else (outside production)
 * the embedded PGlite database in PGLITE_DATA_DIR. The one place that decides; docs/configuration.md's table comes from
 * DATABASE_PURPOSES (test/process/bootstrap.test.ts checks).
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { ConfigError } from "../config.ts";
import { pgliteDataDir, projectRoot } from "../project.ts";
import { lockFileFor, startEmbeddedDatabase, type EmbeddedDatabase } from "./embedded.ts";
import { isNeonPoolerUrl } from "./neon-hosts.ts";

export type UrlVariable = "DATABASE_URL" | "DIRECT_URL";

export interface PurposeRule {
  /** Who uses it (docs/configuration.md). */
  commands: string;
  /** URL variables, the first set one wins. */
  reads: readonly UrlVariable[];
  /** Without a URL outside production: "start" one in PGLITE_DATA_DIR, or use the "running" one (its lock file). */
  embedded: "start" | "running";
  /** Apply pending migrations to a started embedded database (migrate commands do it themselves). */
  migratesEmbedded: boolean;
  /** For the line announcing the embedded database: "No DATABASE_URL: <doing> the embedded database in …". */
  doing: string;
  /** Refuse a Neon pooler URL: migrations hold session-level advisory locks, which transaction pooling drops. */
  refusesPooler?: boolean;
}

export const DATABASE_PURPOSES = {
  serve: {
    commands: "`npm start`",
    reads: ["DATABASE_URL"],
    embedded: "start",
    migratesEmbedded: true,
    doing: "serving",
  },
  migrate: {
    commands: "`npm run db:deploy` / `db:status` / `db:migrate` / `db:reset`",
    reads: ["DIRECT_URL", "DATABASE_URL"],
    embedded: "start",
    migratesEmbedded: false,
    doing: "using",
    refusesPooler: true,
  },
  seed: {
    commands: "`npm run db:seed`, `npx prisma db seed`",
    reads: ["DATABASE_URL", "DIRECT_URL"],
    embedded: "start",
    migratesEmbedded: true,
    doing: "seeding",
  },
  import: {
    commands: "`npm run import:sqlite`",
    reads: ["DATABASE_URL"],
    embedded: "start",
    migratesEmbedded: true,
    doing: "importing into",
  },
  prisma: {
    commands: "`npm run db:studio`, the Prisma CLI (`prisma.config.ts`)",
    reads: ["DIRECT_URL", "DATABASE_URL"],
    embedded: "running",
    migratesEmbedded: false,
    doing: "using",
  },
} as const satisfies Record<string, PurposeRule>;

export type Purpose = keyof typeof DATABASE_PURPOSES;

export type Choice =
  | { url: string; source: UrlVariable | "embedded"; start?: undefined }
  /** No URL: the embedded database in this folder is to be started. */
  | { url?: undefined; source: "embedded"; start: string };

/**
 * The decision alone, synchronous and starting nothing (prisma.config.ts uses it). Throws a one-line
 * ConfigError naming the variables to set when there is no URL and no embedded database may be used.
 */
export function chooseDatabase(purpose: Purpose, env: NodeJS.ProcessEnv = process.env): Choice {
  const rule: PurposeRule = DATABASE_PURPOSES[purpose];
  for (const name of rule.reads) {
    const url = env[name]?.trim();
    if (url && rule.refusesPooler && isNeonPoolerUrl(url)) {
      throw new ConfigError(
        `${name} is a Neon pooler (-pooler) URL, which cannot hold migrations' session locks: set DIRECT_URL to the direct (non-pooler) endpoint.`,
      );
    }
    if (url) return { url, source: name };
  }
  const set = rule.reads.join(" or ");
  if (env.NODE_ENV === "production") {
    throw new ConfigError(`No database URL: set ${set} (NODE_ENV=production has no embedded database).`);
  }
  const dataDir = pgliteDataDir(env);
  if (rule.embedded === "start") return { source: "embedded", start: dataDir };
  const url = runningEmbeddedUrl(dataDir);
  if (url) return { url, source: "embedded" };
  throw new ConfigError(`No database URL: set ${set}, or start the embedded database with npm start.`);
}

export interface BootstrappedDatabase {
  url: string;
  source: UrlVariable | "embedded";
  /** Set when this call started the embedded database. */
  embedded?: EmbeddedDatabase;
  /** Migrations applied to the started embedded database. */
  applied: string[];
  /** Stops the embedded database this call started; nothing otherwise. */
  close(): Promise<void>;
}

export interface BootstrapOptions {
  env?: NodeJS.ProcessEnv;
  /** Told the one line saying the embedded database is used, before it starts. */
  announce?: (line: string) => void;
}

/** chooseDatabase, then starts (and, for its purpose, migrates) the embedded database when that is the choice. */
export async function bootstrapDatabase(
  purpose: Purpose,
  { env = process.env, announce }: BootstrapOptions = {},
): Promise<BootstrappedDatabase> {
  const choice = chooseDatabase(purpose, env);
  if (choice.start === undefined) return { url: choice.url, source: choice.source, applied: [], close: async () => {} };

  const rule: PurposeRule = DATABASE_PURPOSES[purpose];
  announce?.(`No ${rule.reads.join(" or ")}: ${rule.doing} the embedded database in ${describeDataDir(choice.start)}`);
  const embedded = await startEmbeddedDatabase({ dataDir: choice.start });
  try {
    // The schema engine's modules load only when this purpose migrates the embedded database.
    const { applied } = rule.migratesEmbedded
      ? await (await import("./migrations.ts")).deployMigrations(embedded.url)
      : { applied: [] };
    return { url: embedded.url, source: "embedded", embedded, applied, close: () => embedded.close() };
  } catch (error) {
    await embedded.close();
    throw error;
  }
}

/** The folder as the user would type it: relative inside the project, absolute elsewhere. */
export function describeDataDir(dataDir: string): string {
  const relative = path.relative(projectRoot, dataDir);
  return relative.startsWith("..") || path.isAbsolute(relative) ? dataDir : relative || ".";
}

/** While `npm start` serves the embedded database, its lock file says where. */
function runningEmbeddedUrl(dataDir: string): string | undefined {
  try {
    const url = (JSON.parse(readFileSync(lockFileFor(dataDir), "utf8")) as { url?: unknown }).url;
    return typeof url === "string" ? url : undefined;
  } catch {
    return undefined;
  }
}
