/**
 * Neighbor Discovery for a host (RFC 4861) and stateless address autoconfiguration with duplicate
 * address detection (RFC 4862). Read RFC 4861 §6.3, §7 and RFC 4862 §5.4, §5.5 before editing.
 *
 * What it owns: the timers of DAD (one NS from :: per tentative address, DupAddrDetectTransmits = 1,
 * then RetransTimer of silence) and of router solicitation (up to MAX_RTR_SOLICITATIONS, 4 s apart,
 * after a random delay), and the rules that turn received ND messages into state kept elsewhere:
 * neighbor entries (link/neighbor-cache), the default router list, on-link prefixes, hop limit, MTU
 * and SLAAC addresses (net/ipv6). It sends through `Ipv6Layer.dispatch` with hop limit 255.
 *
 * Validation (RFC 4861 §6.1, §7.1; the codec already checked code 0, lengths, option lengths and
 * multicast targets): hop limit 255 on every ND message; NS from :: only to a solicited-node group and
 * without a Source Link-Layer Address option; NA to a multicast destination never Solicited; RA only
 * from a link-local source. Invalid messages are dropped and counted (`drop.invalid-<type>`).
 *
 * DAD (RFC 4862 §5.4.3, §5.4.4): for a tentative address, an NS from :: or any NA is a conflict; the
 * address becomes "duplicate" and is never used. An NS from a unicast source for a tentative address
 * is ignored. Hosts ignore Router Solicitations (§6.2.6 is for routers) and Redirects (not
 * implemented: counted and ignored, so traffic keeps using the default router).
 */
import { findNdpOption, type NdpLinkLayerAddressOption, type NdpOption } from "../wire/ndp.ts";
import { emitIcmpv6, icmpv6Length, IP_PROTOCOL_ICMPV6, type Icmpv6Repr } from "../wire/icmpv6.ts";
import type {
  Icmpv6NeighborAdvertisement,
  Icmpv6NeighborSolicitation,
  Icmpv6RouterAdvertisement,
} from "../wire/icmpv6.ts";
import { ipv6Equals, isIpv6LinkLocal, type Ipv6Address } from "../wire/ip-address.ts";
import { MAC_ADDRESS_LEN, type MacAddress } from "../wire/mac.ts";
import { allocPacket } from "../wire/packet-buffer.ts";
import type { Random } from "../time/random.ts";
import { Counters } from "../util/counters.ts";
import {
  IPV6_ALL_NODES,
  IPV6_ALL_ROUTERS,
  IPV6_UNSPECIFIED,
  isIpv6Unspecified,
  isSolicitedNodeAddress,
  solicitedNodeAddress,
  type Ipv6Delivery,
  type Ipv6Layer,
  type NeighborDiscoveryHooks,
} from "./ipv6.ts";
import { SLAAC_PREFIX_LEN, addressFromPrefix, lifetimeDeadline, updatedValidLifetime } from "./slaac.ts";

/** RFC 4861 §10 host constants (times in ms) and RFC 4862 §5.1 DupAddrDetectTransmits. */
export const NDP_HOST_CONSTANTS = {
  maxRtrSolicitationDelayMs: 1_000,
  rtrSolicitationIntervalMs: 4_000,
  maxRtrSolicitations: 3,
  minRandomFactor: 0.5,
  maxRandomFactor: 1.5,
  dupAddrDetectTransmits: 1,
} as const;

/** The hop limit every ND message is sent with and must arrive with (RFC 4861 §6.1, §7.1). */
const ND_HOP_LIMIT = 255;

/** Construction options. */
export interface NdpConfig {
  readonly ipv6: Ipv6Layer;
  /** Defaults to a fork of the IPv6 layer's Random ("ndp"). */
  readonly random?: Random;
  /** RFC 4862 §5.1. Default 1. */
  readonly dupAddrDetectTransmits?: number;
}

interface DadState {
  readonly address: Ipv6Address;
  transmitsLeft: number;
  deadline: number;
}

/** Neighbor Discovery and SLAAC for the interface of one `Ipv6Layer`. */
export class Ndp implements NeighborDiscoveryHooks {
  /** Counters with prefix "ndp". */
  readonly counters = new Counters("ndp");
  private readonly ipv6: Ipv6Layer;
  private readonly random: Random;
  private readonly dupAddrDetectTransmits: number;
  private readonly dad = new Map<string, DadState>();
  private rsSent = 0;
  private rsDeadline: number | undefined;
  /** RS waits for the link-local address to pass DAD (it is then the RS source, RFC 4861 §6.3.7). */
  private rsAwaitsLinkLocal = false;
  private rsDone = false;
  private baseReachableTime: number | undefined;

