/**
 * CUBIC (RFC 9438) in virtual time: a sender that keeps its window full is ACKed one segment at a
 * time, evenly over each RTT, and the window is compared with the RFC's formulas, computed by hand
 * (K) or with `wCubic` evaluated independently of the controller's state. MSS = 1000.
 */
import { describe, expect, it } from "vitest";
import { CUBIC_ALPHA, CUBIC_BETA, CUBIC_C, CubicCongestion, cubicK, wCubic } from "../../../src/transport/tcp/cubic.ts";

const MSS = 1000;

interface Round {
  /** Seconds since the epoch began (the first ACK of congestion avoidance). */
  t: number;
  cwnd: number; // segments
  region: string;
}

/** A flow that saw a loss with `wMax` segments in flight and ended recovery with a full window. */
function afterLoss(wMax: number, opts: { fastConvergence?: boolean } = {}): CubicCongestion {
  const cc = new CubicCongestion({ mss: MSS, initialWindowSegments: wMax, ...opts });
  cc.onCongestionEvent(0, wMax * MSS);
  cc.onRecoveryEnd(0, cc.cwnd);
  return cc;
}

/** `rounds` RTTs of a window-limited sender from `start` ms; the epoch starts at the first ACK. */
function drive(cc: CubicCongestion, rttMs: number, rounds: number, start = 0): Round[] {
  const out: Round[] = [];
  let now = start;
  let epoch: number | undefined;
  for (let r = 0; r < rounds; r++) {
    const n = Math.floor(cc.cwnd / MSS);
    for (let i = 0; i < n; i++) {
      const at = now + ((i + 1) * rttMs) / n;
      epoch ??= at;
      cc.onAck(MSS, at, rttMs, Math.max(0, cc.cwnd - MSS));
    }
    now += rttMs;
    out.push({ t: (now - epoch!) / 1000, cwnd: cc.cwnd / MSS, region: cc.region() });
  }
  return out;
}

describe("CUBIC constants and formulas (RFC 9438 §4.1–§4.3)", () => {
  it("§4.1.1: C = 0.4, β_cubic = 0.7; §4.3: α_cubic = 3(1 − β)/(1 + β) = 0.9/1.7", () => {
    expect(CUBIC_C).toBe(0.4);
    expect(CUBIC_BETA).toBe(0.7);
    expect(CUBIC_ALPHA).toBeCloseTo(0.9 / 1.7, 15);
    expect(CUBIC_ALPHA).toBeCloseTo(0.5294117647, 9);
  });

  it("§4.2 Figure 2: K = cubic_root(W_max(1 − β)/C) = cubic_root(75) s for W_max = 100", () => {
    // By hand: 100 * 0.3 / 0.4 = 75; 4.2171633265^3 = 75.000000000.
    expect(cubicK(100, 70)).toBeCloseTo(4.2171633265, 9);
    expect(cubicK(100, 70) ** 3).toBeCloseTo(75, 9);
    expect(cubicK(100, 100)).toBe(0);
    expect(cubicK(100, 120)).toBe(0);
  });

  it("§4.2 Figure 1: W_cubic(0) = cwnd_epoch, W_cubic(K) = W_max, symmetric around K", () => {
    const k = cubicK(100, 70);
    expect(wCubic(0, k, 100)).toBeCloseTo(70, 9);
    expect(wCubic(k, k, 100)).toBe(100);
    expect(wCubic(k + 1, k, 100) - 100).toBeCloseTo(100 - wCubic(k - 1, k, 100), 12);
    expect(wCubic(k + 2, k, 100)).toBeCloseTo(103.2, 12); // 0.4 * 2^3
  });
});

