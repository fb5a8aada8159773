/** The TodoMVC page in headless Chromium, against a real API. */
import { mkdir, readFile } from "node:fs/promises";
import path from "node:path";
import { describe, expect, test } from "vitest";
import { projectRoot } from "../../src/project.ts";
import {
  add,
  count,
  edit,
  errorText,
  item,
  LAN_HOST,
  newContext,
  open,
  signIn,
  skip,
  SOON,
  titles,
  useBrowser,
  watchErrors,
} from "./browser.ts";

const SCREENSHOT = path.join(projectRoot, "test-results", "todomvc.png");
const harness = useBrowser();

describe.skipIf(skip)("TodoMVC page in headless Chromium", () => {
  test("the whole TodoMVC flow: add, complete, filter, edit, delete, toggle all, clear completed, counts", async () => {
    const page = await open(await newContext());
    await signIn(page, "alice");
    expect(await page.locator(".main").isHidden()).toBe(true);

    await add(page, "Buy milk", "Walk the dog", "Read a book");
    expect(await titles(page)).toEqual(["Read a book", "Walk the dog", "Buy milk"]); // newest first
    expect(await count(page)).toBe("3 items left");

    await item(page, "Walk the dog").locator(".toggle").click();
    await expect.poll(() => count(page), SOON).toBe("2 items left");
    expect(await item(page, "Walk the dog").getAttribute("class")).toContain("completed");
    expect(await page.locator(".clear-completed").isVisible()).toBe(true);

    await page.getByRole("link", { name: "Active" }).click();
    await expect.poll(() => titles(page), SOON).toEqual(["Read a book", "Buy milk"]);
    expect(new URL(page.url()).hash).toBe("#/active");
    expect(await page.locator(".filters a.selected").textContent()).toBe("Active");
    await page.getByRole("link", { name: "Completed" }).click();
    await expect.poll(() => titles(page), SOON).toEqual(["Walk the dog"]);
    await page.getByRole("link", { name: "All" }).click();
    await expect.poll(() => titles(page), SOON).toEqual(["Read a book", "Walk the dog", "Buy milk"]);

    await edit(page, "Buy milk", "  Buy oat milk ", "Enter");
    await expect.poll(() => titles(page), SOON).toEqual(["Read a book", "Walk the dog", "Buy oat milk"]);
    await edit(page, "Read a book", "Read nothing", "Escape");
    expect(await titles(page)).toEqual(["Read a book", "Walk the dog", "Buy oat milk"]);

    // The state lives on the server: a reload shows the same list, still signed in, on the same filter.
    await page.goto(`${harness.server.url}/#/completed`);
    await expect.poll(() => titles(page), SOON).toEqual(["Walk the dog"]);
    await page.getByRole("link", { name: "All" }).click();
    await expect.poll(() => titles(page), SOON).toEqual(["Read a book", "Walk the dog", "Buy oat milk"]);

    await mkdir(path.dirname(SCREENSHOT), { recursive: true });
    await page.mouse.move(0, 0); // no hover effects in the picture
    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    expect((await readFile(SCREENSHOT)).subarray(1, 4).toString()).toBe("PNG");

    await item(page, "Read a book").hover();
    await item(page, "Read a book").locator(".destroy").click();
    await expect.poll(() => titles(page), SOON).toEqual(["Walk the dog", "Buy oat milk"]);
    expect(await count(page)).toBe("1 item left");

    // Emptying a title deletes the todo, as in TodoMVC.
    await add(page, "Temporary");
    await edit(page, "Temporary", "   ", "Enter");
    await expect.poll(() => titles(page), SOON).toEqual(["Walk the dog", "Buy oat milk"]);

    await page.locator("label[for=toggle-all]").click();
    await expect.poll(() => count(page), SOON).toBe("0 items left");
    expect(await page.locator(".todo-list li.completed").count()).toBe(2);
    expect(await page.locator(".toggle-all").isChecked()).toBe(true);
    await page.locator("label[for=toggle-all]").click();
    await expect.poll(() => count(page), SOON).toBe("2 items left");
    expect(await page.locator(".todo-list li.completed").count()).toBe(0);

    await item(page, "Buy oat milk").locator(".toggle").click();
    await expect.poll(() => count(page), SOON).toBe("1 item left");
    await page.getByRole("button", { name: "Clear completed" }).click();
    await expect.poll(() => titles(page), SOON).toEqual(["Walk the dog"]);
    // The list can follow the live `deleted` events before the counts are refetched, which hide the button.
    await expect.poll(() => page.locator(".clear-completed").isHidden(), SOON).toBe(true);

    const api = await harness.server.client("alice");
    expect((await api.todo.list.query()).items.map((t) => [t.title, t.completed])).toEqual([["Walk the dog", false]]);
    expect(await api.todo.stats.query()).toMatchObject({ total: 1, active: 1, completed: 0 });
    expect(await errorText(page)).toBe("");
  });

  test("two users in two browser contexts see only their own todos", async () => {
    const [ann, ben] = [await open(await newContext()), await open(await newContext())];
    await signIn(ann, "ann");
    await signIn(ben, "ben");
    await add(ann, "Ann's secret", "Ann's chore");
    await add(ben, "Ben's plan");

    for (const page of [ann, ben]) await page.reload();
    await expect.poll(() => titles(ann), SOON).toEqual(["Ann's chore", "Ann's secret"]);
    await expect.poll(() => titles(ben), SOON).toEqual(["Ben's plan"]);
    expect(await count(ann)).toBe("2 items left");
    expect(await count(ben)).toBe("1 item left");

    // Ben toggling all and clearing completed touches none of Ann's todos.
    await ben.locator("label[for=toggle-all]").click();
    await expect.poll(() => count(ben), SOON).toBe("0 items left");
    await ben.getByRole("button", { name: "Clear completed" }).click();
    await expect.poll(() => ben.locator(".footer").isHidden(), SOON).toBe(true);
    await ann.reload();
    await expect.poll(() => titles(ann), SOON).toEqual(["Ann's chore", "Ann's secret"]);
    expect(await count(ann)).toBe("2 items left");
  });

  test("a tab without live updates learns of a change made in another tab as a CONFLICT, then shows the latest version", async () => {
    const context = await newContext();
    const first = await open(context, "", { live: false });
    await signIn(first, "carol");
    await add(first, "Draft");
    // The second tab shares the profile's development session.
    const second = await open(context);
    await expect.poll(() => titles(second), SOON).toEqual(["Draft"]);

    await edit(second, "Draft", "Draft from tab 2", "Enter");
    await expect.poll(() => titles(second), SOON).toEqual(["Draft from tab 2"]);

    await edit(first, "Draft", "Draft from tab 1", "Enter");
    await expect.poll(() => errorText(first), SOON).toMatch(/changed in another tab.*CONFLICT/);
    await expect.poll(() => titles(first), SOON).toEqual(["Draft from tab 2"]);

    const api = await harness.server.client("carol");
    expect((await api.todo.list.query()).items.map((t) => t.title)).toEqual(["Draft from tab 2"]);

    // Deleted elsewhere: completing it says so.
    await second.locator(".todo-list li").hover();
    await second.locator(".todo-list li .destroy").click();
    await expect.poll(() => titles(second), SOON).toEqual([]);
    await first.locator(".todo-list li .toggle").click();
    await expect.poll(() => errorText(first), SOON).toMatch(/deleted in another tab.*NOT_FOUND/);
    await first.getByRole("button", { name: "Dismiss error" }).click();
    expect(await first.locator(".error").isHidden()).toBe(true);
    await expect.poll(() => titles(first), SOON).toEqual([]);

    // Deleting what another client already deleted: said so, and gone from the list.
    await add(first, "Gone soon");
    const [gone] = (await api.todo.list.query()).items;
    await api.todo.delete.mutate({ id: gone!.id });
    await item(first, "Gone soon").hover();
    await item(first, "Gone soon").locator(".destroy").click();
    await expect.poll(() => errorText(first), SOON).toMatch(/already deleted in another tab.*NOT_FOUND/);
    expect(await titles(first)).toEqual([]);
  });

  test("more than 20 todos come in pages of 20", async () => {
    const api = await harness.server.client("dave");
    const created = await Promise.all(
      Array.from({ length: 45 }, (_, i) => api.todo.create.mutate({ title: `Todo ${i + 1}` })),
    );
    const page = await open(await newContext());
    await signIn(page, "dave");

    await expect.poll(() => page.locator(".todo-list li").count(), SOON).toBe(20);
    expect(await count(page)).toBe("45 items left");
    await page.getByRole("button", { name: "Show more" }).click();
    await expect.poll(() => page.locator(".todo-list li").count(), SOON).toBe(40);
    await page.getByRole("button", { name: "Show more" }).click();
    await expect.poll(() => page.locator(".todo-list li").count(), SOON).toBe(45);
    expect(await page.getByRole("button", { name: "Show more" }).isHidden()).toBe(true);
    expect((await titles(page)).sort()).toEqual(created.map((t) => t.title).sort());

    // Filters page too: 30 active after completing 15 through the API.
    await api.todo.toggleAll.mutate({ completed: true });
    await Promise.all(created.slice(0, 30).map((t) => api.todo.update.mutate({ id: t.id, completed: false })));
    await page.getByRole("link", { name: "Active" }).click();
    // The count follows live updates whatever the filter: wait for the active list itself.
    const shown = async () => [
      await page.locator(".todo-list li").count(),
      await page.locator(".todo-list li.completed").count(),
    ];
    await expect.poll(shown, SOON).toEqual([20, 0]);
    expect(await count(page)).toBe("30 items left");
    await page.getByRole("button", { name: "Show more" }).click();
    await expect.poll(() => page.locator(".todo-list li").count(), SOON).toBe(30);
    expect(await page.locator(".todo-list li.completed").count()).toBe(0);
  });

  test("the host application supplies the token: on the page's window, or on the parent of a same-origin iframe", async () => {
    // The recipe in docs/page.md: the host sets todoApiToken on its own window and embeds the page.
    const token = await harness.server.token("erin", { name: "Erin" });
    const embedding = await newContext();
    await embedding.route(`${harness.server.url}/host.html`, (route) =>
      route.fulfill({
        contentType: "text/html",
        body: `<!doctype html><title>Host</title><script>window.todoApiToken = async () => ${JSON.stringify(token)};</script><iframe src="/" width="700" height="700"></iframe>`,
      }),
    );
    const host = await open(embedding, "host.html");
    const frame = host.frameLocator("iframe");
    await frame.locator(".new-todo").waitFor();
    expect(await frame.locator(".user-name").textContent()).toBe("Erin");
    expect(await frame.locator(".signin").isHidden()).toBe(true);
    expect(await frame.locator(".signout").isHidden()).toBe(true); // the host owns the session
    await frame.locator(".new-todo").fill("From the host");
    await frame.locator(".new-todo").press("Enter");
    await expect.poll(() => frame.locator(".todo-list li label").allTextContents(), SOON).toEqual(["From the host"]);

    const direct = await newContext();
    await direct.addInitScript(`window.todoApiToken = ${JSON.stringify(token)};`);
    const page = await open(direct);
    await expect.poll(() => titles(page), SOON).toEqual(["From the host"]);
    expect(await page.locator(".user-name").textContent()).toBe("Erin");
  });

  test("works over plain HTTP under a host name other than localhost (npm start listens on 0.0.0.0)", async () => {
    // E.g. no Content-Security-Policy upgrade-insecure-requests: it would send the assets to https:// and lose them.
    const page = watchErrors(await (await newContext()).newPage());
    const failed: string[] = [];
    page.on("requestfailed", (request) => failed.push(`${request.url()}: ${request.failure()?.errorText}`));
    await page.goto(harness.server.url.replace("127.0.0.1", LAN_HOST));
    expect(failed).toEqual([]); // the page's script and stylesheet arrived
    await signIn(page, "frank");
    await add(page, "Over plain HTTP");
    expect(failed).toEqual([]);
  });

  test("a create whose answer is lost is retried with the same Idempotency-Key: one todo", async () => {
    const page = await open(await newContext());
    await signIn(page, "grace");
    const keys: string[] = [];
    let dropped = false;
    await page.route("**/trpc/todo.create*", async (route) => {
      keys.push(route.request().headers()["idempotency-key"] ?? "");
      if (dropped) return route.continue();
      // The server gets the request and commits; the page never sees the answer.
      dropped = true;
      await route.fetch();
      await route.abort("connectionreset");
    });
    await add(page, "Written once");
    // The todo may show (its live event) before the retry's answer: wait for that answer to clear the field.
    await expect.poll(() => keys.length, SOON).toBe(2);
    await expect.poll(() => page.locator(".new-todo").inputValue(), SOON).toBe("");
    expect(keys[0]).toMatch(/^[0-9a-f-]{32,36}$/);
    expect(keys[1]).toBe(keys[0]);
    expect(await harness.server.database.prisma.todo.count({ where: { userId: "grace", title: "Written once" } })).toBe(
      1,
    );
    expect(await titles(page)).toEqual(["Written once"]);

    // A double Enter sends the same key twice: one todo, listed once.
    await page.unroute("**/trpc/todo.create*");
    await page.locator(".new-todo").fill("Double Enter");
    await page.locator(".new-todo").press("Enter");
    await page.locator(".new-todo").press("Enter");
    await expect.poll(() => titles(page), SOON).toEqual(["Double Enter", "Written once"]);
    await expect.poll(() => page.locator(".new-todo").inputValue(), SOON).toBe("");
    expect(await harness.server.database.prisma.todo.count({ where: { userId: "grace", title: "Double Enter" } })).toBe(
      1,
    );
    // A new title is a new key.
    await add(page, "Double Enter");
    expect(await harness.server.database.prisma.todo.count({ where: { userId: "grace", title: "Double Enter" } })).toBe(
      2,
    );
  });

  test("an invalid user name is refused with the server's reason", async () => {
    const page = await open(await newContext());
    await page.getByLabel("Sign in with a user name").fill("   ");
    await page.getByRole("button", { name: "Sign in" }).click();
    await expect.poll(() => errorText(page), SOON).toMatch(/name: must not be empty/);
    expect(await page.locator(".new-todo").isHidden()).toBe(true);
  });
});
