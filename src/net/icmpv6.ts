/**
 * ICMPv6 for a host (RFC 4443): echo answered, echo replies and errors returned as events for the
 * ping API and the sockets, Neighbor Discovery handed to net/ndp, and the errors this host originates.
 * Read RFC 4443 §2.4 before editing `sendError`.
 *
 * Error origination (RFC 4443 §2.4 (e)): never about an ICMPv6 error or a Redirect, a packet whose
 * source does not name one node (::, multicast), or a packet sent to a multicast address or in a
 * link-layer multicast/broadcast frame — except Packet Too Big, and Parameter Problem code 2 for an
 * option whose type has high bits 10 (RFC 8200 §4.2). What remains is rate-limited by a token bucket
 * (§2.4 (f); default 100/s, burst 50) and quotes as much of the invoking packet as keeps the whole
 * error within the IPv6 minimum MTU of 1280 bytes (§2.4 (c)).
 *
 * Received errors (§2.4 (a), (d)) are returned only when the quoted packet came from one of our
 * addresses (a cheap check against blind spoofing, RFC 5927 §4.1); the sockets match the ports.
 */
import { WireError } from "../wire/error.ts";
import {
  emitIcmpv6,
  icmpv6Length,
  ICMPV6_ERROR_HEADER_LEN,
  ICMPV6_TYPE,
  IP_PROTOCOL_ICMPV6,
  parseIcmpv6,
  type Icmpv6Repr,
} from "../wire/icmpv6.ts";
import { isIpv6Multicast, type Ipv6Address } from "../wire/ip-address.ts";
import { IPV6_HEADER_LEN, IPV6_MIN_MTU } from "../wire/ipv6.ts";
import { walkIpv6Chain } from "../wire/ipv6-ext.ts";
import { allocPacket } from "../wire/packet-buffer.ts";
import { Counters } from "../util/counters.ts";
import { isIpv6Unspecified, type Ipv6Delivery, type Ipv6ErrorSubject, type Ipv6Layer } from "./ipv6.ts";
import type { Ndp } from "./ndp.ts";
import { TokenBucket, type TokenBucketConfig } from "./rate-limit.ts";

/** Default error rate limit (RFC 4443 §2.4 (f) leaves the numbers to the implementation). */
export const ICMPV6_RATE_LIMIT_DEFAULTS: TokenBucketConfig = { ratePerSec: 100, burst: 50 };
/** RFC 4443 §2.4 (c): bytes of the invoking packet an error may quote (1280 − 40 − 8). */
export const ICMPV6_MAX_QUOTE = IPV6_MIN_MTU - IPV6_HEADER_LEN - ICMPV6_ERROR_HEADER_LEN;

/** Errors this host may originate, by RFC 4443 code name. */
export type Icmpv6ErrorKind =
  // §3.1 Destination Unreachable
  | "no-route"
  | "admin-prohibited"
  | "beyond-scope"
  | "address-unreachable"
  | "port-unreachable"
  // §3.2 Packet Too Big (the parameter is the MTU)
  | "packet-too-big"
  // §3.3 Time Exceeded
  | "hop-limit-exceeded"
  | "reassembly-time-exceeded"
  // §3.4 Parameter Problem (the parameter is the pointer)
  | "erroneous-header-field"
  | "unrecognized-next-header"
  | "unrecognized-option";

/** What the quoted packet of a received error tells about the packet we sent. */
export interface Icmpv6Quoted {
  readonly src: Ipv6Address;
  readonly dst: Ipv6Address;
  /** Upper-layer protocol after the quoted extension headers, when they could be walked. */
  readonly protocol: number | undefined;
  /** TCP/UDP ports, when the quote reaches them. */
  readonly srcPort: number | undefined;
  readonly dstPort: number | undefined;
  /** ICMPv6 echo identifier and sequence, when an echo request is quoted. */
  readonly echoId: number | undefined;
  readonly echoSeq: number | undefined;
  /**
   * The quoted upper-layer bytes (TCP/UDP header onwards) of a first or only fragment, when the
   * extension headers could be walked: TCP reads the quoted SEQ from it (RFC 5927 §4.1).
   */
  readonly upperLayer: Uint8Array | undefined;
}

