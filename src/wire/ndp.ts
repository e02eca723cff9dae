/**
 * Neighbor Discovery options (RFC 4861 §4.6; Recursive DNS Server option: RFC 8106 §5.1).
 *
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |     Type      |    Length     |              ...              |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  ~                              ...                              ~
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Length counts the whole option (Type and Length included) in units of 8 octets. `parseNdpOptions`
 * checks each option's Length against the bytes left before reading it, and an option's fields against
 * the minimum its type needs, so nothing reads out of bounds. A Length of 0 makes the whole message
 * invalid (RFC 4861 §4.6: "Nodes MUST silently discard an ND packet that contains an option with
 * length zero"): the parse returns a WireError and the caller drops the packet. Options of types this
 * codec does not decode are kept raw and re-emit unchanged; variable-length fields keep their padding,
 * so a parsed option list re-emits byte for byte.
 */
import { dataView } from "./bytes.ts";
import { WireError } from "./error.ts";

/** Option lengths are multiples of this (RFC 4861 §4.6). */
export const NDP_OPTION_UNIT = 8;
/** Prefix Information is always Length 4 (RFC 4861 §4.6.2). */
export const NDP_PREFIX_INFORMATION_LEN = 32;
/** MTU is always Length 1 (RFC 4861 §4.6.4). */
export const NDP_MTU_LEN = 8;
/** Bytes before the quoted packet in a Redirected Header option (RFC 4861 §4.6.3). */
export const NDP_REDIRECTED_HEADER_PREFIX_LEN = 8;
/** Bytes before the addresses in an RDNSS option (RFC 8106 §5.1). */
export const NDP_RDNSS_PREFIX_LEN = 8;
/** Lifetime value meaning "infinity" in Prefix Information (RFC 4861 §4.6.2) and RDNSS (RFC 8106 §5.1). */
export const NDP_INFINITE_LIFETIME = 0xffffffff;

/** NDP option type numbers (RFC 4861 §4.6, RFC 8106 §5.1). */
export const NDP_OPTION_TYPE = {
  sourceLinkLayerAddress: 1,
  targetLinkLayerAddress: 2,
  prefixInformation: 3,
  redirectedHeader: 4,
  mtu: 5,
  recursiveDnsServer: 25,
} as const;

const PREFIX_FLAG_L = 0x80;
const PREFIX_FLAG_A = 0x40;

/**
 * Source or Target Link-layer Address (RFC 4861 §4.6.1). On Ethernet (RFC 2464 §8) `address` is the
 * 6-byte MAC; on other links it is every byte after the Length field, padding included.
 */
export interface NdpLinkLayerAddressOption {
  readonly kind: "source-link-layer-address" | "target-link-layer-address";
  readonly address: Uint8Array;
}

/** Prefix Information (RFC 4861 §4.6.2). Lifetimes in seconds; 0xffffffff is infinity. */
export interface NdpPrefixInformationOption {
  readonly kind: "prefix-information";
  readonly prefixLength: number;
  /** L: the prefix is on-link. */
  readonly onLink: boolean;
  /** A: the prefix may be used for stateless address autoconfiguration (RFC 4862). */
  readonly autonomous: boolean;
  readonly validLifetime: number;
  readonly preferredLifetime: number;
  /** 16 bytes; bits past `prefixLength` are ignored by receivers. */
  readonly prefix: Uint8Array;
}

/** Redirected Header (RFC 4861 §4.6.3): as much of the redirected packet as fits, padding included. */
export interface NdpRedirectedHeaderOption {
  readonly kind: "redirected-header";
  readonly packet: Uint8Array;
}

/** MTU (RFC 4861 §4.6.4): the link MTU a router advertises. */
export interface NdpMtuOption {
  readonly kind: "mtu";
  readonly mtu: number;
}

/** Recursive DNS Server (RFC 8106 §5.1). Lifetime in seconds; 0xffffffff is infinity, 0 "stop using". */
export interface NdpRdnssOption {
  readonly kind: "recursive-dns-server";
  readonly lifetime: number;
  /** 16-byte IPv6 addresses, views over the received bytes. */
  readonly servers: readonly Uint8Array[];
}

/** An option type this codec does not decode; `data` is everything after the Length byte. */
export interface NdpUnknownOption {
  readonly kind: "unknown";
  readonly type: number;
  readonly data: Uint8Array;
}

/** The meaning of one NDP option. */
export type NdpOption =
  | NdpLinkLayerAddressOption
  | NdpPrefixInformationOption
  | NdpRedirectedHeaderOption
  | NdpMtuOption
  | NdpRdnssOption
  | NdpUnknownOption;

