/**
 * The IPv6 neighbor cache (RFC 4861 §7.3: Neighbor Unreachability Detection; the state machine of
 * Appendix C). Read RFC 4861 §7.2.2–§7.2.5, §7.3 and Appendix C before editing.
 *
 * What it owns: one entry per neighbor (INCOMPLETE, REACHABLE, STALE, DELAY or PROBE), the packets
 * waiting for an INCOMPLETE entry to resolve, and the timers of every entry. What it never does: send
 * anything itself. Solicitations go out through the solicitor that net/ndp registers; resolved packets
 * through the handler that the link registers. It is sans-IO: time arrives as `now`.
 *
 * Theory of operation (RFC 4861 Appendix C, "!INC" = any state but INCOMPLETE):
 *
 *   state   event                                        action                      new state
 *   -       packet to send (enqueue)                     multicast NS, start timer   INCOMPLETE
 *   INC     retransmit timeout, < MAX_MULTICAST_SOLICIT  multicast NS                INCOMPLETE
 *   INC     retransmit timeout, = MAX_MULTICAST_SOLICIT  discard entry and queue     -
 *   INC     NA, S=0, with lladdr                         record, send queue          STALE
 *   INC     NA, S=1, with lladdr                         record, send queue          REACHABLE
 *   INC     NA without lladdr                            update IsRouter             INCOMPLETE
 *   -       NS/RS/RA/Redirect with lladdr                create                      STALE
 *   INC     NS/RS/RA/Redirect with lladdr                record, send queue          STALE
 *   !INC    NS/RS/RA/Redirect, different lladdr          record                      STALE
 *   !INC    NS/RS/RA/Redirect, same lladdr               -                           unchanged
 *   !INC    NA, S=1, O=0, same lladdr (or none)          -                           REACHABLE
 *   !INC    NA, O=0, different lladdr                    - (REACHABLE → STALE)       unchanged
 *   !INC    NA, S=1, O=1                                 record                      REACHABLE
 *   !INC    NA, S=0, O=1, different lladdr               record                      STALE
 *   !INC    NA, S=0, same lladdr (or none)               update IsRouter             unchanged
 *   !INC    upper-layer reachability confirmation        -                           REACHABLE
 *   REACH   ReachableTime elapsed                        -                           STALE
 *   STALE   packet sent                                  start delay timer           DELAY
 *   DELAY   DELAY_FIRST_PROBE_TIME elapsed               unicast NS                  PROBE
 *   PROBE   retransmit timeout, < MAX_UNICAST_SOLICIT    unicast NS                  PROBE
 *   PROBE   retransmit timeout, = MAX_UNICAST_SOLICIT    discard entry               -
 *
 * Spoofing policy: the link-layer address of an existing entry changes only as RFC 4861 §7.2.3 and
 * §7.2.5 allow — an advertisement without the Override flag never replaces it (it can only demote
 * REACHABLE to STALE, which costs one unicast probe), an advertisement for a target without an entry
 * is ignored (§7.2.5: no unsolicited entries from NAs), and NS/RS/RA hints with a different address
 * only move the entry to STALE, so the next use probes it. An on-link attacker who sends NAs with the
 * Override flag can still redirect traffic: that is ND's threat model (RFC 3756 §4.1.1), answered by
 * SEND (RFC 3971), which we do not implement.
 *
 * Bounds (all configurable, see `NeighborCacheConfig`): at most `maxEntries` entries (512); a new
 * entry evicts the least recently updated STALE one and is refused (counted) when there is none, so
 * the cache never grows. Each INCOMPLETE entry queues at most `maxQueuePerNeighbor` packets (RFC 4861
 * §7.2.2: on overflow the new arrival replaces the oldest), and all entries together at most
 * `maxQueuedPackets`; past that, new packets are dropped and counted.
 */
import type { Ipv6Address } from "../wire/ip-address.ts";
import { macEquals, type MacAddress } from "../wire/mac.ts";
import { Counters } from "../util/counters.ts";

/** RFC 4861 §7.3.2 states, spelled as the RFC spells them. */
export type NeighborState = "INCOMPLETE" | "REACHABLE" | "STALE" | "DELAY" | "PROBE";

