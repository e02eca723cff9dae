/**
 * ICMP for IPv6 (RFC 4443) and the Neighbor Discovery messages carried in it (RFC 4861 §4); NDP
 * options are decoded by ./ndp.ts. MLD messages (RFC 2710 §3, RFC 3810 §5) are named, not decoded.
 *
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |     Type      |     Code      |          Checksum             |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                         Message Body                          |
 *  +                                                               +
 *
 * Message bodies (byte offsets from the start of the message):
 *   errors (types 1–4)    4: unused / MTU / Pointer (32 bits)   8: invoking packet, as much as fits
 *   echo (128, 129)       4: Identifier  6: Sequence Number      8: data
 *   RS (133)              4: reserved                            8: options
 *   RA (134)              4: Cur Hop Limit  5: M O flags  6: Router Lifetime  8: Reachable Time
 *                        12: Retrans Timer                      16: options
 *   NS (135)              4: reserved  8: Target Address        24: options
 *   NA (136)              4: R S O flags + reserved  8: Target  24: options
 *   Redirect (137)        4: reserved  8: Target  24: Destination Address  40: options
 *
 * ICMPv6 has no length field: the message is the whole IPv6 payload the IP layer hands over.
 * `Icmpv6View.check` verifies the 4-byte header; each message's fixed part is length-checked in
 * `parseIcmpv6` before it is read. The checksum covers an IPv6 pseudo-header (RFC 4443 §2.3, RFC 8200
 * §8.1) and is verified when the caller passes it. The quoted packet of an error is a byte view
 * (`invoking`) for the IPv6 codec to parse. Types or codes not modelled become `{ kind: "unknown" }`
 * with their bytes kept, so they re-emit unchanged; an ND message that RFC 4861 says to discard
 * (non-zero code, too short, multicast target, bad option) is a WireError.
 */
import { dataView, placePayload } from "./bytes.ts";
import { finishChecksum, pseudoHeaderSum, sumBytes, type PseudoHeader } from "./checksum.ts";
import { WireError } from "./error.ts";
import { isIpv6Multicast, type Ipv6Address } from "./ip-address.ts";
import { emitNdpOptions, ndpOptionsLen, parseNdpOptions, type NdpOption } from "./ndp.ts";

/** Type, code and checksum: the part every ICMPv6 message has. */
export const ICMPV6_HEADER_LEN = 4;
/** Header and the 32-bit field after it: errors and echo. */
export const ICMPV6_ERROR_HEADER_LEN = 8;
export const ICMPV6_ROUTER_SOLICITATION_LEN = 8;
export const ICMPV6_ROUTER_ADVERTISEMENT_LEN = 16;
export const ICMPV6_NEIGHBOR_SOLICITATION_LEN = 24;
export const ICMPV6_NEIGHBOR_ADVERTISEMENT_LEN = 24;
export const ICMPV6_REDIRECT_LEN = 40;
/** Next Header value of ICMPv6 (RFC 4443 §1), the protocol number in its pseudo-header. */
export const IP_PROTOCOL_ICMPV6 = 58;

/** ICMPv6 message types this codec names (RFC 4443 §2.1, RFC 4861 §4, RFC 2710 §3, RFC 3810 §5). */
export const ICMPV6_TYPE = {
  destinationUnreachable: 1,
  packetTooBig: 2,
  timeExceeded: 3,
  parameterProblem: 4,
  echoRequest: 128,
  echoReply: 129,
  mldQuery: 130,
  mldReport: 131,
  mldDone: 132,
  routerSolicitation: 133,
  routerAdvertisement: 134,
  neighborSolicitation: 135,
  neighborAdvertisement: 136,
  redirect: 137,
  mldv2Report: 143,
} as const;

/** The pseudo-header ICMPv6 needs: it only ever rides on IPv6. */
export type Icmpv6PseudoHeader = Extract<PseudoHeader, { family: 6 }>;

const TYPE = 0;
const CODE = 1;
const CHECKSUM = 2;
const IDENTIFIER = 4;
const SEQUENCE = 6;
const MTU = 4;
const POINTER = 4;
const CUR_HOP_LIMIT = 4;
const RA_FLAGS = 5;
const ROUTER_LIFETIME = 6;
const REACHABLE_TIME = 8;
const RETRANS_TIMER = 12;
const NA_FLAGS = 4;
const TARGET = 8;
const DESTINATION = 24;

