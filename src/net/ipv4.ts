/**
 * The IPv4 layer of a host (RFC 791; host requirements RFC 1122 §3.2.1, §3.3; reassembly RFC 815).
 *
 * Owns: our addresses and routes (connected subnets, one default gateway), acceptance of received
 * datagrams, reassembly, fragmentation on send, and the Identification counter. It never answers
 * anything itself: ICMP arrives at the layer above like any protocol (icmpv4.ts registers for
 * reassembly timeouts through `setReassemblyTimeoutHandler`, so no upward import is needed).
 *
 * Acceptance (RFC 1122 §3.2.1.3, §3.3.6): the destination is one of our addresses, 255.255.255.255,
 * the directed broadcast of one of our subnets (prefixes up to /30), or the all-hosts group
 * 224.0.0.1 (RFC 1112 §4). Sources that cannot be a host (broadcast, multicast, loopback, class E,
 * RFC 1122 §3.2.1.3 (a)-(e) and §3.2.1.3 "a host MUST silently discard") are dropped, and a datagram
 * received as a link-layer broadcast for a unicast destination is dropped (RFC 1122 §3.3.6 SHOULD).
 * Options are parsed (a malformed list drops the datagram) but otherwise ignored: a host does not
 * forward, so source routes do not apply. TTL is not checked on receive (RFC 1122 §3.2.1.7: a host
 * does not decrement it). Every drop is counted as `ipv4.drop.<reason>`.
 */
import { Counters } from "../util/counters.ts";
import type { Random } from "../time/random.ts";
import { allocPacket, expandFront } from "../wire/packet-buffer.ts";
import { WireError } from "../wire/error.ts";
import { IPV4_BROADCAST, ipv4Mask, type Ipv4Address } from "../wire/ip-address.ts";
import { IPV4_HEADER_LEN, IPV4_MAX_PACKET_LEN, Ipv4View, emitIpv4Header, type Ipv4Header, type Ipv4Option } from "../wire/ipv4.ts";
import { checksumOf } from "../wire/checksum.ts";
import { dataView } from "../wire/bytes.ts";
import type { EthernetLink, LinkIngress } from "../link/ethernet-link.ts";
import { Reassembler } from "./reassembly.ts";

/** A datagram for the protocol above (ICMP, UDP, TCP). */
export interface Ipv4Delivery {
  readonly family: 4;
  readonly protocol: number;
  readonly src: Ipv4Address;
  readonly dst: Ipv4Address;
  readonly ttl: number;
  /** The protocol's bytes (a view; the reassembled copy for a fragmented datagram). */
  readonly payload: Uint8Array;
  /** The IP header bytes (with options), for ICMP quoting. */
  readonly header: Uint8Array;
  /** The whole datagram, header first, as received or reassembled: what an ICMP error quotes. */
  readonly packet: Uint8Array;
  readonly dstKind: "unicast" | "broadcast" | "multicast";
}

/** An address on the interface with its prefix length ("10.0.0.2/24"). */
export interface Ipv4InterfaceAddress {
  readonly address: Ipv4Address;
  readonly prefixLength: number;
}

/** Reassembly bounds. Defaults: `IPV4_REASSEMBLY_DEFAULTS`. */
export interface Ipv4ReassemblyConfig {
  readonly timeoutMs: number;
  readonly maxDatagrams: number;
  readonly maxBytes: number;
  readonly maxFragmentsPerDatagram: number;
}

/**
 * Documented defaults: 30 s timeout (Linux ipfrag_time; RFC 791 suggests 15 s as a lower bound),
 * 4 MiB held (Linux ipfrag_high_thresh), 1024 datagrams, 64 pieces each (a 64 KiB datagram at a
 * 1500-byte MTU is 45 fragments).
 */
export const IPV4_REASSEMBLY_DEFAULTS: Ipv4ReassemblyConfig = {
  timeoutMs: 30_000,
  maxDatagrams: 1024,
  maxBytes: 4 * 1024 * 1024,
  maxFragmentsPerDatagram: 64,
};

/** Construction options. */
export interface Ipv4LayerOptions {
  readonly link: EthernetLink;
  readonly addresses: readonly Ipv4InterfaceAddress[];
  readonly gateway?: Ipv4Address | undefined;
  /** RFC 1122 §3.2.1.7 / RFC 1700: 64, as Linux. */
  readonly defaultTtl?: number;
  readonly reassembly?: Partial<Ipv4ReassemblyConfig>;
  readonly random: Random;
}

