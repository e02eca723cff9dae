/**
 * UDP header (RFC 768; checksum over the pseudo-header: RFC 768, RFC 8200 §8.1 for IPv6).
 *
 *   0      7 8     15 16    23 24    31
 *  +--------+--------+--------+--------+
 *  |   Source Port   |  Destination    |
 *  |                 |     Port        |
 *  +--------+--------+--------+--------+
 *  |     Length      |    Checksum     |
 *  +--------+--------+--------+--------+
 *
 * `UdpView.check` verifies once that the buffer holds the header and the whole datagram its Length
 * field claims; after that no accessor can read out of bounds. Bytes past Length (Ethernet padding)
 * are not part of the datagram. The checksum is verified only when the caller passes the pseudo-header.
 */
import { dataView, placePayload } from "./bytes.ts";
import { finishChecksum, pseudoHeaderSum, sumBytes, type PseudoHeader } from "./checksum.ts";
import { WireError } from "./error.ts";

export const UDP_HEADER_LEN = 8;
export const IP_PROTOCOL_UDP = 17;

const SRC_PORT = 0;
const DST_PORT = 2;
const LENGTH = 4;
const CHECKSUM = 6;

/** Zero-copy view over a UDP datagram whose lengths have been checked. */
export class UdpView {
  private readonly view: DataView;

  private constructor(readonly bytes: Uint8Array) {
    this.view = dataView(bytes);
  }

  /** Checks the header and the Length field against the bytes present. */
  static check(bytes: Uint8Array): UdpView | WireError {
    if (bytes.length < UDP_HEADER_LEN) return new WireError("udp", "truncated", `${bytes.length} < 8 bytes`);
    const v = new UdpView(bytes);
    const len = v.length;
    if (len < UDP_HEADER_LEN) return new WireError("udp", "bad-length", `length ${len} < 8`);
    if (len > bytes.length) return new WireError("udp", "truncated", `length ${len} > ${bytes.length} bytes`);
    return v;
  }

  get srcPort(): number {
    return this.view.getUint16(SRC_PORT);
  }
  get dstPort(): number {
    return this.view.getUint16(DST_PORT);
  }
  get length(): number {
    return this.view.getUint16(LENGTH);
  }
  get checksum(): number {
    return this.view.getUint16(CHECKSUM);
  }
  /** The payload, a view over the same bytes (Length bounds it, not the buffer). */
  get payload(): Uint8Array {
    return this.bytes.subarray(UDP_HEADER_LEN, this.length);
  }
  /** True when the checksum verifies (or, over IPv4 only, is 0: "not computed", RFC 768). */
  verifyChecksum(ph: PseudoHeader): boolean {
    if (this.checksum === 0) return ph.family === 4; // RFC 8200 §8.1: mandatory over IPv6.
    const len = this.length;
    return finishChecksum(sumBytes(this.bytes, 0, len, pseudoHeaderSum(ph, IP_PROTOCOL_UDP, len))) === 0;
  }
}

/** The meaning of a UDP header; `payload` borrows the received bytes. */
export interface UdpRepr {
  readonly srcPort: number;
  readonly dstPort: number;
  readonly payload: Uint8Array;
}

/**
 * Parses a UDP datagram. With `ph`, a bad checksum is an error; without it the checksum is not
 * looked at (the caller may verify later through `UdpView`).
 */
export function parseUdp(bytes: Uint8Array, ph?: PseudoHeader): UdpRepr | WireError {
  const v = UdpView.check(bytes);
  if (v instanceof WireError) return v;
  if (ph && !v.verifyChecksum(ph)) return new WireError("udp", "bad-checksum", `0x${v.checksum.toString(16)}`);
  return { srcPort: v.srcPort, dstPort: v.dstPort, payload: v.payload };
}

/** Bytes `emitUdp` writes for `repr`: header plus payload. */
export function udpLength(repr: UdpRepr): number {
  return UDP_HEADER_LEN + repr.payload.length;
}

/**
 * Writes header and payload at `out[at..]` and returns the offset after the payload. The payload is
 * copied unless it already lies at `at + 8`. With `ph` the checksum is computed (a result of 0 is sent
 * as 0xFFFF, RFC 768); without it the field is 0, "no checksum" (IPv4 only).
 */
export function emitUdp(repr: UdpRepr, out: Uint8Array, at: number, ph?: PseudoHeader): number {
  const len = udpLength(repr);
  if (len > 0xffff) throw new RangeError(`UDP datagram of ${len} bytes exceeds 65535`);
  const end = placePayload(repr.payload, out, at + UDP_HEADER_LEN);
  const view = dataView(out);
  view.setUint16(at + SRC_PORT, repr.srcPort);
  view.setUint16(at + DST_PORT, repr.dstPort);
  view.setUint16(at + LENGTH, len);
  view.setUint16(at + CHECKSUM, 0);
  if (ph) {
    const c = finishChecksum(sumBytes(out, at, end, pseudoHeaderSum(ph, IP_PROTOCOL_UDP, len)));
    view.setUint16(at + CHECKSUM, c === 0 ? 0xffff : c);
  }
  return end;
}
