import { describe, expect, it } from "vitest";
import { CaptureReader, readCapture, type CaptureFile, type CaptureRecord } from "../../../src/pcap/index.ts";
import { WireError } from "../../../src/wire/error.ts";
import { ARP_FRAME, concat, hex, memoryWriter, NgBuilder } from "./helpers.ts";

function readOk(bytes: Uint8Array): CaptureFile {
  const file = readCapture(bytes);
  if (file instanceof WireError) throw new Error(`unexpected ${file.toString()}`);
  expect(file.error?.toString()).toBeUndefined();
  return file;
}

/** A seeded LCG (Numerical Recipes constants): reproducible "random" test inputs. */
function lcg(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s;
  };
}

// Written by scapy 2.5.0, big-endian:
//   /usr/bin/python3 -c 'from scapy.all import *; p = Ether(dst="ff:ff:ff:ff:ff:ff", src="02:00:00:00:00:01")/
//     ARP(op=1, hwsrc="02:00:00:00:00:01", psrc="10.0.0.1", pdst="10.0.0.2"); p.time = 1700000000.5;
//     w = PcapWriter("be.pcap", endianness=">", linktype=1, sync=True); w.write(p); w.close()'
const SCAPY_BE_PCAP = hex(
  "a1b2c3d4 0002 0004 00000000 00000000 0000ffff 00000001" +
    "6553f100 0007a120 0000002a 0000002a" +
    "ffffffffffff 020000000001 0806 0001 0800 0604 0001 020000000001 0a000001 000000000000 0a000002",
);

// Written by mergecap (Wireshark 4.0.17): `mergecap -F pcapng -w m2.pcapng a.pcap b.pcap`, where
// a.pcap is the ARP frame above written little-endian by scapy (`wrpcap("a.pcap", [p])`, µs) and
// b.pcap is `IP(src="10.0.0.1", dst="10.0.0.2")/UDP(sport=7, dport=7)/b"hi"` at time 1700000001,
// written by scapy's `PcapWriter("b.pcap", nano=True, linktype=101)`. Two interfaces: Ethernet at
// 10^-6 s and raw IP (LINKTYPE_RAW 101) with if_tsresol 9.
const MERGECAP_PCAPNG = hex(
  "0a0d0d0a880000004d3c2b1a01000000ffffffffffffffff030015004c696e757820362e31382e34342d66632d763539" +
  "35000000040046004d65726765636170202857697265736861726b2920342e302e313720284769742076342e302e3137" +
  "207061636b6167656420617320342e302e31372d302b6465623132753329000000000000880000000100000014000000" +
  "01000000ffff000014000000010000002000000065000000ffff00000900010009000000000000002000000006000000" +
  "4c00000000000000240a060020e125182a0000002a000000ffffffffffff020000000001080600010800060400010200" +
  "000000010a0000010000000000000a00000200004c000000060000004000000001000000fe9c971700cac4711e000000" +
  "1e0000004500001e00010000401166cc0a0000010a00000200070007000a83606869000040000000",
);
const UDP_PACKET = hex("4500001e00010000401166cc0a0000010a00000200070007000a83606869");