describe("CUBIC multiplicative decrease (RFC 9438 §4.6, §4.7)", () => {
  it("§4.6: ssthresh = FlightSize * 0.7, cwnd = ssthresh, W_max = cwnd before the loss", () => {
    const cc = new CubicCongestion({ mss: MSS, initialWindowSegments: 100 });
    cc.onCongestionEvent(0, 100 * MSS);
    expect(cc.ssthresh).toBe(70 * MSS);
    expect(cc.cwnd).toBe(70 * MSS);
    expect(cc.wMax).toBe(100);
    expect(cc.region()).toBe("concave");
  });

  it("§4.6: ssthresh and cwnd are at least 2 SMSS", () => {
    const cc = new CubicCongestion({ mss: MSS, initialWindowSegments: 2 });
    cc.onCongestionEvent(0, 2 * MSS);
    expect(cc.ssthresh).toBe(2 * MSS);
    expect(cc.cwnd).toBe(2 * MSS);
  });

  it("§4.7 fast convergence: a loss below the previous W_max sets W_max = cwnd(1 + β)/2", () => {
    const cc = afterLoss(100); // cwnd 70 < W_max 100
    cc.onCongestionEvent(10, 70 * MSS);
    expect(cc.wMax).toBeCloseTo(59.5, 12); // 70 * 1.7 / 2
    expect(cc.ssthresh).toBe(49 * MSS);
    cc.onRecoveryEnd(20, 49 * MSS);
    drive(cc, 100, 1, 20);
    expect(cc.k).toBeCloseTo(Math.cbrt((59.5 - 49) / 0.4), 12); // cubic_root(26.25) ≈ 2.9716

    const plain = afterLoss(100, { fastConvergence: false });
    plain.onCongestionEvent(10, 70 * MSS);
    expect(plain.wMax).toBe(70);
  });

  it("§4.7: a loss above the previous W_max records the new maximum", () => {
    const cc = afterLoss(100);
    drive(cc, 200, 40); // past K, in the convex region
    const before = cc.cwnd / MSS;
    expect(before).toBeGreaterThan(100);
    cc.onCongestionEvent(20_000, cc.cwnd);
    expect(cc.wMax).toBeCloseTo(before, 2); // `cwnd` reads back floored to whole bytes
    expect(cc.ssthresh).toBe(Math.floor(before * MSS * 0.7));
  });
});

describe("CUBIC window growth after a loss at W_max = 100 segments (RFC 9438 §4.2, §4.4, §4.5)", () => {
  const RTT = 200; // long enough that the cubic curve stays above the Reno estimate for 8 s
  const rounds = drive(afterLoss(100), RTT, 40);
  const k = cubicK(100, 70);

  it("§4.2: the epoch begins with the first ACK after recovery, K = cubic_root(75)", () => {
    const cc = afterLoss(100);
    drive(cc, RTT, 1);
    expect(cc.k).toBeCloseTo(4.2171633265, 9);
    expect(cc.wEst).toBeGreaterThan(70);
  });

  it("§4.2: cwnd tracks W_cubic(t) within half a segment at every RTT", () => {
    for (const r of rounds) expect(Math.abs(r.cwnd - wCubic(r.t, k, 100))).toBeLessThan(0.5);
  });

  it("§4.4: below W_max the growth is concave — each RTT adds less than the one before", () => {
    const concave = rounds.filter((r) => r.t < k - 0.5);
    expect(concave.length).toBeGreaterThan(15);
    for (const r of concave) expect(r.region).toBe("concave");
    for (let i = 2; i < concave.length; i++) {
      const d1 = concave[i - 1]!.cwnd - concave[i - 2]!.cwnd;
      const d2 = concave[i]!.cwnd - concave[i - 1]!.cwnd;
      expect(d2).toBeGreaterThan(0);
      expect(d2).toBeLessThan(d1);
    }
    for (const r of rounds.filter((x) => x.t <= k)) expect(r.cwnd).toBeLessThanOrEqual(100.01);
  });

  it("§4.2: the window plateaus at W_max around t = K", () => {
    const near = rounds.filter((r) => Math.abs(r.t - k) < 0.6);
    expect(near.length).toBeGreaterThan(3);
    for (const r of near) expect(Math.abs(r.cwnd - 100)).toBeLessThan(0.3);
  });

  it("§4.5: beyond W_max the growth is convex — each RTT adds more than the one before", () => {
    const convex = rounds.filter((r) => r.t > k + 0.5);
    expect(convex.length).toBeGreaterThan(10);
    for (const r of convex) expect(r.region).toBe("convex");
    for (let i = 2; i < convex.length; i++) {
      const d1 = convex[i - 1]!.cwnd - convex[i - 2]!.cwnd;
      const d2 = convex[i]!.cwnd - convex[i - 1]!.cwnd;
      expect(d2).toBeGreaterThan(d1);
    }
    expect(rounds.at(-1)!.cwnd).toBeGreaterThan(115);
  });

  it("§4.2: the target is clamped to 1.5 cwnd: a late ACK adds at most half a segment", () => {
    const cc = afterLoss(100);
    drive(cc, RTT, 1);
    const before = cc.cwnd;
    // 60 s after the epoch W_cubic is in the tens of thousands; the clamp limits the step.
    cc.onAck(MSS, 60_000, RTT, cc.cwnd - MSS);
    expect(cc.cwnd - before).toBeLessThanOrEqual(MSS / 2 + 1);
    expect(cc.cwnd - before).toBeGreaterThanOrEqual(MSS / 2 - 1);
  });
});

