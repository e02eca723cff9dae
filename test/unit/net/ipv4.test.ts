import { describe, expect, it } from "vitest";
import type { LinkIngress } from "../../../src/link/ethernet-link.ts";
import { allocPacket } from "../../../src/wire/packet-buffer.ts";
import { checksumOf } from "../../../src/wire/checksum.ts";
import { WireError } from "../../../src/wire/error.ts";
import { parseEthernet } from "../../../src/wire/ethernet.ts";
import { parseIcmpv4 } from "../../../src/wire/icmpv4.ts";
import { Ipv4View, emitIpv4, parseIpv4, type Ipv4Repr } from "../../../src/wire/ipv4.ts";
import { IP_A, IP_B, MAC_A, MAC_B, captureFrame, ip, makeHost, toHex, type TestHost } from "./ipv4-helpers.ts";

function ingress(packet: Uint8Array, linkBroadcast = false): LinkIngress {
  return { kind: "ipv4", packet, src: MAC_B, dst: linkBroadcast ? new Uint8Array(6).fill(0xff) : MAC_A, linkBroadcast, linkMulticast: false };
}

function packet(fields: { src?: number; dst?: number; ident?: number; offset?: number; more?: boolean; df?: boolean; protocol?: number }, payload: Uint8Array): Uint8Array {
  const out = new Uint8Array(20 + payload.length);
  emitIpv4(
    {
      dscp: 0,
      ecn: 0,
      ident: fields.ident ?? 1,
      dontFragment: fields.df ?? false,
      moreFragments: fields.more ?? false,
      fragmentOffset: fields.offset ?? 0,
      ttl: 64,
      protocol: fields.protocol ?? 17,
      src: fields.src ?? IP_B,
      dst: fields.dst ?? IP_A,
      options: [],
      payload,
    },
    out,
    0,
  );
  return out;
}

/** The IPv4 packets inside the frames a host sent. */
function sentIpv4(host: TestHost): Ipv4Repr[] {
  return host.sent
    .map((f) => parseEthernet(f))
    .filter((e) => !(e instanceof WireError) && e.kind === "ethernet-ii" && e.etherType === 0x0800)
    .map((e) => {
      const r = parseIpv4((e as { payload: Uint8Array }).payload);
      if (r instanceof WireError) throw new Error(r.toString());
      return r;
    });
}

/** A host (10.77.0.1/24) that already knows 10.77.0.2's MAC: captures/ping4.pcap frame 1 is B's ARP request. */
function resolvedHost(opts: Parameters<typeof makeHost>[0] = {}): TestHost {
  const host = makeHost(opts);
  host.link.processFrame(captureFrame("ping4.pcap", 1), 0);
  host.sent.length = 0;
  return host;
}

describe("IPv4 receive (RFC 791, RFC 1122 §3.2.1)", () => {
  it("delivers Linux's echo request (captures/ping4.pcap frame 3) with its header and addresses", () => {
    const host = makeHost();
    const ing = host.link.processFrame(captureFrame("ping4.pcap", 3), 0);
    const d = ing && host.ipv4.processPacket(ing, 0);
    expect(d).toBeDefined();
    if (!d) return;
    expect([d.protocol, d.src, d.dst, d.ttl, d.dstKind]).toEqual([1, IP_B, IP_A, 64, "unicast"]);
    expect(d.payload.length).toBe(64);
    expect(d.header.length).toBe(20);
    expect(toHex(d.packet.subarray(0, 4))).toBe("45000054");
  });

  it("accepts own, limited broadcast, subnet broadcast and all-hosts destinations (RFC 1122 §3.2.1.3, §3.3.6)", () => {
    const host = makeHost();
    const cases: Array<[string, string | undefined]> = [
      ["10.77.0.1", "unicast"],
      ["255.255.255.255", "broadcast"],
      ["10.77.0.255", "broadcast"],
      ["224.0.0.1", "multicast"],
      ["10.77.0.9", undefined],
      ["224.0.0.2", undefined],
      ["10.78.0.255", undefined],
    ];
    for (const [dst, kind] of cases) {
      const bcast = kind === "broadcast";
      expect(host.ipv4.processPacket(ingress(packet({ dst: ip(dst) }, new Uint8Array(8)), bcast), 0)?.dstKind).toBe(kind);
    }
    expect(host.ipv4.counters.get("drop.not-for-us")).toBe(3);
  });

  it("drops a unicast datagram received as a link-layer broadcast (RFC 1122 §3.3.6)", () => {
    const host = makeHost();
    expect(host.ipv4.processPacket(ingress(packet({}, new Uint8Array(8)), true), 0)).toBeUndefined();
    expect(host.ipv4.counters.get("drop.link-broadcast-unicast")).toBe(1);
  });

  it("drops bad checksums, bad versions and impossible sources (RFC 1122 §3.2.1.1-3)", () => {
    const host = makeHost();
    const bad = packet({}, new Uint8Array(8));
    bad[10] = (bad[10] as number) ^ 1;
    expect(host.ipv4.processPacket(ingress(bad), 0)).toBeUndefined();
    const v6 = packet({}, new Uint8Array(8));
    v6[0] = 0x65;
    expect(host.ipv4.processPacket(ingress(v6), 0)).toBeUndefined();
    for (const src of ["255.255.255.255", "224.0.0.5", "127.0.0.1", "10.77.0.255", "10.77.0.1"]) {
      expect(host.ipv4.processPacket(ingress(packet({ src: ip(src) }, new Uint8Array(8))), 0)).toBeUndefined();
    }
    expect(host.ipv4.counters.get("drop.bad-checksum")).toBe(1);
    expect(host.ipv4.counters.get("drop.bad-version")).toBe(1);
    expect(host.ipv4.counters.get("drop.bad-source")).toBe(5);
    expect(host.ipv4.processPacket(ingress(packet({ src: 0 }, new Uint8Array(8))), 0)).toBeDefined();
  });

  it("trims Ethernet padding by Total Length, and never throws on any truncation", () => {
    const host = makeHost();
    const p = packet({}, new Uint8Array([1, 2, 3, 4]));
    const padded = new Uint8Array(46);
    padded.set(p);
    expect(host.ipv4.processPacket(ingress(padded), 0)?.payload).toEqual(new Uint8Array([1, 2, 3, 4]));
    const frame = captureFrame("ping4.pcap", 3).subarray(14);
    for (let n = 0; n < frame.length; n++) expect(host.ipv4.processPacket(ingress(frame.subarray(0, n)), 0)).toBeUndefined();
  });
});

