import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { liveClient, subscribe } from "../support/live.ts";
import { startTestServer, type TestServer } from "../support/server.ts";

let api: TestServer;
beforeAll(async () => {
  api = await startTestServer();
});
afterAll(() => api?.close());

describe("todo.onChange", () => {
  it("streams the caller's changes", async () => {
    const alice = liveClient(api.trpcUrl, `Bearer ${await api.token("alice")}`);
    const sub = subscribe(alice);
    await sub.started;
    const todo = await alice.todo.create.mutate({ title: "one" });
    await alice.todo.update.mutate({ id: todo.id, completed: true });
    await alice.todo.delete.mutate({ id: todo.id });
    const events = await sub.waitFor(3);
    console.log(JSON.stringify(events));
    sub.unsubscribe();
  });
});
