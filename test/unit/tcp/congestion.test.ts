/**
 * Shared slow start (RFC 5681 §3.1 + RFC 3465 ABC), the factory, and NewReno (RFC 5681, RFC 6582),
 * driven by small simulated ACK loops in virtual time. Expected windows are computed by hand from
 * the RFC formulas; MSS = 1000 keeps the numbers readable.
 */
import { describe, expect, it } from "vitest";
import {
  ABC_L_SEGMENTS,
  createCongestionControl,
  DEFAULT_INITIAL_WINDOW_SEGMENTS,
  renoSsthresh,
  slowStart,
  wasCwndLimited,
  type CongestionControl,
} from "../../../src/transport/tcp/congestion.ts";
import { CubicCongestion } from "../../../src/transport/tcp/cubic.ts";
import { NewRenoCongestion } from "../../../src/transport/tcp/newreno.ts";

const MSS = 1000;

/**
 * One RTT of a sender that keeps cwnd full: the `segments` sent in the last round are acknowledged
 * `perAck` at a time, and after each ACK the sender refills the window (so the flight before each
 * ACK is the whole cwnd). Returns the time after the round.
 */
function ackRound(cc: CongestionControl, segments: number, now: number, rttMs: number, perAck = 1): number {
  const acks = Math.ceil(segments / perAck);
  for (let i = 0; i < acks; i++) {
    const acked = Math.min(perAck, segments - i * perAck) * MSS;
    cc.onAck(acked, now + ((i + 1) * rttMs) / acks, rttMs, Math.max(0, cc.cwnd - acked));
  }
  return now + rttMs;
}

/** cwnd in segments at the end of each of `rounds` RTTs. */
function roundsOf(cc: CongestionControl, rounds: number, rttMs: number, perAck = 1): number[] {
  const out: number[] = [];
  let now = 0;
  for (let r = 0; r < rounds; r++) {
    now = ackRound(cc, Math.floor(cc.cwnd / MSS), now, rttMs, perAck);
    out.push(cc.cwnd / MSS);
  }
  return out;
}

