import { describe, expect, it } from "vitest";
import { finishChecksum, pseudoHeaderSum, sumBytes } from "../../../src/wire/checksum.ts";
import { WireError } from "../../../src/wire/error.ts";
import {
  emitIcmpv6,
  ICMPV6_HEADER_LEN,
  icmpv6Length,
  Icmpv6View,
  IP_PROTOCOL_ICMPV6,
  parseIcmpv6,
  type Icmpv6PseudoHeader,
  type Icmpv6Repr,
} from "../../../src/wire/icmpv6.ts";
import { parseIpv6 } from "../../../src/wire/ip-address.ts";

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, "hex"));
const text = (s: string): Uint8Array => new TextEncoder().encode(s);
const ip6 = (s: string): Uint8Array => parseIpv6(s) as Uint8Array;
const mac = (s: string): Uint8Array => hex(s.replaceAll(":", ""));
const ph = (src: string, dst: string): Icmpv6PseudoHeader => ({ family: 6, src: ip6(src), dst: ip6(dst) });

interface Vector {
  readonly bytes: Uint8Array;
  readonly ph: Icmpv6PseudoHeader;
}

// Every vector is the ICMPv6 part of an IPv6 packet built by scapy 2.5.0 (so its checksum is real
// over the pseudo-header of the addresses given), printed by the command in the comment above it.
const V = {
  // /usr/bin/python3 -c 'from scapy.all import *; print(bytes(IPv6(src="fd00::1",dst="fd00::2")/ICMPv6EchoRequest(id=0x1234,seq=7,data=b"wirestack"))[40:].hex())'
  echoRequest: { bytes: hex("800049cd1234000777697265737461636b"), ph: ph("fd00::1", "fd00::2") },
  // /usr/bin/python3 -c 'from scapy.all import *; print(bytes(IPv6(src="fd00::2",dst="fd00::1")/ICMPv6EchoReply(id=0x1234,seq=7,data=b"wirestack"))[40:].hex())'
  echoReply: { bytes: hex("810048cd1234000777697265737461636b"), ph: ph("fd00::2", "fd00::1") },
  // /usr/bin/python3 -c 'from scapy.all import *; print(bytes(IPv6(src="fd00::2",dst="fd00::1")/ICMPv6DestUnreach(code=4)/IPerror6(src="fd00::1",dst="fd00::2")/UDPerror(sport=40000,dport=53)/b"q")[40:].hex())'
  portUnreachable: {
    bytes: hex(
      "01049354000000006000000000091140fd000000000000000000000000000001fd0000000000000000000000000000029c4000350009f86171",
    ),
    ph: ph("fd00::2", "fd00::1"),
  },
  // /usr/bin/python3 -c 'from scapy.all import *; print(bytes(IPv6(src="fd00::fe",dst="fd00::1")/ICMPv6PacketTooBig(mtu=1280)/IPerror6(src="fd00::1",dst="fd09::9",nh=6,plen=8)/b"\x00\x50\x00\x50\x00\x00\x00\x01")[40:].hex())'
  packetTooBig: {
    bytes: hex(
      "02009c8e000005006000000000080640fd000000000000000000000000000001fd0900000000000000000000000000090050005000000001",
    ),
    ph: ph("fd00::fe", "fd00::1"),
  },
  // /usr/bin/python3 -c 'from scapy.all import *; print(bytes(IPv6(src="fd00::fe",dst="fd00::1")/ICMPv6TimeExceeded(code=0)/IPerror6(src="fd00::1",dst="fd09::9",hlim=1)/UDPerror(sport=33434,dport=33435))[40:].hex())'
  timeExceeded: {
    bytes: hex(
      "0300909c000000006000000000081101fd000000000000000000000000000001fd090000000000000000000000000009829a829b00080094",
    ),
    ph: ph("fd00::fe", "fd00::1"),
  },
  // /usr/bin/python3 -c 'from scapy.all import *; print(bytes(IPv6(src="fd00::fe",dst="fd00::1")/ICMPv6ParamProblem(code=1,ptr=6)/IPerror6(src="fd00::1",dst="fd00::fe",nh=200)/bytes(8))[40:].hex())'
  parameterProblem: {
    bytes: hex(
      "0401dd3b00000006600000000008c840fd000000000000000000000000000001fd0000000000000000000000000000fe0000000000000000",
    ),
    ph: ph("fd00::fe", "fd00::1"),
  },
  // /usr/bin/python3 -c 'from scapy.all import *; print(bytes(IPv6(src="fe80::1",dst="ff02::2",hlim=255)/ICMPv6ND_RS()/ICMPv6NDOptSrcLLAddr(lladdr="02:00:00:00:00:01"))[40:].hex())'
  routerSolicitation: { bytes: hex("85007a2c000000000101020000000001"), ph: ph("fe80::1", "ff02::2") },
  // /usr/bin/python3 -c 'from scapy.all import *; print(bytes(IPv6(src="fe80::fe",dst="ff02::1",hlim=255)/ICMPv6ND_RA(chlim=64,M=1,O=0,routerlifetime=1800,reachabletime=30000,retranstimer=1000)/ICMPv6NDOptSrcLLAddr(lladdr="02:00:00:00:00:fe")/ICMPv6NDOptMTU(mtu=1500)/ICMPv6NDOptPrefixInfo(prefixlen=64,L=1,A=1,validlifetime=86400,preferredlifetime=14400,prefix="fd00::"))[40:].hex())'
  routerAdvertisement: {
    bytes: hex(
      "8600e0f64088070800007530000003e801010200000000fe05010000000005dc030440c0000151800000384000000000fd000000000000000000000000000000",
    ),
    ph: ph("fe80::fe", "ff02::1"),
  },
  // /usr/bin/python3 -c 'from scapy.all import *; print(bytes(IPv6(src="fe80::fe",dst="ff02::1",hlim=255)/ICMPv6ND_RA(chlim=64,M=0,O=1,routerlifetime=0)/ICMPv6NDOptRDNSS(lifetime=600,dns=["fd00::53","fd00::54"]))[40:].hex())'
  routerAdvertisementRdnss: {
    bytes: hex(
      "860024bc4048000000000000000000001905000000000258fd000000000000000000000000000053fd000000000000000000000000000054",
    ),
    ph: ph("fe80::fe", "ff02::1"),
  },
  // /usr/bin/python3 -c 'from scapy.all import *; print(bytes(IPv6(src="fe80::2",dst="ff02::1:ff00:1",hlim=255)/ICMPv6ND_NS(tgt="fe80::1")/ICMPv6NDOptSrcLLAddr(lladdr="02:00:00:00:00:02"))[40:].hex())'
  neighborSolicitation: {
    bytes: hex("87007a9700000000fe8000000000000000000000000000010101020000000002"),
    ph: ph("fe80::2", "ff02::1:ff00:1"),
  },
  // /usr/bin/python3 -c 'from scapy.all import *; print(bytes(IPv6(src="fe80::1",dst="fe80::2",hlim=255)/ICMPv6ND_NA(tgt="fe80::1",R=0,S=1,O=1)/ICMPv6NDOptDstLLAddr(lladdr="02:00:00:00:00:01"))[40:].hex())'
  neighborAdvertisement: {
    bytes: hex("8800181c60000000fe8000000000000000000000000000010201020000000001"),
    ph: ph("fe80::1", "fe80::2"),
  },
  // /usr/bin/python3 -c 'from scapy.all import *; print(bytes(IPv6(src="fe80::fe",dst="fe80::1",hlim=255)/ICMPv6ND_Redirect(tgt="fe80::fd",dst="fd09::9")/ICMPv6NDOptDstLLAddr(lladdr="02:00:00:00:00:fd")/ICMPv6NDOptRedirectedHdr(pkt=IPv6(src="fd00::1",dst="fd09::9",plen=8,nh=17)/UDP(sport=1,dport=2,len=8,chksum=0)))[40:].hex())'
  redirect: {
    bytes: hex(
      "8900075e00000000fe8000000000000000000000000000fdfd09000000000000000000000000000902010200000000fd04070000000000006000000000081140fd000000000000000000000000000001fd0900000000000000000000000000090001000200080000",
    ),
    ph: ph("fe80::fe", "fe80::1"),
  },
  // /usr/bin/python3 -c 'from scapy.all import *; print(bytes(IPv6(src="fe80::1",dst="ff02::1:ff00:1",hlim=1)/ICMPv6MLReport(mladdr="ff02::1:ff00:1"))[40:].hex())'
  mldReport: { bytes: hex("8300821f00000000ff0200000000000000000001ff000001"), ph: ph("fe80::1", "ff02::1:ff00:1") },
} as const satisfies Record<string, Vector>;

