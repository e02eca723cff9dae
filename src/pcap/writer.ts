/**
 * Capture writers, sans-IO: a writer turns frames into byte chunks and hands each chunk to the
 * `write` function it was given, synchronously, before `writePacket` returns. The file header goes
 * out at construction, so a live reader (`wireshark -k -i -`) can start before the first frame. Each
 * frame is exactly one chunk: whoever flushes per chunk (file.ts does) flushes per frame.
 *
 * Chunks are fresh arrays owned by the receiver; the writer never reuses them, so a receiver may keep
 * them (tests collect them in an array). Files are little-endian, version 2.4 pcap or 1.0 pcapng,
 * one interface: the same frames and timestamps give the same bytes on every run, which is what lets
 * simulation captures serve as golden files (DESIGN.md, "Timers").
 *
 * Timestamps are two integers, seconds since the Unix epoch (0 ≤ sec < 2^32) and nanoseconds
 * (0 ≤ nsec < 10^9); at microsecond resolution the nanoseconds are truncated, as libpcap does.
 * Out-of-range values are a misuse of this API and throw RangeError.
 */
import {
  DEFAULT_SNAPLEN,
  emitPcapHeader,
  emitPcapRecordHeader,
  LINKTYPE,
  PCAP_HEADER_LEN,
  PCAP_RECORD_HEADER_LEN,
} from "./pcap.ts";
import type { PcapResolution } from "./pcap.ts";
import {
  emitEnhancedPacket,
  emitInterfaceDescription,
  emitSectionHeader,
  enhancedPacketLen,
  interfaceDescriptionLen,
  sectionHeaderLen,
} from "./pcapng.ts";
import type { InterfaceDescriptionSpec, SectionHeaderSpec } from "./pcapng.ts";

/**
 * Where captured frames go. The capture device wrapper (src/device) depends on exactly this shape.
 * `origLen` is the frame's length on the wire when `frame` is already cut short; it defaults to
 * `frame.length`. `close` is idempotent; `writePacket` after `close` throws.
 */
export interface PacketSink {
  writePacket(frame: Uint8Array, sec: number, nsec: number, origLen?: number): void;
  close(): void;
}

/** Receives each chunk of the file, in order. */
export type ChunkWriter = (chunk: Uint8Array) => void;

/** How a capture file is written. Every field has a default. */
export interface CaptureWriterOptions {
  /** "pcap" (default) or "pcapng". */
  readonly format?: CaptureFormat;
  /** Timestamp resolution: "us" (default) or "ns". */
  readonly resolution?: PcapResolution;
  /** Frames longer than this are cut to it (origLen keeps the full length). Default 262144. */
  readonly snaplen?: number;
  /** LINKTYPE_ value; default 1, Ethernet. */
  readonly linkType?: number;
  /** pcapng only: the interface's if_name (e.g. the device name, "tap0"). */
  readonly interfaceName?: string;
}

/** The two file formats. */
export type CaptureFormat = "pcap" | "pcapng";

/** The options with their defaults filled in. */
interface Settings {
  readonly resolution: PcapResolution;
  readonly snaplen: number;
  readonly linkType: number;
  readonly interfaceName: string | undefined;
}

function settingsOf(options: CaptureWriterOptions): Settings {
  const snaplen = options.snaplen ?? DEFAULT_SNAPLEN;
  if (!Number.isInteger(snaplen) || snaplen < 1 || snaplen > 0xffffffff) {
    throw new RangeError(`snaplen ${snaplen} must be an integer from 1 to 2^32-1`);
  }
  return {
    resolution: options.resolution ?? "us",
    snaplen,
    linkType: options.linkType ?? LINKTYPE.ethernet,
    interfaceName: options.interfaceName,
  };
}

/** Throws RangeError unless (sec, nsec, origLen) can be written for `frame`. */
function checkPacket(frame: Uint8Array, sec: number, nsec: number, origLen: number): void {
  if (sec >>> 0 !== sec) throw new RangeError(`timestamp seconds ${sec} not an integer in [0, 2^32)`);
  if (nsec >>> 0 !== nsec || nsec > 999_999_999) {
    throw new RangeError(`timestamp nanoseconds ${nsec} not an integer in [0, 10^9)`);
  }
  if (origLen >>> 0 !== origLen || origLen < frame.length) {
    throw new RangeError(`original length ${origLen} is less than the ${frame.length} bytes captured`);
  }
}

