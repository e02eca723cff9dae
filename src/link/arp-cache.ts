/**
 * The ARP cache (RFC 826; RFC 1122 §2.3.2.1 cache validation and flooding limits; state names after
 * RFC 4861 §7.3.2 as Linux's neighbour code uses them for ARP too).
 *
 * Owns: IPv4 → MAC entries, their timers, and the datagrams waiting for a resolution. It never builds
 * frames: it asks its hooks to send requests and hands queued datagrams back once a MAC is known
 * (EthernetLink frames them). Sans-IO: time arrives as `now`, deadlines leave through `nextDeadline()`.
 *
 * Theory of operation
 *
 *   (absent) --enqueue--> INCOMPLETE --answer--> REACHABLE --reachableMs--> STALE --used--> DELAY
 *                           | 3 broadcast requests,      ^                     ^             | delayMs
 *                           | 1 s apart, no answer       | reply to us /       | unsolicited v
 *                           v                            | confirm()           | change    PROBE
 *                        (removed; queue dropped)        +---------------------+---------  | 3 unicast
 *                                                                                          v requests
 *   REACHABLE/STALE entries not used nor confirmed for staleMs are removed.           (removed)
 *
 * - RFC 1122 §2.3.2.1 flooding: at most one request per `retransMs` (1 s) per address, and at most
 *   `maxRequests` (3) broadcast requests before the resolution fails; the queued datagrams are then
 *   dropped and counted (`drop.resolution-failed`). A host has nobody to tell (no ICMP host
 *   unreachable is generated for ourselves); the `failed` hook lets the stack count or log it.
 * - RFC 1122 §2.3.2.1 revalidation ("unicast poll"): an entry is REACHABLE for `reachableMs` after a
 *   confirmation, then STALE. Sending through a STALE entry keeps using its MAC but moves it to DELAY;
 *   if nothing confirms it within `delayMs` (an upper layer may call `confirm`, as TCP does on new
 *   ACKs), PROBE sends up to `maxProbes` unicast requests to the cached MAC, 1 s apart, and removes the
 *   entry when none is answered. Entries unused for `staleMs` age out.
 * - Pending queue (like Linux's unres_qlen): at most `maxQueuePerAddress` datagrams per address (the
 *   oldest is dropped for a new one) and `maxQueuedTotal` over the cache (a new datagram is refused).
 * - Size: at most `maxEntries`; a new entry evicts the least recently used entry that is not
 *   INCOMPLETE; when every entry is INCOMPLETE the new one is refused (`drop.cache-full`).
 *
 * Update policy for received ARP packets (RFC 826 "Packet Reception", plus a lock against spoofing):
 * 1. The caller (EthernetLink) has already discarded packets whose sender MAC is a group address,
 *    whose sender IP is 0.0.0.0 (RFC 5227 probes), ours, broadcast or multicast, and our own frames.
 * 2. Merge: if the sender IP has an entry, its MAC is updated from the packet, whatever the target
 *    ("merge_flag" in RFC 826). An INCOMPLETE entry is resolved by any such packet.
 * 3. Create: an entry is created only when the packet's target IP is ours (RFC 826); a gratuitous ARP
 *    or a reply to someone else never creates one. A created entry is STALE: the packet proves nothing
 *    about reachability, and using it triggers revalidation.
 * 4. Confirmation: only an ARP reply addressed to us confirms reachability (REACHABLE). Everything
 *    else that changes a MAC leaves the entry STALE, so a claim is probed before it is trusted for long.
 * 5. Lock (Linux's `locktime`, 1 s): a packet that would CHANGE the MAC of a REACHABLE entry confirmed
 *    less than `lockMs` ago is ignored and counted (`drop.locked`). When several hosts answer one
 *    request, the first answer wins; a spoofer racing the real owner cannot flip the entry right after
 *    it was confirmed. A persistent spoofer can still overwrite an entry after the lock expires: ARP
 *    has no authentication, and legitimate MAC changes (a replaced NIC, failover) must get through.
 */
import { Counters } from "../util/counters.ts";
import type { ArpEthernetIpv4Repr } from "../wire/arp.ts";
import type { Ipv4Address } from "../wire/ip-address.ts";
import { macEquals, type MacAddress } from "../wire/mac.ts";

/** Entry states (RFC 4861 §7.3.2 names, as Linux uses them for ARP). */
export type ArpState = "INCOMPLETE" | "REACHABLE" | "STALE" | "DELAY" | "PROBE";

