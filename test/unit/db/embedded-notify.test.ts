/** LISTEN/NOTIFY on the embedded database behaves as on PostgreSQL (src/db/embedded-notify.ts). */
import pg from "pg";
import { afterAll, beforeAll, expect, test } from "vitest";
import { startEmbeddedDatabase, type EmbeddedDatabase } from "../../../src/db/embedded.ts";

let embedded: EmbeddedDatabase;
const clients: pg.Client[] = [];
beforeAll(async () => {
  embedded = await startEmbeddedDatabase({ maxConnections: 16 });
});
afterAll(async () => {
  await Promise.all(clients.map((c) => c.end().catch(() => {})));
  await embedded?.close();
});

async function connect() {
  const client = new pg.Client({ connectionString: embedded.url });
  await client.connect();
  clients.push(client);
  const received: string[] = [];
  client.on("notification", (n) => received.push(`${n.channel}:${n.payload}`));
  return { client, received };
}
const settle = () => new Promise((resolve) => setTimeout(resolve, 100));

test("a NOTIFY reaches the connection that listens, not the one that sent it", async () => {
  const a = await connect();
  const b = await connect();
  await a.client.query("LISTEN ch1");
  await b.client.query("SELECT pg_notify('ch1', 'hello')");
  await settle();
  expect(a.received).toEqual(["ch1:hello"]);
  expect(b.received).toEqual([]);
});

test("inside a transaction: delivered at COMMIT, never after ROLLBACK", async () => {
  const a = await connect();
  const b = await connect();
  await a.client.query("LISTEN ch2");
  await b.client.query("BEGIN");
  await b.client.query("NOTIFY ch2, 'rolled back'");
  await b.client.query("ROLLBACK");
  await b.client.query("BEGIN");
  await b.client.query("NOTIFY ch2, 'committed'");
  await settle();
  expect(a.received).toEqual([]);
  await b.client.query("COMMIT");
  await settle();
  expect(a.received).toEqual(["ch2:committed"]);
});

test("every listener gets it; UNLISTEN and a closed socket leave the others listening", async () => {
  const a = await connect();
  const c = await connect();
  const b = await connect();
  await a.client.query("LISTEN ch3");
  await c.client.query('LISTEN "ch3"');
  await b.client.query("NOTIFY ch3, 'both'");
  await settle();
  await a.client.query("UNLISTEN ch3");
  await b.client.query("NOTIFY ch3, 'c only'");
  await settle();
  await a.client.query("LISTEN ch3");
  await a.client.end();
  await b.client.query("NOTIFY ch3, 'after a left'");
  await settle();
  expect(a.received).toEqual(["ch3:both"]);
  expect(c.received).toEqual(["ch3:both", "ch3:c only", "ch3:after a left"]);
  await c.client.query("UNLISTEN *");
  await b.client.query("NOTIFY ch3, 'nobody'");
  await settle();
  expect(c.received).toHaveLength(3);
  expect(b.received).toEqual([]);
});

test("a listener that notifies gets its own notification once; order and large payloads are kept", async () => {
  const a = await connect();
  const b = await connect();
  await a.client.query("LISTEN ch4");
  await a.client.query("NOTIFY ch4, 'self'");
  const big = "x".repeat(7_900);
  for (let i = 0; i < 50; i++) await b.client.query(`SELECT pg_notify('ch4', '${i}')`);
  await b.client.query(`SELECT pg_notify('ch4', '${big}')`);
  await settle();
  expect(a.received).toEqual(["ch4:self", ...Array.from({ length: 50 }, (_, i) => `ch4:${i}`), `ch4:${big}`]);
  expect(b.received).toEqual([]);
});

test("a trigger's NOTIFY inside an INSERT reaches the listener; the writer's answer is intact", async () => {
  const a = await connect();
  const b = await connect();
  await b.client.query(`CREATE TABLE notes (id serial PRIMARY KEY, body text)`);
  await b.client.query(`CREATE FUNCTION notes_notify() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN PERFORM pg_notify('ch5', NEW.body); RETURN NEW; END $$`);
  await b.client.query(
    `CREATE TRIGGER notes_notify AFTER INSERT ON notes FOR EACH ROW EXECUTE FUNCTION notes_notify()`,
  );
  await a.client.query("LISTEN ch5");
  const { rows } = await b.client.query("INSERT INTO notes (body) VALUES ('one'), ('two') RETURNING id, body");
  await settle();
  expect(rows).toEqual([
    { id: 1, body: "one" },
    { id: 2, body: "two" },
  ]);
  expect(a.received).toEqual(["ch5:one", "ch5:two"]);
});