/**
 * Sends a Neighbor Solicitation for `target`: multicast to its solicited-node group when `unicastTo`
 * is undefined (address resolution), else unicast to that link-layer address (NUD probe, §7.3.3).
 */
export type Solicitor = (target: Ipv6Address, now: number, unicastTo?: MacAddress) => void;
/** Sends the packets that waited for `addr` now that its link-layer address is known. */
export type ResolvedHandler = (addr: Ipv6Address, mac: MacAddress, queued: Uint8Array[]) => void;
/** Address resolution for `addr` failed; `queued` are the packets dropped with it (RFC 4861 §7.2.2). */
export type UnreachableHandler = (addr: Ipv6Address, queued: Uint8Array[], now: number) => void;

/** RFC 4861 §10 protocol constants and our resource bounds. Times in milliseconds. */
export interface NeighborCacheConfig {
  /** Most entries held at once. Default 512. */
  readonly maxEntries: number;
  /** Packets queued per INCOMPLETE entry. Default 16. */
  readonly maxQueuePerNeighbor: number;
  /** Packets queued over all entries. Default 256. */
  readonly maxQueuedPackets: number;
  /** ReachableTime (§6.3.2); the host derives it from the RA's BaseReachableTime. Default 30 000. */
  readonly reachableTimeMs: number;
  /** RetransTimer (§10). Default 1000. */
  readonly retransTimerMs: number;
  /** DELAY_FIRST_PROBE_TIME (§10). Default 5000. */
  readonly delayFirstProbeTimeMs: number;
  /** MAX_MULTICAST_SOLICIT (§10). Default 3. */
  readonly maxMulticastSolicit: number;
  /** MAX_UNICAST_SOLICIT (§10). Default 3. */
  readonly maxUnicastSolicit: number;
}

/** The defaults of `NeighborCacheConfig`. */
export const NEIGHBOR_CACHE_DEFAULTS: NeighborCacheConfig = {
  maxEntries: 512,
  maxQueuePerNeighbor: 16,
  maxQueuedPackets: 256,
  reachableTimeMs: 30_000,
  retransTimerMs: 1_000,
  delayFirstProbeTimeMs: 5_000,
  maxMulticastSolicit: 3,
  maxUnicastSolicit: 3,
};

/** A read-only snapshot of one entry, for inspection and tests. */
export interface NeighborEntryInfo {
  readonly address: Ipv6Address;
  readonly state: NeighborState;
  readonly mac: MacAddress | undefined;
  readonly isRouter: boolean;
  readonly queued: number;
  /** When the entry's timer fires (reachability expiry, delay, retransmit), if it has one. */
  readonly deadline: number | undefined;
}

/** Flags of a Neighbor Advertisement (RFC 4861 §4.4). */
export interface AdvertisementFlags {
  readonly solicited: boolean;
  readonly override: boolean;
  readonly router: boolean;
}

/** What `processAdvertisement` did: no entry (ignored, §7.2.5), entry left as is, or entry updated. */
export type AdvertisementOutcome = "no-entry" | "ignored" | "updated";

interface Entry {
  readonly address: Ipv6Address;
  state: NeighborState;
  mac: MacAddress | undefined;
  isRouter: boolean;
  queue: Uint8Array[];
  /** Solicitations sent in the current INCOMPLETE or PROBE phase. */
  probes: number;
  deadline: number | undefined;
  /** Last time the entry was created or changed, for eviction order. */
  touched: number;
}

/** A compact Map key for 16 address bytes. */
function keyOf(addr: Ipv6Address): string {
  return String.fromCharCode(...addr.subarray(0, 16));
}

/** The RFC 4861 neighbor cache for one interface. */
export class NeighborCache {
  /** Counters with prefix "nd". */
  readonly counters = new Counters("nd");
  private readonly config: NeighborCacheConfig;
  private readonly table = new Map<string, Entry>();
  private queuedTotal = 0;
  private reachableTimeMs: number;
  private retransTimerMs: number;
  private solicitor: Solicitor = () => {};
  private resolved: ResolvedHandler = () => {};
  private unreachable: UnreachableHandler = () => {};

