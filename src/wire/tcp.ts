/**
 * TCP header and options (RFC 9293 §3.1 header, §3.2 option rules and MSS; RFC 7323 window scale and
 * timestamps; RFC 2018 SACK-permitted and SACK; checksum over the pseudo-header: RFC 9293 §3.1,
 * RFC 8200 §8.1 for IPv6).
 *
 *    0                   1                   2                   3
 *    0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |          Source Port          |       Destination Port        |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                        Sequence Number                        |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                    Acknowledgment Number                      |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |  Data |       |C|E|U|A|P|R|S|F|                               |
 *   | Offset| Rsrvd |W|C|R|C|S|S|Y|I|            Window             |
 *   |       |       |R|E|G|K|H|T|N|N|                               |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |           Checksum            |         Urgent Pointer        |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                           [Options]                           |
 *   +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *   |                             data                              |
 *
 * `TcpView.check` verifies once that the buffer holds the fixed header and the whole header that Data
 * Offset claims; after that no accessor can read out of bounds. TCP has no length field: the segment is
 * exactly the bytes given (the IP layer slices them). Option lengths are checked by `parseTcpOptions`;
 * a bad option list does not hide the header fields: `TcpRepr.options` is then a `WireError`, so a
 * decoder still prints ports and flags and the connection decides what to do (RFC 9293 §3.2, MUST-7).
 *
 * Flags are one number, not an object: the 12 bits after Data Offset, i.e. the eight control bits
 * (`TCP_FIN` … `TCP_CWR`) plus the four Rsrvd bits, of which the lowest (`TCP_AE`) was NS (RFC 3540,
 * now historic) and is AE in Accurate ECN. Keeping all 12 lets any header re-emit unchanged.
 */
import { placePayload, put16, put32 } from "./bytes.ts";
import { finishChecksum, pseudoHeaderSum, sumBytes, type PseudoHeader } from "./checksum.ts";
import { WireError } from "./error.ts";

/** Length of the header without options (Data Offset 5). */
export const TCP_HEADER_LEN = 20;
/** Longest header Data Offset can express (15 words): 40 bytes of options. */
export const TCP_MAX_HEADER_LEN = 60;
/** Protocol number in the IPv4 Protocol / IPv6 Next Header field. */
export const IP_PROTOCOL_TCP = 6;

/** FIN, no more data from sender. The control bits (RFC 9293 §3.1) combine with `|` into `TcpRepr.flags`. */
export const TCP_FIN = 0x001;
/** Synchronize sequence numbers. */
export const TCP_SYN = 0x002;
/** Reset the connection. */
export const TCP_RST = 0x004;
/** Push function. */
export const TCP_PSH = 0x008;
/** Acknowledgment field is significant. */
export const TCP_ACK = 0x010;
/** Urgent pointer field is significant. */
export const TCP_URG = 0x020;
/** ECN-Echo (RFC 3168 §6.1). */
export const TCP_ECE = 0x040;
/** Congestion Window Reduced (RFC 3168 §6.1). */
export const TCP_CWR = 0x080;
/** Lowest Rsrvd bit: NS in RFC 3540 (historic), AE in Accurate ECN. Kept, never interpreted here. */
export const TCP_AE = 0x100;
/** Every bit `flags` can hold: 4 Rsrvd bits + 8 control bits. */
export const TCP_FLAGS_MASK = 0xfff;

/** Option kinds (RFC 9293 §3.2; RFC 7323 §2.2, §3.2; RFC 2018 §2, §3). */
export const TCP_OPTION = {
  eol: 0,
  nop: 1,
  mss: 2,
  windowScale: 3,
  sackPermitted: 4,
  sack: 5,
  timestamps: 8,
} as const;

/** One SACK block (RFC 2018 §3): the first sequence number of a block and the one after its end. */
export interface SackBlock {
  readonly left: number;
  readonly right: number;
}

