import { describe, expect, it } from "vitest";
import { checksumOf } from "../../../src/wire/checksum.ts";
import { WireError } from "../../../src/wire/error.ts";
import { parseIpv4 as parseIpv4Text } from "../../../src/wire/ip-address.ts";
import {
  emitIpv4,
  emitIpv4Header,
  IP_PROTOCOL_ICMP,
  IP_PROTOCOL_UDP,
  IPV4_HEADER_LEN,
  ipv4HeaderLen,
  ipv4OptionType,
  Ipv4View,
  parseIpv4,
  type Ipv4Option,
  type Ipv4Repr,
} from "../../../src/wire/ipv4.ts";

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ""), "hex"));
const addr = (s: string): number => parseIpv4Text(s) as number;
const MARK = 0xaa;
const marked = (n: number): Uint8Array => new Uint8Array(n).fill(MARK);

function expectError(r: unknown, layer: string, reason: string): void {
  expect(r).toBeInstanceOf(WireError);
  expect((r as WireError).layer).toBe(layer);
  expect((r as WireError).reason).toBe(reason);
}

function repr(r: Ipv4Repr | WireError): Ipv4Repr {
  if (r instanceof WireError) throw new Error(`unexpected ${r.toString()}`);
  return r;
}

/** A copy of `bytes` with `edit` applied and the header checksum recomputed. */
function edited(bytes: Uint8Array, edit: (b: Uint8Array) => void): Uint8Array {
  const b = Uint8Array.from(bytes);
  edit(b);
  const hlen = ((b[0] as number) & 0x0f) * 4;
  b[10] = 0;
  b[11] = 0;
  const c = checksumOf(b, 0, hlen);
  b[10] = c >>> 8;
  b[11] = c & 0xff;
  return b;
}

// Record Route (one address recorded) + Router Alert + End of Option List, DF, DSCP 46 ECN 1, UDP.
// /usr/bin/python3 -c 'from scapy.all import *; p=IP(src="192.0.2.1",dst="198.51.100.7",tos=0xb9,flags="DF",id=0x1234,ttl=64,options=[IPOption_RR(pointer=8,routers=["203.0.113.5","0.0.0.0"]),IPOption_Router_Alert()])/UDP(sport=1234,dport=5678)/b"hello"; print(bytes(p).hex())'
const RR_RA = hex(
  "49b900311234400040111db8c0000201c6336407070b08cb00710500000000940400000004d2162e000db4c568656c6c6f",
);
// A non-final fragment: MF set, offset 185 units (1480 bytes).
// /usr/bin/python3 -c 'from scapy.all import *; p=IP(src="10.0.0.1",dst="10.0.0.2",id=0xbeef,flags="MF",frag=185,ttl=63,proto=17)/Raw(b"0123456789abcdef"); print(bytes(p).hex())'
const FRAGMENT = hex("45000024beef20b93f11881e0a0000010a00000230313233343536373839616263646566");
// An echo request whose header checksum is forced to 0xdead.
// /usr/bin/python3 -c 'from scapy.all import *; p=IP(src="10.0.0.1",dst="10.0.0.2",id=7,chksum=0xdead)/ICMP(id=1,seq=1)/b"ping"; print(bytes(p).hex())'
const BAD_CHECKSUM = hex("45000020000700004001dead0a0000010a0000020800192d0001000170696e67");
// The same packet with the checksum scapy computes (0x66d4).
// /usr/bin/python3 -c 'from scapy.all import *; p=IP(src="10.0.0.1",dst="10.0.0.2",id=7)/ICMP(id=1,seq=1)/b"ping"; print(bytes(p).hex())'
const GOOD_CHECKSUM = hex("4500002000070000400166d40a0000010a0000020800192d0001000170696e67");
// NOP + Loose Source Route (two addresses) + Timestamp with addresses (flag 1), no padding.
// /usr/bin/python3 -c 'from scapy.all import *; p=IP(src="10.0.0.1",dst="10.0.0.2",id=8,options=[IPOption_NOP(),IPOption_LSRR(pointer=4,routers=["10.1.1.1","10.2.2.2"]),IPOption_Timestamp(flg=1,pointer=5,oflw=0,internet_address="0.0.0.0",timestamp=0)])/ICMP(); print(bytes(p).hex())'
const LSRR_TS = hex(
  "4b000034000800004001f4240a0000010a00000201830b040a0101010a020202440c050100000000000000000800f7ff00000000",
);
// An unassigned option type 0x9e (copied, class 0, number 30) with four data bytes, then EOL + padding.
// /usr/bin/python3 -c 'from scapy.all import *; p=IP(src="10.0.0.1",dst="10.0.0.2",id=9,options=[IPOption(b"\x9e\x06\x01\x02\x03\x04")])/UDP(sport=7,dport=7); print(bytes(p).hex())'
const UNKNOWN_OPT = hex("47000024000900004011c2b10a0000010a0000029e06010203040000000700070008ebcd");

