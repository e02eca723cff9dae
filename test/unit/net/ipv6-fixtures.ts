/**
 * Shared fixtures for the IPv6, NDP and ICMPv6 unit tests: a fake link that records what the layer
 * sends, a builder for the three net modules, and packets built by scapy 2.5.0 with
 *   /usr/bin/python3 -c 'from scapy.all import *; print(raw(P).hex())'
 * where P is given above each constant. Our side is MAC 02:00:00:00:00:01, fe80::ff:fe00:1 and
 * fd00::1/64; the peer is 02:00:00:00:00:02, fe80::ff:fe00:2 and fd00::2.
 */
import { NeighborCache } from "../../../src/link/neighbor-cache.ts";
import { Icmpv6 } from "../../../src/net/icmpv6.ts";
import { Ipv6Layer, type Ipv6Config, type Ipv6Delivery, type Ipv6LinkPort } from "../../../src/net/ipv6.ts";
import { Ndp } from "../../../src/net/ndp.ts";
import { seededRandom } from "../../../src/time/random.ts";
import { WireError } from "../../../src/wire/error.ts";
import { parseIcmpv6, type Icmpv6Repr } from "../../../src/wire/icmpv6.ts";
import { parseIpv6 as parseIpv6Text, type Ipv6Address } from "../../../src/wire/ip-address.ts";
import { parseIpv6, type Ipv6Repr } from "../../../src/wire/ipv6.ts";
import { walkIpv6Chain } from "../../../src/wire/ipv6-ext.ts";
import { macToString, parseMac, type MacAddress } from "../../../src/wire/mac.ts";

export const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, "hex"));
export const toHex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
export const ip6 = (s: string): Ipv6Address => parseIpv6Text(s) as Ipv6Address;
export const mac = (s: string): MacAddress => parseMac(s) as MacAddress;
export function cat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
/** bytes(range(256)) * 12, the echo data of the fragment fixtures. */
export const PATTERN = Uint8Array.from({ length: 3072 }, (_, i) => i & 0xff);

export const OUR_MAC = mac("02:00:00:00:00:01");
export const PEER_MAC = mac("02:00:00:00:00:02");
export const OUR_LL = ip6("fe80::ff:fe00:1");
export const OUR_ADDR = ip6("fd00::1");
export const PEER_LL = ip6("fe80::ff:fe00:2");
export const PEER_ADDR = ip6("fd00::2");

/** A link that records every packet handed to it. */
export class FakeLink implements Ipv6LinkPort {
  readonly sent: Array<{ packet: Uint8Array; nextHop: Ipv6Address; now: number }> = [];
  readonly groups = new Set<string>();
  constructor(
    readonly mac: MacAddress = OUR_MAC,
    readonly mtu = 1500,
    readonly neighbors = new NeighborCache(),
  ) {}
  dispatchIpv6(packet: Uint8Array, nextHop: Ipv6Address, now: number): void {
    this.sent.push({ packet: packet.slice(), nextHop: nextHop.slice(), now });
  }
  joinMulticast(m: MacAddress): void {
    this.groups.add(macToString(m));
  }
  leaveMulticast(m: MacAddress): void {
    this.groups.delete(macToString(m));
  }
  /** Everything sent since the last call. */
  take(): Array<{ packet: Uint8Array; nextHop: Ipv6Address; now: number }> {
    return this.sent.splice(0);
  }
}

/** A layer stack over a FakeLink: IPv6, NDP and ICMPv6 wired as the stack wires them. */
export function makeNet(opts: Partial<Omit<Ipv6Config, "link" | "random">> & { mtu?: number; rate?: { ratePerSec: number; burst: number } } = {}) {
  const link = new FakeLink(OUR_MAC, opts.mtu ?? 1500);
  const ipv6 = new Ipv6Layer({
    link,
    random: seededRandom(7),
    addresses: [{ address: OUR_ADDR, prefixLength: 64 }],
    dad: false,
    sendRouterSolicitation: false,
    ...opts,
  });
  const ndp = new Ndp({ ipv6 });
  const icmp = new Icmpv6({ ipv6, ndp, ...(opts.rate ? { rateLimit: opts.rate } : {}) });
  /** Feeds one packet through IPv6 and, for ICMPv6, through ICMPv6 (as the stack does). */
  const receive = (packet: Uint8Array, now: number, linkMulticast = false) => {
    const d = ipv6.processPacket({ packet, linkMulticast, linkBroadcast: false }, now);
    const event = d !== undefined && d.protocol === 58 ? icmp.processIcmpv6(d, now) : undefined;
    return { d, event };
  };
  return { link, ipv6, ndp, icmp, receive };
}

