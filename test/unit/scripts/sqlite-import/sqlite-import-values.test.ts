import { v5 } from "uuid";
import { describe, expect, test } from "vitest";
import { rowChecksum } from "../../../../scripts/sqlite-import/checksum.ts";
import { mapTask, TODO_ID_NAMESPACE, todoIdFor } from "../../../../scripts/sqlite-import/map.ts";
import type { SourceRow, TaskField } from "../../../../scripts/sqlite-import/source.ts";
import {
  boolean,
  InvalidValue,
  legacyId,
  priority,
  text,
  timestamp,
  type SqliteValue,
} from "../../../../scripts/sqlite-import/values.ts";

const iso = (value: SqliteValue) => timestamp(value, "created_at")?.toISOString() ?? null;

describe("timestamp", () => {
  test.each<[SqliteValue, string | null]>([
    ["2024-03-01T10:20:30Z", "2024-03-01T10:20:30.000Z"],
    ["2024-03-01T10:20:30.123456Z", "2024-03-01T10:20:30.123Z"],
    ["2024-03-01T10:20:30+02:00", "2024-03-01T08:20:30.000Z"],
    ["2024-03-01T10:20:30-0530", "2024-03-01T15:50:30.000Z"],
    ["2024-03-01T10:20", "2024-03-01T10:20:00.000Z"],
    ["2024-03-01 10:20:30", "2024-03-01T10:20:30.000Z"], // SQLite's CURRENT_TIMESTAMP, UTC
    ["2024-03-01", "2024-03-01T00:00:00.000Z"],
    ["1709288430", "2024-03-01T10:20:30.000Z"], // Unix seconds (integers arrive as text)
    [1709288430.5, "2024-03-01T10:20:30.500Z"],
    ["1709288430123", "2024-03-01T10:20:30.123Z"], // Unix milliseconds
    [null, null],
    ["  ", null],
  ])("%j → %s", (value, expected) => {
    expect(iso(value)).toBe(expected);
  });

  test.each<SqliteValue>([
    "yesterday",
    "2024-02-30",
    "2024-13-01",
    "2024-03-01 25:00:00",
    "01/03/2024",
    "-99999999999",
    "10000-01-01",
    new Uint8Array([1]),
  ])("refuses %j", (value) => {
    expect(() => timestamp(value, "created_at")).toThrow(InvalidValue);
  });

  test("names the field and the value in the reason", () => {
    expect(() => timestamp("soon", "due_date")).toThrow('due_date "soon" is not a date');
  });
});

describe("boolean", () => {
  test.each<[SqliteValue, boolean]>([
    ["1", true],
    ["0", false],
    [1, true],
    [0, false],
    ["true", true],
    ["FALSE", false],
    ["t", true],
    ["f", false],
    ["yes", true],
    ["no", false],
    [null, false],
  ])("%j → %s", (value, expected) => {
    expect(boolean(value, "completed")).toBe(expected);
  });

  test.each<SqliteValue>(["2", "maybe", 0.5])("refuses %j", (value) => {
    expect(() => boolean(value, "completed")).toThrow("completed");
  });
});

describe("priority, text and ids", () => {
  test("priority names and numbers, MEDIUM when missing", () => {
    expect(["low", "Medium", "HIGH", "1", "2", "3", null, ""].map((v) => priority(v, "priority"))).toEqual([
      "LOW",
      "MEDIUM",
      "HIGH",
      "LOW",
      "MEDIUM",
      "HIGH",
      "MEDIUM",
      "MEDIUM",
    ]);
    expect(() => priority("urgent", "priority")).toThrow('priority "urgent" is not one of');
  });

  test("text decodes UTF-8 BLOBs and refuses invalid ones", () => {
    expect(text(new TextEncoder().encode("héllo"), "title")).toBe("héllo");
    expect(() => text(new Uint8Array([0xff, 0xfe]), "title")).toThrow("title is not valid UTF-8");
    // A leading byte-order mark is text like any other: kept, not silently dropped.
    expect(text(new Uint8Array([0xef, 0xbb, 0xbf, 0x61]), "title")).toBe("\ufeffa");
  });

  test("legacy ids", () => {
    expect(legacyId("42", "id")).toBe("42");
    expect(legacyId(42, "id")).toBe("42");
    expect(() => legacyId(null, "user_id")).toThrow("user_id is missing");
    expect(() => legacyId(1.5, "id")).toThrow("not an integer");
  });
});

