/**
 * The layering of src/ (npm run lint): db ← domain ← trpc ← http, with the process around them. A capability's
 * folder (src/limits/, src/live/, src/idempotency/…) is domain code, except its trpc.ts and http.ts, which belong
 * to those layers. Base modules (config, logger, errors, metrics, lib/, internals/) are used by every layer.
 */
const DB = "^src/db/";
const DOMAIN = "^src/(auth|users|todos|idempotency|limits|live)/(?!(trpc|http)\\.ts$)";
const TRPC = "^src/(trpc/|[^/]+/trpc\\.ts$)";
const HTTP = "^src/(http/|[^/]+/http\\.ts$)";
const TOP = "^src/(runtime|server|cluster|index)\\.ts$";
const BASE = "^src/((config|logger|project|errors|metrics)\\.ts$|lib/|internals/)";

const forbid = (name, comment, from, to) => ({ name, comment, severity: "error", from: { path: from }, to });

module.exports = {
  forbidden: [
    forbid("no-cycles", "An import cycle ties modules that should stand in an order.", "^src/", { circular: true }),
    forbid("db-imports-upward", "src/db/ serves every layer and knows none of them.", DB, {
      path: [DOMAIN, TRPC, HTTP, TOP],
    }),
    forbid("domain-imports-upward", "Domain code (repositories, capabilities) knows neither tRPC nor HTTP.", DOMAIN, {
      path: [TRPC, HTTP, TOP],
    }),
    forbid("trpc-imports-http", "tRPC procedures and middleware know nothing of Express.", TRPC, { path: [HTTP, TOP] }),
    forbid("http-imports-process", "Only the process entry points build the runtime.", HTTP, { path: TOP }),
    forbid("base-imports-layers", "Base modules are imported by every layer, so they import none.", BASE, {
      path: [DB, DOMAIN, TRPC, HTTP, TOP],
      // The configuration reads two facts of its own: the development secret's file and Neon's host names.
      pathNot: "^src/(auth/dev-secret|db/neon-hosts)\\.ts$",
    }),
    forbid(
      "internals-import-only-their-library",
      "src/internals/<library>.ts patches one library and nothing of ours.",
      "^src/internals/",
      {
        path: "^src/",
      },
    ),
    {
      name: "nothing-imports-entry-points",
      comment: "src/server.ts and src/cluster.ts are process entry points.",
      severity: "error",
      from: { path: "^src/", pathNot: "^src/server\\.ts$" },
      to: { path: "^src/(server|cluster)\\.ts$" },
    },
    forbid("no-unresolvable", "Every import resolves.", "^src/", { couldNotResolve: true }),
  ],
  options: {
    includeOnly: "^src/",
    exclude: "^src/generated/",
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { extensions: [".ts", ".js"] },
  },
};