/** Every bound and timer of the cache. Defaults: `ARP_DEFAULTS`. */
export interface ArpConfig {
  /** Entries held at most. */
  readonly maxEntries: number;
  /** How long a confirmation keeps an entry REACHABLE (Linux base_reachable_time: 30 s). */
  readonly reachableMs: number;
  /** An entry neither used nor confirmed for this long is removed (Linux gc_staletime: 60 s). */
  readonly staleMs: number;
  /** Wait in DELAY for an upper-layer confirmation before probing (RFC 4861 DELAY_FIRST_PROBE_TIME: 5 s). */
  readonly delayMs: number;
  /** Interval between requests for one address (RFC 1122 §2.3.2.1: at most one per second). */
  readonly retransMs: number;
  /** Broadcast requests sent for an INCOMPLETE entry before resolution fails. */
  readonly maxRequests: number;
  /** Unicast requests sent in PROBE before the entry is removed. */
  readonly maxProbes: number;
  /** A confirmed entry's MAC cannot be changed for this long after the confirmation (Linux locktime). */
  readonly lockMs: number;
  /** Datagrams queued per unresolved address (oldest dropped first). */
  readonly maxQueuePerAddress: number;
  /** Datagrams queued over all unresolved addresses (new ones refused past it). */
  readonly maxQueuedTotal: number;
}

/** The documented defaults. */
export const ARP_DEFAULTS: ArpConfig = {
  maxEntries: 512,
  reachableMs: 30_000,
  staleMs: 60_000,
  delayMs: 5_000,
  retransMs: 1_000,
  maxRequests: 3,
  maxProbes: 3,
  lockMs: 1_000,
  maxQueuePerAddress: 3,
  maxQueuedTotal: 256,
};

/** What the cache asks of the link. */
export interface ArpHooks {
  /** Send an ARP request for `target`: broadcast, or unicast to `unicastTo` (PROBE). */
  request(target: Ipv4Address, now: number, unicastTo?: MacAddress): void;
  /** `ip` now has `mac`: send the datagrams that waited for it, oldest first. */
  resolved(ip: Ipv4Address, mac: MacAddress, queued: Uint8Array[], now: number): void;
  /** Resolution of `ip` failed; `dropped` queued datagrams were discarded. */
  failed?(ip: Ipv4Address, dropped: number, now: number): void;
}

/** What `processArp` did with a packet (for tests and traces). */
export type ArpUpdate = "resolved" | "created" | "confirmed" | "changed" | "unchanged" | "locked" | "ignored" | "refused";

/** An entry as `entries()` shows it. */
export interface ArpEntryInfo {
  readonly ip: Ipv4Address;
  readonly state: ArpState;
  readonly mac: MacAddress | undefined;
  readonly queued: number;
}

interface Entry {
  readonly ip: Ipv4Address;
  state: ArpState;
  mac: MacAddress | undefined;
  /** Last reachability confirmation; -Infinity when never confirmed. */
  confirmedAt: number;
  /** Last use, update or confirmation: the entry ages out `staleMs` after it. */
  touchedAt: number;
  /** INCOMPLETE/PROBE: next request; DELAY: when probing starts. */
  timer: number;
  /** Requests sent in the current INCOMPLETE or PROBE round. */
  sent: number;
  queue: Uint8Array[];
}

/** The ARP cache of one interface. See the module comment for the policy. */
export class ArpCache {
  /** Counters, prefix "arp". */
  readonly counters = new Counters("arp");
  readonly config: ArpConfig;
  /** Insertion order is recency order: `touch` moves an entry to the end. */
  private readonly table = new Map<Ipv4Address, Entry>();
  private queuedTotal = 0;
  /** The entry last inserted or touched, i.e. the last in `table` (unless removed since). */
  private newest: Entry | undefined = undefined;

  constructor(
    config: Partial<ArpConfig> = {},
    private hooks: ArpHooks = { request() {}, resolved() {} },
  ) {
    this.config = { ...ARP_DEFAULTS, ...config };
    for (const [k, v] of Object.entries(this.config)) {
      if (!(typeof v === "number" && v >= 0 && Number.isFinite(v))) throw new RangeError(`ArpConfig.${k} = ${v}`);
    }
    if (this.config.maxEntries < 1 || this.config.retransMs <= 0) {
      throw new RangeError("ArpConfig: maxEntries must be >= 1 and retransMs > 0");
    }
  }

