/**
 * UDP transport (RFC 768; host rules RFC 1122 §4.1; over IPv6 RFC 8200 §8.1): the binding table,
 * ingress demultiplexing and egress datagram construction.
 *
 * Read before editing: RFC 768, RFC 1122 §4.1.3, RFC 8200 §8.1, RFC 6056 (ephemeral ports).
 *
 * Owns: which (port, family, local address) triples are bound, and to which handler. Guarantees:
 * every datagram handed to `processDatagram` is either delivered to exactly one binding, answered
 * "port-unreachable" (unicast destination, no binding: the stack then asks ICMP to send the error),
 * or dropped and counted under `udp.drop.<reason>`; the checksum is verified before delivery.
 * `send` builds a datagram once, in an `allocPacket` view with headroom for the IP and Ethernet
 * headers, and hands it to the IP layer's `dispatch`. Never: reads a clock, holds a timer, or knows the
 * layer above — handlers are registered with `bind` (DESIGN.md: ingress climbs by return values or
 * through handlers a lower layer defines).
 *
 * Binding table. A binding covers one port for IPv4, IPv6 or both ("dual", like a Linux socket
 * bound to `::` with IPV6_V6ONLY off), on one local address or on every address. Two bindings on the
 * same port conflict when they share a family and either address is "any" or both are equal — Linux's
 * rule without SO_REUSEADDR — so at most one binding matches any datagram, and the lookup prefers an
 * exact address to "any" only to stay correct if that rule is ever relaxed.
 *
 * The IP layers are described here structurally (`Ipv4Sender`, `Ipv6Sender`, `IpDelivery`), so
 * `src/net/` satisfies them without this module importing it, and tests use small fakes.
 */
import { WirestackError } from "../errors.ts";
import type { Random } from "../time/random.ts";
import { Counters } from "../util/counters.ts";
import type { PseudoHeader } from "../wire/checksum.ts";
import { WireError } from "../wire/error.ts";
import { ipv4ToString, ipv6Equals, ipv6ToString, type Ipv4Address, type Ipv6Address } from "../wire/ip-address.ts";
import { allocPacket } from "../wire/packet-buffer.ts";
import { IP_PROTOCOL_UDP, UDP_HEADER_LEN, UdpView, emitUdp } from "../wire/udp.ts";
import { pickEphemeralPort } from "./ports.ts";

/** The largest UDP payload over IPv4: 65535 − 20 (IPv4 header) − 8 (UDP header). */
export const UDP_MAX_PAYLOAD_V4 = 65507;
/** The largest UDP payload over IPv6 without jumbograms: 65535 (Payload Length) − 8 (UDP header). */
export const UDP_MAX_PAYLOAD_V6 = 65527;

/** What UDP needs from the IPv4 layer (src/net/ipv4.ts's `Ipv4Layer` satisfies it). */
export interface Ipv4Sender {
  /** Sends `payload` (built in an `allocPacket` view) as protocol `protocol`; false when it cannot. */
  dispatch(protocol: number, src: Ipv4Address | undefined, dst: Ipv4Address, payload: Uint8Array, now: number): boolean;
  /** The source address the layer would use towards `dst`, or undefined without a route. */
  routeFor(dst: Ipv4Address): { readonly src: Ipv4Address } | undefined;
  /** True when `addr` is one of the interface's addresses (checked when binding to an address). */
  isLocal?(addr: Ipv4Address): boolean;
}

/** What UDP needs from the IPv6 layer (src/net/ipv6.ts's `Ipv6Layer` satisfies it). */
export interface Ipv6Sender {
  /** Sends `payload` (built in an `allocPacket` view) with next header `protocol`; false when it cannot. */
  dispatch(protocol: number, src: Ipv6Address | undefined, dst: Ipv6Address, payload: Uint8Array, now: number): boolean;
  /** The source address the layer would select for `dst` (RFC 6724), or undefined without a route. */
  routeFor(dst: Ipv6Address): { readonly src: Ipv6Address } | undefined;
  /** True when `addr` is one of the interface's addresses (checked when binding to an address). */
  isLocal?(addr: Ipv6Address): boolean;
}

