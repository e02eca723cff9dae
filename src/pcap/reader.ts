/**
 * Capture reader for classic pcap (both byte orders; µs, ns and the "modified" magic) and pcapng
 * (any number of sections, each in its own byte order; any number of interfaces, each with its own
 * link type, if_tsresol in base 10 or base 2, and if_tsoffset). Packets come from Enhanced Packet
 * Blocks, Simple Packet Blocks and the obsolete Packet Block; every other block (name resolution,
 * statistics, decryption secrets, custom, …) is skipped by its length, as pcapng §3.1 allows.
 *
 * Guarantees: never throws on any input and never reads outside the given bytes; every length field
 * is checked against the bytes present before use. Packet data are `subarray` views of the input,
 * never copies. When the file turns bad part-way (a record cut off at the end, an impossible block
 * length), reading stops: `next()` returns undefined and `error` says why; records already returned
 * stay valid.
 *
 * Theory of operation: `next()` is the hot loop — one DataView, offsets as plain numbers, per-packet
 * work limited to a few getUint32 and one record object. Timestamps become (sec, nsec) integers
 * without a BigInt per packet: a 64-bit pcapng timestamp is divided by the interface's units per
 * second in 16-bit steps, each exact in a double (see `splitTimestamp`). Only resolutions finer than
 * 2^-37 s fall back to BigInt.
 */
import { dataView } from "../wire/bytes.ts";
import { WireError } from "../wire/error.ts";
import { parsePcapHeader } from "./pcap.ts";
import {
  checkBlockFrame,
  parseInterfaceDescription,
  parseSectionHeader,
  PCAPNG_BLOCK,
  PCAPNG_EPB_MIN_LEN,
  PCAPNG_IDB_MIN_LEN,
  PCAPNG_PB_MIN_LEN,
  PCAPNG_SPB_MIN_LEN,
} from "./pcapng.ts";
import type { TimestampResolution } from "./pcapng.ts";
import type { CaptureFormat } from "./writer.ts";

/** One captured frame. */
export interface CaptureRecord {
  /** Seconds since the Unix epoch (with the interface's if_tsoffset applied). */
  readonly sec: number;
  /** Nanoseconds, 0..999999999. A Simple Packet Block has no timestamp: both fields are 0 (§4.4). */
  readonly nsec: number;
  /** The captured bytes: a view of the file's bytes, not a copy. */
  readonly data: Uint8Array;
  /** The frame's length on the wire; more than `data.length` when the capture cut it short. */
  readonly origLen: number;
  /** LINKTYPE_ value of the frame's interface (1 = Ethernet). */
  readonly linkType: number;
  /** pcapng: the interface's index within its section. Classic pcap has no interfaces: undefined. */
  readonly interfaceId: number | undefined;
}

/** An interface a capture describes (classic pcap: one, made from its file header). */
export interface CaptureInterface {
  /** Index of the pcapng section (0 for the first, and for classic pcap). */
  readonly section: number;
  /** Index within the section, as `CaptureRecord.interfaceId` gives it. */
  readonly id: number;
  readonly linkType: number;
  /** 0 means no limit. */
  readonly snaplen: number;
  readonly tsresol: TimestampResolution;
  /** Seconds added to every timestamp. */
  readonly tsOffset: number;
  readonly name: string | undefined;
  /** Bytes of FCS at the end of each frame, when the file says. */
  readonly fcsLen: number | undefined;
}

/** A whole capture read at once by `readCapture`. */
export interface CaptureFile {
  readonly format: CaptureFormat;
  readonly records: CaptureRecord[];
  readonly interfaces: readonly CaptureInterface[];
  /** Why reading stopped before the end of the bytes (e.g. `truncated`), or undefined. */
  readonly error: WireError | undefined;
}

/** Per-interface state the hot loop reads. One shape for all, so property reads stay monomorphic. */
interface IfState {
  readonly linkType: number;
  readonly snaplen: number;
  /** Units per second (10^n or 2^n), exact as a double up to 2^53. */
  readonly units: number;
  /** Nanoseconds per unit when that is an integer (units divides 10^9), else 0. */
  readonly nsPerUnit: number;
  readonly tsOffset: number;
  /** Set when `units` exceeds 2^37 (or 2^53): the rare BigInt path. */
  readonly bigUnits: bigint | undefined;
}

const TWO32 = 0x100000000;
const TWO53 = 2 ** 53;

