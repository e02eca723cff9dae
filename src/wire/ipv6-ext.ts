/**
 * IPv6 extension headers (RFC 8200 §4): Hop-by-Hop Options (§4.3), Routing (§4.4), Fragment (§4.5),
 * Destination Options (§4.6), No Next Header (§4.7), and the option TLVs they carry (§4.2; Router
 * Alert: RFC 2711; Jumbo Payload: RFC 2675).
 *
 *   Hop-by-Hop / Destination Options (§4.3, §4.6)    Routing (§4.4)
 *   +--------+--------+-----------------+            +--------+--------+--------+--------+
 *   |  Next  |Hdr Ext |                 |            |  Next  |Hdr Ext |Routing |Segments|
 *   | Header |  Len   |   Options ...   |            | Header |  Len   |  Type  |  Left  |
 *   +--------+--------+                 |            +--------+--------+--------+--------+
 *   |           ... Options             |            |      type-specific data ...       |
 *   +-----------------------------------+            +-----------------------------------+
 *
 *   Fragment (§4.5)
 *   +--------+--------+-------------------------+---+-+
 *   |  Next  |Reserved|     Fragment Offset     |Res|M|
 *   | Header |        |        (13 bits)        |   | |
 *   +--------+--------+-------------------------+---+-+
 *   |                 Identification                  |
 *   +-------------------------------------------------+
 *
 * Hdr Ext Len counts 8-octet units after the first eight. `walkIpv6Chain` checks every length field
 * (header and option) against the bytes present before reading past it, and returns either the whole
 * chain or an `Ipv6ChainError` that points at the offending octet, for an ICMPv6 Parameter Problem.
 * Nothing here throws on received bytes; the emit functions throw RangeError for reprs that cannot be
 * encoded.
 */
import { dataView } from "./bytes.ts";
import { WireError, type WireErrorReason } from "./error.ts";

/** Next Header values that name an extension header (RFC 8200 §4.1), and No Next Header (§4.7). */
export const IPV6_EXT = {
  hopByHop: 0,
  routing: 43,
  fragment: 44,
  noNextHeader: 59,
  destinationOptions: 60,
} as const;

/** Option types (RFC 8200 §4.2, RFC 2711 §2.1, RFC 2675 §2). */
export const IPV6_OPTION = {
  pad1: 0x00,
  padN: 0x01,
  routerAlert: 0x05,
  jumboPayload: 0xc2,
} as const;

export const IPV6_FRAGMENT_HEADER_LEN = 8;
/** The first eight octets of an options or routing header, which Hdr Ext Len does not count. */
const EXT_UNIT = 8;
/** (255 + 1) × 8. */
export const IPV6_EXT_MAX_HEADER_LEN = 2048;

/** An option inside a Hop-by-Hop or Destination Options header. */
export type Ipv6Option =
  | { readonly kind: "pad1" }
  /** `length` is the number of padding data octets (sent as zero, ignored on receipt). */
  | { readonly kind: "padn"; readonly length: number }
  | { readonly kind: "router-alert"; readonly value: number }
  | { readonly kind: "jumbo-payload"; readonly payloadLength: number }
  | {
      readonly kind: "unknown";
      readonly type: number;
      readonly data: Uint8Array;
      /**
       * Set by parsing: offset of the option type octet from the start of the bytes the chain was
       * walked over, for a Parameter Problem code 2 pointer (RFC 8200 §4.2). Ignored by emit.
       */
      readonly offset?: number;
    };

/** What RFC 8200 §4.2 tells a node to do with an option it does not recognize. */
export type Ipv6UnknownOptionAction = "skip" | "discard" | "discard-icmp" | "discard-icmp-unless-multicast";

/** RFC 8200 §4.2: the two highest-order bits of an option type say what to do when it is unrecognized. */
export function unknownOptionAction(type: number): Ipv6UnknownOptionAction {
  switch ((type >>> 6) & 0x03) {
    case 0:
      return "skip";
    case 1:
      return "discard";
    case 2:
      return "discard-icmp";
    default:
      return "discard-icmp-unless-multicast";
  }
}

/** RFC 8200 §4.2: the third-highest bit says the option data may change en route (e.g. for AH). */
export function optionDataMayChange(type: number): boolean {
  return (type & 0x20) !== 0;
}

/** A Hop-by-Hop (§4.3) or Destination Options (§4.6) header. */
export interface Ipv6OptionsHeader {
  readonly kind: "hop-by-hop" | "destination-options";
  readonly nextHeader: number;
  /** In wire order, padding options included. */
  readonly options: readonly Ipv6Option[];
}

/** A Routing header (§4.4). Every type is kept whole; type 0 is deprecated (RFC 5095) but still printed. */
export interface Ipv6RoutingHeader {
  readonly kind: "routing";
  readonly nextHeader: number;
  readonly routingType: number;
  readonly segmentsLeft: number;
  /** The type-specific data: everything after Segments Left (for types 0 and 2, 4 reserved octets first). */
  readonly data: Uint8Array;
}

