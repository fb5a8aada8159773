// `NODE_OPTIONS=--import <this file>`: every package the process loads (ESM resolutions, the CommonJS cache at exit)
// appended to $RECORD_PACKAGES_FILE, one resolved URL or path a line. Plain JS: it runs before tsx is registered.
import { appendFileSync } from "node:fs";
import { createRequire, register } from "node:module";

const file = process.env.RECORD_PACKAGES_FILE;
if (file) {
  register("./record-packages-hooks.mjs", import.meta.url);
  process.on("exit", () => appendFileSync(file, Object.keys(createRequire(import.meta.url).cache).join("\n") + "\n"));
}
