import { describe, expect, it } from "vitest";
import { checksumOf } from "../../../src/wire/checksum.ts";
import { WireError } from "../../../src/wire/error.ts";
import {
  emitIcmpv4,
  ICMPV4_HEADER_LEN,
  icmpv4Length,
  Icmpv4View,
  parseIcmpv4,
  type Icmpv4Repr,
} from "../../../src/wire/icmpv4.ts";
import { parseIpv4 } from "../../../src/wire/ip-address.ts";

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, "hex"));
const text = (s: string): Uint8Array => new TextEncoder().encode(s);

// Every vector is the ICMP part of an IPv4 packet built by scapy 2.5.0 (so its checksum is scapy's),
// printed by the command in the comment above it.
const V = {
  // /usr/bin/python3 -c 'from scapy.all import *; print(bytes(IP(src="10.0.0.1",dst="10.0.0.2")/ICMP(type=8,id=0x1234,seq=7)/b"wirestack")[20:].hex())'
  echoRequest: hex("0800bc1d1234000777697265737461636b"),
  // /usr/bin/python3 -c 'from scapy.all import *; print(bytes(IP(src="10.0.0.2",dst="10.0.0.1")/ICMP(type=0,id=0x1234,seq=7)/b"wirestack")[20:].hex())'
  echoReply: hex("0000c41d1234000777697265737461636b"),
  // /usr/bin/python3 -c 'from scapy.all import *; print(bytes(IP(src="10.0.0.2",dst="10.0.0.1")/ICMP(type=3,code=3)/IPerror(src="10.0.0.1",dst="10.0.0.2")/UDPerror(sport=40000,dport=53)/b"q")[20:].hex())'
  portUnreachable: hex("0303111a000000004500001d00010000401166cd0a0000010a0000029c4000350009de6371"),
  // /usr/bin/python3 -c 'from scapy.all import *; print(bytes(IP(src="10.0.0.254",dst="10.0.0.1")/ICMP(type=3,code=4,nexthopmtu=1400)/IPerror(src="10.0.0.1",dst="10.9.9.9",flags="DF",proto=6)/b"\x00\x50\x00\x50\x00\x00\x00\x01")[20:].hex())'
  fragNeeded: hex("0304f6e2000005784500001c0001400040061dc90a0000010a0909090050005000000001"),
  // /usr/bin/python3 -c 'from scapy.all import *; print(bytes(IP(src="10.0.0.254",dst="10.0.0.1")/ICMP(type=11,code=0)/IPerror(src="10.0.0.1",dst="10.9.9.9",ttl=1)/UDPerror(sport=33434,dport=33435))[20:].hex())'
  timeExceeded: hex("0b00122c000000004500001c0001000001119cbe0a0000010a090909829a829b0008dd95"),
  // /usr/bin/python3 -c 'from scapy.all import *; print(bytes(IP(src="10.0.0.254",dst="10.0.0.1")/ICMP(type=12,code=0,ptr=1)/IPerror(src="10.0.0.1",dst="10.0.0.254",tos=0xff)/UDPerror(sport=1,dport=2))[20:].hex())'
  parameterProblem: hex("0c0008180100000045ff001c00010000401164d30a0000010a0000fe000100020008eadc"),
  // /usr/bin/python3 -c 'from scapy.all import *; print(bytes(IP(src="10.0.0.254",dst="10.0.0.1")/ICMP(type=5,code=1,gw="10.0.0.253")/IPerror(src="10.0.0.1",dst="10.9.9.9")/UDPerror(sport=1,dport=2))[20:].hex())'
  redirect: hex("05010d2e0a0000fd4500001c0001000040115dbe0a0000010a090909000100020008e2c8"),
  // /usr/bin/python3 -c 'from scapy.all import *; print(bytes(IP(src="10.0.0.1",dst="10.0.0.2")/ICMP(type=13,id=5,seq=6,ts_ori=1000,ts_rx=0,ts_tx=0))[20:].hex())'
  timestamp: hex("0d00ef0c00050006000003e80000000000000000"),
  // /usr/bin/python3 -c 'from scapy.all import *; print(bytes(IP(src="10.0.0.1",dst="10.0.0.2")/ICMP(type=42,code=9,unused=0x01020304)/b"xy")[20:].hex())'
  unknownType: hex("2a095977010203047879"),
} as const;