  constructor(config: Partial<NeighborCacheConfig> = {}) {
    this.config = { ...NEIGHBOR_CACHE_DEFAULTS, ...config };
    if (this.config.maxEntries < 1) throw new RangeError("NeighborCache maxEntries must be at least 1");
    this.reachableTimeMs = this.config.reachableTimeMs;
    this.retransTimerMs = this.config.retransTimerMs;
  }

  /** Registers the function that sends Neighbor Solicitations (net/ndp). */
  setSolicitor(fn: Solicitor): void {
    this.solicitor = fn;
  }

  /** Registers the function that sends packets once their neighbor resolves (the link). */
  setResolvedHandler(fn: ResolvedHandler): void {
    this.resolved = fn;
  }

  /** Registers the function told when resolution fails, with the packets dropped (for ICMPv6). */
  setUnreachableHandler(fn: UnreachableHandler): void {
    this.unreachable = fn;
  }

  /** ReachableTime from a Router Advertisement (RFC 4861 §6.3.4), already randomized by the caller. */
  setReachableTime(ms: number): void {
    if (ms > 0) this.reachableTimeMs = ms;
  }

  /** RetransTimer from a Router Advertisement (RFC 4861 §6.3.4). */
  setRetransTimer(ms: number): void {
    if (ms > 0) this.retransTimerMs = ms;
  }

  /** The current RetransTimer, which DAD also uses (RFC 4862 §5.4). */
  get retransTimer(): number {
    return this.retransTimerMs;
  }

  /** The current ReachableTime. */
  get reachableTime(): number {
    return this.reachableTimeMs;
  }

  /** Number of entries held. */
  get size(): number {
    return this.table.size;
  }

  /**
   * The link-layer address to send to `addr`, or undefined when it is unknown (absent or INCOMPLETE:
   * enqueue the packet). Sending to a STALE entry starts the delay timer (§7.3.3).
   */
  lookup(addr: Ipv6Address, now: number): MacAddress | undefined {
    const e = this.table.get(keyOf(addr));
    if (e === undefined || e.state === "INCOMPLETE") return undefined;
    if (e.state === "REACHABLE" && e.deadline !== undefined && now >= e.deadline) this.toStale(e, now);
    if (e.state === "STALE") {
      // RFC 4861 §7.3.3: the first time a STALE entry is used to send, go to DELAY.
      e.state = "DELAY";
      e.deadline = now + this.config.delayFirstProbeTimeMs;
    }
    return e.mac;
  }

  /**
   * Queues `packet` until `addr` resolves, creating an INCOMPLETE entry (and sending the first
   * multicast solicitation) when there is none. Past the queue bounds the packet is dropped and
   * counted. When the entry already has a link-layer address the packet is handed straight on.
   */
  enqueue(addr: Ipv6Address, packet: Uint8Array, now: number): void {
    const key = keyOf(addr);
    let e = this.table.get(key);
    if (e !== undefined && e.state !== "INCOMPLETE" && e.mac !== undefined) {
      const mac = this.lookup(addr, now) ?? e.mac;
      this.resolved(e.address, mac, [packet]);
      return;
    }
    if (e === undefined) {
      if (!this.makeRoom()) {
        this.counters.inc("drop.cache-full");
        return;
      }
      e = this.create(key, addr, "INCOMPLETE", undefined, now);
      e.probes = 1;
      e.deadline = now + this.retransTimerMs;
      this.pushQueue(e, packet);
      this.counters.inc("tx.solicit-multicast");
      this.solicitor(e.address, now);
      return;
    }
    this.pushQueue(e, packet);
  }

