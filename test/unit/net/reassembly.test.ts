import { describe, expect, it } from "vitest";
import { DATAGRAM_OVERHEAD, FRAGMENT_OVERHEAD, Reassembler, type ReassemblyConfig } from "../../../src/net/reassembly.ts";
import { Counters } from "../../../src/util/counters.ts";

function make(policy: "ipv4" | "ipv6", config: Partial<ReassemblyConfig> = {}) {
  const counters = new Counters("t");
  const r = new Reassembler({
    policy,
    timeoutMs: 30_000,
    maxDatagrams: 1024,
    maxBytes: 4 * 1024 * 1024,
    maxFragmentsPerDatagram: 64,
    counters,
    ...config,
  });
  return { r, counters };
}

/** A payload whose byte i is i mod 251, so misplaced data shows. */
function payload(n: number): Uint8Array {
  return Uint8Array.from({ length: n }, (_, i) => i % 251);
}

/** Fragments of `data` cut every `size` bytes: [offset, more, bytes]. */
function cut(data: Uint8Array, size: number): Array<[number, boolean, Uint8Array]> {
  const out: Array<[number, boolean, Uint8Array]> = [];
  for (let off = 0; off < data.length; off += size) {
    out.push([off, off + size < data.length, data.subarray(off, Math.min(off + size, data.length))]);
  }
  return out;
}

function permutations<T>(xs: T[]): T[][] {
  if (xs.length <= 1) return [xs];
  return xs.flatMap((x, i) => permutations([...xs.slice(0, i), ...xs.slice(i + 1)]).map((p) => [x, ...p]));
}