function ifStateOf(linkType: number, snaplen: number, tsresol: TimestampResolution, tsOffset: number): IfState {
  const units = tsresol.base === 10 ? 10 ** tsresol.exponent : 2 ** tsresol.exponent;
  const exact = units <= TWO53 && Number.isInteger(units);
  const nsPerUnit = exact && units <= 1e9 && 1e9 % units === 0 ? 1e9 / units : 0;
  const bigUnits = exact && units <= 2 ** 37 ? undefined : BigInt(tsresol.base) ** BigInt(tsresol.exponent);
  return { linkType, snaplen, units, nsPerUnit, tsOffset, bigUnits };
}

/** Streams the records of a capture held in memory. Obtain one with `CaptureReader.open`. */
export class CaptureReader {
  /** Why reading stopped early; undefined while reading and after a clean end. */
  error: WireError | undefined = undefined;

  private readonly view: DataView;
  private readonly end: number;
  private pos: number;
  private done = false;
  private littleEndian: boolean;
  /** Classic pcap: record header length (16 or 24) and ns per fractional unit (1000 or 1). */
  private readonly recordHeaderLen: number;
  private readonly fractionNs: number;
  private readonly pcapLinkType: number;
  /** pcapng: the current section's interfaces, and every interface seen. */
  private section = -1;
  private ifaces: IfState[] = [];
  private readonly allInterfaces: CaptureInterface[] = [];
  /** Outputs of `splitTimestamp`, kept in fields so the hot path allocates nothing for them. */
  private tsSec = 0;
  private tsNsec = 0;

  private constructor(
    private readonly bytes: Uint8Array,
    readonly format: CaptureFormat,
    littleEndian: boolean,
    pos: number,
    recordHeaderLen: number,
    fractionNs: number,
    pcapLinkType: number,
  ) {
    this.view = dataView(bytes);
    this.end = bytes.length;
    this.littleEndian = littleEndian;
    this.pos = pos;
    this.recordHeaderLen = recordHeaderLen;
    this.fractionNs = fractionNs;
    this.pcapLinkType = pcapLinkType;
  }

  /**
   * Recognises the format by its first bytes and reads the file header (pcap) or checks that the
   * first block is a Section Header (pcapng). Returns a WireError when the bytes are neither.
   */
  static open(bytes: Uint8Array): CaptureReader | WireError {
    if (bytes.length < 4) return new WireError("capture", "truncated", `${bytes.length} < 4 bytes of magic`);
    const first = dataView(bytes).getUint32(0, false);
    if (first === PCAPNG_BLOCK.sectionHeader) {
      const shb = parseSectionHeader(bytes, 0);
      if (shb instanceof WireError) return shb;
      // `next()` meets this Section Header again and starts section 0 from it.
      return new CaptureReader(bytes, "pcapng", shb.littleEndian, 0, 0, 0, 0);
    }
    const header = parsePcapHeader(bytes);
    if (header instanceof WireError) {
      if (header.reason === "bad-value") {
        return new WireError("capture", "bad-value", `not a pcap or pcapng file (magic 0x${first.toString(16)})`);
      }
      return header;
    }
    const reader = new CaptureReader(
      bytes,
      "pcap",
      header.littleEndian,
      24,
      header.recordHeaderLen,
      header.resolution === "ns" ? 1 : 1000,
      header.linkType,
    );
    reader.section = 0;
    reader.allInterfaces.push({
      section: 0,
      id: 0,
      linkType: header.linkType,
      snaplen: header.snaplen,
      tsresol: { base: 10, exponent: header.resolution === "ns" ? 9 : 6 },
      tsOffset: 0,
      name: undefined,
      fcsLen: header.fcsLen,
    });
    return reader;
  }

  /** Interfaces described so far (all of them once `next()` has returned undefined). */
  get interfaces(): readonly CaptureInterface[] {
    return this.allInterfaces;
  }

  /** Byte offset of the next record or block. */
  get offset(): number {
    return this.pos;
  }

  /** The next record, or undefined at the end of the bytes or when the file turned bad (`error`). */
  next(): CaptureRecord | undefined {
    if (this.done) return undefined;
    return this.format === "pcap" ? this.nextPcap() : this.nextPcapng();
  }

  /** Iterates the remaining records (convenience; `next()` avoids the iterator result objects). */
  *[Symbol.iterator](): Iterator<CaptureRecord> {
    for (let r = this.next(); r !== undefined; r = this.next()) yield r;
  }

  private stop(error: WireError | undefined): undefined {
    this.done = true;
    this.error = error;
    return undefined;
  }

