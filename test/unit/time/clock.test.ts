import { describe, expect, it, vi } from "vitest";
import { RealClock, VIRTUAL_EPOCH_MS, VirtualClock, type TimerId } from "../../../src/time/clock.ts";

describe("VirtualClock", () => {
  it("starts at startMs with the fixed default epoch", () => {
    expect(new VirtualClock().now()).toBe(0);
    expect(new VirtualClock().epochMs).toBe(VIRTUAL_EPOCH_MS);
    expect(new Date(VIRTUAL_EPOCH_MS).toISOString()).toBe("2026-01-01T00:00:00.000Z");
    const c = new VirtualClock({ startMs: 250.5, epochMs: 1_000 });
    expect(c.now()).toBe(250.5);
    expect(c.epochMs).toBe(1_000);
    expect(() => new VirtualClock({ epochMs: 1.5 })).toThrow(RangeError);
  });

  it("never fires inside schedule, even for a deadline of now", () => {
    const c = new VirtualClock();
    let fired = false;
    c.schedule(0, () => (fired = true));
    expect(fired).toBe(false);
    c.advance(0);
    expect(fired).toBe(true);
  });

  it("fires in deadline order, ties in scheduling order, each seeing now() == its deadline", () => {
    const c = new VirtualClock();
    const log: string[] = [];
    const at = (t: number, name: string) => c.schedule(t, () => log.push(`${name}@${c.now()}`));
    at(30, "c");
    at(10, "a1");
    at(20.25, "b");
    at(10, "a2");
    at(10, "a3");
    c.advance(25);
    expect(log).toEqual(["a1@10", "a2@10", "a3@10", "b@20.25"]);
    expect(c.now()).toBe(25);
    c.advanceTo(30);
    expect(log.at(-1)).toBe("c@30");
    expect(c.pending).toBe(0);
  });

  it("runs callbacks scheduled by callbacks within the same advance, in order", () => {
    const c = new VirtualClock();
    const log: number[] = [];
    c.schedule(1, () => {
      log.push(c.now());
      c.schedule(c.now(), () => log.push(c.now())); // same instant: runs after the current one
      c.schedule(3, () => log.push(c.now()));
    });
    c.schedule(2, () => log.push(c.now()));
    c.schedule(5, () => log.push(c.now())); // beyond the advance
    c.advance(4);
    expect(log).toEqual([1, 1, 2, 3]);
    expect(c.nextDeadline()).toBe(5);
  });

  it("a deadline in the past fires at the current time", () => {
    const c = new VirtualClock({ startMs: 100 });
    let seen = -1;
    c.schedule(50, () => (seen = c.now()));
    c.advance(0);
    expect(seen).toBe(100);
  });

  it("cancel: a cancelled callback never fires; cancelling twice or after firing is harmless", () => {
    const c = new VirtualClock();
    const log: string[] = [];
    const a = c.schedule(1, () => log.push("a"));
    const b = c.schedule(1, () => log.push("b"));
    c.schedule(2, () => log.push("c"));
    c.cancel(a);
    c.cancel(a);
    expect(c.pending).toBe(2);
    c.advance(1);
    c.cancel(b); // already fired
    c.cancel(12345 as TimerId); // never existed
    c.advance(1);
    expect(log).toEqual(["b", "c"]);
  });

  it("cancel from inside a callback of the same instant prevents the later one", () => {
    const c = new VirtualClock();
    const log: string[] = [];
    let second: TimerId | undefined;
    c.schedule(5, () => {
      log.push("first");
      c.cancel(second!);
    });
    second = c.schedule(5, () => log.push("second"));
    c.advance(10);
    expect(log).toEqual(["first"]);
  });

  it("many cancellations compact the heap without losing live timers", () => {
    const c = new VirtualClock();
    const fired: number[] = [];
    const ids: TimerId[] = [];
    for (let i = 0; i < 1000; i++) ids.push(c.schedule(1000 - i, () => fired.push(i)));
    for (let i = 0; i < 1000; i++) if (i % 7 !== 0) c.cancel(ids[i]!);
    expect(c.pending).toBe(143);
    c.runUntilIdle();
    const want = Array.from({ length: 1000 }, (_, i) => i).filter((i) => i % 7 === 0).reverse();
    expect(fired).toEqual(want);
  });

  it("refuses to go backwards", () => {
    const c = new VirtualClock({ startMs: 10 });
    expect(() => c.advanceTo(9)).toThrow(RangeError);
    expect(() => c.advance(-1)).toThrow(RangeError);
    expect(() => c.advance(NaN)).toThrow(RangeError);
    expect(() => c.schedule(NaN, () => {})).toThrow(RangeError);
  });

  it("runUntil stops as soon as the predicate holds", () => {
    const c = new VirtualClock();
    let n = 0;
    const tick = () => {
      n++;
      c.schedule(c.now() + 10, tick);
    };
    c.schedule(10, tick);
    expect(c.runUntil(() => n === 3)).toBe(true);
    expect(c.now()).toBe(30);
    expect(c.runUntil(() => n === 100, { limitMs: 55 })).toBe(false);
    expect(c.now()).toBe(85);
    expect(n).toBe(8);
  });

  it("runUntil returns false when idle, without moving time", () => {
    const c = new VirtualClock();
    c.schedule(7, () => {});
    expect(c.runUntil(() => false, { limitMs: 1000 })).toBe(false);
    expect(c.now()).toBe(7);
  });

  it("runUntilIdle fires everything, or stops at the limit", () => {
    const c = new VirtualClock();
    const log: number[] = [];
    for (const t of [3, 1, 2]) c.schedule(t, () => log.push(c.now()));
    expect(c.runUntilIdle()).toBe(true);
    expect(log).toEqual([1, 2, 3]);
    expect(c.now()).toBe(3);
    const forever = () => c.schedule(c.now() + 1, forever);
    c.schedule(4, forever);
    expect(c.runUntilIdle({ limitMs: 100 })).toBe(false);
    expect(c.now()).toBe(103);
  });

  it("a callback that reschedules itself at the same instant hits the bound and throws", () => {
    const c = new VirtualClock({ maxCallbacksPerRun: 1000 });
    const loop = () => c.schedule(c.now(), loop);
    c.schedule(1, loop);
    expect(() => c.advance(1)).toThrow(/more than 1000 callbacks/);
  });
});

