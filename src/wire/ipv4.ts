/**
 * IPv4 header (RFC 791; DSCP and ECN: RFC 2474, RFC 3168; Router Alert option: RFC 2113).
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |Version|  IHL  |   DSCP    |ECN|          Total Length         |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |         Identification        |Flags|      Fragment Offset    |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |  Time to Live |    Protocol   |         Header Checksum       |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                       Source Address                          |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                    Destination Address                        |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                    Options                    |    Padding    |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * `Ipv4View.check` verifies once that the version is 4, that IHL covers at least the fixed header and
 * fits in the buffer, and that Total Length covers the header and fits too; after that no accessor can
 * read out of bounds. Bytes past Total Length are link padding (Ethernet's 60-byte minimum), not part
 * of the packet. Options are parsed on demand and every option length is checked against the option
 * area before it is used. This file never throws on received bytes; `emitIpv4` throws only for a repr
 * that cannot be encoded.
 */
import { placePayload, put16 } from "./bytes.ts";
import { checksumOf } from "./checksum.ts";
import { WireError } from "./error.ts";
import { readIpv4, writeIpv4, type Ipv4Address } from "./ip-address.ts";
import { IP_PROTOCOL_UDP } from "./udp.ts";

export { IP_PROTOCOL_UDP };

/** IANA protocol numbers carried in IPv4 Protocol and IPv6 Next Header. */
export const IP_PROTOCOL_ICMP = 1;
export const IP_PROTOCOL_IGMP = 2;
export const IP_PROTOCOL_TCP = 6;
export const IP_PROTOCOL_ICMPV6 = 58;

/** The fixed header: IHL 5. */
export const IPV4_HEADER_LEN = 20;
/** IHL is 4 bits of 32-bit words: 15 × 4. */
export const IPV4_MAX_HEADER_LEN = 60;
/** Room for options after the fixed header. */
export const IPV4_MAX_OPTIONS_LEN = IPV4_MAX_HEADER_LEN - IPV4_HEADER_LEN;
/** Total Length is 16 bits. */
export const IPV4_MAX_PACKET_LEN = 0xffff;

const VER_IHL = 0;
const TOS = 1;
const TOTAL_LENGTH = 2;
const IDENT = 4;
const FLAGS_FRAG = 6;
const TTL = 8;
const PROTOCOL = 9;
const CHECKSUM = 10;
const SRC = 12;
const DST = 16;

const FLAG_RESERVED = 0x8000;
const FLAG_DF = 0x4000;
const FLAG_MF = 0x2000;
const FRAG_MASK = 0x1fff;

/** Option type octets (RFC 791 §3.1: copied flag, class, number; RFC 2113 for Router Alert). */
export const IPV4_OPTION = {
  endOfList: 0,
  nop: 1,
  recordRoute: 7,
  timestamp: 68,
  looseSourceRoute: 131,
  strictSourceRoute: 137,
  routerAlert: 148,
} as const;

/** A route-recording option: Record Route, Loose or Strict Source and Record Route (RFC 791 §3.1). */
export interface Ipv4RouteOption {
  readonly kind: "record-route" | "loose-source-route" | "strict-source-route";
  /** One-based octet index of the next address slot within the option, as on the wire (≥ 4). */
  readonly pointer: number;
  /** Every address slot, recorded or still empty. */
  readonly addresses: readonly Ipv4Address[];
}

/** RFC 791 §3.1 Internet Timestamp flag: what each entry holds. */
export type Ipv4TimestampFlag =
  | "timestamps-only" // 0
  | "with-address" // 1: each timestamp preceded by the address of the registering entity
  | "prespecified"; // 3: the sender named the addresses

/** One Internet Timestamp entry; `address` is undefined under "timestamps-only". */
export interface Ipv4TimestampEntry {
  readonly address: Ipv4Address | undefined;
  readonly timestamp: number;
}

