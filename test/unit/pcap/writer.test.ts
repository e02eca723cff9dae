import { describe, expect, it } from "vitest";
import {
  createCaptureWriter,
  PcapngWriter,
  PcapWriter,
  readCapture,
  type CaptureFile,
} from "../../../src/pcap/index.ts";
import { emitPcapHeader, emitPcapRecordHeader, parsePcapHeader } from "../../../src/pcap/pcap.ts";
import {
  emitEnhancedPacket,
  emitInterfaceDescription,
  emitSectionHeader,
  interfaceDescriptionLen,
  sectionHeaderLen,
} from "../../../src/pcap/pcapng.ts";
import { WireError } from "../../../src/wire/error.ts";
import { ARP_FRAME, concat, hex, memoryWriter } from "./helpers.ts";

const SEC = 0x65a0b0c0; // 2024-01-12T03:26:24Z
const NSEC = 123_456_789;
const FRAME = Uint8Array.of(1, 2, 3, 4);

// Expected bytes, field by field from draft-ietf-opsawg-pcap §4/§5. tcpdump 4.99.3 rewrites our files
// byte for byte (`tcpdump -r ours.pcap -w out.pcap`; checked in tools.test.ts).
const PCAP_US_HEADER = hex("d4c3b2a1 0200 0400 00000000 00000000 00000400 01000000");
const PCAP_NS_HEADER = hex("4d3cb2a1 0200 0400 00000000 00000000 00000400 01000000");

function readOk(bytes: Uint8Array): CaptureFile {
  const file = readCapture(bytes);
  if (file instanceof WireError) throw new Error(file.toString());
  expect(file.error).toBeUndefined();
  return file;
}

describe("pcap writer (draft-ietf-opsawg-pcap)", () => {
  it("§4/§5: writes the µs header at construction and one record chunk per frame", () => {
    const { sink, chunks } = memoryWriter();
    expect(chunks).toEqual([PCAP_US_HEADER]);
    sink.writePacket(FRAME, SEC, NSEC);
    expect(chunks).toHaveLength(2);
    // ts_sec, ts_usec 123456 (nanoseconds truncated), incl_len 4, orig_len 4, data.
    expect(chunks[1]).toEqual(hex("c0b0a065 40e20100 04000000 04000000 01020304"));
  });

  it("§4: the nanosecond magic 0xa1b23c4d carries nanoseconds unchanged", () => {
    const { sink, chunks } = memoryWriter({ resolution: "ns" });
    sink.writePacket(FRAME, SEC, NSEC);
    expect(concat(chunks)).toEqual(concat([PCAP_NS_HEADER, hex("c0b0a065 15cd5b07 04000000 04000000 01020304")]));
  });

  it("§5: frames beyond snaplen are cut, Original Packet Length keeps the wire length", () => {
    const { sink, bytes } = memoryWriter({ snaplen: 2, linkType: 101 });
    sink.writePacket(FRAME, 1, 0);
    sink.writePacket(FRAME.subarray(0, 1), 2, 0, 1500);
    expect(bytes()).toEqual(
      concat([
        hex("d4c3b2a1 0200 0400 00000000 00000000 02000000 65000000"),
        hex("01000000 00000000 02000000 04000000 0102"),
        hex("02000000 00000000 01000000 dc050000 01"),
      ]),
    );
  });

  it("emitPcapHeader / emitPcapRecordHeader write at an offset and touch nothing else", () => {
    const out = new Uint8Array(3 + 24 + 16 + 2).fill(0xaa);
    const at = emitPcapHeader({ resolution: "us", snaplen: 262144, linkType: 1 }, out, 3);
    expect(at).toBe(27);
    expect(emitPcapRecordHeader(SEC, 123456, 4, 4, out, at)).toBe(43);
    expect(out).toEqual(concat([hex("aaaaaa"), PCAP_US_HEADER, hex("c0b0a065 40e20100 04000000 04000000 aaaa")]));
    const parsed = parsePcapHeader(out.subarray(3));
    expect(parsed).toMatchObject({ resolution: "us", littleEndian: true, snaplen: 262144, linkType: 1, fcsLen: undefined });
  });

  it("writes the same bytes on every run (golden-file property)", () => {
    const a = memoryWriter({ resolution: "ns" });
    const b = memoryWriter({ resolution: "ns" });
    for (const w of [a, b]) for (let i = 0; i < 10; i++) w.sink.writePacket(ARP_FRAME, 1_700_000_000 + i, i * 7);
    expect(a.bytes()).toEqual(b.bytes());
  });
});

