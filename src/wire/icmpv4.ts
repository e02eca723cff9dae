/**
 * ICMP for IPv4 (RFC 792; next-hop MTU of "fragmentation needed": RFC 1191 §4; further unreachable
 * codes: RFC 1122 §3.2.2.1, RFC 1812 §5.2.7.1).
 *
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |     Type      |     Code      |          Checksum             |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |  rest of header: Identifier + Sequence Number (echo, timestamp),|
 *  |  unused + Next-Hop MTU (RFC 1191), Pointer + unused, Gateway    |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |     Data: echo data, timestamps, or the invoking datagram's     |
 *  |     IP header + at least 64 bits of its data (errors) ...       |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * ICMP has no length field: the message is every byte the IP layer hands over (its payload, already
 * bounded by Total Length). `Icmpv4View.check` verifies the 8-byte header once; messages with a longer
 * fixed part (timestamp) are length-checked in `parseIcmpv4` before their fields are read. The quoted
 * datagram of an error is kept as a byte view (`invoking`): the IP codecs parse it, this file does not.
 *
 * The checksum covers the whole message and has no pseudo-header (RFC 792). Type/code combinations
 * this codec does not model become `{ kind: "unknown" }` with their bytes kept, so they re-emit
 * unchanged. RFC 4884 extensions are not decoded: they stay inside `invoking`.
 */
import { dataView, placePayload } from "./bytes.ts";
import { checksumOf } from "./checksum.ts";
import { WireError } from "./error.ts";
import { readIpv4, writeIpv4, type Ipv4Address } from "./ip-address.ts";

/** Type, code, checksum and the 4-byte rest of header. */
export const ICMPV4_HEADER_LEN = 8;
/** Header plus the three 32-bit timestamps (RFC 792, "Timestamp or Timestamp Reply Message"). */
export const ICMPV4_TIMESTAMP_LEN = 20;
export const IP_PROTOCOL_ICMP = 1;

/** ICMPv4 message types this codec names (RFC 792). */
export const ICMPV4_TYPE = {
  echoReply: 0,
  destinationUnreachable: 3,
  redirect: 5,
  echoRequest: 8,
  timeExceeded: 11,
  parameterProblem: 12,
  timestamp: 13,
  timestampReply: 14,
} as const;

const TYPE = 0;
const CODE = 1;
const CHECKSUM = 2;
const IDENTIFIER = 4;
const SEQUENCE = 6;
const POINTER = 4;
const GATEWAY = 4;
const NEXT_HOP_MTU = 6;
const ORIGINATE = 8;
const RECEIVE = 12;
const TRANSMIT = 16;

/** Zero-copy view over an ICMPv4 message of at least 8 bytes. */
export class Icmpv4View {
  private readonly view: DataView;

  private constructor(readonly bytes: Uint8Array) {
    this.view = dataView(bytes);
  }

