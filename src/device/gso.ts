/**
 * Segmentation offload for the TAP device: the virtio_net_hdr that IFF_VNET_HDR puts in front of
 * every frame (Linux include/uapi/linux/virtio_net.h, struct virtio_net_hdr; the virtio 1.x
 * specification §5.1.6 "Device Operation"), splitting a received TCP super-frame (TSO/GSO, up to
 * 64 KiB) into MSS-sized frames, completing partial checksums, and coalescing consecutive frames of
 * one TCP flow into one super-frame on send.
 *
 *   byte 0        1          2..3      4..5       6..7         8..9         (little-endian u16s)
 *  +-------+----------+---------+----------+------------+-------------+
 *  | flags | gso_type | hdr_len | gso_size | csum_start | csum_offset |
 *  +-------+----------+---------+----------+------------+-------------+
 *   flags: NEEDS_CSUM = 1 (the checksum at csum_start + csum_offset holds only the pseudo-header
 *   sum: fold everything from csum_start to the end into it), DATA_VALID = 2 (already verified).
 *   gso_type: NONE 0, TCPV4 1, UDP 3, TCPV6 4, | ECN 0x80. gso_size: payload bytes per segment.
 *
 * The exception this file is: devices move bytes and know nothing of protocols (STYLE.md §11) —
 * except here, where a link-level offload has to read IPv4/IPv6/TCP headers, exactly as gVisor's
 * link endpoints (pkg/tcpip/link/fdbased, `virtioNetHdr`) and Linux's own GSO (net/ipv4/tcp_offload.c
 * `tcp_gso_segment`) do. What leaves this file is either what a plain link would carry (MTU-sized
 * frames with complete, valid checksums in; on the way out only frames that Linux's segmentation
 * turns back into exactly the frames the stack built), or — for a stack that takes super-frames
 * (types.ts `DeviceOffload`) — whole TCP super-frames with complete checksums in, and the TSO header
 * for the stack's own super-segments out. Nothing here keeps state, reads a clock or does I/O.
 *
 * Every parse checks lengths before it reads (bad bytes are a `GsoError`, never a throw); `split…`
 * and `coalesce…` allocate their output, they never write into the frames they are given —
 * except `completeChecksum`, which finishes a partial checksum in place, as a NIC would.
 */
import { dataView } from "../wire/bytes.ts";
import { checksumOf, finishChecksum, foldSum, pseudoHeaderSumV4, pseudoHeaderSumV6, sumBytes } from "../wire/checksum.ts";

// The offload is the one place a device reads protocol headers; it uses the wire codecs' checksum
// (test/unit/project/sans-io.test.ts lets device/ import wire/ for it). Its error value keeps the
// shape of src/wire/error.ts WireError, named for the virtio/GSO layer.

/** Why a unit or frame was refused: the reasons of src/wire/error.ts `WireErrorReason`. */
export type GsoErrorReason = "truncated" | "bad-length" | "bad-value" | "bad-version" | "unsupported";

/** What the offload functions return for bytes they cannot use (a value, never thrown). */
export class GsoError {
  constructor(
    /** "virtio-net" or "gso". */
    readonly layer: string,
    readonly reason: GsoErrorReason,
    /** A short human note, for traces. */
    readonly detail: string = "",
  ) {}

  toString(): string {
    return `${this.layer}: ${this.reason}${this.detail ? ` (${this.detail})` : ""}`;
  }
}

/** Bytes of struct virtio_net_hdr without `num_buffers` (we do not negotiate MRG_RXBUF). */
export const VIRTIO_NET_HDR_LEN = 10;
/** `flags`: the checksum is partial; complete it from csum_start (virtio_net.h). */
export const VIRTIO_NET_HDR_F_NEEDS_CSUM = 1;
/** `flags`: the checksum was verified by whoever sent the frame (virtio_net.h). */
export const VIRTIO_NET_HDR_F_DATA_VALID = 2;
/**
 * `flags`, our own bit (virtio_net.h defines bits 0–2 only): the TAP addon completed the partial
 * checksum in C as it read the unit (native/tap.c `complete_csum`) and cleared NEEDS_CSUM. Set only
 * in headers read through our addon; never written to a device.
 */