  constructor(config: NdpConfig) {
    this.ipv6 = config.ipv6;
    this.random = config.random ?? config.ipv6.random.fork("ndp");
    this.dupAddrDetectTransmits = config.dupAddrDetectTransmits ?? NDP_HOST_CONSTANTS.dupAddrDetectTransmits;
    this.ipv6.link.neighbors.setSolicitor((target, now, unicastTo) => this.solicit(target, now, unicastTo));
    this.ipv6.setNeighborDiscovery(this);
  }

  /** Router solicitations sent so far. */
  get routerSolicitationsSent(): number {
    return this.rsSent;
  }

  /**
   * Starts DAD for every tentative address (RFC 4862 §5.4.2: after a random delay of up to
   * MAX_RTR_SOLICITATION_DELAY) and router solicitation (RFC 4861 §6.3.7).
   */
  start(now: number): void {
    for (const a of this.ipv6.addresses) {
      if (a.state === "tentative") this.startDad(a.address, now + this.randomDelay());
    }
    if (!this.ipv6.sendRouterSolicitation) return;
    this.rsSent = 0;
    this.rsDone = false;
    if (this.ipv6.findAddress(this.ipv6.linkLocal)?.state === "tentative") this.rsAwaitsLinkLocal = true;
    else this.rsDeadline = now + this.randomDelay();
  }

  /** Runs DAD and router solicitation timers. */
  poll(now: number): void {
    for (const [key, d] of [...this.dad]) {
      if (d.deadline > now) continue;
      if (d.transmitsLeft > 0) {
        d.transmitsLeft--;
        d.deadline = now + this.ipv6.link.neighbors.retransTimer;
        this.sendDadSolicitation(d.address, now);
        continue;
      }
      // RFC 4862 §5.4: RetransTimer passed after the last NS without a conflict: the address is ours.
      this.dad.delete(key);
      this.ipv6.setAddressState(d.address, "preferred");
      this.counters.inc("dad.ok");
      if (this.rsAwaitsLinkLocal && ipv6Equals(d.address, this.ipv6.linkLocal)) this.releaseRs(now);
    }
    if (this.rsDeadline !== undefined && this.rsDeadline <= now && !this.rsDone) {
      this.sendRouterSolicitation(now);
      this.rsSent++;
      // RFC 4861 §6.3.7: at most MAX_RTR_SOLICITATIONS, RTR_SOLICITATION_INTERVAL apart.
      this.rsDeadline =
        this.rsSent < NDP_HOST_CONSTANTS.maxRtrSolicitations ? now + NDP_HOST_CONSTANTS.rtrSolicitationIntervalMs : undefined;
    }
  }

  /** The earliest time `poll` has work to do. */
  nextDeadline(): number | undefined {
    let next = this.rsDone ? undefined : this.rsDeadline;
    for (const d of this.dad.values()) if (next === undefined || d.deadline < next) next = d.deadline;
    return next;
  }

  /**
   * Starts DAD for a tentative address at `at` (RFC 4862 §5.4.2). The address must already be in the
   * IPv6 layer's table, so that its solicited-node group is joined.
   */
  startDad(address: Ipv6Address, at: number): void {
    this.dad.set(addrKey(address), { address: address.slice(0, 16), transmitsLeft: this.dupAddrDetectTransmits, deadline: at });
  }

  /**
   * Handles an ND message (RS, RA, NS, NA, Redirect) that net/icmpv6 parsed, checksum verified. True
   * when it was ND (consumed, whatever the outcome), false for any other ICMPv6 message.
   */
  processIcmpv6(d: Ipv6Delivery, msg: Icmpv6Repr, now: number): boolean {
    switch (msg.kind) {
      case "router-solicitation":
      case "router-advertisement":
      case "neighbor-solicitation":
      case "neighbor-advertisement":
      case "redirect":
        break;
      default:
        return false;
    }
    // RFC 4861 §6.1.1, §6.1.2, §7.1.1, §7.1.2, §8.1: hop limit 255 proves the sender is on-link.
    if (d.hopLimit !== ND_HOP_LIMIT) {
      this.counters.inc(`drop.invalid-${msg.kind}`);
      this.counters.inc("drop.hop-limit");
      return true;
    }
    switch (msg.kind) {
      case "router-solicitation":
        this.counters.inc("rx.rs-ignored");
        return true;
      case "redirect":
        this.counters.inc("rx.redirect-ignored");
        return true;
      case "router-advertisement":
        this.processRouterAdvertisement(d, msg, now);
        return true;
      case "neighbor-solicitation":
        this.processNeighborSolicitation(d, msg, now);
        return true;
      case "neighbor-advertisement":
        this.processNeighborAdvertisement(d, msg, now);
        return true;
    }
  }