  /** Checks that the fixed 8-byte header is present; every byte after it is the message body. */
  static check(bytes: Uint8Array): Icmpv4View | WireError {
    if (bytes.length < ICMPV4_HEADER_LEN) {
      return new WireError("icmpv4", "truncated", `${bytes.length} < ${ICMPV4_HEADER_LEN} bytes`);
    }
    return new Icmpv4View(bytes);
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
  /** Echo and timestamp messages. */
  get identifier(): number {
    return this.view.getUint16(IDENTIFIER);
  }
  /** Echo and timestamp messages. */
  get sequence(): number {
    return this.view.getUint16(SEQUENCE);
  }
  /** Parameter problem: the octet of the invoking header where the error was found. */
  get pointer(): number {
    return this.view.getUint8(POINTER);
  }
  /** Redirect: the gateway to send to instead. */
  get gateway(): Ipv4Address {
    return readIpv4(this.bytes, GATEWAY);
  }
  /** Destination unreachable, code 4 (RFC 1191 §4); 0 from routers that predate RFC 1191. */
  get nextHopMtu(): number {
    return this.view.getUint16(NEXT_HOP_MTU);
  }
  /** Bytes 4..end: the rest of header and the data, as received. */
  get rest(): Uint8Array {
    return this.bytes.subarray(CHECKSUM + 2);
  }
  /** Bytes 8..end: echo data, or the invoking datagram of an error message. */
  get data(): Uint8Array {
    return this.bytes.subarray(ICMPV4_HEADER_LEN);
  }
  /** True when the checksum over the whole message verifies (RFC 792). */
  verifyChecksum(): boolean {
    return checksumOf(this.bytes) === 0;
  }
}

/**
 * Destination-unreachable codes (RFC 792; 6–12 RFC 1122 §3.2.2.1; 13–15 RFC 1812 §5.2.7.1).
 * Code 4 carries the next-hop MTU (RFC 1191 §4), undefined when the router left it 0.
 */
export type Icmpv4UnreachableCode =
  | {
      readonly kind:
        | "net-unreachable"
        | "host-unreachable"
        | "protocol-unreachable"
        | "port-unreachable"
        | "source-route-failed"
        | "net-unknown"
        | "host-unknown"
        | "source-host-isolated"
        | "net-prohibited"
        | "host-prohibited"
        | "net-unreachable-for-tos"
        | "host-unreachable-for-tos"
        | "admin-prohibited"
        | "host-precedence-violation"
        | "precedence-cutoff";
    }
  | { readonly kind: "fragmentation-needed"; readonly nextHopMtu: number | undefined }
  | { readonly kind: "unknown"; readonly value: number };

/** The named destination-unreachable codes, indexed by their wire value. */
const UNREACHABLE_NAMES = [
  "net-unreachable",
  "host-unreachable",
  "protocol-unreachable",
  "port-unreachable",
  "fragmentation-needed",
  "source-route-failed",
  "net-unknown",
  "host-unknown",
  "source-host-isolated",
  "net-prohibited",
  "host-prohibited",
  "net-unreachable-for-tos",
  "host-unreachable-for-tos",
  "admin-prohibited",
  "host-precedence-violation",
  "precedence-cutoff",
] as const;

/** Time-exceeded codes (RFC 792). */
export type Icmpv4TimeExceededCode =
  | { readonly kind: "ttl-exceeded" }
  | { readonly kind: "reassembly-time-exceeded" }
  | { readonly kind: "unknown"; readonly value: number };

/** Parameter-problem codes (RFC 792 code 0; 1 RFC 1108 §2; 2 RFC 1812 §5.2.7.3). */
export type Icmpv4ParameterProblemCode =
  | { readonly kind: "pointer-indicates-error" }
  | { readonly kind: "missing-required-option" }
  | { readonly kind: "bad-length" }
  | { readonly kind: "unknown"; readonly value: number };

/** Redirect codes (RFC 792). */
export type Icmpv4RedirectCode =
  | { readonly kind: "net" }
  | { readonly kind: "host" }
  | { readonly kind: "tos-net" }
  | { readonly kind: "tos-host" }
  | { readonly kind: "unknown"; readonly value: number };

/** Echo request or reply (RFC 792); `data` borrows the received bytes. */
export interface Icmpv4Echo {
  readonly kind: "echo-request" | "echo-reply";
  readonly identifier: number;
  readonly sequence: number;
  readonly data: Uint8Array;
}

/** Destination unreachable (type 3); `invoking` is the quoted datagram, IP header first. */
export interface Icmpv4DestinationUnreachable {
  readonly kind: "destination-unreachable";
  readonly code: Icmpv4UnreachableCode;
  readonly invoking: Uint8Array;
}

/** Time exceeded (type 11). */
export interface Icmpv4TimeExceeded {
  readonly kind: "time-exceeded";
  readonly code: Icmpv4TimeExceededCode;
  readonly invoking: Uint8Array;
}

/** Parameter problem (type 12); `pointer` is the offending octet of the invoking header. */
export interface Icmpv4ParameterProblem {
  readonly kind: "parameter-problem";
  readonly code: Icmpv4ParameterProblemCode;
  readonly pointer: number;
  readonly invoking: Uint8Array;
}

/** Redirect (type 5). */
export interface Icmpv4Redirect {
  readonly kind: "redirect";
  readonly code: Icmpv4RedirectCode;
  readonly gateway: Ipv4Address;
  readonly invoking: Uint8Array;
}

/** Timestamp or timestamp reply (types 13, 14): milliseconds since midnight UT (RFC 792). */
export interface Icmpv4Timestamp {
  readonly kind: "timestamp" | "timestamp-reply";
  readonly identifier: number;
  readonly sequence: number;
  readonly originate: number;
  readonly receive: number;
  readonly transmit: number;
}

/** Any other type, or a named type with a code RFC 792 does not define; re-emits byte for byte. */
export interface Icmpv4Unknown {
  readonly kind: "unknown";
  readonly type: number;
  readonly code: number;
  /** Bytes 4..end: rest of header and data. */
  readonly rest: Uint8Array;
}

/** The meaning of an ICMPv4 message. */
export type Icmpv4Repr =
  | Icmpv4Echo
  | Icmpv4DestinationUnreachable
  | Icmpv4TimeExceeded
  | Icmpv4ParameterProblem
  | Icmpv4Redirect
  | Icmpv4Timestamp
  | Icmpv4Unknown;

/** Options for `parseIcmpv4`. */
export interface Icmpv4ParseOptions {
  /** When true (the default) a bad checksum is a WireError; when false it is not looked at. */
  readonly verifyChecksum?: boolean;
}

function unreachableCode(code: number, nextHopMtu: number): Icmpv4UnreachableCode {
  const name = UNREACHABLE_NAMES[code];
  if (name === undefined) return { kind: "unknown", value: code };
  // RFC 1191 §4: a router that does not know the MTU leaves the field 0.
  if (name === "fragmentation-needed") return { kind: name, nextHopMtu: nextHopMtu === 0 ? undefined : nextHopMtu };
  return { kind: name };
}

function timeExceededCode(code: number): Icmpv4TimeExceededCode {
  if (code === 0) return { kind: "ttl-exceeded" };
  if (code === 1) return { kind: "reassembly-time-exceeded" };
  return { kind: "unknown", value: code };
}

function parameterProblemCode(code: number): Icmpv4ParameterProblemCode {
  if (code === 0) return { kind: "pointer-indicates-error" };
  if (code === 1) return { kind: "missing-required-option" };
  if (code === 2) return { kind: "bad-length" };
  return { kind: "unknown", value: code };
}

function redirectCode(code: number): Icmpv4RedirectCode {
  if (code === 0) return { kind: "net" };
  if (code === 1) return { kind: "host" };
  if (code === 2) return { kind: "tos-net" };
  if (code === 3) return { kind: "tos-host" };
  return { kind: "unknown", value: code };
}

/**
 * Parses an ICMPv4 message (the whole IP payload). A bad checksum is an error unless
 * `verifyChecksum: false`, for callers that print bad packets and check through `Icmpv4View`.
 */
export function parseIcmpv4(bytes: Uint8Array, options: Icmpv4ParseOptions = {}): Icmpv4Repr | WireError {
  const v = Icmpv4View.check(bytes);
  if (v instanceof WireError) return v;
  if (options.verifyChecksum !== false && !v.verifyChecksum()) {
    return new WireError("icmpv4", "bad-checksum", `0x${v.checksum.toString(16)}`);
  }
  const type = v.type;
  const code = v.code;
  const unknown: Icmpv4Unknown = { kind: "unknown", type, code, rest: v.rest };
  switch (type) {
    case ICMPV4_TYPE.echoRequest:
    case ICMPV4_TYPE.echoReply:
      if (code !== 0) return unknown;
      return {
        kind: type === ICMPV4_TYPE.echoRequest ? "echo-request" : "echo-reply",
        identifier: v.identifier,
        sequence: v.sequence,
        data: v.data,
      };
    case ICMPV4_TYPE.destinationUnreachable:
      return { kind: "destination-unreachable", code: unreachableCode(code, v.nextHopMtu), invoking: v.data };
    case ICMPV4_TYPE.timeExceeded:
      return { kind: "time-exceeded", code: timeExceededCode(code), invoking: v.data };
    case ICMPV4_TYPE.parameterProblem:
      return { kind: "parameter-problem", code: parameterProblemCode(code), pointer: v.pointer, invoking: v.data };
    case ICMPV4_TYPE.redirect:
      return { kind: "redirect", code: redirectCode(code), gateway: v.gateway, invoking: v.data };
    case ICMPV4_TYPE.timestamp:
    case ICMPV4_TYPE.timestampReply: {
      if (code !== 0) return unknown;
      if (bytes.length < ICMPV4_TIMESTAMP_LEN) {
        return new WireError("icmpv4", "truncated", `timestamp: ${bytes.length} < ${ICMPV4_TIMESTAMP_LEN} bytes`);
      }
      const view = dataView(bytes);
      return {
        kind: type === ICMPV4_TYPE.timestamp ? "timestamp" : "timestamp-reply",
        identifier: v.identifier,
        sequence: v.sequence,
        originate: view.getUint32(ORIGINATE),
        receive: view.getUint32(RECEIVE),
        transmit: view.getUint32(TRANSMIT),
      };
    }
    default:
      return unknown;
  }
}

/** Bytes `emitIcmpv4` writes for `repr`. */
export function icmpv4Length(repr: Icmpv4Repr): number {
  switch (repr.kind) {
    case "echo-request":
    case "echo-reply":
      return ICMPV4_HEADER_LEN + repr.data.length;
    case "destination-unreachable":
    case "time-exceeded":
    case "parameter-problem":
    case "redirect":
      return ICMPV4_HEADER_LEN + repr.invoking.length;
    case "timestamp":
    case "timestamp-reply":
      return ICMPV4_TIMESTAMP_LEN;
    case "unknown":
      return 4 + repr.rest.length;
    default:
      return assertNever(repr);
  }
}

function codeValue(
  code: Icmpv4UnreachableCode | Icmpv4TimeExceededCode | Icmpv4ParameterProblemCode | Icmpv4RedirectCode,
  names: readonly string[],
): number {
  if (code.kind === "unknown") return code.value;
  const value = names.indexOf(code.kind);
  if (value === -1) throw new RangeError(`ICMPv4 code "${code.kind}" is not valid here`);
  return value;
}

const TIME_EXCEEDED_NAMES = ["ttl-exceeded", "reassembly-time-exceeded"] as const;
const PARAMETER_PROBLEM_NAMES = ["pointer-indicates-error", "missing-required-option", "bad-length"] as const;
const REDIRECT_NAMES = ["net", "host", "tos-net", "tos-host"] as const;

function checkByte(what: string, value: number): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xff) {
    throw new RangeError(`ICMPv4 ${what} ${value} is not a byte`);
  }
}

