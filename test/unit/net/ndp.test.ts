import { describe, expect, it } from "vitest";
import { finishChecksum, pseudoHeaderSumV6, sumBytes } from "../../../src/wire/checksum.ts";
import { TWO_HOURS_MS, updatedValidLifetime } from "../../../src/net/slaac.ts";
import { ipv6ToString } from "../../../src/wire/ip-address.ts";
import { allocPacket } from "../../../src/wire/packet-buffer.ts";
import { macToString } from "../../../src/wire/mac.ts";
import {
  NA_FOR_TENTATIVE,
  NA_REPLY,
  NA_REPLY_ALL_NODES,
  NA_ROUTER_CLEARED,
  NA_SOLICITED,
  NA_SOLICITED_MULTICAST,
  NS_DAD,
  NS_DAD_LL,
  NS_DAD_WITH_SLLA,
  NS_HLIM_64,
  NS_RESOLVE,
  NS_UNICAST_SRC,
  OUR_ADDR,
  OUR_LL,
  PEER_ADDR,
  PEER_LL,
  RA,
  RA_GLOBAL_SRC,
  RA_SHORT_LIFETIME,
  RS_FROM_LL,
  RS_FROM_UNSPECIFIED,
  ip6,
  makeNet,
  parseSent,
  toHex,
} from "./ipv6-fixtures.ts";

/** Runs poll at each deadline up to `until` (bounded). */
function runUntil(net: ReturnType<typeof makeNet>, until: number): void {
  for (let i = 0; i < 100; i++) {
    const t = net.ipv6.nextDeadline();
    if (t === undefined || t > until) break;
    net.ipv6.poll(t);
  }
}

describe("duplicate address detection (RFC 4862 §5.4)", () => {
  it("§5.4.2: one NS from :: per tentative address after a random delay ≤ 1 s, then preferred after RetransTimer", () => {
    const net = makeNet({ dad: true });
    net.ipv6.start(0);
    expect(net.link.sent).toHaveLength(0);
    const first = net.ipv6.nextDeadline() as number;
    expect(first).toBeGreaterThanOrEqual(0);
    expect(first).toBeLessThanOrEqual(1000);
    runUntil(net, 1000);
    const sent = net.link.take();
    // Byte for byte what scapy builds for the DAD probes of fe80::ff:fe00:1 and fd00::1.
    expect(sent.map((s) => toHex(s.packet)).sort()).toEqual([toHex(NS_DAD), toHex(NS_DAD_LL)].sort());
    expect(sent.every((s) => ipv6ToString(s.nextHop) === "ff02::1:ff00:1")).toBe(true);
    expect(net.ipv6.findAddress(OUR_ADDR)?.state).toBe("tentative");
    runUntil(net, 2000);
    expect(net.ipv6.findAddress(OUR_ADDR)?.state).toBe("preferred");
    expect(net.ipv6.findAddress(OUR_LL)?.state).toBe("preferred");
    expect(net.ndp.counters.get("dad.ok")).toBe(2);
  });

  it("§5.4.3: an NS from :: for our tentative address is a conflict; the address is never used", () => {
    const net = makeNet({ dad: true });
    net.ipv6.start(0);
    net.receive(NS_DAD, 5, true);
    runUntil(net, 10_000);
    expect(net.ipv6.findAddress(OUR_ADDR)?.state).toBe("duplicate");
    expect(net.ipv6.findAddress(OUR_LL)?.state).toBe("preferred");
    expect(net.ipv6.selectSource(PEER_ADDR)).toEqual(OUR_LL);
    expect(net.ndp.counters.get("dad.duplicate-ns")).toBe(1);
    // Nothing answers for a duplicate address, and it receives nothing.
    net.link.take();
    net.receive(NS_UNICAST_SRC, 20_000, true);
    expect(net.link.sent).toHaveLength(0);
  });

  it("§5.4.4: an NA for our tentative address is a conflict", () => {
    const net = makeNet({ dad: true });
    net.ipv6.start(0);
    runUntil(net, 1000);
    net.receive(NA_FOR_TENTATIVE, 1001, true);
    runUntil(net, 5000);
    expect(net.ipv6.findAddress(OUR_ADDR)?.state).toBe("duplicate");
    expect(net.ndp.counters.get("dad.duplicate-na")).toBe(1);
  });

  it("§5.4.3: an NS from a unicast source for a tentative address is ignored, not answered", () => {
    const net = makeNet({ dad: true });
    net.ipv6.start(0);
    net.receive(NS_UNICAST_SRC, 0, true);
    expect(net.link.sent).toHaveLength(0);
    runUntil(net, 3000);
    expect(net.ipv6.findAddress(OUR_ADDR)?.state).toBe("preferred");
  });

  it("§5.4.5: a duplicate link-local address lets the router solicitation go out from ::", () => {
    const net = makeNet({ dad: true, sendRouterSolicitation: true });
    net.ipv6.start(0);
    net.receive(NS_DAD_LL, 1, true);
    runUntil(net, 1500);
    const rs = net.link.take().filter((s) => parseSent(s.packet).icmp?.kind === "router-solicitation");
    expect(rs.map((s) => toHex(s.packet))).toEqual([toHex(RS_FROM_UNSPECIFIED)]);
  });
});

