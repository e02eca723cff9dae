/** Small byte helpers shared by the codecs. */

/** A DataView over exactly the bytes of `b`, honouring its offset within the underlying buffer. */
export function dataView(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/**
 * Places `payload` at `out[at..]` unless it already lies there (the caller built the payload in place
 * and is now writing headers in front of it, STYLE.md §9). Returns the offset after the payload.
 */
export function placePayload(payload: Uint8Array, out: Uint8Array, at: number): number {
  const inPlace = payload.buffer === out.buffer && payload.byteOffset === out.byteOffset + at;
  if (!inPlace) out.set(payload, at);
  return at + payload.length;
}

/**
 * Writes `value` as a big-endian 16-bit field at `b[at]`. For egress hot paths: a byte pair costs
 * less than building a DataView per header.
 */
export function put16(b: Uint8Array, at: number, value: number): void {
  b[at] = value >>> 8;
  b[at + 1] = value;
}

/** Writes `value` as a big-endian 32-bit field at `b[at]` (see `put16`). */
export function put32(b: Uint8Array, at: number, value: number): void {
  b[at] = value >>> 24;
  b[at + 1] = value >>> 16;
  b[at + 2] = value >>> 8;
  b[at + 3] = value;
}