export const VNET_HDR_F_COMPLETED = 0x80;
/** `gso_type` codes (virtio_net.h VIRTIO_NET_HDR_GSO_*); ECN is a bit or-ed onto the others. */
export const VIRTIO_NET_HDR_GSO = { none: 0, tcpv4: 1, udp: 3, tcpv6: 4, ecn: 0x80 } as const;

/** What `gso_type` says; codes we do not know are kept so they print and re-emit unchanged. */
export type VirtioGso =
  | { readonly kind: "none" }
  | { readonly kind: "tcpv4" | "tcpv6" | "udp"; readonly ecn: boolean }
  | { readonly kind: "unknown"; readonly value: number };

/** The meaning of a virtio_net_hdr. */
export interface VirtioNetHdrRepr {
  /** Bit set of `VIRTIO_NET_HDR_F_*` (unknown bits kept). */
  readonly flags: number;
  readonly gso: VirtioGso;
  /** Ethernet + IP + TCP header bytes of a GSO frame (a hint: Linux may send the linear length). */
  readonly hdrLen: number;
  /** Payload bytes per segment of a GSO frame (the MSS). */
  readonly gsoSize: number;
  /** Where the checksummed range starts, from the first byte of the Ethernet header. */
  readonly csumStart: number;
  /** Where the checksum field lies, from `csumStart`. */
  readonly csumOffset: number;
}

/** The all-zero header: no GSO, no checksum flags (a complete frame). */
export const VIRTIO_NET_HDR_PLAIN: VirtioNetHdrRepr = Object.freeze({
  flags: 0,
  gso: Object.freeze({ kind: "none" }),
  hdrLen: 0,
  gsoSize: 0,
  csumStart: 0,
  csumOffset: 0,
});

const FLAGS = 0;
const GSO_TYPE = 1;
const HDR_LEN = 2;
const GSO_SIZE = 4;
const CSUM_START = 6;
const CSUM_OFFSET = 8;

/** Zero-copy view over a virtio_net_hdr whose length has been checked. */
export class VirtioNetHdrView {
  private readonly view: DataView;

  private constructor(readonly bytes: Uint8Array) {
    this.view = dataView(bytes);
  }

  /** Checks that the 10 bytes are there. */
  static check(bytes: Uint8Array): VirtioNetHdrView | GsoError {
    if (bytes.length < VIRTIO_NET_HDR_LEN) {
      return new GsoError("virtio-net", "truncated", `${bytes.length} < ${VIRTIO_NET_HDR_LEN} bytes`);
    }
    return new VirtioNetHdrView(bytes);
  }

  get flags(): number {
    return this.view.getUint8(FLAGS);
  }
  get gsoType(): number {
    return this.view.getUint8(GSO_TYPE);
  }
  // TUNSETVNETLE: the fields are little-endian whatever the host (see native/tap.c).
  get hdrLen(): number {
    return this.view.getUint16(HDR_LEN, true);
  }
  get gsoSize(): number {
    return this.view.getUint16(GSO_SIZE, true);
  }
  get csumStart(): number {
    return this.view.getUint16(CSUM_START, true);
  }
  get csumOffset(): number {
    return this.view.getUint16(CSUM_OFFSET, true);
  }
  /** The frame after the header. */
  get frame(): Uint8Array {
    return this.bytes.subarray(VIRTIO_NET_HDR_LEN);
  }
}

function gsoOf(code: number): VirtioGso {
  const ecn = (code & VIRTIO_NET_HDR_GSO.ecn) !== 0;
  switch (code & ~VIRTIO_NET_HDR_GSO.ecn) {
    case VIRTIO_NET_HDR_GSO.none:
      return ecn ? { kind: "unknown", value: code } : { kind: "none" };
    case VIRTIO_NET_HDR_GSO.tcpv4:
      return { kind: "tcpv4", ecn };
    case VIRTIO_NET_HDR_GSO.tcpv6:
      return { kind: "tcpv6", ecn };
    case VIRTIO_NET_HDR_GSO.udp:
      return { kind: "udp", ecn };
    default:
      return { kind: "unknown", value: code };
  }
}

