/** src/db/utc-reads.ts: a timestamptz's text in any session zone becomes the same UTC instant, in the adapters' format. */
import { expect, test } from "vitest";
import { timestamptzAsUtc } from "../../../src/db/utc-reads.ts";

test.each([
  ["2024-03-01 03:00:00-05", "2024-03-01T08:00:00+00:00"],
  ["2024-03-01 03:00:00.123456-05", "2024-03-01T08:00:00.123456+00:00"],
  ["2024-03-01 08:00:00+00", "2024-03-01T08:00:00+00:00"],
  ["2024-03-01 05:30:00.5+05:30", "2024-03-01T00:00:00.5+00:00"],
  ["2023-12-31 20:30:00-05", "2024-01-01T01:30:00+00:00"],
  ["1883-11-18 12:03:58-04:56:02", "1883-11-18T17:00:00+00:00"],
  ["0099-01-01 00:00:00+00", "0099-01-01T00:00:00+00:00"],
  ["infinity", "infinity"],
])("%s → %s", (text, expected) => {
  expect(timestamptzAsUtc(text)).toBe(expected);
  if (expected !== "infinity") expect(new Date(timestamptzAsUtc(text)).getTime()).toBe(Date.parse(expected));
});
