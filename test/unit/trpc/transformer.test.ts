/** src/trpc/transformer.ts against superjson: the same bytes for every generated value, plain or not. */
import fc from "fast-check";
import superjson from "superjson";
import { expect, test } from "vitest";
import { serialize } from "../../../src/trpc/transformer.ts";

/** The bytes, or the error when superjson refuses the value (a `__proto__` key): both must agree. */
const outcome = (run: () => unknown) => {
  try {
    return JSON.stringify(run());
  } catch (error) {
    return `threw ${(error as Error).message}`;
  }
};
const same = (value: unknown) =>
  expect(outcome(() => serialize(value))).toBe(outcome(() => superjson.serialize(value)));

const key = fc.oneof(
  { weight: 6, arbitrary: fc.string({ maxLength: 8 }) },
  {
    weight: 1,
    arbitrary: fc.constantFrom("a.b", "a\\b", "__proto__", "constructor", "prototype", "", "0", "json", "meta"),
  },
);
const date = fc.oneof(
  { weight: 8, arbitrary: fc.date({ noInvalidDate: true }) },
  { weight: 1, arbitrary: fc.constant(new Date(Number.NaN)) },
);
const leaf = fc.oneof(
  { weight: 4, arbitrary: fc.string() },
  { weight: 3, arbitrary: fc.double() },
  { weight: 2, arbitrary: fc.integer() },
  { weight: 2, arbitrary: fc.boolean() },
  { weight: 2, arbitrary: fc.constant(null) },
  { weight: 4, arbitrary: date },
  {
    weight: 1,
    arbitrary: fc.constantFrom(
      undefined,
      -0,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      10n,
      new Map([[1, 2]]),
      new Set([1]),
      /x/g,
    ),
  },
);
const { value } = fc.letrec((tie) => ({
  value: fc.oneof({ depthSize: "small" }, leaf, tie("array"), tie("object")),
  array: fc.array(tie("value"), { maxLength: 5 }),
  object: fc.dictionary(key, tie("value"), { maxKeys: 5 }),
}));

const todo = fc.record({
  id: fc.uuid(),
  userId: fc.string({ minLength: 1 }),
  title: fc.string(),
  description: fc.option(fc.string(), { nil: null }),
  completed: fc.boolean(),
  priority: fc.constantFrom("LOW", "MEDIUM", "HIGH"),
  dueAt: fc.option(fc.date({ noInvalidDate: true }), { nil: null }),
  completedAt: fc.option(fc.date({ noInvalidDate: true }), { nil: null }),
  version: fc.integer({ min: 1 }),
  createdAt: fc.date({ noInvalidDate: true }),
  updatedAt: fc.date({ noInvalidDate: true }),
});

test("results the procedures return: todos, pages, counts", () => {
  fc.assert(
    fc.property(
      todo,
      fc.array(todo, { maxLength: 25 }),
      fc.option(fc.base64String(), { nil: null }),
      (one, items, nextCursor) => {
        same(one);
        same({ items, nextCursor });
        same({ count: items.length });
      },
    ),
    { seed: 20261202, numRuns: 300 },
  );
});

test("any value, plain or not: the same bytes (not plain ones are superjson's own)", () => {
  fc.assert(
    fc.property(value, (v) => {
      same(v);
    }),
    { seed: 20261202, numRuns: 10_000 },
  );
});

test("shared references, sparse arrays, class instances and roots that are not objects", () => {
  const shared = { at: new Date(0) };
  const sparse: unknown[] = [1];
  sparse[3] = 2;
  class Point {
    x = 1;
  }
  for (const v of [
    { a: shared, b: shared },
    [shared, shared],
    sparse,
    new Point(),
    { p: new Point() },
    new Date(0),
    "x",
    1,
    null,
    undefined,
    Object.create(null),
  ]) {
    same(v);
  }
});