describe("neighbor solicitation and advertisement (RFC 4861 §7)", () => {
  it("§7.2.4: NS from a unicast source → solicited NA with Override and TLLA, to the source", () => {
    const net = makeNet();
    expect(net.receive(NS_UNICAST_SRC, 0, true).event).toBeUndefined();
    const [na] = net.link.take();
    expect(toHex(na?.packet as Uint8Array)).toBe(toHex(NA_REPLY));
    expect(ipv6ToString(na?.nextHop as Uint8Array)).toBe("fe80::ff:fe00:2");
    // §7.2.3: the solicitation's SLLA creates a STALE entry.
    const entry = net.link.neighbors.get(PEER_LL);
    expect(entry?.state).toBe("STALE");
    expect(macToString(entry?.mac as Uint8Array)).toBe("02:00:00:00:00:02");
  });

  it("§7.2.4: NS from :: (another node's DAD) → unsolicited NA to all-nodes", () => {
    const net = makeNet();
    net.receive(NS_DAD, 0, true);
    expect(net.link.take().map((s) => toHex(s.packet))).toEqual([toHex(NA_REPLY_ALL_NODES)]);
    expect(net.link.neighbors.size).toBe(0);
  });

  it("§7.1.1: NS with hop limit 64, or from :: with an SLLA option, is discarded", () => {
    const net = makeNet();
    net.receive(NS_HLIM_64, 0, true);
    net.receive(NS_DAD_WITH_SLLA, 0, true);
    expect(net.link.sent).toHaveLength(0);
    expect(net.link.neighbors.size).toBe(0);
    expect(net.ndp.counters.get("drop.hop-limit")).toBe(1);
    expect(net.ndp.counters.get("drop.invalid-neighbor-solicitation")).toBe(2);
  });

  it("§7.2.2: resolution sends a multicast NS from our address on the target's prefix, with SLLA; the NA completes it", () => {
    const net = makeNet();
    net.link.neighbors.enqueue(PEER_ADDR, new Uint8Array(60), 0);
    const [ns] = net.link.take();
    expect(toHex(ns?.packet as Uint8Array)).toBe(toHex(NS_RESOLVE));
    net.receive(NA_SOLICITED, 10);
    const entry = net.link.neighbors.get(PEER_ADDR);
    expect(entry?.state).toBe("REACHABLE");
    expect(macToString(entry?.mac as Uint8Array)).toBe("02:00:00:00:00:02");
  });

  it("§7.1.2: a solicited NA to a multicast address is discarded", () => {
    const net = makeNet();
    net.link.neighbors.enqueue(PEER_ADDR, new Uint8Array(60), 0);
    net.receive(NA_SOLICITED_MULTICAST, 1, true);
    expect(net.link.neighbors.get(PEER_ADDR)?.state).toBe("INCOMPLETE");
    expect(net.ndp.counters.get("drop.invalid-neighbor-advertisement")).toBe(1);
  });
});