// /usr/bin/python3 -c 'from scapy.all import *; print(bytes(IPv6(src="fe80::2",dst="ff02::1:ff00:1",hlim=255)/ICMPv6ND_NS(tgt="fe80::1")/ICMPv6NDOptSrcLLAddr(len=0,lladdr="02:00:00:00:00:02"))[40:].hex())'
const NS_OPTION_LENGTH_ZERO = hex("87007a9800000000fe8000000000000000000000000000010100020000000002");

/** A copy of `v.bytes` with `mutate` applied and the checksum recomputed over `v.ph`. */
function edited(v: Vector, mutate: (b: Uint8Array) => void): Uint8Array {
  const b = Uint8Array.from(v.bytes);
  mutate(b);
  b[2] = 0;
  b[3] = 0;
  const c = finishChecksum(sumBytes(b, 0, b.length, pseudoHeaderSum(v.ph, IP_PROTOCOL_ICMPV6, b.length)));
  b[2] = c >>> 8;
  b[3] = c & 0xff;
  return b;
}

function parseOk(v: Vector | { bytes: Uint8Array; ph: Icmpv6PseudoHeader }): Icmpv6Repr {
  const r = parseIcmpv6(v.bytes, v.ph);
  if (r instanceof WireError) throw new Error(`unexpected ${r.toString()}`);
  return r;
}

