import { describe, expect, it } from "vitest";
import { NeighborCache, type NeighborState } from "../../../src/link/neighbor-cache.ts";
import { parseIpv6, type Ipv6Address } from "../../../src/wire/ip-address.ts";
import { macToString, parseMac, type MacAddress } from "../../../src/wire/mac.ts";

const ip6 = (s: string): Ipv6Address => parseIpv6(s) as Ipv6Address;
const mac = (s: string): MacAddress => parseMac(s) as MacAddress;

const N = ip6("fe80::ff:fe00:2");
const A = mac("02:00:00:00:00:0a");
const B = mac("02:00:00:00:00:0b");
const PKT = new Uint8Array([1, 2, 3]);

/** A cache with recording solicitor and resolved handler. */
function harness(config: ConstructorParameters<typeof NeighborCache>[0] = {}) {
  const cache = new NeighborCache(config);
  const solicits: Array<{ target: string; now: number; unicast: string | undefined }> = [];
  const resolved: Array<{ mac: string; count: number }> = [];
  const failed: Array<{ count: number }> = [];
  cache.setSolicitor((target, now, unicastTo) =>
    solicits.push({ target: Buffer.from(target).toString("hex"), now, unicast: unicastTo && macToString(unicastTo) }),
  );
  cache.setResolvedHandler((_addr, m, queued) => resolved.push({ mac: macToString(m), count: queued.length }));
  cache.setUnreachableHandler((_addr, queued) => failed.push({ count: queued.length }));
  return { cache, solicits, resolved, failed };
}

type H = ReturnType<typeof harness>;
type From = NeighborState | "none";

/** Puts N into `from` (link-layer address A where it has one); returns the time setup ended. */
function setup(h: H, from: From): number {
  const c = h.cache;
  switch (from) {
    case "none":
      return 0;
    case "INCOMPLETE":
      c.enqueue(N, PKT, 0);
      return 0;
    case "REACHABLE":
      c.enqueue(N, PKT, 0);
      c.processAdvertisement(N, A, { solicited: true, override: true, router: false }, 0);
      return 0;
    case "STALE":
      c.processLinkLayerHint(N, A, 0);
      return 0;
    case "DELAY":
      c.processLinkLayerHint(N, A, 0);
      c.lookup(N, 0);
      return 0;
    case "PROBE":
      c.processLinkLayerHint(N, A, 0);
      c.lookup(N, 0);
      c.poll(5000);
      return 5000;
  }
}

interface Row {
  readonly from: From;
  readonly event: string;
  readonly act: (h: H, t: number) => void;
  readonly to: NeighborState | undefined;
  readonly mac?: MacAddress;
  /** Solicitations sent by the event (not by setup). */
  readonly solicit?: "multicast" | "unicast";
  /** Packets handed to the link by the event. */
  readonly flushed?: number;
}

const na = (s: boolean, o: boolean, ll: MacAddress | undefined) => (h: H, t: number) => {
  h.cache.processAdvertisement(N, ll, { solicited: s, override: o, router: false }, t + 1);
};
const hint = (ll: MacAddress) => (h: H, t: number) => h.cache.processSolicitation(N, ll, t + 1);
const timeout = (h: H) => h.cache.poll(h.cache.nextDeadline() as number);

