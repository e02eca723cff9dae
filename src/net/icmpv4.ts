/**
 * ICMP for IPv4 in a host (RFC 792; host rules RFC 1122 §3.2.2; error rate limiting RFC 1812 §4.3.2.8).
 *
 * Owns: answering echo requests, reporting echo replies (for the ping API) and received errors (for
 * the transport sockets: RFC 1122 §3.2.2 "MUST be passed to the transport layer"), and originating
 * errors for the layers that ask (`sendError`). Never sends an error about (RFC 1122 §3.2.2, RFC 1812
 * §4.3.2.7): an ICMP error, a datagram to a broadcast or multicast address, a fragment other than the
 * first, or a datagram whose source is not a unicast host address. Errors are rate-limited by a token
 * bucket (`drop.rate-limited`); echo replies are not (Linux's default icmp_ratemask does not cover
 * them either), but echo requests to broadcast/multicast are ignored (RFC 1122 §3.2.2.6 allows it;
 * Linux icmp_echo_ignore_broadcasts=1; smurf amplification). Redirects are counted and ignored: routes
 * here are configured, not learnt.
 */
import { Counters } from "../util/counters.ts";
import { allocPacket } from "../wire/packet-buffer.ts";
import { WireError } from "../wire/error.ts";
import { IPV4_BROADCAST, readIpv4, type Ipv4Address } from "../wire/ip-address.ts";
import {
  ICMPV4_HEADER_LEN,
  IP_PROTOCOL_ICMP,
  emitIcmpv4,
  icmpv4Length,
  parseIcmpv4,
  type Icmpv4ParameterProblemCode,
  type Icmpv4Repr,
  type Icmpv4TimeExceededCode,
  type Icmpv4UnreachableCode,
} from "../wire/icmpv4.ts";
import type { Ipv4Delivery, Ipv4Layer } from "./ipv4.ts";
import { TokenBucket, type TokenBucketConfig } from "./rate-limit.ts";

/** Errors this layer originates. */
export type Icmpv4ErrorKind = "port-unreachable" | "protocol-unreachable" | "reassembly-time-exceeded" | "parameter-problem";

/** What `processIcmp` hands up. */
export type Icmpv4Event =
  | {
      readonly kind: "echo-reply";
      readonly id: number;
      readonly seq: number;
      /** A copy of the echo data. */
      readonly data: Uint8Array;
      readonly src: Ipv4Address;
      readonly now: number;
    }
  | Icmpv4ErrorEvent;

/** A received ICMP error, with what it quotes of our datagram (RFC 1122 §3.2.2). */
export interface Icmpv4ErrorEvent {
  readonly kind: "error";
  readonly error:
    | { readonly type: "destination-unreachable"; readonly code: Icmpv4UnreachableCode }
    | { readonly type: "time-exceeded"; readonly code: Icmpv4TimeExceededCode }
    | { readonly type: "parameter-problem"; readonly code: Icmpv4ParameterProblemCode; readonly pointer: number };
  /** Who sent the error (a router or the destination host). */
  readonly reporter: Ipv4Address;
  /** The quoted datagram's protocol, source (one of ours) and destination. */
  readonly protocol: number;
  readonly src: Ipv4Address;
  readonly dst: Ipv4Address;
  /** The quoted transport ports (UDP, TCP: the first 4 bytes after the IP header), when present. */
  readonly srcPort: number | undefined;
  readonly dstPort: number | undefined;
  /** The quoted bytes after the IP header (at least 8 per RFC 792 when the router complied). */
  readonly quotedPayload: Uint8Array;
  readonly now: number;
}

/** Error rate limit defaults: 100 per second, bursts of 50. */
export const ICMPV4_RATE_DEFAULTS: TokenBucketConfig = { ratePerSec: 100, burst: 50 };

/** RFC 1812 §4.3.2.3: an error quotes as much as fits in 576 bytes. */
const MAX_ERROR_PACKET = 576;
const IPV4_HEADER_MIN = 20;
/** CS6, the old precedence 6 "internetwork control" (TOS 0xc0). */
const ERROR_DSCP = 48;