describe("createCongestionControl", () => {
  it("builds both algorithms; CUBIC and NewReno by name", () => {
    expect(createCongestionControl("cubic", { mss: MSS })).toBeInstanceOf(CubicCongestion);
    expect(createCongestionControl("newreno", { mss: MSS })).toBeInstanceOf(NewRenoCongestion);
    expect(createCongestionControl("cubic", { mss: MSS }).name).toBe("cubic");
    expect(createCongestionControl("newreno", { mss: MSS }).name).toBe("newreno");
  });

  for (const name of ["newreno", "cubic"] as const) {
    it(`${name}: RFC 6928 initial window of 10 segments, ssthresh arbitrarily high (RFC 5681 §3.1)`, () => {
      const cc = createCongestionControl(name, { mss: 1460 });
      expect(DEFAULT_INITIAL_WINDOW_SEGMENTS).toBe(10);
      expect(cc.cwnd).toBe(14600);
      expect(cc.ssthresh).toBe(Infinity);
      expect(cc.region()).toBe("slow-start");
      expect(createCongestionControl(name, { mss: 1460, initialWindowSegments: 4 }).cwnd).toBe(5840);
    });

    it(`${name}: refuses an impossible MSS or initial window (misuse)`, () => {
      expect(() => createCongestionControl(name, { mss: 0 })).toThrow(RangeError);
      expect(() => createCongestionControl(name, { mss: 1.5 })).toThrow(RangeError);
      expect(() => createCongestionControl(name, { mss: MSS, initialWindowSegments: 0 })).toThrow(RangeError);
      expect(() => createCongestionControl(name, { mss: MSS }).setMss(-1)).toThrow(RangeError);
    });

    it(`${name}: RFC 3465 §2.2 slow start doubles cwnd each RTT with one ACK per segment`, () => {
      expect(roundsOf(createCongestionControl(name, { mss: MSS }), 4, 100)).toEqual([20, 40, 80, 160]);
    });

    it(`${name}: RFC 3465 §2.2 byte counting keeps doubling with delayed ACKs (2 segments per ACK)`, () => {
      // Counting ACKs (RFC 5681's per-ACK +SMSS) would give only 1.5x per RTT here.
      expect(roundsOf(createCongestionControl(name, { mss: MSS }), 3, 100, 2)).toEqual([20, 40, 80]);
    });

    it(`${name}: RFC 3465 §2.2 L = 2*SMSS caps what one stretch ACK may add`, () => {
      const cc = createCongestionControl(name, { mss: MSS });
      cc.onAck(4 * MSS, 1, 100, 6 * MSS);
      expect(cc.cwnd).toBe(12 * MSS);
      cc.onAck(1 * MSS, 2, 100, 11 * MSS);
      expect(cc.cwnd).toBe(13 * MSS);
    });

    it(`${name}: RFC 7661 an application-limited flow does not grow cwnd (unless validation is off)`, () => {
      const cc = createCongestionControl(name, { mss: MSS });
      for (let i = 0; i < 20; i++) cc.onAck(MSS, i, 100, 0); // one segment in flight at a time
      expect(cc.cwnd).toBe(10 * MSS);
      const loose = createCongestionControl(name, { mss: MSS, validateCwnd: false });
      for (let i = 0; i < 20; i++) loose.onAck(MSS, i, 100, 0);
      expect(loose.cwnd).toBe(30 * MSS);
    });

    it(`${name}: ignores ACKs of nothing`, () => {
      const cc = createCongestionControl(name, { mss: MSS });
      cc.onAck(0, 1, 100, 10 * MSS);
      cc.onAck(-5, 1, 100, 10 * MSS);
      cc.onAck(Number.NaN, 1, 100, 10 * MSS);
      expect(cc.cwnd).toBe(10 * MSS);
    });

    it(`${name}: RFC 5681 §3.1 an RTO sets cwnd to the loss window, 1 SMSS, and slow start resumes`, () => {
      const cc = createCongestionControl(name, { mss: MSS });
      cc.onRto(0, 20 * MSS);
      expect(cc.cwnd).toBe(MSS);
      expect(cc.region()).toBe("slow-start");
    });

    it(`${name}: RFC 3465 §2.3 the first ACK after an RTO grows cwnd by at most 1 SMSS`, () => {
      const cc = createCongestionControl(name, { mss: MSS });
      cc.onRto(0, 20 * MSS);
      cc.onAck(5 * MSS, 10, 100, 0); // the retransmission filled a hole: a stretch ACK
      expect(cc.cwnd).toBe(2 * MSS);
      cc.onAck(2 * MSS, 20, 100, 0);
      expect(cc.cwnd).toBe(4 * MSS); // L = 2 again
    });

    it(`${name}: RFC 5681 §4.1 restart after idle: cwnd = min(cwnd, IW)`, () => {
      const cc = createCongestionControl(name, { mss: MSS });
      roundsOf(cc, 2, 100); // 40 segments
      cc.onIdle(10_000);
      expect(cc.cwnd).toBe(10 * MSS);
      const small = createCongestionControl(name, { mss: MSS });
      small.onRto(0, 20 * MSS);
      small.onIdle(10_000);
      expect(small.cwnd).toBe(MSS);
    });

    it(`${name}: setMss keeps the windows' size in segments`, () => {
      const cc = createCongestionControl(name, { mss: 536 });
      cc.setMss(1460);
      expect(cc.cwnd).toBe(14600);
      cc.onCongestionEvent(0, 20 * 1460);
      const segs = cc.ssthresh / 1460;
      cc.setMss(1000);
      expect(cc.ssthresh).toBe(Math.round(segs * 1000));
    });
  }
});