// RFC 4861 Appendix C, row by row (A is the cached address, B a different one).
const ROWS: readonly Row[] = [
  { from: "none", event: "packet to send", act: (h, t) => h.cache.enqueue(N, PKT, t), to: "INCOMPLETE", solicit: "multicast" },
  { from: "INCOMPLETE", event: "retransmit timeout, < N", act: timeout, to: "INCOMPLETE", solicit: "multicast" },
  { from: "INCOMPLETE", event: "NA S=0, lladdr", act: na(false, false, B), to: "STALE", mac: B, flushed: 1 },
  { from: "INCOMPLETE", event: "NA S=1, lladdr", act: na(true, false, B), to: "REACHABLE", mac: B, flushed: 1 },
  { from: "INCOMPLETE", event: "NA without lladdr", act: na(true, true, undefined), to: "INCOMPLETE" },
  { from: "none", event: "NS/RS/RA with lladdr", act: hint(B), to: "STALE", mac: B },
  { from: "INCOMPLETE", event: "NS/RS/RA with lladdr", act: hint(B), to: "STALE", mac: B, flushed: 1 },
  { from: "REACHABLE", event: "NA S=1 O=0, same lladdr", act: na(true, false, A), to: "REACHABLE", mac: A },
  { from: "STALE", event: "NA S=1 O=0, same lladdr", act: na(true, false, A), to: "REACHABLE", mac: A },
  { from: "STALE", event: "NA S=1 O=0, no lladdr", act: na(true, false, undefined), to: "REACHABLE", mac: A },
  { from: "REACHABLE", event: "NA O=0, different lladdr", act: na(true, false, B), to: "STALE", mac: A },
  { from: "STALE", event: "NA O=0, different lladdr", act: na(false, false, B), to: "STALE", mac: A },
  { from: "DELAY", event: "NA O=0, different lladdr", act: na(true, false, B), to: "DELAY", mac: A },
  { from: "PROBE", event: "NA O=0, different lladdr", act: na(true, false, B), to: "PROBE", mac: A },
  { from: "STALE", event: "NA S=1 O=1, different lladdr", act: na(true, true, B), to: "REACHABLE", mac: B },
  { from: "PROBE", event: "NA S=1 O=1, same lladdr", act: na(true, true, A), to: "REACHABLE", mac: A },
  { from: "DELAY", event: "NA S=1 O=1", act: na(true, true, B), to: "REACHABLE", mac: B },
  { from: "REACHABLE", event: "NA S=0 O=0, same lladdr", act: na(false, false, A), to: "REACHABLE", mac: A },
  { from: "REACHABLE", event: "NA S=0 O=1, different lladdr", act: na(false, true, B), to: "STALE", mac: B },
  { from: "PROBE", event: "NA S=0 O=1, different lladdr", act: na(false, true, B), to: "STALE", mac: B },
  { from: "DELAY", event: "NA S=0 O=1, same lladdr", act: na(false, true, A), to: "DELAY", mac: A },
  { from: "STALE", event: "upper-layer confirmation", act: (h, t) => h.cache.confirm(N, t + 1), to: "REACHABLE", mac: A },
  { from: "PROBE", event: "upper-layer confirmation", act: (h, t) => h.cache.confirm(N, t + 1), to: "REACHABLE", mac: A },
  { from: "INCOMPLETE", event: "upper-layer confirmation", act: (h, t) => h.cache.confirm(N, t + 1), to: "INCOMPLETE" },
  { from: "REACHABLE", event: "ReachableTime elapsed", act: timeout, to: "STALE", mac: A },
  { from: "REACHABLE", event: "NS/RS/RA, different lladdr", act: hint(B), to: "STALE", mac: B },
  { from: "DELAY", event: "NS/RS/RA, different lladdr", act: hint(B), to: "STALE", mac: B },
  { from: "REACHABLE", event: "NS/RS/RA, same lladdr", act: hint(A), to: "REACHABLE", mac: A },
  { from: "PROBE", event: "NS/RS/RA, same lladdr", act: hint(A), to: "PROBE", mac: A },
  { from: "STALE", event: "packet sent", act: (h, t) => void h.cache.lookup(N, t + 1), to: "DELAY", mac: A },
  { from: "DELAY", event: "delay timeout", act: timeout, to: "PROBE", mac: A, solicit: "unicast" },
  { from: "PROBE", event: "retransmit timeout, < N", act: timeout, to: "PROBE", mac: A, solicit: "unicast" },
];

