/** Live updates on the TodoMVC page: two browser contexts of one user stay in sync; another user sees nothing. */
import type { Page } from "playwright-core";
import { describe, expect, test } from "vitest";
import { signToken } from "../../src/auth/tokens.ts";
import { webDistDir } from "../../src/project.ts";
import { TEST_SECRET } from "../support/server.ts";
import {
  add,
  count,
  E2E_ENV,
  edit,
  errorText,
  item,
  newContext,
  open,
  signIn,
  skip,
  SOON,
  titles,
  useBrowser,
} from "./browser.ts";

const harness = useBrowser();
/** The bound: a change made in one context shows in the other within 2 s. */
const LIVE = { timeout: 2_000, interval: 50 };

/** `names` each signed in in a browser context of its own, with their streams open. */
async function signedIn<Names extends string[]>(...names: Names): Promise<{ [K in keyof Names]: Page }> {
  const pages: Page[] = [];
  for (const name of names) {
    const page = await open(await newContext());
    await signIn(page, name);
    pages.push(page);
  }
  await expect.poll(() => harness.server.changes.stats().open, SOON).toBe(names.length);
  return pages as { [K in keyof Names]: Page };
}

/** The parts of an <input> the caret checks read (this file is compiled without the DOM's types). */
interface TextInput {
  selectionStart: number | null;
  setSelectionRange(start: number, end: number): void;
  ownerDocument: { activeElement: unknown };
}

/** The page's storage (this file is compiled without the DOM's types). */
interface PageGlobals {
  localStorage: { getItem(key: string): string | null; setItem(key: string, value: string): void };
}

const completed = (page: Page) => page.locator(".todo-list li.completed label").allTextContents();