describe("shared helpers", () => {
  it("RFC 5681 §3.1 equation 4: ssthresh = max(FlightSize/2, 2*SMSS)", () => {
    expect(renoSsthresh(15_000, 1000)).toBe(7500);
    expect(renoSsthresh(15_001, 1000)).toBe(7500);
    expect(renoSsthresh(3000, 1000)).toBe(2000);
    expect(renoSsthresh(0, 1460)).toBe(2920);
  });

  it("RFC 3465 §2.2: slow start adds min(acked, L*SMSS) and stops at ssthresh", () => {
    expect(ABC_L_SEGMENTS).toBe(2);
    expect(slowStart(10_000, Infinity, 500, 1000, 2)).toBe(10_500);
    expect(slowStart(10_000, Infinity, 5000, 1000, 2)).toBe(12_000);
    expect(slowStart(10_000, Infinity, 5000, 1000, 1)).toBe(11_000);
    expect(slowStart(10_000, 11_000, 2000, 1000, 2)).toBe(11_000);
  });

  it("RFC 7661: cwnd-limited means half the window in slow start, within 1 SMSS in avoidance", () => {
    expect(wasCwndLimited(10_000, 1000, 4000, 1000, true)).toBe(true); // 5000 of 10000
    expect(wasCwndLimited(10_000, 1000, 3000, 1000, true)).toBe(false);
    expect(wasCwndLimited(10_500, 1000, 9000, 1000, false)).toBe(true); // 10000 + 1000 > 10500
    expect(wasCwndLimited(10_500, 1000, 8000, 1000, false)).toBe(false);
  });
});

