/** Shared set-up of the browser tests: headless Chromium (Debian's package, driven by playwright-core) and a real API. */
import { existsSync } from "node:fs";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { afterAll, afterEach, beforeAll, expect } from "vitest";
import { webDistDir } from "../../src/project.ts";
import { startTestServer, type TestServer } from "../support/server.ts";

const CHROMIUM = "/usr/bin/chromium";
export const LAN_HOST = "todo.test";
// Without the background-networking flags Chromium keeps dialling out, and a closed network refuses it.
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  // A host name that is not localhost, still on loopback: browsers treat such origins as insecure over HTTP.
  `--host-resolver-rules=MAP ${LAN_HOST} 127.0.0.1`,
];

/**
 * As `npm start` without AUTH_SECRET (the development secret, so the page's sign-in exists); LAN_HOST passes the
 * development Host check. A variant of the file's server needs it too.
 */
export const E2E_ENV = { AUTH_SECRET: "", ALLOWED_HOSTS: LAN_HOST };

const hasBrowser = existsSync(CHROMIUM);
const required = process.env.REQUIRE_BROWSER === "1";
export const skip = !hasBrowser && !required;
if (skip)
  console.warn(
    `Browser tests skipped: ${CHROMIUM} is missing (apt-get install -y chromium). REQUIRE_BROWSER=1 makes this an error.`,
  );

export const SOON = { timeout: 15_000, interval: 100 };

let server: TestServer;
let browser: Browser;
const contexts: BrowserContext[] = [];
const pageErrors: string[] = [];

/** Starts the API (serving the built page) and Chromium for the calling test file; returns that API. */
export function useBrowser(): { readonly server: TestServer } {
  beforeAll(async () => {
    if (skip) return;
    if (!hasBrowser) throw new Error(`REQUIRE_BROWSER=1 but ${CHROMIUM} is missing: apt-get install -y chromium`);
    server = await startTestServer(E2E_ENV, undefined, { webDir: webDistDir });
    // Each launch runs on a fresh temporary profile that Playwright deletes on close.
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  });

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  afterEach(async () => {
    await Promise.all(contexts.splice(0).map((context) => context.close()));
    // An uncaught exception in the page fails the test that caused it.
    expect(pageErrors.splice(0)).toEqual([]);
  });
  return {
    get server() {
      return server;
    },
  };
}

/** Fails the running test on an uncaught exception in this page. */
export function watchErrors(page: Page): Page {
  page.on("pageerror", (error) => pageErrors.push(error.message));
  return page;
}

/** A new browser profile (its own storage, so its own user). */
export async function newContext(): Promise<BrowserContext> {
  const context = await browser.newContext({ viewport: { width: 800, height: 900 } });
  contexts.push(context);
  return context;
}

/**
 * Opens the page (of `at`, the file's server by default); `live: false` blocks its todo.onChange stream, as a proxy
 * that cuts server-sent events would.
 */
export async function open(context: BrowserContext, hash = "", { live = true, at = server } = {}): Promise<Page> {
  const page = watchErrors(await context.newPage());
  if (!live)
    await page.route(
      (url) => url.pathname.endsWith("/trpc/todo.onChange"),
      (route) => route.abort(),
    );
  await page.goto(`${at.url}/${hash}`);
  return page;
}

export async function signIn(page: Page, name: string) {
  await page.getByLabel("Sign in with a user name").fill(name);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.locator(".new-todo").waitFor();
  expect(await page.locator(".user-name").textContent()).toBe(name);
}

export async function add(page: Page, ...titles: string[]) {
  for (const title of titles) {
    const before = await page.locator(".todo-list li").count();
    await page.locator(".new-todo").fill(title);
    await page.locator(".new-todo").press("Enter");
    await expect.poll(() => page.locator(".todo-list li").count(), SOON).toBe(before + 1);
  }
}

export const titles = (page: Page) => page.locator(".todo-list li label").allTextContents();
export const count = (page: Page) => page.locator(".todo-count").textContent();
export const item = (page: Page, title: string) =>
  page.locator(".todo-list li").filter({ has: page.getByText(title, { exact: true }) });
/** The error banner's text, "" while it is hidden. */
export const errorText = async (page: Page) =>
  (await page.locator(".error").isVisible()) ? await page.locator(".error-text").textContent() : "";

export async function edit(page: Page, from: string, to: string, key: "Enter" | "Escape") {
  await item(page, from).locator("label").dblclick();
  const input = page.locator(".todo-list li.editing .edit");
  await input.fill(to);
  await input.press(key);
  await page.locator(".todo-list li.editing").waitFor({ state: "detached" });
}