/** What `processIcmpv6` hands up: echo replies for ping, errors for sockets. */
export type Icmpv6Event =
  | {
      readonly kind: "echo-reply";
      readonly family: 6;
      readonly id: number;
      readonly seq: number;
      readonly data: Uint8Array;
      readonly src: Ipv6Address;
      readonly now: number;
    }
  | {
      readonly kind: "error";
      readonly family: 6;
      /** The error type; "unknown" for an error type RFC 4443 does not define (§2.4 (a)). */
      readonly type: "destination-unreachable" | "packet-too-big" | "time-exceeded" | "parameter-problem" | "unknown";
      readonly code: number;
      /** The code's RFC 4443 name, or "code N". */
      readonly reason: string;
      readonly mtu: number | undefined;
      readonly pointer: number | undefined;
      /** Who sent the error. */
      readonly from: Ipv6Address;
      readonly quoted: Icmpv6Quoted;
      readonly now: number;
    };

/** Construction options. */
export interface Icmpv6Config {
  readonly ipv6: Ipv6Layer;
  readonly ndp?: Ndp;
  readonly rateLimit?: Partial<TokenBucketConfig>;
  /** RFC 4443 §4.2: answer echo requests sent to a multicast address. Default true (as Linux). */
  readonly replyToMulticastEcho?: boolean;
}

/** ICMPv6 for one IPv6 layer. */
export class Icmpv6 {
  /** Counters with prefix "icmpv6". */
  readonly counters = new Counters("icmpv6");
  private readonly ipv6: Ipv6Layer;
  private readonly ndp: Ndp | undefined;
  private readonly bucket: TokenBucket;
  private readonly replyToMulticastEcho: boolean;

  constructor(config: Icmpv6Config) {
    this.ipv6 = config.ipv6;
    this.ndp = config.ndp;
    this.bucket = new TokenBucket({ ...ICMPV6_RATE_LIMIT_DEFAULTS, ...config.rateLimit });
    this.replyToMulticastEcho = config.replyToMulticastEcho ?? true;
    this.ipv6.setErrorReporter((subject, kind, now, pointer) => {
      this.sendError(subject, kind, now, pointer);
    });
  }

  /** Handles one received ICMPv6 message (protocol 58 delivery). */
  processIcmpv6(d: Ipv6Delivery, now: number): Icmpv6Event | undefined {
    const msg = parseIcmpv6(d.payload, { family: 6, src: d.src, dst: d.dst });
    if (msg instanceof WireError) {
      this.counters.inc(`drop.${msg.reason}`);
      return undefined;
    }
    switch (msg.kind) {
      case "echo-request":
        this.answerEcho(d, msg.identifier, msg.sequence, msg.data, now);
        return undefined;
      case "echo-reply":
        this.counters.inc("rx.echo-reply");
        return { kind: "echo-reply", family: 6, id: msg.identifier, seq: msg.sequence, data: msg.data, src: d.src, now };
      case "destination-unreachable":
      case "time-exceeded":
        return this.errorEvent(d, msg.kind, codeOf(d), msg.code.kind, undefined, undefined, msg.invoking, now);
      case "packet-too-big":
        return this.errorEvent(d, msg.kind, codeOf(d), "packet-too-big", msg.mtu, undefined, msg.invoking, now);
      case "parameter-problem":
        return this.errorEvent(d, msg.kind, codeOf(d), msg.code.kind, undefined, msg.pointer, msg.invoking, now);
      case "router-solicitation":
      case "router-advertisement":
      case "neighbor-solicitation":
      case "neighbor-advertisement":
      case "redirect":
        if (this.ndp === undefined || !this.ndp.processIcmpv6(d, msg, now)) this.counters.inc("rx.nd-unhandled");
        return undefined;
      case "mld-query":
      case "mld-report":
      case "mld-done":
      case "mldv2-report":
        this.counters.inc("rx.mld-ignored");
        return undefined;
      case "unknown":
        // RFC 4443 §2.4 (a): unknown errors go up; (b): unknown informational messages are dropped.
        if (msg.type < 128) {
          return this.errorEvent(d, "unknown", msg.code, `code ${msg.code}`, undefined, undefined, msg.rest.subarray(4), now);
        }
        this.counters.inc("drop.unknown-informational");
        return undefined;
    }
  }