/** A TCP option. `eol` ends the list (what follows it is padding); unknown kinds keep their bytes. */
export type TcpOption =
  | { readonly kind: "eol" }
  | { readonly kind: "nop" }
  | { readonly kind: "mss"; readonly mss: number }
  | { readonly kind: "window-scale"; readonly shift: number }
  | { readonly kind: "sack-permitted" }
  | { readonly kind: "sack"; readonly blocks: readonly SackBlock[] }
  | { readonly kind: "timestamps"; readonly tsVal: number; readonly tsEcr: number }
  /** `code` is the Kind octet; `data` the bytes after the length octet (a view over the segment). */
  | { readonly kind: "unknown"; readonly code: number; readonly data: Uint8Array };

/** The option list of a segment without options; shared so that parsing such a segment allocates none. */
export const NO_TCP_OPTIONS: readonly TcpOption[] = Object.freeze([]);

// Options without data are shared rather than allocated per segment.
const EOL: TcpOption = Object.freeze({ kind: "eol" });
const NOP: TcpOption = Object.freeze({ kind: "nop" });
const SACK_PERMITTED: TcpOption = Object.freeze({ kind: "sack-permitted" });

const SRC_PORT = 0;
const DST_PORT = 2;
const SEQ = 4;
const ACK = 8;
const OFFSET_FLAGS = 12;
const WINDOW = 14;
const CHECKSUM = 16;
const URGENT = 18;

// Big-endian reads straight from the bytes: a decoder builds a view per segment, and a DataView
// per view costs more than the handful of fields read through it.
function be16(b: Uint8Array, at: number): number {
  return ((b[at] as number) << 8) | (b[at + 1] as number);
}
function be32(b: Uint8Array, at: number): number {
  return (((b[at] as number) << 24) | ((b[at + 1] as number) << 16) | ((b[at + 2] as number) << 8) | (b[at + 3] as number)) >>> 0;
}

/** Zero-copy view over a TCP segment whose header length has been checked. */
export class TcpView {
  private constructor(readonly bytes: Uint8Array) {}

  /** Checks the fixed header and Data Offset against the bytes present. Options are not looked at. */
  static check(bytes: Uint8Array): TcpView | WireError {
    if (bytes.length < TCP_HEADER_LEN) return new WireError("tcp", "truncated", `${bytes.length} < 20 bytes`);
    const v = new TcpView(bytes);
    const hlen = v.headerLen;
    // RFC 9293 §3.1: Data Offset counts 32-bit words and the fixed header alone is 5.
    if (hlen < TCP_HEADER_LEN) return new WireError("tcp", "bad-length", `data offset ${hlen >>> 2} < 5`);
    if (hlen > bytes.length) return new WireError("tcp", "truncated", `header ${hlen} > ${bytes.length} bytes`);
    return v;
  }

  get srcPort(): number {
    return be16(this.bytes, SRC_PORT);
  }
  get dstPort(): number {
    return be16(this.bytes, DST_PORT);
  }
  get seq(): number {
    return be32(this.bytes, SEQ);
  }
  get ack(): number {
    return be32(this.bytes, ACK);
  }
  /** Data Offset in bytes (the header including options). */
  get headerLen(): number {
    return ((this.bytes[OFFSET_FLAGS] as number) >>> 4) << 2;
  }
  /** The 12 bits after Data Offset: control bits and Rsrvd (see the module comment). */
  get flags(): number {
    return be16(this.bytes, OFFSET_FLAGS) & TCP_FLAGS_MASK;
  }
  /** The Window field as sent, before any RFC 7323 scaling. */
  get window(): number {
    return be16(this.bytes, WINDOW);
  }
  get checksum(): number {
    return be16(this.bytes, CHECKSUM);
  }
  get urgentPointer(): number {
    return be16(this.bytes, URGENT);
  }
  /** The raw option bytes, padding included (a view over the same bytes). */
  get optionBytes(): Uint8Array {
    return this.bytes.subarray(TCP_HEADER_LEN, this.headerLen);
  }
  /** The data after the header (a view over the same bytes). */
  get payload(): Uint8Array {
    return this.bytes.subarray(this.headerLen);
  }
  /** True when the checksum over the pseudo-header and the whole segment verifies (RFC 9293 §3.1). */
  verifyChecksum(ph: PseudoHeader): boolean {
    return this.verifyChecksumFrom(pseudoHeaderSum(ph, IP_PROTOCOL_TCP, this.bytes.length));
  }
  /**
   * `verifyChecksum` given the pseudo-header's running sum (`pseudoHeaderSumV4(src, dst, 6, length)`),
   * for a receive path that has the addresses at hand and no PseudoHeader object to build.
   */
  verifyChecksumFrom(pseudoSum: number): boolean {
    return finishChecksum(sumBytes(this.bytes, 0, this.bytes.length, pseudoSum)) === 0;
  }
  /** The segment's meaning (what `parseTcp` returns), read from this already-checked view. */
  toRepr(): TcpRepr {
    const bytes = this.bytes;
    const hlen = this.headerLen;
    return {
      srcPort: this.srcPort,
      dstPort: this.dstPort,
      seq: this.seq,
      ack: this.ack,
      flags: this.flags,
      window: this.window,
      urgentPointer: this.urgentPointer,
      options: hlen === TCP_HEADER_LEN ? NO_TCP_OPTIONS : parseTcpOptions(bytes.subarray(TCP_HEADER_LEN, hlen)),
      payload: bytes.subarray(hlen),
    };
  }
}

