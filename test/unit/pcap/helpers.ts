/** Test helpers for the pcap tests: hex literals, chunk collection, hand-built pcapng blocks. */
import { createCaptureWriter, type CaptureWriterOptions, type PacketSink } from "../../../src/pcap/index.ts";

/** "d4 c3 b2 a1 ..." (whitespace and `|` ignored) → bytes. */
export function hex(text: string): Uint8Array {
  const clean = text.replace(/[\s|]/g, "");
  if (clean.length % 2 !== 0) throw new Error(`odd hex length ${clean.length}`);
  return Uint8Array.from(clean.match(/../g) ?? [], (h) => parseInt(h, 16));
}

export function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** A writer over an array of chunks; `bytes()` is the file so far. */
export function memoryWriter(options: CaptureWriterOptions = {}): {
  sink: PacketSink;
  chunks: Uint8Array[];
  bytes: () => Uint8Array;
} {
  const chunks: Uint8Array[] = [];
  const sink = createCaptureWriter((c) => chunks.push(c), options);
  return { sink, chunks, bytes: () => concat(chunks) };
}

/** A little builder for pcapng bytes in either byte order, so tests can make big-endian files. */
export class NgBuilder {
  private readonly parts: Uint8Array[] = [];
  constructor(private le: boolean) {}

  u16(v: number): Uint8Array {
    const b = new Uint8Array(2);
    new DataView(b.buffer).setUint16(0, v, this.le);
    return b;
  }
  u32(v: number): Uint8Array {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setUint32(0, v >>> 0, this.le);
    return b;
  }
  /** An option: code, length, value padded to 4. */
  opt(code: number, value: Uint8Array): Uint8Array {
    const pad = new Uint8Array((4 - (value.length % 4)) % 4);
    return concat([this.u16(code), this.u16(value.length), value, pad]);
  }
  /** A block: type, total length, body (padded to 4), total length. */
  block(type: number, body: Uint8Array): this {
    const pad = new Uint8Array((4 - (body.length % 4)) % 4);
    const len = 12 + body.length + pad.length;
    this.parts.push(concat([this.u32(type), this.u32(len), body, pad, this.u32(len)]));
    return this;
  }
  /** A Section Header; switches this builder (and the following blocks) to byte order `le`. */
  shb(le: boolean, options: Uint8Array = new Uint8Array(0)): this {
    this.le = le;
    const body = concat([this.u32(0x1a2b3c4d), this.u16(1), this.u16(0), this.u32(0xffffffff), this.u32(0xffffffff), options]);
    return this.block(0x0a0d0d0a, body);
  }
  idb(linkType: number, snaplen: number, options: Uint8Array[] = []): this {
    const opts = options.length > 0 ? concat([...options, this.u32(0)]) : new Uint8Array(0);
    return this.block(1, concat([this.u16(linkType), this.u16(0), this.u32(snaplen), opts]));
  }
  epb(ifid: number, tsHigh: number, tsLow: number, data: Uint8Array, origLen = data.length, options: Uint8Array = new Uint8Array(0)): this {
    const pad = new Uint8Array((4 - (data.length % 4)) % 4);
    const body = concat([this.u32(ifid), this.u32(tsHigh), this.u32(tsLow), this.u32(data.length), this.u32(origLen), data, pad, options]);
    return this.block(6, body);
  }
  spb(origLen: number, data: Uint8Array): this {
    return this.block(3, concat([this.u32(origLen), data]));
  }
  /** Obsolete Packet Block (pcapng Appendix A). */
  pb(ifid: number, tsHigh: number, tsLow: number, data: Uint8Array, origLen = data.length): this {
    const body = concat([this.u16(ifid), this.u16(0), this.u32(tsHigh), this.u32(tsLow), this.u32(data.length), this.u32(origLen), data]);
    return this.block(2, body);
  }
  raw(bytes: Uint8Array): this {
    this.parts.push(bytes);
    return this;
  }
  bytes(): Uint8Array {
    return concat(this.parts);
  }
}

/** An Ethernet + ARP request frame (42 bytes), as scapy builds it (see reader.test.ts fixture). */
export const ARP_FRAME = hex(
  "ffffffffffff 020000000001 0806 0001 0800 06 04 0001 020000000001 0a000001 000000000000 0a000002",
);