describe("NewReno (RFC 5681, RFC 6582)", () => {
  /** A NewReno flow that took a loss at `segments` in flight and finished recovery with a full window. */
  function afterLoss(segments: number): NewRenoCongestion {
    const cc = new NewRenoCongestion({ mss: MSS, initialWindowSegments: segments });
    cc.onCongestionEvent(0, segments * MSS);
    cc.onRecoveryEnd(50, segments * MSS);
    return cc;
  }

  it("RFC 5681 §3.2 steps 2–4: a congestion event halves into ssthresh and cwnd = ssthresh (no inflation)", () => {
    const cc = new NewRenoCongestion({ mss: MSS, initialWindowSegments: 15 });
    cc.onCongestionEvent(0, 15 * MSS);
    expect(cc.ssthresh).toBe(7500);
    expect(cc.cwnd).toBe(7500);
    expect(cc.region()).toBe("congestion-avoidance");
  });

  it("RFC 5681 §3.1 equation 4: ssthresh never falls below 2*SMSS", () => {
    const cc = new NewRenoCongestion({ mss: MSS });
    cc.onCongestionEvent(0, 1 * MSS);
    expect(cc.ssthresh).toBe(2 * MSS);
    expect(cc.cwnd).toBe(2 * MSS);
  });

  it("RFC 5681 §3.2: FlightSize, not cwnd, sets ssthresh", () => {
    const cc = new NewRenoCongestion({ mss: MSS, initialWindowSegments: 40 });
    cc.onCongestionEvent(0, 12 * MSS); // receiver-window limited: only 12 segments out
    expect(cc.ssthresh).toBe(6 * MSS);
  });

  it("RFC 6582 §3.2 step 5 option 1: cwnd = min(ssthresh, max(FlightSize, SMSS) + SMSS)", () => {
    const full = new NewRenoCongestion({ mss: MSS, initialWindowSegments: 20 });
    full.onCongestionEvent(0, 20 * MSS);
    full.onRecoveryEnd(100, 15 * MSS);
    expect(full.cwnd).toBe(10 * MSS); // ssthresh
    const drained = new NewRenoCongestion({ mss: MSS, initialWindowSegments: 20 });
    drained.onCongestionEvent(0, 20 * MSS);
    drained.onRecoveryEnd(100, 3 * MSS);
    expect(drained.cwnd).toBe(4 * MSS); // FlightSize + SMSS: no burst
    const empty = new NewRenoCongestion({ mss: MSS, initialWindowSegments: 20 });
    empty.onCongestionEvent(0, 20 * MSS);
    empty.onRecoveryEnd(100, 0);
    expect(empty.cwnd).toBe(2 * MSS); // max(0, SMSS) + SMSS
  });

  it("RFC 5681 §3.1: congestion avoidance adds 1 SMSS per RTT", () => {
    expect(roundsOf(afterLoss(20), 5, 100)).toEqual([11, 12, 13, 14, 15]);
  });

  it("RFC 3465 §2.1: byte counting keeps +1 SMSS per RTT with delayed ACKs", () => {
    expect(roundsOf(afterLoss(20), 5, 100, 2)).toEqual([11, 12, 13, 14, 15]);
  });

  it("RFC 5681 §3.1: slow start stops at ssthresh and congestion avoidance takes over", () => {
    const cc = new NewRenoCongestion({ mss: MSS });
    cc.onRto(0, 32 * MSS); // ssthresh 16 segments, cwnd 1
    expect(cc.ssthresh).toBe(16 * MSS);
    // 1 → 2 → 4 → 8 → 16 (slow start stops at ssthresh) → 17 → 18
    expect(roundsOf(cc, 6, 100)).toEqual([2, 4, 8, 16, 17, 18]);
  });

  it("RFC 5681 §3.1: on an RTO ssthresh = max(FlightSize/2, 2*SMSS), held for a repeated RTO", () => {
    const cc = new NewRenoCongestion({ mss: MSS, initialWindowSegments: 20 });
    cc.onRto(0, 20 * MSS);
    expect(cc.ssthresh).toBe(10 * MSS);
    expect(cc.cwnd).toBe(MSS);
    cc.onRto(1000, 1 * MSS); // the same segment times out again
    expect(cc.ssthresh).toBe(10 * MSS);
    expect(cc.cwnd).toBe(MSS);
    cc.onAck(MSS, 1500, 100, 0);
    cc.onAck(MSS, 1600, 100, MSS);
    cc.onRto(3000, 3 * MSS); // a new loss after progress: recomputed
    expect(cc.ssthresh).toBe(2 * MSS);
  });

  it("a full sawtooth: slow start, loss, recovery, linear growth", () => {
    const cc = new NewRenoCongestion({ mss: MSS });
    const trace = roundsOf(cc, 3, 100); // 20, 40, 80
    cc.onCongestionEvent(300, 80 * MSS);
    cc.onRecoveryEnd(400, 40 * MSS);
    trace.push(cc.cwnd / MSS);
    trace.push(...roundsOf(cc, 3, 100));
    expect(trace).toEqual([20, 40, 80, 40, 41, 42, 43]);
  });
});

describe("congestion events soon after an RTO", () => {
  for (const name of ["newreno", "cubic"] as const) {
    it(`${name}: FlightSize counting old data beyond cwnd does not raise cwnd (RFC 5681 §3.2, capped at cwnd)`, () => {
      const cc = createCongestionControl(name, { mss: MSS, initialWindowSegments: 100 });
      cc.onRto(0, 100 * MSS);
      cc.onAck(MSS, 100, 50, 99 * MSS);
      cc.onAck(2 * MSS, 150, 50, 97 * MSS);
      expect(cc.cwnd).toBe(4 * MSS);
      cc.onCongestionEvent(200, 97 * MSS); // 3 dupacks while most of the old flight is still out
      expect(cc.cwnd).toBeLessThanOrEqual(4 * MSS);
      expect(cc.ssthresh).toBe(name === "newreno" ? 2 * MSS : 2800);
    });
  }
});