/** The meaning of a TCP header; `payload` and unknown option data borrow the received bytes. */
export interface TcpRepr {
  readonly srcPort: number;
  readonly dstPort: number;
  /** Unsigned 32-bit. */
  readonly seq: number;
  /** Unsigned 32-bit; meaningful only with `TCP_ACK`. */
  readonly ack: number;
  /** `TCP_*` bits, see the module comment. */
  readonly flags: number;
  /** Raw Window field; the connection applies the RFC 7323 shift. */
  readonly window: number;
  readonly urgentPointer: number;
  /** The options in wire order, or why the option list is malformed (the header fields are still valid). */
  readonly options: readonly TcpOption[] | WireError;
  readonly payload: Uint8Array;
}

function optionError(reason: "truncated" | "bad-length", detail: string): WireError {
  return new WireError("tcp-option", reason, detail);
}

/**
 * Parses an option area (the bytes between the fixed header and the data). Stops at EOL, whose
 * following bytes are padding (RFC 9293 §3.2). Any option whose length octet is missing, below 2, runs
 * past the area, or does not fit its kind is an error for the whole list: without a trustworthy length
 * nothing after it can be located.
 */
export function parseTcpOptions(area: Uint8Array): readonly TcpOption[] | WireError {
  const n = area.length;
  if (n === 0) return NO_TCP_OPTIONS;
  const out: TcpOption[] = [];
  let i = 0;
  while (i < n) {
    const code = area[i] as number;
    if (code === TCP_OPTION.eol) {
      out.push(EOL);
      break;
    }
    if (code === TCP_OPTION.nop) {
      out.push(NOP);
      i++;
      continue;
    }
    // RFC 9293 §3.2: every other kind has a length octet counting kind and length themselves.
    if (i + 1 >= n) return optionError("truncated", `kind ${code} at ${i} has no length octet`);
    const len = area[i + 1] as number;
    if (len < 2) return optionError("bad-length", `kind ${code} length ${len} < 2`);
    if (i + len > n) return optionError("truncated", `kind ${code} length ${len} runs past the header`);
    switch (code) {
      case TCP_OPTION.mss:
        // RFC 9293 §3.2: MSS is 4 bytes long.
        if (len !== 4) return optionError("bad-length", `mss length ${len} != 4`);
        out.push({ kind: "mss", mss: be16(area, i + 2) });
        break;
      case TCP_OPTION.windowScale:
        // RFC 7323 §2.2: kind 3, length 3, shift.count (clamping to 14 is the connection's business, §2.3).
        if (len !== 3) return optionError("bad-length", `window scale length ${len} != 3`);
        out.push({ kind: "window-scale", shift: area[i + 2] as number });
        break;
      case TCP_OPTION.sackPermitted:
        // RFC 2018 §2: kind 4, length 2.
        if (len !== 2) return optionError("bad-length", `sack-permitted length ${len} != 2`);
        out.push(SACK_PERMITTED);
        break;
      case TCP_OPTION.sack: {
        // RFC 2018 §3: length 8n + 2, n ≥ 1 (at most 4 fit in 40 bytes of options).
        if (len < 10 || (len - 2) % 8 !== 0) return optionError("bad-length", `sack length ${len} != 8n+2`);
        const blocks: SackBlock[] = [];
        for (let b = i + 2; b < i + len; b += 8) blocks.push({ left: be32(area, b), right: be32(area, b + 4) });
        out.push({ kind: "sack", blocks });
        break;
      }
      case TCP_OPTION.timestamps:
        // RFC 7323 §3.2: kind 8, length 10, TSval, TSecr.
        if (len !== 10) return optionError("bad-length", `timestamps length ${len} != 10`);
        out.push({ kind: "timestamps", tsVal: be32(area, i + 2), tsEcr: be32(area, i + 6) });
        break;
      default:
        out.push({ kind: "unknown", code, data: area.subarray(i + 2, i + len) });
    }
    i += len;
  }
  return out;
}