  // ---- receive -----------------------------------------------------------------------------------

  private processNeighborSolicitation(d: Ipv6Delivery, msg: Icmpv6NeighborSolicitation, now: number): void {
    const fromUnspecified = isIpv6Unspecified(d.src);
    const slla = linkLayerOption(msg.options, "source-link-layer-address");
    // RFC 4861 §7.1.1: from :: only to a solicited-node group, and without SLLA.
    if (fromUnspecified && (!isSolicitedNodeAddress(d.dst) || slla !== undefined)) {
      this.counters.inc("drop.invalid-neighbor-solicitation");
      return;
    }
    if (slla !== undefined && slla.address.length < MAC_ADDRESS_LEN) {
      this.counters.inc("drop.invalid-neighbor-solicitation");
      return;
    }
    const ours = this.ipv6.findAddress(msg.target);
    // RFC 4861 §7.2.3: a target that is not ours is silently discarded.
    if (ours === undefined || ours.state === "duplicate") {
      this.counters.inc("rx.ns-not-ours");
      return;
    }
    if (ours.state === "tentative") {
      // RFC 4862 §5.4.3: from :: it is another node's DAD for the same address; from a unicast
      // source it is address resolution, which a tentative address does not answer.
      if (fromUnspecified) this.dadConflict(ours.address, now, "ns");
      else this.counters.inc("rx.ns-for-tentative");
      return;
    }
    this.counters.inc("rx.ns");
    if (!fromUnspecified && slla !== undefined) {
      this.ipv6.link.neighbors.processSolicitation(d.src, slla.address.subarray(0, MAC_ADDRESS_LEN), now);
    }
    // RFC 4861 §7.2.4: solicited unless the source was ::, then to all-nodes; Override set (not
    // anycast); Router clear (a host); our link-layer address in a TLLA option.
    const reply: Icmpv6Repr = {
      kind: "neighbor-advertisement",
      router: false,
      solicited: !fromUnspecified,
      override: true,
      target: ours.address,
      options: [{ kind: "target-link-layer-address", address: this.ipv6.mac }],
    };
    if (this.send(reply, ours.address, fromUnspecified ? IPV6_ALL_NODES : d.src, now)) this.counters.inc("tx.na");
  }

  private processNeighborAdvertisement(d: Ipv6Delivery, msg: Icmpv6NeighborAdvertisement, now: number): void {
    // RFC 4861 §7.1.2: a solicited advertisement is never multicast.
    if (d.dstKind === "multicast" && msg.solicited) {
      this.counters.inc("drop.invalid-neighbor-advertisement");
      return;
    }
    const tlla = linkLayerOption(msg.options, "target-link-layer-address");
    if (tlla !== undefined && tlla.address.length < MAC_ADDRESS_LEN) {
      this.counters.inc("drop.invalid-neighbor-advertisement");
      return;
    }
    const ours = this.ipv6.findAddress(msg.target);
    if (ours !== undefined) {
      // RFC 4862 §5.4.4: an NA for a tentative address means it is in use; for an assigned address
      // someone else claims it (logged by the counter, nothing changes, RFC 4861 §7.2.5).
      if (ours.state === "tentative") this.dadConflict(ours.address, now, "na");
      else this.counters.inc("rx.na-for-our-address");
      return;
    }
    this.counters.inc("rx.na");
    const neighbors = this.ipv6.link.neighbors;
    const wasRouter = neighbors.isRouter(msg.target);
    const outcome = neighbors.processAdvertisement(
      msg.target,
      tlla?.address.subarray(0, MAC_ADDRESS_LEN),
      { solicited: msg.solicited, override: msg.override, router: msg.router },
      now,
    );
    // RFC 4861 §7.2.5: IsRouter going from true to false takes the node off the default router list.
    if (outcome === "updated" && wasRouter && !msg.router) this.ipv6.removeDefaultRouter(msg.target);
  }