function gsoCode(gso: VirtioGso): number {
  switch (gso.kind) {
    case "none":
      return VIRTIO_NET_HDR_GSO.none;
    case "tcpv4":
    case "tcpv6":
    case "udp":
      return VIRTIO_NET_HDR_GSO[gso.kind] | (gso.ecn ? VIRTIO_NET_HDR_GSO.ecn : 0);
    case "unknown":
      return gso.value;
  }
}

/** Parses the header at the start of `bytes` (what a read of an IFF_VNET_HDR TAP returns). */
export function parseVirtioNetHdr(bytes: Uint8Array): VirtioNetHdrRepr | GsoError {
  const v = VirtioNetHdrView.check(bytes);
  if (v instanceof GsoError) return v;
  return {
    flags: v.flags,
    gso: gsoOf(v.gsoType),
    hdrLen: v.hdrLen,
    gsoSize: v.gsoSize,
    csumStart: v.csumStart,
    csumOffset: v.csumOffset,
  };
}

/** Writes `repr` at `out[at..]`; returns the offset after it. Throws if it does not fit. */
export function emitVirtioNetHdr(repr: VirtioNetHdrRepr, out: Uint8Array, at: number): number {
  if (at < 0 || at + VIRTIO_NET_HDR_LEN > out.length) throw new RangeError("virtio_net_hdr does not fit");
  const v = dataView(out);
  v.setUint8(at + FLAGS, repr.flags);
  v.setUint8(at + GSO_TYPE, gsoCode(repr.gso));
  v.setUint16(at + HDR_LEN, repr.hdrLen, true);
  v.setUint16(at + GSO_SIZE, repr.gsoSize, true);
  v.setUint16(at + CSUM_START, repr.csumStart, true);
  v.setUint16(at + CSUM_OFFSET, repr.csumOffset, true);
  return at + VIRTIO_NET_HDR_LEN;
}

/**
 * Completes a partial checksum in place (VIRTIO_NET_HDR_F_NEEDS_CSUM): the field at
 * csumStart + csumOffset holds the pseudo-header sum; the one's-complement sum from csumStart to the
 * end of the frame, that field included, is folded and stored. A UDP result of 0 is stored as 0xFFFF
 * (RFC 768: 0 would mean "no checksum"; csum_offset 6 is UDP's field); TCP and ICMPv6 keep 0, as
 * their software checksums do — Wireshark calls a TCP checksum of 0xFFFF an error (RFC 1624 §3).
 */
export function completeChecksum(frame: Uint8Array, csumStart: number, csumOffset: number): GsoError | undefined {
  const field = csumStart + csumOffset;
  if (csumStart >= frame.length || field + 2 > frame.length) {
    return new GsoError("virtio-net", "bad-value", `csum ${csumStart}+${csumOffset} outside ${frame.length} bytes`);
  }
  const c = checksumOf(frame, csumStart, frame.length);
  const stored = c === 0 && csumOffset === UDP_CSUM_OFFSET ? 0xffff : c;
  frame[field] = stored >>> 8;
  frame[field + 1] = stored & 0xff;
  return undefined;
}

const ETH_LEN = 14;
/** The checksum field's offset in a UDP header (RFC 768). */
const UDP_CSUM_OFFSET = 6;
const ETHERTYPE_IPV4 = 0x0800;
const ETHERTYPE_IPV6 = 0x86dd;
const IPV4_MIN_LEN = 20;
const IPV6_LEN = 40;
const PROTO_TCP = 6;
const TCP_MIN_LEN = 20;
const TCP_FIN = 0x01;
const TCP_SYN = 0x02;
const TCP_RST = 0x04;
const TCP_PSH = 0x08;
const TCP_ACK = 0x10;
const TCP_CWR = 0x80;
/** Offset of the TCP checksum in the TCP header (RFC 9293 §3.1): virtio's csum_offset for TCP. */
export const TCP_CSUM_OFFSET = 16;