/** Per-send options. */
export interface Ipv4SendOptions {
  readonly ttl?: number;
  /** Set DF (RFC 791): the datagram is refused rather than fragmented. */
  readonly dontFragment?: boolean;
  /** DSCP (RFC 2474); 0 unless given. */
  readonly dscp?: number;
  /**
   * TCP segmentation offload: the payload is a TCP super-segment that the device cuts into segments
   * of this many payload bytes, so the packet is never fragmented and may exceed the MTU (up to
   * 65535, RFC 791 §3.1). Only when the link has TSO (`link.tso`); refused and counted otherwise.
   */
  readonly segmentSize?: number | undefined;
}

/** A route: where to send a datagram for some destination, and from which of our addresses. */
export interface Ipv4Route {
  readonly nextHop: Ipv4Address | "broadcast";
  readonly src: Ipv4Address;
}

/** Called with the first fragment of a datagram whose reassembly timed out (for ICMP type 11 code 1). */
export type ReassemblyTimeoutHandler = (first: Ipv4Delivery, now: number) => void;

const ALL_HOSTS: Ipv4Address = 0xe0000001;

/** The IPv4 layer of one interface. */
export class Ipv4Layer {
  /** Counters, prefix "ipv4". */
  readonly counters = new Counters("ipv4");
  private readonly rxDelivered = this.counters.counter("rx.delivered");
  private readonly txPackets = this.counters.counter("tx.packets");
  private readonly txTsoPackets = this.counters.counter("tx.tso-packets");
  private readonly txFragments = this.counters.counter("tx.fragments");
  readonly link: EthernetLink;
  readonly addresses: readonly Ipv4InterfaceAddress[];
  readonly gateway: Ipv4Address | undefined;
  readonly defaultTtl: number;
  private readonly reassembler: Reassembler;
  private ident: number;
  private onTimeout: ReassemblyTimeoutHandler | undefined;

  constructor(opts: Ipv4LayerOptions) {
    for (const a of opts.addresses) {
      if (!Number.isInteger(a.prefixLength) || a.prefixLength < 0 || a.prefixLength > 32) {
        throw new RangeError(`IPv4 prefix length ${a.prefixLength} is not in 0..32`);
      }
    }
    this.link = opts.link;
    this.addresses = opts.addresses.map((a) => ({ address: a.address >>> 0, prefixLength: a.prefixLength }));
    this.gateway = opts.gateway;
    this.defaultTtl = opts.defaultTtl ?? 64;
    const r = { ...IPV4_REASSEMBLY_DEFAULTS, ...opts.reassembly };
    this.reassembler = new Reassembler({
      policy: "ipv4",
      ...r,
      counters: this.counters,
      // Total Length is 16 bits and covers the (at least 20-byte) header: RFC 791 §3.1 (ping of death).
      maxDatagramLen: IPV4_MAX_PACKET_LEN - IPV4_HEADER_LEN,
    });
    // RFC 6864 §4.1: any scheme that does not repeat an ID within the MSL is fine; start unpredictable.
    this.ident = opts.random.nextU32() & 0xffff;
    this.link.setIpv4Addresses(this.addresses.map((a) => a.address));
  }

  /** Registers who sends "fragment reassembly time exceeded" (icmpv4.ts does, at construction). */
  setReassemblyTimeoutHandler(fn: ReassemblyTimeoutHandler): void {
    this.onTimeout = fn;
  }

  /** True when `addr` is one of our addresses. */
  isLocal(addr: Ipv4Address): boolean {
    for (const a of this.addresses) if (a.address === addr) return true;
    return false;
  }

  /** "broadcast" for 255.255.255.255 and our subnets' directed broadcasts, "multicast" for 224/4. */
  classify(dst: Ipv4Address): "unicast" | "broadcast" | "multicast" {
    if (dst === IPV4_BROADCAST || this.isSubnetBroadcast(dst)) return "broadcast";
    if (dst >>> 28 === 0xe) return "multicast";
    return "unicast";
  }