const RA_FLAG_M = 0x80;
const RA_FLAG_O = 0x40;
const RA_EXTENSION_FLAGS = 0x3f;
const NA_FLAG_R = 0x80;
const NA_FLAG_S = 0x40;
const NA_FLAG_O = 0x20;

/** Zero-copy view over an ICMPv6 message of at least 4 bytes. */
export class Icmpv6View {
  private readonly view: DataView;

  private constructor(readonly bytes: Uint8Array) {
    this.view = dataView(bytes);
  }

  /** Checks the 4-byte header; fields further in are read only after `parseIcmpv6` checked the length. */
  static check(bytes: Uint8Array): Icmpv6View | WireError {
    if (bytes.length < ICMPV6_HEADER_LEN) {
      return new WireError("icmpv6", "truncated", `${bytes.length} < ${ICMPV6_HEADER_LEN} bytes`);
    }
    return new Icmpv6View(bytes);
  }

  get type(): number {
    return this.view.getUint8(TYPE);
  }
  get code(): number {
    return this.view.getUint8(CODE);
  }
  get checksum(): number {
    return this.view.getUint16(CHECKSUM);
  }
  /** RFC 4443 §2.1: types 0–127 are errors, 128–255 informational. */
  get isError(): boolean {
    return this.type < 128;
  }
  /** Bytes 4..end: the message body as received. */
  get rest(): Uint8Array {
    return this.bytes.subarray(ICMPV6_HEADER_LEN);
  }
  /** True when the checksum over `ph` and the whole message verifies (RFC 4443 §2.3). */
  verifyChecksum(ph: Icmpv6PseudoHeader): boolean {
    const len = this.bytes.length;
    return finishChecksum(sumBytes(this.bytes, 0, len, pseudoHeaderSum(ph, IP_PROTOCOL_ICMPV6, len))) === 0;
  }
}

/** Destination-unreachable codes (RFC 4443 §3.1). */
export type Icmpv6UnreachableCode =
  | {
      readonly kind:
        | "no-route"
        | "admin-prohibited"
        | "beyond-scope"
        | "address-unreachable"
        | "port-unreachable"
        | "source-address-failed-policy"
        | "reject-route";
    }
  | { readonly kind: "unknown"; readonly value: number };

const UNREACHABLE_NAMES = [
  "no-route",
  "admin-prohibited",
  "beyond-scope",
  "address-unreachable",
  "port-unreachable",
  "source-address-failed-policy",
  "reject-route",
] as const;

/** Time-exceeded codes (RFC 4443 §3.3). */
export type Icmpv6TimeExceededCode =
  | { readonly kind: "hop-limit-exceeded" | "reassembly-time-exceeded" }
  | { readonly kind: "unknown"; readonly value: number };

const TIME_EXCEEDED_NAMES = ["hop-limit-exceeded", "reassembly-time-exceeded"] as const;

/** Parameter-problem codes (RFC 4443 §3.4). */
export type Icmpv6ParameterProblemCode =
  | { readonly kind: "erroneous-header-field" | "unrecognized-next-header" | "unrecognized-option" }
  | { readonly kind: "unknown"; readonly value: number };

const PARAMETER_PROBLEM_NAMES = ["erroneous-header-field", "unrecognized-next-header", "unrecognized-option"] as const;

/** Echo request or reply (RFC 4443 §4.1, §4.2); `data` borrows the received bytes. */
export interface Icmpv6Echo {
  readonly kind: "echo-request" | "echo-reply";
  readonly identifier: number;
  readonly sequence: number;
  readonly data: Uint8Array;
}

/** Destination unreachable (RFC 4443 §3.1); `invoking` is the quoted packet, IPv6 header first. */
export interface Icmpv6DestinationUnreachable {
  readonly kind: "destination-unreachable";
  readonly code: Icmpv6UnreachableCode;
  readonly invoking: Uint8Array;
}

/** Packet too big (RFC 4443 §3.2): the MTU of the next-hop link. */
export interface Icmpv6PacketTooBig {
  readonly kind: "packet-too-big";
  readonly mtu: number;
  readonly invoking: Uint8Array;
}