describe("IPv4 deconstruct (RFC 791 §3.1)", () => {
  it("reads every field of a header with Record Route and Router Alert options", () => {
    const r = repr(parseIpv4(RR_RA));
    expect(r.dscp).toBe(46);
    expect(r.ecn).toBe(1);
    expect(r.ident).toBe(0x1234);
    expect(r.dontFragment).toBe(true);
    expect(r.moreFragments).toBe(false);
    expect(r.fragmentOffset).toBe(0);
    expect(r.ttl).toBe(64);
    expect(r.protocol).toBe(IP_PROTOCOL_UDP);
    expect(r.src).toBe(addr("192.0.2.1"));
    expect(r.dst).toBe(addr("198.51.100.7"));
    expect(r.checksumOk).toBe(true);
    expect(r.options).toEqual([
      { kind: "record-route", pointer: 8, addresses: [addr("203.0.113.5"), 0] },
      { kind: "router-alert", value: 0 },
      { kind: "end-of-list" },
    ]);
    expect(Buffer.from(r.payload).toString("hex")).toBe("04d2162e000db4c568656c6c6f");
    // The payload is a view over the same bytes, not a copy.
    expect(r.payload.buffer).toBe(RR_RA.buffer);
  });

  it("exposes the raw option area and header length on the view", () => {
    const v = Ipv4View.check(RR_RA) as Ipv4View;
    expect(v.headerLen).toBe(36);
    expect(v.totalLength).toBe(49);
    expect(v.checksum).toBe(0x1db8);
    expect(Buffer.from(v.optionsRaw).toString("hex")).toBe("070b08cb0071050000000094040000" + "00");
  });

  it("reads a fragment: MF set, offset in bytes (field × 8)", () => {
    const r = repr(parseIpv4(FRAGMENT));
    expect(r.moreFragments).toBe(true);
    expect(r.dontFragment).toBe(false);
    expect(r.fragmentOffset).toBe(1480);
    expect(r.ident).toBe(0xbeef);
    expect(r.ttl).toBe(63);
    expect(Buffer.from(r.payload).toString()).toBe("0123456789abcdef");
  });

  it("reads NOP, Loose Source Route and a Timestamp with addresses", () => {
    const r = repr(parseIpv4(LSRR_TS));
    expect(r.protocol).toBe(IP_PROTOCOL_ICMP);
    expect(r.options).toEqual([
      { kind: "nop" },
      { kind: "loose-source-route", pointer: 4, addresses: [addr("10.1.1.1"), addr("10.2.2.2")] },
      { kind: "timestamp", pointer: 5, overflow: 0, flag: "with-address", entries: [{ address: 0, timestamp: 0 }] },
    ]);
    expect(r.payload.length).toBe(8);
  });

  it("keeps an unknown option's type and data", () => {
    const r = repr(parseIpv4(UNKNOWN_OPT));
    expect(r.options).toHaveLength(2);
    const o = r.options[0] as Extract<Ipv4Option, { kind: "unknown" }>;
    expect(o.kind).toBe("unknown");
    expect(o.type).toBe(0x9e);
    expect(Array.from(o.data)).toEqual([1, 2, 3, 4]);
    expect(r.options[1]).toEqual({ kind: "end-of-list" });
  });

  it("ignores link padding past Total Length", () => {
    const padded = new Uint8Array(RR_RA.length + 11).fill(0);
    padded.set(RR_RA);
    const r = repr(parseIpv4(padded));
    expect(r.payload.length).toBe(13);
  });

  it("names the copied flag through the option type (RFC 791 §3.1)", () => {
    const r = repr(parseIpv4(LSRR_TS));
    expect(r.options.map(ipv4OptionType)).toEqual([1, 131, 68]);
    expect(ipv4OptionType(r.options[1] as Ipv4Option) & 0x80).toBe(0x80);
    expect(ipv4OptionType(r.options[2] as Ipv4Option) & 0x80).toBe(0);
  });
});

describe("IPv4 header checksum (RFC 791 §3.1)", () => {
  it("refuses a bad checksum by default", () => {
    expectError(parseIpv4(BAD_CHECKSUM), "ipv4", "bad-checksum");
    expect((Ipv4View.check(BAD_CHECKSUM) as Ipv4View).checksumValid).toBe(false);
    expect((Ipv4View.check(GOOD_CHECKSUM) as Ipv4View).checksumValid).toBe(true);
  });

  it("reports it instead with strictChecksum: false", () => {
    const r = repr(parseIpv4(BAD_CHECKSUM, { strictChecksum: false }));
    expect(r.checksumOk).toBe(false);
    expect(r.ident).toBe(7);
    expect(r.payload.length).toBe(12);
  });

  it("emits the checksum scapy computes for the same header", () => {
    const r = repr(parseIpv4(BAD_CHECKSUM, { strictChecksum: false }));
    const out = marked(GOOD_CHECKSUM.length);
    expect(emitIpv4(r, out, 0)).toBe(GOOD_CHECKSUM.length);
    expect(out).toEqual(GOOD_CHECKSUM);
  });
});