  /**
   * A Neighbor Advertisement for `target` (RFC 4861 §7.2.5), already validated (§7.1.2) and not for
   * one of our own addresses. `lladdr` is its Target Link-Layer Address option, if present.
   */
  processAdvertisement(
    target: Ipv6Address,
    lladdr: MacAddress | undefined,
    flags: AdvertisementFlags,
    now: number,
  ): AdvertisementOutcome {
    const e = this.table.get(keyOf(target));
    // §7.2.5: "If no entry exists, the advertisement SHOULD be silently discarded."
    if (e === undefined) {
      this.counters.inc("rx.na-no-entry");
      return "no-entry";
    }
    if (e.state === "INCOMPLETE") {
      // §7.2.5: without a link-layer address the entry cannot complete.
      if (lladdr === undefined) {
        e.isRouter = flags.router;
        return "ignored";
      }
      e.mac = lladdr.slice(0, 6);
      e.isRouter = flags.router;
      if (flags.solicited) this.toReachable(e, now);
      else this.toStale(e, now);
      this.flushQueue(e);
      return "updated";
    }
    const different = lladdr !== undefined && e.mac !== undefined && !macEquals(lladdr, e.mac);
    if (!flags.override && different) {
      // §7.2.5: no override and a different address: keep the address, distrust a REACHABLE entry.
      if (e.state === "REACHABLE") this.toStale(e, now);
      this.counters.inc("rx.na-no-override");
      return "ignored";
    }
    // Override set, or same address, or no address option.
    if (lladdr !== undefined && different) e.mac = lladdr.slice(0, 6);
    if (flags.solicited) this.toReachable(e, now);
    else if (different) this.toStale(e, now);
    e.isRouter = flags.router;
    e.touched = now;
    return "updated";
  }

  /**
   * A Neighbor Solicitation from `src` with a Source Link-Layer Address option (RFC 4861 §7.2.3):
   * create or update the entry as STALE when the address is new or different.
   */
  processSolicitation(src: Ipv6Address, lladdr: MacAddress, now: number): void {
    this.processLinkLayerHint(src, lladdr, now);
  }

  /**
   * A link-layer address learned from an RS, RA or Redirect (RFC 4861 §6.3.4, §6.2.6, §8.3) or an NS:
   * a new or different address makes the entry STALE; the same address changes nothing. `router`
   * sets IsRouter (an RA's source is a router, §6.3.4).
   */
  processLinkLayerHint(src: Ipv6Address, lladdr: MacAddress, now: number, router?: boolean): void {
    const key = keyOf(src);
    let e = this.table.get(key);
    if (e === undefined) {
      if (!this.makeRoom()) {
        this.counters.inc("drop.cache-full");
        return;
      }
      e = this.create(key, src, "STALE", lladdr.slice(0, 6), now);
      if (router !== undefined) e.isRouter = router;
      return;
    }
    if (router !== undefined) e.isRouter = router;
    if (e.state === "INCOMPLETE") {
      e.mac = lladdr.slice(0, 6);
      this.toStale(e, now);
      this.flushQueue(e);
      return;
    }
    if (e.mac === undefined || !macEquals(e.mac, lladdr)) {
      e.mac = lladdr.slice(0, 6);
      this.toStale(e, now);
    }
  }

  /** Upper-layer reachability confirmation (RFC 4861 §7.3.1), e.g. a TCP ACK of new data. */
  confirm(addr: Ipv6Address, now: number): void {
    const e = this.table.get(keyOf(addr));
    if (e !== undefined && e.state !== "INCOMPLETE") this.toReachable(e, now);
  }

  /** Whether `addr` has an entry that says it is a router (RFC 4861 §7.2.5 IsRouter). */
  isRouter(addr: Ipv6Address): boolean {
    return this.table.get(keyOf(addr))?.isRouter ?? false;
  }

  /** The entry for `addr`, as a snapshot, or undefined. */
  get(addr: Ipv6Address): NeighborEntryInfo | undefined {
    const e = this.table.get(keyOf(addr));
    return e === undefined ? undefined : info(e);
  }

  /** Removes the entry for `addr` and drops its queue. */
  remove(addr: Ipv6Address): void {
    const key = keyOf(addr);
    const e = this.table.get(key);
    if (e === undefined) return;
    this.queuedTotal -= e.queue.length;
    this.table.delete(key);
  }

  /** Every entry, as snapshots. */
  entries(): NeighborEntryInfo[] {
    return [...this.table.values()].map(info);
  }