  /** Replaces the hooks (the link sets them once, at construction). */
  setHooks(hooks: ArpHooks): void {
    this.hooks = hooks;
  }

  /** Datagrams waiting for resolution, over all addresses. */
  get queued(): number {
    return this.queuedTotal;
  }

  /** Number of entries, in any state. */
  get size(): number {
    return this.table.size;
  }

  /**
   * The MAC to send to `ip`, or undefined (absent or INCOMPLETE: call `enqueue`). Counts as a use:
   * a STALE entry moves to DELAY (revalidation, RFC 1122 §2.3.2.1).
   */
  lookup(ip: Ipv4Address, now: number): MacAddress | undefined {
    const e = this.table.get(ip);
    if (e === undefined || e.mac === undefined) return undefined;
    this.refresh(e, now);
    e.touchedAt = Math.max(e.touchedAt, now);
    this.touch(e);
    if (e.state === "STALE") {
      e.state = "DELAY";
      e.timer = now + this.config.delayMs;
    }
    return e.mac;
  }

  /**
   * Queues `packet` until `ip` resolves, starting resolution (a broadcast request now) when the
   * address has no entry. For an address that already has a MAC the packet goes out at once through
   * the `resolved` hook.
   */
  enqueue(ip: Ipv4Address, packet: Uint8Array, now: number): void {
    let e = this.table.get(ip);
    if (e !== undefined && e.mac !== undefined) {
      this.hooks.resolved(ip, e.mac, [packet], now);
      return;
    }
    if (e === undefined) {
      if (!this.makeRoom()) {
        this.counters.inc("drop.cache-full");
        return;
      }
      e = { ip, state: "INCOMPLETE", mac: undefined, confirmedAt: -Infinity, touchedAt: now, timer: now, sent: 0, queue: [] };
      this.table.set(ip, e);
      this.newest = e;
      this.sendRequest(e, now, undefined);
    }
    if (e.queue.length >= this.config.maxQueuePerAddress) {
      e.queue.shift();
      this.queuedTotal--;
      this.counters.inc("drop.queue-overflow");
    }
    if (this.queuedTotal >= this.config.maxQueuedTotal || this.config.maxQueuePerAddress === 0) {
      this.counters.inc("drop.queue-full");
      return;
    }
    e.queue.push(packet);
    this.queuedTotal++;
  }

  /**
   * Applies a received Ethernet/IPv4 ARP packet to the cache (policy in the module comment).
   * `forUs`: its target IP is one of our addresses. The caller has validated the sender fields.
   */
  processArp(repr: ArpEthernetIpv4Repr, forUs: boolean, now: number): ArpUpdate {
    const isReply = repr.op.kind === "reply";
    const e = this.table.get(repr.senderIp);
    if (e === undefined) {
      // RFC 826: "If the pair ... was not already in the table [and] I am the target protocol
      // address ... add the triplet".
      if (!forUs) return "ignored";
      if (!this.makeRoom()) {
        this.counters.inc("drop.cache-full");
        return "refused";
      }
      const created: Entry = {
        ip: repr.senderIp,
        state: "STALE",
        mac: repr.senderMac.slice(),
        confirmedAt: -Infinity,
        touchedAt: now,
        timer: 0,
        sent: 0,
        queue: [],
      };
      this.table.set(repr.senderIp, created);
      this.newest = created;
      this.counters.inc("created");
      return "created";
    }
    this.refresh(e, now);
    const confirms = isReply && forUs;
    if (e.state === "INCOMPLETE" || e.mac === undefined) {
      e.mac = repr.senderMac.slice();
      this.setConfirmed(e, confirms, now);
      const queued = e.queue;
      e.queue = [];
      this.queuedTotal -= queued.length;
      this.counters.inc("resolved");
      this.hooks.resolved(e.ip, e.mac, queued, now);
      return "resolved";
    }
    if (!macEquals(e.mac, repr.senderMac)) {
      // Anti-spoofing lock (Linux locktime): the first confirmed answer holds for lockMs.
      if (e.state === "REACHABLE" && now - e.confirmedAt < this.config.lockMs) {
        this.counters.inc("drop.locked");
        return "locked";
      }
      e.mac = repr.senderMac.slice();
      this.setConfirmed(e, confirms, now);
      this.counters.inc("mac-changed");
      return "changed";
    }
    if (confirms) {
      this.setConfirmed(e, true, now);
      return "confirmed";
    }
    return "unchanged";
  }