describe("classic pcap reader (draft-ietf-opsawg-pcap)", () => {
  it("§4: reads a big-endian file written by scapy", () => {
    const file = readOk(SCAPY_BE_PCAP);
    expect(file.format).toBe("pcap");
    expect(file.interfaces).toEqual([
      {
        section: 0,
        id: 0,
        linkType: 1,
        snaplen: 65535,
        tsresol: { base: 10, exponent: 6 },
        tsOffset: 0,
        name: undefined,
        fcsLen: undefined,
      },
    ]);
    expect(file.records).toEqual([
      { sec: 1_700_000_000, nsec: 500_000_000, data: ARP_FRAME, origLen: 42, linkType: 1, interfaceId: undefined },
    ]);
  });

  /** A hand-built pcap file in either byte order with the given magic and records. */
  function pcapFile(
    le: boolean,
    magic: number,
    records: readonly { sec: number; frac: number; data: Uint8Array; orig?: number }[],
    extraHeader = 0,
    linkField = 1,
  ): Uint8Array {
    const parts: Uint8Array[] = [];
    const head = new Uint8Array(24);
    const hv = new DataView(head.buffer);
    hv.setUint32(0, magic, le);
    hv.setUint16(4, 2, le);
    hv.setUint16(6, 4, le);
    hv.setUint32(16, 65535, le);
    hv.setUint32(20, linkField, le);
    parts.push(head);
    for (const r of records) {
      const rh = new Uint8Array(16 + extraHeader).fill(0x5a);
      const rv = new DataView(rh.buffer);
      rv.setUint32(0, r.sec, le);
      rv.setUint32(4, r.frac, le);
      rv.setUint32(8, r.data.length, le);
      rv.setUint32(12, r.orig ?? r.data.length, le);
      parts.push(rh, r.data);
    }
    return concat(parts);
  }

  for (const le of [true, false]) {
    const order = le ? "little" : "big";
    it(`§4: ${order}-endian microsecond magic`, () => {
      const file = readOk(pcapFile(le, 0xa1b2c3d4, [{ sec: 7, frac: 999_999, data: ARP_FRAME, orig: 60 }]));
      expect(file.records).toEqual([
        { sec: 7, nsec: 999_999_000, data: ARP_FRAME, origLen: 60, linkType: 1, interfaceId: undefined },
      ]);
    });
    it(`§4: ${order}-endian nanosecond magic`, () => {
      const file = readOk(pcapFile(le, 0xa1b23c4d, [{ sec: 7, frac: 999_999_999, data: ARP_FRAME }]));
      expect(file.records[0]).toMatchObject({ sec: 7, nsec: 999_999_999 });
      expect(file.interfaces[0]?.tsresol).toEqual({ base: 10, exponent: 9 });
    });
    it(`${order}-endian "modified" magic 0xa1b2cd34 has 24-byte record headers`, () => {
      const recs = [
        { sec: 1, frac: 2, data: ARP_FRAME },
        { sec: 3, frac: 4, data: Uint8Array.of(9) },
      ];
      const file = readOk(pcapFile(le, 0xa1b2cd34, recs, 8));
      expect(file.records.map((r) => [r.sec, r.nsec, r.data])).toEqual([
        [1, 2000, ARP_FRAME],
        [3, 4000, Uint8Array.of(9)],
      ]);
    });
  }

  it("§4: LinkType is the low 16 bits; the f bit announces FCS length in 16-bit words", () => {
    // FCS = 2 (two 16-bit words, a 4-byte FCS), f set, LinkType 1.
    const file = readOk(pcapFile(true, 0xa1b2c3d4, [], 0, (2 << 29) | 0x10000000 | 1));
    expect(file.interfaces[0]).toMatchObject({ linkType: 1, fcsLen: 4 });
  });

  it("an out-of-range fraction carries into the seconds instead of failing", () => {
    const file = readOk(pcapFile(true, 0xa1b2c3d4, [{ sec: 5, frac: 2_500_000, data: ARP_FRAME }]));
    expect(file.records[0]).toMatchObject({ sec: 7, nsec: 500_000_000 });
  });

  it("data are views of the input, not copies", () => {
    const bytes = SCAPY_BE_PCAP.slice();
    const file = readOk(bytes);
    const data = file.records[0]?.data as Uint8Array;
    expect(data.buffer).toBe(bytes.buffer);
    expect(data.byteOffset).toBe(40);
  });

  it("refuses what is not a capture, and major versions other than 2", () => {
    expect(readCapture(new Uint8Array(0))).toMatchObject({ reason: "truncated" });
    expect(readCapture(hex("7f454c46 02010100 00000000 00000000"))).toMatchObject({ layer: "capture", reason: "bad-value" });
    const v3 = SCAPY_BE_PCAP.slice();
    v3[5] = 3;
    expect(readCapture(v3)).toMatchObject({ layer: "pcap", reason: "bad-version" });
    expect(readCapture(SCAPY_BE_PCAP.subarray(0, 23))).toMatchObject({ layer: "pcap", reason: "truncated" });
  });

  it("a record longer than the bytes left stops with `truncated` after the good records", () => {
    const good = pcapFile(true, 0xa1b2c3d4, [
      { sec: 1, frac: 0, data: ARP_FRAME },
      { sec: 2, frac: 0, data: ARP_FRAME },
    ]);
    const file = readCapture(good.subarray(0, good.length - 1));
    if (file instanceof WireError) throw new Error(file.toString());
    expect(file.records).toHaveLength(1);
    expect(file.error).toMatchObject({ layer: "pcap", reason: "truncated" });
  });
});

