import { describe, expect, it } from "vitest";
import { DeadlineHeap } from "../../../src/time/heap.ts";
import { seededRandom } from "../../../src/time/random.ts";

describe("DeadlineHeap", () => {
  it("is empty at first", () => {
    const h = new DeadlineHeap<string>();
    expect(h.size).toBe(0);
    expect(h.peekDeadline()).toBeUndefined();
    expect(h.peek()).toBeUndefined();
    expect(h.pop()).toBeUndefined();
  });

  it("pops in deadline order, ties in insertion order", () => {
    const h = new DeadlineHeap<string>();
    h.push(5, "e1");
    h.push(1, "a");
    h.push(5, "e2");
    h.push(3, "c");
    h.push(5, "e3");
    h.push(-Infinity, "first");
    h.push(Infinity, "last");
    expect(h.size).toBe(7);
    expect(h.peekDeadline()).toBe(-Infinity);
    const out: string[] = [];
    for (let x = h.pop(); x !== undefined; x = h.pop()) out.push(x);
    expect(out).toEqual(["first", "a", "c", "e1", "e2", "e3", "last"]);
  });

  it("matches a stably sorted array under random pushes and pops", () => {
    const rnd = seededRandom(42);
    const h = new DeadlineHeap<number>();
    const model: { d: number; id: number }[] = [];
    let id = 0;
    for (let step = 0; step < 20_000; step++) {
      if (rnd.nextFloat() < 0.55) {
        // Few distinct deadlines, so ties are frequent.
        const d = rnd.nextInt(50) / 2;
        h.push(d, id);
        // Insert after every entry with deadline <= d: a stable sorted array.
        let at = model.length;
        while (at > 0 && model[at - 1]!.d > d) at--;
        model.splice(at, 0, { d, id });
        id++;
      } else {
        const want = model.shift();
        expect(h.peekDeadline()).toBe(want?.d);
        expect(h.peek()).toBe(want?.id);
        expect(h.pop()).toBe(want?.id);
      }
      expect(h.size).toBe(model.length);
    }
  });

  it("retain drops entries and keeps order (the stale-entry compaction)", () => {
    const h = new DeadlineHeap<number>();
    for (let i = 0; i < 100; i++) h.push(i % 10, i);
    h.retain((item) => item % 3 !== 0);
    const out: number[] = [];
    for (let x = h.pop(); x !== undefined; x = h.pop()) out.push(x);
    const want = Array.from({ length: 100 }, (_, i) => i)
      .filter((i) => i % 3 !== 0)
      .sort((a, b) => (a % 10) - (b % 10) || a - b);
    expect(out).toEqual(want);
  });

  it("skipping stale entries: the documented pattern fires each owner once at its latest deadline", () => {
    const owners = [{ deadline: 10 }, { deadline: 20 }];
    const h = new DeadlineHeap<{ deadline: number }>();
    h.push(10, owners[0]!);
    h.push(20, owners[1]!);
    owners[0]!.deadline = 30; // moved: push again, the old entry goes stale
    h.push(30, owners[0]!);
    const fired: [number, number][] = [];
    while (h.size > 0) {
      const d = h.peekDeadline()!;
      const o = h.pop()!;
      if (o.deadline !== d) continue;
      fired.push([owners.indexOf(o), d]);
    }
    expect(fired).toEqual([
      [1, 20],
      [0, 30],
    ]);
  });

  it("refuses a NaN deadline", () => {
    const h = new DeadlineHeap<number>();
    expect(() => h.push(NaN, 1)).toThrow(RangeError);
    expect(h.size).toBe(0);
  });
});
