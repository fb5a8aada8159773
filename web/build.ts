/** Builds the TodoMVC page into web/dist with Vite, unless web/dist was built from the same sources. */
import { createHash, randomBytes } from "node:crypto";
import { readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { projectRoot, webDistDir } from "../src/project.ts";

const webDir = path.join(projectRoot, "web");
const STAMP = ".build-hash"; // express.static never serves dotfiles
// What the bundle is made of besides web/: the shared transformer, and the dependency versions.
const OTHER_INPUTS = ["src/trpc/transformer.ts", "package-lock.json"];

async function sourceHash(): Promise<string> {
  const entries = await readdir(webDir, { recursive: true, withFileTypes: true });
  const files = entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(projectRoot, path.join(e.parentPath, e.name)))
    // Build output and temporary folders (dist, .dist-*) are not sources.
    .filter(
      (f) =>
        !path
          .relative("web", f)
          .split(path.sep)
          .some((part) => part === "dist" || part.startsWith(".")),
    )
    .concat(OTHER_INPUTS)
    .sort();
  const hash = createHash("sha256");
  for (const file of files)
    hash
      .update(`${file}\0`)
      .update(await readFile(path.join(projectRoot, file)))
      .update("\0");
  return hash.digest("hex");
}

export async function buildWeb({ force = false } = {}): Promise<"built" | "up to date"> {
  const hash = await sourceHash();
  const built = await readFile(path.join(webDistDir, STAMP), "utf8").catch(() => "");
  if (!force && built === hash) return "up to date";

  // Vite is loaded only when there is something to build.
  const [{ build }, { default: config }] = await Promise.all([import("vite"), import("./vite.config.ts")]);
  // Built aside and swapped in, so a running server never serves a half-written folder.
  const tmp = path.join(webDir, `.dist-${randomBytes(6).toString("hex")}`);
  // Vite decides production or development from NODE_ENV and leaves its choice in process.env: pin it, then restore.
  const nodeEnv = process.env.NODE_ENV;
  process.env.NODE_ENV = "production";
  try {
    await build({ ...config, configFile: false, logLevel: "warn", build: { ...config.build, outDir: tmp } });
    await writeFile(path.join(tmp, STAMP), hash);
    const old = `${tmp}-old`;
    await rename(webDistDir, old).catch(ignore("ENOENT"));
    // Another build may have won the race with the same sources: keep that one.
    await rename(tmp, webDistDir).catch(ignore("ENOTEMPTY", "EEXIST"));
    await rm(old, { recursive: true, force: true });
  } finally {
    if (nodeEnv === undefined) delete process.env.NODE_ENV;
    else process.env.NODE_ENV = nodeEnv;
    await rm(tmp, { recursive: true, force: true });
  }
  return "built";
}

const ignore =
  (...codes: string[]) =>
  (error: NodeJS.ErrnoException) => {
    if (!codes.includes(error.code ?? "")) throw error;
  };