describe("reassembly (RFC 791 §3.2, RFC 815)", () => {
  it("reassembles 4000 bytes in 1480-byte fragments in every arrival order", () => {
    const data = payload(4000);
    for (const order of permutations(cut(data, 1480))) {
      for (const policy of ["ipv4", "ipv6"] as const) {
        const { r } = make(policy);
        const results = order.map(([off, more, bytes]) => r.add("k", off, more, bytes, 0, off === 0 ? new Uint8Array([0x45]) : undefined));
        expect(results.slice(0, -1).every((x) => x.kind === "pending")).toBe(true);
        const last = results[results.length - 1];
        expect(last?.kind).toBe("complete");
        if (last?.kind !== "complete") return;
        expect(Buffer.from(last.data).equals(Buffer.from(data))).toBe(true);
        expect(last.first).toEqual(new Uint8Array([0x45]));
        expect(r.size).toBe(0);
        expect(r.bytesHeld).toBe(0);
      }
    }
  });

  it("copies fragment data: a reused receive buffer does not corrupt the datagram", () => {
    const { r } = make("ipv4");
    const buf = payload(16);
    r.add("k", 0, true, buf.subarray(0, 8), 0);
    buf.fill(0xee);
    const res = r.add("k", 8, false, payload(16).subarray(8), 0);
    expect(res.kind === "complete" && Array.from(res.data)).toEqual(Array.from(payload(16)));
  });

  it("ignores exact duplicates (both policies)", () => {
    for (const policy of ["ipv4", "ipv6"] as const) {
      const { r, counters } = make(policy);
      const [a, b] = cut(payload(16), 8) as [[number, boolean, Uint8Array], [number, boolean, Uint8Array]];
      expect(r.add("k", ...a, 0).kind).toBe("pending");
      expect(r.add("k", ...a, 0).kind).toBe("pending");
      expect(counters.get("frag-duplicate")).toBe(1);
      expect(r.add("k", ...b, 0).kind).toBe("complete");
    }
  });

  it("teardrop, policy ipv4: overlapping data is trimmed, the first arrival's bytes win", () => {
    const { r, counters } = make("ipv4");
    r.add("k", 0, true, new Uint8Array(24).fill(1), 0);
    // Overlaps bytes 16..24 and extends to 40 (the classic teardrop overlaps into the previous fragment).
    expect(r.add("k", 16, true, new Uint8Array(24).fill(2), 0).kind).toBe("pending");
    // Fully inside what is held: changes nothing.
    expect(r.add("k", 8, true, new Uint8Array(8).fill(3), 0).kind).toBe("pending");
    const res = r.add("k", 40, false, new Uint8Array(4).fill(4), 0);
    expect(res.kind).toBe("complete");
    if (res.kind !== "complete") return;
    expect(Array.from(res.data)).toEqual([...Array(24).fill(1), ...Array(16).fill(2), ...Array(4).fill(4)]);
    expect(counters.get("frag-overlap-trimmed")).toBe(1);
    expect(counters.get("frag-duplicate")).toBe(1);
  });

  it("teardrop, policy ipv6: any overlap discards the whole datagram (RFC 5722 §4)", () => {
    const { r, counters } = make("ipv6");
    r.add("k", 0, true, new Uint8Array(24), 0);
    expect(r.add("k", 16, true, new Uint8Array(24), 0)).toEqual({ kind: "dropped", reason: "overlap" });
    expect(r.size).toBe(0);
    expect(r.bytesHeld).toBe(0);
    expect(counters.get("drop.frag-overlap")).toBe(1);
    // The rest of the datagram then starts a new, never-completing entry rather than completing.
    expect(r.add("k", 40, false, new Uint8Array(8), 0).kind).toBe("pending");
  });

  it("a fragment fitting a hole exactly between two others completes the datagram (RFC 815 hole filling)", () => {
    const { r } = make("ipv4");
    r.add("k", 0, true, new Uint8Array(8).fill(1), 0);
    r.add("k", 16, false, new Uint8Array(8).fill(3), 0);
    const res = r.add("k", 8, true, new Uint8Array(8).fill(2), 0);
    expect(res.kind === "complete" && Array.from(res.data)).toEqual([...Array(8).fill(1), ...Array(8).fill(2), ...Array(8).fill(3)]);
  });

  it("drops a datagram whose end passes 65535 (ping of death)", () => {
    for (const policy of ["ipv4", "ipv6"] as const) {
      const { r, counters } = make(policy);
      r.add("k", 0, true, new Uint8Array(1480), 0);
      expect(r.add("k", 65528, false, new Uint8Array(8), 0)).toEqual({ kind: "dropped", reason: "too-big" });
      expect(r.size).toBe(0);
      expect(counters.get("drop.frag-too-big")).toBe(1);
    }
    const { r } = make("ipv4", { maxDatagramLen: 65515 });
    expect(r.add("k", 65512, false, new Uint8Array(4), 0).kind).toBe("dropped");
  });

  it("refuses M-set fragments whose length is not a multiple of 8 (RFC 8200 §4.5) or empty", () => {
    const { r } = make("ipv6");
    expect(r.add("k", 0, true, new Uint8Array(12), 0)).toEqual({ kind: "dropped", reason: "bad-length" });
    expect(r.add("k", 0, true, new Uint8Array(0), 0)).toEqual({ kind: "dropped", reason: "empty" });
    expect(r.size).toBe(0);
  });

  it("discards a datagram with inconsistent last fragments or data past its end", () => {
    const { r } = make("ipv4");
    r.add("k", 0, false, new Uint8Array(0), 0); // zero-length datagram: complete at once
    r.add("a", 16, false, new Uint8Array(8), 0);
    expect(r.add("a", 8, false, new Uint8Array(8), 0)).toEqual({ kind: "dropped", reason: "inconsistent-length" });
    r.add("b", 8, false, new Uint8Array(8), 0);
    expect(r.add("b", 16, true, new Uint8Array(8), 0)).toEqual({ kind: "dropped", reason: "inconsistent-length" });
    expect(r.size).toBe(0);
  });

  it("tiny fragments: 8-byte fragments beyond maxFragmentsPerDatagram discard the datagram", () => {
    const { r, counters } = make("ipv4", { maxFragmentsPerDatagram: 16 });
    for (let i = 0; i < 16; i++) expect(r.add("k", i * 8, true, new Uint8Array(8), 0).kind).toBe("pending");
    expect(r.add("k", 16 * 8, true, new Uint8Array(8), 0)).toEqual({ kind: "dropped", reason: "too-many-fragments" });
    expect(counters.get("drop.frag-too-many-fragments")).toBe(1);
    expect(r.bytesHeld).toBe(0);
  });

  it("times out after timeoutMs; reports the first fragment only when offset 0 arrived (RFC 792, RFC 8200 §4.5)", () => {
    const { r } = make("ipv4");
    r.add("with-first", 0, true, new Uint8Array(8), 1000, new Uint8Array([0x45, 0]));
    r.add("without-first", 8, true, new Uint8Array(8), 2000);
    expect(r.nextDeadline()).toBe(31_000);
    expect(r.poll(30_999)).toEqual([]);
    expect(r.poll(31_000)).toEqual([{ key: "with-first", first: new Uint8Array([0x45, 0]) }]);
    expect(r.nextDeadline()).toBe(32_000);
    expect(r.poll(40_000)).toEqual([{ key: "without-first", first: undefined }]);
    expect(r.nextDeadline()).toBeUndefined();
    expect(r.bytesHeld).toBe(0);
  });

  it("a flood of 10 000 distinct incomplete datagrams stays under maxBytes and maxDatagrams", () => {
    const maxBytes = 256 * 1024;
    const { r, counters } = make("ipv4", { maxBytes, maxDatagrams: 100_000 });
    let peak = 0;
    for (let i = 0; i < 10_000; i++) {
      r.add(`flood-${i}`, 0, true, new Uint8Array(1480), i, new Uint8Array(28));
      peak = Math.max(peak, r.bytesHeld);
    }
    expect(peak).toBeLessThanOrEqual(maxBytes);
    expect(r.size).toBe(Math.floor(maxBytes / (DATAGRAM_OVERHEAD + FRAGMENT_OVERHEAD + 1480 + 28)));
    expect(counters.get("drop.frag-memory")).toBe(10_000 - r.size);
    // Nothing held grows: fragments for held datagrams are refused too once the bound is reached.
    expect(r.add("flood-0", 1480, true, new Uint8Array(1480), 0).kind).toBe("dropped");
    expect(r.bytesHeld).toBeLessThanOrEqual(maxBytes);
    // The flood times out and the memory is free again.
    r.poll(10_000 + 30_000);
    expect(r.bytesHeld).toBe(0);
    expect(r.add("legit", 0, true, new Uint8Array(8), 40_000).kind).toBe("pending");
  });

  it("refuses new datagrams past maxDatagrams", () => {
    const { r, counters } = make("ipv6", { maxDatagrams: 2 });
    r.add("a", 0, true, new Uint8Array(8), 0);
    r.add("b", 0, true, new Uint8Array(8), 0);
    expect(r.add("c", 0, true, new Uint8Array(8), 0)).toEqual({ kind: "dropped", reason: "too-many-datagrams" });
    expect(counters.get("drop.frag-too-many-datagrams")).toBe(1);
  });
});
