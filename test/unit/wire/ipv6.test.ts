import { describe, expect, it } from "vitest";
import { WireError } from "../../../src/wire/error.ts";
import { ipv6ToString } from "../../../src/wire/ip-address.ts";
import { IP_PROTOCOL_ICMPV6, IP_PROTOCOL_TCP, IP_PROTOCOL_UDP } from "../../../src/wire/ipv4.ts";
import {
  emitIpv6,
  emitIpv6Header,
  IPV6_HEADER_LEN,
  ipv6Length,
  Ipv6View,
  parseIpv6,
  type Ipv6Repr,
} from "../../../src/wire/ipv6.ts";
import {
  emitIpv6ExtHeader,
  emitIpv6FragmentHeader,
  emitIpv6OptionsHeader,
  emitIpv6RoutingHeader,
  IPV6_EXT,
  Ipv6ChainError,
  ipv6ExtHeaderLen,
  optionDataMayChange,
  unknownOptionAction,
  walkIpv6Chain,
  type Ipv6Chain,
  type Ipv6ChainEntry,
  type Ipv6Option,
  type Ipv6OptionsHeader,
} from "../../../src/wire/ipv6-ext.ts";

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ""), "hex"));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
const MARK = 0xaa;
const marked = (n: number): Uint8Array => new Uint8Array(n).fill(MARK);

function repr(r: Ipv6Repr | WireError): Ipv6Repr {
  if (r instanceof WireError) throw new Error(`unexpected ${r.toString()}`);
  return r;
}
function chain(c: Ipv6Chain | WireError): Ipv6Chain {
  if (c instanceof WireError) throw new Error(`unexpected ${c.toString()}`);
  return c;
}
function chainError(c: Ipv6Chain | Ipv6ChainError, reason: string, pointer: number): void {
  expect(c).toBeInstanceOf(Ipv6ChainError);
  expect((c as Ipv6ChainError).reason).toBe(reason);
  expect((c as Ipv6ChainError).pointer).toBe(pointer);
}
/** The walk over a whole packet's payload. */
const walk = (packet: Uint8Array): Ipv6Chain | Ipv6ChainError => {
  const r = repr(parseIpv6(packet));
  return walkIpv6Chain(r.nextHeader, r.payload);
};