/** Time exceeded (RFC 4443 §3.3). */
export interface Icmpv6TimeExceeded {
  readonly kind: "time-exceeded";
  readonly code: Icmpv6TimeExceededCode;
  readonly invoking: Uint8Array;
}

/** Parameter problem (RFC 4443 §3.4); `pointer` is the offending octet offset in `invoking`. */
export interface Icmpv6ParameterProblem {
  readonly kind: "parameter-problem";
  readonly code: Icmpv6ParameterProblemCode;
  readonly pointer: number;
  readonly invoking: Uint8Array;
}

/** Router Solicitation (RFC 4861 §4.1). */
export interface Icmpv6RouterSolicitation {
  readonly kind: "router-solicitation";
  readonly options: readonly NdpOption[];
}

/** Router Advertisement (RFC 4861 §4.2). Times: lifetime in seconds, the two timers in milliseconds. */
export interface Icmpv6RouterAdvertisement {
  readonly kind: "router-advertisement";
  /** 0: unspecified by this router. */
  readonly curHopLimit: number;
  /** M: addresses are available via DHCPv6. */
  readonly managed: boolean;
  /** O: other configuration is available via DHCPv6. */
  readonly otherConfig: boolean;
  /** The six flag bits after M and O (RFC 4191 Prf, RFC 4389 P, …) as received; undefined when 0. */
  readonly extensionFlags: number | undefined;
  /** 0: not a default router. */
  readonly routerLifetime: number;
  /** 0: unspecified. */
  readonly reachableTime: number;
  /** 0: unspecified. */
  readonly retransTimer: number;
  readonly options: readonly NdpOption[];
}

/** Neighbor Solicitation (RFC 4861 §4.3). */
export interface Icmpv6NeighborSolicitation {
  readonly kind: "neighbor-solicitation";
  readonly target: Ipv6Address;
  readonly options: readonly NdpOption[];
}

/** Neighbor Advertisement (RFC 4861 §4.4). */
export interface Icmpv6NeighborAdvertisement {
  readonly kind: "neighbor-advertisement";
  /** R: the sender is a router. */
  readonly router: boolean;
  /** S: sent in response to a solicitation. */
  readonly solicited: boolean;
  /** O: override an existing cache entry. */
  readonly override: boolean;
  readonly target: Ipv6Address;
  readonly options: readonly NdpOption[];
}

/** Redirect (RFC 4861 §4.5): reach `destination` through `target` (a better router, or on-link). */
export interface Icmpv6Redirect {
  readonly kind: "redirect";
  readonly target: Ipv6Address;
  readonly destination: Ipv6Address;
  readonly options: readonly NdpOption[];
}

/** An MLD message (RFC 2710 §3; MLDv2 report RFC 3810 §5.2), named but kept raw. */
export interface Icmpv6Mld {
  readonly kind: "mld-query" | "mld-report" | "mld-done" | "mldv2-report";
  readonly code: number;
  /** Bytes 4..end. */
  readonly rest: Uint8Array;
}

/** Any other type, or an echo with a code RFC 4443 does not define; re-emits byte for byte. */
export interface Icmpv6Unknown {
  readonly kind: "unknown";
  readonly type: number;
  readonly code: number;
  /** Bytes 4..end. */
  readonly rest: Uint8Array;
}

/** The meaning of an ICMPv6 message. */
export type Icmpv6Repr =
  | Icmpv6Echo
  | Icmpv6DestinationUnreachable
  | Icmpv6PacketTooBig
  | Icmpv6TimeExceeded
  | Icmpv6ParameterProblem
  | Icmpv6RouterSolicitation
  | Icmpv6RouterAdvertisement
  | Icmpv6NeighborSolicitation
  | Icmpv6NeighborAdvertisement
  | Icmpv6Redirect
  | Icmpv6Mld
  | Icmpv6Unknown;

/** A code union value: the name at index `code`, or unknown. */
type Named<N extends string> = { readonly kind: N } | { readonly kind: "unknown"; readonly value: number };

function named<N extends string>(names: readonly N[], code: number): Named<N> {
  const name = names[code];
  return name === undefined ? { kind: "unknown", value: code } : { kind: name };
}