describe.skipIf(skip)("live updates in headless Chromium", () => {
  test("adding, completing, editing and deleting in one context shows in the other within 2 s; another user sees none of it", async () => {
    const [laptop, phone, other] = await signedIn("lena", "lena", "otto");

    await add(laptop, "Buy milk");
    await expect.poll(() => titles(phone), LIVE).toEqual(["Buy milk"]);
    await add(phone, "Call mum");
    await expect.poll(() => titles(laptop), LIVE).toEqual(["Call mum", "Buy milk"]);
    await expect.poll(() => count(laptop), LIVE).toBe("2 items left");

    await item(laptop, "Buy milk").locator(".toggle").click();
    await expect.poll(() => completed(phone), LIVE).toEqual(["Buy milk"]);
    await expect.poll(() => count(phone), LIVE).toBe("1 item left");

    await edit(phone, "Call mum", "Call mum back", "Enter");
    await expect.poll(() => titles(laptop), LIVE).toEqual(["Call mum back", "Buy milk"]);

    await item(laptop, "Buy milk").hover();
    await item(laptop, "Buy milk").locator(".destroy").click();
    await expect.poll(() => titles(phone), LIVE).toEqual(["Call mum back"]);
    await expect.poll(() => phone.locator(".clear-completed").isHidden(), LIVE).toBe(true);

    // The other user's own change reaches neither of Lena's pages: her next change is seen, that one never.
    await add(other, "Otto's secret");
    await add(laptop, "After Otto");
    await expect.poll(() => titles(phone), LIVE).toEqual(["After Otto", "Call mum back"]);
    expect(await titles(laptop)).toEqual(["After Otto", "Call mum back"]);

    expect(await titles(other)).toEqual(["Otto's secret"]);
    expect(await count(other)).toBe("1 item left");
    for (const page of [laptop, phone, other]) expect(await errorText(page)).toBe("");
  });

  test("toggle all and clear completed in one context show in the other", async () => {
    const [laptop, phone] = await signedIn("mia", "mia");
    await add(laptop, "One", "Two", "Three");
    await expect.poll(() => titles(phone), LIVE).toEqual(["Three", "Two", "One"]);

    await laptop.locator("label[for=toggle-all]").click();
    await expect.poll(() => completed(phone), LIVE).toEqual(["Three", "Two", "One"]);
    await expect.poll(() => phone.locator(".toggle-all").isChecked(), LIVE).toBe(true);
    expect(await count(phone)).toBe("0 items left");

    await phone.locator("label[for=toggle-all]").click();
    await expect.poll(() => completed(laptop), LIVE).toEqual([]);
    await item(phone, "Two").locator(".toggle").click();
    await expect.poll(() => completed(laptop), LIVE).toEqual(["Two"]);

    await laptop.getByRole("button", { name: "Clear completed" }).click();
    await expect.poll(() => titles(phone), LIVE).toEqual(["Three", "One"]);
    expect(await count(phone)).toBe("2 items left");

    // A filtered view takes in what now matches it and lets go of what no longer does.
    await phone.getByRole("link", { name: "Completed" }).click();
    await expect.poll(() => titles(phone), SOON).toEqual([]);
    await item(laptop, "One").locator(".toggle").click();
    await expect.poll(() => titles(phone), LIVE).toEqual(["One"]);
    await item(laptop, "One").locator(".toggle").click();
    await expect.poll(() => titles(phone), LIVE).toEqual([]);
  });

  test("an edit in progress is not clobbered: the text, caret and focus stay; saving over a newer version is a CONFLICT", async () => {
    const [laptop, phone] = await signedIn("noor", "noor");
    await add(laptop, "Draft", "Other");
    await expect.poll(() => titles(phone), LIVE).toEqual(["Other", "Draft"]);

    await item(phone, "Draft").locator("label").dblclick();
    const input = phone.locator(".todo-list li.editing .edit");
    await input.fill("Draft from the phone");
    await input.evaluate((el) => (el as unknown as TextInput).setSelectionRange(5, 5));

    // Meanwhile the laptop adds a todo, edits another and edits the one being edited.
    await add(laptop, "Newer");
    await edit(laptop, "Other", "Other, edited", "Enter");
    await edit(laptop, "Draft", "Draft from the laptop", "Enter");
    await expect
      .poll(() => phone.locator(".todo-list li:not(.editing) label").allTextContents(), LIVE)
      .toEqual(["Newer", "Other, edited"]);

    expect(await input.inputValue()).toBe("Draft from the phone");
    const caret = (el: unknown) => [
      (el as TextInput).ownerDocument.activeElement === el,
      (el as TextInput).selectionStart,
    ];
    expect(await input.evaluate(caret)).toEqual([true, 5]);
    await input.press("End");
    await input.pressSequentially("!");
    await input.press("Enter");

    // The phone's edit began from the older version: not saved over the laptop's; the page shows the latest.
    await expect.poll(() => errorText(phone), SOON).toMatch(/changed in another tab.*CONFLICT/);
    await expect.poll(() => titles(phone), SOON).toEqual(["Newer", "Other, edited", "Draft from the laptop"]);
    const api = await harness.server.client("noor");
    expect((await api.todo.list.query()).items.map((t) => t.title)).toEqual([
      "Newer",
      "Other, edited",
      "Draft from the laptop",
    ]);

    // Deleted elsewhere while being edited: the edit stays until it ends, then the todo goes.
    await item(phone, "Newer").locator("label").dblclick();
    await item(laptop, "Newer").hover();
    await item(laptop, "Newer").locator(".destroy").click();
    await expect.poll(() => titles(laptop), SOON).toEqual(["Other, edited", "Draft from the laptop"]);
    await expect.poll(() => count(phone), LIVE).toBe("2 items left");
    expect(await phone.locator(".todo-list li.editing .edit").inputValue()).toBe("Newer");
    await phone.locator(".todo-list li.editing .edit").press("Escape");
    await expect.poll(() => titles(phone), LIVE).toEqual(["Other, edited", "Draft from the laptop"]);
  });

  test("a tab refused a stream (TOO_MANY_REQUESTS) works without live updates, and subscribes once a slot frees", async () => {
    const limited = await harness.server.variant({ ...E2E_ENV, SSE_MAX_STREAMS_PER_USER: "1" }, { webDir: webDistDir });
    try {
      const first = await open(await newContext(), "", { at: limited });
      await signIn(first, "pia");
      await expect.poll(() => limited.changes.stats().open, SOON).toBe(1);
      const second = await open(await newContext(), "", { at: limited });
      await signIn(second, "pia");
      await expect.poll(() => limited.changes.stats().refused.user_limit, SOON).toBeGreaterThan(0);

      // Without a stream the second tab still reads and writes; the first hears its write.
      await add(second, "From the second tab");
      await expect.poll(() => titles(first), LIVE).toEqual(["From the second tab"]);
      expect(await errorText(second)).toBe("");

      // The first tab closes: the second's retry (1 s, doubling) takes the slot, refetches and is live from then on.
      await add(first, "From the first tab");
      await first.context().close();
      await expect.poll(() => titles(second), SOON).toEqual(["From the first tab", "From the second tab"]);
      await expect.poll(() => limited.changes.stats().open, SOON).toBe(1);
      await (await limited.client("pia")).todo.create.mutate({ title: "From the API" });
      await expect
        .poll(() => titles(second), LIVE)
        .toEqual(["From the API", "From the first tab", "From the second tab"]);
    } finally {
      await limited.close();
    }
  });

  test("a page whose token expires keeps its stream: the server ends it, the page renews the token and resumes", async () => {
    // No clock tolerance: the stream ends at the token's exp (otherwise AUTH_CLOCK_TOLERANCE_S later).
    const server = await harness.server.variant({ ...E2E_ENV, AUTH_CLOCK_TOLERANCE_S: "0" }, { webDir: webDistDir });
    const context = await newContext();
    try {
      const page = await open(context, "", { at: server });
      // A development session whose token runs out in a few seconds (the sign-in form's tokens last 12 h).
      const short = await signToken(TEST_SECRET, { sub: "quinn", name: "quinn" }, { expiresIn: "4s" });
      await page.evaluate(
        (token) => (globalThis as unknown as PageGlobals).localStorage.setItem("todo-dev-session", token),
        short,
      );
      await page.reload();
      await page.locator(".new-todo").waitFor();
      await expect.poll(() => server.changes.stats().open, SOON).toBe(1);

      // The token expires: the server ends the stream; the reconnect carries a renewed token.
      await expect.poll(() => server.changes.stats().open, { timeout: 10_000, interval: 20 }).toBe(0);
      await (await server.client("quinn")).todo.create.mutate({ title: "While reconnecting" });
      await expect.poll(() => server.changes.stats().open, SOON).toBe(1);
      await expect.poll(() => titles(page), LIVE).toEqual(["While reconnecting"]);
      await (await server.client("quinn")).todo.create.mutate({ title: "Live again" });
      await expect.poll(() => titles(page), LIVE).toEqual(["Live again", "While reconnecting"]);

      expect(await page.locator(".user-name").textContent()).toBe("quinn");
      expect(await errorText(page)).toBe("");
      expect(
        await page.evaluate(() => (globalThis as unknown as PageGlobals).localStorage.getItem("todo-dev-session")),
      ).not.toBe(short);
    } finally {
      // The page first: its stream would otherwise keep reconnecting to a server that is gone.
      await context.close();
      await server.close();
    }
  });

  test("a delete offers Undo for a few seconds: it brings the todo back, here and in the other context", async () => {
    const [laptop, phone] = await signedIn("uma", "uma");
    await add(laptop, "Keep me", "Oops");
    await expect.poll(() => titles(phone), LIVE).toEqual(["Oops", "Keep me"]);

    await item(laptop, "Oops").hover();
    await item(laptop, "Oops").locator(".destroy").click();
    const undo = laptop.locator(".undo");
    await expect.poll(() => undo.isVisible(), SOON).toBe(true);
    expect(await laptop.locator(".undo-text").textContent()).toBe("Deleted “Oops”");
    await expect.poll(() => titles(phone), LIVE).toEqual(["Keep me"]);

    await laptop.getByRole("button", { name: "Undo" }).click();
    await expect.poll(() => titles(laptop), SOON).toEqual(["Oops", "Keep me"]);
    expect(await undo.isVisible()).toBe(false);
    await expect.poll(() => titles(phone), LIVE).toEqual(["Oops", "Keep me"]);
    await expect.poll(() => count(laptop), SOON).toBe("2 items left");
    const stored = await (await harness.server.client("uma")).todo.list.query({});
    expect(stored.items.map((t) => t.title)).toEqual(["Oops", "Keep me"]);

    // Not clicked: it goes away by itself, and the todo stays deleted.
    await item(laptop, "Keep me").hover();
    await item(laptop, "Keep me").locator(".destroy").click();
    await expect.poll(() => undo.isVisible(), SOON).toBe(true);
    await expect.poll(() => undo.isVisible(), { timeout: 10_000, interval: 200 }).toBe(false);
    expect(await titles(laptop)).toEqual(["Oops"]);
    expect(await errorText(laptop)).toBe("");
  });

  test("a page whose stream ends resumes after its last event, on reconnect: what it missed comes as events, no reload", async () => {
    const server = await harness.server.variant({ ...E2E_ENV, SSE_MAX_DURATION_MS: "2000" }, { webDir: webDistDir });
    const context = await newContext();
    try {
      const page = await open(context, "", { at: server });
      await signIn(page, "omar");
      const api = await server.client("omar");
      const before = await api.todo.create.mutate({ title: "Before" });
      await expect.poll(() => titles(page), LIVE).toEqual(["Before"]);

      // The server ends the stream (SSE_MAX_DURATION_MS) and the page cannot reconnect for a while.
      const blocked = await awayFromStream(page, server);
      await api.todo.create.mutate({ title: "While away" });
      await api.todo.update.mutate({ id: before.id, completed: true });
      const calls = procedureCalls(page);
      await blocked.reconnect();
      await expect.poll(() => titles(page), SOON).toEqual(["While away", "Before"]);
      await expect.poll(() => completed(page), SOON).toEqual(["Before"]);
      await expect.poll(() => count(page), SOON).toBe("1 item left");
      // The missed changes came as replayed events on the resumed stream, not as a reload.
      expect(calls).toContain("todo.onChange");
      expect(calls.filter((c) => c === "todo.list")).toEqual([]);
      expect(server.changes.stats().sent.changed).toBe(0);
    } finally {
      await context.close();
      await server.close();
    }
  });

  test("told `changed` (its position is past CHANGE_RETENTION_MS), a page asks todo.sync, then reloads the list", async () => {
    const server = await harness.server.variant(
      { ...E2E_ENV, CHANGE_RETENTION_MS: "1000", SSE_MAX_DURATION_MS: "2000" },
      { webDir: webDistDir },
    );
    const context = await newContext();
    try {
      const page = await open(context, "", { at: server });
      await signIn(page, "rosa");
      const api = await server.client("rosa");
      const kept = await api.todo.create.mutate({ title: "Kept" });
      const gone = await api.todo.create.mutate({ title: "Gone" });
      await expect.poll(() => titles(page), LIVE).toEqual(["Gone", "Kept"]);

      const blocked = await awayFromStream(page, server);
      await api.todo.delete.mutate({ id: gone.id });
      await api.todo.update.mutate({ id: kept.id, completed: true });
      await api.todo.create.mutate({ title: "New" });
      // Longer than retention: the page's last event id has expired.
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      const calls = procedureCalls(page);
      await blocked.reconnect();
      await expect.poll(() => titles(page), SOON).toEqual(["New", "Kept"]);
      await expect.poll(() => completed(page), SOON).toEqual(["Kept"]);
      expect(server.changes.stats().sent.changed).toBeGreaterThan(0);
      // Asked todo.sync from its last position (too old: PRECONDITION_FAILED), then reloaded the list.
      expect(calls).toContain("todo.sync");
      expect(calls.indexOf("todo.list")).toBeGreaterThan(calls.indexOf("todo.sync"));
      expect(await errorText(page)).toBe("");
    } finally {
      await context.close();
      await server.close();
    }
  });
});

/**
 * Waits for the server to end the page's stream (its SSE_MAX_DURATION_MS) while refusing its reconnects, as an
 * unreachable network would; `reconnect()` lets them through again.
 */
async function awayFromStream(page: Page, server: { changes: { stats(): { open: number } } }) {
  const isStream = (url: URL) => url.pathname.endsWith("/trpc/todo.onChange");
  await page.route(isStream, (route) => route.abort());
  await expect.poll(() => server.changes.stats().open, SOON).toBe(0);
  return { reconnect: () => page.unroute(isStream) };
}

/** The tRPC procedures the page calls from now on, batched or not, in order. */
function procedureCalls(page: Page): string[] {
  const calls: string[] = [];
  page.on("request", (request) => {
    const path = new URL(request.url()).pathname;
    const at = path.indexOf("/trpc/");
    if (at !== -1) calls.push(...path.slice(at + "/trpc/".length).split(","));
  });
  return calls;
}