/** Emits into a buffer pre-filled with 0xAA at `at`; checks the bytes around are untouched. */
function emitted(repr: Icmpv6Repr, p: Icmpv6PseudoHeader, at = 0): Uint8Array {
  const len = icmpv6Length(repr);
  const out = new Uint8Array(at + len + 3).fill(0xaa);
  expect(emitIcmpv6(repr, out, at, p)).toBe(at + len);
  expect(out.subarray(0, at).every((b) => b === 0xaa)).toBe(true);
  expect(out.subarray(at + len).every((b) => b === 0xaa)).toBe(true);
  return out.subarray(at, at + len);
}

describe("ICMPv6 echo (RFC 4443 §4)", () => {
  it("§4.1: deconstructs an echo request", () => {
    expect(parseOk(V.echoRequest)).toEqual({
      kind: "echo-request",
      identifier: 0x1234,
      sequence: 7,
      data: text("wirestack"),
    });
  });

  it("§4.1, §4.2: constructs echo request and reply byte for byte", () => {
    const request: Icmpv6Repr = { kind: "echo-request", identifier: 0x1234, sequence: 7, data: text("wirestack") };
    expect(emitted(request, V.echoRequest.ph)).toEqual(V.echoRequest.bytes);
    expect(emitted({ ...request, kind: "echo-reply" }, V.echoReply.ph)).toEqual(V.echoReply.bytes);
  });
});