describe("IPv4 reassembly (RFC 791 §3.2)", () => {
  // captures/frag4.pcap frames 3-5: Linux's `ping -s 4000` request in 3 fragments (1480 + 1480 + 1048).
  const frags = [3, 4, 5].map((n) => captureFrame("frag4.pcap", n));
  const orders = [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]];

  it.each(orders.map((o) => [o]))("reassembles Linux's 3 fragments in order %j into one datagram with a valid header", (order) => {
    const host = makeHost();
    const results = order.map((i) => host.ipv4.processPacket(host.link.processFrame(frags[i] as Uint8Array, 0) as LinkIngress, 0));
    expect(results.slice(0, 2)).toEqual([undefined, undefined]);
    const d = results[2];
    expect(d).toBeDefined();
    if (!d) return;
    expect(d.payload.length).toBe(4008);
    expect(d.packet.length).toBe(4028);
    const v = Ipv4View.check(d.packet);
    expect(v instanceof WireError).toBe(false);
    if (v instanceof WireError) return;
    expect([v.totalLength, v.moreFragments, v.fragmentOffset, v.checksumValid, v.ident]).toEqual([4028, false, 0, true, 198]);
    // The ICMP checksum covers all 4008 bytes: it verifies only if every fragment landed in place.
    const icmp = parseIcmpv4(d.payload);
    expect(icmp instanceof WireError ? icmp.toString() : icmp.kind).toBe("echo-request");
    expect(host.ipv4.reassemblyBytes).toBe(0);
  });

  it("drops a datagram reaching past 65535 bytes (ping of death) and what was held for it", () => {
    const host = makeHost();
    expect(host.ipv4.processPacket(ingress(packet({ more: true, ident: 7 }, new Uint8Array(1480))), 0)).toBeUndefined();
    expect(host.ipv4.reassemblyBytes).toBeGreaterThan(0);
    // Offset 65528 + 8 data bytes + 20 header bytes = 65556 > 65535.
    expect(host.ipv4.processPacket(ingress(packet({ offset: 65528, ident: 7 }, new Uint8Array(8))), 0)).toBeUndefined();
    expect(host.ipv4.reassemblyBytes).toBe(0);
    expect(host.ipv4.counters.get("drop.frag-too-big")).toBe(1);
  });

  it("sends ICMP reassembly time exceeded after 30 s only when the first fragment arrived (RFC 792, RFC 1122 §3.2.1.4)", () => {
    const host = resolvedHost();
    host.ipv4.processPacket(ingress(packet({ more: true, ident: 1 }, new Uint8Array(16))), 1000);
    host.ipv4.processPacket(ingress(packet({ offset: 16, ident: 2 }, new Uint8Array(16))), 1000);
    expect(host.ipv4.nextDeadline()).toBe(31_000);
    host.ipv4.poll(30_999);
    expect(host.sent).toHaveLength(0);
    host.ipv4.poll(31_000);
    const out = sentIpv4(host);
    expect(out).toHaveLength(1);
    const icmp = parseIcmpv4((out[0] as Ipv4Repr).payload);
    expect(icmp instanceof WireError ? icmp : icmp.kind === "time-exceeded" && icmp.code.kind).toBe("reassembly-time-exceeded");
    if (icmp instanceof WireError || icmp.kind !== "time-exceeded") return;
    // The quote is the first fragment: its header (ident 1, MF) and data.
    expect(icmp.invoking.length).toBe(36);
    expect(toHex(icmp.invoking.subarray(4, 8))).toBe("00012000");
    expect(host.ipv4.nextDeadline()).toBeUndefined();
  });
});

