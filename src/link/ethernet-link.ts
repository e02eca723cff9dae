/**
 * The Ethernet interface: frames in, IP packets up; IP packets down, frames out (RFC 894 IPv4 over
 * Ethernet, RFC 1042 IPv4 and ARP over IEEE 802.3/LLC/SNAP, RFC 2464 IPv6 over Ethernet, RFC 826 ARP).
 *
 * Owns: the receive filter, ARP packet handling (answers for our own addresses only, RFC 826; the
 * cache policy lives in arp-cache.ts), and next-hop resolution on send through the ARP cache (IPv4)
 * and the neighbor cache (IPv6). Guarantees: never throws on a received frame; every frame it does
 * not pass up is counted under `link.` (`drop.<reason>`, `rx.llc`, `rx.arp`); frames it sends are at
 * least 60 bytes (IEEE 802.3 §4.4.2 minimum without FCS), zero-padded.
 *
 * Receive filter: our MAC, broadcast, and joined multicast MACs (01:00:5e:00:00:01, the IPv4
 * all-hosts group, is joined from the start: RFC 1112 §6.4 maps 224.0.0.1 to it). 802.3/LLC frames
 * are classified before the filter, so bridge traffic (STP BPDUs to 01:80:c2:00:00:00) is counted as
 * `rx.llc` rather than as not-for-us. VLAN-tagged frames are counted (`drop.vlan`): no VLAN is configured.
 *
 * Egress: `dispatchIpv4/6` take a packet built with src/wire/packet-buffer.ts's `allocPacket` (headers
 * in front of the payload), grow it by 14 bytes at the front, and emit it.
 */
import { Counters } from "../util/counters.ts";
import { allocPacket, expandFront } from "../wire/packet-buffer.ts";
import { ARP_PACKET_LEN, emitArp, parseArp, type ArpEthernetIpv4Repr } from "../wire/arp.ts";
import {
  ETHERNET_HEADER_LEN,
  ETHERNET_MIN_FRAME_LEN,
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  ETHERTYPE_IPV6,
  emitEthernet,
  parseEthernet,
} from "../wire/ethernet.ts";
import { WireError } from "../wire/error.ts";
import { IPV4_BROADCAST, type Ipv4Address, type Ipv6Address } from "../wire/ip-address.ts";
import { LLC_SAP_STP, SNAP_OUI_ETHERTYPE, parseLlc } from "../wire/llc.ts";
import {
  MAC_BROADCAST,
  isBroadcastMac,
  isMulticastMac,
  ipv6MulticastMac,
  macEquals,
  macToString,
  type MacAddress,
} from "../wire/mac.ts";
import { ArpCache, type ArpConfig } from "./arp-cache.ts";
import type { NeighborCache } from "./neighbor-cache.ts";

/** An IP packet the link passes up; `packet` is a view over the received frame (padding included for IPv4/IPv6 over Ethernet II). */
export interface LinkIngress {
  readonly kind: "ipv4" | "ipv6";
  readonly packet: Uint8Array;
  readonly src: MacAddress;
  readonly dst: MacAddress;
  /** Sent to ff:ff:ff:ff:ff:ff (RFC 1122 §3.3.6 cares: see ipv4.ts). */
  readonly linkBroadcast: boolean;
  /** Sent to a group MAC other than broadcast. */
  readonly linkMulticast: boolean;
}

/** Construction options (see the contract in the module comment). */
export interface EthernetLinkOptions {
  readonly mac: MacAddress;
  /** Largest IP packet the link carries (1500 on Ethernet). */
  readonly mtu: number;
  /** Hands a finished frame to the device. */
  readonly emit: (frame: Uint8Array) => void;
  /**
   * Hands a TCP super-frame to a device with TSO (device/types.ts `FrameDevice.sendSegmented`).
   * Without it, packets handed down with a segment size are dropped (`drop.no-tso`).
   */
  readonly emitSegmented?: ((frame: Uint8Array, segmentSize: number) => void) | undefined;
  readonly arp?: Partial<ArpConfig>;
  readonly neighbors: NeighborCache;
}

/** The IPv4 all-hosts group's MAC (RFC 1112 §6.4: 01:00:5e + low 23 bits of 224.0.0.1). */
const ALL_HOSTS_MAC = new Uint8Array([0x01, 0x00, 0x5e, 0x00, 0x00, 0x01]);
const ZERO_MAC = new Uint8Array(6);