describe("CUBIC Reno-friendly region (RFC 9438 §4.3)", () => {
  it("with a short RTT W_est exceeds W_cubic and cwnd grows by α_cubic segments per RTT", () => {
    const rounds = drive(afterLoss(100), 1, 20);
    for (const r of rounds) expect(r.region).toBe("reno-friendly");
    // W_est += α * acked/cwnd: one window of ACKs adds about α segments per RTT.
    const perRtt = (rounds[19]!.cwnd - rounds[9]!.cwnd) / 10;
    expect(perRtt).toBeCloseTo(CUBIC_ALPHA, 1);
    expect(perRtt).toBeLessThan(0.6);
  });

  it("once W_est reaches cwnd_prior, α becomes 1: Reno's 1 segment per RTT", () => {
    const cc = afterLoss(100);
    const rounds = drive(cc, 1, 80); // 30 segments at ≈ 0.53 per RTT takes ≈ 57 RTTs
    const last = rounds.slice(-10);
    expect(last[0]!.cwnd).toBeGreaterThan(100);
    const perRtt = (last[9]!.cwnd - last[0]!.cwnd) / 9;
    expect(perRtt).toBeGreaterThan(0.95);
    expect(perRtt).toBeLessThan(1.05);
  });

  it("the Reno estimate starts from cwnd_epoch", () => {
    const cc = afterLoss(100);
    cc.onAck(MSS, 0, 1, 69 * MSS);
    expect(cc.wEst).toBeCloseTo(70 + CUBIC_ALPHA / 70, 12);
  });
});

describe("CUBIC timeout and slow start (RFC 9438 §4.8, §4.10; RFC 5681 §3.1)", () => {
  it("§4.8: an RTO sets ssthresh as §4.6 and cwnd = 1 SMSS; the next epoch has K = 0, W_max = cwnd_epoch", () => {
    const cc = new CubicCongestion({ mss: MSS, initialWindowSegments: 100 });
    cc.onRto(0, 100 * MSS);
    expect(cc.ssthresh).toBe(70 * MSS);
    expect(cc.cwnd).toBe(MSS);
    expect(cc.region()).toBe("slow-start");
    const rounds = drive(cc, 100, 9, 1000);
    // slow start: 1 → 2 → 4 → … → 64, then 70 (ssthresh) mid-round and congestion avoidance
    expect(rounds.slice(0, 6).map((r) => r.cwnd)).toEqual([2, 4, 8, 16, 32, 64]);
    expect(rounds[6]!.cwnd).toBeGreaterThanOrEqual(70);
    expect(rounds[6]!.cwnd).toBeLessThan(71);
    expect(cc.k).toBe(0);
    expect(cc.wMax).toBe(70);
    // W_cubic = 70 + 0.4 t^3 starts flat, so Reno's estimate (≈ 70 + 5.3 t at a 100 ms RTT) leads
    // until 0.4 t^3 = 5.3 t, t ≈ 3.6 s; then the convex curve takes over.
    expect(rounds.at(-1)!.region).toBe("reno-friendly");
    const later = drive(cc, 100, 50, 1900);
    expect(later.at(-1)!.region).toBe("convex");
    expect(later.at(-1)!.cwnd).toBeGreaterThan(100);
  });

  it("RFC 5681 §3.1: a repeated RTO of the same segment keeps ssthresh", () => {
    const cc = new CubicCongestion({ mss: MSS, initialWindowSegments: 100 });
    cc.onRto(0, 100 * MSS);
    cc.onRto(1000, MSS);
    expect(cc.ssthresh).toBe(70 * MSS);
    expect(cc.wMax).toBe(100);
  });

  it("§4.10: leaving slow start without a congestion event starts convex from cwnd (K = 0)", () => {
    const cc = new CubicCongestion({ mss: MSS });
    cc.onRto(0, 40 * MSS); // ssthresh 28 segments; W_max 10 (cwnd at the time)
    drive(cc, 100, 8, 1000);
    expect(cc.k).toBe(0);
    expect(cc.wMax).toBe(28);
  });

  it("§5.8: an application-limited flow neither grows cwnd nor lets the curve run ahead", () => {
    const cc = afterLoss(100);
    drive(cc, 100, 5); // epoch running, cwnd ≈ 82
    const before = cc.cwnd;
    for (let t = 600; t < 10_600; t += 100) cc.onAck(MSS, t, 100, 0);
    expect(cc.cwnd).toBe(before);
    // Back to window-limited: growth resumes along the curve where it paused (about 1.6 segments
    // per RTT at t ≈ 0.6 s), not 10 s further on, where the 1.5 cwnd clamp would add ~40.
    const rounds = drive(cc, 100, 1, 10_600);
    expect(rounds[0]!.cwnd - before / MSS).toBeLessThan(4);
    expect(rounds[0]!.cwnd - before / MSS).toBeGreaterThan(1);
  });

  it("onIdle: RFC 5681 §4.1 restart window and a fresh epoch", () => {
    const cc = new CubicCongestion({ mss: MSS });
    drive(cc, 100, 2); // 40 segments
    cc.onCongestionEvent(200, 40 * MSS); // ssthresh 28
    drive(cc, 100, 3, 300);
    cc.onIdle(60_000);
    expect(cc.cwnd).toBe(10 * MSS);
    expect(cc.region()).toBe("slow-start");
    drive(cc, 100, 2, 60_000); // 10 → 20 → 28 (ssthresh) and a new epoch toward W_max = 40
    expect(cc.k).toBeCloseTo(Math.cbrt((40 - 28) / 0.4), 12);

  });
});