/** A Fragment header (§4.5). */
export interface Ipv6FragmentHeader {
  readonly kind: "fragment";
  readonly nextHeader: number;
  /** In bytes; a multiple of 8 (the field counts 8-octet units). */
  readonly fragmentOffset: number;
  readonly moreFragments: boolean;
  readonly identification: number;
}

/** Any extension header this codec reads and writes. */
export type Ipv6ExtHeader = Ipv6OptionsHeader | Ipv6RoutingHeader | Ipv6FragmentHeader;

/** An extension header as found in a packet: where it starts and how long it is. */
export type Ipv6ChainEntry = Ipv6ExtHeader & {
  /** Offset of the header's first octet from the start of the bytes walked. */
  readonly offset: number;
  /** Header length in bytes. */
  readonly length: number;
};

/** The result of walking an extension-header chain. */
export interface Ipv6Chain {
  readonly headers: readonly Ipv6ChainEntry[];
  /**
   * The Next Header value that ended the walk: an upper-layer protocol (6, 17, 58, or any number
   * this codec does not walk, e.g. ESP 50 and AH 51), No Next Header (59), or, after a fragment
   * that is not the first, the protocol the reassembled packet continues with.
   */
  readonly upperLayer: number;
  /** Offset of the upper-layer data (or, after a non-first fragment, of the fragment data). */
  readonly payloadOffset: number;
}

/**
 * A chain that does not parse. `pointer` is the offset, from the start of the bytes walked, of the
 * octet at fault; add the 40-byte fixed header for an ICMPv6 Parameter Problem pointer (RFC 4443 §3.4).
 */
export class Ipv6ChainError extends WireError {
  constructor(
    reason: WireErrorReason,
    detail: string,
    readonly pointer: number,
  ) {
    super("ipv6-ext", reason, detail);
  }
}

/**
 * Walks the extension headers at the start of `bytes` (an IPv6 payload) given the fixed header's Next
 * Header. Stops at the first Next Header value that is not an extension header, at No Next Header
 * (RFC 8200 §4.7: whatever follows is ignored), and after a Fragment header with a non-zero offset
 * (what follows is the middle of the fragmentable part, not a header: reassemble, then walk again).
 * The loop is bounded: every header consumes at least eight bytes.
 */
export function walkIpv6Chain(nextHeader: number, bytes: Uint8Array): Ipv6Chain | Ipv6ChainError {
  const headers: Ipv6ChainEntry[] = [];
  let nh = nextHeader;
  let at = 0;
  for (;;) {
    switch (nh) {
      case IPV6_EXT.hopByHop:
      case IPV6_EXT.destinationOptions:
      case IPV6_EXT.routing: {
        // RFC 8200 §4.3: Hop-by-Hop Options only immediately after the IPv6 header. The pointer names
        // the previous header's Next Header field, as Linux does (Parameter Problem code 1).
        if (nh === IPV6_EXT.hopByHop && headers.length > 0) {
          const prev = headers[headers.length - 1] as Ipv6ChainEntry;
          return new Ipv6ChainError("bad-value", "hop-by-hop header not first", prev.offset);
        }
        const entry = parseVariableHeader(nh, bytes, at);
        if (entry instanceof Ipv6ChainError) return entry;
        headers.push(entry);
        nh = entry.nextHeader;
        at += entry.length;
        break;
      }
      case IPV6_EXT.fragment: {
        const entry = parseFragmentHeader(bytes, at);
        if (entry instanceof Ipv6ChainError) return entry;
        headers.push(entry);
        nh = entry.nextHeader;
        at += entry.length;
        if (entry.fragmentOffset !== 0) return { headers, upperLayer: nh, payloadOffset: at };
        break;
      }
      default:
        // An upper-layer protocol, No Next Header, or a header this codec does not walk.
        return { headers, upperLayer: nh, payloadOffset: at };
    }
  }
}

function parseVariableHeader(nh: number, bytes: Uint8Array, at: number): Ipv6ChainEntry | Ipv6ChainError {
  const name = nh === IPV6_EXT.routing ? "routing" : nh === IPV6_EXT.hopByHop ? "hop-by-hop" : "destination-options";
  if (at + EXT_UNIT > bytes.length) {
    return new Ipv6ChainError("truncated", `${name} header: ${bytes.length - at} < 8 bytes`, at);
  }
  const length = ((bytes[at + 1] as number) + 1) * EXT_UNIT;
  if (at + length > bytes.length) {
    return new Ipv6ChainError("truncated", `${name} header length ${length} > ${bytes.length - at} bytes`, at + 1);
  }
  const nextHeader = bytes[at] as number;
  if (nh === IPV6_EXT.routing) {
    return {
      kind: "routing",
      nextHeader,
      routingType: bytes[at + 2] as number,
      segmentsLeft: bytes[at + 3] as number,
      data: bytes.subarray(at + 4, at + length),
      offset: at,
      length,
    };
  }
  const options = parseOptions(bytes, at + 2, at + length);
  if (options instanceof Ipv6ChainError) return options;
  const kind = nh === IPV6_EXT.hopByHop ? "hop-by-hop" : "destination-options";
  return { kind, nextHeader, options, offset: at, length };
}