  /**
   * Checks a received IPv4 packet and returns the datagram for the protocol above, or undefined
   * (dropped and counted, or a fragment kept for reassembly).
   */
  processPacket(ingress: LinkIngress, now: number): Ipv4Delivery | undefined {
    const v = Ipv4View.check(ingress.packet);
    if (v instanceof WireError) return this.drop(v.reason);
    // RFC 1122 §3.2.1.1-2: silently discard a wrong version (checked above) or a bad checksum.
    if (!v.checksumValid) return this.drop("bad-checksum");
    if (v.headerLen > IPV4_HEADER_LEN && v.options() instanceof WireError) return this.drop("bad-options");
    const src = v.src;
    const dst = v.dst;
    if (!isPossibleHostSource(src) || this.isSubnetBroadcast(src) || this.isLocal(src)) return this.drop("bad-source");
    let dstKind: "unicast" | "broadcast" | "multicast";
    if (this.isLocal(dst)) dstKind = "unicast";
    else if (dst === IPV4_BROADCAST || this.isSubnetBroadcast(dst)) dstKind = "broadcast";
    else if (dst === ALL_HOSTS) dstKind = "multicast";
    else return this.drop("not-for-us");
    // RFC 1122 §3.3.6: discard a link-layer broadcast that is not an IP broadcast or multicast.
    if (ingress.linkBroadcast && dstKind === "unicast") return this.drop("link-broadcast-unicast");

    const hlen = v.headerLen;
    const total = v.totalLength;
    const offset = v.fragmentOffset;
    const more = v.moreFragments;
    const packet = ingress.packet.subarray(0, total);
    if (!more && offset === 0) {
      this.rxDelivered.value++;
      return {
        family: 4,
        protocol: v.protocol,
        src,
        dst,
        ttl: v.ttl,
        payload: packet.subarray(hlen),
        header: packet.subarray(0, hlen),
        packet,
        dstKind,
      };
    }
    // RFC 791 §3.2: the fragments of a datagram share source, destination, protocol and identification.
    const key = `${src}/${dst}/${v.protocol}/${v.ident}`;
    // Ping of death: offset + payload + header past 65535 discards the whole datagram.
    if (offset + total > IPV4_MAX_PACKET_LEN) {
      this.reassembler.discard(key, "too-big");
      return undefined;
    }
    const first = offset === 0 ? packet : undefined;
    const r = this.reassembler.add(key, offset, more, packet.subarray(hlen), now, first);
    if (r.kind !== "complete") return undefined;
    if (r.first === undefined) return this.drop("frag-no-header");
    // RFC 791 §3.2: the reassembled datagram carries the first fragment's header, with the total
    // length of the whole, MF clear and offset zero.
    const fh = ((r.first[0] as number) & 0x0f) * 4;
    const whole = allocPacket(fh + r.data.length);
    whole.set(r.first.subarray(0, fh), 0);
    whole.set(r.data, fh);
    const dv = dataView(whole);
    dv.setUint16(2, whole.length);
    dv.setUint16(6, dv.getUint16(6) & 0x4000);
    dv.setUint16(10, 0);
    dv.setUint16(10, checksumOf(whole, 0, fh));
    this.rxDelivered.value++;
    return {
      family: 4,
      protocol: v.protocol,
      src,
      dst,
      ttl: whole[8] as number,
      payload: whole.subarray(fh),
      header: whole.subarray(0, fh),
      packet: whole,
      dstKind,
    };
  }

  /**
   * Sends `payload` (built with `allocPacket`, so the header goes in front in place) to `dst`.
   * Returns false, counted, when there is no route, when the datagram would exceed 65535 bytes, or
   * when it needs fragmenting and `dontFragment` is set (RFC 791: DF forbids fragmentation).
   */
  dispatch(
    protocol: number,
    src: Ipv4Address | undefined,
    dst: Ipv4Address,
    payload: Uint8Array,
    now: number,
    opts: Ipv4SendOptions = {},
  ): boolean {
    const route = this.routeFor(dst);
    if (route === undefined) {
      this.counters.inc("drop.no-route");
      return false;
    }
    if (IPV4_HEADER_LEN + payload.length > IPV4_MAX_PACKET_LEN) {
      this.counters.inc("drop.too-big");
      return false;
    }
    const header: Ipv4Header = {
      dscp: opts.dscp ?? 0,
      ecn: 0,
      ident: this.nextIdent(),
      dontFragment: opts.dontFragment ?? false,
      moreFragments: false,
      fragmentOffset: 0,
      ttl: opts.ttl ?? this.defaultTtl,
      protocol,
      src: src ?? route.src,
      dst,
      options: NO_OPTIONS,
    };
    if (opts.segmentSize !== undefined) {
      if (!this.link.tso) {
        this.counters.inc("drop.no-tso");
        return false;
      }
      const packet = expandFront(payload, IPV4_HEADER_LEN);
      emitIpv4Header(header, payload.length, packet, 0);
      this.txPackets.value++;
      this.txTsoPackets.value++;
      this.link.dispatchIpv4(packet, route.nextHop, now, opts.segmentSize);
      return true;
    }
    const mtu = this.link.mtu;
    if (IPV4_HEADER_LEN + payload.length <= mtu) {
      const packet = expandFront(payload, IPV4_HEADER_LEN);
      emitIpv4Header(header, payload.length, packet, 0);
      this.txPackets.value++;
      this.link.dispatchIpv4(packet, route.nextHop, now);
      return true;
    }
    if (header.dontFragment) {
      this.counters.inc("drop.needs-fragmentation");
      return false;
    }
    // RFC 791 §3.2 "Fragmentation": every fragment but the last carries a multiple of 8 data bytes.
    const chunk = Math.floor((mtu - IPV4_HEADER_LEN) / 8) * 8;
    for (let off = 0; off < payload.length; off += chunk) {
      const end = Math.min(off + chunk, payload.length);
      const frag = allocPacket(IPV4_HEADER_LEN + end - off);
      frag.set(payload.subarray(off, end), IPV4_HEADER_LEN);
      emitIpv4Header({ ...header, fragmentOffset: off, moreFragments: end < payload.length }, end - off, frag, 0);
      this.txFragments.value++;
      this.link.dispatchIpv4(frag, route.nextHop, now);
    }
    this.txPackets.value++;
    return true;
  }