/** An IPv4 datagram handed up by the IPv4 layer (the fields of `Ipv4Delivery` that UDP reads). */
export interface IpDeliveryV4 {
  readonly family: 4;
  readonly protocol: number;
  readonly src: Ipv4Address;
  readonly dst: Ipv4Address;
  /** The IP payload: the UDP header and data (possibly followed by link padding, trimmed by Length). */
  readonly payload: Uint8Array;
  readonly dstKind: "unicast" | "broadcast" | "multicast";
}

/** An IPv6 packet handed up by the IPv6 layer (the fields of `Ipv6Delivery` that UDP reads). */
export interface IpDeliveryV6 {
  readonly family: 6;
  readonly protocol: number;
  readonly src: Ipv6Address;
  readonly dst: Ipv6Address;
  readonly payload: Uint8Array;
  readonly dstKind: "unicast" | "multicast";
}

/** A datagram from either IP layer. */
export type IpDelivery = IpDeliveryV4 | IpDeliveryV6;

/** Where a binding listens: one family or both, on one address or (address undefined) on all. */
export type UdpLocal =
  | { readonly family: "dual" }
  | { readonly family: 4; readonly address?: Ipv4Address | undefined }
  | { readonly family: 6; readonly address?: Ipv6Address | undefined };

/** The other end of a datagram. */
export type UdpPeer =
  | { readonly family: 4; readonly address: Ipv4Address; readonly port: number }
  | { readonly family: 6; readonly address: Ipv6Address; readonly port: number };

/**
 * What an ICMP error means for the datagram it quotes, whatever the family. IPv4 Fragmentation
 * Needed (RFC 792 code 4) and ICMPv6 Packet Too Big (RFC 4443 §3.2) are both "packet-too-big";
 * destination-unreachable codes not named here, and message types UDP does not know, are "other".
 */
export type IcmpErrorKind =
  | "port-unreachable"
  | "protocol-unreachable"
  | "host-unreachable"
  | "net-unreachable"
  | "admin-prohibited"
  | "packet-too-big"
  | "time-exceeded"
  | "parameter-problem"
  | "other";

/**
 * A received ICMP or ICMPv6 error as the ICMP layers report it (src/net/icmpv4.ts's
 * `Icmpv4ErrorEvent`, and its ICMPv6 twin, satisfy it): the message type and code by name, who sent
 * it, and the fields of our datagram quoted in it (RFC 792, RFC 4443 §2.4 (c)). The family follows
 * from the address type: a number is IPv4, 16 bytes IPv6.
 */
export interface IcmpErrorEvent {
  readonly error: {
    /** "destination-unreachable", "packet-too-big", "time-exceeded", "parameter-problem", … */
    readonly type: string;
    /** The code by name, e.g. { kind: "port-unreachable" }; IPv4 code 4 carries `nextHopMtu`. */
    readonly code?: { readonly kind: string; readonly nextHopMtu?: number | undefined } | undefined;
    /** Packet Too Big's MTU (RFC 4443 §3.2). */
    readonly mtu?: number | undefined;
  };
  readonly reporter: Ipv4Address | Ipv6Address;
  /** The quoted datagram's protocol, source (one of ours) and destination. */
  readonly protocol: number;
  readonly src: Ipv4Address | Ipv6Address;
  readonly dst: Ipv4Address | Ipv6Address;
  /** The quoted ports; undefined when the quote was too short to hold them. */
  readonly srcPort: number | undefined;
  readonly dstPort: number | undefined;
  /** The quoted transport header and what follows it, when the quote holds it (TCP checks its SEQ). */
  readonly quotedPayload?: Uint8Array | undefined;
}

/** An ICMP error about a datagram a binding sent, as UDP hands it to the binding's handler. */
export type UdpIcmpError = {
  readonly kind: IcmpErrorKind;
  /** The ICMP message type and code names as reported (for messages and traces). */
  readonly icmpType: string;
  readonly icmpCode: string;
  /** Next-hop MTU of a packet-too-big error, when given (RFC 1191 §4, RFC 4443 §3.2). */
  readonly mtu: number | undefined;
  /** The destination port of the datagram that failed. */
  readonly dstPort: number;
} & (
  | {
      readonly family: 4;
      /** The host or router that sent the error. */
      readonly reporter: Ipv4Address;
      /** The destination of the datagram that failed. */
      readonly dst: Ipv4Address;
    }
  | { readonly family: 6; readonly reporter: Ipv6Address; readonly dst: Ipv6Address }
);