/** A sent packet parsed: fixed header, and the ICMPv6 message with its checksum verified. */
export function parseSent(packet: Uint8Array): { ip: Ipv6Repr; icmp: Icmpv6Repr | undefined } {
  const ip = parseIpv6(packet);
  if (ip instanceof WireError) throw new Error(ip.toString());
  const chain = walkIpv6Chain(ip.nextHeader, ip.payload);
  if (chain instanceof WireError || chain.upperLayer !== 58 || chain.headers.length > 0) return { ip, icmp: undefined };
  const icmp = parseIcmpv6(ip.payload, { family: 6, src: ip.src, dst: ip.dst });
  if (icmp instanceof WireError) throw new Error(icmp.toString());
  return { ip, icmp };
}

export type { Ipv6Delivery };

// P = IPv6(src="fd00::2",dst="fd00::1",hlim=64)/ICMPv6EchoRequest(id=0x1234,seq=7,data=b"wirestack")
export const ECHO = hex("6000000000113a40fd000000000000000000000000000002fd000000000000000000000000000001800049cd1234000777697265737461636b");
// P = IPv6(src="fe80::ff:fe00:2",dst="ff02::1:ff00:1",hlim=255)/ICMPv6ND_NS(tgt="fd00::1")/ICMPv6NDOptSrcLLAddr(lladdr="02:00:00:00:00:02")
export const NS_UNICAST_SRC = hex("6000000000203afffe80000000000000000000fffe000002ff0200000000000000000001ff00000187007d1700000000fd0000000000000000000000000000010101020000000002");
// P = IPv6(src="::",dst="ff02::1:ff00:1",hlim=255)/ICMPv6ND_NS(tgt="fd00::1")
export const NS_DAD = hex("6000000000183aff00000000000000000000000000000000ff0200000000000000000001ff00000187007da500000000fd000000000000000000000000000001");
// P = IPv6(src="::",dst="ff02::1:ff00:1",hlim=255)/ICMPv6ND_NS(tgt="fe80::ff:fe00:1")
export const NS_DAD_LL = hex("6000000000183aff00000000000000000000000000000000ff0200000000000000000001ff00000187007d2500000000fe80000000000000000000fffe000001");
// P = IPv6(src="fe80::ff:fe00:2",dst="ff02::1",hlim=255)/ICMPv6ND_NA(tgt="fd00::1",R=0,S=0,O=1)/ICMPv6NDOptDstLLAddr(lladdr="02:00:00:00:00:02")
export const NA_FOR_TENTATIVE = hex("6000000000203afffe80000000000000000000fffe000002ff02000000000000000000000000000188005a1920000000fd0000000000000000000000000000010201020000000002");
// P = IPv6(src="fe80::ff:fe00:2",dst="ff02::1:ff00:1",hlim=64)/ICMPv6ND_NS(tgt="fd00::1")/ICMPv6NDOptSrcLLAddr(lladdr="02:00:00:00:00:02")
export const NS_HLIM_64 = hex("6000000000203a40fe80000000000000000000fffe000002ff0200000000000000000001ff00000187007d1700000000fd0000000000000000000000000000010101020000000002");
// P = IPv6(src="::",dst="ff02::1:ff00:1",hlim=255)/ICMPv6ND_NS(tgt="fd00::1")/ICMPv6NDOptSrcLLAddr(lladdr="02:00:00:00:00:02")
export const NS_DAD_WITH_SLLA = hex("6000000000203aff00000000000000000000000000000000ff0200000000000000000001ff00000187007a9a00000000fd0000000000000000000000000000010101020000000002");
// P = IPv6(src="fd00::2",dst="fd00::1",hlim=255)/ICMPv6ND_NA(tgt="fd00::2",R=0,S=1,O=1)/ICMPv6NDOptDstLLAddr(lladdr="02:00:00:00:00:02")
export const NA_SOLICITED = hex("6000000000203afffd000000000000000000000000000002fd00000000000000000000000000000188001c9a60000000fd0000000000000000000000000000020201020000000002");
// P = IPv6(src="fe80::fe",dst="ff02::1",hlim=255)/ICMPv6ND_RA(chlim=42,routerlifetime=1800,reachabletime=30000,retranstimer=2000)/ICMPv6NDOptSrcLLAddr(lladdr="02:00:00:00:00:fe")/ICMPv6NDOptMTU(mtu=1400)/ICMPv6NDOptPrefixInfo(prefixlen=64,L=1,A=1,validlifetime=86400,preferredlifetime=14400,prefix="2001:db8:1::")
export const RA = hex("6000000000403afffe8000000000000000000000000000feff0200000000000000000000000000018600c3392a08070800007530000007d001010200000000fe0501000000000578030440c000015180000038400000000020010db8000100000000000000000000");
// P = IPv6(src="fd00::fe",dst="ff02::1",hlim=255)/ICMPv6ND_RA(chlim=42,routerlifetime=1800)
export const RA_GLOBAL_SRC = hex("6000000000103afffd0000000000000000000000000000feff02000000000000000000000000000186004ba22a0807080000000000000000");
// P = IPv6(src="fe80::fe",dst="ff02::1",hlim=255)/ICMPv6ND_RA(chlim=0,routerlifetime=1800)/ICMPv6NDOptPrefixInfo(prefixlen=64,L=1,A=1,validlifetime=600,preferredlifetime=300,prefix="2001:db8:1::")
export const RA_SHORT_LIFETIME = hex("6000000000303afffe8000000000000000000000000000feff0200000000000000000000000000018600feff000807080000000000000000030440c0000002580000012c0000000020010db8000100000000000000000000");
// P = IPv6(src="fd00::2",dst="fd00::1",hlim=64)/IPv6ExtHdrDestOpt(options=[HBHOptUnknown(otype=0x1e,optdata=b"ab")])/ICMPv6EchoRequest(id=1,seq=1)
export const OPT_SKIP = hex("6000000000103c40fd000000000000000000000000000002fd0000000000000000000000000000013a001e0261620100800085b600010001");
// P = IPv6(src="fd00::2",dst="fd00::1",hlim=64)/IPv6ExtHdrDestOpt(options=[HBHOptUnknown(otype=0x5e,optdata=b"ab")])/ICMPv6EchoRequest(id=1,seq=1)
export const OPT_DISCARD = hex("6000000000103c40fd000000000000000000000000000002fd0000000000000000000000000000013a005e0261620100800085b600010001");
// P = IPv6(src="fd00::2",dst="fd00::1",hlim=64)/IPv6ExtHdrDestOpt(options=[PadN(optdata=b"\x00\x00"),HBHOptUnknown(otype=0x9e,optdata=b"")])/ICMPv6EchoRequest(id=1,seq=1)
export const OPT_ICMP = hex("6000000000103c40fd000000000000000000000000000002fd0000000000000000000000000000013a00010200009e00800085b600010001");
// P = IPv6(src="fd00::2",dst="ff02::1",hlim=64)/IPv6ExtHdrDestOpt(options=[PadN(optdata=b"\x00\x00"),HBHOptUnknown(otype=0x9e,optdata=b"")])/ICMPv6EchoRequest(id=1,seq=1)
export const OPT_ICMP_MCAST = hex("6000000000103c40fd000000000000000000000000000002ff0200000000000000000000000000013a00010200009e00800083b400010001");
// P = IPv6(src="fd00::2",dst="fd00::1",hlim=64)/IPv6ExtHdrHopByHop(options=[HBHOptUnknown(otype=0xde,optdata=b"ab")])/ICMPv6EchoRequest(id=1,seq=1)
export const OPT_ICMP_UNLESS_MCAST = hex("6000000000100040fd000000000000000000000000000002fd0000000000000000000000000000013a00de0261620100800085b600010001");
// P = IPv6(src="fd00::2",dst="ff02::1",hlim=64)/IPv6ExtHdrHopByHop(options=[HBHOptUnknown(otype=0xde,optdata=b"ab")])/ICMPv6EchoRequest(id=1,seq=1)
export const OPT_ICMP_UNLESS_MCAST_M = hex("6000000000100040fd000000000000000000000000000002ff0200000000000000000000000000013a00de0261620100800083b400010001");
// P = IPv6(src="fd00::2",dst="fd00::1",hlim=64,nh=253)/Raw(b"experiment")
export const UNKNOWN_NH = hex("60000000000afd40fd000000000000000000000000000002fd0000000000000000000000000000016578706572696d656e74");
// P = IPv6(src="fd00::2",dst="fd00::1",hlim=64)/IPv6ExtHdrDestOpt(nh=253)/Raw(b"experiment")
export const UNKNOWN_NH_AFTER_DEST = hex("6000000000123c40fd000000000000000000000000000002fd000000000000000000000000000001fd000104000000006578706572696d656e74");
// P = IPv6(src="fd00::2",dst="fd00::1",hlim=64)/IPv6ExtHdrSegmentRouting(addresses=["fd00::9"],segleft=1)/ICMPv6EchoRequest(id=1,seq=1)
export const ROUTING_SL1 = hex("6000000000202b40fd000000000000000000000000000002fd0000000000000000000000000000013a02040100000000fd000000000000000000000000000009800085ae00010001");
// P = IPv6(src="fd00::2",dst="fd00::1",hlim=64)/UDP(sport=40000,dport=9)/Raw(b"x"*2000)
export const UDP_CLOSED = hex("6000000007d81140fd000000000000000000000000000002fd0000000000000000000000000000019c40000907d8c359" + "78".repeat(2000));
// P = IPv6(src="fd00::2",dst="fd00::1",hlim=64)/ICMPv6DestUnreach(code=4)/IPv6(src="fd00::1",dst="fd00::2",hlim=64)/UDP(sport=5000,dport=9)/Raw(b"hi")
export const ICMP_ERR = hex("60000000003a3a40fd000000000000000000000000000002fd000000000000000000000000000001010493530000000060000000000a1140fd000000000000000000000000000001fd00000000000000000000000000000213880009000a89db6869");
// P = IPv6(src="fd00::2",dst="ff02::1",hlim=64)/ICMPv6EchoRequest(id=0x1234,seq=8,data=b"all")
export const ECHO_MCAST = hex("60000000000b3a40fd000000000000000000000000000002ff0200000000000000000000000000018000a40a12340008616c6c");
// FRAG0..2 = fragment6(IPv6(src="fd00::2",dst="fd00::1",hlim=64)/IPv6ExtHdrFragment(id=0xabcd)/ICMPv6EchoRequest(id=0x42,seq=1,data=bytes(range(256))*12), 1280):
// headers as printed by raw(f)[:56] / [:48]; the data is the byte pattern, checked equal by the script.
export const FRAG0 = cat(hex("6000000004d82c40fd000000000000000000000000000002fd0000000000000000000000000000013a0000010000abcd8000767800420001"), PATTERN.subarray(0, 1224));
export const FRAG1 = cat(hex("6000000004d82c40fd000000000000000000000000000002fd0000000000000000000000000000013a0004d10000abcd"), PATTERN.subarray(1224, 2456));
export const FRAG2 = cat(hex("6000000002702c40fd000000000000000000000000000002fd0000000000000000000000000000013a0009a00000abcd"), PATTERN.subarray(2456));
// P = IPv6(src="fd00::1",dst="fe80::ff:fe00:2",hlim=255)/ICMPv6ND_NA(tgt="fd00::1",R=0,S=1,O=1)/ICMPv6NDOptDstLLAddr(lladdr="02:00:00:00:00:01")
export const NA_REPLY = hex("6000000000203afffd000000000000000000000000000001fe80000000000000000000fffe00000288001c1c60000000fd0000000000000000000000000000010201020000000001");
// P = IPv6(src="fd00::1",dst="ff02::1",hlim=255)/ICMPv6ND_NA(tgt="fd00::1",R=0,S=0,O=1)/ICMPv6NDOptDstLLAddr(lladdr="02:00:00:00:00:01")
export const NA_REPLY_ALL_NODES = hex("6000000000203afffd000000000000000000000000000001ff02000000000000000000000000000188005a9b20000000fd0000000000000000000000000000010201020000000001");
// P = IPv6(src="fe80::ff:fe00:1",dst="ff02::2",hlim=255)/ICMPv6ND_RS()/ICMPv6NDOptSrcLLAddr(lladdr="02:00:00:00:00:01")
export const RS_FROM_LL = hex("6000000000103afffe80000000000000000000fffe000001ff02000000000000000000000000000285007b2c000000000101020000000001");
// P = IPv6(src="::",dst="ff02::2",hlim=255)/ICMPv6ND_RS()
export const RS_FROM_UNSPECIFIED = hex("6000000000083aff00000000000000000000000000000000ff02000000000000000000000000000285007bb800000000");
// RFC 4861 §7.2.2: from the address we would send to the target from (fd00::1, on its prefix).
// P = IPv6(src="fd00::1",dst="ff02::1:ff00:2",hlim=255)/ICMPv6ND_NS(tgt="fd00::2")/ICMPv6NDOptSrcLLAddr(lladdr="02:00:00:00:00:01")
export const NS_RESOLVE = hex("6000000000203afffd000000000000000000000000000001ff0200000000000000000001ff00000287007d9700000000fd0000000000000000000000000000020101020000000001");
// P = IPv6(src="fe80::fe",dst="ff02::1",hlim=255)/ICMPv6ND_NA(tgt="fe80::fe",R=0,S=0,O=1)/ICMPv6NDOptDstLLAddr(lladdr="02:00:00:00:00:fe")
export const NA_ROUTER_CLEARED = hex("6000000000203afffe8000000000000000000000000000feff020000000000000000000000000001880054a420000000fe8000000000000000000000000000fe02010200000000fe");
// P = IPv6(src="fd00::1",dst="fd00::2",hlim=64)/ICMPv6EchoReply(id=0x1234,seq=7,data=b"wirestack")
export const ECHO_REPLY = hex("6000000000113a40fd000000000000000000000000000001fd000000000000000000000000000002810048cd1234000777697265737461636b");
// P = IPv6(src="fd00::2",dst="fd00::1",hlim=64)/ICMPv6EchoReply(id=0x99,seq=3,data=b"pong")
export const ECHO_REPLY_IN = hex("60000000000c3a40fd000000000000000000000000000002fd0000000000000000000000000000018100a54100990003706f6e67");
// P = IPv6(src="fd00::1",dst="fd00::2",hlim=64)/ICMPv6EchoRequest(id=0x99,seq=3,data=b"ping")
export const ECHO_REQUEST_OUT = hex("60000000000c3a40fd000000000000000000000000000001fd0000000000000000000000000000028000a6470099000370696e67");
// P = IPv6(src="fd00::2",dst="ff02::1",hlim=255)/ICMPv6ND_NA(tgt="fd00::2",R=0,S=1,O=1)/ICMPv6NDOptDstLLAddr(lladdr="02:00:00:00:00:02")
export const NA_SOLICITED_MULTICAST = hex("6000000000203afffd000000000000000000000000000002ff02000000000000000000000000000188001a9860000000fd0000000000000000000000000000020201020000000002");
// P = IPv6(src="fd00::2",dst="fd00::1",hlim=64)/IPv6ExtHdrDestOpt(options=[PadN(optdata=b"\x00\x00"),HBHOptUnknown(otype=0x9e,optdata=b"")])/ICMPv6DestUnreach(code=4)/IPv6(src="fd00::1",dst="fd00::2",hlim=64)/UDP(sport=5000,dport=9)
export const ERR_WITH_BAD_OPTION = hex("6000000000403c40fd000000000000000000000000000002fd0000000000000000000000000000013a00010200009e0001049355000000006000000000081140fd000000000000000000000000000001fd000000000000000000000000000002138800090008f248");
// P = IPv6(src="fd00::2",dst="fd00::1",hlim=64)/ICMPv6DestUnreach(code=4)/IPv6(src="fd00::77",dst="fd00::2",hlim=64)/UDP(sport=5000,dport=9)
export const ERR_NOT_OURS = hex("6000000000383a40fd000000000000000000000000000002fd00000000000000000000000000000101049355000000006000000000081140fd000000000000000000000000000077fd000000000000000000000000000002138800090008f1d2");
// P = IPv6(src="::",dst="fd00::1",hlim=64)/ICMPv6EchoRequest(id=1,seq=1)
export const ECHO_FROM_UNSPECIFIED = hex("6000000000083a4000000000000000000000000000000000fd000000000000000000000000000001800082b900010001");
// P = IPv6(src="fd00::2",dst="fd00::1",hlim=64)/IPv6ExtHdrDestOpt()/IPv6ExtHdrHopByHop()/ICMPv6EchoRequest(id=1,seq=1)
export const HBH_NOT_FIRST = hex("6000000000183c40fd000000000000000000000000000002fd00000000000000000000000000000100000104000000003a00010400000000800085b600010001");