/** An Ethernet interface with ARP. */
export class EthernetLink {
  readonly mac: MacAddress;
  readonly mtu: number;
  /** Counters, prefix "link". */
  readonly counters = new Counters("link");
  private readonly rxIpv4 = this.counters.counter("rx.ipv4");
  private readonly rxIpv6 = this.counters.counter("rx.ipv6");
  private readonly txFrames = this.counters.counter("tx.frames");
  private readonly txTsoFrames = this.counters.counter("tx.tso-frames");
  readonly arp: ArpCache;
  readonly neighbors: NeighborCache;
  private readonly emit: (frame: Uint8Array) => void;
  private readonly emitSegmented: ((frame: Uint8Array, segmentSize: number) => void) | undefined;
  private ipv4Addresses: readonly Ipv4Address[] = [];
  private readonly ipv4Set = new Set<Ipv4Address>();
  /** Joined multicast MACs by text form, with a join count. */
  private readonly multicast = new Map<string, number>();

  constructor(opts: EthernetLinkOptions) {
    if (opts.mac.length !== 6 || isMulticastMac(opts.mac)) throw new RangeError("EthernetLink: the MAC must be 6 bytes, unicast");
    if (!Number.isInteger(opts.mtu) || opts.mtu < 68 || opts.mtu > 65535) {
      throw new RangeError(`EthernetLink: MTU ${opts.mtu} is not in 68..65535 (RFC 791 minimum 68)`);
    }
    this.mac = opts.mac.slice();
    this.mtu = opts.mtu;
    this.emit = opts.emit;
    this.emitSegmented = opts.emitSegmented;
    this.neighbors = opts.neighbors;
    this.arp = new ArpCache(opts.arp, {
      request: (target, now, unicastTo) => this.sendArp("request", unicastTo ?? MAC_BROADCAST, ZERO_MAC, this.senderIpFor(target), target),
      resolved: (_ip, mac, queued) => {
        for (const p of queued) this.sendFrame(mac, ETHERTYPE_IPV4, p);
      },
    });
    this.neighbors.setResolvedHandler((_addr, mac, queued) => {
      for (const p of queued) this.sendFrame(mac, ETHERTYPE_IPV6, p);
    });
    this.joinMulticast(ALL_HOSTS_MAC);
  }

  /** Our IPv4 addresses: ARP answers only for these (RFC 826), and they are the request senders. */
  setIpv4Addresses(addrs: readonly Ipv4Address[]): void {
    this.ipv4Addresses = [...addrs];
    this.ipv4Set.clear();
    for (const a of addrs) this.ipv4Set.add(a);
  }

  /** Accepts frames sent to group MAC `mac` (counted joins: leave as often as joined). */
  joinMulticast(mac: MacAddress): void {
    const k = macToString(mac);
    this.multicast.set(k, (this.multicast.get(k) ?? 0) + 1);
  }

  /** Undoes one `joinMulticast(mac)`. */
  leaveMulticast(mac: MacAddress): void {
    const k = macToString(mac);
    const n = this.multicast.get(k);
    if (n === undefined) return;
    if (n <= 1) this.multicast.delete(k);
    else this.multicast.set(k, n - 1);
  }

  /**
   * Handles one received frame: ARP is processed here (returns undefined), IPv4/IPv6 are returned for
   * the network layer, everything else is counted and dropped.
   */
  processFrame(frame: Uint8Array, now: number): LinkIngress | undefined {
    const eth = parseEthernet(frame);
    if (eth instanceof WireError) {
      this.counters.inc(`drop.${eth.reason}`);
      return undefined;
    }
    if (eth.tag !== undefined) {
      this.counters.inc("drop.vlan");
      return undefined;
    }
    let etherType: number;
    let payload: Uint8Array;
    if (eth.kind === "ieee802.3") {
      const llc = parseLlc(eth.payload);
      // RFC 1042: IP and ARP ride in SNAP with OUI 000000 and the EtherType as protocol ID.
      const snap = llc instanceof WireError ? undefined : llc.snap;
      const inner = snap && snap.oui === SNAP_OUI_ETHERTYPE ? snap.protocolId : undefined;
      if (llc instanceof WireError || (inner !== ETHERTYPE_IPV4 && inner !== ETHERTYPE_ARP)) {
        this.counters.inc("rx.llc");
        if (!(llc instanceof WireError) && llc.dsap === LLC_SAP_STP) this.counters.inc("rx.llc.stp");
        return undefined;
      }
      this.counters.inc("rx.snap");
      etherType = inner;
      payload = llc.payload;
    } else {
      etherType = eth.etherType;
      payload = eth.payload;
    }
    const linkBroadcast = isBroadcastMac(eth.dst);
    const linkMulticast = !linkBroadcast && isMulticastMac(eth.dst);
    if (!linkBroadcast && !(linkMulticast ? this.multicast.has(macToString(eth.dst)) : macEquals(eth.dst, this.mac))) {
      this.counters.inc("drop.not-for-us");
      return undefined;
    }
    if (macEquals(eth.src, this.mac) || isMulticastMac(eth.src)) {
      // Our own frame looped back, or a group source address (IEEE 802: never a sender).
      this.counters.inc("drop.bad-source");
      return undefined;
    }
    switch (etherType) {
      case ETHERTYPE_ARP:
        this.processArp(payload, eth.src, now);
        return undefined;
      case ETHERTYPE_IPV4:
        this.rxIpv4.value++;
        return { kind: "ipv4", packet: payload, src: eth.src, dst: eth.dst, linkBroadcast, linkMulticast };
      case ETHERTYPE_IPV6:
        this.rxIpv6.value++;
        return { kind: "ipv6", packet: payload, src: eth.src, dst: eth.dst, linkBroadcast, linkMulticast };
      default:
        this.counters.inc("drop.unknown-ethertype");
        return undefined;
    }
  }

