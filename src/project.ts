/** Where the project is: its root, the page's build folder, the embedded database's default folder, its `.env`. */
import path from "node:path";
import { fileURLToPath } from "node:url";
import { config as loadDotenv } from "dotenv";

export const projectRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
/** Where `npm run web:build` (and `npm start` before starting) puts the TodoMVC page. */
export const webDistDir = path.join(projectRoot, "web", "dist");

/** Reads the project's `.env` into process.env; variables already set win. */
export function loadEnvFile(): void {
  loadDotenv({ path: path.join(projectRoot, ".env"), quiet: true });
}

export const DEFAULT_PGLITE_DATA_DIR = ".data/pglite";

/** The embedded database folder, for tools that need it without the whole configuration (db CLI, Prisma CLI). */
export function pgliteDataDir(source: NodeJS.ProcessEnv = process.env): string {
  return path.resolve(projectRoot, source.PGLITE_DATA_DIR || DEFAULT_PGLITE_DATA_DIR);
}