/** An IPv4 option. Unknown types keep their data so they print and re-emit unchanged. */
export type Ipv4Option =
  | { readonly kind: "end-of-list" }
  | { readonly kind: "nop" }
  | Ipv4RouteOption
  | {
      readonly kind: "timestamp";
      /** One-based octet index of the next free slot (≥ 5). */
      readonly pointer: number;
      /** Hops that could not register for lack of room (4 bits). */
      readonly overflow: number;
      readonly flag: Ipv4TimestampFlag;
      readonly entries: readonly Ipv4TimestampEntry[];
    }
  | { readonly kind: "router-alert"; readonly value: number }
  | { readonly kind: "unknown"; readonly type: number; readonly data: Uint8Array }
  /**
   * An option area that did not parse, kept verbatim. Produced only by `parseIpv4(…, {strictOptions:
   * false})`, always as the sole element of the list, so a decoder can print the packet and re-emit
   * the header byte for byte.
   */
  | { readonly kind: "malformed"; readonly bytes: Uint8Array; readonly error: WireError };

/** The option type octet of `option` (RFC 791 §3.1), e.g. to test the copied flag (0x80) when fragmenting. */
export function ipv4OptionType(option: Ipv4Option): number {
  switch (option.kind) {
    case "end-of-list":
      return IPV4_OPTION.endOfList;
    case "nop":
      return IPV4_OPTION.nop;
    case "record-route":
      return IPV4_OPTION.recordRoute;
    case "loose-source-route":
      return IPV4_OPTION.looseSourceRoute;
    case "strict-source-route":
      return IPV4_OPTION.strictSourceRoute;
    case "timestamp":
      return IPV4_OPTION.timestamp;
    case "router-alert":
      return IPV4_OPTION.routerAlert;
    case "unknown":
      return option.type;
    case "malformed":
      return option.bytes[0] ?? IPV4_OPTION.endOfList;
    default:
      return assertNever(option);
  }
}

// Big-endian 16-bit read straight from the bytes: a DataView per packet view costs more than the
// few fields a receiver reads through it.
function be16(b: Uint8Array, at: number): number {
  return ((b[at] as number) << 8) | (b[at + 1] as number);
}

/** Zero-copy view over an IPv4 packet whose lengths have been checked. */
export class Ipv4View {
  private constructor(readonly bytes: Uint8Array) {}

  /** Checks version, IHL and Total Length against each other and against the bytes present. */
  static check(bytes: Uint8Array): Ipv4View | WireError {
    if (bytes.length < IPV4_HEADER_LEN) {
      return new WireError("ipv4", "truncated", `${bytes.length} < ${IPV4_HEADER_LEN} bytes`);
    }
    const v = new Ipv4View(bytes);
    if (v.version !== 4) return new WireError("ipv4", "bad-version", `version ${v.version}`);
    const hlen = v.headerLen;
    // RFC 791 §3.1: "the minimum value for a correct header is 5".
    if (hlen < IPV4_HEADER_LEN) return new WireError("ipv4", "bad-length", `IHL ${hlen / 4} < 5`);
    if (hlen > bytes.length) return new WireError("ipv4", "truncated", `IHL ${hlen / 4} > ${bytes.length} bytes`);
    const total = v.totalLength;
    if (total < hlen) return new WireError("ipv4", "bad-length", `total length ${total} < header ${hlen}`);
    if (total > bytes.length) {
      return new WireError("ipv4", "truncated", `total length ${total} > ${bytes.length} bytes`);
    }
    return v;
  }

