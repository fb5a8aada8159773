import { fileURLToPath } from "node:url";
import { defineConfig } from "vite";

// `npm run web:dev` serves the page with hot reload and forwards the API to `npm start` on port 3000.
const api = "http://localhost:3000";

export default defineConfig({
  root: fileURLToPath(new URL(".", import.meta.url)),
  base: "./", // asset URLs relative to index.html, so a proxy may mount the app under a path
  // esbuild minifies the CSS: lightningcss warns about a vendor rule in todomvc-app-css on every build.
  build: { outDir: "dist", emptyOutDir: true, target: "es2022", cssMinify: "esbuild" },
  server: { proxy: { "/trpc": api, "/dev": api } },
});