describe("router solicitation and advertisement (RFC 4861 §6.3)", () => {
  it("§6.3.7: RS at start from the link-local address, MAX_RTR_SOLICITATIONS = 3, 4 s apart", () => {
    const net = makeNet({ sendRouterSolicitation: true });
    net.ipv6.start(0);
    const first = net.ipv6.nextDeadline() as number;
    expect(first).toBeLessThanOrEqual(1000);
    runUntil(net, 60_000);
    const sent = net.link.take();
    expect(sent.map((s) => s.now)).toEqual([first, first + 4000, first + 8000]);
    expect(sent.every((s) => toHex(s.packet) === toHex(RS_FROM_LL))).toBe(true);
    expect(net.ndp.routerSolicitationsSent).toBe(3);
  });

  it("§6.3.7: with DAD, the RS waits for the link-local address to become preferred", () => {
    const net = makeNet({ dad: true, sendRouterSolicitation: true });
    net.ipv6.start(0);
    runUntil(net, 3000);
    const kinds = net.link.take().map((s) => parseSent(s.packet).icmp?.kind);
    expect(kinds.filter((k) => k === "router-solicitation")).toHaveLength(1);
    expect(kinds.indexOf("router-solicitation")).toBe(2);
  });

  it("§6.3.7: a valid RA with a non-zero Router Lifetime stops the solicitations", () => {
    const net = makeNet({ sendRouterSolicitation: true });
    net.ipv6.start(0);
    runUntil(net, 1000);
    expect(net.link.take()).toHaveLength(1);
    net.receive(RA, 1500, true);
    runUntil(net, 60_000);
    expect(net.link.sent.filter((s) => parseSent(s.packet).icmp?.kind === "router-solicitation")).toHaveLength(0);
  });

  it("§6.3.4: RA → default router, hop limit, MTU, timers, router neighbor entry, on-link prefix, SLAAC address", () => {
    const net = makeNet();
    net.receive(RA, 1000, true);
    expect(net.ipv6.defaultRouters.map((r) => [ipv6ToString(r.address), r.until])).toEqual([["fe80::fe", 1000 + 1_800_000]]);
    expect(net.ipv6.hopLimit).toBe(42);
    expect(net.ipv6.mtu).toBe(1400);
    expect(net.link.neighbors.retransTimer).toBe(2000);
    // §6.3.2: ReachableTime is BaseReachableTime (30 s) times a factor in [0.5, 1.5).
    expect(net.link.neighbors.reachableTime).toBeGreaterThanOrEqual(15_000);
    expect(net.link.neighbors.reachableTime).toBeLessThan(45_000);
    const router = net.link.neighbors.get(ip6("fe80::fe"));
    expect(router).toMatchObject({ state: "STALE", isRouter: true });
    expect(net.ipv6.onLinkPrefixes.map((p) => [ipv6ToString(p.prefix), p.prefixLength, p.validUntil])).toEqual([
      ["2001:db8:1::", 64, 1000 + 86_400_000],
    ]);
    // RFC 4862 §5.5.3 (d): prefix + modified EUI-64 identifier.
    const slaac = net.ipv6.findAddress(ip6("2001:db8:1::ff:fe00:1"));
    expect(slaac).toMatchObject({ origin: "slaac", state: "preferred", validUntil: 1000 + 86_400_000, preferredUntil: 1000 + 14_400_000 });
    // Routing: the RA prefix is on-link, everything else goes through the router.
    net.ipv6.dispatch(17, undefined, ip6("2001:db8:1::9"), allocPacket(8), 2000);
    net.ipv6.dispatch(17, undefined, ip6("2001:db8:2::9"), allocPacket(8), 2000);
    const sent = net.link.take();
    expect(sent.map((s) => ipv6ToString(s.nextHop))).toEqual(["2001:db8:1::9", "fe80::fe"]);
    expect(sent.map((s) => ipv6ToString(parseSent(s.packet).ip.src))).toEqual(["2001:db8:1::ff:fe00:1", "2001:db8:1::ff:fe00:1"]);
    expect(sent.map((s) => parseSent(s.packet).ip.hopLimit)).toEqual([42, 42]);
  });

  it("RFC 4862 §5.5.3 (d) + §5.4: with DAD the SLAAC address is tentative, probed at once, preferred after RetransTimer", () => {
    const net = makeNet({ dad: true });
    net.ipv6.setAddressState(OUR_LL, "preferred");
    net.ipv6.setAddressState(OUR_ADDR, "preferred");
    net.receive(RA, 1000, true);
    const address = ip6("2001:db8:1::ff:fe00:1");
    expect(net.ipv6.findAddress(address)?.state).toBe("tentative");
    const [ns] = net.link.take();
    const { ip, icmp } = parseSent(ns?.packet as Uint8Array);
    expect(ipv6ToString(ip.src)).toBe("::");
    expect(ipv6ToString(ip.dst)).toBe("ff02::1:ff00:1");
    expect(icmp).toMatchObject({ kind: "neighbor-solicitation", options: [] });
    runUntil(net, 2999);
    expect(net.ipv6.findAddress(address)?.state).toBe("tentative");
    runUntil(net, 3000);
    expect(net.ipv6.findAddress(address)?.state).toBe("preferred");
  });

  it("RFC 4862 §5.5.3 (e): an RA cannot cut the valid lifetime below two hours", () => {
    const net = makeNet();
    net.receive(RA, 0, true);
    net.receive(RA_SHORT_LIFETIME, 10_000, true);
    const a = net.ipv6.findAddress(ip6("2001:db8:1::ff:fe00:1"));
    expect(a?.validUntil).toBe(10_000 + TWO_HOURS_MS);
    expect(a?.preferredUntil).toBe(10_000 + 300_000);
    // Cur Hop Limit 0 in the second RA leaves the hop limit alone.
    expect(net.ipv6.hopLimit).toBe(42);
    runUntil(net, 10_000 + 300_000);
    expect(net.ipv6.findAddress(ip6("2001:db8:1::ff:fe00:1"))?.state).toBe("deprecated");
    runUntil(net, 10_000 + TWO_HOURS_MS);
    expect(net.ipv6.findAddress(ip6("2001:db8:1::ff:fe00:1"))).toBeUndefined();
  });

  it.each([
    // [remaining, received (s), expected] per RFC 4862 §5.5.3 (e) 1–3
    ["received > 2 h wins", 10 * 3600_000, 3 * 3600, 3 * 3600_000],
    ["received > remaining wins", 600_000, 1200, 1_200_000],
    ["remaining ≤ 2 h: unchanged", 3600_000, 60, 3600_000],
    ["otherwise: 2 h", 5 * 3600_000, 60, TWO_HOURS_MS],
    ["infinite remaining, short received: 2 h", undefined, 60, TWO_HOURS_MS],
    ["infinite received", 3600_000, 0xffffffff, undefined],
  ] as const)("RFC 4862 §5.5.3 (e): %s", (_name, remaining, received, expected) => {
    const now = 1000;
    const current = remaining === undefined ? undefined : now + remaining;
    const r = updatedValidLifetime(current, received, now);
    expect(r === undefined ? undefined : r - now).toBe(expected);
  });

  it("§6.1.2: an RA from a global address is ignored", () => {
    const net = makeNet();
    net.receive(RA_GLOBAL_SRC, 0, true);
    expect(net.ipv6.defaultRouters).toEqual([]);
    expect(net.ipv6.hopLimit).toBe(64);
    expect(net.ndp.counters.get("drop.invalid-router-advertisement")).toBe(1);
  });

  it("§6.3.4: the default router expires with its Router Lifetime", () => {
    const net = makeNet();
    net.receive(RA, 0, true);
    runUntil(net, 1_800_000);
    expect(net.ipv6.defaultRouters).toEqual([]);
  });

  it("§7.2.5: an NA with the Router flag clear takes a router off the default router list", () => {
    const net = makeNet();
    net.receive(RA, 0, true);
    net.receive(NA_ROUTER_CLEARED, 10, true);
    expect(net.ipv6.defaultRouters).toEqual([]);
    expect(net.link.neighbors.isRouter(ip6("fe80::fe"))).toBe(false);
  });
});