  /** Runs the timers that are due: retransmits, probes, reachability expiry. */
  poll(now: number): void {
    const failed: Entry[] = [];
    for (const [key, e] of this.table) {
      if (e.deadline === undefined || e.deadline > now) continue;
      switch (e.state) {
        case "INCOMPLETE":
          if (e.probes < this.config.maxMulticastSolicit) {
            e.probes++;
            e.deadline = now + this.retransTimerMs;
            this.counters.inc("tx.solicit-multicast");
            this.solicitor(e.address, now);
          } else {
            // §7.2.2: resolution failed; the queued packets go with the entry.
            this.table.delete(key);
            this.queuedTotal -= e.queue.length;
            this.counters.inc("drop.resolution-failed", e.queue.length);
            this.counters.inc("resolution-failed");
            failed.push(e);
          }
          break;
        case "REACHABLE":
          // §7.3.3: ReachableTime elapsed without confirmation.
          this.toStale(e, now);
          break;
        case "DELAY":
          // §7.3.3: no confirmation within DELAY_FIRST_PROBE_TIME: start unicast probes.
          e.state = "PROBE";
          e.probes = 1;
          e.deadline = now + this.retransTimerMs;
          this.counters.inc("tx.solicit-unicast");
          this.solicitor(e.address, now, e.mac);
          break;
        case "PROBE":
          if (e.probes < this.config.maxUnicastSolicit) {
            e.probes++;
            e.deadline = now + this.retransTimerMs;
            this.counters.inc("tx.solicit-unicast");
            this.solicitor(e.address, now, e.mac);
          } else {
            // §7.3.3: the neighbor did not answer MAX_UNICAST_SOLICIT probes.
            this.table.delete(key);
            this.counters.inc("probe-failed");
          }
          break;
        case "STALE":
          e.deadline = undefined;
          break;
        default:
          assertNever(e.state);
      }
    }
    for (const e of failed) this.unreachable(e.address, e.queue, now);
  }

  /** The earliest time `poll` has work to do. */
  nextDeadline(): number | undefined {
    let next: number | undefined;
    for (const e of this.table.values()) {
      if (e.deadline !== undefined && (next === undefined || e.deadline < next)) next = e.deadline;
    }
    return next;
  }

  private create(key: string, addr: Ipv6Address, state: NeighborState, mac: MacAddress | undefined, now: number): Entry {
    const e: Entry = {
      address: addr.slice(0, 16),
      state,
      mac,
      isRouter: false,
      queue: [],
      probes: 0,
      deadline: undefined,
      touched: now,
    };
    this.table.set(key, e);
    return e;
  }

  /** Frees one slot when the table is full by evicting the least recently touched STALE entry. */
  private makeRoom(): boolean {
    if (this.table.size < this.config.maxEntries) return true;
    let victimKey: string | undefined;
    let victimTouched = Infinity;
    for (const [key, e] of this.table) {
      if (e.state === "STALE" && e.touched < victimTouched) {
        victimKey = key;
        victimTouched = e.touched;
      }
    }
    if (victimKey === undefined) return false;
    this.table.delete(victimKey);
    this.counters.inc("evicted");
    return true;
  }

  private pushQueue(e: Entry, packet: Uint8Array): void {
    if (e.queue.length >= this.config.maxQueuePerNeighbor) {
      // RFC 4861 §7.2.2: "the new arrival SHOULD replace the oldest entry".
      e.queue.shift();
      e.queue.push(packet);
      this.counters.inc("drop.queue-full");
      return;
    }
    if (this.queuedTotal >= this.config.maxQueuedPackets) {
      this.counters.inc("drop.queue-total");
      return;
    }
    e.queue.push(packet);
    this.queuedTotal++;
  }

  /** Hands the queue of a freshly resolved entry to the link, after the transition is complete. */
  private flushQueue(e: Entry): void {
    const queued = e.queue;
    e.queue = [];
    this.queuedTotal -= queued.length;
    if (queued.length > 0 && e.mac !== undefined) this.resolved(e.address, e.mac, queued);
  }

  private toReachable(e: Entry, now: number): void {
    e.state = "REACHABLE";
    e.probes = 0;
    e.deadline = now + this.reachableTimeMs;
    e.touched = now;
  }

  private toStale(e: Entry, now: number): void {
    e.state = "STALE";
    e.probes = 0;
    e.deadline = undefined;
    e.touched = now;
  }
}

function info(e: Entry): NeighborEntryInfo {
  return {
    address: e.address,
    state: e.state,
    mac: e.mac,
    isRouter: e.isRouter,
    queued: e.queue.length,
    deadline: e.deadline,
  };
}

function assertNever(x: never): never {
  throw new Error(`unexpected neighbor state ${String(x)}`);
}
