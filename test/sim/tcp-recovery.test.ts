/**
 * Loss recovery between two stacks on the memory wire, in virtual time (issue 4 follow-up):
 *   - slow start doubles cwnd every RTT on a link with NO rate limit, where a whole window arrives
 *     in one batch: the receiver still ACKs every second full-sized segment (RFC 5681 §4.2, RFC 9293
 *     §3.8.6.3), so the sender's byte counting (RFC 3465, L = 2·SMSS) sees one ACK per two segments;
 *   - under random loss with small flights, losses are repaired by fast retransmit, Limited Transmit
 *     (RFC 3042), Early Retransmit (RFC 5827) and tail loss probes (RFC 8985 §7) rather than by the RTO;
 *   - under heavy reordering, spurious fast retransmissions are detected (RFC 3522 / RFC 3708) and
 *     DupThresh adapts (RFC 4653), so goodput stays near the link rate.
 * Seeds are fixed: a failure replays exactly.
 */
import { describe, expect, test } from "vitest";
import type { Impairments } from "../../src/device/fault.ts";
import { ALGORITHMS, Driver, cwndAt, describePair, lossEvents, patternBytes, tcpSim, type Pair } from "./tcp-helpers.ts";

function upload(seed: number, impairments: Impairments, size: number, config: object = {}): { pair: Pair; mss: number; ms: number } {
  const sim = tcpSim({ seed, impairments, config });
  const drv = new Driver(sim);
  const t0 = sim.clock.now();
  const pair = drv.open({ port: 5001, upload: patternBytes(size, seed), hash: false });
  const ok = drv.runUntil(() => pair.server !== undefined && pair.server.received === size, 600_000);
  expect(ok, `seed ${seed}: ${describePair(pair)}`).toBe(true);
  return { pair, mss: pair.client.conn.stats().mss, ms: sim.clock.now() - t0 };
}

describe("slow start without a rate limit: cwnd doubles every RTT (RFC 5681 §3.1, §4.2)", () => {
  for (const cc of ALGORITHMS) {
    test(cc, () => {
      // 10 ms each way, no serialization: every flight arrives as one batch at the receiver.
      const { pair, mss } = upload(31, { delayMs: 10 }, 3_000_000, { congestion: cc });
      const trace = pair.client.trace;
      const t0 = trace[0]!.t;
      const rounds = [0, 1, 2, 3].map((k) => cwndAt(trace, t0 + 20 * k + 10)! / mss);
      // IW 10 (RFC 6928) → 20 → 40 → 80 → 160 (an odd last segment may wait for the delayed ACK).
      expect(rounds[0]).toBeGreaterThanOrEqual(19);
      for (let k = 1; k < rounds.length; k++) {
        const ratio = rounds[k]! / rounds[k - 1]!;
        expect(ratio, `round ${k}: ${rounds.join(", ")} segments`).toBeGreaterThan(1.8);
        expect(ratio).toBeLessThan(2.2);
      }
      expect(lossEvents(trace, mss)).toEqual([]);
    });
  }
});

describe("random loss: repaired without waiting for the RTO (RFC 3042, RFC 5827, RFC 8985 §7)", () => {
  test("2% loss, 5 ms RTT, 4 MB: most losses repaired by fast retransmit, few RTOs", () => {
    const { pair } = upload(32, { loss: 0.02, delayMs: 2.5 }, 4_000_000);
    const s = pair.client.conn.stats();
    console.log(`2% loss: ${JSON.stringify({ fastRetransmits: s.fastRetransmits, timeouts: s.timeouts, tailLossProbes: s.tailLossProbes, lostRetransmits: s.lostRetransmits, retransmits: s.retransmits })}`);
    expect(s.fastRetransmits).toBeGreaterThan(10);
    expect(s.timeouts).toBeLessThan(s.fastRetransmits / 2);
  });
});

describe("25% reordering at 10 Mbit/s: DupThresh adapts (RFC 4653 §3.2, RFC 3708 D-SACK, RFC 3522 Eifel)", () => {
  test("goodput stays above 6 Mbit/s, spurious retransmissions are detected and stop", () => {
    const size = 4_000_000;
    const { pair, ms } = upload(33, { reorder: 0.25, reorderDelayMs: 5, rateBitsPerSecond: 10e6, queueLimit: 100, delayMs: 5 }, size);
    const s = pair.client.conn.stats();
    const mbps = (size * 8) / (ms * 1000);
    console.log(`25% reordering: ${mbps.toFixed(2)} Mbit/s ${JSON.stringify({ fastRetransmits: s.fastRetransmits, spurious: s.spuriousRetransmits, reordering: s.reordering, timeouts: s.timeouts })}`);
    expect(s.spuriousRetransmits).toBeGreaterThan(0);
    expect(s.reordering).toBeGreaterThan(3);
    expect(mbps).toBeGreaterThan(6);
  });
});
