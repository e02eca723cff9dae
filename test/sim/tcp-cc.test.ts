/**
 * Congestion control as the cwnd trace shows it (issue 4, item 8), with two stacks on the memory
 * wire in virtual time: slow start doubles the window every RTT (RFC 5681 §3.1), a loss halves it
 * under NewReno (RFC 5681 §3.2, RFC 6582) and cuts it to 0.7 under CUBIC (RFC 9438 §4.6), CUBIC grows
 * concave below W_max and convex beyond it (RFC 9438 §4.4, §4.5) while NewReno adds one segment per
 * RTT (RFC 5681 §3.1); flows sharing a 10 Mbit/s bottleneck share it fairly (Jain's index ≥ 0.9);
 * and a seed replays the same trace exactly.
 *
 * The trace is what `TcpConnection.onTrace` reports: one sample per cwnd change.
 */
import { describe, expect, test } from "vitest";
import type { CongestionAlgorithm } from "../../src/transport/tcp/congestion.ts";
import { CUBIC_BETA, cubicK } from "../../src/transport/tcp/cubic.ts";
import {
  ALGORITHMS,
  Driver,
  DropDataDevice,
  cwndAt,
  cwndSlope,
  describePair,
  jainIndex,
  lossEvents,
  patternBytes,
  tcpSim,
  type Pair,
  type TraceSample,
} from "./tcp-helpers.ts";

const BOTTLENECK = { rateBitsPerSecond: 10e6, queueLimit: 50, delayMs: 10 } as const;

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** One bulk upload of `size` bytes; returns the pair once the server has everything. */
function upload(seed: number, cc: CongestionAlgorithm, impairments: object, size: number): { pair: Pair; mss: number } {
  const sim = tcpSim({ seed, impairments, config: { congestion: cc } });
  const drv = new Driver(sim);
  const pair = drv.open({ port: 5001, upload: patternBytes(size, seed), hash: false });
  const ok = drv.runUntil(() => pair.server !== undefined && pair.server.received === size, 600_000);
  expect(ok, `seed ${seed} ${cc}: ${describePair(pair)}`).toBe(true);
  return { pair, mss: pair.client.conn.stats().mss };
}

describe("slow start: cwnd doubles every RTT (RFC 5681 §3.1, RFC 3465 §2.2)", () => {
  for (const cc of ALGORITHMS) {
    test(cc, () => {
      // 1 Gbit/s so a window's segments arrive spread out (one ACK per two, RFC 1122 §4.2.3.2) yet
      // every round fits well inside the 20 ms RTT.
      const { pair, mss } = upload(21, cc, { delayMs: 10, rateBitsPerSecond: 1e9, queueLimit: 10_000 }, 2_000_000);
      const trace = pair.client.trace;
      const t0 = trace[0]!.t; // the first ACK of data: one RTT after the first flight left
      expect(trace[0]!.ssthresh).toBe(Infinity);
      // The initial window is 10 segments (RFC 6928); after the first round's ACKs, 20; then 40, 80.
      // (The last odd segment of a round waits for the delayed ACK, so a round may end one short.)
      const rounds = [0, 1, 2, 3].map((k) => cwndAt(trace, t0 + 20 * k + 10)!);
      expect(rounds[0]! / mss).toBeGreaterThanOrEqual(19);
      expect(rounds[0]! / mss).toBeLessThanOrEqual(20);
      for (let k = 1; k < rounds.length; k++) {
        const ratio = rounds[k]! / rounds[k - 1]!;
        expect(ratio, `round ${k}: ${rounds.map((c) => c / mss).join(", ")} segments`).toBeGreaterThan(1.8);
        expect(ratio).toBeLessThan(2.2);
      }
      // No loss on this path: slow start never ended by a congestion event.
      expect(lossEvents(trace, mss)).toEqual([]);
      expect(trace.every((s) => s.ssthresh === Infinity)).toBe(true);
    });
  }
});

describe("multiplicative decrease on loss at a 10 Mbit/s bottleneck", () => {
  const expected: Record<CongestionAlgorithm, number> = { newreno: 0.5, cubic: CUBIC_BETA };
  for (const cc of ALGORITHMS) {
    test(`${cc}: cwnd × ${expected[cc]} on entering fast recovery (${cc === "cubic" ? "RFC 9438 §4.6" : "RFC 5681 §3.2"})`, () => {
      const { pair, mss } = upload(22, cc, BOTTLENECK, 6_000_000);
      const fast = lossEvents(pair.client.trace, mss).filter((e) => e.kind === "fast");
      expect(fast.length).toBeGreaterThan(0);
      for (const e of fast) {
        // ssthresh = β × min(FlightSize, cwnd) and cwnd = ssthresh: never more than β × cwnd.
        expect(e.after / e.before).toBeLessThanOrEqual(expected[cc] + 1e-3);
        expect(e.after).toBe(e.ssthresh);
      }
      expect(median(fast.map((e) => e.after / e.before))).toBeCloseTo(expected[cc], 1);
      expect(pair.client.conn.stats().fastRetransmits).toBeGreaterThanOrEqual(fast.length);
    });
  }
});

/**
 * One loss at t = 0.8 s on an uncongested 200 ms-RTT, 1 Gbit/s path with large buffers: after it
 * the window grows undisturbed for 15 s, so the whole growth curve of one congestion-avoidance
 * epoch shows. (The rate spaces a window's segments, so the receiver ACKs every second one as on a
 * real link; segments arriving in one batch would be acknowledged together.)
 */
