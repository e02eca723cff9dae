import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  IPV6_ALL_NODES,
  Ipv6Layer,
  solicitedNodeAddress,
} from "../../../src/net/ipv6.ts";
import { linkLocalFromMac } from "../../../src/net/slaac.ts";
import { readCapture } from "../../../src/pcap/index.ts";
import { seededRandom } from "../../../src/time/random.ts";
import { WireError } from "../../../src/wire/error.ts";
import { ipv6ToString } from "../../../src/wire/ip-address.ts";
import { walkIpv6Chain } from "../../../src/wire/ipv6-ext.ts";
import { allocPacket } from "../../../src/wire/packet-buffer.ts";
import {
  ECHO,
  FRAG0,
  FRAG1,
  FRAG2,
  FakeLink,
  HBH_NOT_FIRST,
  OPT_DISCARD,
  OPT_ICMP,
  OPT_ICMP_MCAST,
  OPT_ICMP_UNLESS_MCAST,
  OPT_ICMP_UNLESS_MCAST_M,
  OPT_SKIP,
  OUR_ADDR,
  OUR_LL,
  PATTERN,
  PEER_ADDR,
  PEER_MAC,
  ROUTING_SL1,
  UNKNOWN_NH,
  UNKNOWN_NH_AFTER_DEST,
  hex,
  ip6,
  makeNet,
  parseSent,
  toHex,
} from "./ipv6-fixtures.ts";

