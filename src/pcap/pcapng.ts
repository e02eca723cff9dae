/**
 * The pcapng file format (draft-ietf-opsawg-pcapng-02, "PCAP Next Generation (pcapng) Capture File
 * Format"): block framing, the Section Header, Interface Description and Enhanced Packet blocks we
 * write, and the cold parsing of section and interface blocks. The per-packet read loop is in
 * reader.ts.
 *
 * Every block (§3.1):
 *
 *                         1                   2                   3
 *     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *    +---------------------------------------------------------------+
 *  0 |                          Block Type                           |
 *    +---------------------------------------------------------------+
 *  4 |                      Block Total Length                       |
 *    +---------------------------------------------------------------+
 *  8 /                          Block Body                           /
 *    /              variable length, padded to 32 bits               /
 *    +---------------------------------------------------------------+
 *    |                      Block Total Length                       |
 *    +---------------------------------------------------------------+
 *
 * Options (§3.5) are (code: 16, length: 16, value padded to 32 bits), ended by opt_endofopt (0).
 * Byte order is the writer's, learned per section from the Section Header's Byte-Order Magic. The
 * parsers here check every length against the block before reading; a malformed option list ends
 * option parsing (the block itself is still used), as a lenient reader should.
 */
import { dataView } from "../wire/bytes.ts";
import { WireError } from "../wire/error.ts";

/** §4, §11.1: block type codes. */
export const PCAPNG_BLOCK = {
  sectionHeader: 0x0a0d0d0a,
  interfaceDescription: 0x00000001,
  /** Obsolete Packet Block (Appendix A). */
  packet: 0x00000002,
  simplePacket: 0x00000003,
  nameResolution: 0x00000004,
  interfaceStatistics: 0x00000005,
  enhancedPacket: 0x00000006,
} as const;

/** §4.1: the Byte-Order Magic, as read in the section's byte order. */
export const PCAPNG_BYTE_ORDER_MAGIC = 0x1a2b3c4d;

/** §3.1: type, length and trailing length. */
export const PCAPNG_BLOCK_OVERHEAD = 12;
/** §4.1: overhead, byte-order magic, versions, section length. */
export const PCAPNG_SHB_MIN_LEN = 28;
/** §4.2: overhead, link type, reserved, snaplen. */
export const PCAPNG_IDB_MIN_LEN = 20;
/** §4.3: overhead, interface id, timestamp (2 words), captured and original lengths. */
export const PCAPNG_EPB_MIN_LEN = 32;
/** §4.4: overhead, original length. */
export const PCAPNG_SPB_MIN_LEN = 16;
/** Appendix A: as the EPB, with a 16-bit interface id and a 16-bit drops count. */
export const PCAPNG_PB_MIN_LEN = 32;

/** §3.5 and §4.1, §4.2: the option codes we read or write. */
export const PCAPNG_OPTION = {
  endOfOpt: 0,
  comment: 1,
  shbHardware: 2,
  shbOs: 3,
  shbUserAppl: 4,
  ifName: 2,
  ifDescription: 3,
  ifTsresol: 9,
  ifFcslen: 13,
  ifTsoffset: 14,
} as const;

/** Rounds a length up to the next multiple of 4 (§3.1: block bodies and option values are padded). */
export function pad4(n: number): number {
  return (n + 3) & ~3;
}

// ---- Reading ----------------------------------------------------------------------------------------

/** The meaning of a Section Header Block. */
export interface SectionHeaderRepr {
  readonly littleEndian: boolean;
  readonly versionMajor: number;
  readonly versionMinor: number;
  /** Total block length, checked against the bytes present. */
  readonly blockLen: number;
  /** shb_userappl, when present. */
  readonly userAppl: string | undefined;
}

/**
 * Parses the Section Header Block at `bytes[at..]`. The byte order comes from the Byte-Order Magic
 * (§4.1), which is why the block type is a palindrome and readable before it is known.
 */
