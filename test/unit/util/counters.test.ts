import { describe, expect, test } from "vitest";
import { Counters } from "../../../src/util/counters.ts";

describe("Counters", () => {
  test("inc, get and snapshot with the prefix", () => {
    const c = new Counters("ipv4");
    c.inc("drop.bad-checksum");
    c.inc("drop.bad-checksum", 2);
    expect(c.get("drop.bad-checksum")).toBe(3);
    expect(c.get("never")).toBe(0);
    expect(c.snapshot()).toEqual({ "ipv4.drop.bad-checksum": 3 });
  });

  test("a hot-path Counter is the same count that inc, get and snapshot see", () => {
    const c = new Counters("tcp");
    const rx = c.counter("rx.segments");
    expect(c.snapshot()).toEqual({}); // taken but never bumped: not reported
    rx.value++;
    rx.value++;
    c.inc("rx.segments");
    expect(c.get("rx.segments")).toBe(3);
    expect(c.counter("rx.segments")).toBe(rx);
    expect(c.snapshot({ other: 1 })).toEqual({ other: 1, "tcp.rx.segments": 3 });
  });
});