describe("addresses (RFC 4291 App. A, RFC 4862 §5.3)", () => {
  it("derives the modified EUI-64 link-local address as the kernel did in captures/dad6.pcap", () => {
    const cap = readCapture(new Uint8Array(readFileSync("captures/dad6.pcap")));
    if (cap instanceof WireError) throw new Error(cap.toString());
    let checked = 0;
    for (const [i, r] of cap.records.entries()) {
      const f = r.data;
      if (f[12] !== 0x86 || f[13] !== 0xdd) continue;
      const srcMac = f.subarray(6, 12);
      const src = f.subarray(22, 38);
      if (src.some((b) => b !== 0)) {
        // Frames 1 and 4 (and the RS): sent from the link-local address of the frame's source MAC.
        expect(ipv6ToString(linkLocalFromMac(srcMac)), `frame ${i + 1}`).toBe(ipv6ToString(src));
        checked++;
      } else if (f[54] === 135) {
        // Frame 6: DAD NS from :: for fe80::77:ff:fe00:2, to its solicited-node group (RFC 4862 §5.4.2).
        const target = f.subarray(62, 78);
        if (target[0] === 0xfe) {
          expect(ipv6ToString(linkLocalFromMac(srcMac))).toBe(ipv6ToString(target));
          expect(ipv6ToString(solicitedNodeAddress(target))).toBe(ipv6ToString(f.subarray(38, 54)));
          checked++;
        }
      }
    }
    expect(checked).toBeGreaterThanOrEqual(3);
    expect(ipv6ToString(linkLocalFromMac(hex("027700000001")))).toBe("fe80::77:ff:fe00:1");
  });

  it("joins all-nodes and the solicited-node group of every address (RFC 4291 §2.8)", () => {
    const { link, ipv6 } = makeNet({ addresses: [{ address: ip6("fd00::1"), prefixLength: 64 }, { address: ip6("fd00::abcd:1234"), prefixLength: 64 }] });
    expect([...link.groups].sort()).toEqual(["33:33:00:00:00:01", "33:33:ff:00:00:01", "33:33:ff:cd:12:34"]);
    expect(ipv6ToString(ipv6.linkLocal)).toBe("fe80::ff:fe00:1");
    ipv6.removeAddress(ip6("fd00::abcd:1234"));
    expect(link.groups.has("33:33:ff:cd:12:34")).toBe(false);
    // fd00::1 and fe80::ff:fe00:1 share ff02::1:ff00:1: removing one keeps the group.
    ipv6.removeAddress(OUR_ADDR);
    expect(link.groups.has("33:33:ff:00:00:01")).toBe(true);
  });

  it("drops packets for a tentative address (RFC 4862 §5.4)", () => {
    const { ipv6, receive } = makeNet({ dad: true });
    expect(ipv6.findAddress(OUR_ADDR)?.state).toBe("tentative");
    expect(receive(ECHO, 0).d).toBeUndefined();
    expect(ipv6.counters.get("drop.not-for-us")).toBe(1);
    ipv6.setAddressState(OUR_ADDR, "preferred");
    expect(receive(ECHO, 0).d?.protocol).toBe(58);
  });

  it("selects source addresses by scope and longest prefix (RFC 6724 §5 rules 1, 2, 8)", () => {
    const { ipv6 } = makeNet({ addresses: [{ address: OUR_ADDR, prefixLength: 64 }, { address: ip6("2001:db8::1"), prefixLength: 64 }] });
    const sel = (d: string) => ipv6ToString(ipv6.selectSource(ip6(d)) as Uint8Array);
    expect(sel("fe80::2")).toBe("fe80::ff:fe00:1");
    expect(sel("ff02::1")).toBe("fe80::ff:fe00:1");
    expect(sel("fd00::2")).toBe("fd00::1");
    expect(sel("2001:db8:0:1::9")).toBe("2001:db8::1");
    expect(sel("2001:db8::1")).toBe("2001:db8::1");
    ipv6.setAddressState(ip6("2001:db8::1"), "duplicate");
    expect(sel("2001:db8:0:1::9")).toBe("fd00::1");
  });

  it("routes on-link prefixes directly and the rest through the default router, or drops (RFC 4861 §5.2)", () => {
    const { link, ipv6 } = makeNet();
    const send = (dst: string) => ipv6.dispatch(17, undefined, ip6(dst), allocPacket(8), 0);
    expect(send("fd00::2")).toBe(true);
    expect(ipv6ToString(link.take()[0]?.nextHop as Uint8Array)).toBe("fd00::2");
    expect(send("2001:db8::9")).toBe(false);
    expect(ipv6.counters.get("drop.no-route")).toBe(1);
    ipv6.updateDefaultRouter(ip6("fe80::fe"), 1000);
    expect(send("2001:db8::9")).toBe(true);
    expect(ipv6ToString(link.take()[0]?.nextHop as Uint8Array)).toBe("fe80::fe");
    ipv6.poll(1000);
    expect(send("2001:db8::9")).toBe(false);
  });

  it("refuses a source address that is not ours", () => {
    const { link, ipv6 } = makeNet();
    expect(ipv6.dispatch(17, ip6("fd00::99"), PEER_ADDR, allocPacket(8), 0)).toBe(false);
    expect(link.sent).toHaveLength(0);
    expect(ipv6.counters.get("drop.bad-source")).toBe(1);
  });
});