  private processRouterAdvertisement(d: Ipv6Delivery, msg: Icmpv6RouterAdvertisement, now: number): void {
    // RFC 4861 §6.1.2: routers send from their link-local address.
    if (!isIpv6LinkLocal(d.src)) {
      this.counters.inc("drop.invalid-router-advertisement");
      return;
    }
    this.counters.inc("rx.ra");
    const ipv6 = this.ipv6;
    const neighbors = ipv6.link.neighbors;
    // RFC 4861 §6.3.4, field by field; 0 means "unspecified by this router".
    if (msg.curHopLimit !== 0) ipv6.setHopLimit(msg.curHopLimit);
    if (msg.routerLifetime !== 0) ipv6.updateDefaultRouter(d.src, now + msg.routerLifetime * 1000);
    else ipv6.removeDefaultRouter(d.src);
    if (msg.reachableTime !== 0 && msg.reachableTime !== this.baseReachableTime) {
      // RFC 4861 §6.3.2: ReachableTime is BaseReachableTime times a uniform random factor in [0.5, 1.5).
      this.baseReachableTime = msg.reachableTime;
      const span = NDP_HOST_CONSTANTS.maxRandomFactor - NDP_HOST_CONSTANTS.minRandomFactor;
      neighbors.setReachableTime(
        Math.round(msg.reachableTime * (NDP_HOST_CONSTANTS.minRandomFactor + span * this.random.nextFloat())),
      );
    }
    if (msg.retransTimer !== 0) neighbors.setRetransTimer(msg.retransTimer);
    const slla = linkLayerOption(msg.options, "source-link-layer-address");
    if (slla !== undefined && slla.address.length >= MAC_ADDRESS_LEN) {
      neighbors.processLinkLayerHint(d.src, slla.address.subarray(0, MAC_ADDRESS_LEN), now, true);
    }
    const mtu = findNdpOption(msg.options, "mtu");
    if (mtu !== undefined && !ipv6.setLinkMtu(mtu.mtu)) this.counters.inc("rx.ra-mtu-ignored");
    for (const option of msg.options) {
      if (option.kind === "prefix-information") this.processPrefix(option, now);
    }
    // RFC 4861 §6.3.7: a valid RA with a non-zero Router Lifetime ends solicitation.
    if (msg.routerLifetime !== 0) {
      this.rsDone = true;
      this.rsDeadline = undefined;
      this.rsAwaitsLinkLocal = false;
    }
  }

  /** A Prefix Information option: on-link (RFC 4861 §6.3.4) and autonomous (RFC 4862 §5.5.3). */
  private processPrefix(
    p: Extract<Icmpv6RouterAdvertisement["options"][number], { kind: "prefix-information" }>,
    now: number,
  ): void {
    const ipv6 = this.ipv6;
    // RFC 4861 §6.3.4, RFC 4862 §5.5.3 (b): the link-local prefix is ignored.
    if (isIpv6LinkLocal(p.prefix)) {
      this.counters.inc("rx.prefix-link-local-ignored");
      return;
    }
    if (p.onLink) {
      if (p.validLifetime === 0) ipv6.removeOnLinkPrefix(p.prefix, p.prefixLength);
      else ipv6.updateOnLinkPrefix(p.prefix, p.prefixLength, lifetimeDeadline(p.validLifetime, now));
    }
    if (!p.autonomous) return;
    // RFC 4862 §5.5.3 (c): a preferred lifetime above the valid lifetime is an error.
    if (p.preferredLifetime > p.validLifetime) {
      this.counters.inc("rx.prefix-bad-lifetimes");
      return;
    }
    // RFC 4862 §5.5.3 (d): prefix plus the 64-bit interface identifier must make 128 bits.
    if (p.prefixLength !== SLAAC_PREFIX_LEN) {
      this.counters.inc("rx.prefix-bad-length");
      return;
    }
    const address = addressFromPrefix(p.prefix, ipv6.mac);
    const existing = ipv6.findAddress(address);
    const preferredUntil = lifetimeDeadline(p.preferredLifetime, now);
    if (existing === undefined) {
      if (p.validLifetime === 0) return;
      const state = ipv6.dad ? "tentative" : "preferred";
      const validUntil = lifetimeDeadline(p.validLifetime, now);
      if (!ipv6.addAddress(address, SLAAC_PREFIX_LEN, "slaac", { state, validUntil, preferredUntil })) return;
      this.counters.inc("slaac.address");
      // RFC 4862 §5.4.2: the random delay is for interface initialization; here DAD starts at once.
      if (state === "tentative") {
        this.startDad(address, now);
        this.poll(now);
      }
      return;
    }
    if (existing.origin !== "slaac") return;
    // RFC 4862 §5.5.3 (e): preferred lifetime as advertised; valid lifetime by the two-hour rule.
    ipv6.setAddressLifetimes(address, updatedValidLifetime(existing.validUntil, p.validLifetime, now), preferredUntil, now);
  }