describe("ICMPv6 errors (RFC 4443 §3)", () => {
  it("§3.1: deconstructs and constructs port unreachable quoting a UDP datagram", () => {
    const r = parseOk(V.portUnreachable);
    expect(r).toEqual({
      kind: "destination-unreachable",
      code: { kind: "port-unreachable" },
      invoking: V.portUnreachable.bytes.subarray(8),
    });
    if (r.kind !== "destination-unreachable") return;
    expect(r.invoking[0]! >> 4).toBe(6);
    expect(r.invoking[6]).toBe(17);
    expect(emitted(r, V.portUnreachable.ph)).toEqual(V.portUnreachable.bytes);
  });

  it("§3.1: names codes 0–6 and keeps others", () => {
    const names = ["no-route", "admin-prohibited", "beyond-scope", "address-unreachable", "port-unreachable", "source-address-failed-policy", "reject-route"];
    names.forEach((name, code) => {
      const b = edited(V.portUnreachable, (x) => (x[1] = code));
      expect(parseOk({ bytes: b, ph: V.portUnreachable.ph }), name).toMatchObject({ code: { kind: name } });
    });
    const odd = edited(V.portUnreachable, (x) => (x[1] = 9));
    const r = parseOk({ bytes: odd, ph: V.portUnreachable.ph });
    expect(r).toMatchObject({ code: { kind: "unknown", value: 9 } });
    expect(emitted(r, V.portUnreachable.ph)).toEqual(odd);
  });

  it("§3.2: packet too big carries the MTU", () => {
    const r = parseOk(V.packetTooBig);
    expect(r).toEqual({ kind: "packet-too-big", mtu: 1280, invoking: V.packetTooBig.bytes.subarray(8) });
    expect(emitted(r, V.packetTooBig.ph)).toEqual(V.packetTooBig.bytes);
  });

  it("§3.3: time exceeded, hop limit and reassembly", () => {
    const r = parseOk(V.timeExceeded);
    expect(r).toEqual({ kind: "time-exceeded", code: { kind: "hop-limit-exceeded" }, invoking: V.timeExceeded.bytes.subarray(8) });
    expect(emitted(r, V.timeExceeded.ph)).toEqual(V.timeExceeded.bytes);
    const reassembly = edited(V.timeExceeded, (x) => (x[1] = 1));
    expect(parseOk({ bytes: reassembly, ph: V.timeExceeded.ph })).toMatchObject({ code: { kind: "reassembly-time-exceeded" } });
  });

  it("§3.4: parameter problem, unrecognized next header, with its 32-bit pointer", () => {
    const r = parseOk(V.parameterProblem);
    expect(r).toEqual({
      kind: "parameter-problem",
      code: { kind: "unrecognized-next-header" },
      pointer: 6,
      invoking: V.parameterProblem.bytes.subarray(8),
    });
    expect(emitted(r, V.parameterProblem.ph)).toEqual(V.parameterProblem.bytes);
    const big = edited(V.parameterProblem, (x) => x.set([0x00, 0x01, 0x00, 0x00], 4));
    expect(parseOk({ bytes: big, ph: V.parameterProblem.ph })).toMatchObject({ pointer: 0x10000 });
  });

  it("§2.1: the view tells errors from informational messages", () => {
    const e = Icmpv6View.check(V.timeExceeded.bytes);
    const i = Icmpv6View.check(V.echoRequest.bytes);
    expect(e instanceof Icmpv6View && e.isError).toBe(true);
    expect(i instanceof Icmpv6View && i.isError).toBe(false);
  });
});