describe("receive: fixed header and extension headers (RFC 8200 §4)", () => {
  it("delivers an echo request with its payload and the whole packet", () => {
    const { receive } = makeNet();
    const { d } = receive(ECHO, 0);
    expect(d).toMatchObject({ family: 6, protocol: 58, hopLimit: 64, dstKind: "unicast" });
    expect(toHex(d?.payload as Uint8Array)).toBe(toHex(ECHO.subarray(40)));
    expect(ipv6ToString(d?.src as Uint8Array)).toBe("fd00::2");
  });

  it("ignores link padding after Payload Length", () => {
    const { receive } = makeNet();
    const padded = new Uint8Array(ECHO.length + 9).fill(0xaa);
    padded.set(ECHO);
    expect(receive(padded, 0).d?.packet.length).toBe(ECHO.length);
  });

  const cases = [
    // [name, packet, expected ICMPv6 (type, code, pointer) or undefined, delivered]
    ["§4.2 option type 00xxxxxx: skipped, packet delivered", OPT_SKIP, undefined, true],
    ["§4.2 option type 01xxxxxx: discarded silently", OPT_DISCARD, undefined, false],
    ["§4.2 option type 10xxxxxx: Parameter Problem code 2 at the option", OPT_ICMP, [4, 2, 46], false],
    ["§4.2 option type 10xxxxxx to multicast: Parameter Problem code 2 all the same", OPT_ICMP_MCAST, [4, 2, 46], false],
    ["§4.2 option type 11xxxxxx to unicast: Parameter Problem code 2", OPT_ICMP_UNLESS_MCAST, [4, 2, 42], false],
    ["§4.2 option type 11xxxxxx to multicast: no ICMP", OPT_ICMP_UNLESS_MCAST_M, undefined, false],
    ["§4 unknown Next Header in the fixed header: code 1 pointing at it", UNKNOWN_NH, [4, 1, 6], false],
    ["§4 unknown Next Header after Destination Options: code 1 at offset 40", UNKNOWN_NH_AFTER_DEST, [4, 1, 40], false],
    ["§4.4 Routing header with Segments Left 1: code 0 at Routing Type", ROUTING_SL1, [4, 0, 42], false],
    ["§4.3 Hop-by-Hop header not first: code 1 at the Next Header that names it", HBH_NOT_FIRST, [4, 1, 40], false],
  ] as const;

  it.each(cases)("RFC 8200 %s", (_name, packet, expected, delivered) => {
    const { link, receive } = makeNet();
    const { d } = receive(packet, 0);
    expect(d !== undefined).toBe(delivered);
    const errors = link.take().map((s) => parseSent(s.packet)).filter((p) => p.icmp?.kind === "parameter-problem");
    if (expected === undefined) {
      expect(errors).toEqual([]);
      return;
    }
    expect(errors).toHaveLength(1);
    const { ip, icmp } = errors[0] as (typeof errors)[number];
    expect(ipv6ToString(ip.dst)).toBe("fd00::2");
    expect(ipv6ToString(ip.src)).toBe("fd00::1");
    const raw = ip.payload;
    expect([raw[0], raw[1], new DataView(raw.buffer, raw.byteOffset).getUint32(4)]).toEqual([...expected]);
    // RFC 4443 §3.4: the invoking packet is quoted whole (it is short).
    expect(toHex(raw.subarray(8))).toBe(toHex(packet));
    void icmp;
  });

  it("never throws and never delivers garbage for any truncation, with Payload Length fixed up or not", () => {
    for (const packet of [ECHO, OPT_ICMP, OPT_ICMP_UNLESS_MCAST, ROUTING_SL1, UNKNOWN_NH_AFTER_DEST, FRAG0]) {
      for (let n = 0; n < packet.length; n++) {
        const { receive } = makeNet();
        const cut = packet.slice(0, n);
        expect(() => receive(cut, 0)).not.toThrow();
        if (n >= 40) {
          const fixed = packet.slice(0, n);
          new DataView(fixed.buffer).setUint16(4, n - 40);
          expect(() => receive(fixed, 0)).not.toThrow();
        }
      }
    }
  });
});