describe("NeighborCache state machine (RFC 4861 Appendix C)", () => {
  it.each(ROWS.map((r) => [`${r.from} + ${r.event} → ${r.to ?? "deleted"}`, r] as const))("%s", (_name, row) => {
    const h = harness();
    const t = setup(h, row.from);
    expect(h.cache.get(N)?.state ?? "none").toBe(row.from);
    const solicitsBefore = h.solicits.length;
    const resolvedBefore = h.resolved.length;
    row.act(h, t);
    const entry = h.cache.get(N);
    expect(entry?.state).toBe(row.to);
    if (row.mac !== undefined) expect(macToString(entry?.mac as MacAddress)).toBe(macToString(row.mac));
    const newSolicits = h.solicits.slice(solicitsBefore);
    if (row.solicit === undefined) expect(newSolicits).toEqual([]);
    else {
      expect(newSolicits).toHaveLength(1);
      expect(newSolicits[0]?.unicast).toBe(row.solicit === "unicast" ? macToString(A) : undefined);
    }
    const flushed = h.resolved.slice(resolvedBefore).reduce((n, r) => n + r.count, 0);
    expect(flushed).toBe(row.flushed ?? 0);
  });

  it("INCOMPLETE: MAX_MULTICAST_SOLICIT (3) solicitations RetransTimer apart, then the entry and its queue go (§7.2.2)", () => {
    const h = harness();
    h.cache.enqueue(N, PKT, 0);
    h.cache.enqueue(N, PKT, 10);
    for (let i = 0; i < 10 && h.cache.nextDeadline() !== undefined; i++) h.cache.poll(h.cache.nextDeadline() as number);
    expect(h.solicits.map((s) => [s.now, s.unicast])).toEqual([
      [0, undefined],
      [1000, undefined],
      [2000, undefined],
    ]);
    expect(h.cache.get(N)).toBeUndefined();
    expect(h.failed).toEqual([{ count: 2 }]);
    expect(h.cache.counters.get("drop.resolution-failed")).toBe(2);
  });

  it("PROBE: MAX_UNICAST_SOLICIT (3) unicast probes, then the entry is deleted (§7.3.3)", () => {
    const h = harness();
    setup(h, "DELAY");
    for (let i = 0; i < 10 && h.cache.nextDeadline() !== undefined; i++) h.cache.poll(h.cache.nextDeadline() as number);
    expect(h.solicits.map((s) => [s.now, s.unicast])).toEqual([
      [5000, "02:00:00:00:00:0a"],
      [6000, "02:00:00:00:00:0a"],
      [7000, "02:00:00:00:00:0a"],
    ]);
    expect(h.cache.get(N)).toBeUndefined();
  });

  it("RetransTimer and ReachableTime from RAs change the intervals (§6.3.4)", () => {
    const h = harness();
    h.cache.setRetransTimer(250);
    h.cache.setReachableTime(12_345);
    h.cache.enqueue(N, PKT, 0);
    expect(h.cache.nextDeadline()).toBe(250);
    h.cache.processAdvertisement(N, A, { solicited: true, override: false, router: false }, 100);
    expect(h.cache.get(N)?.deadline).toBe(100 + 12_345);
  });

  it("a STALE entry in use past ReachableTime: lookup of an expired REACHABLE entry starts DELAY (§7.3.3)", () => {
    const h = harness();
    setup(h, "REACHABLE");
    expect(macToString(h.cache.lookup(N, 40_000) as MacAddress)).toBe(macToString(A));
    expect(h.cache.get(N)?.state).toBe("DELAY");
  });

  it("NA for a target without an entry is ignored: no entry is created (§7.2.5, spoofing policy)", () => {
    const h = harness();
    expect(h.cache.processAdvertisement(N, B, { solicited: false, override: true, router: false }, 0)).toBe("no-entry");
    expect(h.cache.get(N)).toBeUndefined();
  });

  it("IsRouter follows the R flag of an updating NA (§7.2.5)", () => {
    const h = harness();
    h.cache.processLinkLayerHint(N, A, 0, true);
    expect(h.cache.isRouter(N)).toBe(true);
    h.cache.processAdvertisement(N, A, { solicited: true, override: false, router: false }, 1);
    expect(h.cache.isRouter(N)).toBe(false);
  });
});

describe("NeighborCache bounds", () => {
  it("per-neighbor queue: the new arrival replaces the oldest (RFC 4861 §7.2.2)", () => {
    const h = harness({ maxQueuePerNeighbor: 2 });
    for (let i = 0; i < 5; i++) h.cache.enqueue(N, new Uint8Array([i]), i);
    const seen: number[] = [];
    h.cache.setResolvedHandler((_a, _m, q) => seen.push(...q.map((p) => p[0] as number)));
    h.cache.processAdvertisement(N, A, { solicited: true, override: true, router: false }, 10);
    expect(seen).toEqual([3, 4]);
    expect(h.cache.counters.get("drop.queue-full")).toBe(3);
  });

  it("total queue bound over all neighbors", () => {
    const h = harness({ maxQueuePerNeighbor: 10, maxQueuedPackets: 3 });
    for (let i = 0; i < 5; i++) h.cache.enqueue(ip6(`fe80::${i + 1}`), PKT, 0);
    expect(h.cache.entries().reduce((n, e) => n + e.queued, 0)).toBe(3);
    expect(h.cache.counters.get("drop.queue-total")).toBe(2);
  });

  it("a full table evicts the least recently updated STALE entry, and refuses when none is STALE", () => {
    const h = harness({ maxEntries: 3 });
    h.cache.processLinkLayerHint(ip6("fe80::1"), A, 0);
    h.cache.processLinkLayerHint(ip6("fe80::2"), A, 1);
    h.cache.enqueue(ip6("fe80::3"), PKT, 2);
    h.cache.enqueue(ip6("fe80::4"), PKT, 3);
    expect(h.cache.size).toBe(3);
    expect(h.cache.get(ip6("fe80::1"))).toBeUndefined();
    h.cache.enqueue(ip6("fe80::5"), PKT, 4);
    expect(h.cache.get(ip6("fe80::2"))).toBeUndefined();
    // Only INCOMPLETE entries left: a new one is refused, the table never grows.
    h.cache.enqueue(ip6("fe80::6"), PKT, 5);
    expect(h.cache.size).toBe(3);
    expect(h.cache.get(ip6("fe80::6"))).toBeUndefined();
    expect(h.cache.counters.get("drop.cache-full")).toBe(1);
  });

  it("a flood of NS hints with distinct sources stays within maxEntries", () => {
    const h = harness({ maxEntries: 64 });
    for (let i = 0; i < 10_000; i++) {
      const a = ip6("fe80::");
      a[14] = i >> 8;
      a[15] = i & 0xff;
      h.cache.processSolicitation(a, A, i);
    }
    expect(h.cache.size).toBe(64);
  });
});