/**
 * Writes `repr` at `out[at..]`, computes the checksum, and returns the offset after the message.
 * Data, invoking datagram or rest are copied unless they already lie in place. Unused fields are 0
 * (RFC 792: "unused" and RFC 1191 §4 bytes are sent as zero).
 */
export function emitIcmpv4(repr: Icmpv4Repr, out: Uint8Array, at: number): number {
  const len = icmpv4Length(repr);
  if (at + len > out.length) throw new RangeError(`ICMPv4 message of ${len} bytes does not fit at ${at}`);
  const view = dataView(out);
  let type: number;
  let code = 0;
  let end: number;
  switch (repr.kind) {
    case "echo-request":
    case "echo-reply":
      type = repr.kind === "echo-request" ? ICMPV4_TYPE.echoRequest : ICMPV4_TYPE.echoReply;
      end = placePayload(repr.data, out, at + ICMPV4_HEADER_LEN);
      view.setUint16(at + IDENTIFIER, repr.identifier);
      view.setUint16(at + SEQUENCE, repr.sequence);
      break;
    case "destination-unreachable":
      type = ICMPV4_TYPE.destinationUnreachable;
      code = codeValue(repr.code, UNREACHABLE_NAMES);
      end = placePayload(repr.invoking, out, at + ICMPV4_HEADER_LEN);
      view.setUint32(at + 4, 0);
      if (repr.code.kind === "fragmentation-needed") view.setUint16(at + NEXT_HOP_MTU, repr.code.nextHopMtu ?? 0);
      break;
    case "time-exceeded":
      type = ICMPV4_TYPE.timeExceeded;
      code = codeValue(repr.code, TIME_EXCEEDED_NAMES);
      end = placePayload(repr.invoking, out, at + ICMPV4_HEADER_LEN);
      view.setUint32(at + 4, 0);
      break;
    case "parameter-problem":
      type = ICMPV4_TYPE.parameterProblem;
      code = codeValue(repr.code, PARAMETER_PROBLEM_NAMES);
      checkByte("pointer", repr.pointer);
      end = placePayload(repr.invoking, out, at + ICMPV4_HEADER_LEN);
      view.setUint32(at + 4, 0);
      view.setUint8(at + POINTER, repr.pointer);
      break;
    case "redirect":
      type = ICMPV4_TYPE.redirect;
      code = codeValue(repr.code, REDIRECT_NAMES);
      end = placePayload(repr.invoking, out, at + ICMPV4_HEADER_LEN);
      writeIpv4(out, at + GATEWAY, repr.gateway);
      break;
    case "timestamp":
    case "timestamp-reply":
      type = repr.kind === "timestamp" ? ICMPV4_TYPE.timestamp : ICMPV4_TYPE.timestampReply;
      view.setUint16(at + IDENTIFIER, repr.identifier);
      view.setUint16(at + SEQUENCE, repr.sequence);
      view.setUint32(at + ORIGINATE, repr.originate);
      view.setUint32(at + RECEIVE, repr.receive);
      view.setUint32(at + TRANSMIT, repr.transmit);
      end = at + ICMPV4_TIMESTAMP_LEN;
      break;
    case "unknown":
      type = repr.type;
      code = repr.code;
      end = placePayload(repr.rest, out, at + 4);
      break;
    default:
      return assertNever(repr);
  }
  checkByte("type", type);
  checkByte("code", code);
  view.setUint8(at + TYPE, type);
  view.setUint8(at + CODE, code);
  view.setUint16(at + CHECKSUM, 0);
  view.setUint16(at + CHECKSUM, checksumOf(out, at, end));
  return end;
}

function assertNever(x: never): never {
  throw new Error(`unexpected ICMPv4 repr ${JSON.stringify(x)}`);
}
