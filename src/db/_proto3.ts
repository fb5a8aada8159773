import { deployMigrations } from "./migrations.ts";
const t = Date.now();
const r = await deployMigrations(process.env.DIRECT_URL!);
console.log(r, Date.now() - t);
const origST = setTimeout;
console.log(process.getActiveResourcesInfo());
