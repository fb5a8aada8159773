/** README.md is the front door (at most 300 lines); every relative link in it and in docs/ leads somewhere. */
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { expect, test } from "vitest";
import { projectRoot } from "../../src/project.ts";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { RequestPath } from "../../tools/request-path.ts";

const pages = [
  "README.md",
  "bench/README.md",
  ...readdirSync(path.join(projectRoot, "docs"))
    .filter((f) => f.endsWith(".md"))
    .map((f) => `docs/${f}`),
];
const read = (file: string) => readFileSync(path.join(projectRoot, file), "utf8");
// Links and headings inside code blocks are not Markdown.
const prose = (text: string) => text.replace(/```[\s\S]*?```/g, "");

/** GitHub's heading anchors: lower case, punctuation dropped, spaces as hyphens, repeats numbered. */
function anchors(file: string): Set<string> {
  const seen = new Map<string, number>();
  const out = new Set<string>();
  for (const [, heading] of prose(read(file)).matchAll(/^#{1,6} (.+)$/gm)) {
    const slug = heading!
      .trim()
      .toLowerCase()
      .replace(/[^\p{L}\p{N} _-]/gu, "")
      .replace(/ /g, "-");
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    out.add(n ? `${slug}-${n}` : slug);
  }
  return out;
}

test("README.md stays a front door: at most 300 lines", () => {
  expect(read("README.md").split("\n").length - 1).toBeLessThanOrEqual(300);
});

test.each(pages)("every relative link in %s resolves", (page) => {
  const broken: string[] = [];
  for (const [, target] of prose(read(page)).matchAll(/\]\(([^)\s]+)\)/g)) {
    if (/^[a-z]+:/.test(target!)) continue;
    const [file, fragment] = target!.split("#");
    const resolved = file
      ? path.relative(projectRoot, path.resolve(path.dirname(path.join(projectRoot, page)), file))
      : page;
    if (!existsSync(path.join(projectRoot, resolved))) broken.push(`${target}: no such file`);
    else if (fragment && resolved.endsWith(".md") && !anchors(resolved).has(fragment))
      broken.push(`${target}: no heading #${fragment}`);
  }
  expect(broken).toEqual([]);
});

test("the README lists exactly the files of src/ a todo.create runs code in (tools/request-path.ts measures them)", async () => {
  const section = read("README.md")
    .split(/^## /m)
    .find((part) => part.startsWith("Architecture"))!;
  const listed = [...section.matchAll(/^\d+\. `src\/([^`]+)`/gm)].map((match) => match[1]!).sort();
  const stated = Number(/The (\d+) files of `src\/` a `todo\.create` runs code in/.exec(section)?.[1]);
  const notifyLine = /^The commit's NOTIFY then runs[\s\S]*?\n\n/m.exec(section)?.[0] ?? "";
  const notified = [...notifyLine.matchAll(/`src\/([^`]+\.ts)`/g)].map((match) => match[1]!).sort();
  // In a process of its own: inside vitest every export is a getter, and reading a constant would count its file.
  const tsx = path.join(projectRoot, "node_modules/.bin/tsx");
  const { DATABASE_URL: _ignored, ...env } = process.env;
  const { stdout } = await promisify(execFile)(tsx, ["tools/request-path.ts", "create", "--json"], {
    cwd: projectRoot,
    env,
  });
  const measured = JSON.parse(stdout.trim().split("\n").at(-1)!) as RequestPath;
  expect(stated).toBe(listed.length);
  expect(listed).toEqual(measured.request);
  expect(notified).toEqual(measured.notify);
}, 60_000);