/**
 * Parses a TCP segment. With `ph`, a bad checksum is an error; without it the checksum is not looked at
 * (the caller may verify later through `TcpView`). A malformed option list does not fail the parse; it
 * shows as `options` being a `WireError`.
 */
export function parseTcp(bytes: Uint8Array, ph?: PseudoHeader): TcpRepr | WireError {
  const v = TcpView.check(bytes);
  if (v instanceof WireError) return v;
  if (ph && !v.verifyChecksum(ph)) return new WireError("tcp", "bad-checksum", `0x${v.checksum.toString(16)}`);
  return v.toRepr();
}

/** Bytes one option occupies on the wire. Throws for an option that cannot be encoded. */
function optionLength(o: TcpOption): number {
  switch (o.kind) {
    case "eol":
    case "nop":
      return 1;
    case "mss":
      return 4;
    case "window-scale":
      return 3;
    case "sack-permitted":
      return 2;
    case "sack":
      if (o.blocks.length < 1 || o.blocks.length > 4) {
        throw new RangeError(`a SACK option carries 1 to 4 blocks, not ${o.blocks.length}`);
      }
      return 2 + 8 * o.blocks.length;
    case "timestamps":
      return 10;
    case "unknown":
      if (o.code <= 1 || o.code > 255 || o.data.length > 38) {
        throw new RangeError(`unknown option kind ${o.code} with ${o.data.length} data bytes cannot be encoded`);
      }
      return 2 + o.data.length;
    default:
      return assertNever(o);
  }
}

function assertNever(x: never): never {
  throw new Error(`unexpected TCP option ${JSON.stringify(x)}`);
}

/** Bytes the options take, before padding to a 4-byte multiple. */
export function tcpOptionsLength(options: readonly TcpOption[]): number {
  let n = 0;
  for (const o of options) n += optionLength(o);
  return n;
}

/** Bytes of header `emitTcp` writes for `repr`: 20 plus the options padded to a multiple of 4. */
export function tcpHeaderLen(repr: TcpRepr): number {
  const options = reprOptions(repr);
  if (options.length === 0) return TCP_HEADER_LEN;
  const len = TCP_HEADER_LEN + ((tcpOptionsLength(options) + 3) & ~3);
  if (len > TCP_MAX_HEADER_LEN) throw new RangeError(`TCP header of ${len} bytes exceeds 60`);
  return len;
}

/** Bytes `emitTcp` writes for `repr`: header plus payload. */
export function tcpSegmentLength(repr: TcpRepr): number {
  return tcpHeaderLen(repr) + repr.payload.length;
}

function reprOptions(repr: TcpRepr): readonly TcpOption[] {
  if (repr.options instanceof WireError) {
    throw new TypeError(`cannot emit a TCP header whose options failed to parse (${repr.options.toString()})`);
  }
  return repr.options;
}

/**
 * Writes `options` at `out[at..]` exactly in the order given and returns the offset after them (no
 * padding). Alignment is the caller's choice; `tcpOptionsLikeLinux` lays out the usual ones.
 */