/** ICMPv4 over one Ipv4Layer. */
export class Icmpv4 {
  /** Counters, prefix "icmpv4". */
  readonly counters = new Counters("icmpv4");
  private readonly ipv4: Ipv4Layer;
  private readonly bucket: TokenBucket;

  constructor(opts: { ipv4: Ipv4Layer; rateLimit?: Partial<TokenBucketConfig> }) {
    this.ipv4 = opts.ipv4;
    this.bucket = new TokenBucket({ ...ICMPV4_RATE_DEFAULTS, ...opts.rateLimit });
    this.ipv4.setReassemblyTimeoutHandler((first, now) => this.sendError(first, "reassembly-time-exceeded", now));
  }

  /** Handles one ICMP datagram: answers echo requests, returns echo replies and errors for the layers above. */
  processIcmp(d: Ipv4Delivery, now: number): Icmpv4Event | undefined {
    const msg = parseIcmpv4(d.payload);
    if (msg instanceof WireError) {
      this.counters.inc(`drop.${msg.reason}`);
      return undefined;
    }
    this.counters.inc(`rx.${msg.kind}`);
    switch (msg.kind) {
      case "echo-request":
        if (d.dstKind !== "unicast") {
          this.counters.inc("drop.broadcast-echo");
          return undefined;
        }
        // RFC 792 / RFC 1122 §3.2.2.6: same identifier, sequence and data, addresses swapped.
        this.send(d.dst, d.src, { kind: "echo-reply", identifier: msg.identifier, sequence: msg.sequence, data: msg.data }, now);
        return undefined;
      case "echo-reply":
        return { kind: "echo-reply", id: msg.identifier, seq: msg.sequence, data: msg.data.slice(), src: d.src, now };
      case "destination-unreachable":
        return this.errorEvent(d, { type: "destination-unreachable", code: msg.code }, msg.invoking, now);
      case "time-exceeded":
        return this.errorEvent(d, { type: "time-exceeded", code: msg.code }, msg.invoking, now);
      case "parameter-problem":
        return this.errorEvent(d, { type: "parameter-problem", code: msg.code, pointer: msg.pointer }, msg.invoking, now);
      case "redirect":
      case "timestamp":
      case "timestamp-reply":
      case "unknown":
        // RFC 1122 §3.2.2.8: timestamp MAY be implemented (it is not); redirects are ignored (module comment).
        return undefined;
      default:
        return assertNever(msg);
    }
  }

  /**
   * Sends an error about received datagram `d` back to its source, unless RFC 1122 §3.2.2 forbids it
   * or the rate limit is exhausted (both counted). `pointer` is for "parameter-problem".
   */
  sendError(d: Ipv4Delivery, kind: Icmpv4ErrorKind, now: number, pointer = 0): void {
    const why = this.suppressReason(d);
    if (why !== undefined) {
      this.counters.inc(`drop.error-${why}`);
      return;
    }
    if (!this.bucket.take(now)) {
      this.counters.inc("drop.rate-limited");
      return;
    }
    const invoking = d.packet.subarray(0, Math.min(d.packet.length, MAX_ERROR_PACKET - IPV4_HEADER_MIN - ICMPV4_HEADER_LEN));
    let repr: Icmpv4Repr;
    switch (kind) {
      case "port-unreachable":
      case "protocol-unreachable":
        repr = { kind: "destination-unreachable", code: { kind }, invoking };
        break;
      case "reassembly-time-exceeded":
        repr = { kind: "time-exceeded", code: { kind }, invoking };
        break;
      case "parameter-problem":
        repr = { kind: "parameter-problem", code: { kind: "pointer-indicates-error" }, pointer, invoking };
        break;
      default:
        return assertNever(kind);
    }
    // The error comes from the address the datagram was sent to (unicast: checked above), with
    // precedence "internetwork control" (DSCP CS6) as Linux sends it (RFC 1812 §4.3.2.5 leaves it open).
    if (this.send(d.dst, d.src, repr, now, ERROR_DSCP)) this.counters.inc(`tx.${kind}`);
  }

