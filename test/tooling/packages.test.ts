import { createRequire } from "node:module";
import path from "node:path";
import { expect, test } from "vitest";

const require = createRequire(import.meta.url);
const root = path.resolve(import.meta.dirname, "../..");
// Node's lookup from inside the dependent package's folder: its own node_modules first, then ours.
const resolveFrom = (pkg: string, from: string) =>
  require.resolve(pkg, { paths: [path.join(root, "node_modules", from)] });

// Two copies of the Neon driver would mean our neonConfig (WebSocket constructor, proxy) never reaches the adapter.
test("the Neon adapter and this code share one copy of @neondatabase/serverless", () => {
  expect(resolveFrom("@neondatabase/serverless", "@prisma/adapter-neon")).toBe(
    require.resolve("@neondatabase/serverless"),
  );
});

test("pglite-socket uses the same PGlite as this code", () => {
  expect(resolveFrom("@electric-sql/pglite", "@electric-sql/pglite-socket")).toBe(
    require.resolve("@electric-sql/pglite"),
  );
});
