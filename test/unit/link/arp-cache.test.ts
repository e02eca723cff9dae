import { describe, expect, it } from "vitest";
import { ArpCache, type ArpConfig } from "../../../src/link/arp-cache.ts";
import type { ArpEthernetIpv4Repr } from "../../../src/wire/arp.ts";
import { ip, mac, toHex } from "../net/ipv4-helpers.ts";

const PEER = ip("10.0.0.2");
const ME = ip("10.0.0.1");
const PEER_MAC = mac("02:00:00:00:00:02");
const EVIL_MAC = mac("02:00:00:00:00:66");

interface Log {
  requests: Array<{ target: number; now: number; unicastTo: string | undefined }>;
  resolved: Array<{ ip: number; mac: string; queued: string[] }>;
  failed: Array<{ ip: number; dropped: number; now: number }>;
}

function makeCache(config: Partial<ArpConfig> = {}): { cache: ArpCache; log: Log } {
  const log: Log = { requests: [], resolved: [], failed: [] };
  const cache = new ArpCache(config, {
    request: (target, now, unicastTo) => log.requests.push({ target, now, unicastTo: unicastTo && toHex(unicastTo) }),
    resolved: (a, m, queued) => log.resolved.push({ ip: a, mac: toHex(m), queued: queued.map(toHex) }),
    failed: (a, dropped, now) => log.failed.push({ ip: a, dropped, now }),
  });
  return { cache, log };
}

function arp(op: "request" | "reply", senderIp: number, senderMac: Uint8Array, targetIp = ME): ArpEthernetIpv4Repr {
  return { kind: "ethernet-ipv4", op: { kind: op }, senderMac, senderIp, targetMac: new Uint8Array(6), targetIp };
}

const pkt = (n: number) => new Uint8Array([n]);

/** Runs poll at every millisecond step of `step` from `from` to `to`. */
function pollRange(cache: ArpCache, from: number, to: number, step = 50): void {
  for (let t = from; t <= to; t += step) cache.poll(t);
}

describe("ARP resolution (RFC 826, RFC 1122 §2.3.2.1)", () => {
  it("sends a broadcast request at once, then one per second, and fails after 3 (RFC 1122 §2.3.2.1 flooding limit)", () => {
    const { cache, log } = makeCache();
    cache.enqueue(PEER, pkt(1), 0);
    cache.enqueue(PEER, pkt(2), 10);
    expect(log.requests).toEqual([{ target: PEER, now: 0, unicastTo: undefined }]);
    expect(cache.nextDeadline()).toBe(1000);
    pollRange(cache, 0, 2999);
    expect(log.requests.map((r) => r.now)).toEqual([0, 1000, 2000]);
    expect(log.failed).toEqual([]);
    cache.poll(3000);
    expect(log.failed).toEqual([{ ip: PEER, dropped: 2, now: 3000 }]);
    expect(cache.counters.get("drop.resolution-failed")).toBe(2);
    expect(cache.counters.get("resolution-failed")).toBe(1);
    expect(cache.size).toBe(0);
    expect(cache.queued).toBe(0);
    expect(cache.nextDeadline()).toBeUndefined();
  });

  it("rate-limits requests to one per second per address however many datagrams wait (RFC 1122 §2.3.2.1)", () => {
    const { cache, log } = makeCache({ maxQueuePerAddress: 1000, maxQueuedTotal: 1000 });
    for (let t = 0; t < 999; t++) {
      cache.enqueue(PEER, pkt(t & 0xff), t);
      cache.poll(t);
    }
    expect(log.requests).toHaveLength(1);
  });

  it("delivers the queued datagrams in order when the reply arrives, and the entry is REACHABLE", () => {
    const { cache, log } = makeCache();
    cache.enqueue(PEER, pkt(1), 0);
    cache.enqueue(PEER, pkt(2), 0);
    expect(cache.lookup(PEER, 1)).toBeUndefined();
    expect(cache.processArp(arp("reply", PEER, PEER_MAC), true, 5)).toBe("resolved");
    expect(log.resolved).toEqual([{ ip: PEER, mac: "020000000002", queued: ["01", "02"] }]);
    expect(cache.stateOf(PEER, 5)).toBe("REACHABLE");
    expect(toHex(cache.lookup(PEER, 6) as Uint8Array)).toBe("020000000002");
    expect(cache.queued).toBe(0);
  });

  it("bounds the queue per address (oldest dropped) and in total (new refused)", () => {
    const { cache, log } = makeCache({ maxQueuePerAddress: 3, maxQueuedTotal: 4 });
    for (let i = 1; i <= 5; i++) cache.enqueue(PEER, pkt(i), 0);
    expect(cache.counters.get("drop.queue-overflow")).toBe(2);
    expect(cache.queued).toBe(3);
    const other = ip("10.0.0.3");
    cache.enqueue(other, pkt(6), 0);
    cache.enqueue(other, pkt(7), 0);
    expect(cache.queued).toBe(4);
    expect(cache.counters.get("drop.queue-full")).toBe(1);
    cache.processArp(arp("reply", PEER, PEER_MAC), true, 1);
    expect(log.resolved[0]?.queued).toEqual(["03", "04", "05"]);
  });
});

