/**
 * npm run web:build: builds the TodoMVC page into web/dist when its sources changed (`--force`: always).
 * `npm start` runs it with `--optional` first: a failed build is then a warning, and the API serves without the page.
 */
import { parseArgs } from "node:util";
import { buildWeb } from "../web/build.ts";

const { values } = parseArgs({ options: { force: { type: "boolean" }, optional: { type: "boolean" } } });
try {
  if ((await buildWeb({ force: values.force })) === "built") console.log("TodoMVC page built into web/dist");
} catch (error) {
  if (!values.optional) throw error;
  console.warn(`The TodoMVC page could not be built (npm run web:build shows why): ${(error as Error).message}`);
}