function parseFragmentHeader(
  bytes: Uint8Array,
  at: number,
): (Ipv6FragmentHeader & { readonly offset: number; readonly length: number }) | Ipv6ChainError {
  if (at + IPV6_FRAGMENT_HEADER_LEN > bytes.length) {
    return new Ipv6ChainError("truncated", `fragment header: ${bytes.length - at} < 8 bytes`, at);
  }
  const view = dataView(bytes);
  const offM = view.getUint16(at + 2);
  return {
    kind: "fragment",
    nextHeader: bytes[at] as number,
    // RFC 8200 §4.5: offset in 8-octet units in the upper 13 bits, two reserved bits, then M.
    fragmentOffset: offM & 0xfff8,
    moreFragments: (offM & 1) !== 0,
    identification: view.getUint32(at + 4),
    offset: at,
    length: IPV6_FRAGMENT_HEADER_LEN,
  };
}

/**
 * Parses the option TLVs of `bytes[start..end)` (RFC 8200 §4.2). Offsets in the result and in errors
 * count from the start of `bytes`.
 */
function parseOptions(bytes: Uint8Array, start: number, end: number): Ipv6Option[] | Ipv6ChainError {
  const out: Ipv6Option[] = [];
  let i = start;
  while (i < end) {
    const type = bytes[i] as number;
    // RFC 8200 §4.2: Pad1 is the one option without length and data fields.
    if (type === IPV6_OPTION.pad1) {
      out.push({ kind: "pad1" });
      i += 1;
      continue;
    }
    if (i + 2 > end) return new Ipv6ChainError("bad-length", `option ${type}: no length octet`, i);
    const len = bytes[i + 1] as number;
    if (i + 2 + len > end) {
      return new Ipv6ChainError("bad-length", `option ${type}: length ${len} > ${end - i - 2} bytes left`, i + 1);
    }
    const data = bytes.subarray(i + 2, i + 2 + len);
    switch (type) {
      case IPV6_OPTION.padN:
        out.push({ kind: "padn", length: len });
        break;
      case IPV6_OPTION.routerAlert:
        // RFC 2711 §2.1: Opt Data Len 2.
        if (len !== 2) return new Ipv6ChainError("bad-value", `router alert length ${len} != 2`, i + 1);
        out.push({ kind: "router-alert", value: dataView(data).getUint16(0) });
        break;
      case IPV6_OPTION.jumboPayload:
        // RFC 2675 §2: Opt Data Len 4.
        if (len !== 4) return new Ipv6ChainError("bad-value", `jumbo payload length ${len} != 4`, i + 1);
        out.push({ kind: "jumbo-payload", payloadLength: dataView(data).getUint32(0) });
        break;
      default:
        out.push({ kind: "unknown", type, data, offset: i });
    }
    i += 2 + len;
  }
  return out;
}

/** Bytes one option takes on the wire. */
function optionLen(o: Ipv6Option): number {
  switch (o.kind) {
    case "pad1":
      return 1;
    case "padn":
      return 2 + o.length;
    case "router-alert":
      return 4;
    case "jumbo-payload":
      return 6;
    case "unknown":
      return 2 + o.data.length;
    default:
      return assertNever(o);
  }
}

/** Bytes `emitIpv6ExtHeader` writes for `header`, padding included. */
export function ipv6ExtHeaderLen(header: Ipv6ExtHeader): number {
  switch (header.kind) {
    case "hop-by-hop":
    case "destination-options": {
      let n = 2;
      for (const o of header.options) n += optionLen(o);
      return (n + 7) & ~7;
    }
    case "routing":
      return 4 + header.data.length;
    case "fragment":
      return IPV6_FRAGMENT_HEADER_LEN;
    default:
      return assertNever(header);
  }
}

/** Writes any extension header at `out[at..]` and returns the offset after it. */
export function emitIpv6ExtHeader(header: Ipv6ExtHeader, out: Uint8Array, at: number): number {
  switch (header.kind) {
    case "hop-by-hop":
    case "destination-options":
      return emitIpv6OptionsHeader(header, out, at);
    case "routing":
      return emitIpv6RoutingHeader(header, out, at);
    case "fragment":
      return emitIpv6FragmentHeader(header, out, at);
    default:
      return assertNever(header);
  }
}