/** Where the headers of an untagged Ethernet + IPv4/IPv6 + TCP frame lie, after length checks. */
interface TcpLayout {
  readonly family: 4 | 6;
  /** Offset of the TCP header (Ethernet + IP header length). */
  readonly l4: number;
  /** Ethernet + IP + TCP header bytes. */
  readonly hl: number;
  /** End of the IP packet (bytes past it are link padding). */
  readonly end: number;
}

/**
 * Locates the TCP header of an untagged Ethernet frame carrying IPv4 (any IHL, not a fragment) or
 * IPv6 (TCP as the first next header). Every length field is checked against the bytes present.
 */
function tcpLayout(frame: Uint8Array): TcpLayout | GsoError {
  if (frame.length < ETH_LEN) return new GsoError("gso", "truncated", `${frame.length} < 14 bytes`);
  const v = dataView(frame);
  const type = v.getUint16(12);
  let family: 4 | 6;
  let l4: number;
  let end: number;
  if (type === ETHERTYPE_IPV4) {
    family = 4;
    if (frame.length < ETH_LEN + IPV4_MIN_LEN) return new GsoError("gso", "truncated", "IPv4 header");
    const ihl = (v.getUint8(ETH_LEN) & 0x0f) * 4;
    if (v.getUint8(ETH_LEN) >> 4 !== 4) return new GsoError("gso", "bad-version", "not IPv4");
    if (ihl < IPV4_MIN_LEN) return new GsoError("gso", "bad-length", `IHL ${ihl / 4} < 5`);
    const total = v.getUint16(ETH_LEN + 2);
    end = ETH_LEN + total;
    if (total < ihl || end > frame.length) return new GsoError("gso", "bad-length", `total length ${total}`);
    if (v.getUint8(ETH_LEN + 9) !== PROTO_TCP) return new GsoError("gso", "unsupported", "not TCP");
    // RFC 791 §3.2: MF set or a non-zero offset is a fragment; it has no whole TCP header to cut.
    if ((v.getUint16(ETH_LEN + 6) & 0x3fff) !== 0) return new GsoError("gso", "unsupported", "IPv4 fragment");
    l4 = ETH_LEN + ihl;
  } else if (type === ETHERTYPE_IPV6) {
    family = 6;
    if (frame.length < ETH_LEN + IPV6_LEN) return new GsoError("gso", "truncated", "IPv6 header");
    if (v.getUint8(ETH_LEN) >> 4 !== 6) return new GsoError("gso", "bad-version", "not IPv6");
    end = ETH_LEN + IPV6_LEN + v.getUint16(ETH_LEN + 4);
    if (end > frame.length) return new GsoError("gso", "bad-length", "payload length past the frame");
    if (v.getUint8(ETH_LEN + 6) !== PROTO_TCP) return new GsoError("gso", "unsupported", "extension headers before TCP");
    l4 = ETH_LEN + IPV6_LEN;
  } else {
    return new GsoError("gso", "unsupported", `ethertype 0x${type.toString(16)}`);
  }
  if (l4 + TCP_MIN_LEN > end) return new GsoError("gso", "truncated", "TCP header");
  const doff = (v.getUint8(l4 + 12) >> 4) * 4;
  if (doff < TCP_MIN_LEN || l4 + doff > end) return new GsoError("gso", "bad-length", `data offset ${doff / 4}`);
  return { family, l4, hl: l4 + doff, end };
}

