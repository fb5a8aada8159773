// ESLint with typescript-eslint's type-aware rules (npm run lint). Formatting is Prettier's, layering
// dependency-cruiser's (.dependency-cruiser.cjs): this file only holds what those two cannot see.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  {
    ignores: ["src/generated/**", "dist/**", "web/dist/**", "bench/results/**", "coverage/**", "**/*.cjs", "**/*.mjs"],
  },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // `_`-prefixed names are deliberately unused (destructuring a value away, a required parameter).
      "@typescript-eslint/no-unused-vars": [
        "error",
        { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrors: "none" },
      ],
      // Express handlers and event listeners take async functions by design; their rejections are handled inside.
      "@typescript-eslint/no-misused-promises": ["error", { checksVoidReturn: false }],
      // Our interfaces declare as methods what closures implement (no `this`), so passing them on is safe.
      "@typescript-eslint/unbound-method": "off",
      // A URLSearchParams in a URL template is its query string.
      "@typescript-eslint/restrict-template-expressions": [
        "error",
        { allowNumber: true, allow: [{ from: "lib", name: "URLSearchParams" }] },
      ],
      // Rethrowing what a catch or a settled task caught is normal; new errors are still Errors.
      "@typescript-eslint/only-throw-error": ["error", { allowThrowingUnknown: true, allowThrowingAny: true }],
    },
  },
  {
    // Tests read answers as JSON (any) on purpose: their assertions are what checks the shape.
    files: ["test/**/*.ts"],
    rules: {
      "@typescript-eslint/no-unsafe-member-access": "off",
      "@typescript-eslint/no-unsafe-assignment": "off",
      "@typescript-eslint/no-unsafe-return": "off",
      "@typescript-eslint/no-unsafe-argument": "off",
      "@typescript-eslint/no-unsafe-call": "off",
      "@typescript-eslint/no-explicit-any": "off",
      // Invalid inputs are cast on purpose, and the rule misreads some of those casts as no-ops.
      "@typescript-eslint/no-unnecessary-type-assertion": "off",
      // Query strings built in place.
      "@typescript-eslint/restrict-template-expressions": "off",
      // A fake server or client implements an async interface without awaiting anything.
      "@typescript-eslint/require-await": "off",
    },
  },
  {
    files: ["eslint.config.js"],
    extends: [tseslint.configs.disableTypeChecked],
  },
);
