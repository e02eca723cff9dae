import { describe, expect, it } from "vitest";
import { WireError } from "../../../src/wire/error.ts";
import { parseIpv6 } from "../../../src/wire/ip-address.ts";
import {
  emitNdpOption,
  emitNdpOptions,
  findNdpOption,
  ndpOptionLen,
  ndpOptionsLen,
  parseNdpOptions,
  type NdpOption,
} from "../../../src/wire/ndp.ts";

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, "hex"));
const ip6 = (s: string): Uint8Array => parseIpv6(s) as Uint8Array;
const mac = (s: string): Uint8Array => hex(s.replaceAll(":", ""));

// The option part (after the 16-byte RA fixed part) of a Router Advertisement built by scapy 2.5.0:
// /usr/bin/python3 -c 'from scapy.all import *; print(bytes(IPv6(src="fe80::fe",dst="ff02::1",hlim=255)/ICMPv6ND_RA(chlim=64,M=1,O=0,routerlifetime=1800,reachabletime=30000,retranstimer=1000)/ICMPv6NDOptSrcLLAddr(lladdr="02:00:00:00:00:fe")/ICMPv6NDOptMTU(mtu=1500)/ICMPv6NDOptPrefixInfo(prefixlen=64,L=1,A=1,validlifetime=86400,preferredlifetime=14400,prefix="fd00::"))[40:].hex())'
const RA_OPTIONS = hex(
  "01010200000000fe" + "05010000000005dc" + "030440c0000151800000384000000000fd000000000000000000000000000000",
);
// The options (after 16 bytes) of:
// /usr/bin/python3 -c 'from scapy.all import *; print(bytes(IPv6(src="fe80::fe",dst="ff02::1",hlim=255)/ICMPv6ND_RA(chlim=64,M=0,O=1,routerlifetime=0)/ICMPv6NDOptRDNSS(lifetime=600,dns=["fd00::53","fd00::54"]))[40:].hex())'
const RDNSS = hex("1905000000000258fd000000000000000000000000000053fd000000000000000000000000000054");
// The options (after 40 bytes) of a Redirect:
// /usr/bin/python3 -c 'from scapy.all import *; print(bytes(IPv6(src="fe80::fe",dst="fe80::1",hlim=255)/ICMPv6ND_Redirect(tgt="fe80::fd",dst="fd09::9")/ICMPv6NDOptDstLLAddr(lladdr="02:00:00:00:00:fd")/ICMPv6NDOptRedirectedHdr(pkt=IPv6(src="fd00::1",dst="fd09::9",plen=8,nh=17)/UDP(sport=1,dport=2,len=8,chksum=0)))[40:].hex())'
const REDIRECT_OPTIONS = hex(
  "02010200000000fd" +
    "04070000000000006000000000081140fd000000000000000000000000000001fd0900000000000000000000000000090001000200080000",
);
// The options (after 24 bytes) of an NS whose Source Link-layer Address option has Length 0:
// /usr/bin/python3 -c 'from scapy.all import *; print(bytes(IPv6(src="fe80::2",dst="ff02::1:ff00:1",hlim=255)/ICMPv6ND_NS(tgt="fe80::1")/ICMPv6NDOptSrcLLAddr(len=0,lladdr="02:00:00:00:00:02"))[40:].hex())'
const LENGTH_ZERO = hex("0100020000000002");

function parseOk(bytes: Uint8Array): readonly NdpOption[] {
  const r = parseNdpOptions(bytes);
  if (r instanceof WireError) throw new Error(`unexpected ${r.toString()}`);
  return r;
}

function emitted(options: readonly NdpOption[], at = 0): Uint8Array {
  const len = ndpOptionsLen(options);
  const out = new Uint8Array(at + len + 4).fill(0xaa);
  expect(emitNdpOptions(options, out, at)).toBe(at + len);
  expect(out.subarray(0, at).every((b) => b === 0xaa)).toBe(true);
  expect(out.subarray(at + len).every((b) => b === 0xaa)).toBe(true);
  return out.subarray(at, at + len);
}