  get version(): number {
    return (this.bytes[VER_IHL] as number) >>> 4;
  }
  /** IHL in bytes (the field counts 32-bit words). */
  get headerLen(): number {
    return ((this.bytes[VER_IHL] as number) & 0x0f) * 4;
  }
  /** RFC 2474: the upper six bits of the former TOS octet. */
  get dscp(): number {
    return (this.bytes[TOS] as number) >>> 2;
  }
  /** RFC 3168 §5: the lower two bits. */
  get ecn(): number {
    return (this.bytes[TOS] as number) & 0x03;
  }
  get totalLength(): number {
    return be16(this.bytes, TOTAL_LENGTH);
  }
  get ident(): number {
    return be16(this.bytes, IDENT);
  }
  /** RFC 791 §3.1: bit 0 of Flags, "reserved, must be zero"; receivers ignore it. */
  get reservedFlag(): boolean {
    return (be16(this.bytes, FLAGS_FRAG) & FLAG_RESERVED) !== 0;
  }
  get dontFragment(): boolean {
    return (be16(this.bytes, FLAGS_FRAG) & FLAG_DF) !== 0;
  }
  get moreFragments(): boolean {
    return (be16(this.bytes, FLAGS_FRAG) & FLAG_MF) !== 0;
  }
  /** Fragment Offset in bytes (the field counts 8-octet units). */
  get fragmentOffset(): number {
    return (be16(this.bytes, FLAGS_FRAG) & FRAG_MASK) * 8;
  }
  get ttl(): number {
    return this.bytes[TTL] as number;
  }
  get protocol(): number {
    return this.bytes[PROTOCOL] as number;
  }
  get checksum(): number {
    return be16(this.bytes, CHECKSUM);
  }
  get src(): Ipv4Address {
    return readIpv4(this.bytes, SRC);
  }
  get dst(): Ipv4Address {
    return readIpv4(this.bytes, DST);
  }
  /** The option area including its padding, as on the wire (empty when IHL is 5). */
  get optionsRaw(): Uint8Array {
    return this.bytes.subarray(IPV4_HEADER_LEN, this.headerLen);
  }
  /** The payload, a view over the same bytes, bounded by Total Length (not the buffer). */
  get payload(): Uint8Array {
    return this.bytes.subarray(this.headerLen, this.totalLength);
  }
  /** RFC 791 §3.1: the one's complement sum over the header, stored checksum included, is zero. */
  get checksumValid(): boolean {
    return checksumOf(this.bytes, 0, this.headerLen) === 0;
  }
  /** Parses the option area; a WireError names the first option that does not fit. */
  options(): readonly Ipv4Option[] | WireError {
    return parseIpv4Options(this.optionsRaw);
  }
}

/** The header fields of an IPv4 packet, as `emitIpv4Header` takes them. */
export interface Ipv4Header {
  readonly dscp: number;
  readonly ecn: number;
  readonly ident: number;
  readonly dontFragment: boolean;
  readonly moreFragments: boolean;
  /** In bytes; a multiple of 8 (the field counts 8-octet units). */
  readonly fragmentOffset: number;
  readonly ttl: number;
  readonly protocol: number;
  readonly src: Ipv4Address;
  readonly dst: Ipv4Address;
  /** Written in order, then padded with End of Option List octets to a 32-bit boundary. */
  readonly options: readonly Ipv4Option[];
}

/** The meaning of an IPv4 packet; `payload` borrows the received bytes. */
export interface Ipv4Repr extends Ipv4Header {
  readonly payload: Uint8Array;
  /** Whether the header checksum verified; always true unless parsed with `strictChecksum: false`. */
  readonly checksumOk: boolean;
}

/** How strictly `parseIpv4` treats a packet that is well framed but otherwise flawed. */
export interface Ipv4ParseOptions {
  /** Default true: a bad header checksum is an error. False: report it in `checksumOk` instead. */
  readonly strictChecksum?: boolean;
  /** Default true: a malformed option list is an error. False: keep it as one "malformed" option. */
  readonly strictOptions?: boolean;
}