const MLD_TYPES: Readonly<Record<Icmpv6Mld["kind"], number>> = {
  "mld-query": ICMPV6_TYPE.mldQuery,
  "mld-report": ICMPV6_TYPE.mldReport,
  "mld-done": ICMPV6_TYPE.mldDone,
  "mldv2-report": ICMPV6_TYPE.mldv2Report,
};

function mldKind(type: number): Icmpv6Mld["kind"] | undefined {
  switch (type) {
    case ICMPV6_TYPE.mldQuery:
      return "mld-query";
    case ICMPV6_TYPE.mldReport:
      return "mld-report";
    case ICMPV6_TYPE.mldDone:
      return "mld-done";
    case ICMPV6_TYPE.mldv2Report:
      return "mldv2-report";
    default:
      return undefined;
  }
}

/** The RFC 4861 validity checks every ND message shares: code 0 and the fixed part present. */
function checkNd(v: Icmpv6View, name: string, minLen: number, section: string): WireError | undefined {
  if (v.code !== 0) return new WireError("icmpv6", "bad-value", `${name} code ${v.code} ≠ 0 (RFC 4861 ${section})`);
  if (v.bytes.length < minLen) {
    return new WireError("icmpv6", "truncated", `${name}: ${v.bytes.length} < ${minLen} bytes (RFC 4861 ${section})`);
  }
  return undefined;
}

/** The options after an ND message's fixed part; a bad option invalidates the message (RFC 4861 §4.6). */
function ndOptions(bytes: Uint8Array, from: number): readonly NdpOption[] | WireError {
  return parseNdpOptions(bytes.subarray(from));
}

/**
 * Parses an ICMPv6 message (the whole IPv6 payload after extension headers). With `ph` a bad checksum
 * is an error; without it the checksum is not looked at (the caller may verify through `Icmpv6View`).
 * Hop-limit and source-address checks of RFC 4861 need the IPv6 header and are left to the caller.
 */
