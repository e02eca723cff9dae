/**
 * The IPv6 layer of one interface (RFC 8200; addressing RFC 4291; source selection RFC 6724,
 * simplified; fragment handling RFC 8200 §4.5, RFC 5722, RFC 6946, RFC 7739). Read RFC 8200 §4 before
 * editing the extension-header code.
 *
 * What it owns: the interface's addresses (the modified EUI-64 link-local one, configured ones, and
 * the ones SLAAC adds) with their DAD and lifetime state, the multicast groups they imply (all-nodes
 * and one solicited-node group per address, joined on the link), the on-link prefix list and the
 * default router list (filled by net/ndp from Router Advertisements), and fragment reassembly.
 *
 * Ingress (`processPacket`): checks the fixed header, accepts only packets for our usable unicast
 * addresses or our groups, walks the extension-header chain and applies RFC 8200 §4: unknown options
 * by the two high bits of their type, a Routing header with Segments Left ≠ 0 refused, a fragment handed
 * to the reassembler (policy "ipv6": any overlap drops the datagram, RFC 5722), an unknown Next Header
 * refused with Parameter Problem code 1. ICMPv6 comes back as an `Ipv6Delivery` like any protocol. The
 * ICMPv6 errors this layer decides on are handed to the reporter net/icmpv6 registers (imports go down,
 * so this file cannot call icmpv6 itself).
 *
 * Egress (`dispatch`): chooses a source address and the next hop, writes the header in front of the
 * payload (in place, STYLE.md §9) and fragments when the packet exceeds the link MTU (Fragment header,
 * unpredictable 32-bit Identification from the seeded Random, RFC 7739).
 *
 * Bounds: at most `maxAddresses` addresses (16), `maxOnLinkPrefixes` (16) and `maxDefaultRouters` (8)
 * entries from RAs (more are ignored and counted); reassembly as configured (defaults below).
 */
import { dataView } from "../wire/bytes.ts";
import { WireError } from "../wire/error.ts";
import {
  ipv6Equals,
  ipv6PrefixMatch,
  isIpv6LinkLocal,
  isIpv6Multicast,
  type Ipv6Address,
} from "../wire/ip-address.ts";
import { IPV6_HEADER_LEN, IPV6_MAX_PAYLOAD_LEN, Ipv6View, emitIpv6Header } from "../wire/ipv6.ts";
import {
  IPV6_EXT,
  IPV6_FRAGMENT_HEADER_LEN,
  Ipv6ChainError,
  emitIpv6FragmentHeader,
  unknownOptionAction,
  walkIpv6Chain,
  type Ipv6ChainEntry,
} from "../wire/ipv6-ext.ts";
import { ipv6MulticastMac, type MacAddress } from "../wire/mac.ts";
import { allocPacket, expandFront } from "../wire/packet-buffer.ts";
import type { NeighborCache } from "../link/neighbor-cache.ts";
import type { Random } from "../time/random.ts";
import { Counters } from "../util/counters.ts";
import { Reassembler, type ReassemblyConfig } from "./reassembly.ts";
import { linkLocalFromMac } from "./slaac.ts";