/** Parses an IPv4 packet. Framing errors (version, IHL, Total Length) always fail. */
export function parseIpv4(bytes: Uint8Array, opts: Ipv4ParseOptions = {}): Ipv4Repr | WireError {
  const v = Ipv4View.check(bytes);
  if (v instanceof WireError) return v;
  const checksumOk = v.checksumValid;
  if (!checksumOk && opts.strictChecksum !== false) {
    return new WireError("ipv4", "bad-checksum", `0x${v.checksum.toString(16)}`);
  }
  // Most packets carry no options: they share one frozen empty list instead of allocating one.
  let options = v.headerLen === IPV4_HEADER_LEN ? NO_IPV4_OPTIONS : v.options();
  if (options instanceof WireError) {
    if (opts.strictOptions !== false) return options;
    options = [{ kind: "malformed", bytes: v.optionsRaw, error: options }];
  }
  return {
    dscp: v.dscp,
    ecn: v.ecn,
    ident: v.ident,
    dontFragment: v.dontFragment,
    moreFragments: v.moreFragments,
    fragmentOffset: v.fragmentOffset,
    ttl: v.ttl,
    protocol: v.protocol,
    src: v.src,
    dst: v.dst,
    options,
    payload: v.payload,
    checksumOk,
  };
}

/**
 * Parses an IPv4 option area (RFC 791 §3.1). Parsing stops after End of Option List: what follows is
 * padding. Every length octet is checked against the bytes left before the option's data is read.
 */
export function parseIpv4Options(area: Uint8Array): readonly Ipv4Option[] | WireError {
  const out: Ipv4Option[] = [];
  let i = 0;
  while (i < area.length) {
    const type = area[i] as number;
    if (type === IPV4_OPTION.endOfList) {
      out.push({ kind: "end-of-list" });
      break;
    }
    if (type === IPV4_OPTION.nop) {
      out.push({ kind: "nop" });
      i += 1;
      continue;
    }
    // RFC 791 §3.1 case 2: type, length (counting type and length octets), data.
    if (i + 1 >= area.length) return optionError(type, "no length octet");
    const len = area[i + 1] as number;
    if (len < 2) return optionError(type, `length ${len} < 2`);
    if (i + len > area.length) return optionError(type, `length ${len} > ${area.length - i} bytes left`);
    const opt = area.subarray(i, i + len);
    const parsed = parseOneOption(type, opt);
    if (parsed instanceof WireError) return parsed;
    out.push(parsed);
    i += len;
  }
  return out;
}

const NO_IPV4_OPTIONS: readonly Ipv4Option[] = Object.freeze([]);

/** Internet Timestamp flag codes by value; 2 and 4–15 are undefined (RFC 791 §3.1). */
const TIMESTAMP_FLAGS: readonly (Ipv4TimestampFlag | undefined)[] = [
  "timestamps-only",
  "with-address",
  undefined,
  "prespecified",
];

function parseOneOption(type: number, opt: Uint8Array): Ipv4Option | WireError {
  const len = opt.length;
  switch (type) {
    case IPV4_OPTION.recordRoute:
    case IPV4_OPTION.looseSourceRoute:
    case IPV4_OPTION.strictSourceRoute: {
      // RFC 791 §3.1: type, length, pointer (minimum 4), then route data of 4-octet addresses.
      if (len < 3) return optionError(type, `length ${len} < 3`);
      if ((len - 3) % 4 !== 0) return optionError(type, `route data of ${len - 3} bytes is not whole addresses`);
      const pointer = opt[2] as number;
      if (pointer < 4) return optionError(type, `pointer ${pointer} < 4`);
      const addresses: Ipv4Address[] = [];
      for (let j = 3; j < len; j += 4) addresses.push(readIpv4(opt, j));
      const kind =
        type === IPV4_OPTION.recordRoute
          ? "record-route"
          : type === IPV4_OPTION.looseSourceRoute
            ? "loose-source-route"
            : "strict-source-route";
      return { kind, pointer, addresses };
    }
    case IPV4_OPTION.timestamp: {
      // RFC 791 §3.1 Internet Timestamp: type, length, pointer (minimum 5), overflow|flag, entries.
      if (len < 4) return optionError(type, `length ${len} < 4`);
      const pointer = opt[2] as number;
      if (pointer < 5) return optionError(type, `pointer ${pointer} < 5`);
      const overflow = (opt[3] as number) >>> 4;
      const flagCode = (opt[3] as number) & 0x0f;
      const flag = TIMESTAMP_FLAGS[flagCode];
      if (flag === undefined) return optionError(type, `timestamp flag ${flagCode}`);
      const entryLen = flag === "timestamps-only" ? 4 : 8;
      if ((len - 4) % entryLen !== 0) {
        return optionError(type, `${len - 4} bytes of entries are not whole ${entryLen}-byte entries`);
      }
      const entries: Ipv4TimestampEntry[] = [];
      for (let j = 4; j < len; j += entryLen) {
        entries.push(
          entryLen === 4
            ? { address: undefined, timestamp: readIpv4(opt, j) }
            : { address: readIpv4(opt, j), timestamp: readIpv4(opt, j + 4) },
        );
      }
      return { kind: "timestamp", pointer, overflow, flag, entries };
    }
    case IPV4_OPTION.routerAlert:
      // RFC 2113 §2.1: length 4, a 16-bit value (0: "router shall examine packet").
      if (len !== 4) return optionError(type, `length ${len} != 4`);
      return { kind: "router-alert", value: ((opt[2] as number) << 8) | (opt[3] as number) };
    default:
      return { kind: "unknown", type, data: opt.subarray(2) };
  }
}