export function parseIcmpv6(bytes: Uint8Array, ph?: Icmpv6PseudoHeader): Icmpv6Repr | WireError {
  const v = Icmpv6View.check(bytes);
  if (v instanceof WireError) return v;
  if (ph && !v.verifyChecksum(ph)) return new WireError("icmpv6", "bad-checksum", `0x${v.checksum.toString(16)}`);
  const type = v.type;
  const code = v.code;
  const view = dataView(bytes);
  // Errors and echo all carry a 32-bit field before their data (RFC 4443 §3, §4).
  const errorOrEcho =
    (type >= ICMPV6_TYPE.destinationUnreachable && type <= ICMPV6_TYPE.parameterProblem) ||
    type === ICMPV6_TYPE.echoRequest ||
    type === ICMPV6_TYPE.echoReply;
  if (errorOrEcho && bytes.length < ICMPV6_ERROR_HEADER_LEN) {
    return new WireError("icmpv6", "truncated", `type ${type}: ${bytes.length} < ${ICMPV6_ERROR_HEADER_LEN} bytes`);
  }
  const invoking = bytes.subarray(ICMPV6_ERROR_HEADER_LEN);
  switch (type) {
    case ICMPV6_TYPE.destinationUnreachable:
      return { kind: "destination-unreachable", code: named(UNREACHABLE_NAMES, code), invoking };
    case ICMPV6_TYPE.packetTooBig:
      // RFC 4443 §3.2: Code is "ignored by the receiver".
      return { kind: "packet-too-big", mtu: view.getUint32(MTU), invoking };
    case ICMPV6_TYPE.timeExceeded:
      return { kind: "time-exceeded", code: named(TIME_EXCEEDED_NAMES, code), invoking };
    case ICMPV6_TYPE.parameterProblem:
      return {
        kind: "parameter-problem",
        code: named(PARAMETER_PROBLEM_NAMES, code),
        pointer: view.getUint32(POINTER),
        invoking,
      };
    case ICMPV6_TYPE.echoRequest:
    case ICMPV6_TYPE.echoReply:
      if (code !== 0) return { kind: "unknown", type, code, rest: v.rest };
      return {
        kind: type === ICMPV6_TYPE.echoRequest ? "echo-request" : "echo-reply",
        identifier: view.getUint16(IDENTIFIER),
        sequence: view.getUint16(SEQUENCE),
        data: bytes.subarray(ICMPV6_ERROR_HEADER_LEN),
      };
    case ICMPV6_TYPE.routerSolicitation: {
      // RFC 4861 §6.1.1: code 0, ICMP length ≥ 8, options with length > 0.
      const bad = checkNd(v, "router solicitation", ICMPV6_ROUTER_SOLICITATION_LEN, "§6.1.1");
      if (bad) return bad;
      const options = ndOptions(bytes, ICMPV6_ROUTER_SOLICITATION_LEN);
      if (options instanceof WireError) return options;
      return { kind: "router-solicitation", options };
    }
    case ICMPV6_TYPE.routerAdvertisement: {
      // RFC 4861 §6.1.2: code 0, ICMP length ≥ 16, options with length > 0.
      const bad = checkNd(v, "router advertisement", ICMPV6_ROUTER_ADVERTISEMENT_LEN, "§6.1.2");
      if (bad) return bad;
      const options = ndOptions(bytes, ICMPV6_ROUTER_ADVERTISEMENT_LEN);
      if (options instanceof WireError) return options;
      const flags = view.getUint8(RA_FLAGS);
      const extension = flags & RA_EXTENSION_FLAGS;
      return {
        kind: "router-advertisement",
        curHopLimit: view.getUint8(CUR_HOP_LIMIT),
        managed: (flags & RA_FLAG_M) !== 0,
        otherConfig: (flags & RA_FLAG_O) !== 0,
        extensionFlags: extension === 0 ? undefined : extension,
        routerLifetime: view.getUint16(ROUTER_LIFETIME),
        reachableTime: view.getUint32(REACHABLE_TIME),
        retransTimer: view.getUint32(RETRANS_TIMER),
        options,
      };
    }
    case ICMPV6_TYPE.neighborSolicitation: {
      // RFC 4861 §7.1.1: code 0, ICMP length ≥ 24, Target Address not multicast.
      const bad = checkNd(v, "neighbor solicitation", ICMPV6_NEIGHBOR_SOLICITATION_LEN, "§7.1.1");
      if (bad) return bad;
      const target = bytes.subarray(TARGET, TARGET + 16);
      if (isIpv6Multicast(target)) {
        return new WireError("icmpv6", "bad-value", "NS target is multicast (RFC 4861 §7.1.1)");
      }
      const options = ndOptions(bytes, ICMPV6_NEIGHBOR_SOLICITATION_LEN);
      if (options instanceof WireError) return options;
      return { kind: "neighbor-solicitation", target, options };
    }
    case ICMPV6_TYPE.neighborAdvertisement: {
      // RFC 4861 §7.1.2: code 0, ICMP length ≥ 24, Target Address not multicast.
      const bad = checkNd(v, "neighbor advertisement", ICMPV6_NEIGHBOR_ADVERTISEMENT_LEN, "§7.1.2");
      if (bad) return bad;
      const target = bytes.subarray(TARGET, TARGET + 16);
      if (isIpv6Multicast(target)) {
        return new WireError("icmpv6", "bad-value", "NA target is multicast (RFC 4861 §7.1.2)");
      }
      const options = ndOptions(bytes, ICMPV6_NEIGHBOR_ADVERTISEMENT_LEN);
      if (options instanceof WireError) return options;
      const flags = view.getUint8(NA_FLAGS);
      return {
        kind: "neighbor-advertisement",
        router: (flags & NA_FLAG_R) !== 0,
        solicited: (flags & NA_FLAG_S) !== 0,
        override: (flags & NA_FLAG_O) !== 0,
        target,
        options,
      };
    }
    case ICMPV6_TYPE.redirect: {
      // RFC 4861 §8.1: code 0, ICMP length ≥ 40, Destination Address not multicast.
      const bad = checkNd(v, "redirect", ICMPV6_REDIRECT_LEN, "§8.1");
      if (bad) return bad;
      const destination = bytes.subarray(DESTINATION, DESTINATION + 16);
      if (isIpv6Multicast(destination)) {
        return new WireError("icmpv6", "bad-value", "redirect destination is multicast (RFC 4861 §8.1)");
      }
      const options = ndOptions(bytes, ICMPV6_REDIRECT_LEN);
      if (options instanceof WireError) return options;
      return { kind: "redirect", target: bytes.subarray(TARGET, TARGET + 16), destination, options };
    }
    default: {
      const mld = mldKind(type);
      if (mld !== undefined) return { kind: mld, code, rest: v.rest };
      return { kind: "unknown", type, code, rest: v.rest };
    }
  }
}