describe("todo ids", () => {
  test("are UUID v5 in the import's namespace, the same on every run", () => {
    const id = todoIdFor("alice", "7");
    expect(id).toBe(v5("task:5:alice:7", TODO_ID_NAMESPACE));
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(todoIdFor("alice", "7")).toBe(id);
    expect(todoIdFor("bob", "7")).not.toBe(id);
    // The user id's length is in the name: no two (user, task) pairs share one.
    expect(todoIdFor("a:1", "2")).not.toBe(todoIdFor("a", "1:2"));
    expect(todoIdFor("ü", "1")).toBe(v5("task:1:ü:1", TODO_ID_NAMESPACE));
  });
});

describe("mapTask", () => {
  const now = new Date("2026-01-01T00:00:00Z");
  const row = (values: Partial<Record<TaskField, SqliteValue>>): SourceRow<TaskField> => ({
    values: {
      id: "1",
      userId: "u",
      title: "t",
      description: null,
      completed: null,
      createdAt: null,
      updatedAt: null,
      priority: null,
      dueDate: null,
      ...values,
    },
    columns: {},
  });

  test("maps a task the way the API would have stored it", () => {
    const mapped = mapTask(
      row({ title: "  Buy milk ", completed: "1", createdAt: "2024-01-01 10:00:00", updatedAt: "2024-01-02 11:00:00" }),
      now,
    );
    expect(mapped).toEqual({
      ok: true,
      record: {
        id: todoIdFor("u", "1"),
        userId: "u",
        title: "Buy milk",
        description: null,
        completed: true,
        priority: "MEDIUM",
        dueAt: null,
        completedAt: new Date("2024-01-02T11:00:00Z"),
        version: 1,
        createdAt: new Date("2024-01-01T10:00:00Z"),
        updatedAt: new Date("2024-01-02T11:00:00Z"),
      },
    });
  });

  test("fills missing timestamps from each other, then from the run's time", () => {
    const onlyCreated = mapTask(row({ createdAt: "2024-01-01" }), now);
    expect(onlyCreated.ok && onlyCreated.record.updatedAt).toEqual(new Date("2024-01-01T00:00:00Z"));
    const onlyUpdated = mapTask(row({ updatedAt: "2024-01-05" }), now);
    expect(onlyUpdated.ok && onlyUpdated.record.createdAt).toEqual(new Date("2024-01-05T00:00:00Z"));
    const neither = mapTask(row({}), now);
    expect(neither.ok && [neither.record.createdAt, neither.record.updatedAt, neither.record.completedAt]).toEqual([
      now,
      now,
      null,
    ]);
  });

  test.each<[string, Partial<Record<TaskField, SqliteValue>>, string]>([
    ["a long title", { title: "x".repeat(201) }, "title is 201 characters (at most 200)"],
    ["a NUL byte", { title: "a\u0000b" }, "title contains NUL bytes"],
    ["a blank title", { title: "   " }, "title is empty"],
    ["a long description", { description: "d".repeat(2001) }, "description is 2001 characters (at most 2000)"],
    ["a bad date", { createdAt: "last tuesday" }, 'created_at "last tuesday" is not a date'],
    ["a due date out of range", { dueDate: "1850-01-01" }, "due_date"],
    ["no user", { userId: null }, "user_id is missing"],
  ])("rejects %s with its reason", (_name, values, reason) => {
    const mapped = mapTask(row(values), now);
    expect(mapped.ok).toBe(false);
    expect(!mapped.ok && mapped.reason).toContain(reason);
  });

  test("200 characters counted as code points are accepted", () => {
    expect(mapTask(row({ title: "😀".repeat(200) }), now).ok).toBe(true);
  });
});

test("the checksum covers title, description and completed", () => {
  const base = rowChecksum("a", null, false);
  expect(rowChecksum("a", null, false)).toBe(base);
  expect(
    new Set([base, rowChecksum("a", "", false), rowChecksum("a", null, true), rowChecksum("b", null, false)]).size,
  ).toBe(4);
  // Fields cannot run into each other, whatever separators their text holds.
  expect(rowChecksum("a:b", null, false)).not.toBe(rowChecksum("a", "b", false));
  expect(rowChecksum("1:a", "-", false)).not.toBe(rowChecksum("1:a:-", null, false));
});