/** ::, the unspecified address (RFC 4291 §2.5.2). Do not write into it. */
export const IPV6_UNSPECIFIED: Ipv6Address = new Uint8Array(16);
/** ff02::1, all nodes on the link (RFC 4291 §2.7.1). */
export const IPV6_ALL_NODES: Ipv6Address = Uint8Array.from([0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
/** ff02::2, all routers on the link (RFC 4291 §2.7.1). */
export const IPV6_ALL_ROUTERS: Ipv6Address = Uint8Array.from([0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
/** The Next Header values delivered upward by default: TCP, UDP, ICMPv6. */
export const IPV6_DEFAULT_UPPER_LAYERS: readonly number[] = [6, 17, 58];
/** Default hop limit (RFC 8200 §3 leaves it to the node; Linux and the IANA registry suggest 64). */
export const IPV6_DEFAULT_HOP_LIMIT = 64;

/** Reassembly defaults: RFC 8200 §4.5's 60 s timeout, and memory bounds of our choosing. */
export const IPV6_REASSEMBLY_DEFAULTS = {
  timeoutMs: 60_000,
  maxDatagrams: 64,
  maxBytes: 256 * 1024,
  maxFragmentsPerDatagram: 64,
} as const;

/** The solicited-node multicast address of `addr`: ff02::1:ff00:0/104 + its low 24 bits (RFC 4291 §2.7.1). */
export function solicitedNodeAddress(addr: Ipv6Address): Ipv6Address {
  const out = Uint8Array.from([0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0xff, 0, 0, 0]);
  out[13] = addr[13] as number;
  out[14] = addr[14] as number;
  out[15] = addr[15] as number;
  return out;
}

/** True for ::. */
export function isIpv6Unspecified(addr: Ipv6Address): boolean {
  for (let i = 0; i < 16; i++) if (addr[i] !== 0) return false;
  return true;
}

/** True for ff02::1:ffXX:XXXX. */
export function isSolicitedNodeAddress(addr: Ipv6Address): boolean {
  return ipv6PrefixMatch(addr, solicitedNodeAddress(addr), 104);
}

/** True for ::1 (RFC 4291 §2.5.3: never on a link). */
function isLoopback(addr: Ipv6Address): boolean {
  for (let i = 0; i < 15; i++) if (addr[i] !== 0) return false;
  return addr[15] === 1;
}

/** What the layer needs of the link (EthernetLink has all of it). */
export interface Ipv6LinkPort {
  readonly mac: MacAddress;
  readonly mtu: number;
  readonly neighbors: NeighborCache;
  /** Sends `packet` to `nextHop` (resolving it, or mapping a multicast destination, RFC 2464 §7). */
  dispatchIpv6(packet: Uint8Array, nextHop: Ipv6Address, now: number, segmentSize?: number): void;
  /** True when the device segments TCP super-frames (`dispatchIpv6` with a segment size). */
  readonly tso?: boolean;
  joinMulticast(mac: MacAddress): void;
  leaveMulticast(mac: MacAddress): void;
}

/** What the layer needs of a received frame (a `LinkIngress` has all of it). */
export interface Ipv6Ingress {
  readonly packet: Uint8Array;
  readonly linkMulticast: boolean;
  readonly linkBroadcast: boolean;
}

/** A packet for the layer above. Addresses and payload are views over the received bytes. */
export interface Ipv6Delivery {
  readonly family: 6;
  /** The upper-layer protocol (Next Header after the extension headers). */
  readonly protocol: number;
  readonly src: Ipv6Address;
  readonly dst: Ipv6Address;
  readonly hopLimit: number;
  /** The upper-layer message. */
  readonly payload: Uint8Array;
  /** The whole (reassembled) packet, IPv6 header first, for ICMPv6 errors that quote it. */
  readonly packet: Uint8Array;
  readonly dstKind: "unicast" | "multicast";
  /** Arrived in a link-layer multicast or broadcast frame (RFC 4443 §2.4 (e.3), (e.4)). */
  readonly linkMulticast: boolean;
}

/** The parts of a received packet an ICMPv6 error needs. */
export type Ipv6ErrorSubject = Pick<Ipv6Delivery, "src" | "dst" | "packet" | "dstKind" | "linkMulticast">;

/** The ICMPv6 errors this layer originates (RFC 4443 §3.3 code 1, §3.4 codes 0–2). */
export type Ipv6ProblemKind =
  | "erroneous-header-field"
  | "unrecognized-next-header"
  | "unrecognized-option"
  | "reassembly-time-exceeded";

/** Sends an ICMPv6 error about `subject`; net/icmpv6 registers one. `pointer` for Parameter Problem. */
export type Ipv6ErrorReporter = (subject: Ipv6ErrorSubject, kind: Ipv6ProblemKind, now: number, pointer?: number) => void;

/** The Neighbor Discovery side (net/ndp) the layer starts and polls. */
export interface NeighborDiscoveryHooks {
  start(now: number): void;
  poll(now: number): void;
  nextDeadline(): number | undefined;
}

/** RFC 4862 address states, plus "duplicate" for an address DAD refused (§5.4.5). */
export type Ipv6AddressState = "tentative" | "preferred" | "deprecated" | "duplicate";
/** Where an address came from. */
export type Ipv6AddressOrigin = "link-local" | "manual" | "slaac";

/** One address of the interface. Times are absolute ms; undefined means infinite. */
export interface Ipv6AddressInfo {
  readonly address: Ipv6Address;
  readonly prefixLength: number;
  readonly state: Ipv6AddressState;
  readonly origin: Ipv6AddressOrigin;
  readonly validUntil: number | undefined;
  readonly preferredUntil: number | undefined;
}

/** An on-link prefix (RFC 4861 §6.3.4, or a configured address's prefix). */
export interface OnLinkPrefix {
  readonly prefix: Ipv6Address;
  readonly prefixLength: number;
  readonly validUntil: number | undefined;
}

/** A default router (RFC 4861 §6.3.4) and when its Router Lifetime ends. */
export interface DefaultRouter {
  readonly address: Ipv6Address;
  readonly until: number;
}

/** Options of `dispatch`. */
export interface Ipv6DispatchOptions {
  /** Hop limit; default the current one (from RAs), 1 for multicast (RFC 3493 §5.2). ND uses 255. */
  readonly hopLimit?: number;
  /** Treat the destination as on-link whatever the prefix list says (ND replies, RFC 4861 §7.2.4). */
  readonly onLink?: boolean;
  /** Send with source :: (DAD NS, RS before an address is usable: RFC 4862 §5.4.2, RFC 4861 §6.3.7). */
  readonly unspecifiedSource?: boolean;
  /**
   * TCP segmentation offload: the payload is a TCP super-segment the device cuts into segments of
   * this many payload bytes; never fragmented, may exceed the MTU (up to 65535 payload bytes,
   * RFC 8200 §3). Only when the link has TSO (`link.tso`); refused and counted otherwise.
   */
  readonly segmentSize?: number | undefined;
}

/** Construction options; see the module comment for the defaults. */
export interface Ipv6Config {
  readonly link: Ipv6LinkPort;
  /** Defaults to `link.mac`. */
  readonly mac?: MacAddress;
  readonly addresses?: readonly { readonly address: Ipv6Address; readonly prefixLength: number }[];
  readonly random: Random;
  readonly hopLimit?: number;
  /** Run DAD on every address before using it (RFC 4862 §5.4). Default true. */
  readonly dad?: boolean;
  /** Send Router Solicitations at start (RFC 4861 §6.3.7). Default true. */
  readonly sendRouterSolicitation?: boolean;
  readonly reassembly?: Partial<Omit<ReassemblyConfig, "policy" | "counters">>;
  /** Next Header values delivered upward; others get Parameter Problem code 1. Default TCP, UDP, ICMPv6. */
  readonly upperLayers?: readonly number[];
  readonly maxAddresses?: number;
  readonly maxOnLinkPrefixes?: number;
  readonly maxDefaultRouters?: number;
}

interface AddressEntry {
  readonly address: Ipv6Address;
  readonly prefixLength: number;
  state: Ipv6AddressState;
  readonly origin: Ipv6AddressOrigin;
  validUntil: number | undefined;
  preferredUntil: number | undefined;
}

interface Context {
  readonly src: Ipv6Address;
  readonly dst: Ipv6Address;
  readonly hopLimit: number;
  readonly dstKind: "unicast" | "multicast";
  readonly linkMulticast: boolean;
  readonly reassembled: boolean;
}

/** The IPv6 layer of one interface. */
export class Ipv6Layer {
  /** Counters with prefix "ipv6". */
  readonly counters = new Counters("ipv6");
  private readonly rxPackets = this.counters.counter("rx.packets");
  private readonly txPackets = this.counters.counter("tx.packets");
  private readonly txTsoPackets = this.counters.counter("tx.tso-packets");
  readonly link: Ipv6LinkPort;
  readonly mac: MacAddress;
  readonly random: Random;
  /** The modified EUI-64 link-local address (RFC 4291 Appendix A, RFC 4862 §5.3). */
  readonly linkLocal: Ipv6Address;
  /** Whether addresses go through DAD (RFC 4862 §5.4). */
  readonly dad: boolean;
  readonly sendRouterSolicitation: boolean;
  private currentHopLimit: number;
  private raMtu: number | undefined;
  private readonly table: AddressEntry[] = [];
  private readonly prefixes: Array<{ prefix: Ipv6Address; prefixLength: number; validUntil: number | undefined }> = [];
  private readonly routers: Array<{ address: Ipv6Address; until: number }> = [];
  private readonly reassembler: Reassembler;
  private readonly upperLayers: ReadonlySet<number>;
  private readonly maxAddresses: number;
  private readonly maxOnLinkPrefixes: number;
  private readonly maxDefaultRouters: number;
  private reporter: Ipv6ErrorReporter = () => {};
  private nd: NeighborDiscoveryHooks | undefined;

  constructor(config: Ipv6Config) {
    this.link = config.link;
    this.mac = (config.mac ?? config.link.mac).slice(0, 6);
    this.random = config.random;
    this.dad = config.dad ?? true;
    this.sendRouterSolicitation = config.sendRouterSolicitation ?? true;
    this.currentHopLimit = config.hopLimit ?? IPV6_DEFAULT_HOP_LIMIT;
    this.upperLayers = new Set(config.upperLayers ?? IPV6_DEFAULT_UPPER_LAYERS);
    this.maxAddresses = config.maxAddresses ?? 16;
    this.maxOnLinkPrefixes = config.maxOnLinkPrefixes ?? 16;
    this.maxDefaultRouters = config.maxDefaultRouters ?? 8;
    this.reassembler = new Reassembler({
      ...IPV6_REASSEMBLY_DEFAULTS,
      ...config.reassembly,
      policy: "ipv6",
      counters: this.counters,
    });
    this.linkLocal = linkLocalFromMac(this.mac);
    // RFC 4291 §2.8: every node joins all-nodes.
    this.link.joinMulticast(ipv6MulticastMac(IPV6_ALL_NODES));
    const state: Ipv6AddressState = this.dad ? "tentative" : "preferred";
    this.addAddress(this.linkLocal, 64, "link-local", { state });
    for (const a of config.addresses ?? []) {
      // A configured copy of the link-local address (or a repeat) is simply already there.
      if (this.entry(a.address) !== undefined) continue;
      if (!this.addAddress(a.address, a.prefixLength, "manual", { state })) {
        throw new RangeError(`Ipv6Layer: configured address is multicast, unspecified, or one too many`);
      }
    }
  }

  /** Registers the ICMPv6 error sender (net/icmpv6 does this in its constructor). */
  setErrorReporter(fn: Ipv6ErrorReporter): void {
    this.reporter = fn;
  }

  /** Registers Neighbor Discovery (net/ndp does this in its constructor); `start`/`poll` drive it. */
  setNeighborDiscovery(nd: NeighborDiscoveryHooks): void {
    this.nd = nd;
  }

  /** Starts DAD on tentative addresses and router solicitation (through net/ndp, when registered). */
  start(now: number): void {
    this.nd?.start(now);
  }

  // ---- addresses -------------------------------------------------------------------------------

  /** Every address with its state. */
  get addresses(): readonly Ipv6AddressInfo[] {
    return this.table.map((e) => ({ ...e }));
  }

  /** The address entry for `addr`, if it is one of ours in any state. */
  findAddress(addr: Ipv6Address): Ipv6AddressInfo | undefined {
    const e = this.entry(addr);
    return e === undefined ? undefined : { ...e };
  }

  /** True when `addr` is one of our addresses that may be used (not tentative, not duplicate). */
  isLocal(addr: Ipv6Address): boolean {
    const e = this.entry(addr);
    return e !== undefined && usable(e);
  }

  /**
   * Adds an address and joins its solicited-node group (RFC 4862 §5.4.2: before DAD starts). False
   * when it is already present, multicast or unspecified, or the table is full.
   */
  addAddress(
    address: Ipv6Address,
    prefixLength: number,
    origin: Ipv6AddressOrigin,
    opts: { state?: Ipv6AddressState; validUntil?: number; preferredUntil?: number } = {},
  ): boolean {
    if (address.length !== 16 || isIpv6Multicast(address) || isIpv6Unspecified(address)) return false;
    if (prefixLength < 0 || prefixLength > 128) return false;
    if (this.entry(address) !== undefined) return false;
    if (this.table.length >= this.maxAddresses) {
      this.counters.inc("drop.address-table-full");
      return false;
    }
    this.table.push({
      address: address.slice(0, 16),
      prefixLength,
      origin,
      state: opts.state ?? (this.dad ? "tentative" : "preferred"),
      validUntil: opts.validUntil,
      preferredUntil: opts.preferredUntil,
    });
    this.link.joinMulticast(ipv6MulticastMac(solicitedNodeAddress(address)));
    return true;
  }

  /** Sets an address's state (DAD outcome, deprecation). */
  setAddressState(address: Ipv6Address, state: Ipv6AddressState): void {
    const e = this.entry(address);
    if (e !== undefined) e.state = state;
  }

  /** Sets an address's lifetimes (RFC 4862 §5.5.3 (e)); undefined is infinite. */
  setAddressLifetimes(
    address: Ipv6Address,
    validUntil: number | undefined,
    preferredUntil: number | undefined,
    now: number,
  ): void {
    const e = this.entry(address);
    if (e === undefined) return;
    e.validUntil = validUntil;
    e.preferredUntil = preferredUntil;
    // RFC 4862 §5.5.4: a deprecated address whose preferred lifetime is renewed is preferred again.
    if (e.state === "deprecated" && (preferredUntil === undefined || preferredUntil > now)) e.state = "preferred";
  }

  /** Removes an address and leaves its solicited-node group unless another address shares it. */
  removeAddress(address: Ipv6Address): void {
    const i = this.table.findIndex((e) => ipv6Equals(e.address, address));
    if (i === -1) return;
    this.table.splice(i, 1);
    const group = solicitedNodeAddress(address);
    if (!this.table.some((e) => ipv6Equals(solicitedNodeAddress(e.address), group))) {
      this.link.leaveMulticast(ipv6MulticastMac(group));
    }
  }

  // ---- parameters from Router Advertisements -----------------------------------------------------

  /** The hop limit for unicast packets (RFC 4861 §6.3.4 Cur Hop Limit). */
  get hopLimit(): number {
    return this.currentHopLimit;
  }

  /** Sets the hop limit (from an RA's Cur Hop Limit, when not 0). */
  setHopLimit(value: number): void {
    if (value >= 1 && value <= 255) this.currentHopLimit = value;
  }

  /** The MTU packets are fragmented to: the link's, or a smaller one an RA advertised. */
  get mtu(): number {
    return this.raMtu === undefined ? this.link.mtu : Math.min(this.raMtu, this.link.mtu);
  }

  /** RFC 4861 §6.3.4: an RA's MTU option, used when 1280 ≤ mtu ≤ the link's MTU. */
  setLinkMtu(mtu: number): boolean {
    if (mtu < 1280 || mtu > this.link.mtu) return false;
    this.raMtu = mtu;
    return true;
  }

  /** The on-link prefixes learned from RAs. */
  get onLinkPrefixes(): readonly OnLinkPrefix[] {
    return this.prefixes.map((p) => ({ ...p }));
  }

  /** Adds or refreshes an on-link prefix (RFC 4861 §6.3.4); false when the list is full. */
  updateOnLinkPrefix(prefix: Ipv6Address, prefixLength: number, validUntil: number | undefined): boolean {
    const p = this.prefixes.find((x) => x.prefixLength === prefixLength && ipv6PrefixMatch(x.prefix, prefix, prefixLength));
    if (p !== undefined) {
      p.validUntil = validUntil;
      return true;
    }
    if (this.prefixes.length >= this.maxOnLinkPrefixes) {
      this.counters.inc("drop.prefix-list-full");
      return false;
    }
    this.prefixes.push({ prefix: maskPrefix(prefix, prefixLength), prefixLength, validUntil });
    return true;
  }

  /** Removes an on-link prefix (valid lifetime 0, RFC 4861 §6.3.4). */
  removeOnLinkPrefix(prefix: Ipv6Address, prefixLength: number): void {
    const i = this.prefixes.findIndex((x) => x.prefixLength === prefixLength && ipv6PrefixMatch(x.prefix, prefix, prefixLength));
    if (i !== -1) this.prefixes.splice(i, 1);
  }

  /** The default router list (RFC 4861 §6.3.4). */
  get defaultRouters(): readonly DefaultRouter[] {
    return this.routers.map((r) => ({ ...r }));
  }

  /** Adds or refreshes a default router until `until`; false when the list is full. */
  updateDefaultRouter(address: Ipv6Address, until: number): boolean {
    const r = this.routers.find((x) => ipv6Equals(x.address, address));
    if (r !== undefined) {
      r.until = until;
      return true;
    }
    if (this.routers.length >= this.maxDefaultRouters) {
      this.counters.inc("drop.router-list-full");
      return false;
    }
    this.routers.push({ address: address.slice(0, 16), until });
    return true;
  }

  /** Removes a default router (Router Lifetime 0, or its IsRouter flag cleared, RFC 4861 §7.2.5). */
  removeDefaultRouter(address: Ipv6Address): void {
    const i = this.routers.findIndex((x) => ipv6Equals(x.address, address));
    if (i !== -1) this.routers.splice(i, 1);
  }

  // ---- egress ------------------------------------------------------------------------------------

  /**
   * The source address for `dst` (RFC 6724 §5, simplified): the destination itself when it is ours
   * (rule 1), then an address of the destination's scope (rule 2), preferred before deprecated
   * (rule 3), the longest common prefix (rule 8). Tentative and duplicate addresses never qualify.
   */
  selectSource(dst: Ipv6Address): Ipv6Address | undefined {
    let best: AddressEntry | undefined;
    const dstLinkScope = linkScope(dst);
    for (const e of this.table) {
      if (!usable(e)) continue;
      if (ipv6Equals(e.address, dst)) return e.address;
      if (best === undefined) {
        best = e;
        continue;
      }
      const scopeE = isIpv6LinkLocal(e.address) === dstLinkScope;
      const scopeB = isIpv6LinkLocal(best.address) === dstLinkScope;
      if (scopeE !== scopeB) {
        if (scopeE) best = e;
        continue;
      }
      const prefE = e.state === "preferred";
      const prefB = best.state === "preferred";
      if (prefE !== prefB) {
        if (prefE) best = e;
        continue;
      }
      if (commonPrefixLength(e.address, dst) > commonPrefixLength(best.address, dst)) best = e;
    }
    return best?.address;
  }

  /**
   * The next hop and source for `dst`: multicast, link-local and on-link destinations directly (the
   * configured addresses' prefixes and RA prefixes with the L flag, RFC 4861 §5.2), anything else
   * through a default router (§6.3.6: one whose neighbor entry is not INCOMPLETE first). Undefined when
   * there is no route or no usable source.
   */
  routeFor(dst: Ipv6Address, opts: { onLink?: boolean } = {}): { nextHop: Ipv6Address; src: Ipv6Address } | undefined {
    const src = this.selectSource(dst);
    if (src === undefined) return undefined;
    const nextHop = this.nextHopFor(dst, opts.onLink ?? false);
    return nextHop === undefined ? undefined : { nextHop, src };
  }

  /**
   * Sends `payload` (built in an `allocPacket` view, so the header goes in front in place) as one
   * packet, or as fragments when it exceeds the MTU. `src` undefined: chosen by `selectSource`; a given
   * `src` must be one of our usable addresses. Returns false (and counts) when nothing was sent.
   */
  dispatch(
    protocol: number,
    src: Ipv6Address | undefined,
    dst: Ipv6Address,
    payload: Uint8Array,
    now: number,
    opts: Ipv6DispatchOptions = {},
  ): boolean {
    const nextHop = this.nextHopFor(dst, opts.onLink ?? false);
    if (nextHop === undefined) {
      this.counters.inc("drop.no-route");
      return false;
    }
    let source: Ipv6Address;
    if (opts.unspecifiedSource) source = IPV6_UNSPECIFIED;
    else if (src === undefined || isIpv6Unspecified(src)) {
      const chosen = this.selectSource(dst);
      if (chosen === undefined) {
        this.counters.inc("drop.no-source");
        return false;
      }
      source = chosen;
    } else if (this.isLocal(src)) source = src;
    else {
      this.counters.inc("drop.bad-source");
      return false;
    }
    if (payload.length > IPV6_MAX_PAYLOAD_LEN) {
      this.counters.inc("drop.too-big");
      return false;
    }
    const hopLimit = opts.hopLimit ?? (isIpv6Multicast(dst) ? 1 : this.currentHopLimit);
    const header = { trafficClass: 0, flowLabel: 0, nextHeader: protocol, hopLimit, src: source, dst };
    if (opts.segmentSize !== undefined) {
      if (this.link.tso !== true) {
        this.counters.inc("drop.no-tso");
        return false;
      }
      const packet = expandFront(payload, IPV6_HEADER_LEN);
      emitIpv6Header(header, payload.length, packet, 0);
      this.txPackets.value++;
      this.txTsoPackets.value++;
      this.link.dispatchIpv6(packet, nextHop, now, opts.segmentSize);
      return true;
    }
    const mtu = this.mtu;
    if (IPV6_HEADER_LEN + payload.length <= mtu) {
      const packet = expandFront(payload, IPV6_HEADER_LEN);
      emitIpv6Header(header, payload.length, packet, 0);
      this.txPackets.value++;
      this.link.dispatchIpv6(packet, nextHop, now);
      return true;
    }
    // RFC 8200 §4.5: every fragment but the last carries a multiple of 8 bytes; we send no extension
    // headers, so the unfragmentable part is the fixed header alone.
    const maxData = Math.floor((mtu - IPV6_HEADER_LEN - IPV6_FRAGMENT_HEADER_LEN) / 8) * 8;
    if (maxData < 8) {
      this.counters.inc("drop.mtu-too-small");
      return false;
    }
    // RFC 7739 §5: unpredictable identifications.
    const identification = this.random.nextU32();
    const fragHeader = { ...header, nextHeader: IPV6_EXT.fragment };
    for (let offset = 0; offset < payload.length; offset += maxData) {
      const chunk = payload.subarray(offset, Math.min(offset + maxData, payload.length));
      const moreFragments = offset + chunk.length < payload.length;
      const packet = allocPacket(IPV6_HEADER_LEN + IPV6_FRAGMENT_HEADER_LEN + chunk.length);
      const at = emitIpv6Header(fragHeader, IPV6_FRAGMENT_HEADER_LEN + chunk.length, packet, 0);
      const dataAt = emitIpv6FragmentHeader(
        { kind: "fragment", nextHeader: protocol, fragmentOffset: offset, moreFragments, identification },
        packet,
        at,
      );
      packet.set(chunk, dataAt);
      this.counters.inc("tx.fragments");
      this.link.dispatchIpv6(packet, nextHop, now);
    }
    this.counters.inc("tx.fragmented");
    return true;
  }

  // ---- ingress -----------------------------------------------------------------------------------

  /**
   * Checks and demultiplexes one received IPv6 packet. Returns the delivery for the layer above, or
   * undefined when the packet was consumed (a fragment held for reassembly) or dropped (counted; an
   * ICMPv6 error sent through the reporter where RFC 8200 asks for one).
   */
  processPacket(ingress: Ipv6Ingress, now: number): Ipv6Delivery | undefined {
    const v = Ipv6View.check(ingress.packet);
    if (v instanceof WireError) {
      this.counters.inc(`drop.${v.reason}`);
      return undefined;
    }
    this.rxPackets.value++;
    const packet = ingress.packet.subarray(0, IPV6_HEADER_LEN + v.payloadLength);
    const src = v.src;
    const dst = v.dst;
    // RFC 4291 §2.7: multicast is never a source; §2.5.3: loopback never crosses a link.
    if (isIpv6Multicast(src) || isLoopback(src) || isLoopback(dst)) {
      this.counters.inc("drop.bad-address");
      return undefined;
    }
    let dstKind: "unicast" | "multicast";
    if (isIpv6Multicast(dst)) {
      if (!this.acceptsGroup(dst)) {
        this.counters.inc("drop.not-for-us");
        return undefined;
      }
      dstKind = "multicast";
    } else {
      // RFC 4862 §5.4: packets for a tentative address are silently discarded.
      if (!this.isLocal(dst)) {
        this.counters.inc("drop.not-for-us");
        return undefined;
      }
      dstKind = "unicast";
    }
    const ctx: Context = {
      src,
      dst,
      hopLimit: v.hopLimit,
      dstKind,
      linkMulticast: ingress.linkMulticast || ingress.linkBroadcast,
      reassembled: false,
    };
    return this.processChain(packet, v.nextHeader, IPV6_HEADER_LEN, 6, ctx, now);
  }

  /**
   * Processes the extension headers of `packet` from offset `at` (whose type is `nh`, named by the
   * Next Header field at `nhPointer`), then delivers the upper-layer message.
   */
  private processChain(
    packet: Uint8Array,
    nh: number,
    at: number,
    nhPointer: number,
    ctx: Context,
    now: number,
  ): Ipv6Delivery | undefined {
    const chain = walkIpv6Chain(nh, packet.subarray(at));
    const subject = (): Ipv6ErrorSubject => ({ ...ctx, packet });
    if (chain instanceof Ipv6ChainError) {
      this.counters.inc(`drop.ext-${chain.reason}`);
      if (chain.reason === "truncated") return undefined;
      // RFC 8200 §4.3: a Hop-by-Hop header that is not first is an unrecognized Next Header (code 1).
      const kind = chain.detail.includes("hop-by-hop header not first") ? "unrecognized-next-header" : "erroneous-header-field";
      this.reporter(subject(), kind, now, at + chain.pointer);
      return undefined;
    }
    let namedBy = nhPointer;
    for (const h of chain.headers) {
      switch (h.kind) {
        case "hop-by-hop":
        case "destination-options":
          for (const o of h.options) {
            if (o.kind !== "unknown") continue;
            // RFC 8200 §4.2: the two high-order bits of the option type say what to do.
            const pointer = at + (o.offset ?? h.offset);
            switch (unknownOptionAction(o.type)) {
              case "skip":
                continue;
              case "discard":
                this.counters.inc("drop.unknown-option");
                return undefined;
              case "discard-icmp":
                this.counters.inc("drop.unknown-option");
                this.reporter(subject(), "unrecognized-option", now, pointer);
                return undefined;
              case "discard-icmp-unless-multicast":
                this.counters.inc("drop.unknown-option");
                if (ctx.dstKind !== "multicast") this.reporter(subject(), "unrecognized-option", now, pointer);
                return undefined;
            }
          }
          break;
        case "routing":
          // RFC 8200 §4.4: a host routes nothing; Segments Left ≠ 0 is refused, pointing at Routing Type.
          if (h.segmentsLeft !== 0) {
            this.counters.inc("drop.routing-header");
            this.reporter(subject(), "erroneous-header-field", now, at + h.offset + 2);
            return undefined;
          }
          break;
        case "fragment":
          // RFC 6946 §4: an atomic fragment (offset 0, M clear) is processed as a whole packet.
          if (h.fragmentOffset === 0 && !h.moreFragments) {
            this.counters.inc("rx.atomic-fragment");
            break;
          }
          return this.processFragment(packet, h, at, namedBy, ctx, now);
      }
      namedBy = at + h.offset;
    }
    const upper = chain.upperLayer;
    if (upper === IPV6_EXT.noNextHeader) {
      // RFC 8200 §4.7: nothing follows.
      this.counters.inc("rx.no-next-header");
      return undefined;
    }
    if (!this.upperLayers.has(upper)) {
      // RFC 8200 §4: unrecognized Next Header → Parameter Problem code 1 pointing at that field.
      this.counters.inc("drop.unknown-next-header");
      this.reporter(subject(), "unrecognized-next-header", now, namedBy);
      return undefined;
    }
    return {
      family: 6,
      protocol: upper,
      src: ctx.src,
      dst: ctx.dst,
      hopLimit: ctx.hopLimit,
      payload: packet.subarray(at + chain.payloadOffset),
      packet,
      dstKind: ctx.dstKind,
      linkMulticast: ctx.linkMulticast,
    };
  }

  /** RFC 8200 §4.5 reassembly of one fragment; delivers the datagram when it completes. */
  private processFragment(
    packet: Uint8Array,
    h: Ipv6ChainEntry & { kind: "fragment" },
    at: number,
    namedBy: number,
    ctx: Context,
    now: number,
  ): Ipv6Delivery | undefined {
    if (ctx.reassembled) {
      this.counters.inc("drop.nested-fragment");
      return undefined;
    }
    const fragAt = at + h.offset;
    const data = packet.subarray(fragAt + IPV6_FRAGMENT_HEADER_LEN);
    const subject: Ipv6ErrorSubject = { ...ctx, packet };
    // RFC 8200 §4.5: M set and a length that is not a multiple of 8 → Parameter Problem code 0,
    // pointing at the Payload Length field.
    if (h.moreFragments && data.length % 8 !== 0) {
      this.counters.inc("drop.fragment-length");
      this.reporter(subject, "erroneous-header-field", now, 4);
      return undefined;
    }
    // RFC 8200 §4.5: a fragment that would make the reassembled payload exceed 65535 → Parameter
    // Problem code 0, pointing at the Fragment Offset field.
    if (fragAt - IPV6_HEADER_LEN + h.fragmentOffset + data.length > IPV6_MAX_PAYLOAD_LEN) {
      this.counters.inc("drop.fragment-too-big");
      this.reporter(subject, "erroneous-header-field", now, fragAt + 2);
      return undefined;
    }
    // RFC 8200 §4.5: fragments belong together by source, destination and Identification.
    const key = `${addrKey(ctx.src)}${addrKey(ctx.dst)}${h.identification}`;
    // The first fragment is kept whole: its unfragmentable part heads the reassembled packet, and an
    // ICMPv6 Time Exceeded quotes it (RFC 8200 §4.5). `namedBy` travels in it as the byte before.
    const first = h.fragmentOffset === 0 ? withPrefix(namedBy, fragAt, packet) : undefined;
    const r = this.reassembler.add(key, h.fragmentOffset, h.moreFragments, data, now, first);
    switch (r.kind) {
      case "pending":
        this.counters.inc("rx.fragments");
        return undefined;
      case "dropped":
        this.counters.inc(`drop.reassembly-${r.reason}`);
        return undefined;
      case "complete": {
        this.counters.inc("rx.reassembled");
        if (r.first === undefined) return undefined;
        const f = unwrapFirst(r.first);
        const unfragLen = f.fragAt;
        const next = f.packet[unfragLen] as number;
        if (unfragLen - IPV6_HEADER_LEN + r.data.length > IPV6_MAX_PAYLOAD_LEN) {
          this.counters.inc("drop.reassembled-too-big");
          return undefined;
        }
        const whole = new Uint8Array(unfragLen + r.data.length);
        whole.set(f.packet.subarray(0, unfragLen), 0);
        whole.set(r.data, unfragLen);
        // The field that named the Fragment header now names what followed it; the length shrinks.
        whole[f.namedBy] = next;
        dataView(whole).setUint16(4, whole.length - IPV6_HEADER_LEN);
        const src = whole.subarray(8, 24);
        const dst = whole.subarray(24, 40);
        return this.processChain(whole, next, unfragLen, f.namedBy, { ...ctx, src, dst, reassembled: true }, now);
      }
    }
  }

  /** Expired reassemblies (Time Exceeded code 1 when the first fragment came), address and list lifetimes, ND. */
  poll(now: number): void {
    for (const expired of this.reassembler.poll(now)) {
      this.counters.inc("drop.reassembly-timeout");
      // RFC 8200 §4.5: Time Exceeded code 1 only if the first fragment arrived; quote it.
      if (expired.first === undefined) continue;
      const f = unwrapFirst(expired.first);
      const packet = f.packet;
      const dst = packet.subarray(24, 40);
      this.reporter(
        {
          src: packet.subarray(8, 24),
          dst,
          packet,
          dstKind: isIpv6Multicast(dst) ? "multicast" : "unicast",
          linkMulticast: false,
        },
        "reassembly-time-exceeded",
        now,
      );
    }
    for (let i = this.table.length - 1; i >= 0; i--) {
      const e = this.table[i] as AddressEntry;
      if (e.validUntil !== undefined && e.validUntil <= now) {
        // RFC 4862 §5.5.4: an invalid address is removed from the interface.
        this.counters.inc("address-expired");
        this.removeAddress(e.address);
        continue;
      }
      if (e.state === "preferred" && e.preferredUntil !== undefined && e.preferredUntil <= now) e.state = "deprecated";
    }
    for (let i = this.routers.length - 1; i >= 0; i--) {
      if ((this.routers[i] as { until: number }).until <= now) this.routers.splice(i, 1);
    }
    for (let i = this.prefixes.length - 1; i >= 0; i--) {
      const until = (this.prefixes[i] as OnLinkPrefix).validUntil;
      if (until !== undefined && until <= now) this.prefixes.splice(i, 1);
    }
    this.nd?.poll(now);
  }

  /** What reassembly holds now (datagrams in progress, bytes counted against `maxBytes`), for tests and the fuzzer. */
  reassemblyUsage(): { readonly datagrams: number; readonly bytes: number } {
    return { datagrams: this.reassembler.size, bytes: this.reassembler.bytesHeld };
  }

  /** The earliest time `poll` has work to do. */
  nextDeadline(): number | undefined {
    // Asked after every batch of frames: a plain fold, no closure per call.
    let next = this.reassembler.nextDeadline();
    for (const e of this.table) {
      next = earlierDeadline(next, e.validUntil);
      if (e.state === "preferred") next = earlierDeadline(next, e.preferredUntil);
    }
    for (const r of this.routers) next = earlierDeadline(next, r.until);
    for (const p of this.prefixes) next = earlierDeadline(next, p.validUntil);
    return earlierDeadline(next, this.nd?.nextDeadline());
  }

  // ---- internals ---------------------------------------------------------------------------------

  private entry(addr: Ipv6Address): AddressEntry | undefined {
    for (const e of this.table) if (ipv6Equals(e.address, addr)) return e;
    return undefined;
  }

  /** All-nodes and the solicited-node group of any of our addresses (tentative ones too, RFC 4862 §5.4.2). */
  private acceptsGroup(dst: Ipv6Address): boolean {
    if (ipv6Equals(dst, IPV6_ALL_NODES)) return true;
    if (!isSolicitedNodeAddress(dst)) return false;
    for (const e of this.table) if (e.state !== "duplicate" && ipv6Equals(solicitedNodeAddress(e.address), dst)) return true;
    return false;
  }

  private nextHopFor(dst: Ipv6Address, onLink: boolean): Ipv6Address | undefined {
    if (onLink || isIpv6Multicast(dst) || isIpv6LinkLocal(dst) || this.isOnLink(dst)) return dst;
    let fallback: Ipv6Address | undefined;
    for (const r of this.routers) {
      const n = this.link.neighbors.get(r.address);
      // RFC 4861 §6.3.6: routers known (or probably) reachable first.
      if (n !== undefined && n.state !== "INCOMPLETE") return r.address;
      fallback ??= r.address;
    }
    return fallback;
  }

  private isOnLink(dst: Ipv6Address): boolean {
    for (const e of this.table) {
      if (e.origin === "manual" && e.state !== "duplicate" && ipv6PrefixMatch(e.address, dst, e.prefixLength)) return true;
    }
    for (const p of this.prefixes) if (ipv6PrefixMatch(p.prefix, dst, p.prefixLength)) return true;
    return false;
  }
}

function usable(e: AddressEntry): boolean {
  return e.state === "preferred" || e.state === "deprecated";
}

/** Link-local scope: fe80::/10 unicast, or multicast with scope 1 or 2 (RFC 4291 §2.7). */
function linkScope(addr: Ipv6Address): boolean {
  if (isIpv6Multicast(addr)) return ((addr[1] as number) & 0x0f) <= 2;
  return isIpv6LinkLocal(addr);
}

function commonPrefixLength(a: Ipv6Address, b: Ipv6Address): number {
  for (let i = 0; i < 16; i++) {
    const x = (a[i] as number) ^ (b[i] as number);
    if (x !== 0) return i * 8 + Math.clz32(x) - 24;
  }
  return 128;
}

function maskPrefix(prefix: Ipv6Address, length: number): Ipv6Address {
  const out = new Uint8Array(16);
  for (let i = 0, bits = length; i < 16 && bits > 0; i++, bits -= 8) {
    out[i] = (prefix[i] as number) & (bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff);
  }
  return out;
}

function addrKey(addr: Ipv6Address): string {
  return String.fromCharCode(...addr.subarray(0, 16));
}

/**
 * The first fragment as handed to the reassembler: a copy of the packet preceded by four bytes, the
 * offset of the Next Header field that names the Fragment header and the Fragment header's offset
 * (16 bits each), so completion and timeout need not walk the chain again.
 */
function withPrefix(namedBy: number, fragAt: number, packet: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + packet.length);
  const view = dataView(out);
  view.setUint16(0, namedBy);
  view.setUint16(2, fragAt);
  out.set(packet, 4);
  return out;
}

function unwrapFirst(first: Uint8Array): { namedBy: number; fragAt: number; packet: Uint8Array } {
  const view = dataView(first);
  return { namedBy: view.getUint16(0), fragAt: view.getUint16(2), packet: first.subarray(4) };
}

/** The earlier of two optional deadlines. */
function earlierDeadline(a: number | undefined, b: number | undefined): number | undefined {
  if (b === undefined) return a;
  return a === undefined || b < a ? b : a;
}