  /** Sends an echo request (for the ping API). */
  sendEcho(dst: Ipv4Address, id: number, seq: number, data: Uint8Array, now: number): boolean {
    return this.send(undefined, dst, { kind: "echo-request", identifier: id, sequence: seq, data }, now);
  }

  private send(src: Ipv4Address | undefined, dst: Ipv4Address, repr: Icmpv4Repr, now: number, dscp = 0): boolean {
    const buf = allocPacket(icmpv4Length(repr));
    emitIcmpv4(repr, buf, 0);
    this.counters.inc(`tx.${repr.kind}`);
    return this.ipv4.dispatch(IP_PROTOCOL_ICMP, src, dst, buf, now, { dscp });
  }

  /** RFC 1122 §3.2.2 / RFC 1812 §4.3.2.7: the cases where no error may be sent. */
  private suppressReason(d: Ipv4Delivery): string | undefined {
    if (d.dstKind !== "unicast") return "to-broadcast";
    const h = d.header;
    if (h.length >= IPV4_HEADER_MIN && (((h[6] as number) & 0x1f) | (h[7] as number)) !== 0) return "non-first-fragment";
    const src = d.src;
    const top = src >>> 24;
    if (src === 0 || src === IPV4_BROADCAST || top === 127 || top >= 224 || this.ipv4.classify(src) !== "unicast") {
      return "bad-source";
    }
    if (d.protocol === IP_PROTOCOL_ICMP) {
      // Only query messages may be answered with an error; an unknown type might be an error (RFC 1812 §4.3.2.7).
      const type = d.payload[0];
      if (type === undefined || !QUERY_TYPES.has(type)) return "about-error";
    }
    return undefined;
  }

  private errorEvent(
    d: Ipv4Delivery,
    error: Icmpv4ErrorEvent["error"],
    invoking: Uint8Array,
    now: number,
  ): Icmpv4ErrorEvent | undefined {
    // The quoted header may be cut short of its Total Length: read its fixed fields by hand.
    if (invoking.length < IPV4_HEADER_MIN || (invoking[0] as number) >>> 4 !== 4) {
      this.counters.inc("drop.error-bad-quote");
      return undefined;
    }
    const hlen = ((invoking[0] as number) & 0x0f) * 4;
    if (hlen < IPV4_HEADER_MIN || hlen > invoking.length) {
      this.counters.inc("drop.error-bad-quote");
      return undefined;
    }
    const src = readIpv4(invoking, 12);
    if (!this.ipv4.isLocal(src)) {
      // An error about a datagram we did not send: spoofed or misdirected.
      this.counters.inc("drop.error-not-ours");
      return undefined;
    }
    const quotedPayload = invoking.slice(hlen);
    const protocol = invoking[9] as number;
    // UDP (RFC 768) and TCP (RFC 9293) both open with the source and destination ports.
    const hasPorts = quotedPayload.length >= 4 && (protocol === 6 || protocol === 17);
    return {
      kind: "error",
      error,
      reporter: d.src,
      protocol,
      src,
      dst: readIpv4(invoking, 16),
      srcPort: hasPorts ? ((quotedPayload[0] as number) << 8) | (quotedPayload[1] as number) : undefined,
      dstPort: hasPorts ? ((quotedPayload[2] as number) << 8) | (quotedPayload[3] as number) : undefined,
      quotedPayload,
      now,
    };
  }
}

/** Echo, timestamp, information and address-mask requests and replies (RFC 792, RFC 950). */
const QUERY_TYPES = new Set([0, 8, 13, 14, 15, 16, 17, 18]);

function assertNever(x: never): never {
  throw new Error(`unexpected ${JSON.stringify(x)}`);
}