describe("ARP merge rule (RFC 826 Packet Reception)", () => {
  it("creates an entry only when the packet's target IP is ours, as STALE", () => {
    const { cache } = makeCache();
    expect(cache.processArp(arp("request", PEER, PEER_MAC, ip("10.0.0.9")), false, 0)).toBe("ignored");
    expect(cache.size).toBe(0);
    expect(cache.processArp(arp("request", PEER, PEER_MAC), true, 0)).toBe("created");
    expect(cache.stateOf(PEER, 0)).toBe("STALE");
  });

  it("updates an existing entry from a packet addressed to someone else (merge_flag)", () => {
    const { cache } = makeCache();
    cache.processArp(arp("request", PEER, PEER_MAC), true, 0);
    const newMac = mac("02:00:00:00:00:22");
    expect(cache.processArp(arp("request", PEER, newMac, PEER), false, 10_000)).toBe("changed");
    expect(toHex(cache.lookup(PEER, 10_000) as Uint8Array)).toBe("020000000022");
  });

  it("a gratuitous ARP never creates an entry (target IP is the sender's own)", () => {
    const { cache } = makeCache();
    expect(cache.processArp(arp("request", PEER, PEER_MAC, PEER), false, 0)).toBe("ignored");
    expect(cache.size).toBe(0);
  });
});

describe("ARP revalidation (RFC 1122 §2.3.2.1 unicast poll)", () => {
  function resolved(config: Partial<ArpConfig> = {}) {
    const made = makeCache(config);
    made.cache.enqueue(PEER, pkt(1), 0);
    made.cache.processArp(arp("reply", PEER, PEER_MAC), true, 0);
    made.log.requests.length = 0;
    return made;
  }

  it("REACHABLE for 30 s, then STALE; use moves it to DELAY and, 5 s later, PROBE with a unicast request", () => {
    const { cache, log } = resolved();
    expect(cache.stateOf(PEER, 29_999)).toBe("REACHABLE");
    expect(cache.stateOf(PEER, 30_000)).toBe("STALE");
    expect(cache.lookup(PEER, 40_000)).toBeDefined();
    expect(cache.stateOf(PEER, 40_000)).toBe("DELAY");
    expect(cache.nextDeadline()).toBe(45_000);
    cache.poll(44_999);
    expect(log.requests).toEqual([]);
    cache.poll(45_000);
    expect(log.requests).toEqual([{ target: PEER, now: 45_000, unicastTo: "020000000002" }]);
    expect(cache.stateOf(PEER, 45_000)).toBe("PROBE");
    // Sending continues to the cached MAC while probing.
    expect(cache.lookup(PEER, 45_100)).toBeDefined();
    expect(cache.processArp(arp("reply", PEER, PEER_MAC), true, 45_200)).toBe("confirmed");
    expect(cache.stateOf(PEER, 45_200)).toBe("REACHABLE");
  });

  it("removes the entry after 3 unanswered unicast probes, 1 s apart", () => {
    const { cache, log } = resolved();
    cache.lookup(PEER, 30_000);
    pollRange(cache, 30_000, 38_000, 100);
    expect(log.requests.map((r) => [r.now, r.unicastTo])).toEqual([
      [35_000, "020000000002"],
      [36_000, "020000000002"],
      [37_000, "020000000002"],
    ]);
    expect(cache.stateOf(PEER, 38_000)).toBeUndefined();
    expect(cache.counters.get("probe-failed")).toBe(1);
  });

  it("an upper-layer confirmation in DELAY avoids the probe", () => {
    const { cache, log } = resolved();
    cache.lookup(PEER, 31_000);
    cache.confirm(PEER, 32_000);
    pollRange(cache, 31_000, 40_000, 500);
    expect(log.requests).toEqual([]);
    expect(cache.stateOf(PEER, 40_000)).toBe("REACHABLE");
  });

  it("ages out an entry neither used nor confirmed for 60 s", () => {
    const { cache } = resolved();
    cache.poll(59_999);
    expect(cache.size).toBe(1);
    cache.poll(60_000);
    expect(cache.size).toBe(0);
    expect(cache.counters.get("expired")).toBe(1);
  });
});