/** Classifies an ICMP error by its type and code names (RFC 792, RFC 1122 §3.2.2.1, RFC 4443 §3). */
export function classifyIcmpError(type: string, code: string | undefined): IcmpErrorKind {
  switch (type) {
    case "packet-too-big":
      return "packet-too-big";
    case "time-exceeded":
      return "time-exceeded";
    case "parameter-problem":
      return "parameter-problem";
    case "destination-unreachable":
      break;
    default:
      return "other";
  }
  switch (code) {
    case "port-unreachable":
    case "protocol-unreachable":
    case "net-unreachable":
    case "host-unreachable":
    case "admin-prohibited":
      return code;
    case "fragmentation-needed":
      return "packet-too-big";
    case "net-unknown":
    case "net-unreachable-for-tos":
    case "no-route": // ICMPv6 code 0
      return "net-unreachable";
    case "host-unknown":
    case "host-unreachable-for-tos":
    case "source-host-isolated":
    case "address-unreachable": // ICMPv6 code 3
      return "host-unreachable";
    case "net-prohibited":
    case "host-prohibited":
    case "source-address-failed-policy":
    case "reject-route":
      return "admin-prohibited";
    default:
      return "other";
  }
}

/** Receives what arrives for a binding. Called synchronously from `process…`: defer user callbacks. */
export interface UdpHandler {
  /** A datagram for the binding; `payload` is a view over the received bytes (not copied). */
  onMessage(payload: Uint8Array, from: UdpPeer, now: number): void;
  /** An ICMP error quoting a datagram this binding sent. */
  onIcmpError?(error: UdpIcmpError, now: number): void;
}

/** A bound port, returned by `UdpLayer.bind`; pass it to `send` and `unbind`. */
export interface UdpBinding {
  readonly port: number;
  readonly local: UdpLocal;
  /** False once unbound. */
  readonly open: boolean;
}

/** What `processDatagram` did with a datagram. */
export type UdpIngressResult = "delivered" | "port-unreachable" | "dropped";

/** Construction options of `UdpLayer`; either IP layer may be absent (an IPv4-only or IPv6-only stack). */
export interface UdpLayerOptions {
  readonly ipv4?: Ipv4Sender | undefined;
  readonly ipv6?: Ipv6Sender | undefined;
  /** Chooses ephemeral ports (RFC 6056); give the stack's Random, forked for UDP. */
  readonly random: Random;
}

class Binding implements UdpBinding {
  open = true;
  constructor(
    readonly port: number,
    readonly local: UdpLocal,
    readonly handler: UdpHandler,
  ) {}
}

function coversFamily(local: UdpLocal, family: 4 | 6): boolean {
  return local.family === "dual" || local.family === family;
}

function localAddress(local: UdpLocal): Ipv4Address | Ipv6Address | undefined {
  return local.family === "dual" ? undefined : local.address;
}

function sameAddress(a: Ipv4Address | Ipv6Address, b: Ipv4Address | Ipv6Address): boolean {
  if (typeof a === "number" || typeof b === "number") return a === b;
  return ipv6Equals(a, b);
}

/** True when a datagram to `dst` (of `family`) may be delivered to a binding at `local`. */
function matches(local: UdpLocal, family: 4 | 6, dst: Ipv4Address | Ipv6Address): boolean {
  if (!coversFamily(local, family)) return false;
  const addr = localAddress(local);
  return addr === undefined || sameAddress(addr, dst);
}

/** Linux's bind conflict rule without SO_REUSEADDR (see the module comment). */
function conflicts(a: UdpLocal, b: UdpLocal): boolean {
  const shared = ([4, 6] as const).filter((f) => coversFamily(a, f) && coversFamily(b, f));
  if (shared.length === 0) return false;
  const aa = localAddress(a);
  const ba = localAddress(b);
  return aa === undefined || ba === undefined || sameAddress(aa, ba);
}

function describeLocal(local: UdpLocal): string {
  if (local.family === "dual") return "every IPv4 and IPv6 address";
  if (local.address === undefined) return `every IPv${local.family} address`;
  return typeof local.address === "number" ? ipv4ToString(local.address) : ipv6ToString(local.address);
}

