/**
 * What each benchmarked operation sends: the same HTTP requests go to the API and to the baseline, as a
 * tRPC client without batching would send them (superjson envelope `{"json": …}`).
 */
export const OPERATIONS = ["byId", "list", "create", "createKeyed", "update", "mixed"] as const;
export type Operation = (typeof OPERATIONS)[number];

/** The seeded data the requests refer to. */
export interface WorkloadData {
  /** Token of the user who owns the seeded todos (list, byId and update act on them). */
  readerToken: string;
  /** Token of the user whose todos are created, so the reader's list stays at its seeded size. */
  writerToken: string;
  /** Ids of the reader's todos. */
  ids: string[];
}

export interface HttpRequest {
  method: "GET" | "POST";
  path: string;
  headers: Record<string, string>;
  body?: string;
}

const query = (procedure: string, input: unknown) =>
  `/trpc/${procedure}?input=${encodeURIComponent(JSON.stringify({ json: input }))}`;

/** Returns a function that builds the next request of an operation; `random` is injectable for tests. */
export function requestFactory(
  op: Operation,
  data: WorkloadData,
  random: () => number = Math.random,
): () => HttpRequest {
  const reader = { authorization: `Bearer ${data.readerToken}` };
  const readerJson = { ...reader, "content-type": "application/json" };
  const writerJson = { authorization: `Bearer ${data.writerToken}`, "content-type": "application/json" };
  const byIdPaths = data.ids.map((id) => query("todo.byId", { id }));
  const listPath = query("todo.list", {}); // the defaults: the first page of 20, newest first
  const pick = <T>(list: T[]) => list[Math.floor(random() * list.length)]!;
  let n = 0;
  // Keys of this run only: a key sent again would be a replay, not a create.
  const run = Math.floor(random() * 2 ** 48).toString(36);

  const builders: Record<Exclude<Operation, "mixed">, () => HttpRequest> = {
    byId: () => ({ method: "GET", path: pick(byIdPaths), headers: reader }),
    list: () => ({ method: "GET", path: listPath, headers: reader }),
    create: () => ({
      method: "POST",
      path: "/trpc/todo.create",
      headers: writerJson,
      body: JSON.stringify({ json: { title: `Bench todo ${++n}` } }),
    }),
    // As the page sends every create: with an Idempotency-Key (the baseline ignores the header).
    createKeyed: () => ({
      method: "POST",
      path: "/trpc/todo.create",
      headers: { ...writerJson, "idempotency-key": `bench-${run}-${++n}` },
      body: JSON.stringify({ json: { title: `Bench todo ${n}` } }),
    }),
    // No expectedVersion: a blind write, the same in the baseline.
    update: () => ({
      method: "POST",
      path: "/trpc/todo.update",
      headers: readerJson,
      body: JSON.stringify({ json: { id: pick(data.ids), title: `Updated ${++n}` } }),
    }),
  };
  if (op !== "mixed") return builders[op];
  // 80 % reads, 20 % writes.
  return () => {
    const r = random();
    if (r < 0.4) return builders.byId();
    if (r < 0.8) return builders.list();
    if (r < 0.9) return builders.create();
    return builders.update();
  };
}