  /** Upper-layer proof that `ip` is reachable (e.g. TCP saw new data acknowledged): REACHABLE. */
  confirm(ip: Ipv4Address, now: number): void {
    const e = this.table.get(ip);
    if (e === undefined || e.mac === undefined) return;
    this.setConfirmed(e, true, now);
  }

  /** Sends due requests, probes, fails resolutions and ages out entries. */
  poll(now: number): void {
    const c = this.config;
    for (const e of [...this.table.values()]) {
      this.refresh(e, now);
      switch (e.state) {
        case "INCOMPLETE":
          if (now < e.timer) break;
          if (e.sent >= c.maxRequests) {
            this.remove(e);
            this.counters.inc("resolution-failed");
            this.counters.inc("drop.resolution-failed", e.queue.length);
            this.hooks.failed?.(e.ip, e.queue.length, now);
          } else {
            this.sendRequest(e, now, undefined);
          }
          break;
        case "DELAY":
          if (now < e.timer) break;
          e.state = "PROBE";
          e.sent = 0;
          this.sendRequest(e, now, e.mac);
          break;
        case "PROBE":
          if (now < e.timer) break;
          if (e.sent >= c.maxProbes) {
            this.remove(e);
            this.counters.inc("probe-failed");
          } else {
            this.sendRequest(e, now, e.mac);
          }
          break;
        case "REACHABLE":
        case "STALE":
          if (now >= e.touchedAt + c.staleMs) {
            this.remove(e);
            this.counters.inc("expired");
          }
          break;
        default:
          assertNever(e.state);
      }
    }
  }

  /** The earliest time `poll` has work, or undefined when the cache is empty. */
  nextDeadline(): number | undefined {
    let best: number | undefined;
    for (const e of this.table.values()) {
      const t = e.state === "REACHABLE" || e.state === "STALE" ? e.touchedAt + this.config.staleMs : e.timer;
      if (best === undefined || t < best) best = t;
    }
    return best;
  }

  /** The entries, least recently used first, with their state as of `now`. */
  entries(now: number): ArpEntryInfo[] {
    const out: ArpEntryInfo[] = [];
    for (const e of this.table.values()) {
      this.refresh(e, now);
      out.push({ ip: e.ip, state: e.state, mac: e.mac, queued: e.queue.length });
    }
    return out;
  }

  /** The state of `ip` as of `now`, or undefined when it has no entry. */
  stateOf(ip: Ipv4Address, now: number): ArpState | undefined {
    const e = this.table.get(ip);
    if (e === undefined) return undefined;
    this.refresh(e, now);
    return e.state;
  }

  /** REACHABLE turns STALE lazily: no deadline is kept for it. */
  private refresh(e: Entry, now: number): void {
    if (e.state === "REACHABLE" && now >= e.confirmedAt + this.config.reachableMs) e.state = "STALE";
  }

  private setConfirmed(e: Entry, confirmed: boolean, now: number): void {
    e.touchedAt = Math.max(e.touchedAt, now);
    e.sent = 0;
    if (confirmed) {
      e.state = "REACHABLE";
      e.confirmedAt = now;
    } else {
      e.state = "STALE";
    }
  }

  private sendRequest(e: Entry, now: number, unicastTo: MacAddress | undefined): void {
    e.sent++;
    // RFC 1122 §2.3.2.1: "no more than one ARP request per second" for one address.
    e.timer = now + this.config.retransMs;
    this.counters.inc(unicastTo === undefined ? "tx.request" : "tx.probe");
    this.hooks.request(e.ip, now, unicastTo);
  }

  private touch(e: Entry): void {
    // Every frame sent to a neighbour touches it: skip the Map reordering when it is last already.
    if (this.newest === e) return;
    this.table.delete(e.ip);
    this.table.set(e.ip, e);
    this.newest = e;
  }

  private remove(e: Entry): void {
    this.table.delete(e.ip);
    if (this.newest === e) this.newest = undefined;
    this.queuedTotal -= e.queue.length;
  }

  /** Frees a slot when the table is full: evicts the least recently used entry that is not INCOMPLETE. */
  private makeRoom(): boolean {
    if (this.table.size < this.config.maxEntries) return true;
    for (const e of this.table.values()) {
      if (e.state !== "INCOMPLETE") {
        this.remove(e);
        this.counters.inc("evicted");
        return true;
      }
    }
    return false;
  }
}

function assertNever(x: never): never {
  throw new Error(`unexpected ARP state ${String(x)}`);
}