// Hop-by-Hop (Router Alert, PadN) + Destination Options (PadN 4) + Fragment (offset 0, M) + UDP.
// /usr/bin/python3 -c 'from scapy.all import *; p=IPv6(src="fd00::1",dst="fd00::2",tc=0xb8,fl=0x12345,hlim=64)/IPv6ExtHdrHopByHop(options=[RouterAlert(value=0)])/IPv6ExtHdrDestOpt(options=[PadN(optdata=b"\x00"*4)])/IPv6ExtHdrFragment(offset=0,m=1,id=0xcafef00d)/UDP(sport=1000,dport=2000)/b"abcdefgh"; print(bytes(p).hex())'
const HBH_DST_FRAG = hex(
  "6b81234500280040fd000000000000000000000000000001fd000000000000000000000000000002" +
    "3c00050200000100" + // Hop-by-Hop: next 60, len 0, Router Alert 0, PadN 0
    "2c00010400000000" + // Destination Options: next 44, len 0, PadN 4
    "11000001cafef00d" + // Fragment: next 17, offset 0, M, id 0xcafef00d
    "03e807d00010687c6162636465666768",
);
// Routing type 0 (RFC 5095: deprecated, still parsed) with two addresses, then ICMPv6 echo request.
// /usr/bin/python3 -c 'from scapy.all import *; p=IPv6(src="fd00::1",dst="fd00::2")/IPv6ExtHdrRouting(type=0,segleft=1,addresses=["fd00::a","fd00::b"])/ICMPv6EchoRequest(id=1,seq=2); print(bytes(p).hex())'
const ROUTING0 = hex(
  "6000000000302b40fd000000000000000000000000000001fd000000000000000000000000000002" +
    "3a04000100000000fd00000000000000000000000000000afd00000000000000000000000000000b" +
    "800085ac00010002",
);
// Routing type 2 (RFC 6275) then Destination Options whose Next Header is No Next Header.
// /usr/bin/python3 -c 'from scapy.all import *; p=IPv6(src="fd00::1",dst="fd00::2")/IPv6ExtHdrRouting(type=2,segleft=1,addresses=["2001:db8::99"])/IPv6ExtHdrDestOpt(nh=59); print(bytes(p).hex())'
const ROUTING2_NONEXT = hex(
  "6000000000202b40fd000000000000000000000000000001fd000000000000000000000000000002" +
    "3c0202010000000020010db8000000000000000000000099" +
    "3b00010400000000",
);
// No Next Header in the fixed header; the bytes after it are to be ignored (RFC 8200 §4.7).
// /usr/bin/python3 -c 'from scapy.all import *; p=IPv6(src="fd00::1",dst="fd00::2",nh=59)/b"ignored"; print(bytes(p).hex())'
const NO_NEXT = hex(
  "6000000000073b40fd000000000000000000000000000001fd00000000000000000000000000000269676e6f726564",
);
// Hop-by-Hop with four unknown options, one per high-order-bits action: 0x1e, 0x5e, 0x9e, 0xde.
// /usr/bin/python3 -c 'from scapy.all import *; p=IPv6(src="fd00::1",dst="ff02::1")/IPv6ExtHdrHopByHop(options=[HBHOptUnknown(otype=0x1e,optdata=b"\x01\x02"),HBHOptUnknown(otype=0x5e,optdata=b""),HBHOptUnknown(otype=0x9e,optdata=b"\x03"),HBHOptUnknown(otype=0xde,optdata=b"\x04\x05\x06")])/UDP(sport=1,dport=2); print(bytes(p).hex())'
const UNKNOWN_OPTS = hex(
  "6000000000180040fd000000000000000000000000000001ff020000000000000000000000000001" +
    "11011e0201025e009e0103de03040506" +
    "00010002000803d6",
);
// A non-first fragment (offset 181 units = 1448 bytes) of a TCP segment.
// /usr/bin/python3 -c 'from scapy.all import *; p=IPv6(src="fd00::1",dst="fd00::2")/IPv6ExtHdrFragment(nh=6,offset=181,m=0,id=0x01020304)/b"middle-of-a-tcp-segment!"; print(bytes(p).hex())'
const LATER_FRAGMENT = hex(
  "6000000000202c40fd000000000000000000000000000001fd000000000000000000000000000002" +
    "060005a801020304" +
    "6d6964646c652d6f662d612d7463702d7365676d656e7421",
);
// A jumbogram: Payload Length 0 and a Jumbo Payload option (RFC 2675).
// /usr/bin/python3 -c 'from scapy.all import *; p=IPv6(src="fd00::1",dst="fd00::2",plen=0)/IPv6ExtHdrHopByHop(options=[Jumbo(jumboplen=70000)])/UDP(sport=1,dport=2); print(bytes(p).hex())'
const JUMBO = hex(
  "6000000000000040fd000000000000000000000000000001fd000000000000000000000000000002" +
    "1100c20400011170" +
    "00010002000805d7",
);