/** A copy of `bytes` with `mutate` applied and the checksum recomputed. */
function edited(bytes: Uint8Array, mutate: (b: Uint8Array) => void): Uint8Array {
  const b = Uint8Array.from(bytes);
  mutate(b);
  b[2] = 0;
  b[3] = 0;
  const c = checksumOf(b);
  b[2] = c >>> 8;
  b[3] = c & 0xff;
  return b;
}

function parseOk(bytes: Uint8Array): Icmpv4Repr {
  const r = parseIcmpv4(bytes);
  if (r instanceof WireError) throw new Error(`unexpected ${r.toString()}`);
  return r;
}

/** Emits into a buffer pre-filled with 0xAA at `at`; checks the bytes around are untouched. */
function emitted(repr: Icmpv4Repr, at = 0, tail = 3): Uint8Array {
  const len = icmpv4Length(repr);
  const out = new Uint8Array(at + len + tail).fill(0xaa);
  expect(emitIcmpv4(repr, out, at)).toBe(at + len);
  expect(out.subarray(0, at).every((b) => b === 0xaa)).toBe(true);
  expect(out.subarray(at + len).every((b) => b === 0xaa)).toBe(true);
  return out.subarray(at, at + len);
}

describe("ICMPv4 echo (RFC 792)", () => {
  it("deconstructs an echo request", () => {
    expect(parseOk(V.echoRequest)).toEqual({
      kind: "echo-request",
      identifier: 0x1234,
      sequence: 7,
      data: text("wirestack"),
    });
  });

  it("deconstructs an echo reply; data is a view over the same bytes", () => {
    const r = parseOk(V.echoReply);
    expect(r.kind).toBe("echo-reply");
    if (r.kind !== "echo-reply") return;
    expect(r.data.buffer).toBe(V.echoReply.buffer);
    expect(r.data.byteOffset).toBe(V.echoReply.byteOffset + ICMPV4_HEADER_LEN);
  });

  it("constructs an echo request byte for byte, checksum included", () => {
    const repr: Icmpv4Repr = { kind: "echo-request", identifier: 0x1234, sequence: 7, data: text("wirestack") };
    expect(emitted(repr)).toEqual(V.echoRequest);
  });

  it("constructs an echo reply whose data is already in place", () => {
    const out = new Uint8Array(30).fill(0xaa);
    out.set(text("wirestack"), 4 + ICMPV4_HEADER_LEN);
    const data = out.subarray(12, 21);
    expect(emitIcmpv4({ kind: "echo-reply", identifier: 0x1234, sequence: 7, data }, out, 4)).toBe(21);
    expect(out.subarray(4, 21)).toEqual(V.echoReply);
  });

  it("keeps an echo with a code RFC 792 does not define as unknown, re-emitted unchanged", () => {
    const odd = edited(V.echoRequest, (b) => (b[1] = 5));
    const r = parseOk(odd);
    expect(r).toMatchObject({ kind: "unknown", type: 8, code: 5 });
    expect(emitted(r)).toEqual(odd);
  });
});