export function emitTcpOptions(options: readonly TcpOption[], out: Uint8Array, at: number): number {
  let i = at;
  for (const o of options) {
    switch (o.kind) {
      case "eol":
        out[i++] = TCP_OPTION.eol;
        break;
      case "nop":
        out[i++] = TCP_OPTION.nop;
        break;
      case "mss":
        out[i] = TCP_OPTION.mss;
        out[i + 1] = 4;
        put16(out, i + 2, o.mss);
        i += 4;
        break;
      case "window-scale":
        out[i] = TCP_OPTION.windowScale;
        out[i + 1] = 3;
        out[i + 2] = o.shift;
        i += 3;
        break;
      case "sack-permitted":
        out[i] = TCP_OPTION.sackPermitted;
        out[i + 1] = 2;
        i += 2;
        break;
      case "sack": {
        const len = optionLength(o);
        out[i] = TCP_OPTION.sack;
        out[i + 1] = len;
        let b = i + 2;
        for (const block of o.blocks) {
          put32(out, b, block.left);
          put32(out, b + 4, block.right);
          b += 8;
        }
        i += len;
        break;
      }
      case "timestamps":
        out[i] = TCP_OPTION.timestamps;
        out[i + 1] = 10;
        put32(out, i + 2, o.tsVal);
        put32(out, i + 6, o.tsEcr);
        i += 10;
        break;
      case "unknown": {
        const len = optionLength(o);
        out[i] = o.code;
        out[i + 1] = len;
        out.set(o.data, i + 2);
        i += len;
        break;
      }
      default:
        assertNever(o);
    }
  }
  return i;
}

/**
 * Writes header, options and payload at `out[at..]`, computes the checksum over `ph` and returns the
 * offset after the payload. The payload is copied unless it already lies where it belongs. Options
 * are written as given and padded with zeros to a 4-byte multiple (RFC 9293 §3.1, "Padding").
 * Throws (API misuse) when the options do not fit in 40 bytes or `repr.options` is a `WireError`.
 * `headerLen`, when given, must be `tcpHeaderLen(repr)` (a caller that sized its buffer with it
 * passes it on rather than have the options measured twice).
 */
export function emitTcp(repr: TcpRepr, out: Uint8Array, at: number, ph: PseudoHeader, headerLen?: number): number {
  const hlen = headerLen ?? tcpHeaderLen(repr);
  const len = hlen + repr.payload.length;
  const end = placePayload(repr.payload, out, at + hlen);
  if (end > out.length) throw new RangeError(`TCP segment of ${len} bytes does not fit at ${at}`);
  put16(out, at + SRC_PORT, repr.srcPort);
  put16(out, at + DST_PORT, repr.dstPort);
  put32(out, at + SEQ, repr.seq);
  put32(out, at + ACK, repr.ack);
  put16(out, at + OFFSET_FLAGS, ((hlen >>> 2) << 12) | (repr.flags & TCP_FLAGS_MASK));
  put16(out, at + WINDOW, repr.window);
  put16(out, at + CHECKSUM, 0);
  put16(out, at + URGENT, repr.urgentPointer);
  if (hlen > TCP_HEADER_LEN) {
    const optEnd = emitTcpOptions(reprOptions(repr), out, at + TCP_HEADER_LEN);
    if (optEnd < at + hlen) out.fill(0, optEnd, at + hlen);
  }
  put16(out, at + CHECKSUM, finishChecksum(sumBytes(out, at, end, pseudoHeaderSum(ph, IP_PROTOCOL_TCP, len))));
  return end;
}

/** The options a segment carries, as the connection wants them: each at most once, absent = undefined. */
export interface TcpOptionSet {
  readonly mss?: number | undefined;
  readonly windowScale?: number | undefined;
  readonly sackPermitted?: boolean | undefined;
  readonly timestamps?: { readonly tsVal: number; readonly tsEcr: number } | undefined;
  readonly sack?: readonly SackBlock[] | undefined;
}