/** Running sum of the pseudo-header of the TCP segment at `l4` of `frame`, for `tcpLength` bytes. */
function pseudoSum(frame: Uint8Array, v: DataView, family: 4 | 6, tcpLength: number): number {
  if (family === 4) {
    return pseudoHeaderSumV4(v.getUint32(ETH_LEN + 12), v.getUint32(ETH_LEN + 16), PROTO_TCP, tcpLength);
  }
  return pseudoHeaderSumV6(frame.subarray(ETH_LEN + 8, ETH_LEN + 24), frame.subarray(ETH_LEN + 24, ETH_LEN + 40), PROTO_TCP, tcpLength);
}

/** Rewrites the IPv4 header checksum of the frame at `out[at..]` (RFC 791 §3.1). */
function ipv4HeaderChecksum(out: Uint8Array, v: DataView, at: number, ihl: number): void {
  v.setUint16(at + ETH_LEN + 10, 0);
  v.setUint16(at + ETH_LEN + 10, checksumOf(out, at + ETH_LEN, at + ETH_LEN + ihl));
}

/**
 * Splits a TCP super-frame (gso_type TCPV4/TCPV6) into frames of at most `gsoSize` payload bytes,
 * as Linux's tcp_gso_segment + inet_gso_segment / ipv6_gso_segment do: headers copied, IPv4 Total
 * Length and IPv6 Payload Length per segment, the IPv4 Identification incremented per segment,
 * Sequence Number advanced by the payload before it, FIN and PSH only on the last segment and CWR
 * only on the first (RFC 3168 §6.1.2: CWR marks one segment), and every checksum computed in full —
 * whatever the received TCP checksum held (with NEEDS_CSUM it is only the pseudo-header sum).
 * A frame with no more than `gsoSize` payload bytes comes back as one frame, checksums complete.
 * All segments share one new buffer; the input is not modified.
 */
export function splitTcpGso(frame: Uint8Array, gsoSize: number): readonly Uint8Array[] | GsoError {
  if (gsoSize <= 0) return new GsoError("gso", "bad-value", "gso_size 0");
  const lay = tcpLayout(frame);
  if (lay instanceof GsoError) return lay;
  const { family, l4, hl, end } = lay;
  const payload = end - hl;
  const count = payload === 0 ? 1 : Math.ceil(payload / gsoSize);
  const out = new Uint8Array(count * hl + payload);
  const ov = dataView(out);
  const iv = dataView(frame);
  const ihl = l4 - ETH_LEN;
  const id0 = family === 4 ? iv.getUint16(ETH_LEN + 4) : 0;
  const seq0 = iv.getUint32(l4 + 4);
  const flags = iv.getUint8(l4 + 13);
  const frames = new Array<Uint8Array>(count);
  let at = 0;
  let from = hl;
  for (let k = 0; k < count; k++) {
    const p = Math.min(gsoSize, end - from);
    out.set(frame.subarray(0, hl), at);
    out.set(frame.subarray(from, from + p), at + hl);
    const tcpLen = hl - l4 + p;
    if (family === 4) {
      ov.setUint16(at + ETH_LEN + 2, ihl + tcpLen);
      ov.setUint16(at + ETH_LEN + 4, (id0 + k) & 0xffff);
      ipv4HeaderChecksum(out, ov, at, ihl);
    } else {
      ov.setUint16(at + ETH_LEN + 4, tcpLen);
    }
    ov.setUint32(at + l4 + 4, (seq0 + (from - hl)) >>> 0);
    let f = flags;
    if (k < count - 1) f &= ~(TCP_FIN | TCP_PSH);
    if (k > 0) f &= ~TCP_CWR;
    ov.setUint8(at + l4 + 13, f);
    ov.setUint16(at + l4 + 16, 0);
    const sum = sumBytes(out, at + l4, at + hl + p, pseudoSum(frame, iv, family, tcpLen));
    // RFC 9293 §3.1: the checksum covers the pseudo-header, the TCP header and the data.
    ov.setUint16(at + l4 + 16, finishChecksum(sum));
    frames[k] = out.subarray(at, at + hl + p);
    at += hl + p;
    from += p;
  }
  return frames;
}