/** Parses one option of `len` bytes (already checked to be present and non-zero) at `bytes[at..]`. */
function parseOption(bytes: Uint8Array, at: number, len: number): NdpOption | WireError {
  const type = bytes[at] as number;
  const body = bytes.subarray(at + 2, at + len);
  const view = dataView(bytes.subarray(at, at + len));
  switch (type) {
    case NDP_OPTION_TYPE.sourceLinkLayerAddress:
    case NDP_OPTION_TYPE.targetLinkLayerAddress:
      return {
        kind:
          type === NDP_OPTION_TYPE.sourceLinkLayerAddress ? "source-link-layer-address" : "target-link-layer-address",
        address: body,
      };
    case NDP_OPTION_TYPE.prefixInformation: {
      // RFC 4861 §4.6.2: Length is 4.
      if (len !== NDP_PREFIX_INFORMATION_LEN) {
        const units = len / NDP_OPTION_UNIT;
        return new WireError("ndp-option", "bad-length", `prefix information length ${units} ≠ 4 (RFC 4861 §4.6.2)`);
      }
      const flags = view.getUint8(3);
      return {
        kind: "prefix-information",
        prefixLength: view.getUint8(2),
        onLink: (flags & PREFIX_FLAG_L) !== 0,
        autonomous: (flags & PREFIX_FLAG_A) !== 0,
        validLifetime: view.getUint32(4),
        preferredLifetime: view.getUint32(8),
        prefix: bytes.subarray(at + 16, at + 32),
      };
    }
    case NDP_OPTION_TYPE.redirectedHeader:
      return { kind: "redirected-header", packet: bytes.subarray(at + NDP_REDIRECTED_HEADER_PREFIX_LEN, at + len) };
    case NDP_OPTION_TYPE.mtu:
      // RFC 4861 §4.6.4: Length is 1.
      if (len !== NDP_MTU_LEN) {
        return new WireError("ndp-option", "bad-length", `MTU length ${len / 8} ≠ 1 (RFC 4861 §4.6.4)`);
      }
      return { kind: "mtu", mtu: view.getUint32(4) };
    case NDP_OPTION_TYPE.recursiveDnsServer: {
      // RFC 8106 §5.1: Length is 1 + 2 × (number of addresses), at least 3.
      const units = len / NDP_OPTION_UNIT;
      if (units < 3 || units % 2 === 0) {
        return new WireError("ndp-option", "bad-length", `RDNSS length ${units} (RFC 8106 §5.1: odd, ≥ 3)`);
      }
      const servers: Uint8Array[] = [];
      for (let p = at + NDP_RDNSS_PREFIX_LEN; p < at + len; p += 16) servers.push(bytes.subarray(p, p + 16));
      return { kind: "recursive-dns-server", lifetime: view.getUint32(4), servers };
    }
    default:
      return { kind: "unknown", type, data: body };
  }
}

/**
 * Parses the options that fill `bytes` (an ND message's body after its fixed part). Any option with
 * Length 0, running past the end, or malformed for its type makes the whole list an error.
 */
export function parseNdpOptions(bytes: Uint8Array): readonly NdpOption[] | WireError {
  const options: NdpOption[] = [];
  let at = 0;
  // Each pass consumes at least 8 bytes (Length ≥ 1), so the loop ends.
  while (at < bytes.length) {
    if (bytes.length - at < 2) return new WireError("ndp-option", "truncated", `${bytes.length - at} byte(s) at ${at}`);
    const units = bytes[at + 1] as number;
    // RFC 4861 §4.6: "Nodes MUST silently discard an ND packet that contains an option with length zero."
    if (units === 0) {
      return new WireError("ndp-option", "bad-length", `option type ${bytes[at]} at ${at}: length 0 (RFC 4861 §4.6)`);
    }
    const len = units * NDP_OPTION_UNIT;
    if (len > bytes.length - at) {
      const left = bytes.length - at;
      return new WireError("ndp-option", "truncated", `option type ${bytes[at]} at ${at}: ${len} > ${left} bytes`);
    }
    const option = parseOption(bytes, at, len);
    if (option instanceof WireError) return option;
    options.push(option);
    at += len;
  }
  return options;
}

/** Rounds up to whole 8-octet units. */
function padded(len: number): number {
  return Math.ceil(len / NDP_OPTION_UNIT) * NDP_OPTION_UNIT;
}

/** Bytes `emitNdpOption` writes for `option`, padding included. */
export function ndpOptionLen(option: NdpOption): number {
  switch (option.kind) {
    case "source-link-layer-address":
    case "target-link-layer-address":
      return padded(2 + option.address.length);
    case "prefix-information":
      return NDP_PREFIX_INFORMATION_LEN;
    case "redirected-header":
      return padded(NDP_REDIRECTED_HEADER_PREFIX_LEN + option.packet.length);
    case "mtu":
      return NDP_MTU_LEN;
    case "recursive-dns-server":
      return NDP_RDNSS_PREFIX_LEN + 16 * option.servers.length;
    case "unknown":
      return padded(2 + option.data.length);
    default:
      return assertNever(option);
  }
}