  /** True when the device segments TCP super-frames for us (`emitSegmented` given). */
  get tso(): boolean {
    return this.emitSegmented !== undefined;
  }

  /**
   * Sends an IPv4 packet (built with `allocPacket`) to `nextHop`: "broadcast" (and 255.255.255.255)
   * to ff:ff:ff:ff:ff:ff, a multicast group to its 01:00:5e MAC (RFC 1112 §6.4), anything else through
   * ARP (queued while it resolves, bounded by the cache). `segmentSize`: a TCP super-segment for the
   * device to cut (may exceed the MTU); it goes only to a resolved unicast neighbour.
   */
  dispatchIpv4(packet: Uint8Array, nextHop: Ipv4Address | "broadcast", now: number, segmentSize?: number): void {
    if (segmentSize !== undefined) {
      this.dispatchSegmented(ETHERTYPE_IPV4, packet, nextHop === "broadcast" || nextHop >>> 28 === 0xe ? undefined : this.arp.lookup(nextHop, now), segmentSize);
      return;
    }
    if (packet.length > this.mtu) {
      this.counters.inc("drop.over-mtu");
      return;
    }
    if (nextHop === "broadcast" || nextHop === IPV4_BROADCAST) {
      this.sendFrame(MAC_BROADCAST, ETHERTYPE_IPV4, packet);
      return;
    }
    if (nextHop >>> 28 === 0xe) {
      // RFC 1112 §6.4: 01-00-5E-00-00-00 plus the low-order 23 bits of the group address.
      const mac = new Uint8Array([0x01, 0x00, 0x5e, (nextHop >>> 16) & 0x7f, (nextHop >>> 8) & 0xff, nextHop & 0xff]);
      this.sendFrame(mac, ETHERTYPE_IPV4, packet);
      return;
    }
    const mac = this.arp.lookup(nextHop, now);
    if (mac !== undefined) this.sendFrame(mac, ETHERTYPE_IPV4, packet);
    else this.arp.enqueue(nextHop, packet, now);
  }

  /** Sends an IPv6 packet to `nextHop`: multicast to 33:33 + low 32 bits (RFC 2464 §7), else through NDP. */
  dispatchIpv6(packet: Uint8Array, nextHop: Ipv6Address, now: number, segmentSize?: number): void {
    if (segmentSize !== undefined) {
      this.dispatchSegmented(ETHERTYPE_IPV6, packet, nextHop[0] === 0xff ? undefined : this.neighbors.lookup(nextHop, now), segmentSize);
      return;
    }
    if (packet.length > this.mtu) {
      this.counters.inc("drop.over-mtu");
      return;
    }
    if (nextHop[0] === 0xff) {
      this.sendFrame(ipv6MulticastMac(nextHop), ETHERTYPE_IPV6, packet);
      return;
    }
    const mac = this.neighbors.lookup(nextHop, now);
    if (mac !== undefined) this.sendFrame(mac, ETHERTYPE_IPV6, packet);
    else this.neighbors.enqueue(nextHop, packet, now);
  }

  /**
   * Gratuitous ARP for each of our IPv4 addresses: a broadcast request with sender and target IP both
   * ours (RFC 5227 §3 announcement; RFC 5944 §4.6), so neighbours update stale entries for us.
   */
  announce(_now: number): void {
    for (const a of this.ipv4Addresses) {
      this.sendArp("request", MAC_BROADCAST, ZERO_MAC, a, a);
      this.counters.inc("tx.arp-announce");
    }
  }

  /** Runs the ARP and neighbor caches' timers. */
  poll(now: number): void {
    this.arp.poll(now);
    this.neighbors.poll(now);
  }

  /** The earliest deadline of either cache. */
  nextDeadline(): number | undefined {
    const a = this.arp.nextDeadline();
    const n = this.neighbors.nextDeadline();
    if (a === undefined) return n;
    if (n === undefined) return a;
    return Math.min(a, n);
  }