function optionError(type: number, detail: string): WireError {
  return new WireError("ipv4-option", "bad-value", `option ${type}: ${detail}`);
}

/** Bytes `options` take on the wire, before padding to a 32-bit boundary. */
export function ipv4OptionsLen(options: readonly Ipv4Option[]): number {
  let n = 0;
  for (const o of options) n += optionLen(o);
  return n;
}

function optionLen(o: Ipv4Option): number {
  switch (o.kind) {
    case "end-of-list":
    case "nop":
      return 1;
    case "record-route":
    case "loose-source-route":
    case "strict-source-route":
      return 3 + 4 * o.addresses.length;
    case "timestamp":
      return 4 + (o.flag === "timestamps-only" ? 4 : 8) * o.entries.length;
    case "router-alert":
      return 4;
    case "unknown":
      return 2 + o.data.length;
    case "malformed":
      return o.bytes.length;
    default:
      return assertNever(o);
  }
}

/** Header length `emitIpv4Header` writes for `header`: 20 plus the options padded to 4 bytes. */
export function ipv4HeaderLen(header: Ipv4Header): number {
  return IPV4_HEADER_LEN + ((ipv4OptionsLen(header.options) + 3) & ~3);
}

/**
 * Writes the header for a payload of `payloadLength` bytes at `out[at..]`, checksum included, and
 * returns the offset after the header, where the payload belongs. For egress built in place
 * (STYLE.md §9): the transport layer writes its segment at that offset first, then this goes in front.
 * Throws RangeError for a header that cannot be encoded (options over 40 bytes, a fragment offset that
 * is not a multiple of 8, a packet over 65535 bytes, a field out of range).
 */
export function emitIpv4Header(header: Ipv4Header, payloadLength: number, out: Uint8Array, at: number): number {
  const optLen = ipv4OptionsLen(header.options);
  if (optLen > IPV4_MAX_OPTIONS_LEN) throw new RangeError(`IPv4 options of ${optLen} bytes exceed 40`);
  const hlen = IPV4_HEADER_LEN + ((optLen + 3) & ~3);
  const total = hlen + payloadLength;
  if (total > IPV4_MAX_PACKET_LEN) throw new RangeError(`IPv4 packet of ${total} bytes exceeds 65535`);
  const { fragmentOffset } = header;
  if (fragmentOffset % 8 !== 0 || fragmentOffset < 0 || fragmentOffset > FRAG_MASK * 8) {
    throw new RangeError(`IPv4 fragment offset ${fragmentOffset} is not a multiple of 8 up to 65528`);
  }
  if (header.dscp >>> 6 !== 0 || header.ecn >>> 2 !== 0) throw new RangeError("IPv4 DSCP > 63 or ECN > 3");
  if (header.ident >>> 16 !== 0 || header.ttl >>> 8 !== 0 || header.protocol >>> 8 !== 0) {
    throw new RangeError("IPv4 identification > 65535, TTL > 255 or protocol > 255");
  }
  if (at + hlen > out.length) throw new RangeError(`IPv4 header of ${hlen} bytes does not fit at ${at}`);

  out[at + VER_IHL] = 0x40 | (hlen / 4);
  out[at + TOS] = (header.dscp << 2) | header.ecn;
  put16(out, at + TOTAL_LENGTH, total);
  put16(out, at + IDENT, header.ident);
  put16(out, at + FLAGS_FRAG, (header.dontFragment ? FLAG_DF : 0) | (header.moreFragments ? FLAG_MF : 0) | (fragmentOffset / 8));
  out[at + TTL] = header.ttl;
  out[at + PROTOCOL] = header.protocol;
  put16(out, at + CHECKSUM, 0);
  writeIpv4(out, at + SRC, header.src);
  writeIpv4(out, at + DST, header.dst);
  let i = at + IPV4_HEADER_LEN;
  for (const o of header.options) i = emitOption(o, out, i);
  // RFC 791 §3.1: "The internet header padding is used to ensure that the internet header ends on a
  // 32 bit boundary. The padding is zero", which is also End of Option List.
  if (i < at + hlen) out.fill(0, i, at + hlen);
  put16(out, at + CHECKSUM, checksumOf(out, at, at + hlen));
  return at + hlen;
}