/**
 * Lays out `set` the way Linux's `tcp_options_write` (net/ipv4/tcp_output.c) does, so every 32-bit
 * field lands on a 4-byte boundary: MSS; SACK-permitted + timestamps sharing a word, or NOP NOP
 * timestamps; NOP NOP SACK-permitted when there are no timestamps; NOP window scale; NOP NOP SACK.
 * The result always totals a multiple of 4 bytes. A SYN from Linux reads
 * `mss,sackOK,TS,nop,wscale` and a data segment `nop,nop,TS`.
 */
export function tcpOptionsLikeLinux(set: TcpOptionSet): readonly TcpOption[] {
  if (set.mss === undefined && set.windowScale === undefined && !set.sackPermitted && (set.sack === undefined || set.sack.length === 0)) {
    return set.timestamps === undefined ? NO_TCP_OPTIONS : tcpTimestampOptions(set.timestamps.tsVal, set.timestamps.tsEcr);
  }
  const out: TcpOption[] = [];
  if (set.mss !== undefined) out.push({ kind: "mss", mss: set.mss });
  if (set.timestamps !== undefined) {
    if (set.sackPermitted) out.push(SACK_PERMITTED);
    else out.push(NOP, NOP);
    out.push({ kind: "timestamps", tsVal: set.timestamps.tsVal, tsEcr: set.timestamps.tsEcr });
  } else if (set.sackPermitted) {
    out.push(NOP, NOP, SACK_PERMITTED);
  }
  if (set.windowScale !== undefined) out.push(NOP, { kind: "window-scale", shift: set.windowScale });
  if (set.sack !== undefined && set.sack.length > 0) out.push(NOP, NOP, { kind: "sack", blocks: set.sack });
  return out.length === 0 ? NO_TCP_OPTIONS : out;
}

/**
 * `nop,nop,TS`: what `tcpOptionsLikeLinux({ timestamps: { tsVal, tsEcr } })` returns, without the
 * intermediate objects — the options of nearly every segment of a connection with timestamps.
 */
export function tcpTimestampOptions(tsVal: number, tsEcr: number): readonly TcpOption[] {
  return [NOP, NOP, { kind: "timestamps", tsVal, tsEcr }];
}

/**
 * Collects the known options of a list into a `TcpOptionSet` (the last one wins if a kind repeats;
 * NOP, EOL and unknown kinds are dropped).
 */
export function tcpOptionSet(options: readonly TcpOption[]): TcpOptionSet {
  let mss: number | undefined;
  let windowScale: number | undefined;
  let sackPermitted: boolean | undefined;
  let timestamps: { readonly tsVal: number; readonly tsEcr: number } | undefined;
  let sack: readonly SackBlock[] | undefined;
  for (const o of options) {
    switch (o.kind) {
      case "mss":
        mss = o.mss;
        break;
      case "window-scale":
        windowScale = o.shift;
        break;
      case "sack-permitted":
        sackPermitted = true;
        break;
      case "timestamps":
        timestamps = { tsVal: o.tsVal, tsEcr: o.tsEcr };
        break;
      case "sack":
        sack = o.blocks;
        break;
      case "eol":
      case "nop":
      case "unknown":
        break;
      default:
        assertNever(o);
    }
  }
  return { mss, windowScale, sackPermitted, timestamps, sack };
}

// tcpdump's letters in tcpdump's order (print-tcp.c `tcp_flag_values`): "." for ACK sits between P and U.
const FLAG_LETTERS: readonly (readonly [number, string])[] = [
  [TCP_FIN, "F"],
  [TCP_SYN, "S"],
  [TCP_RST, "R"],
  [TCP_PSH, "P"],
  [TCP_ACK, "."],
  [TCP_URG, "U"],
  [TCP_ECE, "E"],
  [TCP_CWR, "W"],
];

/**
 * The flags as `tcpdump -n` prints them between brackets: "S", "S.", "P.", "F.", "R.", "S.E", "none".
 * Matches tcpdump 4.99, which shows neither AE nor the other Rsrvd bits.
 */
export function tcpFlagsString(flags: number): string {
  let s = "";
  for (const [bit, letter] of FLAG_LETTERS) if (flags & bit) s += letter;
  return s === "" ? "none" : s;
}