describe("pcapng reader (draft-ietf-opsawg-pcapng)", () => {
  it("reads a two-interface file written by mergecap (link types 1 and 101, if_tsresol 6 and 9)", () => {
    const file = readOk(MERGECAP_PCAPNG);
    expect(file.format).toBe("pcapng");
    expect(file.interfaces.map((i) => [i.id, i.linkType, i.snaplen, i.tsresol.exponent])).toEqual([
      [0, 1, 65535, 6],
      [1, 101, 65535, 9],
    ]);
    expect(file.records).toEqual([
      { sec: 1_700_000_000, nsec: 500_000_000, data: ARP_FRAME, origLen: 42, linkType: 1, interfaceId: 0 },
      { sec: 1_700_000_001, nsec: 0, data: UDP_PACKET, origLen: 30, linkType: 101, interfaceId: 1 },
    ]);
  });

  /**
   * Two sections: a little-endian one with an Ethernet interface and every kind of block around
   * its packets, then a big-endian one with three interfaces of unusual resolutions.
   */
  function twoSections(): Uint8Array {
    const b = new NgBuilder(true);
    b.shb(true, concat([b.opt(4, new TextEncoder().encode("handmade")), b.u32(0)]));
    b.idb(1, 0, [b.opt(2, new TextEncoder().encode("eth0\0"))]);
    b.block(4, concat([b.u16(1), b.u16(8), hex("0a000001 6100 0000"), b.u32(0)])); // §4.5 NRB, skipped
    b.epb(0, 0x00060a24, 0x1825e120, ARP_FRAME, 60, concat([b.opt(1, new TextEncoder().encode("hi")), b.u32(0)]));
    b.block(5, concat([b.u32(0), b.u32(0), b.u32(0)])); // §4.6 ISB, skipped
    b.spb(60, concat([ARP_FRAME, hex("0000")])); // §4.4: 44 of 60 bytes captured
    b.block(0x0000000a, concat([b.u32(0x544c534b), b.u32(4), hex("01020304")])); // §4.7 DSB, skipped
    b.block(0x00000bad, concat([b.u32(32473), hex("c0ffee00")])); // §4.8 custom, skipped
    b.block(0x12345678, hex("00000000")); // unknown, skipped
    b.shb(false);
    // §4.2 if_tsresol 0x8a: base 2, 2^-10 s; if_tsoffset -100 s.
    const minus100 = hex("ffffffff ffffff9c");
    b.idb(101, 16, [b.opt(9, Uint8Array.of(0x8a)), b.opt(14, minus100)]);
    b.idb(1, 0, [b.opt(9, Uint8Array.of(12))]); // picoseconds
    b.idb(1, 0, [b.opt(9, Uint8Array.of(0))]); // whole seconds
    b.epb(0, 0, 1024 * 200 + 512, UDP_PACKET.subarray(0, 16), 30); // 200.5 s - 100 s
    b.pb(1, 0x0000017b, 0xd0cbda85, ARP_FRAME); // Appendix A; picoseconds, expected via BigInt
    b.epb(2, 0, 1_700_000_000, Uint8Array.of(1, 2, 3));
    return b.bytes();
  }

  it("§4.1-§4.4, §3.1: sections in both byte orders, several interfaces, EPB, SPB, PB; other blocks skipped", () => {
    const file = readOk(twoSections());
    expect(file.interfaces.map((i) => [i.section, i.id, i.linkType, i.snaplen, i.tsresol, i.tsOffset, i.name])).toEqual([
      [0, 0, 1, 0, { base: 10, exponent: 6 }, 0, "eth0"],
      [1, 0, 101, 16, { base: 2, exponent: 10 }, -100, undefined],
      [1, 1, 1, 0, { base: 10, exponent: 12 }, 0, undefined],
      [1, 2, 1, 0, { base: 10, exponent: 0 }, 0, undefined],
    ]);
    // 0x00060a24_1825e120 µs = 1700000000.5 s.
    const ps = (0x17bn << 32n) | 0xd0cbda85n;
    expect(file.records).toEqual([
      { sec: 1_700_000_000, nsec: 500_000_000, data: ARP_FRAME, origLen: 60, linkType: 1, interfaceId: 0 },
      // §4.4: a cut-short SPB holds as many bytes as its block length allows.
      { sec: 0, nsec: 0, data: concat([ARP_FRAME, hex("0000")]), origLen: 60, linkType: 1, interfaceId: 0 },
      { sec: 100, nsec: 500_000_000, data: UDP_PACKET.subarray(0, 16), origLen: 30, linkType: 101, interfaceId: 0 },
      {
        sec: Number(ps / 10n ** 12n),
        nsec: Number((ps % 10n ** 12n) / 1000n),
        data: ARP_FRAME,
        origLen: 42,
        linkType: 1,
        interfaceId: 1,
      },
      { sec: 1_700_000_000, nsec: 0, data: Uint8Array.of(1, 2, 3), origLen: 3, linkType: 1, interfaceId: 2 },
    ]);
  });

  it("§4.4: a simple packet block is cut to the interface's snaplen", () => {
    const b = new NgBuilder(false).shb(false);
    b.idb(1, 10, []).spb(42, ARP_FRAME);
    const file = readOk(b.bytes());
    expect(file.records[0]).toMatchObject({ data: ARP_FRAME.subarray(0, 10), origLen: 42 });
  });

  it("§4.2: 64-bit timestamps split exactly for base-10 and base-2 resolutions", () => {
    const next = lcg(42);
    const resolutions = [0, 1, 3, 6, 9, 10, 12, 15, 18, 0x80, 0x80 | 10, 0x80 | 20, 0x80 | 30, 0x80 | 37, 0x80 | 40, 0x80 | 63];
    for (const res of resolutions) {
      const units = res & 0x80 ? 2n ** BigInt(res & 0x7f) : 10n ** BigInt(res);
      const b = new NgBuilder(true).shb(true);
      b.idb(1, 0, [b.opt(9, Uint8Array.of(res))]);
      const stamps: bigint[] = [0n, 1n, units - 1n, units, 0xffffffffffffffffn, 0x00000000ffffffffn];
      for (let i = 0; i < 200; i++) {
        // Around realistic times for this resolution, and anywhere in 64 bits.
        const t = i % 2 === 0 ? 1_700_000_000n * units + BigInt(next()) : (BigInt(next()) << 32n) | BigInt(next());
        stamps.push(t & 0xffffffffffffffffn);
      }
      for (const t of stamps) b.epb(0, Number(t >> 32n), Number(t & 0xffffffffn), Uint8Array.of(0));
      const file = readOk(b.bytes());
      file.records.forEach((r, i) => {
        const t = stamps[i] as bigint;
        const want = [Number(t / units), Number(((t % units) * 1_000_000_000n) / units)];
        expect([r.sec, r.nsec], `resolution 0x${res.toString(16)}, t=${t}`).toEqual(want);
      });
    }
  });

  it("§3.1: impossible block lengths are errors, with the records before them kept", () => {
    const base = new NgBuilder(true).shb(true).idb(1, 0).epb(0, 0, 1, ARP_FRAME);
    const good = base.bytes();
    const withTail = (tail: Uint8Array): CaptureFile => {
      const file = readCapture(concat([good, tail]));
      if (file instanceof WireError) throw new Error(file.toString());
      expect(file.records).toHaveLength(1);
      return file;
    };
    expect(withTail(hex("06000000 08000000 08000000")).error).toMatchObject({ reason: "bad-length" }); // < 12
    expect(withTail(hex("06000000 0d000000 00 0d000000")).error).toMatchObject({ reason: "bad-length" }); // not ×4
    expect(withTail(hex("05000000 0c000000 10000000")).error).toMatchObject({ reason: "bad-length" }); // trailer
    expect(withTail(hex("06000000 10000000 00000000 10000000")).error).toMatchObject({ reason: "bad-length" }); // EPB < 32
    // EPB claiming 100 captured bytes in a 36-byte block.
    const b = new NgBuilder(true);
    const lying = b.block(6, concat([b.u32(0), b.u32(0), b.u32(0), b.u32(100), b.u32(100), hex("01020304")])).bytes();
    expect(withTail(lying).error).toMatchObject({ reason: "bad-length" });
    // EPB on an interface the section never described.
    expect(withTail(new NgBuilder(true).epb(3, 0, 0, ARP_FRAME).bytes()).error).toMatchObject({ reason: "bad-value" });
    // A block cut off by the end of the file.
    expect(withTail(hex("06000000 40000000 00000000")).error).toMatchObject({ reason: "truncated" });
  });

  it("§4.1: refuses a bad byte-order magic and an unknown major version", () => {
    const bom = new NgBuilder(true).shb(true).bytes();
    bom[8] = 0;
    expect(readCapture(bom)).toMatchObject({ layer: "pcapng", reason: "bad-value" });
    const v2 = new NgBuilder(true).shb(true).bytes();
    v2[12] = 2;
    expect(readCapture(v2)).toMatchObject({ layer: "pcapng", reason: "bad-version" });
    const spbFirst = new NgBuilder(true).shb(true).spb(42, ARP_FRAME).bytes();
    expect((readCapture(spbFirst) as CaptureFile).error).toMatchObject({ reason: "bad-value" });
  });
});

