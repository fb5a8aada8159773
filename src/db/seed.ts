/** Demo data for the TodoMVC page and Prisma Studio: one user with a spread of todos. Idempotent. */
import type { Prisma } from "../generated/prisma/client.ts";
import type { PrismaClient } from "./client.ts";

export const DEMO_USER = { id: "demo", email: "demo@example.com", name: "Demo User" } as const;

const DAY = 24 * 60 * 60 * 1000;

// [title, description, priority, due in days (null: none), completed]
const TODOS: [string, string | null, "LOW" | "MEDIUM" | "HIGH", number | null, boolean][] = [
  ["Buy milk", "Oat milk, 2 litres", "MEDIUM", 1, false],
  ["File the tax return", "Receipts are in the blue folder", "HIGH", -3, false],
  ["Renew passport", null, "HIGH", 30, false],
  ["Call the plumber", "Kitchen tap drips", "MEDIUM", -1, false],
  ["Book dentist appointment", null, "LOW", 14, false],
  ["Water the plants", null, "LOW", null, true],
  ["Read the tRPC docs", "Links, batching, error formatting", "MEDIUM", null, false],
  ["Write the sprint review", "Demo the TodoMVC page", "HIGH", 2, false],
  ["Back up the laptop", null, "MEDIUM", -7, true],
  ["Pay the electricity bill", null, "HIGH", 5, false],
  ["Plan the weekend hike", "Check the weather on Friday", "LOW", 4, false],
  ["Return library books", null, "MEDIUM", -2, false],
  ["Clean the fridge", null, "LOW", null, false],
  ["Order birthday present", "Something for Sam", "MEDIUM", 9, true],
  ["Update CV", null, "LOW", null, false],
  ["Fix the bike's brakes", null, "MEDIUM", 3, false],
  ["Answer Alex's email", null, "HIGH", 0, true],
  ["Try the new pasta recipe", "Cacio e pepe", "LOW", null, false],
  ["Review pull requests", null, "HIGH", 1, false],
  ["Schedule car service", null, "MEDIUM", 21, false],
  ["Sort old photos", null, "LOW", null, true],
  ["Buy train tickets", "Window seat", "MEDIUM", 6, false],
  ["Change smoke alarm batteries", null, "HIGH", -14, false],
  ["Learn ten Spanish words", null, "LOW", null, false],
  ["Donate old clothes", null, "LOW", 10, true],
];

/** Fixed ids (a valid v4 layout), so a second run finds every row and adds nothing. */
const demoTodoId = (n: number) => `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`;

/** Dates are relative to `now`, set on the first run only: later runs leave existing rows (and edits to them) alone. */
function demoTodos(now: Date): Prisma.TodoCreateManyInput[] {
  return TODOS.map(([title, description, priority, dueInDays, completed], i) => ({
    id: demoTodoId(i + 1),
    userId: DEMO_USER.id,
    title,
    description,
    priority,
    dueAt: dueInDays === null ? null : new Date(now.getTime() + dueInDays * DAY),
    completed,
    completedAt: completed ? new Date(now.getTime() - (i + 1) * 60_000) : null,
    // One minute apart, in list order: the first todo is the newest.
    createdAt: new Date(now.getTime() - (i + 1) * 60_000),
    updatedAt: new Date(now.getTime() - (i + 1) * 60_000),
  }));
}

/** Inserts what is missing (INSERT … ON CONFLICT DO NOTHING); returns how many rows were added. */
export async function seedDemo(prisma: PrismaClient, now = new Date()): Promise<{ users: number; todos: number }> {
  return prisma.$transaction(async (tx) => {
    const users = await tx.user.createMany({ data: [DEMO_USER], skipDuplicates: true });
    const todos = await tx.todo.createMany({ data: demoTodos(now), skipDuplicates: true });
    return { users: users.count, todos: todos.count };
  });
}