describe("Neighbor Discovery messages (RFC 4861 §4)", () => {
  it("§4.1: router solicitation with a source link-layer address", () => {
    const r = parseOk(V.routerSolicitation);
    expect(r).toEqual({
      kind: "router-solicitation",
      options: [{ kind: "source-link-layer-address", address: mac("02:00:00:00:00:01") }],
    });
    expect(emitted(r, V.routerSolicitation.ph)).toEqual(V.routerSolicitation.bytes);
  });

  it("§4.2: router advertisement with SLLA, MTU and prefix information", () => {
    const repr: Icmpv6Repr = {
      kind: "router-advertisement",
      curHopLimit: 64,
      managed: true,
      otherConfig: false,
      // scapy's ICMPv6ND_RA defaults to prf=1: RFC 4191 §2.2 "High" router preference.
      extensionFlags: 0x08,
      routerLifetime: 1800,
      reachableTime: 30000,
      retransTimer: 1000,
      options: [
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
      ],
    };
    expect(parseOk(V.routerAdvertisement)).toEqual(repr);
    expect(emitted(repr, V.routerAdvertisement.ph)).toEqual(V.routerAdvertisement.bytes);
  });

  it("§4.2: O flag and RDNSS (RFC 8106)", () => {
    const r = parseOk(V.routerAdvertisementRdnss);
    expect(r).toMatchObject({ kind: "router-advertisement", managed: false, otherConfig: true, routerLifetime: 0 });
    if (r.kind !== "router-advertisement") return;
    expect(r.options).toEqual([{ kind: "recursive-dns-server", lifetime: 600, servers: [ip6("fd00::53"), ip6("fd00::54")] }]);
    expect(emitted(r, V.routerAdvertisementRdnss.ph)).toEqual(V.routerAdvertisementRdnss.bytes);
  });

  it("§4.2: flag bits after M and O (RFC 4191 Prf) are kept and re-emitted", () => {
    // Prf = 11 (reserved, RFC 4191 §2.2) and RFC 4389's P flag.
    const odd = edited(V.routerAdvertisement, (x) => (x[5] = 0x40 | 0x18 | 0x04));
    const r = parseOk({ bytes: odd, ph: V.routerAdvertisement.ph });
    expect(r).toMatchObject({ managed: false, otherConfig: true, extensionFlags: 0x1c });
    expect(emitted(r, V.routerAdvertisement.ph)).toEqual(odd);
    const none = edited(V.routerAdvertisement, (x) => (x[5] = 0x80));
    expect(parseOk({ bytes: none, ph: V.routerAdvertisement.ph })).toMatchObject({ extensionFlags: undefined });
  });

  it("§4.3: neighbor solicitation", () => {
    const r = parseOk(V.neighborSolicitation);
    expect(r).toEqual({
      kind: "neighbor-solicitation",
      target: ip6("fe80::1"),
      options: [{ kind: "source-link-layer-address", address: mac("02:00:00:00:00:02") }],
    });
    expect(emitted(r, V.neighborSolicitation.ph)).toEqual(V.neighborSolicitation.bytes);
  });

  it("§4.4: neighbor advertisement with S and O set, R clear", () => {
    const repr: Icmpv6Repr = {
      kind: "neighbor-advertisement",
      router: false,
      solicited: true,
      override: true,
      target: ip6("fe80::1"),
      options: [{ kind: "target-link-layer-address", address: mac("02:00:00:00:00:01") }],
    };
    expect(parseOk(V.neighborAdvertisement)).toEqual(repr);
    expect(emitted(repr, V.neighborAdvertisement.ph)).toEqual(V.neighborAdvertisement.bytes);
    const routerOnly = edited(V.neighborAdvertisement, (x) => (x[4] = 0x80));
    expect(parseOk({ bytes: routerOnly, ph: V.neighborAdvertisement.ph })).toMatchObject({
      router: true,
      solicited: false,
      override: false,
    });
  });

  it("§4.5: redirect with target LLA and redirected header", () => {
    const r = parseOk(V.redirect);
    expect(r).toMatchObject({ kind: "redirect", target: ip6("fe80::fd"), destination: ip6("fd09::9") });
    if (r.kind !== "redirect") return;
    expect(r.options.map((o) => o.kind)).toEqual(["target-link-layer-address", "redirected-header"]);
    expect(emitted(r, V.redirect.ph, 9)).toEqual(V.redirect.bytes);
  });

  it("§4.6: an option with length 0 makes the message invalid", () => {
    const e = parseIcmpv6(NS_OPTION_LENGTH_ZERO, V.neighborSolicitation.ph);
    expect(e).toBeInstanceOf(WireError);
    expect(e).toMatchObject({ layer: "ndp-option", reason: "bad-length" });
  });

  it("§7.1.1, §7.1.2: a non-zero code or a multicast target is invalid", () => {
    const code = edited(V.neighborSolicitation, (x) => (x[1] = 1));
    expect(parseIcmpv6(code, V.neighborSolicitation.ph)).toMatchObject({ layer: "icmpv6", reason: "bad-value" });
    const mcast = edited(V.neighborSolicitation, (x) => x.set(ip6("ff02::1"), 8));
    expect(parseIcmpv6(mcast, V.neighborSolicitation.ph)).toMatchObject({ reason: "bad-value" });
    const naMcast = edited(V.neighborAdvertisement, (x) => x.set(ip6("ff02::1"), 8));
    expect(parseIcmpv6(naMcast, V.neighborAdvertisement.ph)).toMatchObject({ reason: "bad-value" });
  });

  it("§8.1: a redirect to a multicast destination is invalid", () => {
    const mcast = edited(V.redirect, (x) => x.set(ip6("ff02::1"), 24));
    expect(parseIcmpv6(mcast, V.redirect.ph)).toMatchObject({ reason: "bad-value" });
  });

  it("§6.1.1, §6.1.2, §7.1.1, §8.1: ND messages shorter than their fixed part are truncated", () => {
    const cases = [
      [V.routerSolicitation, 8],
      [V.routerAdvertisement, 16],
      [V.neighborSolicitation, 24],
      [V.neighborAdvertisement, 24],
      [V.redirect, 40],
    ] as const;
    for (const [v, fixed] of cases) {
      const short = edited({ bytes: v.bytes.subarray(0, fixed - 1), ph: v.ph }, () => {});
      expect(parseIcmpv6(short, v.ph), `type ${v.bytes[0]}`).toMatchObject({ layer: "icmpv6", reason: "truncated" });
      const bare = edited({ bytes: v.bytes.subarray(0, fixed), ph: v.ph }, () => {});
      expect(parseIcmpv6(bare, v.ph), `type ${v.bytes[0]}`).toMatchObject({ options: [] });
    }
  });

  it("names an MLD report (RFC 2710 §3) and re-emits it unchanged", () => {
    const r = parseOk(V.mldReport);
    expect(r).toEqual({ kind: "mld-report", code: 0, rest: V.mldReport.bytes.subarray(4) });
    expect(emitted(r, V.mldReport.ph)).toEqual(V.mldReport.bytes);
  });

  it("keeps unknown types raw, and an echo with an undefined code", () => {
    const unknown = edited(V.mldReport, (x) => (x[0] = 200));
    const r = parseOk({ bytes: unknown, ph: V.mldReport.ph });
    expect(r).toMatchObject({ kind: "unknown", type: 200, code: 0 });
    expect(emitted(r, V.mldReport.ph)).toEqual(unknown);
    const echo = edited(V.echoRequest, (x) => (x[1] = 3));
    const e = parseOk({ bytes: echo, ph: V.echoRequest.ph });
    expect(e).toMatchObject({ kind: "unknown", type: 128, code: 3 });
    expect(emitted(e, V.echoRequest.ph)).toEqual(echo);
  });
});