describe("RealClock", () => {
  it("has an integer epoch near Date.now and a small, growing now()", () => {
    const before = Date.now();
    const c = new RealClock();
    expect(Number.isInteger(c.epochMs)).toBe(true);
    expect(Math.abs(c.epochMs - before)).toBeLessThan(1000);
    const t0 = c.now();
    expect(t0).toBeGreaterThanOrEqual(0);
    expect(t0).toBeLessThan(1000);
    let spin = 0;
    while (c.now() === t0 && spin < 1e6) spin++;
    expect(c.now()).toBeGreaterThan(t0);
  });

  it("fires timers in deadline order, skips cancelled ones, and lets the process go", async () => {
    const c = new RealClock();
    const t = c.now();
    const log: string[] = [];
    const done = new Promise<void>((resolve) => {
      c.schedule(t + 30, () => {
        log.push("c");
        resolve();
      });
    });
    c.schedule(t + 20, () => log.push("b-first"));
    c.schedule(t + 5, () => log.push("a"));
    const x = c.schedule(t + 10, () => log.push("cancelled"));
    c.schedule(t + 20, () => log.push("b-second"));
    c.cancel(x);
    expect(log).toEqual([]); // nothing synchronous
    await done;
    expect(log).toEqual(["a", "b-first", "b-second", "c"]);
    expect(c.pending).toBe(0);
  });

  it("callbacks may schedule more, including for now", async () => {
    const c = new RealClock({ unref: true });
    const log: number[] = [];
    await new Promise<void>((resolve) => {
      c.schedule(c.now() + 2, () => {
        log.push(1);
        c.schedule(c.now(), () => {
          log.push(2);
          c.schedule(c.now() + 3, () => {
            log.push(3);
            resolve();
          });
        });
      });
    });
    expect(log).toEqual([1, 2, 3]);
  });

  it("holds one host timer, re-armed only when the earliest deadline changes", () => {
    const spy = vi.spyOn(globalThis, "setTimeout");
    const c = new RealClock({ unref: true });
    try {
      const t = c.now();
      for (let i = 0; i < 10; i++) c.schedule(t + 1000 + i, () => {});
      expect(spy).toHaveBeenCalledTimes(1);
      c.schedule(t + 2000, () => {});
      expect(spy).toHaveBeenCalledTimes(1);
      c.schedule(t + 500, () => {});
      expect(spy).toHaveBeenCalledTimes(2);
    } finally {
      c.close();
      spy.mockRestore();
    }
  });

  it("close drops pending callbacks", async () => {
    const c = new RealClock();
    let fired = false;
    c.schedule(c.now() + 5, () => (fired = true));
    c.close();
    expect(c.pending).toBe(0);
    await new Promise((r) => setTimeout(r, 20));
    expect(fired).toBe(false);
  });
});
