/** npm run web:build: builds the TodoMVC page into web/dist (npm start does it too, when its sources changed). */
import { buildWeb } from "../web/build.ts";

await buildWeb({ force: true });
console.log("TodoMVC page built into web/dist");