describe("IPv4 send and fragmentation (RFC 791 §3.2)", () => {
  it("sends 4000 bytes at MTU 1500 as 3 fragments: offsets 0/1480/2960, MF, one ident, valid checksums", () => {
    const host = resolvedHost();
    const data = Uint8Array.from({ length: 4000 }, (_, i) => (i * 7) & 0xff);
    const buf = allocPacket(4000);
    buf.set(data);
    expect(host.ipv4.dispatch(17, undefined, IP_B, buf, 0)).toBe(true);
    const frames = host.sent;
    expect(frames.map((f) => f.length)).toEqual([1514, 1514, 14 + 20 + 1040]);
    const views = frames.map((f) => Ipv4View.check(f.subarray(14)) as Ipv4View);
    expect(views.map((v) => [v.fragmentOffset, v.moreFragments, v.totalLength, v.dontFragment])).toEqual([
      [0, true, 1500, false],
      [1480, true, 1500, false],
      [2960, false, 1060, false],
    ]);
    expect(new Set(views.map((v) => v.ident)).size).toBe(1);
    expect(views.every((v) => v.checksumValid && v.src === IP_A && v.dst === IP_B && v.ttl === 64 && v.protocol === 17)).toBe(true);
    expect(frames.every((f) => toHex(f.subarray(0, 6)) === toHex(MAC_B))).toBe(true);
    const joined = Buffer.concat(views.map((v) => v.payload));
    expect(joined.equals(Buffer.from(data))).toBe(true);
    // Same cut as the kernel's (captures/frag4.pcap frames 3-5 carry 1480, 1480 and 1048 bytes of 4008).
    const linux = [3, 4, 5].map((n) => Ipv4View.check(captureFrame("frag4.pcap", n).subarray(14)) as Ipv4View);
    expect(linux.map((v) => [v.fragmentOffset, v.moreFragments])).toEqual(views.map((v) => [v.fragmentOffset, v.moreFragments]));
  });

  it("refuses to fragment with DF set, and sends at exactly the MTU unfragmented", () => {
    const host = resolvedHost();
    expect(host.ipv4.dispatch(17, undefined, IP_B, allocPacket(1481), 0, { dontFragment: true })).toBe(false);
    expect(host.ipv4.counters.get("drop.needs-fragmentation")).toBe(1);
    expect(host.sent).toHaveLength(0);
    expect(host.ipv4.dispatch(17, undefined, IP_B, allocPacket(1480), 0, { dontFragment: true })).toBe(true);
    const v = Ipv4View.check((host.sent[0] as Uint8Array).subarray(14)) as Ipv4View;
    expect([v.totalLength, v.dontFragment, v.moreFragments]).toEqual([1500, true, false]);
  });

  it("increments the identification per datagram", () => {
    const host = resolvedHost();
    host.ipv4.dispatch(17, undefined, IP_B, allocPacket(8), 0);
    host.ipv4.dispatch(17, undefined, IP_B, allocPacket(8), 0);
    const [a, b] = sentIpv4(host);
    expect(((b?.ident ?? 0) - (a?.ident ?? 0) + 0x10000) % 0x10000).toBe(1);
  });

  it("routes: connected subnet direct, others via the gateway, limited broadcast, none without a gateway", () => {
    const gw = ip("10.77.0.254");
    const host = makeHost({ gateway: gw });
    expect(host.ipv4.routeFor(IP_B)).toEqual({ nextHop: IP_B, src: IP_A });
    expect(host.ipv4.routeFor(ip("8.8.8.8"))).toEqual({ nextHop: gw, src: IP_A });
    expect(host.ipv4.routeFor(ip("255.255.255.255"))).toEqual({ nextHop: "broadcast", src: IP_A });
    expect(host.ipv4.routeFor(ip("10.77.0.255"))).toEqual({ nextHop: "broadcast", src: IP_A });
    const isolated = makeHost();
    expect(isolated.ipv4.routeFor(ip("8.8.8.8"))).toBeUndefined();
    expect(isolated.ipv4.dispatch(17, undefined, ip("8.8.8.8"), allocPacket(8), 0)).toBe(false);
    expect(isolated.ipv4.counters.get("drop.no-route")).toBe(1);
    // Via the gateway: the ARP request asks for the gateway, not the destination.
    host.ipv4.dispatch(17, undefined, ip("8.8.8.8"), allocPacket(8), 0);
    const req = host.sent[0] as Uint8Array;
    expect(toHex(req.subarray(38, 42))).toBe("0a4d00fe");
  });

  it("writes the header in front of the payload in place (one allocation, STYLE.md §9)", () => {
    const host = resolvedHost();
    const buf = allocPacket(100); // over the 60-byte minimum: a shorter frame is padded into a new buffer
    host.ipv4.dispatch(17, undefined, IP_B, buf, 0);
    const frame = host.sent[0] as Uint8Array;
    expect(frame.buffer).toBe(buf.buffer);
    expect(checksumOf(frame, 14, 34)).toBe(0);
  });
});