  /**
   * Sends an ICMPv6 error about `subject` under the RFC 4443 §2.4 rules (see the module comment).
   * `param` is the pointer of a Parameter Problem or the MTU of a Packet Too Big. True when sent.
   */
  sendError(subject: Ipv6ErrorSubject, kind: Icmpv6ErrorKind, now: number, param = 0): boolean {
    // §2.4 (e.6): the source must identify a single node.
    if (isIpv6Unspecified(subject.src) || isIpv6Multicast(subject.src)) {
      this.counters.inc("drop.error-bad-source");
      return false;
    }
    // §2.4 (e.1), (e.2): never about an ICMPv6 error or a Redirect.
    if (isIcmpv6ErrorOrRedirect(subject.packet)) {
      this.counters.inc("drop.error-about-error");
      return false;
    }
    // §2.4 (e.3)–(e.5): not for multicast, except Packet Too Big and code 2 for option type 10xxxxxx.
    if (subject.dstKind === "multicast" || subject.linkMulticast) {
      const optionType = subject.packet[param];
      const allowed =
        kind === "packet-too-big" ||
        (kind === "unrecognized-option" && optionType !== undefined && optionType >>> 6 === 2);
      if (!allowed) {
        this.counters.inc("drop.error-multicast");
        return false;
      }
    }
    // §2.4 (f): rate limit.
    if (!this.bucket.take(now)) {
      this.counters.inc("drop.rate-limited");
      return false;
    }
    const invoking = subject.packet.subarray(0, Math.min(subject.packet.length, ICMPV6_MAX_QUOTE));
    const repr = errorRepr(kind, param, invoking);
    const dst = subject.src;
    // The reply comes from the address the packet was sent to, when that is one of ours (unicast).
    const src = subject.dstKind === "unicast" && this.ipv6.isLocal(subject.dst) ? subject.dst : this.ipv6.selectSource(dst);
    if (src === undefined) {
      this.counters.inc("drop.no-source");
      return false;
    }
    if (!this.send(repr, src, dst, now)) return false;
    this.counters.inc(`tx.${kind}`);
    return true;
  }

  /** Sends an echo request (for the ping API). False when there is no route or source. */
  sendEcho(dst: Ipv6Address, id: number, seq: number, data: Uint8Array, now: number): boolean {
    const route = this.ipv6.routeFor(dst);
    if (route === undefined) {
      this.counters.inc("drop.no-route");
      return false;
    }
    const ok = this.send({ kind: "echo-request", identifier: id, sequence: seq, data }, route.src, dst, now);
    if (ok) this.counters.inc("tx.echo-request");
    return ok;
  }

  private answerEcho(d: Ipv6Delivery, identifier: number, sequence: number, data: Uint8Array, now: number): void {
    this.counters.inc("rx.echo-request");
    if (isIpv6Unspecified(d.src)) {
      this.counters.inc("drop.echo-from-unspecified");
      return;
    }
    if (d.dstKind === "multicast" && !this.replyToMulticastEcho) {
      this.counters.inc("drop.multicast-echo");
      return;
    }
    // RFC 4443 §4.2: to a multicast request, reply from a unicast address of the interface.
    const src = d.dstKind === "unicast" ? d.dst : this.ipv6.selectSource(d.src);
    if (src === undefined) {
      this.counters.inc("drop.no-source");
      return;
    }
    if (this.send({ kind: "echo-reply", identifier, sequence, data }, src, d.src, now)) this.counters.inc("tx.echo-reply");
  }

  private errorEvent(
    d: Ipv6Delivery,
    type: Extract<Icmpv6Event, { kind: "error" }>["type"],
    code: number,
    reason: string,
    mtu: number | undefined,
    pointer: number | undefined,
    invoking: Uint8Array,
    now: number,
  ): Icmpv6Event | undefined {
    this.counters.inc(`rx.${type}`);
    const quoted = parseQuoted(invoking);
    if (quoted === undefined) {
      this.counters.inc("drop.error-short-quote");
      return undefined;
    }
    if (!this.ipv6.isLocal(quoted.src)) {
      this.counters.inc("drop.error-not-ours");
      return undefined;
    }
    return { kind: "error", family: 6, type, code, reason: reason === "unknown" ? `code ${code}` : reason, mtu, pointer, from: d.src, quoted, now };
  }