function addressText(addr: Ipv4Address | Ipv6Address): string {
  return typeof addr === "number" ? ipv4ToString(addr) : ipv6ToString(addr);
}

/** The UDP layer of one stack (sans-IO: time arrives as `now`, no timers). */
export class UdpLayer {
  /** Drops and events, prefix "udp" (`udp.drop.bad-checksum`, `udp.rx.port-unreachable`, …). */
  readonly counters = new Counters("udp");
  private readonly ipv4: Ipv4Sender | undefined;
  private readonly ipv6: Ipv6Sender | undefined;
  private readonly random: Random;
  private readonly byPort = new Map<number, Binding[]>();

  constructor(opts: UdpLayerOptions) {
    this.ipv4 = opts.ipv4;
    this.ipv6 = opts.ipv6;
    this.random = opts.random;
  }

  /** The local scope a binding gets when none is asked for: both families when both are configured. */
  defaultLocal(): UdpLocal {
    if (this.ipv4 && this.ipv6) return { family: "dual" };
    return this.ipv4 ? { family: 4 } : { family: 6 };
  }

  /** True when the family has an IP layer in this stack. */
  hasFamily(family: 4 | 6): boolean {
    return (family === 4 ? this.ipv4 : this.ipv6) !== undefined;
  }

  /**
   * Binds `port` (0: an ephemeral port in 49152–65535, RFC 6056) at `local` (default: `defaultLocal()`).
   * Throws WirestackError: WIRESTACK_ERR_ADDR_IN_USE when a conflicting binding exists or no ephemeral
   * port is free, WIRESTACK_ERR_ADDR_NOT_AVAILABLE for an address that is not ours or a family this
   * stack does not run, WIRESTACK_ERR_BAD_PORT for a port outside 0–65535.
   */
  bind(port: number, local: UdpLocal | undefined, handler: UdpHandler): UdpBinding {
    const where = local ?? this.defaultLocal();
    if (!Number.isInteger(port) || port < 0 || port > 0xffff) {
      throw new WirestackError("WIRESTACK_ERR_BAD_PORT", `UDP port ${port} is not an integer in 0–65535`);
    }
    this.checkLocal(where);
    let chosen = port;
    if (chosen === 0) {
      const found = pickEphemeralPort(this.random, (p) => this.conflictAt(p, where) !== undefined);
      if (found === undefined) {
        throw new WirestackError(
          "WIRESTACK_ERR_ADDR_IN_USE",
          "every UDP ephemeral port (49152–65535) is in use; close some sockets or bind an explicit port",
        );
      }
      chosen = found;
    } else if (this.conflictAt(chosen, where) !== undefined) {
      throw new WirestackError(
        "WIRESTACK_ERR_ADDR_IN_USE",
        `UDP port ${chosen} is already bound; choose another port or close the other socket`,
      );
    }
    const b = new Binding(chosen, where, handler);
    const list = this.byPort.get(chosen);
    if (list) list.push(b);
    else this.byPort.set(chosen, [b]);
    this.counters.inc("bind");
    return b;
  }

  /** Releases a binding; later datagrams to its port are answered port-unreachable. Idempotent. */
  unbind(binding: UdpBinding): void {
    if (!(binding instanceof Binding) || !binding.open) return;
    binding.open = false;
    const list = this.byPort.get(binding.port);
    if (!list) return;
    const rest = list.filter((b) => b !== binding);
    if (rest.length === 0) this.byPort.delete(binding.port);
    else this.byPort.set(binding.port, rest);
  }

  /** Every open binding, for inspection (`wirestack` status output, tests). */
  bindings(): UdpBinding[] {
    return [...this.byPort.values()].flat();
  }