describe("undo of a spurious congestion event (RFC 4015 §3, Linux's tcp_undo_cwnd_reduction)", () => {
  for (const name of ["newreno", "cubic"] as const) {
    it(`${name}: RFC 4015 §3 a spurious fast retransmit's reduction is undone: cwnd and ssthresh as before`, () => {
      const cc = createCongestionControl(name, { mss: MSS });
      roundsOf(cc, 2, 100); // slow start to 40 segments, ssthresh still Infinity
      expect(cc.cwnd).toBe(40 * MSS);
      cc.onCongestionEvent(200, 40 * MSS);
      expect(cc.cwnd).toBeLessThan(40 * MSS);
      expect(cc.undo(230)).toBe(true);
      expect(cc.cwnd).toBe(40 * MSS);
      expect(cc.ssthresh).toBe(Infinity);
      expect(cc.region()).toBe("slow-start");
    });

    it(`${name}: RFC 4015 §3 a spurious RTO's reduction is undone, and the RFC 3465 §2.3 L = 1 with it`, () => {
      const cc = createCongestionControl(name, { mss: MSS });
      cc.onCongestionEvent(0, 20 * MSS);
      cc.onRecoveryEnd(0, 20 * MSS);
      const cwnd = cc.cwnd;
      const ssthresh = cc.ssthresh;
      cc.onRto(1000, cwnd);
      expect(cc.cwnd).toBe(MSS);
      expect(cc.undo(1010)).toBe(true);
      expect(cc.cwnd).toBe(cwnd);
      expect(cc.ssthresh).toBe(ssthresh);
      // Not "after an RTO" any more: a later timeout computes ssthresh from the flight again.
      cc.onRto(2000, 4 * MSS);
      expect(cc.ssthresh).toBe(Math.max(name === "cubic" ? Math.floor(4 * MSS * 0.7) : 2 * MSS, 2 * MSS));
    });

    it(`${name}: undo happens at most once per event, and not before any event`, () => {
      const cc = createCongestionControl(name, { mss: MSS });
      expect(cc.undo(0)).toBe(false);
      expect(cc.cwnd).toBe(10 * MSS);
      cc.onCongestionEvent(0, 10 * MSS);
      expect(cc.undo(1)).toBe(true);
      cc.onCongestionEvent(2, 10 * MSS);
      const reduced = cc.cwnd;
      expect(reduced).toBeLessThan(10 * MSS);
      cc.onCongestionEvent(3, reduced); // a second event: undo restores the state before it only
      const twice = cc.cwnd;
      expect(cc.undo(4)).toBe(true);
      expect(cc.cwnd).toBe(reduced);
      expect(twice).toBeLessThan(reduced);
      expect(cc.undo(5)).toBe(false);
      expect(cc.cwnd).toBe(reduced);
    });

    it(`${name}: undo never lowers a window that grew since the event`, () => {
      const cc = createCongestionControl(name, { mss: MSS, validateCwnd: false });
      cc.onCongestionEvent(0, 10 * MSS); // cwnd 5 or 7 segments, ssthresh the same
      cc.onRecoveryEnd(0, 10 * MSS);
      for (let i = 0; i < 400; i++) cc.onAck(MSS, 100 + i * 10, 100, cc.cwnd); // well past 10 segments
      const grown = cc.cwnd;
      expect(grown).toBeGreaterThan(10 * MSS);
      expect(cc.undo(5000)).toBe(true);
      expect(cc.cwnd).toBe(grown);
      expect(cc.ssthresh).toBe(Infinity); // ssthresh goes back up to where it was
    });

    it(`${name}: RFC 5681 §4.1 an idle restart forgets the saved window`, () => {
      const cc = createCongestionControl(name, { mss: MSS });
      roundsOf(cc, 2, 100);
      cc.onCongestionEvent(200, 40 * MSS);
      cc.onIdle(10_000);
      expect(cc.undo(10_001)).toBe(false);
      expect(cc.cwnd).toBeLessThanOrEqual(10 * MSS);
    });
  }
});