describe("malformed ND messages", () => {
  it("every truncation of an RA, NS and NA (lengths and checksum fixed up) is dropped without a throw or a change", () => {
    for (const packet of [RA, NS_UNICAST_SRC, NA_SOLICITED]) {
      for (let n = 40 + 4; n < packet.length; n++) {
        const net = makeNet();
        net.link.neighbors.enqueue(PEER_ADDR, new Uint8Array(60), 0);
        net.link.take();
        const cut = packet.slice(0, n);
        const view = new DataView(cut.buffer);
        view.setUint16(4, n - 40);
        view.setUint16(42, 0);
        view.setUint16(42, finishChecksum(sumBytes(cut, 40, n, pseudoHeaderSumV6(cut.subarray(8, 24), cut.subarray(24, 40), 58, n - 40))));
        expect(() => net.receive(cut, 1, true)).not.toThrow();
        // Options are whole 8-byte units: a cut inside one invalidates the message (RFC 4861 §4.6).
        const whole = (n - 40) % 8 === 0 && n - 40 >= (packet === RA ? 16 : 24);
        if (!whole) {
          expect(net.link.sent).toHaveLength(0);
          expect(net.ipv6.defaultRouters).toEqual([]);
          expect(net.link.neighbors.get(PEER_ADDR)?.state).toBe("INCOMPLETE");
        }
      }
    }
  });
});