describe("NDP options (RFC 4861 §4.6)", () => {
  it("deconstructs SLLA, MTU and prefix information from a router advertisement", () => {
    expect(parseOk(RA_OPTIONS)).toEqual([
      { kind: "source-link-layer-address", address: mac("02:00:00:00:00:fe") },
      { kind: "mtu", mtu: 1500 },
      {
        kind: "prefix-information",
        prefixLength: 64,
        onLink: true,
        autonomous: true,
        validLifetime: 86400,
        preferredLifetime: 14400,
        prefix: ip6("fd00::"),
      },
    ]);
  });

  it("constructs them byte for byte over a 0xAA-filled buffer", () => {
    const options: NdpOption[] = [
      { kind: "source-link-layer-address", address: mac("02:00:00:00:00:fe") },
      { kind: "mtu", mtu: 1500 },
      {
        kind: "prefix-information",
        prefixLength: 64,
        onLink: true,
        autonomous: true,
        validLifetime: 86400,
        preferredLifetime: 14400,
        prefix: ip6("fd00::"),
      },
    ];
    expect(ndpOptionsLen(options)).toBe(48);
    expect(emitted(options)).toEqual(RA_OPTIONS);
  });

  it("RFC 4861 §4.6.2: L and A flags are independent", () => {
    const b = Uint8Array.from(RA_OPTIONS);
    b[16 + 3] = 0x40;
    expect(findNdpOption(parseOk(b), "prefix-information")).toMatchObject({ onLink: false, autonomous: true });
    b[16 + 3] = 0x80;
    expect(findNdpOption(parseOk(b), "prefix-information")).toMatchObject({ onLink: true, autonomous: false });
  });

  it("RFC 4861 §4.6.3: deconstructs target LLA and the redirected header, padding kept", () => {
    const r = parseOk(REDIRECT_OPTIONS);
    expect(r[0]).toEqual({ kind: "target-link-layer-address", address: mac("02:00:00:00:00:fd") });
    expect(r[1]).toMatchObject({ kind: "redirected-header" });
    const packet = (r[1] as { packet: Uint8Array }).packet;
    expect(packet.length).toBe(48);
    expect(packet[0]).toBe(0x60);
    expect(emitted(r, 3)).toEqual(REDIRECT_OPTIONS);
  });

  it("RFC 4861 §4.6.3: pads a redirected header to whole units with zeros", () => {
    const out = emitted([{ kind: "redirected-header", packet: hex("60000000") }]);
    expect(out).toEqual(hex("0402000000000000" + "6000000000000000"));
  });

  it("RFC 8106 §5.1: deconstructs and constructs RDNSS", () => {
    const r = parseOk(RDNSS);
    expect(r).toEqual([{ kind: "recursive-dns-server", lifetime: 600, servers: [ip6("fd00::53"), ip6("fd00::54")] }]);
    expect(emitted(r, 5)).toEqual(RDNSS);
  });

  it("RFC 8106 §5.1: RDNSS length must be odd and at least 3", () => {
    for (const units of [1, 2, 4]) {
      const b = new Uint8Array(units * 8);
      b[0] = 25;
      b[1] = units;
      expect(parseNdpOptions(b), `units=${units}`).toMatchObject({ layer: "ndp-option", reason: "bad-length" });
    }
  });

  it("RFC 4861 §4.6: an option with length 0 invalidates the list", () => {
    const e = parseNdpOptions(LENGTH_ZERO);
    expect(e).toBeInstanceOf(WireError);
    expect(e).toMatchObject({ layer: "ndp-option", reason: "bad-length" });
    const after = new Uint8Array([...RA_OPTIONS, ...LENGTH_ZERO]);
    expect(parseNdpOptions(after)).toMatchObject({ reason: "bad-length" });
  });

  it("RFC 4861 §4.6.2, §4.6.4: prefix information must be length 4, MTU length 1", () => {
    const prefix3 = Uint8Array.from(RA_OPTIONS.subarray(16, 40));
    prefix3[1] = 3;
    expect(parseNdpOptions(prefix3)).toMatchObject({ reason: "bad-length" });
    const mtu2 = new Uint8Array(16);
    mtu2[0] = 5;
    mtu2[1] = 2;
    expect(parseNdpOptions(mtu2)).toMatchObject({ reason: "bad-length" });
  });

  it("keeps an unknown option raw and re-emits it unchanged", () => {
    const raw = hex("0e01" + "112233445566" + "1f01" + "aabbccddeeff");
    const r = parseOk(raw);
    expect(r).toEqual([
      { kind: "unknown", type: 14, data: hex("112233445566") },
      { kind: "unknown", type: 31, data: hex("aabbccddeeff") },
    ]);
    expect(emitted(r, 1)).toEqual(raw);
  });

  it("carries a link-layer address longer than Ethernet's, padded", () => {
    const eui64 = hex("0011223344556677");
    const option: NdpOption = { kind: "source-link-layer-address", address: eui64 };
    expect(ndpOptionLen(option)).toBe(16);
    const out = emitted([option]);
    expect(out).toEqual(hex("0102" + "0011223344556677" + "000000000000"));
    expect(parseOk(out)).toEqual([{ kind: "source-link-layer-address", address: hex("0011223344556677000000000000") }]);
  });

  it("an empty list parses and emits as nothing", () => {
    expect(parseOk(new Uint8Array(0))).toEqual([]);
    expect(emitNdpOptions([], new Uint8Array(0), 0)).toBe(0);
  });

  it("findNdpOption returns the first of a kind, or undefined", () => {
    const r = parseOk(RA_OPTIONS);
    expect(findNdpOption(r, "mtu")?.mtu).toBe(1500);
    expect(findNdpOption(r, "target-link-layer-address")).toBeUndefined();
  });

  it("never throws on any truncation: each is an error or a shorter valid list", () => {
    for (const bytes of [RA_OPTIONS, RDNSS, REDIRECT_OPTIONS, LENGTH_ZERO]) {
      for (let n = 0; n <= bytes.length; n++) {
        const r = parseNdpOptions(bytes.slice(0, n));
        if (n % 8 !== 0) expect(r, `n=${n}`).toBeInstanceOf(WireError);
        if (!(r instanceof WireError)) expect(ndpOptionsLen(r)).toBe(n);
      }
    }
  });

  it("a one-byte tail is truncated, an option running past the end is truncated", () => {
    expect(parseNdpOptions(hex("01"))).toMatchObject({ reason: "truncated" });
    expect(parseNdpOptions(hex("0102020000000001"))).toMatchObject({ reason: "truncated" });
  });

  it("never throws on seeded random bytes", () => {
    let seed = 99;
    const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 24;
    for (let i = 0; i < 2000; i++) {
      const b = new Uint8Array(next() % 64);
      for (let j = 0; j < b.length; j++) b[j] = j % 8 === 1 ? next() % 5 : next();
      const r = parseNdpOptions(b);
      if (!(r instanceof WireError)) expect(ndpOptionsLen(r)).toBe(b.length);
    }
  });

  it("throws on options that cannot be encoded (misuse)", () => {
    const out = new Uint8Array(4096);
    expect(() => emitNdpOption({ kind: "unknown", type: 9, data: new Uint8Array(2100) }, out, 0)).toThrow(RangeError);
    expect(() => emitNdpOption({ kind: "recursive-dns-server", lifetime: 1, servers: [] }, out, 0)).toThrow(RangeError);
    expect(() =>
      emitNdpOption(
        { kind: "prefix-information", prefixLength: 64, onLink: true, autonomous: true, validLifetime: 0, preferredLifetime: 0, prefix: new Uint8Array(8) },
        out,
        0,
      ),
    ).toThrow(RangeError);
  });
});
