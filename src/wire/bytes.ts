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