  private send(repr: Icmpv6Repr, src: Ipv6Address, dst: Ipv6Address, now: number): boolean {
    const buf = allocPacket(icmpv6Length(repr));
    emitIcmpv6(repr, buf, 0, { family: 6, src, dst });
    return this.ipv6.dispatch(IP_PROTOCOL_ICMPV6, src, dst, buf, now);
  }
}

/** The received message's code byte (the union in the repr names it; the byte is at offset 1). */
function codeOf(d: Ipv6Delivery): number {
  return d.payload[1] ?? 0;
}

function errorRepr(kind: Icmpv6ErrorKind, param: number, invoking: Uint8Array): Icmpv6Repr {
  switch (kind) {
    case "no-route":
    case "admin-prohibited":
    case "beyond-scope":
    case "address-unreachable":
    case "port-unreachable":
      return { kind: "destination-unreachable", code: { kind }, invoking };
    case "packet-too-big":
      return { kind: "packet-too-big", mtu: param, invoking };
    case "hop-limit-exceeded":
    case "reassembly-time-exceeded":
      return { kind: "time-exceeded", code: { kind }, invoking };
    case "erroneous-header-field":
    case "unrecognized-next-header":
    case "unrecognized-option":
      return { kind: "parameter-problem", code: { kind }, pointer: param, invoking };
  }
}

/** Whether `packet` (IPv6 header first) carries an ICMPv6 error or Redirect (RFC 4443 §2.4 (e.1), (e.2)). */
function isIcmpv6ErrorOrRedirect(packet: Uint8Array): boolean {
  if (packet.length < IPV6_HEADER_LEN) return false;
  const chain = walkIpv6Chain(packet[6] as number, packet.subarray(IPV6_HEADER_LEN));
  if (chain instanceof WireError || chain.upperLayer !== IP_PROTOCOL_ICMPV6) return false;
  // After a non-first fragment the bytes are not an ICMPv6 header.
  if (chain.headers.some((h) => h.kind === "fragment" && h.fragmentOffset !== 0)) return false;
  const type = packet[IPV6_HEADER_LEN + chain.payloadOffset];
  return type !== undefined && (type < 128 || type === ICMPV6_TYPE.redirect);
}

/** Reads what a quoted packet tells; undefined when it is shorter than the IPv6 header. */
function parseQuoted(invoking: Uint8Array): Icmpv6Quoted | undefined {
  if (invoking.length < IPV6_HEADER_LEN) return undefined;
  const src = invoking.subarray(8, 24);
  const dst = invoking.subarray(24, 40);
  let protocol: number | undefined;
  let srcPort: number | undefined;
  let dstPort: number | undefined;
  let echoId: number | undefined;
  let echoSeq: number | undefined;
  let upperLayer: Uint8Array | undefined;
  const chain = walkIpv6Chain(invoking[6] as number, invoking.subarray(IPV6_HEADER_LEN));
  if (!(chain instanceof WireError)) {
    protocol = chain.upperLayer;
    const at = IPV6_HEADER_LEN + chain.payloadOffset;
    const firstFragment = !chain.headers.some((h) => h.kind === "fragment" && h.fragmentOffset !== 0);
    if (firstFragment && at <= invoking.length) upperLayer = invoking.slice(at);
    if (firstFragment && (protocol === 6 || protocol === 17) && invoking.length >= at + 4) {
      srcPort = ((invoking[at] as number) << 8) | (invoking[at + 1] as number);
      dstPort = ((invoking[at + 2] as number) << 8) | (invoking[at + 3] as number);
    }
    if (firstFragment && protocol === IP_PROTOCOL_ICMPV6 && invoking.length >= at + 8 && invoking[at] === ICMPV6_TYPE.echoRequest) {
      echoId = ((invoking[at + 4] as number) << 8) | (invoking[at + 5] as number);
      echoSeq = ((invoking[at + 6] as number) << 8) | (invoking[at + 7] as number);
    }
  }
  return { src, dst, protocol, srcPort, dstPort, echoId, echoSeq, upperLayer };
}