/**
 * Turns one unit read from an IFF_VNET_HDR TAP (header + frame) into the frames a plain link would
 * have delivered: TCP super-frames split, a partial checksum (NEEDS_CSUM) completed in place, other
 * frames passed as they are (a view, no copy). UDP fragmentation offload and unknown GSO types are
 * refused (we never enable them: TUN_F_UFO is off).
 */
export function receiveVnetUnit(unit: Uint8Array): readonly Uint8Array[] | GsoError {
  const v = VirtioNetHdrView.check(unit);
  if (v instanceof GsoError) return v;
  const frame = v.frame;
  const type = v.gsoType;
  if (type === VIRTIO_NET_HDR_GSO.none) {
    if ((v.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) !== 0) {
      const err = completeChecksum(frame, v.csumStart, v.csumOffset);
      if (err !== undefined) return err;
    }
    return [frame];
  }
  const gso = gsoOf(type);
  switch (gso.kind) {
    case "tcpv4":
    case "tcpv6": {
      const lay = tcpLayout(frame);
      if (lay instanceof GsoError) return lay;
      if ((lay.family === 4) !== (gso.kind === "tcpv4")) return new GsoError("gso", "bad-value", `${gso.kind} on IPv${lay.family}`);
      return splitTcpGso(frame, v.gsoSize);
    }
    case "none":
    case "udp":
    case "unknown":
      return new GsoError("gso", "unsupported", `gso_type 0x${type.toString(16)}`);
  }
}

/** One write to an IFF_VNET_HDR TAP: a frame and its header (undefined: the all-zero header). */
export interface VnetWrite {
  readonly hdr: VirtioNetHdrRepr | undefined;
  readonly frame: Uint8Array;
  /** How many of the input frames it carries. */
  readonly frames: number;
}

/** A frame that may open or extend a coalesced run: its TCP layout and the fields that chain. */
interface Candidate {
  readonly lay: TcpLayout;
  readonly seq: number;
  readonly id: number;
  readonly flags: number;
  readonly payload: number;
}

function candidate(frame: Uint8Array): Candidate | undefined {
  const lay = tcpLayout(frame);
  if (lay instanceof GsoError) return undefined;
  // Link padding would have to be cut off; such short frames are never worth coalescing.
  if (lay.end !== frame.length) return undefined;
  const v = dataView(frame);
  const flags = v.getUint8(lay.l4 + 13);
  // Only plain data segments: ACK, with PSH/FIN allowed on the last of a run. SYN, RST, URG, ECE and
  // CWR stay single (segmentation would copy or strip them differently from what the stack built).
  if ((flags & ~(TCP_PSH | TCP_FIN)) !== TCP_ACK) return undefined;
  const payload = lay.end - lay.hl;
  if (payload === 0) return undefined;
  return { lay, seq: v.getUint32(lay.l4 + 4), id: lay.family === 4 ? v.getUint16(ETH_LEN + 4) : 0, flags, payload };
}

/** Whether the header bytes of `a` and `b` agree everywhere segmentation copies them unchanged. */
function sameHeaders(a: Uint8Array, b: Uint8Array, lay: TcpLayout): boolean {
  const { l4, hl, family } = lay;
  for (let i = 0; i < hl; i++) {
    if (a[i] === b[i]) continue;
    const ip = i - ETH_LEN;
    if (family === 4 && (ip === 2 || ip === 3 || ip === 4 || ip === 5 || ip === 10 || ip === 11)) continue; // length, ID, checksum
    if (family === 6 && (ip === 4 || ip === 5)) continue; // payload length
    const t = i - l4;
    if (t >= 4 && t <= 7) continue; // sequence number
    if (t === 13 || t === 16 || t === 17) continue; // flags (checked apart), checksum
    return false;
  }
  return true;
}