  private dadConflict(address: Ipv6Address, now: number, how: "ns" | "na"): void {
    this.dad.delete(addrKey(address));
    this.ipv6.setAddressState(address, "duplicate");
    this.counters.inc(`dad.duplicate-${how}`);
    // RFC 4862 §5.4.5: the address is not used. A duplicate link-local address leaves RS to go from ::.
    if (this.rsAwaitsLinkLocal && ipv6Equals(address, this.ipv6.linkLocal)) this.releaseRs(now);
  }

  private releaseRs(now: number): void {
    this.rsAwaitsLinkLocal = false;
    if (!this.rsDone) this.rsDeadline = now;
  }

  // ---- send --------------------------------------------------------------------------------------

  /** The neighbor cache's solicitor: address resolution (multicast) or a NUD probe (unicast). */
  private solicit(target: Ipv6Address, now: number, unicastTo: MacAddress | undefined): void {
    // RFC 4861 §7.2.2: multicast to the target's solicited-node group; §7.3.3: probes are unicast.
    const dst = unicastTo === undefined ? solicitedNodeAddress(target) : target;
    // §7.2.2 prefers the source of the packet that prompted the solicitation; the address we would
    // use to reach the target is that address (it is chosen the same way), so the neighbor learns
    // the address it is about to answer and needs no solicitation of its own.
    const src = this.ipv6.selectSource(target) ?? this.ipv6.selectSource(dst);
    if (src === undefined) {
      this.counters.inc("drop.ns-no-source");
      return;
    }
    const ns: Icmpv6Repr = {
      kind: "neighbor-solicitation",
      target,
      options: [{ kind: "source-link-layer-address", address: this.ipv6.mac }],
    };
    if (this.send(ns, src, dst, now)) this.counters.inc("tx.ns");
  }

  /** RFC 4862 §5.4.2: from ::, to the target's solicited-node group, no options. */
  private sendDadSolicitation(target: Ipv6Address, now: number): void {
    const ns: Icmpv6Repr = { kind: "neighbor-solicitation", target, options: [] };
    if (this.send(ns, undefined, solicitedNodeAddress(target), now)) this.counters.inc("tx.dad-ns");
  }

  /** RFC 4861 §6.3.7: to all-routers, from the link-local address with SLLA, or from :: without. */
  private sendRouterSolicitation(now: number): void {
    const ll = this.ipv6.linkLocal;
    const src = this.ipv6.isLocal(ll) ? ll : undefined;
    const rs: Icmpv6Repr = {
      kind: "router-solicitation",
      options: src === undefined ? [] : [{ kind: "source-link-layer-address", address: this.ipv6.mac }],
    };
    if (this.send(rs, src, IPV6_ALL_ROUTERS, now)) this.counters.inc("tx.rs");
  }

  /** Builds `repr` in a fresh packet buffer and sends it with hop limit 255; `src` undefined is ::. */
  private send(repr: Icmpv6Repr, src: Ipv6Address | undefined, dst: Ipv6Address, now: number): boolean {
    const buf = allocPacket(icmpv6Length(repr));
    emitIcmpv6(repr, buf, 0, { family: 6, src: src ?? IPV6_UNSPECIFIED, dst });
    return this.ipv6.dispatch(IP_PROTOCOL_ICMPV6, src, dst, buf, now, {
      hopLimit: ND_HOP_LIMIT,
      onLink: true,
      unspecifiedSource: src === undefined,
    });
  }

  private randomDelay(): number {
    return this.random.nextInt(NDP_HOST_CONSTANTS.maxRtrSolicitationDelayMs + 1);
  }
}

function addrKey(addr: Ipv6Address): string {
  return String.fromCharCode(...addr.subarray(0, 16));
}

/**
 * The first link-layer address option of `kind`. (`findNdpOption` cannot narrow to it: the option's
 * `kind` is a union of both names, so `Extract` yields never.)
 */
function linkLayerOption(
  options: readonly NdpOption[],
  kind: NdpLinkLayerAddressOption["kind"],
): NdpLinkLayerAddressOption | undefined {
  for (const o of options) if ((o.kind === "source-link-layer-address" || o.kind === "target-link-layer-address") && o.kind === kind) return o;
  return undefined;
}