describe("ICMPv4 errors (RFC 792)", () => {
  it("deconstructs port unreachable quoting a UDP datagram", () => {
    const r = parseOk(V.portUnreachable);
    expect(r).toEqual({ kind: "destination-unreachable", code: { kind: "port-unreachable" }, invoking: V.portUnreachable.subarray(8) });
    if (r.kind !== "destination-unreachable") return;
    // The quoted datagram starts with an IPv4 header (version 4, IHL 5), protocol UDP.
    expect(r.invoking[0]).toBe(0x45);
    expect(r.invoking[9]).toBe(17);
  });

  it("constructs port unreachable", () => {
    const repr: Icmpv4Repr = {
      kind: "destination-unreachable",
      code: { kind: "port-unreachable" },
      invoking: V.portUnreachable.slice(8),
    };
    expect(emitted(repr)).toEqual(V.portUnreachable);
  });

  it("RFC 1191 §4: fragmentation needed carries the next-hop MTU", () => {
    const r = parseOk(V.fragNeeded);
    expect(r).toMatchObject({ kind: "destination-unreachable", code: { kind: "fragmentation-needed", nextHopMtu: 1400 } });
    expect(emitted(r)).toEqual(V.fragNeeded);
  });

  it("RFC 1191 §4: a next-hop MTU of 0 (pre-RFC 1191 router) is undefined and re-emits as 0", () => {
    const old = edited(V.fragNeeded, (b) => {
      b[6] = 0;
      b[7] = 0;
    });
    const r = parseOk(old);
    expect(r).toMatchObject({ code: { kind: "fragmentation-needed", nextHopMtu: undefined } });
    expect(emitted(r)).toEqual(old);
  });

  it("names the RFC 1812 §5.2.7.1 codes and keeps unknown codes", () => {
    const prohibited = parseOk(edited(V.portUnreachable, (b) => (b[1] = 13)));
    expect(prohibited).toMatchObject({ code: { kind: "admin-prohibited" } });
    const odd = edited(V.portUnreachable, (b) => (b[1] = 42));
    const r = parseOk(odd);
    expect(r).toMatchObject({ kind: "destination-unreachable", code: { kind: "unknown", value: 42 } });
    expect(emitted(r)).toEqual(odd);
  });

  it("deconstructs and constructs time exceeded (TTL)", () => {
    const r = parseOk(V.timeExceeded);
    expect(r).toEqual({ kind: "time-exceeded", code: { kind: "ttl-exceeded" }, invoking: V.timeExceeded.subarray(8) });
    expect(emitted(r)).toEqual(V.timeExceeded);
    const reassembly = edited(V.timeExceeded, (b) => (b[1] = 1));
    expect(parseOk(reassembly)).toMatchObject({ code: { kind: "reassembly-time-exceeded" } });
  });

  it("deconstructs and constructs parameter problem with its pointer", () => {
    const r = parseOk(V.parameterProblem);
    expect(r).toEqual({
      kind: "parameter-problem",
      code: { kind: "pointer-indicates-error" },
      pointer: 1,
      invoking: V.parameterProblem.subarray(8),
    });
    expect(emitted(r)).toEqual(V.parameterProblem);
  });

  it("deconstructs and constructs a host redirect", () => {
    const r = parseOk(V.redirect);
    expect(r).toEqual({
      kind: "redirect",
      code: { kind: "host" },
      gateway: parseIpv4("10.0.0.253"),
      invoking: V.redirect.subarray(8),
    });
    expect(emitted(r)).toEqual(V.redirect);
  });
});

describe("ICMPv4 timestamp and unknown types", () => {
  it("deconstructs and constructs a timestamp request", () => {
    const r = parseOk(V.timestamp);
    expect(r).toEqual({ kind: "timestamp", identifier: 5, sequence: 6, originate: 1000, receive: 0, transmit: 0 });
    expect(emitted(r)).toEqual(V.timestamp);
  });

  it("refuses a timestamp message shorter than 20 bytes", () => {
    const short = edited(V.timestamp.subarray(0, 19), () => {});
    expect(parseIcmpv4(short)).toMatchObject({ layer: "icmpv4", reason: "truncated" });
  });

  it("keeps an unknown type raw and re-emits it unchanged", () => {
    const r = parseOk(V.unknownType);
    expect(r).toEqual({ kind: "unknown", type: 42, code: 9, rest: hex("010203047879") });
    expect(emitted(r)).toEqual(V.unknownType);
  });
});