/** Bytes `emitNdpOptions` writes for `options`. */
export function ndpOptionsLen(options: readonly NdpOption[]): number {
  let len = 0;
  for (const option of options) len += ndpOptionLen(option);
  return len;
}

/**
 * Writes one option at `out[at..]`, zero-filling reserved fields and padding, and returns the offset
 * after it. Throws RangeError for an option that cannot be encoded (longer than 255 units, a prefix
 * that is not 16 bytes, an RDNSS option without servers).
 */
export function emitNdpOption(option: NdpOption, out: Uint8Array, at: number): number {
  const len = ndpOptionLen(option);
  const units = len / NDP_OPTION_UNIT;
  if (units > 0xff) throw new RangeError(`NDP option ${option.kind} of ${len} bytes exceeds 255 units`);
  if (at + len > out.length) throw new RangeError(`NDP option of ${len} bytes does not fit at ${at}`);
  const view = dataView(out);
  let type: number;
  switch (option.kind) {
    case "source-link-layer-address":
    case "target-link-layer-address":
      type =
        option.kind === "source-link-layer-address"
          ? NDP_OPTION_TYPE.sourceLinkLayerAddress
          : NDP_OPTION_TYPE.targetLinkLayerAddress;
      out.set(option.address, at + 2);
      out.fill(0, at + 2 + option.address.length, at + len);
      break;
    case "prefix-information":
      type = NDP_OPTION_TYPE.prefixInformation;
      if (option.prefix.length !== 16) throw new RangeError(`prefix of ${option.prefix.length} bytes, not 16`);
      if (option.prefixLength > 128) throw new RangeError(`prefix length ${option.prefixLength} > 128`);
      view.setUint8(at + 2, option.prefixLength);
      view.setUint8(at + 3, (option.onLink ? PREFIX_FLAG_L : 0) | (option.autonomous ? PREFIX_FLAG_A : 0));
      view.setUint32(at + 4, option.validLifetime);
      view.setUint32(at + 8, option.preferredLifetime);
      view.setUint32(at + 12, 0);
      out.set(option.prefix, at + 16);
      break;
    case "redirected-header":
      type = NDP_OPTION_TYPE.redirectedHeader;
      out.fill(0, at + 2, at + NDP_REDIRECTED_HEADER_PREFIX_LEN);
      out.set(option.packet, at + NDP_REDIRECTED_HEADER_PREFIX_LEN);
      out.fill(0, at + NDP_REDIRECTED_HEADER_PREFIX_LEN + option.packet.length, at + len);
      break;
    case "mtu":
      type = NDP_OPTION_TYPE.mtu;
      view.setUint16(at + 2, 0);
      view.setUint32(at + 4, option.mtu);
      break;
    case "recursive-dns-server":
      type = NDP_OPTION_TYPE.recursiveDnsServer;
      // RFC 8106 §5.1: at least one address.
      if (option.servers.length === 0) throw new RangeError("RDNSS option without servers");
      view.setUint16(at + 2, 0);
      view.setUint32(at + 4, option.lifetime);
      option.servers.forEach((server, i) => {
        if (server.length !== 16) throw new RangeError(`RDNSS server of ${server.length} bytes, not 16`);
        out.set(server, at + NDP_RDNSS_PREFIX_LEN + 16 * i);
      });
      break;
    case "unknown":
      type = option.type;
      if (!Number.isInteger(type) || type < 0 || type > 0xff) {
        throw new RangeError(`NDP option type ${type} is not a byte`);
      }
      out.set(option.data, at + 2);
      out.fill(0, at + 2 + option.data.length, at + len);
      break;
    default:
      return assertNever(option);
  }
  view.setUint8(at, type);
  view.setUint8(at + 1, units);
  return at + len;
}

/** Writes `options` in order at `out[at..]`; returns the offset after the last. */
export function emitNdpOptions(options: readonly NdpOption[], out: Uint8Array, at: number): number {
  let p = at;
  for (const option of options) p = emitNdpOption(option, out, p);
  return p;
}

/** The first option of `kind` in `options`, narrowed, or undefined. */
export function findNdpOption<K extends NdpOption["kind"]>(
  options: readonly NdpOption[],
  kind: K,
): Extract<NdpOption, { kind: K }> | undefined {
  for (const option of options) if (option.kind === kind) return option as Extract<NdpOption, { kind: K }>;
  return undefined;
}

function assertNever(x: never): never {
  throw new Error(`unexpected NDP option ${JSON.stringify(x)}`);
}