describe("IPv4 construct", () => {
  for (const [name, bytes] of [
    ["Record Route + Router Alert", RR_RA],
    ["fragment", FRAGMENT],
    ["NOP + LSRR + Timestamp", LSRR_TS],
    ["unknown option", UNKNOWN_OPT],
  ] as const) {
    it(`re-emits ${name} byte for byte into a marked buffer`, () => {
      const r = repr(parseIpv4(bytes));
      expect(ipv4HeaderLen(r)).toBe((Ipv4View.check(bytes) as Ipv4View).headerLen);
      const out = marked(bytes.length + 8);
      expect(emitIpv4(r, out, 4)).toBe(4 + bytes.length);
      expect(out.subarray(4, 4 + bytes.length)).toEqual(bytes);
      expect(Array.from(out.subarray(0, 4))).toEqual([MARK, MARK, MARK, MARK]);
      expect(Array.from(out.subarray(4 + bytes.length))).toEqual([MARK, MARK, MARK, MARK]);
    });
  }

  it("builds the Record Route packet from a hand-written repr", () => {
    const payload = RR_RA.subarray(36);
    const out = marked(RR_RA.length);
    emitIpv4(
      {
        dscp: 46,
        ecn: 1,
        ident: 0x1234,
        dontFragment: true,
        moreFragments: false,
        fragmentOffset: 0,
        ttl: 64,
        protocol: IP_PROTOCOL_UDP,
        src: addr("192.0.2.1"),
        dst: addr("198.51.100.7"),
        // Without an explicit End of Option List, the zero padding supplies it.
        options: [
          { kind: "record-route", pointer: 8, addresses: [addr("203.0.113.5"), 0] },
          { kind: "router-alert", value: 0 },
        ],
        payload,
      },
      out,
      0,
    );
    expect(out).toEqual(RR_RA);
  });

  it("writes the header in front of a payload already in place, without copying it", () => {
    const r = repr(parseIpv4(FRAGMENT));
    const out = marked(50);
    const at = 6;
    const payloadAt = at + IPV4_HEADER_LEN;
    out.set(r.payload, payloadAt);
    expect(emitIpv4Header(r, r.payload.length, out, at)).toBe(payloadAt);
    expect(out.subarray(at, at + FRAGMENT.length)).toEqual(FRAGMENT);
    // emitIpv4 with the in-place subarray gives the same bytes.
    const again = Uint8Array.from(out);
    emitIpv4({ ...r, payload: again.subarray(payloadAt, payloadAt + 16) }, again, at);
    expect(again).toEqual(out);
  });

  it("round-trips at a non-zero offset", () => {
    const inbuf = marked(RR_RA.length + 13);
    inbuf.set(RR_RA, 13);
    const r = repr(parseIpv4(inbuf.subarray(13)));
    const out = marked(RR_RA.length + 7);
    const end = emitIpv4(r, out, 7);
    expect(end).toBe(out.length);
    const back = repr(parseIpv4(out.subarray(7)));
    expect(back).toEqual(r);
  });

  it("refuses reprs it cannot encode", () => {
    const r = repr(parseIpv4(FRAGMENT));
    const out = new Uint8Array(200);
    expect(() => emitIpv4({ ...r, fragmentOffset: 1481 }, out, 0)).toThrow(RangeError);
    expect(() => emitIpv4({ ...r, fragmentOffset: 65536 }, out, 0)).toThrow(RangeError);
    expect(() => emitIpv4({ ...r, dscp: 64 }, out, 0)).toThrow(RangeError);
    expect(() => emitIpv4({ ...r, ttl: 256 }, out, 0)).toThrow(RangeError);
    expect(() => emitIpv4({ ...r, ident: 0x10000 }, out, 0)).toThrow(RangeError);
    const nineRoutes: Ipv4Option = { kind: "record-route", pointer: 4, addresses: new Array<number>(10).fill(0) };
    expect(() => emitIpv4({ ...r, options: [nineRoutes] }, out, 0)).toThrow(RangeError);
    expect(() => emitIpv4Header(r, 65536 - 20, out, 0)).toThrow(RangeError);
    expect(() => emitIpv4(r, new Uint8Array(10), 0)).toThrow(RangeError);
    expect(() => emitIpv4({ ...r, options: [{ kind: "unknown", type: 1, data: new Uint8Array(0) }] }, out, 0)).toThrow(
      RangeError,
    );
  });
});