/**
 * Groups `frames` (in send order) into writes for an IFF_VNET_HDR TAP: each maximal run of adjacent
 * frames of one TCP flow that Linux's segmentation would rebuild exactly becomes one super-frame —
 * same headers except length, ID, sequence number, flags and checksum; sequence numbers contiguous;
 * IPv4 IDs consecutive; ACK only, PSH/FIN on the last; every payload but the last exactly the first's
 * (the MSS), the last no longer; IP length at most 65535 and at most `maxSegments` frames. Its header
 * says TCPV4/TCPV6, gso_size = that MSS, hdr_len = the header bytes, and NEEDS_CSUM with the TCP
 * checksum field holding the pseudo-header sum over the whole segment, as Linux's own
 * tcp_v4_send_check leaves it for tcp_gso_segment to adjust per segment. Every other frame is
 * written as it is, with the all-zero header. Order is kept.
 */
export function coalesceTcp(frames: readonly Uint8Array[], maxSegments = 64): VnetWrite[] {
  const out: VnetWrite[] = [];
  let i = 0;
  while (i < frames.length) {
    const first = frames[i] as Uint8Array;
    const c0 = candidate(first);
    if (c0 === undefined) {
      out.push({ hdr: undefined, frame: first, frames: 1 });
      i++;
      continue;
    }
    const { lay } = c0;
    const limit = lay.family === 4 ? 0xffff + ETH_LEN : 0xffff + ETH_LEN + IPV6_LEN;
    let prev = c0;
    let bytes = first.length;
    let j = i + 1;
    while (j < frames.length && j - i < maxSegments) {
      // A short segment, PSH or FIN ends a run: only the last may carry them.
      if (prev.payload !== c0.payload || (prev.flags & (TCP_PSH | TCP_FIN)) !== 0) break;
      const f = frames[j] as Uint8Array;
      const c = candidate(f);
      if (c === undefined || c.lay.family !== lay.family || c.lay.l4 !== lay.l4 || c.lay.hl !== lay.hl) break;
      if (c.payload > c0.payload || bytes + c.payload > limit) break;
      if (c.seq !== ((prev.seq + prev.payload) >>> 0)) break;
      if (lay.family === 4 && c.id !== ((prev.id + 1) & 0xffff)) break;
      if (!sameHeaders(first, f, lay)) break;
      bytes += c.payload;
      prev = c;
      j++;
    }
    if (j - i === 1) {
      out.push({ hdr: undefined, frame: first, frames: 1 });
      i++;
      continue;
    }
    const sup = new Uint8Array(bytes);
    sup.set(first.subarray(0, lay.hl), 0);
    let at = lay.hl;
    for (let k = i; k < j; k++) {
      const f = frames[k] as Uint8Array;
      sup.set(f.subarray(lay.hl), at);
      at += f.length - lay.hl;
    }
    const v = dataView(sup);
    const tcpLen = bytes - lay.l4;
    if (lay.family === 4) {
      v.setUint16(ETH_LEN + 2, bytes - ETH_LEN);
      ipv4HeaderChecksum(sup, v, 0, lay.l4 - ETH_LEN);
    } else {
      v.setUint16(ETH_LEN + 4, bytes - ETH_LEN - IPV6_LEN);
    }
    v.setUint8(lay.l4 + 13, prev.flags);
    // virtio NEEDS_CSUM: the field holds the (uncomplemented) folded pseudo-header sum.
    v.setUint16(lay.l4 + TCP_CSUM_OFFSET, foldSum(pseudoSum(sup, v, lay.family, tcpLen)));
    out.push({
      hdr: {
        flags: VIRTIO_NET_HDR_F_NEEDS_CSUM,
        gso: { kind: lay.family === 4 ? "tcpv4" : "tcpv6", ecn: false },
        hdrLen: lay.hl,
        gsoSize: c0.payload,
        csumStart: lay.l4,
        csumOffset: TCP_CSUM_OFFSET,
      },
      frame: sup,
      frames: j - i,
    });
    i = j;
  }
  return out;
}