/** Bytes `emitIcmpv6` writes for `repr`. */
export function icmpv6Length(repr: Icmpv6Repr): number {
  switch (repr.kind) {
    case "echo-request":
    case "echo-reply":
      return ICMPV6_ERROR_HEADER_LEN + repr.data.length;
    case "destination-unreachable":
    case "packet-too-big":
    case "time-exceeded":
    case "parameter-problem":
      return ICMPV6_ERROR_HEADER_LEN + repr.invoking.length;
    case "router-solicitation":
      return ICMPV6_ROUTER_SOLICITATION_LEN + ndpOptionsLen(repr.options);
    case "router-advertisement":
      return ICMPV6_ROUTER_ADVERTISEMENT_LEN + ndpOptionsLen(repr.options);
    case "neighbor-solicitation":
      return ICMPV6_NEIGHBOR_SOLICITATION_LEN + ndpOptionsLen(repr.options);
    case "neighbor-advertisement":
      return ICMPV6_NEIGHBOR_ADVERTISEMENT_LEN + ndpOptionsLen(repr.options);
    case "redirect":
      return ICMPV6_REDIRECT_LEN + ndpOptionsLen(repr.options);
    case "mld-query":
    case "mld-report":
    case "mld-done":
    case "mldv2-report":
    case "unknown":
      return ICMPV6_HEADER_LEN + repr.rest.length;
    default:
      return assertNever(repr);
  }
}

function codeValue(
  code: { readonly kind: string } | { readonly kind: "unknown"; readonly value: number },
  names: readonly string[],
): number {
  if ("value" in code) return code.value;
  const value = names.indexOf(code.kind);
  if (value === -1) throw new RangeError(`ICMPv6 code "${code.kind}" is not valid here`);
  return value;
}

function writeAddress(out: Uint8Array, at: number, addr: Ipv6Address, what: string): void {
  if (addr.length !== 16) throw new RangeError(`ICMPv6 ${what} of ${addr.length} bytes, not 16`);
  out.set(addr, at);
}

/**
 * Writes `repr` at `out[at..]`, computes the checksum over `ph` (mandatory, RFC 4443 §2.3) and returns
 * the offset after the message. Data and invoking packets are copied unless already in place;
 * reserved and unused fields are sent as zero.
 */