function oneLoss(cc: CongestionAlgorithm): { trace: TraceSample[]; mss: number; lossAt: number; wMax: number; ssthresh: number } {
  const big = 8 << 20;
  let dropper: DropDataDevice | undefined;
  const sim = tcpSim({
    seed: 23,
    impairments: { delayMs: 100, rateBitsPerSecond: 1e9, queueLimit: 10_000 },
    config: { congestion: cc, sendBufferSize: big, recvBufferSize: big },
    wrapA: (port, clock) => (dropper = new DropDataDevice(port, clock, [800])),
  });
  const drv = new Driver(sim);
  const pair = drv.open({ port: 5001, upload: { endless: patternBytes(1 << 20, 5) }, hash: false });
  drv.runFor(16_000);
  expect(dropper?.droppedAt.length).toBe(1);
  const mss = pair.client.conn.stats().mss;
  const events = lossEvents(pair.client.trace, mss);
  expect(events.length, describePair(pair)).toBe(1);
  const e = events[0]!;
  expect(e.kind).toBe("fast");
  return { trace: pair.client.trace, mss, lossAt: e.t, wMax: e.before, ssthresh: e.ssthresh };
}

describe("growth after a loss", () => {
  test("CUBIC: concave up to W_max, flat near it, convex beyond (RFC 9438 §4.2, §4.4, §4.5)", () => {
    const { trace, mss, lossAt, wMax, ssthresh } = oneLoss("cubic");
    const after = trace.filter((s) => s.t > lossAt && s.cwnd >= ssthresh);
    // K from RFC 9438 Figure 2, in segments and seconds: when the curve reaches W_max again.
    const k = cubicK(wMax / mss, ssthresh / mss) * 1000;
    const epoch = after[0]!.t; // recovery ends about one RTT after the loss
    const reach = after.find((s) => s.cwnd >= wMax)!;
    expect(reach, "cwnd never got back to W_max").toBeDefined();
    // The curve reaches W_max about K after the epoch began (the target runs one RTT ahead).
    expect(Math.abs(reach.t - epoch - k)).toBeLessThan(0.2 * k);
    // Concave: fast growth first, slowing as cwnd nears W_max.
    const third = k / 3;
    const early = cwndSlope(after, epoch, epoch + third);
    const late = cwndSlope(after, epoch + 2 * third, epoch + k);
    expect(early).toBeGreaterThan(3 * late);
    // Convex: beyond W_max growth accelerates again.
    const beyond1 = cwndSlope(after, epoch + k, epoch + k + third * 2);
    const beyond2 = cwndSlope(after, epoch + k + third * 2, epoch + k + third * 4);
    expect(beyond2).toBeGreaterThan(2 * beyond1);
    expect(beyond2).toBeGreaterThan(3 * late);
    expect(trace[trace.length - 1]!.cwnd).toBeGreaterThan(wMax * 1.2);
  });

  test("NewReno: congestion avoidance adds one segment per RTT (RFC 5681 §3.1)", () => {
    const { trace, mss, lossAt, ssthresh } = oneLoss("newreno");
    const after = trace.filter((s) => s.t > lossAt + 1000 && s.cwnd >= ssthresh);
    const perRtt = (cwndSlope(after, lossAt + 1000, Infinity) / 1000) * 200; // bytes per 200 ms RTT
    expect(perRtt / mss).toBeGreaterThan(0.8);
    expect(perRtt / mss).toBeLessThan(1.2);
  });
});

describe("fairness: flows through one 10 Mbit/s bottleneck with a 50-packet queue", () => {
  for (const n of [2, 8]) {
    for (const cc of ALGORITHMS) {
      test(`${n} ${cc} flows: Jain index ≥ 0.9 over 20–60 s`, () => {
        const sim = tcpSim({ seed: 30 + n, impairments: BOTTLENECK, config: { congestion: cc } });
        const drv = new Driver(sim);
        const block = patternBytes(1 << 20, 7);
        const pairs: Pair[] = [];
        for (let i = 0; i < n; i++) {
          pairs.push(drv.open({ port: 5001, upload: { endless: block }, hash: false }));
          drv.runFor(100); // staggered starts, as real flows have
        }
        drv.runFor(20_000 - sim.clock.now());
        const start = pairs.map((p) => p.server?.received ?? 0);
        drv.runFor(40_000);
        const bytes = pairs.map((p, i) => (p.server?.received ?? 0) - start[i]!);
        const index = jainIndex(bytes);
        const total = bytes.reduce((a, b) => a + b, 0);
        expect(index, `bytes per flow ${bytes.join(", ")}`).toBeGreaterThanOrEqual(0.9);
        // And the bottleneck is actually used: at least 70% of 10 Mbit/s over 40 s.
        expect(total * 8).toBeGreaterThan(0.7 * 10e6 * 40);
      }, 120_000);
    }
  }
});

describe("determinism: the same seed gives the same trace", () => {
  function run(seed: number): { client: TraceSample[]; server: TraceSample[]; states: string } {
    const sim = tcpSim({
      seed,
      impairments: { loss: 0.02, reorder: 0.25, duplicate: 0.05, corrupt: 0.01, ...BOTTLENECK },
    });
    const drv = new Driver(sim);
    const pair = drv.open({ port: 5001, upload: patternBytes(1_000_000, 1), download: patternBytes(1_000_000, 2) });
    drv.runUntil(() => pair.client.conn.state === "CLOSED" && pair.server?.conn.state === "CLOSED", 600_000);
    return {
      client: pair.client.trace,
      server: pair.server?.trace ?? [],
      states: [...pair.client.states, ...(pair.server?.states ?? [])].map((s) => `${s.t}:${s.state}`).join(" "),
    };
  }

  test("same seed → identical cwnd/RTT traces and state timings; another seed differs", () => {
    const first = run(40);
    const again = run(40);
    expect(first.client.length).toBeGreaterThan(10);
    expect(again).toEqual(first);
    const other = run(41);
    expect(other.client).not.toEqual(first.client);
  });
});