/**
 * Turns one unit read from an IFF_VNET_HDR TAP into one frame the stack takes whole (GRO: a TCP
 * super-frame stays one frame, up to 64 KiB, as Linux hands a GRO packet to its TCP): a partial
 * checksum (NEEDS_CSUM) is completed in place over the whole segment — Linux's tcp_v4_send_check
 * left the pseudo-header sum over the whole length in the field — and a super-frame without
 * NEEDS_CSUM gets its TCP checksum computed in full (RFC 9293 §3.1), so the stack verifies every
 * frame as it would from a plain link. The IPv4 header checksum of a super-frame is rewritten too.
 * A unit marked `VNET_HDR_F_COMPLETED` already has its TCP checksum (the addon summed it in C).
 * UDP GSO and unknown GSO types are refused, as in `receiveVnetUnit`.
 */
export function receiveVnetUnitWhole(unit: Uint8Array): Uint8Array | GsoError {
  const v = VirtioNetHdrView.check(unit);
  if (v instanceof GsoError) return v;
  const frame = v.frame;
  const type = v.gsoType;
  const needsCsum = (v.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) !== 0;
  const completed = (v.flags & VNET_HDR_F_COMPLETED) !== 0;
  if (type === VIRTIO_NET_HDR_GSO.none) {
    if (needsCsum) {
      const err = completeChecksum(frame, v.csumStart, v.csumOffset);
      if (err !== undefined) return err;
    }
    return frame;
  }
  const gso = gsoOf(type);
  switch (gso.kind) {
    case "tcpv4":
    case "tcpv6": {
      const lay = tcpLayout(frame);
      if (lay instanceof GsoError) return lay;
      if ((lay.family === 4) !== (gso.kind === "tcpv4")) return new GsoError("gso", "bad-value", `${gso.kind} on IPv${lay.family}`);
      const fv = dataView(frame);
      if (lay.family === 4) ipv4HeaderChecksum(frame, fv, 0, lay.l4 - ETH_LEN);
      if (completed) return frame;
      if (needsCsum && v.csumStart === lay.l4 && v.csumOffset === TCP_CSUM_OFFSET) {
        // Link padding past the IP packet is outside the segment: sum only to `end`.
        const field = lay.l4 + TCP_CSUM_OFFSET;
        const c = checksumOf(frame, lay.l4, lay.end);
        fv.setUint16(field, c); // TCP: a checksum of 0 stays 0 (RFC 1624 §3)
      } else {
        fv.setUint16(lay.l4 + TCP_CSUM_OFFSET, 0);
        const sum = sumBytes(frame, lay.l4, lay.end, pseudoSum(frame, fv, lay.family, lay.end - lay.l4));
        fv.setUint16(lay.l4 + TCP_CSUM_OFFSET, finishChecksum(sum));
      }
      return frame;
    }
    case "none":
    case "udp":
    case "unknown":
      return new GsoError("gso", "unsupported", `gso_type 0x${type.toString(16)}`);
  }
}

/**
 * The virtio_net_hdr for a TCP super-frame the stack built (`FrameDevice.sendSegmented`): gso_type
 * TCPV4/TCPV6 by the frame's IP version, gso_size = `segmentSize`, hdr_len = the header bytes,
 * NEEDS_CSUM from the TCP header with csum_offset 16 — the frame's checksum field must already hold
 * the folded pseudo-header sum (the stack writes it). Headers are parsed and every length checked.
 */
export function superFrameHeader(frame: Uint8Array, segmentSize: number): VirtioNetHdrRepr | GsoError {
  if (!Number.isInteger(segmentSize) || segmentSize <= 0 || segmentSize > 0xffff) {
    return new GsoError("gso", "bad-value", `segment size ${segmentSize}`);
  }
  const lay = tcpLayout(frame);
  if (lay instanceof GsoError) return lay;
  return {
    flags: VIRTIO_NET_HDR_F_NEEDS_CSUM,
    gso: { kind: lay.family === 4 ? "tcpv4" : "tcpv6", ecn: false },
    hdrLen: lay.hl,
    gsoSize: segmentSize,
    csumStart: lay.l4,
    csumOffset: TCP_CSUM_OFFSET,
  };
}