  private processArp(bytes: Uint8Array, ethSrc: Uint8Array, now: number): void {
    const arp = parseArp(bytes);
    if (arp instanceof WireError) {
      this.counters.inc(`drop.arp-${arp.reason}`);
      return;
    }
    if (arp.kind !== "ethernet-ipv4") {
      this.counters.inc("drop.arp-unsupported");
      return;
    }
    const op = arp.op.kind;
    if (op !== "request" && op !== "reply") {
      this.counters.inc("drop.arp-op");
      return;
    }
    this.counters.inc(`rx.arp-${op}`);
    const spa = arp.senderIp;
    if (isMulticastMac(arp.senderMac) || isBroadcastMac(arp.senderMac) || macEquals(arp.senderMac, ZERO_MAC)) {
      this.counters.inc("drop.arp-bad-sender");
      return;
    }
    if (macEquals(arp.senderMac, this.mac)) return; // our own announcement echoed by a bridge
    // ARP carries no checksum: a sender hardware address that differs from the frame's own source
    // is damage or forgery, not a neighbor (a host, or a proxy answering for others, sends its own
    // MAC in both). Learning it would black-hole the address until NUD notices, a minute later.
    if (!macEquals(arp.senderMac, ethSrc)) {
      this.counters.inc("drop.arp-sender-mismatch");
      return;
    }
    const forUs = this.ipv4Set.has(arp.targetIp);
    if (this.ipv4Set.has(spa)) {
      // RFC 5227 §2.4: another host claims our address. Counted, not answered (answering would only
      // tell the claimant our MAC); no entry for our own address is ever made.
      this.counters.inc("rx.arp-conflict");
      return;
    }
    if (spa !== 0 && spa !== IPV4_BROADCAST && spa >>> 28 !== 0xe) {
      // RFC 5227 §2.1.1: a probe (sender IP 0.0.0.0) must not update caches; nor may group addresses.
      this.arp.processArp(arp, forUs, now);
    }
    if (op === "request" && forUs) this.replyTo(arp);
  }

  /** RFC 826: swap sender and target, fill in our MAC, reply to the requester's MAC. */
  private replyTo(req: ArpEthernetIpv4Repr): void {
    this.sendArp("reply", req.senderMac, req.senderMac, req.targetIp, req.senderIp);
    this.counters.inc("tx.arp-reply");
  }

  private sendArp(
    op: "request" | "reply",
    dstMac: MacAddress,
    targetMac: MacAddress,
    senderIp: Ipv4Address,
    targetIp: Ipv4Address,
  ): void {
    const packet = allocPacket(ARP_PACKET_LEN);
    emitArp({ kind: "ethernet-ipv4", op: { kind: op }, senderMac: this.mac, senderIp, targetMac, targetIp }, packet, 0);
    this.sendFrame(dstMac, ETHERTYPE_ARP, packet);
  }

  /** Our address that shares the longest prefix with `target` (the link does not know prefix lengths). */
  private senderIpFor(target: Ipv4Address): Ipv4Address {
    let best = this.ipv4Addresses[0] ?? 0;
    let bestLen = -1;
    for (const a of this.ipv4Addresses) {
      const len = Math.clz32((a ^ target) >>> 0);
      if (len > bestLen) {
        best = a;
        bestLen = len;
      }
    }
    return best;
  }

  /**
   * A super-segment is never queued for resolution: the queue re-sends plain frames, and TCP keeps
   * the data anyway (its retransmission sends MSS-sized segments). Unresolved: dropped, counted.
   */
  private dispatchSegmented(etherType: number, packet: Uint8Array, mac: MacAddress | undefined, segmentSize: number): void {
    const emitSegmented = this.emitSegmented;
    if (emitSegmented === undefined) {
      this.counters.inc("drop.no-tso");
      return;
    }
    if (mac === undefined) {
      this.counters.inc("drop.tso-unresolved");
      return;
    }
    const frame = expandFront(packet, ETHERNET_HEADER_LEN);
    emitEthernet({ kind: "ethernet-ii", dst: mac, src: this.mac, etherType }, frame, 0);
    this.txTsoFrames.value++;
    emitSegmented(frame, segmentSize);
  }

  private sendFrame(dst: MacAddress, etherType: number, packet: Uint8Array): void {
    let frame = expandFront(packet, ETHERNET_HEADER_LEN);
    emitEthernet({ kind: "ethernet-ii", dst, src: this.mac, etherType }, frame, 0);
    if (frame.length < ETHERNET_MIN_FRAME_LEN) {
      // IEEE 802.3 §4.2.3.3: pad to the minimum; the padding is zero.
      const padded = new Uint8Array(ETHERNET_MIN_FRAME_LEN);
      padded.set(frame);
      frame = padded;
    }
    this.txFrames.value++;
    this.emit(frame);
  }
}

