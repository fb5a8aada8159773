/** Swagger UI for the REST surface, served from the swagger-ui-dist package in node_modules (no CDN). */
import { createRequire } from "node:module";
import path from "node:path";
import { Router } from "express";

const swaggerUiDir = path.dirname(createRequire(import.meta.url).resolve("swagger-ui-dist/package.json"));
const SWAGGER_FILES = ["swagger-ui.css", "swagger-ui-bundle.js", "favicon-32x32.png"];

// Relative URLs: the page lives at /api/docs, its assets under /api/docs/, the document at /api/openapi.json.
const DOCS_HTML = `<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Todo API — REST</title>
  <link rel="icon" type="image/png" href="docs/favicon-32x32.png">
  <link rel="stylesheet" href="docs/swagger-ui.css">
</head>
<body>
  <div id="swagger-ui"></div>
  <script src="docs/swagger-ui-bundle.js"></script>
  <script src="docs/init.js"></script>
</body>
</html>
`;

// A file rather than an inline script, so a strict Content-Security-Policy (script-src 'self') allows it.
// validatorUrl: null keeps Swagger UI from sending the document to its online validator.
const DOCS_INIT = `window.ui = SwaggerUIBundle({
  url: "openapi.json",
  dom_id: "#swagger-ui",
  validatorUrl: null,
  deepLinking: true,
});
`;

/** The docs page and its assets, mounted at /api/docs next to /api/openapi.json. */
export function swaggerUi(): Router {
  const router = Router({ strict: true });
  router.get("/", (req, res) => {
    // /api/docs/ would resolve the page's relative URLs one level too deep.
    if (req.originalUrl.split("?")[0]!.endsWith("/")) return res.redirect(301, `${req.baseUrl}`);
    res.type("html").send(DOCS_HTML);
  });
  router.get("/init.js", (_req, res) => {
    res.type("js").send(DOCS_INIT);
  });
  for (const file of SWAGGER_FILES) {
    router.get(`/${file}`, (_req, res) => {
      res.sendFile(path.join(swaggerUiDir, file), { maxAge: "1d" });
    });
  }
  return router;
}