describe("IPv6 fixed header (RFC 8200 §3)", () => {
  it("reads every field", () => {
    const r = repr(parseIpv6(HBH_DST_FRAG));
    expect(r.trafficClass).toBe(0xb8);
    expect(r.flowLabel).toBe(0x12345);
    expect(r.nextHeader).toBe(IPV6_EXT.hopByHop);
    expect(r.hopLimit).toBe(64);
    expect(ipv6ToString(r.src)).toBe("fd00::1");
    expect(ipv6ToString(r.dst)).toBe("fd00::2");
    expect(r.payload.length).toBe(40);
    expect(r.src.buffer).toBe(HBH_DST_FRAG.buffer);
    const v = Ipv6View.check(HBH_DST_FRAG) as Ipv6View;
    expect(v.dscp).toBe(46);
    expect(v.ecn).toBe(0);
    expect(v.payloadLength).toBe(40);
  });

  it("ignores link padding past Payload Length", () => {
    const padded = new Uint8Array(NO_NEXT.length + 10);
    padded.set(NO_NEXT);
    expect(toHex(repr(parseIpv6(padded)).payload)).toBe(toHex(Buffer.from("ignored")));
  });

  it("refuses a wrong version and a Payload Length past the bytes", () => {
    const v4 = Uint8Array.from(NO_NEXT);
    v4[0] = 0x40;
    expect((parseIpv6(v4) as WireError).reason).toBe("bad-version");
    const long = Uint8Array.from(NO_NEXT);
    long[5] = 8;
    expect((parseIpv6(long) as WireError).reason).toBe("truncated");
  });

  it("every truncation is an error, never a throw", () => {
    for (let n = 0; n < HBH_DST_FRAG.length; n++) {
      const r = parseIpv6(HBH_DST_FRAG.subarray(0, n));
      expect(r, `length ${n}`).toBeInstanceOf(WireError);
      expect((r as WireError).reason).toBe("truncated");
    }
  });

  it("reports a jumbogram as unsupported (RFC 2675 §2)", () => {
    const r = parseIpv6(JUMBO);
    expect(r).toBeInstanceOf(WireError);
    expect((r as WireError).reason).toBe("unsupported");
    // Payload Length 0 without the option is merely an empty payload whose chain is cut short.
    const noJumbo = Uint8Array.from(JUMBO);
    noJumbo[42] = 0x1e;
    const r2 = repr(parseIpv6(noJumbo));
    expect(r2.payload.length).toBe(0);
    chainError(walkIpv6Chain(r2.nextHeader, r2.payload), "truncated", 0);
  });

  it("re-emits byte for byte into a marked buffer, and at a non-zero offset", () => {
    for (const bytes of [HBH_DST_FRAG, ROUTING0, NO_NEXT]) {
      const inbuf = marked(bytes.length + 5);
      inbuf.set(bytes, 5);
      const r = repr(parseIpv6(inbuf.subarray(5)));
      expect(ipv6Length(r)).toBe(bytes.length);
      const out = marked(bytes.length + 6);
      expect(emitIpv6(r, out, 3)).toBe(3 + bytes.length);
      expect(out.subarray(3, 3 + bytes.length)).toEqual(bytes);
      expect(Array.from(out.subarray(0, 3))).toEqual([MARK, MARK, MARK]);
      expect(Array.from(out.subarray(3 + bytes.length))).toEqual([MARK, MARK, MARK]);
      expect(repr(parseIpv6(out.subarray(3)))).toEqual(r);
    }
  });

  it("writes the header in front of a payload already in place", () => {
    const r = repr(parseIpv6(ROUTING0));
    const out = marked(ROUTING0.length + 2);
    out.set(r.payload, 2 + IPV6_HEADER_LEN);
    expect(emitIpv6Header(r, r.payload.length, out, 2)).toBe(2 + IPV6_HEADER_LEN);
    expect(out.subarray(2)).toEqual(ROUTING0);
  });

  it("refuses headers it cannot encode", () => {
    const r = repr(parseIpv6(NO_NEXT));
    const out = new Uint8Array(100);
    expect(() => emitIpv6Header(r, 65536, out, 0)).toThrow(RangeError);
    expect(() => emitIpv6({ ...r, flowLabel: 0x100000 }, out, 0)).toThrow(RangeError);
    expect(() => emitIpv6({ ...r, trafficClass: 256 }, out, 0)).toThrow(RangeError);
    expect(() => emitIpv6({ ...r, hopLimit: 256 }, out, 0)).toThrow(RangeError);
    expect(() => emitIpv6({ ...r, src: new Uint8Array(4) }, out, 0)).toThrow(RangeError);
    expect(() => emitIpv6(r, new Uint8Array(30), 0)).toThrow(RangeError);
  });
});