describe("§4.9 spurious congestion events: undo restores W_max, cwnd_prior and the epoch", () => {
  it("§4.9 a spurious loss event in congestion avoidance: cwnd, ssthresh, W_max and K as before", () => {
    const cc = afterLoss(100); // W_max 100, cwnd 70
    drive(cc, 100, 5); // concave, growing toward 100
    const before = { cwnd: cc.cwnd, ssthresh: cc.ssthresh, wMax: cc.wMax, k: cc.k, wEst: cc.wEst, region: cc.region() };
    expect(before.wMax).toBe(100);
    cc.onCongestionEvent(500, cc.cwnd);
    // §4.7 fast convergence lowered W_max (cwnd < W_max): the undo must bring back 100.
    expect(cc.wMax).toBeLessThan(100);
    expect(cc.undo(530)).toBe(true);
    expect({ cwnd: cc.cwnd, ssthresh: cc.ssthresh, wMax: cc.wMax, k: cc.k, wEst: cc.wEst, region: cc.region() }).toEqual(before);
  });

  it("§4.9 after the undo the curve resumes where it stood: the episode's time does not count", () => {
    const a = afterLoss(100);
    const b = afterLoss(100);
    drive(a, 100, 5);
    drive(b, 100, 5);
    // b sees a spurious event at 500 ms, undone 200 ms later; a sees nothing and pauses as long.
    const atEvent = b.cwnd / MSS;
    b.onCongestionEvent(500, b.cwnd);
    b.undo(700);
    const ra = drive(a, 100, 3, 500);
    const rb = drive(b, 100, 3, 700);
    // a's epoch ran on through 500–700 ms without ACKs; b's curve was shifted by the episode, so b
    // grows no faster than a (it sits earlier on the concave curve).
    expect(rb[2]!.cwnd).toBeLessThanOrEqual(ra[2]!.cwnd);
    expect(rb[2]!.cwnd).toBeGreaterThan(atEvent);
  });

  it("§4.9 a spurious RTO: §4.8's W_max = cwnd_epoch restart is undone too", () => {
    const cc = afterLoss(100);
    drive(cc, 100, 5);
    const cwnd = cc.cwnd;
    cc.onRto(600, cwnd);
    expect(cc.cwnd).toBe(MSS);
    expect(cc.undo(610)).toBe(true);
    expect(cc.cwnd).toBe(cwnd);
    expect(cc.wMax).toBe(100);
    // The next congestion avoidance ACK continues the old epoch toward W_max (concave), not a
    // fresh convex one from cwnd (which §4.8 would start after a real timeout).
    drive(cc, 100, 1, 610);
    expect(cc.region()).toBe("concave");
    expect(cc.k).toBeCloseTo(cubicK(100, 70), 12);
  });
});
