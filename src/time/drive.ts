/**
 * Driving async code on a VirtualClock: `settle(clock, promise)` advances virtual time one timer at
 * a time, letting promise callbacks and `process.nextTick`/`setImmediate` work run between timers,
 * until the promise settles. This is how tests and the demo `await stack.ping(...)` at full speed in
 * virtual time, with exactly the ordering a real clock would give.
 */
import type { VirtualClock } from "./clock.ts";

/** Lets pending microtasks, nextTicks and immediates run. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * Resolves or rejects as `promise` does, advancing `clock` as needed. Rejects if virtual time passes
 * `limitMs` beyond now, or no timer is left while the promise is still pending (nothing could ever
 * settle it).
 */
export async function settle<T>(clock: VirtualClock, promise: Promise<T>, opts: { limitMs?: number } = {}): Promise<T> {
  let done = false;
  const watched = promise.then(
    (v) => {
      done = true;
      return v;
    },
    (e: unknown) => {
      done = true;
      throw e;
    },
  );
  watched.catch(() => {}); // observed below; avoid an unhandled-rejection report in between
  const limit = clock.now() + (opts.limitMs ?? 600_000);
  await yieldToEventLoop();
  while (!done) {
    const next = clock.nextDeadline();
    if (next === undefined) throw new Error("settle: no timers left and the promise is still pending");
    if (next > limit) throw new Error(`settle: still pending after ${opts.limitMs ?? 600_000} ms of virtual time`);
    clock.advanceTo(Math.max(next, clock.now()));
    await yieldToEventLoop();
  }
  return watched;
}

/** Advances virtual time by `ms`, letting async work run at every timer on the way. */
export async function runFor(clock: VirtualClock, ms: number): Promise<void> {
  const end = clock.now() + ms;
  await yieldToEventLoop();
  for (;;) {
    const next = clock.nextDeadline();
    if (next === undefined || next > end) break;
    clock.advanceTo(Math.max(next, clock.now()));
    await yieldToEventLoop();
  }
  clock.advanceTo(end);
  await yieldToEventLoop();
}