  /**
   * The route to `dst`: our connected subnets first (the longest prefix), the limited broadcast
   * and multicast on the link, else the default gateway; undefined without one.
   */
  routeFor(dst: Ipv4Address): Ipv4Route | undefined {
    const first = this.addresses[0];
    if (first === undefined) return undefined;
    if (dst === IPV4_BROADCAST) return { nextHop: "broadcast", src: first.address };
    const connected = this.connectedFor(dst);
    if (connected !== undefined) {
      const nextHop = this.isSubnetBroadcast(dst) ? "broadcast" : dst;
      return { nextHop, src: connected.address };
    }
    if (dst >>> 28 === 0xe) return { nextHop: dst, src: first.address };
    if (this.gateway === undefined) return undefined;
    return { nextHop: this.gateway, src: (this.connectedFor(this.gateway) ?? first).address };
  }

  /** Expires reassembly; each expired datagram whose first fragment arrived goes to the timeout handler. */
  poll(now: number): void {
    for (const { first } of this.reassembler.poll(now)) {
      if (first === undefined || this.onTimeout === undefined) continue;
      const v = Ipv4View.check(first);
      if (v instanceof WireError) continue;
      const hlen = v.headerLen;
      this.onTimeout(
        {
          family: 4,
          protocol: v.protocol,
          src: v.src,
          dst: v.dst,
          ttl: v.ttl,
          payload: first.subarray(hlen),
          header: first.subarray(0, hlen),
          packet: first,
          dstKind: this.isLocal(v.dst) ? "unicast" : v.dst >>> 28 === 0xe ? "multicast" : "broadcast",
        },
        now,
      );
    }
  }

  /** What reassembly holds now (datagrams in progress, bytes counted against `maxBytes`), for tests and the fuzzer. */
  reassemblyUsage(): { readonly datagrams: number; readonly bytes: number } {
    return { datagrams: this.reassembler.size, bytes: this.reassembler.bytesHeld };
  }

  /** When reassembly next needs `poll`. */
  nextDeadline(): number | undefined {
    return this.reassembler.nextDeadline();
  }

  /** Bytes held by reassembly (for tests and stats). */
  get reassemblyBytes(): number {
    return this.reassembler.bytesHeld;
  }

  private connectedFor(dst: Ipv4Address): Ipv4InterfaceAddress | undefined {
    let best: Ipv4InterfaceAddress | undefined;
    for (const a of this.addresses) {
      const mask = ipv4Mask(a.prefixLength);
      if (((a.address ^ dst) & mask) >>> 0 !== 0) continue;
      if (best === undefined || a.prefixLength > best.prefixLength) best = a;
    }
    return best;
  }

  /** The directed broadcast of one of our subnets (not for /31 and /32: RFC 3021 §2.2). */
  private isSubnetBroadcast(addr: Ipv4Address): boolean {
    for (const a of this.addresses) {
      if (a.prefixLength > 30 || a.prefixLength === 0) continue;
      const mask = ipv4Mask(a.prefixLength);
      if (((a.address & mask) | ~mask) >>> 0 === addr) return true;
    }
    return false;
  }

  private nextIdent(): number {
    const id = this.ident;
    this.ident = (this.ident + 1) & 0xffff;
    return id;
  }

  private drop(reason: string): undefined {
    this.counters.inc(`drop.${reason}`);
    return undefined;
  }
}

/**
 * RFC 1122 §3.2.1.3: 255.255.255.255, multicast (224/4) and class E (240/4) are never a source, nor
 * is 127/8 from a wire (RFC 1122 §3.2.1.3 (g)). 0.0.0.0 is allowed ("this host", e.g. DHCP clients).
 */
function isPossibleHostSource(src: Ipv4Address): boolean {
  const top = src >>> 24;
  return top !== 127 && top < 224;
}

/** The option list of every datagram we originate (we send no IPv4 options). */
const NO_OPTIONS: readonly Ipv4Option[] = Object.freeze([]);
