/**
 * IPv6 fixed header (RFC 8200 §3; Traffic Class as DSCP and ECN: RFC 2474, RFC 3168; Jumbograms:
 * RFC 2675). Extension headers are walked by `ipv6-ext.ts`.
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |Version| Traffic Class |           Flow Label                  |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |         Payload Length        |  Next Header  |   Hop Limit   |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                                                               |
 *   +                         Source Address                        +
 *   |                          (16 octets)                          |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                                                               |
 *   +                      Destination Address                      +
 *   |                          (16 octets)                          |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * `Ipv6View.check` verifies once that the version is 6 and that the buffer holds the fixed header and
 * the Payload Length it claims; after that no accessor can read out of bounds. Bytes past Payload
 * Length are link padding. The payload starts with the extension headers, if any. Jumbograms (Payload
 * Length 0 with a Jumbo Payload option) are refused as "unsupported": no link we drive carries them.
 */
import { dataView, placePayload } from "./bytes.ts";
import { WireError } from "./error.ts";
import type { Ipv6Address } from "./ip-address.ts";
import { IPV6_EXT, IPV6_OPTION } from "./ipv6-ext.ts";

export const IPV6_HEADER_LEN = 40;
/** Payload Length is 16 bits. */
export const IPV6_MAX_PAYLOAD_LEN = 0xffff;
/** RFC 8200 §5: every link that carries IPv6 has an MTU of at least 1280. */
export const IPV6_MIN_MTU = 1280;

const VER_TC_FLOW = 0;
const PAYLOAD_LENGTH = 4;
const NEXT_HEADER = 6;
const HOP_LIMIT = 7;
const SRC = 8;
const DST = 24;

/** Zero-copy view over an IPv6 packet whose lengths have been checked. */
export class Ipv6View {
  private readonly view: DataView;

  private constructor(readonly bytes: Uint8Array) {
    this.view = dataView(bytes);
  }

  /** Checks the version and the Payload Length against the bytes present. */
  static check(bytes: Uint8Array): Ipv6View | WireError {
    if (bytes.length < IPV6_HEADER_LEN) {
      return new WireError("ipv6", "truncated", `${bytes.length} < ${IPV6_HEADER_LEN} bytes`);
    }
    const v = new Ipv6View(bytes);
    if (v.version !== 6) return new WireError("ipv6", "bad-version", `version ${v.version}`);
    const plen = v.payloadLength;
    if (plen === 0 && v.nextHeader === IPV6_EXT.hopByHop && hasJumboOption(bytes)) {
      // RFC 2675 §2: Payload Length 0 and the real length in a Jumbo Payload option.
      return new WireError("ipv6", "unsupported", "jumbogram");
    }
    if (IPV6_HEADER_LEN + plen > bytes.length) {
      return new WireError("ipv6", "truncated", `payload length ${plen} > ${bytes.length - IPV6_HEADER_LEN} bytes`);
    }
    return v;
  }

  get version(): number {
    return (this.bytes[VER_TC_FLOW] as number) >>> 4;
  }
  /** The eight Traffic Class bits (RFC 8200 §7). */
  get trafficClass(): number {
    return (this.view.getUint16(VER_TC_FLOW) >>> 4) & 0xff;
  }
  /** RFC 2474: the upper six bits of Traffic Class. */
  get dscp(): number {
    return this.trafficClass >>> 2;
  }
  /** RFC 3168 §5: the lower two bits of Traffic Class. */
  get ecn(): number {
    return this.trafficClass & 0x03;
  }
  /** The 20-bit Flow Label (RFC 6437). */
  get flowLabel(): number {
    return this.view.getUint32(VER_TC_FLOW) & 0xfffff;
  }
  get payloadLength(): number {
    return this.view.getUint16(PAYLOAD_LENGTH);
  }
  get nextHeader(): number {
    return this.bytes[NEXT_HEADER] as number;
  }
  get hopLimit(): number {
    return this.bytes[HOP_LIMIT] as number;
  }
  /** The source address, a 16-byte view over the same bytes. */
  get src(): Ipv6Address {
    return this.bytes.subarray(SRC, SRC + 16);
  }
  /** The destination address, a 16-byte view over the same bytes. */
  get dst(): Ipv6Address {
    return this.bytes.subarray(DST, DST + 16);
  }
  /** Extension headers and upper-layer data, bounded by Payload Length (not the buffer). */
  get payload(): Uint8Array {
    return this.bytes.subarray(IPV6_HEADER_LEN, IPV6_HEADER_LEN + this.payloadLength);
  }
}

