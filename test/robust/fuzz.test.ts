/**
 * A short seeded run of scripts/fuzz.ts inside the suite (issue 8, item 1): structure-aware mutations
 * of every frame in captures/ and of frames the peer really sent, into a stack with open connections,
 * listeners and reassembly in progress, and into `decode`. The long run is
 * `npx tsx scripts/fuzz.ts --frames 10000000 --seed 1`.
 */
import { describe, expect, test } from "vitest";
import { FuzzFailure, FuzzWorld, fixChecksums, runFuzz } from "../../scripts/fuzz.ts";
import { parseIpv4 } from "../../src/wire/ipv4.ts";
import { WireError } from "../../src/wire/error.ts";
import { tcpFrame } from "./helpers.ts";

describe("fuzz", () => {
  test("30 000 seeded frames: no exception escapes, every invariant holds, deep paths are reached", () => {
    const res = runFuzz({ seed: 2024, frames: 30_000 });
    expect(res.frames).toBe(30_000);
    // The mutations reach past the checksums into TCP, reassembly and the drop paths of each layer.
    const c = res.counters;
    expect(c["tcp.rx.delivered"] ?? 0).toBeGreaterThan(1000);
    expect(Object.keys(c).filter((k) => k.startsWith("ipv4.drop.")).length).toBeGreaterThan(3);
    expect(Object.keys(c).some((k) => k.startsWith("ipv4.frag"))).toBe(true);
  }, 60_000);

  test("the same seed replays the same run", () => {
    const a = runFuzz({ seed: 5, frames: 3000 });
    const b = runFuzz({ seed: 5, frames: 3000 });
    expect(b.counters).toEqual(a.counters);
  }, 60_000);

  test("an exception escaping the receive path is caught by the invariant check, with the frame", () => {
    const w = new FuzzWorld(3);
    expect(w.check()).toBeUndefined();
    w.t.tcpLayer.processSegment = () => {
      throw new Error("planted bug");
    };
    w.inject(tcpFrame({ srcMac: "02:77:00:00:00:02", dstMac: "02:77:00:00:00:01", src: "10.77.0.2", dst: "10.77.0.1", srcPort: 1, dstPort: 7, seq: 1, ack: 0, flags: 2 }));
    expect(w.check()).toMatch(/exception.*planted bug/s);
    const f = new FuzzFailure(3, 17, Uint8Array.of(1, 2), "x");
    expect(f.message).toContain("--seed 3 --frames 18");
    expect(f.message).toContain("0102");
  });

  test("fixChecksums makes a corrupted IPv4 header valid again (so mutations reach past it)", () => {
    const f = tcpFrame({ srcMac: "02:77:00:00:00:02", dstMac: "02:77:00:00:00:01", src: "10.77.0.2", dst: "10.77.0.1", srcPort: 1, dstPort: 7, seq: 1, ack: 0, flags: 2 });
    f[14 + 8] = 3; // TTL
    expect(parseIpv4(f.subarray(14))).toBeInstanceOf(WireError);
    fixChecksums(f);
    expect(parseIpv4(f.subarray(14))).not.toBeInstanceOf(WireError);
  });
});