/** Writes classic pcap (draft-ietf-opsawg-pcap): the 24-byte header, then one record per frame. */
export class PcapWriter implements PacketSink {
  private readonly settings: Settings;
  private closed = false;

  /** Writes the file header through `write` at once. `onClose` runs once, from the first `close`. */
  constructor(
    private readonly write: ChunkWriter,
    options: CaptureWriterOptions = {},
    private readonly onClose?: () => void,
  ) {
    this.settings = settingsOf(options);
    const header = new Uint8Array(PCAP_HEADER_LEN);
    emitPcapHeader(this.settings, header, 0);
    write(header);
  }

  writePacket(frame: Uint8Array, sec: number, nsec: number, origLen: number = frame.length): void {
    if (this.closed) throw new Error("writePacket on a closed capture writer");
    checkPacket(frame, sec, nsec, origLen);
    const captured = Math.min(frame.length, this.settings.snaplen);
    const chunk = new Uint8Array(PCAP_RECORD_HEADER_LEN + captured);
    const fraction = this.settings.resolution === "ns" ? nsec : Math.floor(nsec / 1000);
    const at = emitPcapRecordHeader(sec, fraction, captured, origLen, chunk, 0);
    chunk.set(captured === frame.length ? frame : frame.subarray(0, captured), at);
    this.write(chunk);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.onClose?.();
  }
}

/**
 * Writes pcapng (draft-ietf-opsawg-pcapng): a Section Header (shb_userappl "wirestack"), one
 * Interface Description (if_tsresol 9 at ns resolution, if_name when given), then one Enhanced
 * Packet Block per frame, all on interface 0.
 */
export class PcapngWriter implements PacketSink {
  private readonly nano: boolean;
  private readonly snaplen: number;
  private closed = false;

  /** Writes the section and interface blocks through `write` at once (one chunk). */
  constructor(
    private readonly write: ChunkWriter,
    options: CaptureWriterOptions = {},
    private readonly onClose?: () => void,
  ) {
    const settings = settingsOf(options);
    this.nano = settings.resolution === "ns";
    this.snaplen = settings.snaplen;
    const shb: SectionHeaderSpec = { userAppl: "wirestack" };
    const idb: InterfaceDescriptionSpec = {
      linkType: settings.linkType,
      snaplen: settings.snaplen,
      tsresolExponent: this.nano ? 9 : 6,
      name: settings.interfaceName,
    };
    const head = new Uint8Array(sectionHeaderLen(shb) + interfaceDescriptionLen(idb));
    emitInterfaceDescription(idb, head, emitSectionHeader(shb, head, 0));
    write(head);
  }

  writePacket(frame: Uint8Array, sec: number, nsec: number, origLen: number = frame.length): void {
    if (this.closed) throw new Error("writePacket on a closed capture writer");
    checkPacket(frame, sec, nsec, origLen);
    const captured = Math.min(frame.length, this.snaplen);
    let tsHigh: number;
    let tsLow: number;
    if (this.nano) {
      // sec * 10^9 + nsec reaches 2^62: too wide for a double, so multiply in 16-bit halves of sec.
      // Every partial product stays below 2^53 and is exact.
      const low16 = (sec & 0xffff) * 1e9 + nsec; // < 2^46
      const high = (sec >>> 16) * 1e9; // < 2^46, to be shifted left by 16
      const highLo16 = high % 0x10000;
      const sum = highLo16 * 0x10000 + low16; // < 2^47
      tsLow = sum % 0x100000000;
      tsHigh = (high - highLo16) / 0x10000 + (sum - tsLow) / 0x100000000;
    } else {
      const units = sec * 1e6 + Math.floor(nsec / 1000); // < 2^53 for sec < 2^32
      tsLow = units % 0x100000000;
      tsHigh = (units - tsLow) / 0x100000000;
    }
    const chunk = new Uint8Array(enhancedPacketLen(captured));
    emitEnhancedPacket(0, tsHigh, tsLow, frame, captured, origLen, chunk, 0);
    this.write(chunk);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.onClose?.();
  }
}

/** A writer of the format `options.format` (default pcap) over `write`. */
export function createCaptureWriter(
  write: ChunkWriter,
  options: CaptureWriterOptions = {},
  onClose?: () => void,
): PacketSink {
  const format = options.format ?? "pcap";
  switch (format) {
    case "pcap":
      return new PcapWriter(write, options, onClose);
    case "pcapng":
      return new PcapngWriter(write, options, onClose);
    default: {
      const never: never = format;
      throw new RangeError(`unknown capture format ${String(never)}`);
    }
  }
}
