/**
 * RttEstimator against RFC 6298 §2 and §5, with values computed by hand from the RFC's formulas
 * (α = 1/8, β = 1/4, K = 4, G = 1 ms). The samples are chosen so that every intermediate value is
 * a binary fraction, so equality is exact.
 */
import { describe, expect, it } from "vitest";
import { RTO_INITIAL_MS, RTO_MAX_MS, RTO_MIN_MS, RttEstimator } from "../../../src/transport/tcp/rtt.ts";

describe("RttEstimator (RFC 6298)", () => {
  it("§2.1: RTO is 1 s before any sample, SRTT and RTTVAR unset", () => {
    const e = new RttEstimator();
    expect(e.rto).toBe(1000);
    expect(RTO_INITIAL_MS).toBe(1000);
    expect(e.srtt).toBeUndefined();
    expect(e.rttvar).toBeUndefined();
  });

  it("documents the bounds: 200 ms minimum like Linux, 120 s maximum", () => {
    expect(RTO_MIN_MS).toBe(200);
    expect(RTO_MAX_MS).toBe(120_000);
  });

  it("§2.2: the first sample R sets SRTT = R, RTTVAR = R/2, RTO = SRTT + max(G, 4*RTTVAR)", () => {
    const e = new RttEstimator();
    expect(e.sample(100)).toBe(true);
    expect(e.srtt).toBe(100);
    expect(e.rttvar).toBe(50);
    expect(e.rto).toBe(300); // 100 + 4*50
  });

  it("§2.3: later samples update RTTVAR with the old SRTT, then SRTT", () => {
    const e = new RttEstimator();
    e.sample(100);
    e.sample(120);
    // RTTVAR = 3/4*50 + 1/4*|100 - 120| = 42.5 (with the new SRTT it would be 41.875)
    expect(e.rttvar).toBe(42.5);
    // SRTT = 7/8*100 + 1/8*120 = 102.5
    expect(e.srtt).toBe(102.5);
    expect(e.rto).toBe(102.5 + 4 * 42.5);
    e.sample(80);
    // RTTVAR = 3/4*42.5 + 1/4*|102.5 - 80| = 31.875 + 5.625 = 37.5; SRTT = 89.6875 + 10 = 99.6875
    expect(e.rttvar).toBe(37.5);
    expect(e.srtt).toBe(99.6875);
    expect(e.rto).toBe(249.6875);
  });

  it("converges to a steady RTT: RTTVAR decays, RTO approaches SRTT (floored at the minimum)", () => {
    const e = new RttEstimator({ minRtoMs: 0 });
    for (let i = 0; i < 200; i++) e.sample(50);
    expect(e.srtt).toBe(50);
    expect(e.rttvar!).toBeLessThan(1e-9);
    expect(e.rto).toBe(51); // SRTT + G: the granularity term takes over from 4*RTTVAR
  });

  it("§2.4: the RTO is clamped to the minimum (200 ms by default, 1 s per the RFC's letter)", () => {
    const linux = new RttEstimator();
    linux.sample(10); // 10 + 4*5 = 30 ms
    expect(linux.rto).toBe(200);
    const rfc = new RttEstimator({ minRtoMs: 1000 });
    rfc.sample(10);
    expect(rfc.rto).toBe(1000);
    const none = new RttEstimator({ minRtoMs: 0 });
    none.sample(10);
    expect(none.rto).toBe(30);
  });

  it("§2.2: G bounds the variance term from below (a 0 ms sample on loopback)", () => {
    const e = new RttEstimator({ minRtoMs: 0, granularityMs: 1 });
    e.sample(0);
    expect(e.srtt).toBe(0);
    expect(e.rttvar).toBe(0);
    expect(e.rto).toBe(1);
    const coarse = new RttEstimator({ minRtoMs: 0, granularityMs: 10 });
    coarse.sample(0);
    expect(coarse.rto).toBe(10);
  });

  it("§2.5: the RTO is clamped to the maximum", () => {
    const e = new RttEstimator();
    e.sample(100_000); // 100 s + 4*50 s
    expect(e.rto).toBe(120_000);
    const small = new RttEstimator({ maxRtoMs: 60_000 });
    small.sample(30_000);
    expect(small.rto).toBe(60_000);
  });

  it("§5.5: backoff doubles the RTO up to the maximum", () => {
    const e = new RttEstimator();
    e.sample(100); // RTO 300
    const seen: number[] = [];
    for (let i = 0; i < 12; i++) {
      e.backoff();
      seen.push(e.rto);
    }
    expect(seen).toEqual([600, 1200, 2400, 4800, 9600, 19200, 38400, 76800, 120000, 120000, 120000, 120000]);
    expect(e.backoffCount).toBe(12);
  });

  it("§5.5: backoff before any sample starts from the initial 1 s", () => {
    const e = new RttEstimator();
    e.backoff();
    e.backoff();
    expect(e.rto).toBe(4000);
  });

  it("§5 (note after 5.7): a new sample collapses a backed-off RTO", () => {
    const e = new RttEstimator();
    e.sample(100);
    e.backoff();
    e.backoff();
    expect(e.rto).toBe(1200);
    e.sample(100);
    // RTTVAR = 3/4*50 + 0 = 37.5; SRTT = 100; RTO = 250
    expect(e.rto).toBe(250);
    expect(e.backoffCount).toBe(0);
  });

  it("resetBackoff returns to the estimated RTO without a sample", () => {
    const e = new RttEstimator();
    e.sample(100);
    e.backoff();
    expect(e.rto).toBe(600);
    e.resetBackoff();
    expect(e.rto).toBe(300);
    expect(e.srtt).toBe(100); // the estimates are untouched
  });

  it("refuses samples that cannot be RTTs and keeps its state", () => {
    const e = new RttEstimator();
    e.sample(100);
    e.backoff();
    for (const bad of [-1, Number.NaN, Infinity, -Infinity]) {
      expect(e.sample(bad)).toBe(false);
    }
    expect(e.srtt).toBe(100);
    expect(e.rttvar).toBe(50);
    expect(e.rto).toBe(600); // still backed off: no valid sample arrived
  });

  it("rejects impossible configuration (misuse)", () => {
    expect(() => new RttEstimator({ minRtoMs: 500, maxRtoMs: 100 })).toThrow(RangeError);
    expect(() => new RttEstimator({ minRtoMs: -1 })).toThrow(RangeError);
    expect(() => new RttEstimator({ initialRtoMs: Number.NaN })).toThrow(RangeError);
  });

  it("§2.1: the initial RTO respects configured bounds", () => {
    expect(new RttEstimator({ initialRtoMs: 3000, maxRtoMs: 2000 }).rto).toBe(2000);
    expect(new RttEstimator({ initialRtoMs: 100 }).rto).toBe(200);
  });
});