describe("ICMPv6 checksum (RFC 4443 §2.3)", () => {
  it("refuses a bad checksum when given the pseudo-header, ignores it without", () => {
    const bad = Uint8Array.from(V.neighborSolicitation.bytes);
    bad[9] = (bad[9] as number) ^ 0x40;
    expect(parseIcmpv6(bad, V.neighborSolicitation.ph)).toMatchObject({ layer: "icmpv6", reason: "bad-checksum" });
    expect(parseIcmpv6(bad)).toMatchObject({ kind: "neighbor-solicitation" });
  });

  it("covers the pseudo-header: the right bytes with the wrong addresses fail", () => {
    const elsewhere = ph("fd00::1", "fd00::3");
    expect(parseIcmpv6(V.echoRequest.bytes, elsewhere)).toMatchObject({ reason: "bad-checksum" });
    const v = Icmpv6View.check(V.echoRequest.bytes);
    expect(v instanceof Icmpv6View && v.verifyChecksum(V.echoRequest.ph)).toBe(true);
    expect(v instanceof Icmpv6View && v.verifyChecksum(elsewhere)).toBe(false);
  });
});

describe("ICMPv6 round trips and malformed input", () => {
  it("re-emits every vector at a non-zero offset byte for byte", () => {
    for (const [name, v] of Object.entries(V)) {
      const at = 13;
      const out = new Uint8Array(at + v.bytes.length + 5).fill(0xaa);
      expect(emitIcmpv6(parseOk(v), out, at, v.ph), name).toBe(at + v.bytes.length);
      expect(out.subarray(at, at + v.bytes.length), name).toEqual(v.bytes);
      expect(out.subarray(0, at).every((b) => b === 0xaa), name).toBe(true);
      expect(out.subarray(at + v.bytes.length).every((b) => b === 0xaa), name).toBe(true);
    }
  });

  it("parses a message that is a view at a non-zero offset of a larger buffer", () => {
    const big = new Uint8Array(100).fill(0xaa);
    big.set(V.neighborAdvertisement.bytes, 21);
    const r = parseIcmpv6(big.subarray(21, 21 + V.neighborAdvertisement.bytes.length), V.neighborAdvertisement.ph);
    expect(r).toMatchObject({ kind: "neighbor-advertisement", target: ip6("fe80::1") });
  });

  it("returns truncated below 4 bytes, and below 8 for errors and echo", () => {
    for (let n = 0; n < ICMPV6_HEADER_LEN; n++) {
      expect(parseIcmpv6(V.echoRequest.bytes.subarray(0, n)), `n=${n}`).toMatchObject({ reason: "truncated" });
    }
    for (const v of [V.echoRequest, V.portUnreachable, V.packetTooBig, V.timeExceeded, V.parameterProblem]) {
      for (let n = ICMPV6_HEADER_LEN; n < 8; n++) {
        expect(parseIcmpv6(v.bytes.subarray(0, n)), `type ${v.bytes[0]} n=${n}`).toMatchObject({ reason: "truncated" });
      }
    }
  });

  it("never throws on any truncation of any vector, with or without the pseudo-header", () => {
    for (const [name, v] of Object.entries(V)) {
      for (let n = 0; n <= v.bytes.length; n++) {
        const cut = v.bytes.slice(0, n);
        for (const p of [undefined, v.ph]) {
          const r = parseIcmpv6(cut, p);
          if (n < ICMPV6_HEADER_LEN) expect(r, `${name} n=${n}`).toBeInstanceOf(WireError);
          else if (!(r instanceof WireError)) expect(icmpv6Length(r), `${name} n=${n}`).toBe(n);
        }
      }
    }
  });

  it("never throws on seeded random bytes", () => {
    let seed = 4443;
    const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 24;
    const types = [1, 2, 3, 4, 128, 129, 130, 133, 134, 135, 136, 137, 143];
    for (let i = 0; i < 3000; i++) {
      const b = new Uint8Array(next() % 72);
      for (let j = 0; j < b.length; j++) b[j] = next();
      if (b.length > 0) b[0] = types[i % types.length] as number;
      if (b.length > 1 && i % 2 === 0) b[1] = 0;
      const r = parseIcmpv6(b);
      if (!(r instanceof WireError)) expect(icmpv6Length(r)).toBe(b.length);
    }
  });

  it("throws on an impossible repr (misuse), not on bytes", () => {
    const out = new Uint8Array(128);
    const p = V.echoRequest.ph;
    expect(() => emitIcmpv6({ kind: "neighbor-solicitation", target: new Uint8Array(4), options: [] }, out, 0, p)).toThrow(RangeError);
    expect(() => emitIcmpv6({ kind: "unknown", type: 300, code: 0, rest: new Uint8Array(0) }, out, 0, p)).toThrow(RangeError);
    expect(() => emitIcmpv6({ kind: "echo-reply", identifier: 0, sequence: 0, data: new Uint8Array(200) }, out, 0, p)).toThrow(RangeError);
  });
});