  /**
   * Ingress: verifies and delivers one datagram. "port-unreachable" means the stack should answer
   * ICMP Destination Unreachable, port unreachable (RFC 1122 §4.1.3.1).
   */
  processDatagram(d: IpDelivery, now: number): UdpIngressResult {
    this.counters.inc("rx.datagrams");
    if (d.protocol !== IP_PROTOCOL_UDP) {
      this.counters.inc("drop.not-udp");
      return "dropped";
    }
    const v = UdpView.check(d.payload);
    if (v instanceof WireError) {
      this.counters.inc(`drop.${v.reason}`);
      return "dropped";
    }
    if (v.checksum === 0 && d.family === 6) {
      // RFC 8200 §8.1: "IPv6 receivers must discard UDP packets containing a zero checksum".
      this.counters.inc("drop.zero-checksum");
      return "dropped";
    }
    const ph: PseudoHeader = d.family === 4 ? { family: 4, src: d.src, dst: d.dst } : { family: 6, src: d.src, dst: d.dst };
    // RFC 768: a zero checksum over IPv4 means the sender computed none (verifyChecksum accepts it);
    // RFC 1122 §4.1.3.4: a present checksum that fails is discarded silently.
    if (!v.verifyChecksum(ph)) {
      this.counters.inc("drop.bad-checksum");
      return "dropped";
    }
    const b = this.lookup(v.dstPort, d.family, d.dst);
    if (b === undefined) {
      // RFC 1122 §4.1.3.1: port unreachable only for unicast; never about broadcast or multicast
      // destinations (RFC 1122 §3.2.2, RFC 4443 §2.4 (e.3)).
      if (d.dstKind !== "unicast") {
        this.counters.inc(`drop.no-socket-${d.dstKind}`);
        return "dropped";
      }
      this.counters.inc("rx.port-unreachable");
      return "port-unreachable";
    }
    const from: UdpPeer =
      d.family === 4
        ? { family: 4, address: d.src, port: v.srcPort }
        : { family: 6, address: d.src, port: v.srcPort };
    this.counters.inc("rx.delivered");
    b.handler.onMessage(v.payload, from, now);
    return "delivered";
  }

  /**
   * An ICMP error quoting one of our datagrams: routed to the binding of the quoted source port and
   * address (RFC 1122 §4.1.3.3: UDP passes ICMP errors up to the application). "dropped" (counted)
   * when the quote is not UDP, too short for the ports, or no binding matches.
   */
  processIcmpError(event: IcmpErrorEvent, now: number): "delivered" | "dropped" {
    if (event.protocol !== IP_PROTOCOL_UDP) {
      this.counters.inc("drop.icmp-not-udp");
      return "dropped";
    }
    if (event.srcPort === undefined || event.dstPort === undefined) {
      this.counters.inc("drop.icmp-short-quote");
      return "dropped";
    }
    const { src, dst, reporter } = event;
    const family = typeof src === "number" ? 4 : 6;
    const b = this.lookup(event.srcPort, family, src);
    if (b === undefined) {
      this.counters.inc("drop.icmp-no-socket");
      return "dropped";
    }
    const code = event.error.code;
    const kind = classifyIcmpError(event.error.type, code?.kind);
    const common = {
      kind,
      icmpType: event.error.type,
      icmpCode: code?.kind ?? "",
      mtu: event.error.mtu ?? code?.nextHopMtu,
      dstPort: event.dstPort,
    };
    let error: UdpIcmpError;
    if (typeof dst === "number" && typeof reporter === "number") error = { ...common, family: 4, dst, reporter };
    else if (dst instanceof Uint8Array && reporter instanceof Uint8Array) error = { ...common, family: 6, dst, reporter };
    else {
      this.counters.inc("drop.icmp-mixed-family");
      return "dropped";
    }
    this.counters.inc(`rx.icmp.${kind}`);
    b.handler.onIcmpError?.(error, now);
    return "delivered";
  }