/**
 * Writes header and payload at `out[at..]` and returns the offset after the payload. The payload is
 * copied unless it already lies right after the header (pass `out.subarray(…)` for a payload the
 * caller wrote in place). `checksumOk` of a parsed repr is ignored: the checksum is always computed.
 */
export function emitIpv4(repr: Ipv4Header & { readonly payload: Uint8Array }, out: Uint8Array, at: number): number {
  const payloadAt = emitIpv4Header(repr, repr.payload.length, out, at);
  return placePayload(repr.payload, out, payloadAt);
}

function emitOption(o: Ipv4Option, out: Uint8Array, at: number): number {
  switch (o.kind) {
    case "end-of-list":
      out[at] = IPV4_OPTION.endOfList;
      return at + 1;
    case "nop":
      out[at] = IPV4_OPTION.nop;
      return at + 1;
    case "record-route":
    case "loose-source-route":
    case "strict-source-route": {
      const len = optionLen(o);
      out[at] = ipv4OptionType(o);
      out[at + 1] = len;
      out[at + 2] = o.pointer;
      o.addresses.forEach((a, k) => writeIpv4(out, at + 3 + 4 * k, a));
      return at + len;
    }
    case "timestamp": {
      const len = optionLen(o);
      const flag = TIMESTAMP_FLAGS.indexOf(o.flag);
      out[at] = IPV4_OPTION.timestamp;
      out[at + 1] = len;
      out[at + 2] = o.pointer;
      out[at + 3] = ((o.overflow & 0x0f) << 4) | flag;
      let j = at + 4;
      for (const e of o.entries) {
        if (o.flag !== "timestamps-only") {
          if (e.address === undefined) throw new RangeError(`IPv4 timestamp option "${o.flag}" needs addresses`);
          writeIpv4(out, j, e.address);
          j += 4;
        }
        writeIpv4(out, j, e.timestamp >>> 0);
        j += 4;
      }
      return j;
    }
    case "router-alert":
      out[at] = IPV4_OPTION.routerAlert;
      out[at + 1] = 4;
      out[at + 2] = (o.value >>> 8) & 0xff;
      out[at + 3] = o.value & 0xff;
      return at + 4;
    case "unknown":
      if (o.type === IPV4_OPTION.endOfList || o.type === IPV4_OPTION.nop) {
        throw new RangeError(`IPv4 option type ${o.type} has no length octet`);
      }
      out[at] = o.type;
      out[at + 1] = 2 + o.data.length;
      out.set(o.data, at + 2);
      return at + 2 + o.data.length;
    case "malformed":
      out.set(o.bytes, at);
      return at + o.bytes.length;
    default:
      return assertNever(o);
  }
}

function assertNever(x: never): never {
  throw new Error(`unexpected ${JSON.stringify(x)}`);
}
