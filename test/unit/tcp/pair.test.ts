/**
 * Whole transfers between two TcpConnections over a simulated link in virtual time: the data must
 * arrive byte-identical and both ends must reach CLOSED, under loss, duplication, reordering and a
 * bottleneck queue, with every combination of options.
 */
import { describe, expect, test } from "vitest";
import { transfer } from "./pair.ts";

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;
}

describe("transfers between two connections", () => {
  test("clean link, defaults (CUBIC, SACK, timestamps, window scale): 2 MB each way", () => {
    const r = transfer({ seed: 1, size: 2_000_000, backSize: 2_000_000, link: { delayMs: 5 } });
    expect(sameBytes(r.received, r.sent)).toBe(true);
    expect(sameBytes(r.receivedBack, r.sentBack)).toBe(true);
    expect(r.aClosed && r.bClosed).toBe(true);
    expect(r.a.stats().retransmits).toBe(0);
  });

  for (const seed of [1, 2, 3]) {
    test(`2% loss, 25% reordering, 5% duplication, 10 Mbit/s bottleneck, SACK (seed ${seed})`, () => {
      const r = transfer({
        seed,
        size: 1_000_000,
        backSize: 100_000,
        link: { delayMs: 10, loss: 0.02, reorder: 0.25, reorderMs: 3, duplicate: 0.05, rateBitsPerMs: 10_000, queueLimit: 50 },
      });
      expect(sameBytes(r.received, r.sent)).toBe(true);
      expect(sameBytes(r.receivedBack, r.sentBack)).toBe(true);
      expect(r.aClosed && r.bClosed).toBe(true);
      expect(r.a.stats().retransmits).toBeGreaterThan(0);
      expect(r.maxOooBytes).toBeLessThanOrEqual(256 * 1024);
    });

    test(`same impairments, NewReno without SACK or timestamps (seed ${seed})`, () => {
      const cfg = { sack: false, timestamps: false, congestion: "newreno" as const };
      const r = transfer({
        seed,
        size: 500_000,
        backSize: 50_000,
        link: { delayMs: 10, loss: 0.02, reorder: 0.25, reorderMs: 3, duplicate: 0.05, rateBitsPerMs: 10_000, queueLimit: 50 },
        configA: cfg,
        configB: cfg,
      });
      expect(sameBytes(r.received, r.sent)).toBe(true);
      expect(sameBytes(r.receivedBack, r.sentBack)).toBe(true);
      expect(r.aClosed && r.bClosed).toBe(true);
    });
  }

  test("heavy loss (10%) without window scaling still completes", () => {
    const cfg = { windowScale: false };
    const r = transfer({ seed: 9, size: 200_000, link: { delayMs: 20, loss: 0.1 }, configA: cfg, configB: cfg });
    expect(sameBytes(r.received, r.sent)).toBe(true);
    expect(r.aClosed && r.bClosed).toBe(true);
    expect(r.a.stats().timeouts).toBeGreaterThan(0);
  });

  test("a slow reader forces zero-window probing, and the data still arrives", () => {
    const r = transfer({
      seed: 4,
      size: 100_000,
      link: { delayMs: 2 },
      configB: { recvBufferSize: 16 * 1024 },
      readRatePerMs: 2,
      readChunk: 4096,
    });
    expect(sameBytes(r.received, r.sent)).toBe(true);
    expect(r.aClosed && r.bClosed).toBe(true);
    expect(r.a.stats().zeroWindowProbes).toBeGreaterThan(0);
  });
});