describe("fragmentation on send (RFC 8200 §4.5)", () => {
  it("4000 bytes at MTU 1500: fragments ≤ 1500, offsets multiples of 8, one identification, reassembles", () => {
    const { link, ipv6 } = makeNet();
    const payload = allocPacket(4000);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 7) & 0xff;
    expect(ipv6.dispatch(17, undefined, PEER_ADDR, payload, 0)).toBe(true);
    const frags = link.take();
    expect(frags.length).toBe(3);
    const ids = new Set<number>();
    const rebuilt = new Uint8Array(4000);
    let total = 0;
    frags.forEach((f, i) => {
      const p = f.packet;
      expect(p.length).toBeLessThanOrEqual(1500);
      const view = new DataView(p.buffer, p.byteOffset);
      expect(p[6]).toBe(44);
      expect(view.getUint16(4)).toBe(p.length - 40);
      const chain = walkIpv6Chain(44, p.subarray(40));
      if (chain instanceof WireError) throw new Error(chain.toString());
      const h = chain.headers[0];
      if (h?.kind !== "fragment") throw new Error("no fragment header");
      expect(h.nextHeader).toBe(17);
      expect(h.fragmentOffset % 8).toBe(0);
      expect(h.moreFragments).toBe(i < frags.length - 1);
      ids.add(h.identification);
      const data = p.subarray(48);
      if (h.moreFragments) expect(data.length % 8).toBe(0);
      rebuilt.set(data, h.fragmentOffset);
      total += data.length;
    });
    expect(frags.map((f) => f.packet.length)).toEqual([1496, 1496, 1152]);
    expect(ids.size).toBe(1);
    expect(total).toBe(4000);
    expect(toHex(rebuilt)).toBe(toHex(payload));
  });

  it("a packet that fits goes out whole, its header written in front of the payload in place", () => {
    const { link, ipv6 } = makeNet();
    const payload = allocPacket(1460);
    expect(ipv6.dispatch(17, OUR_ADDR, PEER_ADDR, payload, 0, { hopLimit: 9 })).toBe(true);
    const [f] = link.take();
    expect(f?.packet.length).toBe(1500);
    expect(toHex(f?.packet.subarray(0, 8) as Uint8Array)).toBe("6000000005b41109");
  });

  it("a smaller MTU from a Router Advertisement is used for fragmentation (RFC 4861 §6.3.4)", () => {
    const { link, ipv6 } = makeNet();
    expect(ipv6.setLinkMtu(1280)).toBe(true);
    expect(ipv6.setLinkMtu(1000)).toBe(false);
    ipv6.dispatch(17, undefined, PEER_ADDR, allocPacket(2000), 0);
    expect(link.take().every((f) => f.packet.length <= 1280)).toBe(true);
  });
});