export function parseSectionHeader(bytes: Uint8Array, at: number): SectionHeaderRepr | WireError {
  const left = bytes.length - at;
  if (left < 12) return new WireError("pcapng", "truncated", `${left} < 12 bytes of section header`);
  const view = dataView(bytes);
  const bom = view.getUint32(at + 8, false);
  let littleEndian: boolean;
  if (bom === PCAPNG_BYTE_ORDER_MAGIC) littleEndian = false;
  else if (bom === 0x4d3c2b1a) littleEndian = true;
  else return new WireError("pcapng", "bad-value", `byte-order magic 0x${bom.toString(16)}`);
  const blockLen = view.getUint32(at + 4, littleEndian);
  const bad = checkBlockFrame(view, at, left, blockLen, littleEndian, PCAPNG_SHB_MIN_LEN, "section header");
  if (bad) return bad;
  const versionMajor = view.getUint16(at + 12, littleEndian);
  const versionMinor = view.getUint16(at + 14, littleEndian);
  // §4.1: a reader that meets a Major Version it does not know must stop; minor 2 was written by
  // some old tools with an identical layout.
  if (versionMajor !== 1) {
    return new WireError("pcapng", "bad-version", `section version ${versionMajor}.${versionMinor}`);
  }
  let userAppl: string | undefined;
  forEachOption(view, at + PCAPNG_SHB_MIN_LEN - 4, at + blockLen - 4, littleEndian, (code, start, len) => {
    if (code === PCAPNG_OPTION.shbUserAppl) userAppl = utf8(bytes, start, len);
  });
  return { littleEndian, versionMajor, versionMinor, blockLen, userAppl };
}

/**
 * Checks the framing of a block of at least `minLen` bytes at `at`, with `left` bytes available:
 * §3.1 says the total length is a multiple of 4 and is repeated at the end of the block.
 * Returns undefined when the frame is sound.
 */
export function checkBlockFrame(
  view: DataView,
  at: number,
  left: number,
  blockLen: number,
  littleEndian: boolean,
  minLen: number,
  what: string,
): WireError | undefined {
  if (blockLen < minLen || (blockLen & 3) !== 0) {
    return new WireError("pcapng", "bad-length", `${what} block length ${blockLen}`);
  }
  if (blockLen > left) {
    return new WireError("pcapng", "truncated", `${what} block of ${blockLen} bytes, ${left} left`);
  }
  const trailer = view.getUint32(at + blockLen - 4, littleEndian);
  if (trailer !== blockLen) {
    return new WireError("pcapng", "bad-length", `${what} block length ${blockLen}, trailer ${trailer}`);
  }
  return undefined;
}

/**
 * A timestamp resolution (§4.2 if_tsresol): units per second, as 10^n or 2^n. Kept as the exponent
 * too, so a writer can re-emit it unchanged.
 */
export type TimestampResolution =
  | { readonly base: 10; readonly exponent: number }
  | { readonly base: 2; readonly exponent: number };

/** The meaning of an Interface Description Block. */
export interface InterfaceDescriptionRepr {
  readonly linkType: number;
  /** 0 means "no limit" (§4.2). */
  readonly snaplen: number;
  /** if_tsresol; 10^-6 when absent (§4.2). */
  readonly tsresol: TimestampResolution;
  /** if_tsoffset: seconds added to every timestamp of this interface (§4.2); 0 when absent. */
  readonly tsOffset: number;
  readonly name: string | undefined;
  readonly description: string | undefined;
  /** if_fcslen: bytes of FCS at the end of each frame, when given. */
  readonly fcsLen: number | undefined;
}

