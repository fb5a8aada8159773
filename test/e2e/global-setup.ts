/** The browser tests need the page: build web/dist once per run (a no-op when it was built from the same sources). */
import { buildWeb } from "../../web/build.ts";

export default async function setup() {
  await buildWeb();
}
