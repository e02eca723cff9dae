/**
 * The internet checksum (RFC 1071), its pseudo-headers (RFC 768, RFC 9293 §3.1, RFC 8200 §8.1) and
 * incremental update (RFC 1624).
 *
 * Sums are kept unfolded in a plain number while accumulating (a 32-bit word sum of up to 2^21 words
 * cannot lose bits in a double), folded to 16 bits only at the end. `finishChecksum` returns the value
 * to store in a header; a received header verifies when `checksumOf(...)` over it, including its stored
 * checksum, is 0.
 */

/**
 * Adds the bytes `data[start..end)` as big-endian 16-bit words to `acc`; an odd final byte is padded
 * with zero (RFC 1071 §4.1). Reads 32-bit words where the offset allows it, so long payloads cost about
 * one add per four bytes.
 */
export function sumBytes(data: Uint8Array, start = 0, end = data.length, acc = 0): number {
  let i = start;
  let sum = acc;
  const len = end - start;
  if (len >= 64) {
    const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
    const stop = start + (len & ~3);
    // Each 32-bit word is two 16-bit words; adding hi + lo halves keeps us exact without folding often.
    while (i < stop) {
      const w = view.getUint32(i);
      sum += (w >>> 16) + (w & 0xffff);
      i += 4;
    }
  }
  for (; i + 1 < end; i += 2) sum += ((data[i] as number) << 8) | (data[i + 1] as number);
  if (i < end) sum += (data[i] as number) << 8;
  return sum;
}

/** Folds a running sum to 16 bits (end-around carry). */
export function foldSum(sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000);
  return sum;
}

/** The checksum field value for a running sum: the one's complement of the folded sum. */
export function finishChecksum(sum: number): number {
  return ~foldSum(sum) & 0xffff;
}

/** The checksum of a byte range; 0 when the range includes a correct stored checksum. */
export function checksumOf(data: Uint8Array, start = 0, end = data.length, acc = 0): number {
  return finishChecksum(sumBytes(data, start, end, acc));
}

/** Running sum of the IPv4 pseudo-header (RFC 9293 §3.1, RFC 768): src, dst, zero, protocol, length. */
export function pseudoHeaderSumV4(src: number, dst: number, protocol: number, length: number): number {
  return (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + protocol + length;
}

/** Running sum of the IPv6 pseudo-header (RFC 8200 §8.1): src, dst, 32-bit length, next header. */
export function pseudoHeaderSumV6(
  src: Uint8Array,
  dst: Uint8Array,
  nextHeader: number,
  length: number,
): number {
  let sum = sumBytes(src, 0, 16) + sumBytes(dst, 0, 16);
  sum += (length >>> 16) + (length & 0xffff) + nextHeader;
  return sum;
}

/** A pseudo-header for an upper-layer checksum, as the IP layer describes it to UDP, TCP and ICMPv6. */
export type PseudoHeader =
  | { readonly family: 4; readonly src: number; readonly dst: number }
  | { readonly family: 6; readonly src: Uint8Array; readonly dst: Uint8Array };

/** Running sum of `ph` for an upper-layer message of `length` bytes with protocol `protocol`. */
export function pseudoHeaderSum(ph: PseudoHeader, protocol: number, length: number): number {
  return ph.family === 4
    ? pseudoHeaderSumV4(ph.src, ph.dst, protocol, length)
    : pseudoHeaderSumV6(ph.src, ph.dst, protocol, length);
}

/**
 * RFC 1624 eqn. 3: the new checksum after one 16-bit word of the covered data changes from `oldWord`
 * to `newWord`: HC' = ~(~HC + ~m + m'). Unlike eqn. 2 of RFC 1141 it never yields 0xFFFF wrongly.
 */
export function updateChecksum(oldChecksum: number, oldWord: number, newWord: number): number {
  const sum = (~oldChecksum & 0xffff) + (~oldWord & 0xffff) + (newWord & 0xffff);
  return ~foldSum(sum) & 0xffff;
}

/** RFC 1624 for a 32-bit field (an IPv4 address, a sequence number): two 16-bit updates. */
export function updateChecksum32(oldChecksum: number, oldValue: number, newValue: number): number {
  const c = updateChecksum(oldChecksum, oldValue >>> 16, newValue >>> 16);
  return updateChecksum(c, oldValue & 0xffff, newValue & 0xffff);
}