describe("IPv6 extension-header chain (RFC 8200 §4)", () => {
  it("walks Hop-by-Hop, Destination Options and a first Fragment to UDP", () => {
    const c = chain(walk(HBH_DST_FRAG));
    expect(c.upperLayer).toBe(IP_PROTOCOL_UDP);
    expect(c.payloadOffset).toBe(24);
    expect(c.headers).toEqual([
      {
        kind: "hop-by-hop",
        nextHeader: IPV6_EXT.destinationOptions,
        options: [
          { kind: "router-alert", value: 0 },
          { kind: "padn", length: 0 },
        ],
        offset: 0,
        length: 8,
      },
      {
        kind: "destination-options",
        nextHeader: IPV6_EXT.fragment,
        options: [{ kind: "padn", length: 4 }],
        offset: 8,
        length: 8,
      },
      {
        kind: "fragment",
        nextHeader: IP_PROTOCOL_UDP,
        fragmentOffset: 0,
        moreFragments: true,
        identification: 0xcafef00d,
        offset: 16,
        length: 8,
      },
    ]);
  });

  it("keeps a type 0 Routing header whole (RFC 8200 §4.4, RFC 5095)", () => {
    const c = chain(walk(ROUTING0));
    expect(c.upperLayer).toBe(IP_PROTOCOL_ICMPV6);
    expect(c.payloadOffset).toBe(40);
    const rh = c.headers[0] as Extract<Ipv6ChainEntry, { kind: "routing" }>;
    expect(rh.kind).toBe("routing");
    expect(rh.routingType).toBe(0);
    expect(rh.segmentsLeft).toBe(1);
    expect(rh.length).toBe(40);
    expect(toHex(rh.data)).toBe("00000000fd00000000000000000000000000000afd00000000000000000000000000000b");
  });

  it("keeps a type 2 Routing header and stops at No Next Header (RFC 8200 §4.7)", () => {
    const c = chain(walk(ROUTING2_NONEXT));
    expect(c.headers.map((h) => [h.kind, h.offset, h.length])).toEqual([
      ["routing", 0, 24],
      ["destination-options", 24, 8],
    ]);
    const rh = c.headers[0] as Extract<Ipv6ChainEntry, { kind: "routing" }>;
    expect(rh.routingType).toBe(2);
    expect(toHex(rh.data)).toBe("0000000020010db8000000000000000000000099");
    expect(c.upperLayer).toBe(IPV6_EXT.noNextHeader);
    expect(c.payloadOffset).toBe(32);
  });

  it("stops at once on No Next Header in the fixed header", () => {
    expect(chain(walk(NO_NEXT))).toEqual({ headers: [], upperLayer: IPV6_EXT.noNextHeader, payloadOffset: 0 });
  });

  it("stops after a non-first Fragment: what follows is fragment data (RFC 8200 §4.5)", () => {
    const c = chain(walk(LATER_FRAGMENT));
    expect(c.headers).toEqual([
      {
        kind: "fragment",
        nextHeader: IP_PROTOCOL_TCP,
        fragmentOffset: 1448,
        moreFragments: false,
        identification: 0x01020304,
        offset: 0,
        length: 8,
      },
    ]);
    expect(c.upperLayer).toBe(IP_PROTOCOL_TCP);
    expect(c.payloadOffset).toBe(8);
    // Even when Next Header names an extension header, fragment data is not read as one: here it would
    // claim (0x69 + 1) × 8 bytes.
    const r = repr(parseIpv6(LATER_FRAGMENT));
    const b = Uint8Array.from(r.payload);
    b[0] = IPV6_EXT.destinationOptions;
    const c2 = chain(walkIpv6Chain(r.nextHeader, b));
    expect([c2.headers.length, c2.upperLayer, c2.payloadOffset]).toEqual([1, IPV6_EXT.destinationOptions, 8]);
  });

  it("keeps unknown options with their type and offset, for the §4.2 action", () => {
    const c = chain(walk(UNKNOWN_OPTS));
    expect(c.upperLayer).toBe(IP_PROTOCOL_UDP);
    expect(c.payloadOffset).toBe(16);
    const opts = (c.headers[0] as Ipv6OptionsHeader).options;
    const unknown = opts as Extract<Ipv6Option, { kind: "unknown" }>[];
    expect(unknown.map((o) => [o.kind, o.type, o.offset, toHex(o.data)])).toEqual([
      ["unknown", 0x1e, 2, "0102"],
      ["unknown", 0x5e, 6, ""],
      ["unknown", 0x9e, 8, "03"],
      ["unknown", 0xde, 11, "040506"],
    ]);
    expect(unknown.map((o) => unknownOptionAction(o.type))).toEqual([
      "skip",
      "discard",
      "discard-icmp",
      "discard-icmp-unless-multicast",
    ]);
    expect(optionDataMayChange(0x3e)).toBe(true);
    expect(optionDataMayChange(0x1e)).toBe(false);
  });

  it("walks any upper-layer or unknown protocol as the end of the chain", () => {
    for (const nh of [IP_PROTOCOL_TCP, IP_PROTOCOL_UDP, IP_PROTOCOL_ICMPV6, 50, 51, 253]) {
      expect(chain(walkIpv6Chain(nh, new Uint8Array(3)))).toEqual({ headers: [], upperLayer: nh, payloadOffset: 0 });
    }
  });
});