/**
 * Writes a Hop-by-Hop or Destination Options header: the options in the order given, then Pad1 or
 * PadN up to a multiple of 8 octets (RFC 8200 §4.3). Alignment of individual options (Router Alert
 * 2n+0, Jumbo 4n+2, RFC 8200 §4.2) is the caller's: place padding options where needed. Returns the
 * offset after the header.
 */
export function emitIpv6OptionsHeader(header: Ipv6OptionsHeader, out: Uint8Array, at: number): number {
  const length = ipv6ExtHeaderLen(header);
  if (length > IPV6_EXT_MAX_HEADER_LEN) throw new RangeError(`IPv6 options header of ${length} bytes exceeds 2048`);
  if (at + length > out.length) throw new RangeError(`IPv6 options header of ${length} bytes does not fit at ${at}`);
  out[at] = header.nextHeader;
  out[at + 1] = length / EXT_UNIT - 1;
  let i = at + 2;
  for (const o of header.options) i = emitOption(o, out, i);
  const pad = at + length - i;
  if (pad === 1) out[i] = IPV6_OPTION.pad1;
  else if (pad >= 2) {
    out[i] = IPV6_OPTION.padN;
    out[i + 1] = pad - 2;
    out.fill(0, i + 2, at + length);
  }
  return at + length;
}

function emitOption(o: Ipv6Option, out: Uint8Array, at: number): number {
  switch (o.kind) {
    case "pad1":
      out[at] = IPV6_OPTION.pad1;
      return at + 1;
    case "padn":
      if (o.length > 0xff) throw new RangeError(`IPv6 PadN of ${o.length} data bytes exceeds 255`);
      out[at] = IPV6_OPTION.padN;
      out[at + 1] = o.length;
      out.fill(0, at + 2, at + 2 + o.length);
      return at + 2 + o.length;
    case "router-alert":
      out[at] = IPV6_OPTION.routerAlert;
      out[at + 1] = 2;
      dataView(out).setUint16(at + 2, o.value);
      return at + 4;
    case "jumbo-payload":
      out[at] = IPV6_OPTION.jumboPayload;
      out[at + 1] = 4;
      dataView(out).setUint32(at + 2, o.payloadLength);
      return at + 6;
    case "unknown":
      if (o.type === IPV6_OPTION.pad1) throw new RangeError("IPv6 option type 0 is Pad1 and has no data");
      if (o.data.length > 0xff) throw new RangeError(`IPv6 option of ${o.data.length} data bytes exceeds 255`);
      out[at] = o.type;
      out[at + 1] = o.data.length;
      out.set(o.data, at + 2);
      return at + 2 + o.data.length;
    default:
      return assertNever(o);
  }
}

/**
 * Writes a Routing header (RFC 8200 §4.4) and returns the offset after it. `data` must make the header
 * a multiple of 8 octets (4 + data.length ≡ 0 mod 8); it is written as given.
 */
export function emitIpv6RoutingHeader(header: Ipv6RoutingHeader, out: Uint8Array, at: number): number {
  const length = 4 + header.data.length;
  if (length % EXT_UNIT !== 0 || length > IPV6_EXT_MAX_HEADER_LEN) {
    throw new RangeError(`IPv6 routing header of ${length} bytes is not a multiple of 8 up to 2048`);
  }
  if (at + length > out.length) throw new RangeError(`IPv6 routing header of ${length} bytes does not fit at ${at}`);
  out[at] = header.nextHeader;
  out[at + 1] = length / EXT_UNIT - 1;
  out[at + 2] = header.routingType;
  out[at + 3] = header.segmentsLeft;
  out.set(header.data, at + 4);
  return at + length;
}

/** Writes a Fragment header (RFC 8200 §4.5) and returns the offset after it. */
export function emitIpv6FragmentHeader(header: Ipv6FragmentHeader, out: Uint8Array, at: number): number {
  const { fragmentOffset } = header;
  if (fragmentOffset % 8 !== 0 || fragmentOffset < 0 || fragmentOffset > 0xfff8) {
    throw new RangeError(`IPv6 fragment offset ${fragmentOffset} is not a multiple of 8 up to 65528`);
  }
  if (at + IPV6_FRAGMENT_HEADER_LEN > out.length) throw new RangeError(`IPv6 fragment header does not fit at ${at}`);
  const view = dataView(out);
  out[at] = header.nextHeader;
  out[at + 1] = 0;
  view.setUint16(at + 2, fragmentOffset | (header.moreFragments ? 1 : 0));
  view.setUint32(at + 4, header.identification >>> 0);
  return at + IPV6_FRAGMENT_HEADER_LEN;
}

function assertNever(x: never): never {
  throw new Error(`unexpected ${JSON.stringify(x)}`);
}