describe("IPv4 malformed and truncated", () => {
  it("refuses a wrong version, IHL < 5, IHL past the bytes, Total Length out of range", () => {
    expectError(parseIpv4(edited(RR_RA, (b) => (b[0] = 0x69))), "ipv4", "bad-version");
    expectError(parseIpv4(edited(GOOD_CHECKSUM, (b) => (b[0] = 0x44))), "ipv4", "bad-length");
    expectError(parseIpv4(edited(GOOD_CHECKSUM, (b) => (b[0] = 0x4f))), "ipv4", "truncated");
    expectError(parseIpv4(edited(RR_RA, (b) => (b[3] = 35))), "ipv4", "bad-length");
    expectError(parseIpv4(edited(RR_RA, (b) => (b[3] = 50))), "ipv4", "truncated");
  });

  it("accepts Total Length equal to IHL: an empty payload", () => {
    const r = repr(parseIpv4(edited(RR_RA, (b) => (b[3] = 36))));
    expect(r.payload.length).toBe(0);
  });

  it("every truncation is an error, never a throw", () => {
    for (let n = 0; n < RR_RA.length; n++) {
      const r = parseIpv4(RR_RA.subarray(0, n));
      expect(r, `length ${n}`).toBeInstanceOf(WireError);
      expect((r as WireError).reason).toBe("truncated");
    }
  });

  // Offsets in RR_RA: options start at 20; RR type 20, length 21, pointer 22; RA type 31, length 32.
  for (const [name, edit] of [
    ["an option length past the option area", (b: Uint8Array) => (b[21] = 0x30)],
    ["an option length below 2", (b: Uint8Array) => (b[32] = 1)],
    ["Router Alert length 3 (RFC 2113 §2.1)", (b: Uint8Array) => (b[32] = 3)],
    ["a Record Route pointer below 4", (b: Uint8Array) => (b[22] = 3)],
    ["route data that is not whole addresses", (b: Uint8Array) => (b[21] = 10)],
    ["a type octet with no room for its length", (b: Uint8Array) => b.set([1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0x44], 20)],
  ] as const) {
    it(`refuses ${name} as a bad-value option list (RFC 791 §3.1)`, () => {
      const bad = edited(RR_RA, edit);
      expectError(parseIpv4(bad), "ipv4-option", "bad-value");
      expect((Ipv4View.check(bad) as Ipv4View).options()).toBeInstanceOf(WireError);
    });

    it(`keeps ${name} verbatim with strictOptions: false, and re-emits the header unchanged`, () => {
      const bad = edited(RR_RA, edit);
      const r = repr(parseIpv4(bad, { strictOptions: false }));
      expect(r.options).toHaveLength(1);
      expect(r.options[0]?.kind).toBe("malformed");
      const out = marked(bad.length);
      emitIpv4(r, out, 0);
      expect(out).toEqual(bad);
    });
  }

  it("refuses an unknown timestamp flag and a timestamp pointer below 5", () => {
    // Timestamp option at 32 in LSRR_TS: type 32, length 33, pointer 34, overflow|flag 35.
    expectError(parseIpv4(edited(LSRR_TS, (b) => (b[35] = 0x02))), "ipv4-option", "bad-value");
    expectError(parseIpv4(edited(LSRR_TS, (b) => (b[34] = 4))), "ipv4-option", "bad-value");
    // Flag 0 (timestamps only): the 8 data bytes are two timestamps.
    const r = repr(parseIpv4(edited(LSRR_TS, (b) => (b[35] = 0x30))));
    expect(r.options[2]).toEqual({
      kind: "timestamp",
      pointer: 5,
      overflow: 3,
      flag: "timestamps-only",
      entries: [
        { address: undefined, timestamp: 0 },
        { address: undefined, timestamp: 0 },
      ],
    });
  });

  it("never throws on any single-byte corruption of the header", () => {
    for (let i = 0; i < 36; i++) {
      for (const value of [0x00, 0x01, 0x02, 0x03, 0x04, 0x07, 0x44, 0x7f, 0x80, 0x94, 0xff]) {
        const b = edited(RR_RA, (x) => (x[i] = value));
        for (const opts of [{}, { strictOptions: false }]) {
          const r = parseIpv4(b, opts);
          if (!(r instanceof WireError)) {
            // Whatever parses re-emits without throwing into a buffer of the packet's length.
            expect(emitIpv4(r, new Uint8Array(b.length), 0)).toBeLessThanOrEqual(b.length);
          }
        }
      }
    }
  });
});
