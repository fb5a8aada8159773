// The module hooks of record-packages.mjs (they run on Node's loader thread).
import { appendFileSync } from "node:fs";

export async function resolve(specifier, context, next) {
  const resolved = await next(specifier, context);
  appendFileSync(process.env.RECORD_PACKAGES_FILE, `${resolved.url}\n`);
  return resolved;
}