  private nextPcap(): CaptureRecord | undefined {
    const p = this.pos;
    const left = this.end - p;
    if (left === 0) return this.stop(undefined);
    const hl = this.recordHeaderLen;
    if (left < hl) return this.stop(new WireError("pcap", "truncated", `record header at ${p}: ${left} < ${hl} bytes`));
    const view = this.view;
    const le = this.littleEndian;
    let sec = view.getUint32(p, le);
    let nsec = view.getUint32(p + 4, le) * this.fractionNs;
    const capLen = view.getUint32(p + 8, le);
    const origLen = view.getUint32(p + 12, le);
    if (capLen > left - hl) {
      return this.stop(new WireError("pcap", "truncated", `record at ${p}: ${capLen} bytes, ${left - hl} left`));
    }
    if (nsec >= 1e9) {
      // Out-of-range fractions exist in the wild; carry them into the seconds rather than refuse.
      sec += Math.floor(nsec / 1e9);
      nsec %= 1e9;
    }
    const start = p + hl;
    this.pos = start + capLen;
    return {
      sec,
      nsec,
      data: this.bytes.subarray(start, start + capLen),
      origLen,
      linkType: this.pcapLinkType,
      interfaceId: undefined,
    };
  }

  private nextPcapng(): CaptureRecord | undefined {
    const view = this.view;
    // Bounded: every pass either returns or advances `pos` by a checked block length of at least 12.
    for (;;) {
      const p = this.pos;
      const left = this.end - p;
      if (left === 0) return this.stop(undefined);
      if (left < 12) return this.stop(new WireError("pcapng", "truncated", `block at ${p}: ${left} < 12 bytes`));
      const le = this.littleEndian;
      const type = view.getUint32(p, le);
      if (type === PCAPNG_BLOCK.sectionHeader) {
        const bad = this.beginSection(p);
        if (bad) return this.stop(bad);
        continue;
      }
      const blockLen = view.getUint32(p + 4, le);
      // §3.1: the smallest block is 12 bytes, lengths are multiples of 4, the trailer repeats it.
      if (blockLen < 12 || (blockLen & 3) !== 0) {
        return this.stop(new WireError("pcapng", "bad-length", `block at ${p}: length ${blockLen}`));
      }
      if (blockLen > left) {
        return this.stop(new WireError("pcapng", "truncated", `block at ${p}: ${blockLen} bytes, ${left} left`));
      }
      if (view.getUint32(p + blockLen - 4, le) !== blockLen) {
        return this.stop(new WireError("pcapng", "bad-length", `block at ${p}: trailer differs from ${blockLen}`));
      }
      this.pos = p + blockLen;
      switch (type) {
        case PCAPNG_BLOCK.enhancedPacket:
        case PCAPNG_BLOCK.packet: {
          // §4.3 and Appendix A share the layout after the interface id (32 bits, or 16 + 16 drops).
          if (blockLen < PCAPNG_EPB_MIN_LEN) {
            return this.stop(new WireError("pcapng", "bad-length", `packet block at ${p}: length ${blockLen}`));
          }
          const id = type === PCAPNG_BLOCK.enhancedPacket ? view.getUint32(p + 8, le) : view.getUint16(p + 8, le);
          const ifc = this.ifaces[id];
          if (ifc === undefined) {
            return this.stop(new WireError("pcapng", "bad-value", `packet block at ${p}: no interface ${id}`));
          }
          const capLen = view.getUint32(p + 20, le);
          if (capLen > blockLen - PCAPNG_EPB_MIN_LEN) {
            return this.stop(
              new WireError("pcapng", "bad-length", `packet block at ${p}: ${capLen} bytes in a ${blockLen}-byte block`),
            );
          }
          this.splitTimestamp(ifc, view.getUint32(p + 12, le), view.getUint32(p + 16, le));
          return {
            sec: this.tsSec,
            nsec: this.tsNsec,
            data: this.bytes.subarray(p + 28, p + 28 + capLen),
            origLen: view.getUint32(p + 24, le),
            linkType: ifc.linkType,
            interfaceId: id,
          };
        }
        case PCAPNG_BLOCK.simplePacket: {
          if (blockLen < PCAPNG_SPB_MIN_LEN) {
            return this.stop(new WireError("pcapng", "bad-length", `simple packet block at ${p}: length ${blockLen}`));
          }
          // §4.4: always interface 0; the captured length is the smallest of the original length,
          // the interface's snaplen and what the block holds.
          const ifc = this.ifaces[0];
          if (ifc === undefined) {
            return this.stop(new WireError("pcapng", "bad-value", `simple packet block at ${p}: no interface 0`));
          }
          const origLen = view.getUint32(p + 8, le);
          let capLen = Math.min(origLen, blockLen - PCAPNG_SPB_MIN_LEN);
          if (ifc.snaplen !== 0 && ifc.snaplen < capLen) capLen = ifc.snaplen;
          return {
            sec: 0,
            nsec: 0,
            data: this.bytes.subarray(p + 12, p + 12 + capLen),
            origLen,
            linkType: ifc.linkType,
            interfaceId: 0,
          };
        }
        case PCAPNG_BLOCK.interfaceDescription: {
          const bad = this.addInterface(p, blockLen);
          if (bad) return this.stop(bad);
          break;
        }
        default:
          // §3.1: a reader skips the blocks it does not know (NRB, ISB, DSB, custom, journal, …).
          break;
      }
    }
  }

