/**
 * The classic libpcap file format (draft-ietf-opsawg-pcap-04, "PCAP Capture File Format"): the file
 * header and the per-packet record header. Cold, once-per-file code lives here; the per-record read
 * loop is in reader.ts.
 *
 * File header (draft-ietf-opsawg-pcap §4):
 *
 *                         1                   2                   3
 *     0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  0 |                          Magic Number                         |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  4 |          Major Version        |         Minor Version         |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  8 |                           Reserved1                           |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * 12 |                           Reserved2                           |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * 16 |                            SnapLen                            |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 * 20 | FCS |f|0 0 0 0 0 0 0 0 0 0 0 0|         LinkType              |
 *    +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Packet record header (§5), followed by Captured Packet Length bytes of data:
 *
 *    +---------------------------------------------------------------+
 *  0 |                      Timestamp (Seconds)                      |
 *  4 |            Timestamp (Microseconds or nanoseconds)            |
 *  8 |                    Captured Packet Length                     |
 * 12 |                    Original Packet Length                     |
 *    +---------------------------------------------------------------+
 *
 * All fields are in the writer's byte order, which the reader learns from the magic number. Reserved1
 * and Reserved2 are the historical "thiszone" and "sigfigs", always 0 in practice and ignored, as
 * libpcap does. `parsePcapHeader` checks the length once before reading.
 */
import { dataView } from "../wire/bytes.ts";
import { WireError } from "../wire/error.ts";

/** §4: the file header. */
export const PCAP_HEADER_LEN = 24;
/** §5: the record header in front of each packet's data. */
export const PCAP_RECORD_HEADER_LEN = 16;
/** Record header of the "modified" pcap of Alexey Kuznetzov's patches: 8 more bytes (ifindex, protocol, type, pad). */
export const PCAP_MODIFIED_RECORD_HEADER_LEN = 24;

/** §4: the magic numbers, as read in the writer's byte order. */
export const PCAP_MAGIC = {
  /** Timestamps in seconds and microseconds. */
  micro: 0xa1b2c3d4,
  /** Timestamps in seconds and nanoseconds. */
  nano: 0xa1b23c4d,
  /** Microseconds, with the 24-byte record header of Kuznetzov's patched libpcap (editcap "modpcap"). */
  modified: 0xa1b2cd34,
} as const;

/** The default snapshot length of tcpdump and of our writer (libpcap's MAXIMUM_SNAPLEN). */
export const DEFAULT_SNAPLEN = 262144;

/** A few LINKTYPE_ values (https://www.tcpdump.org/linktypes.html); any 16-bit value is carried. */
export const LINKTYPE = {
  null: 0,
  ethernet: 1,
  raw: 101,
  linuxSll: 113,
  ipv4: 228,
  ipv6: 229,
} as const;

/** Timestamp resolution of a classic pcap file. */
export type PcapResolution = "us" | "ns";

/** The meaning of a pcap file header. */
export interface PcapHeaderRepr {
  readonly resolution: PcapResolution;
  /** True when the file was written little-endian. */
  readonly littleEndian: boolean;
  /** Length of each record header: 16, or 24 for the modified format. */
  readonly recordHeaderLen: number;
  readonly versionMajor: number;
  readonly versionMinor: number;
  readonly snaplen: number;
  /** §4: the low 16 bits of the LinkType field. */
  readonly linkType: number;
  /** §4: bytes of FCS at the end of each frame when the f bit is set, else undefined. */
  readonly fcsLen: number | undefined;
}

/** The magic as written, in both byte orders, mapped to (resolution, record header length). */
function classifyMagic(
  magic: number,
): { resolution: PcapResolution; recordHeaderLen: number } | undefined {
  switch (magic) {
    case PCAP_MAGIC.micro:
      return { resolution: "us", recordHeaderLen: PCAP_RECORD_HEADER_LEN };
    case PCAP_MAGIC.nano:
      return { resolution: "ns", recordHeaderLen: PCAP_RECORD_HEADER_LEN };
    case PCAP_MAGIC.modified:
      return { resolution: "us", recordHeaderLen: PCAP_MODIFIED_RECORD_HEADER_LEN };
    default:
      return undefined;
  }
}