describe("CaptureReader streaming", () => {
  it("next() yields records, then undefined for ever; the iterator gives the same", () => {
    const bytes = MERGECAP_PCAPNG;
    const reader = CaptureReader.open(bytes) as CaptureReader;
    const seen: CaptureRecord[] = [];
    for (let r = reader.next(); r !== undefined; r = reader.next()) seen.push(r);
    expect(seen).toHaveLength(2);
    expect(reader.next()).toBeUndefined();
    expect(reader.error).toBeUndefined();
    expect(reader.offset).toBe(bytes.length);
    expect([...(CaptureReader.open(bytes) as CaptureReader)]).toEqual(seen);
  });
});

describe("damaged files never throw", () => {
  const writtenNs = memoryWriter({ format: "pcap", resolution: "ns" });
  for (let i = 0; i < 5; i++) writtenNs.sink.writePacket(ARP_FRAME.subarray(0, 20 + i), 100 + i, i);
  // Name, bytes, and the length of the file header (pcap) or first Section Header Block (pcapng).
  const samples: [string, Uint8Array, number][] = [
    ["scapy big-endian pcap", SCAPY_BE_PCAP, 24],
    ["our ns pcap", writtenNs.bytes(), 24],
    ["mergecap pcapng", MERGECAP_PCAPNG, 0x88],
  ];

  for (const [name, bytes, headerLen] of samples) {
    it(`${name}: every truncation gives a WireError or a prefix of the records`, () => {
      const full = readOk(bytes).records;
      for (let len = 0; len <= bytes.length; len++) {
        const file = readCapture(bytes.subarray(0, len));
        if (file instanceof WireError) {
          expect(len).toBeLessThan(headerLen); // only a cut header is refused outright
          continue;
        }
        expect(full.slice(0, file.records.length)).toEqual(file.records);
        if (file.error === undefined) {
          // Clean only when the cut fell on a record boundary.
          expect(len === bytes.length || file.records.length < full.length).toBe(true);
        } else {
          expect(file.error.reason).toBe("truncated");
          expect(file.records.length).toBeLessThan(full.length);
        }
      }
    });
  }

  it("truncations of a two-section pcapng up to its full length never throw", () => {
    const b = new NgBuilder(true).shb(true).idb(1, 0).epb(0, 1, 2, ARP_FRAME).shb(false).idb(1, 0).epb(0, 1, 2, ARP_FRAME);
    const bytes = b.bytes();
    const full = readOk(bytes).records;
    for (let len = 0; len <= bytes.length; len++) {
      const file = readCapture(bytes.subarray(0, len));
      if (file instanceof WireError) continue;
      expect(full.slice(0, file.records.length)).toEqual(file.records);
    }
  });

  it("random byte corruption of valid files never throws and never yields data past the input", () => {
    const next = lcg(7);
    for (const [, bytes] of samples) {
      for (let round = 0; round < 2000; round++) {
        const copy = bytes.slice();
        const flips = 1 + (next() % 4);
        for (let f = 0; f < flips; f++) copy[next() % copy.length] = next() & 0xff;
        const file = readCapture(copy);
        if (file instanceof WireError) continue;
        for (const r of file.records) {
          expect(r.data.buffer).toBe(copy.buffer);
          expect(r.data.byteOffset + r.data.length).toBeLessThanOrEqual(copy.length);
          expect(r.nsec).toBeGreaterThanOrEqual(0);
          expect(r.nsec).toBeLessThan(1e9);
        }
      }
    }
  });
});

describe("read speed", () => {
  it("decodes a 500k-frame pcap and pcapng well above tcpdump's ~350k frames/s", () => {
    const frame = new Uint8Array(60).fill(0x11);
    for (const format of ["pcap", "pcapng"] as const) {
      const { sink, bytes } = memoryWriter({ format, resolution: "ns" });
      for (let i = 0; i < 500_000; i++) sink.writePacket(frame, 1_700_000_000 + (i >>> 10), (i * 997) % 1e9);
      const file = bytes();
      let best = Infinity;
      let count = 0;
      for (let run = 0; run < 3; run++) {
        const t0 = performance.now();
        const reader = CaptureReader.open(file) as CaptureReader;
        count = 0;
        let sum = 0;
        for (let r = reader.next(); r !== undefined; r = reader.next()) {
          count++;
          sum += r.nsec + r.data.length;
        }
        best = Math.min(best, performance.now() - t0);
        expect(sum).toBeGreaterThan(0);
      }
      const rate = count / (best / 1000);
      console.log(`${format}: ${count} frames in ${best.toFixed(1)} ms = ${(rate / 1e6).toFixed(2)} M frames/s`);
      expect(count).toBe(500_000);
      expect(rate).toBeGreaterThan(1_000_000);
    }
  });
});