describe("reassembly (RFC 8200 §4.5, RFC 5722)", () => {
  const orders = [
    [0, 1, 2],
    [0, 2, 1],
    [1, 0, 2],
    [1, 2, 0],
    [2, 0, 1],
    [2, 1, 0],
  ];
  it.each(orders)("fragments in order %i %i %i reassemble into the 3080-byte echo request", (a, b, c) => {
    const { receive, link } = makeNet();
    const frags = [FRAG0, FRAG1, FRAG2];
    expect(receive(frags[a as number] as Uint8Array, 0).d).toBeUndefined();
    expect(receive(frags[b as number] as Uint8Array, 1).d).toBeUndefined();
    const { d } = receive(frags[c as number] as Uint8Array, 2);
    expect(d?.protocol).toBe(58);
    expect(d?.payload.length).toBe(8 + 3072);
    expect(toHex(d?.payload.subarray(8) as Uint8Array)).toBe(toHex(PATTERN));
    expect(d?.packet.length).toBe(40 + 8 + 3072);
    expect(d?.packet[6]).toBe(58);
    // The echo reply is itself 3080 bytes: it leaves in fragments.
    expect(link.take().length).toBe(3);
  });

  it("an overlapping fragment drops the whole datagram (RFC 5722 §4)", () => {
    const { receive, ipv6 } = makeNet();
    // FRAG1 with its offset moved back 8 bytes (1224 instead of 1232): it overlaps FRAG0.
    const overlapping = FRAG1.slice();
    new DataView(overlapping.buffer).setUint16(42, 1224 | 1);
    expect(receive(FRAG0, 0).d).toBeUndefined();
    expect(receive(overlapping, 1).d).toBeUndefined();
    expect(receive(FRAG1, 2).d).toBeUndefined();
    expect(receive(FRAG2, 3).d).toBeUndefined();
    expect(ipv6.counters.get("rx.reassembled")).toBe(0);
  });

  it("timeout with the first fragment: Time Exceeded code 1 quoting it (RFC 8200 §4.5)", () => {
    const { receive, ipv6, link } = makeNet();
    receive(FRAG0, 0);
    receive(FRAG2, 10);
    expect(ipv6.nextDeadline()).toBe(60_000);
    ipv6.poll(59_999);
    expect(link.sent).toHaveLength(0);
    ipv6.poll(60_000);
    const [sent] = link.take();
    const { ip, icmp } = parseSent(sent?.packet as Uint8Array);
    expect(icmp).toMatchObject({ kind: "time-exceeded", code: { kind: "reassembly-time-exceeded" } });
    expect(ipv6ToString(ip.dst)).toBe("fd00::2");
    // RFC 4443 §2.4 (c): as much of the first fragment as fits in 1280 bytes.
    expect(sent?.packet.length).toBe(1280);
    if (icmp?.kind !== "time-exceeded") throw new Error();
    expect(toHex(icmp.invoking)).toBe(toHex(FRAG0.subarray(0, 1232)));
  });

  it("timeout without the first fragment: no ICMP (RFC 8200 §4.5)", () => {
    const { receive, ipv6, link } = makeNet();
    receive(FRAG1, 0);
    receive(FRAG2, 0);
    ipv6.poll(60_000);
    expect(link.sent).toHaveLength(0);
    expect(ipv6.nextDeadline()).toBeUndefined();
  });

  it("M set and a length not a multiple of 8: Parameter Problem code 0 at Payload Length (RFC 8200 §4.5)", () => {
    const { receive, link } = makeNet();
    const odd = FRAG1.slice(0, 48 + 1228);
    new DataView(odd.buffer).setUint16(4, 8 + 1228);
    receive(odd, 0);
    const { icmp } = parseSent(link.take()[0]?.packet as Uint8Array);
    expect(icmp).toMatchObject({ kind: "parameter-problem", code: { kind: "erroneous-header-field" }, pointer: 4 });
  });

  it("a fragment reaching past 65535 bytes: Parameter Problem code 0 at Fragment Offset (RFC 8200 §4.5)", () => {
    const { receive, link } = makeNet();
    const far = FRAG1.slice();
    new DataView(far.buffer).setUint16(42, 64_800 | 1);
    receive(far, 0);
    const { icmp } = parseSent(link.take()[0]?.packet as Uint8Array);
    expect(icmp).toMatchObject({ kind: "parameter-problem", pointer: 42 });
  });

  it("a fragment flood stays within the reassembly memory bound", () => {
    const { receive, ipv6 } = makeNet({ reassembly: { maxBytes: 64 * 1024 } });
    for (let i = 0; i < 2000; i++) {
      const f = FRAG1.slice();
      new DataView(f.buffer).setUint32(44, i);
      receive(f, i);
    }
    expect(ipv6.counters.get("rx.fragments")).toBeLessThan(60);
  });

  it("our own fragments reassemble at a peer IPv6 layer (round trip)", () => {
    const a = makeNet();
    const peerLink = new FakeLink(PEER_MAC);
    const peer = new Ipv6Layer({ link: peerLink, random: seededRandom(8), addresses: [{ address: PEER_ADDR, prefixLength: 64 }], dad: false });
    const payload = allocPacket(5000);
    payload.set(PATTERN, 100);
    a.ipv6.dispatch(17, undefined, PEER_ADDR, payload, 0);
    const out = a.link.take().reverse().map((f) => peer.processPacket({ packet: f.packet, linkMulticast: false, linkBroadcast: false }, 0));
    const d = out.find((x) => x !== undefined);
    expect(d?.protocol).toBe(17);
    expect(toHex(d?.payload as Uint8Array)).toBe(toHex(payload));
    expect(ipv6ToString(d?.dst as Uint8Array)).toBe("fd00::2");
  });
});

describe("multicast acceptance", () => {
  it("accepts all-nodes and our solicited-node groups, nothing else", () => {
    const { ipv6 } = makeNet();
    const to = (dst: Uint8Array) => {
      const p = hex("6000000000083a40fd000000000000000000000000000002" + "00".repeat(16) + "8000000000000000");
      p.set(dst, 24);
      return ipv6.processPacket({ packet: p, linkMulticast: true, linkBroadcast: false }, 0)?.dstKind;
    };
    expect(to(IPV6_ALL_NODES)).toBe("multicast");
    expect(to(solicitedNodeAddress(OUR_LL))).toBe("multicast");
    expect(to(ip6("ff02::2"))).toBeUndefined();
    expect(to(ip6("ff02::1:ff00:9"))).toBeUndefined();
  });
});
