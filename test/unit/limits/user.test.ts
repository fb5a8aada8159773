/** src/limits/user.ts on its own: slots per user, a FIFO queue with a bound, leaving it, no entry when idle. */
import { describe, expect, test } from "vitest";
import { createUserSlots, SlotWaitAbandonedError, UserBusyError } from "../../../src/limits/user.ts";

const settled = async (promise: Promise<unknown>) => {
  let done = false;
  void promise.then(
    () => (done = true),
    () => (done = true),
  );
  await new Promise((resolve) => setImmediate(resolve));
  return done;
};

describe("user slots", () => {
  test("at most `concurrency` per user run; the rest wait in order, then are refused; other users are not held up", async () => {
    const slots = createUserSlots({ concurrency: 2, queueMax: 2 });
    const running = [await slots.acquire("a"), await slots.acquire("a")];
    const order: number[] = [];
    const waiting = [0, 1].map((i) => slots.acquire("a").then((release) => (order.push(i), release)));
    await expect(slots.acquire("a")).rejects.toBeInstanceOf(UserBusyError);
    expect(await settled(waiting[0]!)).toBe(false);
    // Another user has slots of their own.
    const other = await slots.acquire("b");
    expect(slots.stats()).toMatchObject({ queued: 2, refused: 1, waiting: 2, users: 2 });

    running[0]!();
    running[0]!(); // a second release of the same slot frees nothing more
    const first = await waiting[0]!;
    expect(order).toEqual([0]);
    expect(await settled(waiting[1]!)).toBe(false);
    running[1]!();
    const second = await waiting[1]!;
    expect(order).toEqual([0, 1]);

    for (const release of [first, second, other]) release();
    expect(slots.stats()).toMatchObject({ waiting: 0, users: 0 });
  });

  test("a wait that is aborted or times out leaves the queue and frees its place", async () => {
    const slots = createUserSlots({ concurrency: 1, queueMax: 1 });
    const held = await slots.acquire("a");
    const controller = new AbortController();
    const aborted = slots.acquire("a", { signal: controller.signal });
    controller.abort();
    await expect(aborted).rejects.toBeInstanceOf(SlotWaitAbandonedError);
    await expect(slots.acquire("a", { timeoutMs: 5 })).rejects.toMatchObject({ timedOut: true });
    // A signal given as a function is asked for only when the call has to wait.
    const late = new AbortController();
    const lazy = slots.acquire("a", { signal: () => late.signal });
    late.abort();
    await expect(lazy).rejects.toMatchObject({ timedOut: false });
    // The place is free again: a new wait is queued, not refused, and gets the slot.
    const next = slots.acquire("a");
    held();
    (await next)();
    expect(slots.stats()).toMatchObject({ queued: 4, abandoned: 3, refused: 0, waiting: 0, users: 0 });
  });

  test("with no queue, a second call of a busy user is refused at once", async () => {
    const slots = createUserSlots({ concurrency: 1, queueMax: 0 });
    const held = await slots.acquire("a");
    await expect(slots.acquire("a")).rejects.toBeInstanceOf(UserBusyError);
    held();
    (await slots.acquire("a"))();
  });
});