describe("ARP spoofing policy (lock after confirmation, module comment rule 5)", () => {
  it("ignores a MAC change for 1 s after a confirmation, accepts it (as STALE) afterwards", () => {
    const { cache } = makeCache();
    cache.enqueue(PEER, pkt(1), 0);
    cache.processArp(arp("reply", PEER, PEER_MAC), true, 1000);
    expect(cache.processArp(arp("reply", PEER, EVIL_MAC, PEER), false, 1500)).toBe("locked");
    expect(cache.processArp(arp("reply", PEER, EVIL_MAC), true, 1999)).toBe("locked");
    expect(toHex(cache.lookup(PEER, 1999) as Uint8Array)).toBe("020000000002");
    expect(cache.counters.get("drop.locked")).toBe(2);
    expect(cache.processArp(arp("request", PEER, EVIL_MAC, PEER), false, 2000)).toBe("changed");
    expect(cache.stateOf(PEER, 2000)).toBe("STALE");
  });

  it("the first of two racing replies wins", () => {
    const { cache, log } = makeCache();
    cache.enqueue(PEER, pkt(1), 0);
    cache.processArp(arp("reply", PEER, PEER_MAC), true, 3);
    expect(cache.processArp(arp("reply", PEER, EVIL_MAC), true, 4)).toBe("locked");
    expect(log.resolved).toHaveLength(1);
    expect(toHex(cache.lookup(PEER, 5) as Uint8Array)).toBe("020000000002");
  });

  it("an unsolicited change of a STALE entry is accepted but not trusted: it stays STALE", () => {
    const { cache } = makeCache();
    cache.processArp(arp("request", PEER, PEER_MAC), true, 0);
    expect(cache.processArp(arp("reply", PEER, EVIL_MAC, PEER), false, 100)).toBe("changed");
    expect(cache.stateOf(PEER, 100)).toBe("STALE");
  });
});

describe("ARP cache size bound", () => {
  it("evicts the least recently used resolved entry, never an INCOMPLETE one; refuses when all are INCOMPLETE", () => {
    const { cache } = makeCache({ maxEntries: 3 });
    const a = ip("10.0.0.10");
    const b = ip("10.0.0.11");
    const c = ip("10.0.0.12");
    cache.processArp(arp("request", a, PEER_MAC), true, 0);
    cache.processArp(arp("request", b, PEER_MAC), true, 0);
    cache.enqueue(c, pkt(1), 0);
    cache.lookup(a, 1); // a is now more recently used than b
    cache.processArp(arp("request", ip("10.0.0.13"), PEER_MAC), true, 2);
    expect(cache.stateOf(b, 2)).toBeUndefined();
    expect(cache.stateOf(a, 2)).toBeDefined();
    expect(cache.stateOf(c, 2)).toBe("INCOMPLETE");
    expect(cache.counters.get("evicted")).toBe(1);

    const full = makeCache({ maxEntries: 2 }).cache;
    full.enqueue(a, pkt(1), 0);
    full.enqueue(b, pkt(1), 0);
    full.enqueue(c, pkt(1), 0);
    expect(full.size).toBe(2);
    expect(full.counters.get("drop.cache-full")).toBe(1);
  });

  it("stays within maxEntries under a flood of 10 000 distinct senders", () => {
    const { cache } = makeCache();
    for (let i = 0; i < 10_000; i++) cache.processArp(arp("request", (ip("10.1.0.0") + i) >>> 0, PEER_MAC), true, i);
    expect(cache.size).toBe(512);
  });
});
