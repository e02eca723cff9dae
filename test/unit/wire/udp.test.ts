import { describe, expect, it } from "vitest";
import type { PseudoHeader } from "../../../src/wire/checksum.ts";
import { WireError } from "../../../src/wire/error.ts";
import { parseIpv4, parseIpv6 } from "../../../src/wire/ip-address.ts";
import { UDP_HEADER_LEN, UdpView, emitUdp, parseUdp, udpLength, type UdpRepr } from "../../../src/wire/udp.ts";

function hex(s: string): Uint8Array {
  return Uint8Array.from(Buffer.from(s, "hex"));
}
function toHex(b: Uint8Array): string {
  return Buffer.from(b).toString("hex");
}

const ph4: PseudoHeader = { family: 4, src: parseIpv4("10.0.0.1") as number, dst: parseIpv4("10.0.0.2") as number };
const ph6: PseudoHeader = {
  family: 6,
  src: parseIpv6("fd00::1") as Uint8Array,
  dst: parseIpv6("fd00::2") as Uint8Array,
};

// The UDP part of packets built by scapy 2.5.0:
//   /usr/bin/python3 -c 'from scapy.all import *; print(raw(IP(src="10.0.0.1",dst="10.0.0.2")/U)[20:].hex())'
// (IPv6: IPv6(src="fd00::1",dst="fd00::2")/U and [40:]), U given above each constant.

// U = UDP(sport=5353,dport=5353)/b"hello"
const V4 = "14e914e9000d7e2d68656c6c6f";
// IPv6, U = UDP(sport=546,dport=547)/b"hello v6"
const V6 = "022202230010475c68656c6c6f207636";
// U = UDP(sport=68,dport=67,chksum=0)/b"x"
const V4_NO_CHECKSUM = "004400430009000078";
// IPv6, U = UDP(sport=546,dport=547,chksum=0)/b"x"
const V6_NO_CHECKSUM = "022202230009000078";
// U = UDP(sport=1234,dport=5678)/b"\xd0\xd7": 0xd0d7 is the checksum scapy gives the same datagram with
// payload b"\x00\x00", so this payload makes the one's complement sum 0xFFFF and the computed checksum 0,
// which scapy (like RFC 768) transmits as 0xFFFF.
const ZERO_SUM = "04d2162e000affffd0d7";

function ok(bytes: Uint8Array, ph?: PseudoHeader): UdpRepr {
  const r = parseUdp(bytes, ph);
  if (r instanceof WireError) throw new Error(`unexpected ${r.toString()}`);
  return r;
}

function emitAt(repr: UdpRepr, at: number, ph?: PseudoHeader): Uint8Array {
  const out = new Uint8Array(at + udpLength(repr) + 4).fill(0xaa);
  const end = emitUdp(repr, out, at, ph);
  expect(end).toBe(at + udpLength(repr));
  expect(out.subarray(0, at).every((b) => b === 0xaa)).toBe(true);
  expect(out.subarray(end).every((b) => b === 0xaa)).toBe(true);
  return out.subarray(at, end);
}