  /** Starts a new section at `p` (§4.1): its own byte order, no interfaces yet. */
  private beginSection(p: number): WireError | undefined {
    const shb = parseSectionHeader(this.bytes, p);
    if (shb instanceof WireError) return shb;
    this.littleEndian = shb.littleEndian;
    this.section++;
    this.ifaces = [];
    this.pos = p + shb.blockLen;
    return undefined;
  }

  private addInterface(p: number, blockLen: number): WireError | undefined {
    const bad = checkBlockFrame(this.view, p, this.end - p, blockLen, this.littleEndian, PCAPNG_IDB_MIN_LEN, "interface");
    if (bad) return bad;
    const idb = parseInterfaceDescription(this.bytes, p, blockLen, this.littleEndian);
    if (idb instanceof WireError) return idb;
    this.allInterfaces.push({
      section: this.section,
      id: this.ifaces.length,
      linkType: idb.linkType,
      snaplen: idb.snaplen,
      tsresol: idb.tsresol,
      tsOffset: idb.tsOffset,
      name: idb.name,
      fcsLen: idb.fcsLen,
    });
    this.ifaces.push(ifStateOf(idb.linkType, idb.snaplen, idb.tsresol, idb.tsOffset));
    return undefined;
  }

  /**
   * Sets `tsSec`/`tsNsec` from a 64-bit timestamp (hi, lo) in `ifc.units` per second. Long
   * division in base 2^16: each partial dividend is below units · 2^16 ≤ 2^53, so every step is
   * exact in a double; a quotient that the division rounded up is corrected by the remainder check.
   */
  private splitTimestamp(ifc: IfState, hi: number, lo: number): void {
    const units = ifc.units;
    let sec: number;
    let rem: number;
    if (ifc.bigUnits !== undefined) {
      const t = (BigInt(hi) << 32n) | BigInt(lo);
      this.tsSec = Number(t / ifc.bigUnits) + ifc.tsOffset;
      this.tsNsec = Number(((t % ifc.bigUnits) * 1_000_000_000n) / ifc.bigUnits);
      return;
    }
    if (hi < 0x200000) {
      // The whole timestamp is below 2^53 (µs timestamps until the year 2255).
      const t = hi * TWO32 + lo;
      sec = Math.floor(t / units);
      rem = t - sec * units;
    } else {
      const qHi = Math.floor(hi / units);
      rem = hi - qHi * units;
      let x = rem * 0x10000 + (lo >>> 16);
      let q1 = Math.floor(x / units);
      rem = x - q1 * units;
      if (rem < 0) {
        q1--;
        rem += units;
      }
      x = rem * 0x10000 + (lo & 0xffff);
      let q2 = Math.floor(x / units);
      rem = x - q2 * units;
      if (rem < 0) {
        q2--;
        rem += units;
      }
      sec = qHi * TWO32 + q1 * 0x10000 + q2;
    }
    if (rem < 0) {
      sec--;
      rem += units;
    }
    let nsec: number;
    if (ifc.nsPerUnit !== 0) {
      nsec = rem * ifc.nsPerUnit;
    } else if (rem * 1e9 < TWO53) {
      nsec = Math.floor((rem * 1e9) / units);
    } else {
      nsec = Number((BigInt(rem) * 1_000_000_000n) / BigInt(units));
    }
    this.tsSec = sec + ifc.tsOffset;
    this.tsNsec = nsec;
  }
}

/**
 * Reads a whole capture held in memory. Returns a WireError only when the bytes are not a capture
 * at all (unknown magic, a damaged file header); damage later in the file stops reading and is
 * reported in `error`, with the records before it.
 */
export function readCapture(bytes: Uint8Array): CaptureFile | WireError {
  const reader = CaptureReader.open(bytes);
  if (reader instanceof WireError) return reader;
  const records: CaptureRecord[] = [];
  for (let r = reader.next(); r !== undefined; r = reader.next()) records.push(r);
  return { format: reader.format, records, interfaces: reader.interfaces, error: reader.error };
}
