/**
 * Sequence-number arithmetic (RFC 9293 §3.4): 32-bit numbers compared modulo 2^32. This file is the
 * only place it lives; everything else calls these. `a < b` means b lies within 2^31 after a, the
 * comparison gVisor's seqnum package and smoltcp's TcpSeqNumber make. Every result is an unsigned
 * 32-bit number (`>>> 0`); distances are signed 32-bit (`| 0`).
 */

/** a < b (mod 2^32). */
export function seqLt(a: number, b: number): boolean {
  return ((a - b) | 0) < 0;
}
/** a ≤ b (mod 2^32). */
export function seqLe(a: number, b: number): boolean {
  return ((a - b) | 0) <= 0;
}
/** a > b (mod 2^32). */
export function seqGt(a: number, b: number): boolean {
  return ((a - b) | 0) > 0;
}
/** a ≥ b (mod 2^32). */
export function seqGe(a: number, b: number): boolean {
  return ((a - b) | 0) >= 0;
}
/** a + n, wrapped. */
export function seqAdd(a: number, n: number): number {
  return (a + n) >>> 0;
}
/** The signed distance a − b: positive when a is after b. */
export function seqSub(a: number, b: number): number {
  return (a - b) | 0;
}
export function seqMax(a: number, b: number): number {
  return seqLt(a, b) ? b : a;
}
export function seqMin(a: number, b: number): number {
  return seqLt(a, b) ? a : b;
}
/** start ≤ x < end (mod 2^32); an empty range when start = end. */
export function seqInRange(x: number, start: number, end: number): boolean {
  return ((x - start) >>> 0) < ((end - start) >>> 0);
}
