/**
 * Egress buffers with headroom (STYLE.md §9): the payload is placed once and every layer writes its
 * header in front of it, in the same allocation. `allocPacket(n)` returns a view of `n` bytes that
 * has `PACKET_HEADROOM` spare bytes before it; `expandFront(view, k)` returns the view grown by `k`
 * bytes at the front — in place when the view came from `allocPacket` and has room, else as a copy.
 *
 * Only buffers allocated here are ever grown in place: a received Buffer may share its memory with
 * others (Node's pool, a TAP batch), and writing in front of it would corrupt them.
 */

/** Room for Ethernet + two VLAN tags (22), IPv4 with options (60) or IPv6 with extension headers, TCP (60). */
export const PACKET_HEADROOM = 192;

const ours = new WeakSet<ArrayBufferLike>();

/** A zeroed view of `length` bytes with `headroom` spare bytes in front of it. */
export function allocPacket(length: number, headroom = PACKET_HEADROOM): Uint8Array {
  const buf = new Uint8Array(headroom + length);
  ours.add(buf.buffer);
  return buf.subarray(headroom);
}

/** `view` grown by `n` bytes at the front (contents of those bytes unspecified). */
export function expandFront(view: Uint8Array, n: number): Uint8Array {
  if (view.byteOffset >= n && ours.has(view.buffer)) {
    return new Uint8Array(view.buffer, view.byteOffset - n, view.length + n);
  }
  const copy = allocPacket(n + view.length, PACKET_HEADROOM);
  copy.set(view, n);
  return copy;
}