describe("IPv6 extension-header chain: malformed and truncated", () => {
  const ext = repr(parseIpv6(HBH_DST_FRAG)).payload;
  const editedExt = (edit: (b: Uint8Array) => void): Uint8Array => {
    const b = Uint8Array.from(ext);
    edit(b);
    return b;
  };

  it("refuses a Hop-by-Hop length past the end, pointing at Hdr Ext Len", () => {
    chainError(walkIpv6Chain(0, editedExt((b) => (b[1] = 5))), "truncated", 1);
  });

  it("refuses a Destination Options length past the end, pointing at Hdr Ext Len", () => {
    chainError(walkIpv6Chain(0, editedExt((b) => (b[9] = 4))), "truncated", 9);
  });

  it("refuses a Routing length past the end, pointing at Hdr Ext Len", () => {
    const r = repr(parseIpv6(ROUTING0));
    const b = Uint8Array.from(r.payload);
    b[1] = 6; // 56 bytes claimed, 48 present
    chainError(walkIpv6Chain(r.nextHeader, b), "truncated", 1);
  });

  it("refuses a Fragment header cut short", () => {
    chainError(walkIpv6Chain(0, ext.subarray(0, 20)), "truncated", 16);
  });

  it("refuses an option whose length runs past its header", () => {
    chainError(walkIpv6Chain(0, editedExt((b) => (b[3] = 0x10))), "bad-length", 3);
  });

  it("refuses a Router Alert whose length is not 2 (RFC 2711 §2.1)", () => {
    // Router Alert length 0 followed by PadN 2 still fills the header exactly.
    const b = editedExt((x) => x.set([0x05, 0x00, 0x01, 0x02, 0x00, 0x00], 2));
    chainError(walkIpv6Chain(0, b), "bad-value", 3);
  });

  it("refuses Hop-by-Hop anywhere but first (RFC 8200 §4.3), pointing at the Next Header naming it", () => {
    chainError(walkIpv6Chain(0, editedExt((b) => (b[8] = IPV6_EXT.hopByHop))), "bad-value", 8);
  });

  it("every truncation of the chain is an error, never a throw", () => {
    for (let n = 0; n < 24; n++) {
      const c = walkIpv6Chain(0, ext.subarray(0, n));
      expect(c, `length ${n}`).toBeInstanceOf(Ipv6ChainError);
    }
    for (let n = 24; n <= ext.length; n++) expect(chain(walkIpv6Chain(0, ext.subarray(0, n))).payloadOffset).toBe(24);
  });

  it("never throws on any single-byte corruption of a chain", () => {
    for (const packet of [HBH_DST_FRAG, ROUTING0, ROUTING2_NONEXT, UNKNOWN_OPTS]) {
      const r = repr(parseIpv6(packet));
      for (let i = 0; i < r.payload.length; i++) {
        for (const value of [0x00, 0x01, 0x02, 0x05, 0x2b, 0x2c, 0x3c, 0x7f, 0xc2, 0xff]) {
          const b = Uint8Array.from(r.payload);
          b[i] = value;
          const c = walkIpv6Chain(r.nextHeader, b);
          if (c instanceof WireError) continue;
          expect(c.payloadOffset).toBeLessThanOrEqual(b.length);
          for (const h of c.headers) expect(h.offset + h.length).toBeLessThanOrEqual(b.length);
        }
      }
    }
  });
});

