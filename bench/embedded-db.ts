/**
 * Helper process for the "embedded" configuration: PGlite served over the PostgreSQL protocol, migrated,
 * its URL printed as one JSON line on stdout. The production server refuses to start without
 * DATABASE_URL, so the harness runs the embedded database here and hands the server its URL.
 * Runs until SIGTERM.
 */
import { startEmbeddedDatabase } from "../src/db/embedded.ts";
import { deployMigrations } from "../src/db/migrations.ts";

const db = await startEmbeddedDatabase({ maxConnections: 64 }); // in memory: nothing left behind
await deployMigrations(db.url);
console.log(JSON.stringify({ url: db.url }));

const stop = () => void db.close().then(() => process.exit(0));
process.on("SIGTERM", stop).on("SIGINT", stop);