/**
 * Whether the Hop-by-Hop header right after the fixed header carries a Jumbo Payload option. Reads
 * only the bytes present: a header cut short simply does not count.
 */
function hasJumboOption(bytes: Uint8Array): boolean {
  const start = IPV6_HEADER_LEN;
  if (start + 2 > bytes.length) return false;
  const end = Math.min(bytes.length, start + ((bytes[start + 1] as number) + 1) * 8);
  let i = start + 2;
  while (i < end) {
    const type = bytes[i] as number;
    if (type === IPV6_OPTION.pad1) {
      i += 1;
      continue;
    }
    if (type === IPV6_OPTION.jumboPayload) return true;
    if (i + 1 >= end) return false;
    i += 2 + (bytes[i + 1] as number);
  }
  return false;
}

/** The meaning of an IPv6 fixed header; addresses and payload borrow the received bytes. */
export interface Ipv6Repr {
  readonly trafficClass: number;
  readonly flowLabel: number;
  /** The first extension header, or the upper-layer protocol (an `IP_PROTOCOL_…` number). */
  readonly nextHeader: number;
  readonly hopLimit: number;
  readonly src: Ipv6Address;
  readonly dst: Ipv6Address;
  /** Extension headers (see `walkIpv6Chain`) followed by upper-layer data. */
  readonly payload: Uint8Array;
}

/** Parses the fixed header. The extension headers stay in `payload` for `walkIpv6Chain`. */
export function parseIpv6(bytes: Uint8Array): Ipv6Repr | WireError {
  const v = Ipv6View.check(bytes);
  if (v instanceof WireError) return v;
  return {
    trafficClass: v.trafficClass,
    flowLabel: v.flowLabel,
    nextHeader: v.nextHeader,
    hopLimit: v.hopLimit,
    src: v.src,
    dst: v.dst,
    payload: v.payload,
  };
}

/** Bytes `emitIpv6` writes for `repr`: fixed header plus payload. */
export function ipv6Length(repr: Ipv6Repr): number {
  return IPV6_HEADER_LEN + repr.payload.length;
}

/**
 * Writes the fixed header for a payload of `payloadLength` bytes at `out[at..]` and returns the offset
 * after it, where the payload belongs (for egress built in place, STYLE.md §9). Throws RangeError for a
 * header that cannot be encoded (a payload over 65535 bytes, a field out of range).
 */
export function emitIpv6Header(
  header: Omit<Ipv6Repr, "payload">,
  payloadLength: number,
  out: Uint8Array,
  at: number,
): number {
  if (payloadLength > IPV6_MAX_PAYLOAD_LEN) {
    throw new RangeError(`IPv6 payload of ${payloadLength} bytes exceeds 65535`);
  }
  if (header.trafficClass >>> 8 !== 0 || header.flowLabel >>> 20 !== 0) {
    throw new RangeError("IPv6 traffic class > 255 or flow label > 0xfffff");
  }
  if (header.nextHeader >>> 8 !== 0 || header.hopLimit >>> 8 !== 0) {
    throw new RangeError("IPv6 next header or hop limit > 255");
  }
  if (header.src.length !== 16 || header.dst.length !== 16) throw new RangeError("IPv6 addresses are 16 bytes");
  if (at + IPV6_HEADER_LEN > out.length) throw new RangeError(`IPv6 header does not fit at ${at}`);
  const view = dataView(out);
  view.setUint32(at + VER_TC_FLOW, ((6 << 28) | (header.trafficClass << 20) | header.flowLabel) >>> 0);
  view.setUint16(at + PAYLOAD_LENGTH, payloadLength);
  out[at + NEXT_HEADER] = header.nextHeader;
  out[at + HOP_LIMIT] = header.hopLimit;
  out.set(header.src, at + SRC);
  out.set(header.dst, at + DST);
  return at + IPV6_HEADER_LEN;
}

/**
 * Writes fixed header and payload at `out[at..]` and returns the offset after the payload. The payload
 * is copied unless it already lies right after the header (pass `out.subarray(…)` for a payload the
 * caller wrote in place).
 */
export function emitIpv6(repr: Ipv6Repr, out: Uint8Array, at: number): number {
  const payloadAt = emitIpv6Header(repr, repr.payload.length, out, at);
  return placePayload(repr.payload, out, payloadAt);
}