/** Parses an Interface Description Block whose frame (length, trailer) the caller has checked. */
export function parseInterfaceDescription(
  bytes: Uint8Array,
  at: number,
  blockLen: number,
  littleEndian: boolean,
): InterfaceDescriptionRepr | WireError {
  if (blockLen < PCAPNG_IDB_MIN_LEN || at + blockLen > bytes.length) {
    return new WireError("pcapng", "bad-length", `interface block length ${blockLen}`);
  }
  const view = dataView(bytes);
  let tsresol: TimestampResolution = { base: 10, exponent: 6 };
  let tsOffset = 0;
  let name: string | undefined;
  let description: string | undefined;
  let fcsLen: number | undefined;
  forEachOption(view, at + 16, at + blockLen - 4, littleEndian, (code, start, len) => {
    switch (code) {
      case PCAPNG_OPTION.ifName:
        name = utf8(bytes, start, len);
        break;
      case PCAPNG_OPTION.ifDescription:
        description = utf8(bytes, start, len);
        break;
      case PCAPNG_OPTION.ifTsresol:
        if (len >= 1) {
          const v = view.getUint8(start);
          // §4.2: the most significant bit selects base 2; the rest is the negative exponent.
          tsresol = v & 0x80 ? { base: 2, exponent: v & 0x7f } : { base: 10, exponent: v };
        }
        break;
      case PCAPNG_OPTION.ifTsoffset:
        if (len >= 8) {
          // A signed 64-bit count of seconds; exact as a double for any offset a clock can have.
          const lo = view.getUint32(start + (littleEndian ? 0 : 4), littleEndian);
          const hi = view.getInt32(start + (littleEndian ? 4 : 0), littleEndian);
          tsOffset = hi * 0x100000000 + lo;
        }
        break;
      case PCAPNG_OPTION.ifFcslen:
        if (len >= 1) fcsLen = view.getUint8(start);
        break;
      default:
        break;
    }
  });
  return {
    linkType: view.getUint16(at + 8, littleEndian),
    snaplen: view.getUint32(at + 12, littleEndian),
    tsresol,
    tsOffset,
    name,
    description,
    fcsLen,
  };
}

/**
 * Calls `visit(code, valueStart, valueLen)` for each option in `[start, end)` until opt_endofopt,
 * the end, or an option that overruns the block (the rest is ignored). Cold path only: one closure
 * per section or interface block, never per packet.
 */
export function forEachOption(
  view: DataView,
  start: number,
  end: number,
  littleEndian: boolean,
  visit: (code: number, valueStart: number, valueLen: number) => void,
): void {
  let at = start;
  while (at + 4 <= end) {
    const code = view.getUint16(at, littleEndian);
    const len = view.getUint16(at + 2, littleEndian);
    if (code === PCAPNG_OPTION.endOfOpt) return;
    if (at + 4 + len > end) return;
    visit(code, at + 4, len);
    at += 4 + pad4(len);
  }
}

const decoder = new TextDecoder("utf-8", { fatal: false });

/** §3.5: string option values are UTF-8, not NUL-terminated (though some writers add one). */
function utf8(bytes: Uint8Array, start: number, len: number): string {
  let end = start + len;
  while (end > start && bytes[end - 1] === 0) end--;
  return decoder.decode(bytes.subarray(start, end));
}

// ---- Writing (always little-endian) -------------------------------------------------------------------

const encoder = new TextEncoder();

/** What `emitSectionHeader` writes. */
export interface SectionHeaderSpec {
  /** shb_userappl, e.g. "wirestack". */
  readonly userAppl: string | undefined;
}

/** What `emitInterfaceDescription` writes. */
export interface InterfaceDescriptionSpec {
  readonly linkType: number;
  readonly snaplen: number;
  /** Decimal exponent of the timestamp unit: 6 (µs, the default, not written) or 9 (ns). */
  readonly tsresolExponent: number;
  readonly name: string | undefined;
}

/** Size of an option with a value of `len` bytes, padding included. */
function optionLen(len: number): number {
  return 4 + pad4(len);
}

function emitOption(view: DataView, out: Uint8Array, at: number, code: number, value: Uint8Array): number {
  if (value.length > 0xffff) throw new RangeError(`option ${code} of ${value.length} bytes exceeds 65535`);
  view.setUint16(at, code, true);
  view.setUint16(at + 2, value.length, true);
  out.set(value, at + 4);
  out.fill(0, at + 4 + value.length, at + optionLen(value.length));
  return at + optionLen(value.length);
}

function emitEndOfOptions(view: DataView, at: number): number {
  view.setUint32(at, 0, true);
  return at + 4;
}

/** Bytes `emitSectionHeader` writes for `spec`. */
export function sectionHeaderLen(spec: SectionHeaderSpec): number {
  const appl = spec.userAppl === undefined ? 0 : optionLen(encoder.encode(spec.userAppl).length) + 4;
  return PCAPNG_SHB_MIN_LEN + appl;
}

/**
 * Writes a version 1.0 Section Header Block with an unknown section length (-1, §4.1: the writer
 * streams and cannot know it) at `out[at..]`; returns the offset after it.
 */