  /**
   * Egress: sends `data` from `binding` to `dst`:`dstPort` (an IPv4 number or IPv6 bytes). Returns
   * false when the IP layer has no route or refuses the packet (counted). Throws WirestackError for
   * misuse: WIRESTACK_ERR_CLOSED (unbound), WIRESTACK_ERR_BAD_PORT, WIRESTACK_ERR_BAD_ADDRESS (a family
   * the binding does not cover), WIRESTACK_ERR_MSG_TOO_BIG (over 65507 bytes on IPv4, 65527 on IPv6).
   */
  send(binding: UdpBinding, dst: Ipv4Address | Ipv6Address, dstPort: number, data: Uint8Array, now: number): boolean {
    if (!binding.open) {
      throw new WirestackError("WIRESTACK_ERR_CLOSED", "this UDP socket is closed; bind a new one to send");
    }
    if (!Number.isInteger(dstPort) || dstPort < 1 || dstPort > 0xffff) {
      throw new WirestackError("WIRESTACK_ERR_BAD_PORT", `UDP destination port ${dstPort} is not an integer in 1–65535`);
    }
    const family = typeof dst === "number" ? 4 : 6;
    if (!coversFamily(binding.local, family)) {
      throw new WirestackError(
        "WIRESTACK_ERR_BAD_ADDRESS",
        `a UDP socket bound to ${describeLocal(binding.local)} cannot send to the IPv${family} address ${addressText(dst)}; bind it for IPv${family}`,
      );
    }
    const max = family === 4 ? UDP_MAX_PAYLOAD_V4 : UDP_MAX_PAYLOAD_V6;
    if (data.length > max) {
      this.counters.inc("tx.too-big");
      throw new WirestackError(
        "WIRESTACK_ERR_MSG_TOO_BIG",
        `a UDP datagram over IPv${family} carries at most ${max} bytes, not ${data.length}; send the data in smaller pieces`,
      );
    }
    const bound = localAddress(binding.local);
    const repr = { srcPort: binding.port, dstPort, payload: data };
    const packet = allocPacket(UDP_HEADER_LEN + data.length);
    let sent: boolean;
    if (typeof dst === "number") {
      const ip = this.ipv4;
      const src = typeof bound === "number" ? bound : ip?.routeFor(dst)?.src;
      if (ip === undefined || src === undefined) return this.noRoute();
      emitUdp(repr, packet, 0, { family: 4, src, dst });
      sent = ip.dispatch(IP_PROTOCOL_UDP, src, dst, packet, now);
    } else {
      const ip = this.ipv6;
      const src = bound instanceof Uint8Array ? bound : ip?.routeFor(dst)?.src;
      if (ip === undefined || src === undefined) return this.noRoute();
      // RFC 8200 §8.1: the checksum is mandatory over IPv6 (emitUdp sends a computed 0 as 0xFFFF).
      emitUdp(repr, packet, 0, { family: 6, src, dst });
      sent = ip.dispatch(IP_PROTOCOL_UDP, src, dst, packet, now);
    }
    this.counters.inc(sent ? "tx.datagrams" : "tx.refused");
    return sent;
  }

  /** UDP keeps no timers; present so the stack can poll every module alike. */
  poll(_now: number): void {}

  /** Always undefined: UDP has no timed work. */
  nextDeadline(): number | undefined {
    return undefined;
  }

  private noRoute(): false {
    this.counters.inc("tx.no-route");
    return false;
  }

  private checkLocal(local: UdpLocal): void {
    if (local.family === "dual") {
      if (!this.ipv4 || !this.ipv6) {
        throw new WirestackError(
          "WIRESTACK_ERR_ADDR_NOT_AVAILABLE",
          "a dual-stack UDP binding needs both IPv4 and IPv6 on this stack; bind for one family",
        );
      }
      return;
    }
    if (!this.hasFamily(local.family)) {
      throw new WirestackError(
        "WIRESTACK_ERR_ADDR_NOT_AVAILABLE",
        `this stack has no IPv${local.family} address; configure one before binding an IPv${local.family} UDP socket`,
      );
    }
    if (local.address === undefined) return;
    const ours = local.family === 4 ? this.ipv4?.isLocal?.(local.address) : this.ipv6?.isLocal?.(local.address);
    if (ours === false) {
      throw new WirestackError(
        "WIRESTACK_ERR_ADDR_NOT_AVAILABLE",
        `${describeLocal(local)} is not an address of this stack; bind to one of its addresses or to every address`,
      );
    }
  }

  private conflictAt(port: number, local: UdpLocal): Binding | undefined {
    return this.byPort.get(port)?.find((b) => conflicts(b.local, local));
  }

  private lookup(port: number, family: 4 | 6, dst: Ipv4Address | Ipv6Address): Binding | undefined {
    const list = this.byPort.get(port);
    if (list === undefined) return undefined;
    let any: Binding | undefined;
    for (const b of list) {
      if (!matches(b.local, family, dst)) continue;
      if (localAddress(b.local) !== undefined) return b;
      any ??= b;
    }
    return any;
  }
}