/** True when `bytes` begins with a pcap magic number in either byte order. */
export function isPcap(bytes: Uint8Array): boolean {
  if (bytes.length < 4) return false;
  const view = dataView(bytes);
  return classifyMagic(view.getUint32(0, false)) !== undefined || classifyMagic(view.getUint32(0, true)) !== undefined;
}

/** Parses the 24-byte file header at the start of `bytes`, in whichever byte order its magic says. */
export function parsePcapHeader(bytes: Uint8Array): PcapHeaderRepr | WireError {
  if (bytes.length < 4) return new WireError("pcap", "truncated", `${bytes.length} < 4 bytes of magic`);
  const view = dataView(bytes);
  let littleEndian = false;
  let kind = classifyMagic(view.getUint32(0, false));
  if (kind === undefined) {
    littleEndian = true;
    kind = classifyMagic(view.getUint32(0, true));
  }
  if (kind === undefined) {
    return new WireError("pcap", "bad-value", `magic 0x${view.getUint32(0, false).toString(16)}`);
  }
  if (bytes.length < PCAP_HEADER_LEN) {
    return new WireError("pcap", "truncated", `${bytes.length} < ${PCAP_HEADER_LEN} bytes of file header`);
  }
  const versionMajor = view.getUint16(4, littleEndian);
  const versionMinor = view.getUint16(6, littleEndian);
  // §4: the current version is 2.4; libpcap reads any 2.x, and so do we.
  if (versionMajor !== 2) return new WireError("pcap", "bad-version", `version ${versionMajor}.${versionMinor}`);
  const linkField = view.getUint32(20, littleEndian);
  return {
    resolution: kind.resolution,
    littleEndian,
    recordHeaderLen: kind.recordHeaderLen,
    versionMajor,
    versionMinor,
    snaplen: view.getUint32(16, littleEndian),
    linkType: linkField & 0xffff,
    // §4: FCS (3 bits) counts 16-bit words of FCS, valid only when the f bit (bit 28) is set.
    fcsLen: linkField & 0x10000000 ? ((linkField >>> 29) & 0x7) * 2 : undefined,
  };
}

/** What `emitPcapHeader` writes: always version 2.4, little-endian (as on the hosts we run on). */
export interface PcapHeaderSpec {
  readonly resolution: PcapResolution;
  readonly snaplen: number;
  readonly linkType: number;
}

/** Writes the 24-byte file header at `out[at..]`, little-endian, and returns `at + 24`. */
export function emitPcapHeader(spec: PcapHeaderSpec, out: Uint8Array, at: number): number {
  if (spec.linkType >>> 0 !== spec.linkType || spec.linkType > 0xffff) {
    throw new RangeError(`link type ${spec.linkType} is not a 16-bit value`);
  }
  if (spec.snaplen >>> 0 !== spec.snaplen || spec.snaplen === 0) {
    throw new RangeError(`snaplen ${spec.snaplen} is not a positive 32-bit value`);
  }
  const view = dataView(out);
  view.setUint32(at, spec.resolution === "ns" ? PCAP_MAGIC.nano : PCAP_MAGIC.micro, true);
  view.setUint16(at + 4, 2, true);
  view.setUint16(at + 6, 4, true);
  view.setUint32(at + 8, 0, true);
  view.setUint32(at + 12, 0, true);
  view.setUint32(at + 16, spec.snaplen, true);
  view.setUint32(at + 20, spec.linkType, true);
  return at + PCAP_HEADER_LEN;
}

/**
 * Writes a 16-byte little-endian record header at `out[at..]` and returns `at + 16`. `fraction` is
 * microseconds or nanoseconds, as the file header's magic says; the caller has range-checked it.
 */
export function emitPcapRecordHeader(
  sec: number,
  fraction: number,
  capturedLen: number,
  originalLen: number,
  out: Uint8Array,
  at: number,
): number {
  const view = dataView(out);
  view.setUint32(at, sec, true);
  view.setUint32(at + 4, fraction, true);
  view.setUint32(at + 8, capturedLen, true);
  view.setUint32(at + 12, originalLen, true);
  return at + PCAP_RECORD_HEADER_LEN;
}