describe("ICMPv4 checksum (RFC 792: over the whole message)", () => {
  it("refuses a bad checksum by default and parses it when asked not to verify", () => {
    const bad = Uint8Array.from(V.echoRequest);
    bad[bad.length - 1] = (bad[bad.length - 1] as number) ^ 0x01;
    const e = parseIcmpv4(bad);
    expect(e).toBeInstanceOf(WireError);
    expect(e).toMatchObject({ layer: "icmpv4", reason: "bad-checksum" });
    expect(parseIcmpv4(bad, { verifyChecksum: false })).toMatchObject({ kind: "echo-request", sequence: 7 });
    const v = Icmpv4View.check(bad);
    expect(v instanceof Icmpv4View && v.verifyChecksum()).toBe(false);
    const good = Icmpv4View.check(V.echoRequest);
    expect(good instanceof Icmpv4View && good.verifyChecksum()).toBe(true);
  });

  it("verifies an odd-length message (RFC 1071 §4.1 padding)", () => {
    expect(V.echoRequest.length % 2).toBe(1);
    expect(parseIcmpv4(V.echoRequest)).not.toBeInstanceOf(WireError);
  });
});

describe("ICMPv4 round trips and malformed input", () => {
  it("re-emits every vector at a non-zero offset byte for byte", () => {
    for (const [name, bytes] of Object.entries(V)) {
      const at = 7;
      const out = new Uint8Array(at + bytes.length + 5).fill(0xaa);
      expect(emitIcmpv4(parseOk(bytes), out, at), name).toBe(at + bytes.length);
      expect(out.subarray(at, at + bytes.length), name).toEqual(bytes);
      expect(out.subarray(0, at).every((b) => b === 0xaa), name).toBe(true);
      expect(out.subarray(at + bytes.length).every((b) => b === 0xaa), name).toBe(true);
    }
  });

  it("parses a message that is a view at a non-zero offset of a larger buffer", () => {
    const big = new Uint8Array(64).fill(0xaa);
    big.set(V.fragNeeded, 11);
    const r = parseIcmpv4(big.subarray(11, 11 + V.fragNeeded.length));
    expect(r).toMatchObject({ code: { kind: "fragmentation-needed", nextHopMtu: 1400 } });
  });

  it("returns truncated for fewer than 8 bytes", () => {
    for (let n = 0; n < ICMPV4_HEADER_LEN; n++) {
      expect(parseIcmpv4(V.echoRequest.subarray(0, n), { verifyChecksum: false }), `n=${n}`).toMatchObject({
        layer: "icmpv4",
        reason: "truncated",
      });
    }
  });

  it("never throws on any truncation of any vector, verified or not", () => {
    for (const [name, bytes] of Object.entries(V)) {
      for (let n = 0; n <= bytes.length; n++) {
        const cut = bytes.slice(0, n);
        for (const verifyChecksum of [true, false]) {
          const r = parseIcmpv4(cut, { verifyChecksum });
          if (n < ICMPV4_HEADER_LEN) expect(r, `${name} n=${n}`).toBeInstanceOf(WireError);
          else if (!(r instanceof WireError)) expect(icmpv4Length(r), `${name} n=${n}`).toBe(n);
        }
      }
    }
  });

  it("never throws on seeded random bytes", () => {
    let seed = 0x1234567;
    const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 24;
    for (let i = 0; i < 2000; i++) {
      const b = new Uint8Array(next() % 40);
      for (let j = 0; j < b.length; j++) b[j] = next();
      if (b.length > 0) b[0] = [0, 3, 5, 8, 11, 12, 13, 14][i % 8] as number;
      const r = parseIcmpv4(b, { verifyChecksum: false });
      if (!(r instanceof WireError)) expect(icmpv4Length(r)).toBe(b.length);
    }
  });

  it("throws on an impossible repr (misuse), not on bytes", () => {
    const out = new Uint8Array(64);
    expect(() =>
      emitIcmpv4({ kind: "parameter-problem", code: { kind: "pointer-indicates-error" }, pointer: 300, invoking: new Uint8Array(0) }, out, 0),
    ).toThrow(RangeError);
    expect(() => emitIcmpv4({ kind: "unknown", type: 256, code: 0, rest: new Uint8Array(4) }, out, 0)).toThrow(RangeError);
    expect(() => emitIcmpv4({ kind: "echo-request", identifier: 1, sequence: 1, data: new Uint8Array(60) }, out, 0)).toThrow(RangeError);
  });
});