describe("IPv6 extension-header emit", () => {
  it("re-emits every parsed chain byte for byte", () => {
    for (const packet of [HBH_DST_FRAG, ROUTING0, ROUTING2_NONEXT, UNKNOWN_OPTS, LATER_FRAGMENT]) {
      const r = repr(parseIpv6(packet));
      const c = chain(walkIpv6Chain(r.nextHeader, r.payload));
      const out = marked(c.payloadOffset + 4);
      let at = 2;
      for (const h of c.headers) {
        expect(ipv6ExtHeaderLen(h)).toBe(h.length);
        at = emitIpv6ExtHeader(h, out, at);
      }
      expect(at).toBe(2 + c.payloadOffset);
      expect(toHex(out.subarray(2, at))).toBe(toHex(r.payload.subarray(0, c.payloadOffset)));
      expect(Array.from(out.subarray(0, 2))).toEqual([MARK, MARK]);
      expect(Array.from(out.subarray(at))).toEqual([MARK, MARK]);
    }
  });

  it("pads options headers to 8 octets as scapy does: PadN, or Pad1 for one octet (RFC 8200 §4.2)", () => {
    const out = marked(16);
    expect(emitIpv6OptionsHeader({ kind: "hop-by-hop", nextHeader: 60, options: [{ kind: "router-alert", value: 0 }] }, out, 0)).toBe(8);
    expect(emitIpv6OptionsHeader({ kind: "destination-options", nextHeader: 44, options: [] }, out, 8)).toBe(16);
    expect(toHex(out)).toBe(toHex(HBH_DST_FRAG.subarray(40, 56)));
    // Seven octets used: one Pad1 completes the header.
    const one = marked(8);
    emitIpv6OptionsHeader({ kind: "destination-options", nextHeader: 17, options: [{ kind: "padn", length: 3 }] }, one, 0);
    expect(toHex(one)).toBe("1100010300000000");
    expect(chain(walkIpv6Chain(60, one)).headers[0]).toMatchObject({ options: [{ kind: "padn", length: 3 }, { kind: "pad1" }] });
    // Six octets used: a PadN with no data completes it.
    const two = marked(8);
    emitIpv6OptionsHeader({ kind: "destination-options", nextHeader: 17, options: [{ kind: "padn", length: 2 }] }, two, 0);
    expect(toHex(two)).toBe("1100010200000100");
    expect(chain(walkIpv6Chain(60, two)).headers[0]).toMatchObject({
      options: [
        { kind: "padn", length: 2 },
        { kind: "padn", length: 0 },
      ],
    });
  });

  it("writes a Fragment header", () => {
    const out = marked(10);
    const end = emitIpv6FragmentHeader(
      { kind: "fragment", nextHeader: 6, fragmentOffset: 1448, moreFragments: false, identification: 0x01020304 },
      out,
      1,
    );
    expect(end).toBe(9);
    expect(toHex(out)).toBe("aa060005a801020304aa");
  });

  it("writes a Routing header", () => {
    const out = marked(24);
    const data = hex("0000000020010db8000000000000000000000099");
    emitIpv6RoutingHeader({ kind: "routing", nextHeader: 60, routingType: 2, segmentsLeft: 1, data }, out, 0);
    expect(toHex(out)).toBe(toHex(ROUTING2_NONEXT.subarray(40, 64)));
  });

  it("refuses headers it cannot encode", () => {
    const out = new Uint8Array(4096);
    const frag = { kind: "fragment", nextHeader: 6, moreFragments: true, identification: 1 } as const;
    expect(() => emitIpv6FragmentHeader({ ...frag, fragmentOffset: 12 }, out, 0)).toThrow(RangeError);
    expect(() => emitIpv6FragmentHeader({ ...frag, fragmentOffset: 65536 }, out, 0)).toThrow(RangeError);
    const rh = { kind: "routing", nextHeader: 6, routingType: 0, segmentsLeft: 0 } as const;
    expect(() => emitIpv6RoutingHeader({ ...rh, data: new Uint8Array(5) }, out, 0)).toThrow(RangeError);
    const big: Ipv6Option = { kind: "unknown", type: 0x1e, data: new Uint8Array(256) };
    expect(() => emitIpv6OptionsHeader({ kind: "hop-by-hop", nextHeader: 6, options: [big] }, out, 0)).toThrow(RangeError);
    const tooMany: Ipv6Option[] = new Array(10).fill({ kind: "padn", length: 255 });
    expect(() => emitIpv6OptionsHeader({ kind: "hop-by-hop", nextHeader: 6, options: tooMany }, out, 0)).toThrow(RangeError);
    expect(() => emitIpv6FragmentHeader({ ...frag, fragmentOffset: 0 }, new Uint8Array(7), 0)).toThrow(RangeError);
  });
});