export function emitIcmpv6(repr: Icmpv6Repr, out: Uint8Array, at: number, ph: Icmpv6PseudoHeader): number {
  const len = icmpv6Length(repr);
  if (at + len > out.length) throw new RangeError(`ICMPv6 message of ${len} bytes does not fit at ${at}`);
  const view = dataView(out);
  let type: number;
  let code = 0;
  switch (repr.kind) {
    case "echo-request":
    case "echo-reply":
      type = repr.kind === "echo-request" ? ICMPV6_TYPE.echoRequest : ICMPV6_TYPE.echoReply;
      placePayload(repr.data, out, at + ICMPV6_ERROR_HEADER_LEN);
      view.setUint16(at + IDENTIFIER, repr.identifier);
      view.setUint16(at + SEQUENCE, repr.sequence);
      break;
    case "destination-unreachable":
      type = ICMPV6_TYPE.destinationUnreachable;
      code = codeValue(repr.code, UNREACHABLE_NAMES);
      placePayload(repr.invoking, out, at + ICMPV6_ERROR_HEADER_LEN);
      view.setUint32(at + 4, 0);
      break;
    case "packet-too-big":
      type = ICMPV6_TYPE.packetTooBig;
      placePayload(repr.invoking, out, at + ICMPV6_ERROR_HEADER_LEN);
      view.setUint32(at + MTU, repr.mtu);
      break;
    case "time-exceeded":
      type = ICMPV6_TYPE.timeExceeded;
      code = codeValue(repr.code, TIME_EXCEEDED_NAMES);
      placePayload(repr.invoking, out, at + ICMPV6_ERROR_HEADER_LEN);
      view.setUint32(at + 4, 0);
      break;
    case "parameter-problem":
      type = ICMPV6_TYPE.parameterProblem;
      code = codeValue(repr.code, PARAMETER_PROBLEM_NAMES);
      placePayload(repr.invoking, out, at + ICMPV6_ERROR_HEADER_LEN);
      view.setUint32(at + POINTER, repr.pointer);
      break;
    case "router-solicitation":
      type = ICMPV6_TYPE.routerSolicitation;
      view.setUint32(at + 4, 0);
      emitNdpOptions(repr.options, out, at + ICMPV6_ROUTER_SOLICITATION_LEN);
      break;
    case "router-advertisement": {
      type = ICMPV6_TYPE.routerAdvertisement;
      const extension = repr.extensionFlags ?? 0;
      if ((extension & ~RA_EXTENSION_FLAGS) !== 0) {
        throw new RangeError(`RA extension flags 0x${extension.toString(16)} > 0x3f`);
      }
      view.setUint8(at + CUR_HOP_LIMIT, repr.curHopLimit);
      view.setUint8(at + RA_FLAGS, (repr.managed ? RA_FLAG_M : 0) | (repr.otherConfig ? RA_FLAG_O : 0) | extension);
      view.setUint16(at + ROUTER_LIFETIME, repr.routerLifetime);
      view.setUint32(at + REACHABLE_TIME, repr.reachableTime);
      view.setUint32(at + RETRANS_TIMER, repr.retransTimer);
      emitNdpOptions(repr.options, out, at + ICMPV6_ROUTER_ADVERTISEMENT_LEN);
      break;
    }
    case "neighbor-solicitation":
      type = ICMPV6_TYPE.neighborSolicitation;
      view.setUint32(at + 4, 0);
      writeAddress(out, at + TARGET, repr.target, "target");
      emitNdpOptions(repr.options, out, at + ICMPV6_NEIGHBOR_SOLICITATION_LEN);
      break;
    case "neighbor-advertisement":
      type = ICMPV6_TYPE.neighborAdvertisement;
      view.setUint32(
        at + NA_FLAGS,
        ((repr.router ? NA_FLAG_R : 0) | (repr.solicited ? NA_FLAG_S : 0) | (repr.override ? NA_FLAG_O : 0)) << 24,
      );
      writeAddress(out, at + TARGET, repr.target, "target");
      emitNdpOptions(repr.options, out, at + ICMPV6_NEIGHBOR_ADVERTISEMENT_LEN);
      break;
    case "redirect":
      type = ICMPV6_TYPE.redirect;
      view.setUint32(at + 4, 0);
      writeAddress(out, at + TARGET, repr.target, "target");
      writeAddress(out, at + DESTINATION, repr.destination, "destination");
      emitNdpOptions(repr.options, out, at + ICMPV6_REDIRECT_LEN);
      break;
    case "mld-query":
    case "mld-report":
    case "mld-done":
    case "mldv2-report":
      type = MLD_TYPES[repr.kind];
      code = repr.code;
      placePayload(repr.rest, out, at + ICMPV6_HEADER_LEN);
      break;
    case "unknown":
      type = repr.type;
      code = repr.code;
      placePayload(repr.rest, out, at + ICMPV6_HEADER_LEN);
      break;
    default:
      return assertNever(repr);
  }
  if (!Number.isInteger(type) || type < 0 || type > 0xff) throw new RangeError(`ICMPv6 type ${type} is not a byte`);
  if (!Number.isInteger(code) || code < 0 || code > 0xff) throw new RangeError(`ICMPv6 code ${code} is not a byte`);
  const end = at + len;
  view.setUint8(at + TYPE, type);
  view.setUint8(at + CODE, code);
  view.setUint16(at + CHECKSUM, 0);
  view.setUint16(at + CHECKSUM, finishChecksum(sumBytes(out, at, end, pseudoHeaderSum(ph, IP_PROTOCOL_ICMPV6, len))));
  return end;
}

function assertNever(x: never): never {
  throw new Error(`unexpected ICMPv6 repr ${JSON.stringify(x)}`);
}