describe("UDP deconstruct (RFC 768)", () => {
  it("parses a datagram over IPv4 and verifies its checksum", () => {
    const r = ok(hex(V4), ph4);
    expect(r.srcPort).toBe(5353);
    expect(r.dstPort).toBe(5353);
    expect(Buffer.from(r.payload).toString()).toBe("hello");
  });

  it("parses a datagram over IPv6 (RFC 8200 §8.1 pseudo-header)", () => {
    const r = ok(hex(V6), ph6);
    expect([r.srcPort, r.dstPort]).toEqual([546, 547]);
    expect(Buffer.from(r.payload).toString()).toBe("hello v6");
    expect(parseUdp(hex(V6), ph4)).toEqual(new WireError("udp", "bad-checksum", "0x475c"));
  });

  it("accepts checksum 0 over IPv4 (RFC 768: not computed)", () => {
    const r = ok(hex(V4_NO_CHECKSUM), ph4);
    expect(Buffer.from(r.payload).toString()).toBe("x");
  });

  it("refuses checksum 0 over IPv6 (RFC 8200 §8.1: mandatory)", () => {
    expect(parseUdp(hex(V6_NO_CHECKSUM), ph6)).toEqual(new WireError("udp", "bad-checksum", "0x0"));
    expect(parseUdp(hex(V6_NO_CHECKSUM))).not.toBeInstanceOf(WireError);
  });

  it("accepts 0xFFFF as the transmitted form of a computed 0 (RFC 768)", () => {
    expect(toHex(ok(hex(ZERO_SUM), ph4).payload)).toBe("d0d7");
  });

  it("bytes past Length (Ethernet padding) are not payload and do not enter the checksum", () => {
    const padded = new Uint8Array(64);
    padded.set(hex(V4));
    const r = ok(padded, ph4);
    expect(Buffer.from(r.payload).toString()).toBe("hello");
    const v = UdpView.check(padded) as UdpView;
    expect(v.length).toBe(13);
  });

  it("refuses Length below 8 and Length beyond the bytes present", () => {
    const small = hex(V4);
    small[5] = 7;
    expect(parseUdp(small)).toEqual(new WireError("udp", "bad-length", "length 7 < 8"));
    const big = hex(V4);
    big[5] = 14;
    expect(parseUdp(big)).toEqual(new WireError("udp", "truncated", "length 14 > 13 bytes"));
  });

  it("refuses a corrupted checksum or payload", () => {
    const b = hex(V4);
    b[12] = 0x4f;
    expect(parseUdp(b, ph4)).toBeInstanceOf(WireError);
    expect(parseUdp(b)).not.toBeInstanceOf(WireError);
  });

  it("every truncation is a WireError, never a throw", () => {
    for (const s of [V4, V6, V4_NO_CHECKSUM, ZERO_SUM]) {
      const full = hex(s);
      for (let n = 0; n < full.length; n++) {
        const r = parseUdp(full.subarray(0, n), ph4);
        expect(r).toBeInstanceOf(WireError);
        expect((r as WireError).reason).toBe("truncated");
      }
    }
  });
});

describe("UDP construct", () => {
  it("emits the scapy bytes over IPv4 and IPv6, at offset 0 and at a non-zero offset", () => {
    for (const [s, ph] of [[V4, ph4], [V6, ph6]] as const) {
      const r = ok(hex(s), ph);
      expect(toHex(emitAt(r, 0, ph))).toBe(s);
      expect(toHex(emitAt(r, 9, ph))).toBe(s);
    }
  });

  it("sends a computed checksum of 0 as 0xFFFF (RFC 768)", () => {
    const repr: UdpRepr = { srcPort: 1234, dstPort: 5678, payload: hex("d0d7") };
    expect(toHex(emitAt(repr, 3, ph4))).toBe(ZERO_SUM);
  });

  it("without a pseudo-header writes checksum 0 (IPv4 'not computed')", () => {
    const repr: UdpRepr = { srcPort: 68, dstPort: 67, payload: hex("78") };
    expect(toHex(emitAt(repr, 5))).toBe(V4_NO_CHECKSUM);
  });

  it("writes the header in front of a payload already in place", () => {
    const out = new Uint8Array(40).fill(0xaa);
    out.set(Buffer.from("hello"), 20 + UDP_HEADER_LEN);
    const repr: UdpRepr = { srcPort: 5353, dstPort: 5353, payload: out.subarray(28, 33) };
    const end = emitUdp(repr, out, 20, ph4);
    expect(toHex(out.subarray(20, end))).toBe(V4);
  });

  it("throws for a datagram longer than 65535 bytes (API misuse)", () => {
    const repr: UdpRepr = { srcPort: 1, dstPort: 2, payload: new Uint8Array(65528) };
    expect(() => emitUdp(repr, new Uint8Array(70000), 0, ph4)).toThrow(RangeError);
  });
});