describe("pcapng writer (draft-ietf-opsawg-pcapng)", () => {
  // §4.1 SHB with shb_userappl "wirestack"; §4.2 IDB with if_name "tap0" and if_tsresol 9; §4.3 EPB.
  const SHB = hex(
    "0a0d0d0a 30000000 4d3c2b1a 0100 0000 ffffffff ffffffff" +
      "0400 0900 77697265737461636b 000000 00000000 30000000",
  );
  const IDB_NS_TAP0 = hex("01000000 28000000 0100 0000 00000400 0200 0400 74617030 0900 0100 09000000 00000000 28000000");
  const IDB_US = hex("01000000 14000000 0100 0000 00000400 14000000");

  it("§4.1-§4.3: section header, interface (if_name, if_tsresol 9) and an enhanced packet block", () => {
    const { sink, chunks } = memoryWriter({ format: "pcapng", resolution: "ns", interfaceName: "tap0" });
    expect(chunks).toEqual([concat([SHB, IDB_NS_TAP0])]);
    sink.writePacket(FRAME, SEC, NSEC);
    // Timestamp 0x65a0b0c0 * 10^9 + 123456789 = 0x17a97b97_66534d15 nanoseconds.
    expect(chunks[1]).toEqual(hex("06000000 24000000 00000000 977ba917 154d5366 04000000 04000000 01020304 24000000"));
  });

  it("§4.2: microsecond resolution is the default and needs no if_tsresol option", () => {
    const { sink, chunks } = memoryWriter({ format: "pcapng" });
    expect(chunks).toEqual([concat([SHB, IDB_US])]);
    // 0x65a0b0c0 * 10^6 + 123456 = 0x00060eb7_30ff9240 µs; 3 data bytes padded to 4 (§3.1).
    sink.writePacket(FRAME.subarray(0, 3), SEC, NSEC, 60);
    expect(chunks[1]).toEqual(hex("06000000 24000000 00000000 b70e0600 4092ff30 03000000 3c000000 01020300 24000000"));
  });

  it("§4.3: the largest timestamp we accept splits into exact 32-bit halves", () => {
    const { sink, chunks } = memoryWriter({ format: "pcapng", resolution: "ns" });
    sink.writePacket(FRAME, 0xffffffff, 999_999_999);
    // (2^32 - 1) * 10^9 + 999999999 = 0x3b9ac9ff_ffffffff.
    expect(chunks[1]?.subarray(12, 20)).toEqual(hex("ffc99a3b ffffffff"));
  });

  it("emit functions write at an offset and touch nothing else", () => {
    const shb = { userAppl: "wirestack" };
    const idb = { linkType: 1, snaplen: 262144, tsresolExponent: 9, name: "tap0" };
    const total = 5 + sectionHeaderLen(shb) + interfaceDescriptionLen(idb) + 36 + 1;
    const out = new Uint8Array(total).fill(0xaa);
    let at = emitSectionHeader(shb, out, 5);
    at = emitInterfaceDescription(idb, out, at);
    at = emitEnhancedPacket(0, 0x17a97b97, 0x66534d15, FRAME, 4, 4, out, at);
    expect(at).toBe(total - 1);
    expect(out).toEqual(
      concat([
        hex("aaaaaaaaaa"),
        SHB,
        IDB_NS_TAP0,
        hex("06000000 24000000 00000000 977ba917 154d5366 04000000 04000000 01020304 24000000"),
        hex("aa"),
      ]),
    );
  });
});

describe("writer → reader round trips", () => {
  const cases = [
    { format: "pcap", resolution: "us" },
    { format: "pcap", resolution: "ns" },
    { format: "pcapng", resolution: "us" },
    { format: "pcapng", resolution: "ns" },
  ] as const;
  for (const { format, resolution } of cases) {
    it(`${format} ${resolution}: frames, lengths and timestamps come back`, () => {
      const { sink, bytes } = memoryWriter({ format, resolution, snaplen: 50 });
      const stamps: [number, number][] = [
        [0, 0],
        [1, 999_999_999],
        [1_700_000_000, 123_456_789],
        [0x7fffffff, 500_000_001],
        [0xffffffff, 999_999_999],
      ];
      const frames = stamps.map((_, i) => Uint8Array.from({ length: 20 + i * 13 }, (_, j) => (i * 31 + j) & 0xff));
      stamps.forEach(([s, ns], i) => sink.writePacket(frames[i] as Uint8Array, s, ns));
      sink.close();
      const file = readOk(bytes());
      expect(file.format).toBe(format);
      expect(file.records).toHaveLength(stamps.length);
      file.records.forEach((r, i) => {
        const [s, ns] = stamps[i] as [number, number];
        const frame = frames[i] as Uint8Array;
        expect(r.sec).toBe(s);
        expect(r.nsec).toBe(resolution === "ns" ? ns : Math.floor(ns / 1000) * 1000);
        expect(r.data).toEqual(frame.subarray(0, 50));
        expect(r.origLen).toBe(frame.length);
        expect(r.linkType).toBe(1);
        expect(r.interfaceId).toBe(format === "pcapng" ? 0 : undefined);
      });
    });
  }
});

describe("writer misuse throws", () => {
  for (const Writer of [PcapWriter, PcapngWriter]) {
    it(`${Writer.name}: bad timestamps, lengths and use after close`, () => {
      const w = new Writer(() => {});
      expect(() => w.writePacket(FRAME, -1, 0)).toThrow(RangeError);
      expect(() => w.writePacket(FRAME, 2 ** 32, 0)).toThrow(RangeError);
      expect(() => w.writePacket(FRAME, 1.5, 0)).toThrow(RangeError);
      expect(() => w.writePacket(FRAME, 0, 1e9)).toThrow(RangeError);
      expect(() => w.writePacket(FRAME, 0, -1)).toThrow(RangeError);
      expect(() => w.writePacket(FRAME, 0, 0, 3)).toThrow(RangeError);
      w.close();
      w.close();
      expect(() => w.writePacket(FRAME, 0, 0)).toThrow(/closed/);
    });
  }

  it("bad options throw at construction; onClose runs once", () => {
    expect(() => createCaptureWriter(() => {}, { snaplen: 0 })).toThrow(RangeError);
    expect(() => createCaptureWriter(() => {}, { linkType: 70000 })).toThrow(RangeError);
    expect(() => createCaptureWriter(() => {}, { format: "pcapng", linkType: -1 })).toThrow(RangeError);
    let closes = 0;
    const w = createCaptureWriter(() => {}, { format: "pcapng" }, () => closes++);
    w.close();
    w.close();
    expect(closes).toBe(1);
  });
});