export function emitSectionHeader(spec: SectionHeaderSpec, out: Uint8Array, at: number): number {
  const len = sectionHeaderLen(spec);
  const view = dataView(out);
  view.setUint32(at, PCAPNG_BLOCK.sectionHeader, true);
  view.setUint32(at + 4, len, true);
  view.setUint32(at + 8, PCAPNG_BYTE_ORDER_MAGIC, true);
  view.setUint16(at + 12, 1, true);
  view.setUint16(at + 14, 0, true);
  view.setInt32(at + 16, -1, true);
  view.setInt32(at + 20, -1, true);
  let p = at + 24;
  if (spec.userAppl !== undefined) {
    p = emitOption(view, out, p, PCAPNG_OPTION.shbUserAppl, encoder.encode(spec.userAppl));
    p = emitEndOfOptions(view, p);
  }
  view.setUint32(p, len, true);
  return p + 4;
}

/** Bytes `emitInterfaceDescription` writes for `spec`. */
export function interfaceDescriptionLen(spec: InterfaceDescriptionSpec): number {
  let opts = 0;
  if (spec.name !== undefined) opts += optionLen(encoder.encode(spec.name).length);
  if (spec.tsresolExponent !== 6) opts += optionLen(1);
  return PCAPNG_IDB_MIN_LEN + (opts > 0 ? opts + 4 : 0);
}

/** Writes an Interface Description Block at `out[at..]`; returns the offset after it. */
export function emitInterfaceDescription(spec: InterfaceDescriptionSpec, out: Uint8Array, at: number): number {
  if (spec.linkType >>> 0 !== spec.linkType || spec.linkType > 0xffff) {
    throw new RangeError(`link type ${spec.linkType} is not a 16-bit value`);
  }
  if (spec.tsresolExponent >>> 0 !== spec.tsresolExponent || spec.tsresolExponent > 0x7f) {
    throw new RangeError(`timestamp exponent ${spec.tsresolExponent} out of range`);
  }
  const len = interfaceDescriptionLen(spec);
  const view = dataView(out);
  view.setUint32(at, PCAPNG_BLOCK.interfaceDescription, true);
  view.setUint32(at + 4, len, true);
  view.setUint16(at + 8, spec.linkType, true);
  view.setUint16(at + 10, 0, true);
  view.setUint32(at + 12, spec.snaplen, true);
  let p = at + 16;
  if (len > PCAPNG_IDB_MIN_LEN) {
    if (spec.name !== undefined) p = emitOption(view, out, p, PCAPNG_OPTION.ifName, encoder.encode(spec.name));
    if (spec.tsresolExponent !== 6) {
      p = emitOption(view, out, p, PCAPNG_OPTION.ifTsresol, Uint8Array.of(spec.tsresolExponent));
    }
    p = emitEndOfOptions(view, p);
  }
  view.setUint32(p, len, true);
  return p + 4;
}

/** Bytes `emitEnhancedPacketHeader` plus the data, padding and trailer take for `capturedLen` bytes. */
export function enhancedPacketLen(capturedLen: number): number {
  return PCAPNG_EPB_MIN_LEN + pad4(capturedLen);
}

/**
 * Writes an Enhanced Packet Block (§4.3) without options at `out[at..]`: header, the first
 * `capturedLen` bytes of `data`, zero padding and the trailing length. Returns the offset after it.
 * `tsHigh`/`tsLow` are the two halves of the 64-bit timestamp in the interface's units.
 */
export function emitEnhancedPacket(
  interfaceId: number,
  tsHigh: number,
  tsLow: number,
  data: Uint8Array,
  capturedLen: number,
  originalLen: number,
  out: Uint8Array,
  at: number,
): number {
  const len = enhancedPacketLen(capturedLen);
  const view = dataView(out);
  view.setUint32(at, PCAPNG_BLOCK.enhancedPacket, true);
  view.setUint32(at + 4, len, true);
  view.setUint32(at + 8, interfaceId, true);
  view.setUint32(at + 12, tsHigh, true);
  view.setUint32(at + 16, tsLow, true);
  view.setUint32(at + 20, capturedLen, true);
  view.setUint32(at + 24, originalLen, true);
  out.set(capturedLen === data.length ? data : data.subarray(0, capturedLen), at + 28);
  const padded = at + 28 + pad4(capturedLen);
  out.fill(0, at + 28 + capturedLen, padded);
  view.setUint32(padded, len, true);
  return padded + 4;
}
