/**
 * Egress buffers with headroom (STYLE.md §9): the payload is placed once and every layer writes its
 * header in front of it, in the same allocation. `allocPacket(n)` returns a view of `n` bytes that
 * has `PACKET_HEADROOM` spare bytes before it; `expandFront(view, k)` returns the view grown by `k`
 * bytes at the front — in place when the view came from `allocPacket` and has room, else as a copy.
 *
 * Large packets get an ArrayBuffer of their own, reused once a device hands it back
 * (`recyclePacket`). Small packets are carved from shared slabs (as Node's Buffer pool does), one slab per
 * `SLAB_SIZE` bytes instead of one ArrayBuffer (and one WeakSet entry) per packet: a slab is never
 * reused, only dropped when no view of it is left, so every packet's bytes are fresh zeroes. Each
 * slab keeps a map of where its packets start (8-byte units), so `expandFront` never grows a view
 * across the start of its own packet into the one before it.
 *
 * Only buffers allocated here are ever grown in place: a received Buffer may share its memory with
 * others (Node's pool, a TAP batch), and writing in front of it would corrupt them.
 */

/** Room for Ethernet + two VLAN tags (22), IPv4 with options (60) or IPv6 with extension headers, TCP (60). */
export const PACKET_HEADROOM = 192;

/**
 * Bytes per slab; packets (headroom included) larger than a quarter of it get their own buffer. Small,
 * because a packet view still held somewhere (a datagram queued while ARP resolves) keeps its slab.
 */
const SLAB_SIZE = 64 * 1024;

/** Slab packets start on multiples of this; `starts` has one entry per unit. */
const UNIT = 8;

const ours = new WeakSet<ArrayBufferLike>();
/** Packet starts of each slab: `starts[k]` is 1 when a packet begins at byte `k * UNIT`. */
const slabStarts = new WeakMap<ArrayBufferLike, Uint8Array>();
let slab = new ArrayBuffer(0);
let starts = new Uint8Array(0);
let slabUsed = 0;

/** A zeroed view of `length` bytes with `headroom` spare bytes in front of it. */
export function allocPacket(length: number, headroom = PACKET_HEADROOM): Uint8Array {
  const total = headroom + length;
  if (total > SLAB_SIZE >>> 2) {
    for (let i = spares.length - 1; i >= 0; i--) {
      const buffer = spares[i] as ArrayBuffer;
      if (buffer.byteLength < total) continue;
      spares.splice(i, 1);
      const view = new Uint8Array(buffer, 0, total);
      view.fill(0);
      return view.subarray(headroom);
    }
    const buf = new Uint8Array(total);
    ours.add(buf.buffer);
    return buf.subarray(headroom);
  }
  if (slabUsed + total > slab.byteLength) {
    slab = new ArrayBuffer(SLAB_SIZE);
    starts = new Uint8Array(SLAB_SIZE / UNIT);
    slabUsed = 0;
    slabStarts.set(slab, starts);
  }
  starts[slabUsed / UNIT] = 1;
  const view = new Uint8Array(slab, slabUsed + headroom, length);
  slabUsed += (total + UNIT - 1) & ~(UNIT - 1);
  return view;
}

/**
 * Large packets (a TSO super-segment: 64 KiB) handed back by a device that has written them out
 * (`recyclePacket`), for `allocPacket` to reuse: a fresh 64 KiB ArrayBuffer per super-segment made
 * the collector a quarter of a bulk sender's time (each one is external memory, and their churn
 * triggers full collections).
 */
const spares: ArrayBuffer[] = [];
const MAX_SPARES = 8;

/**
 * Hands back a packet that was allocated here, is at least a quarter slab, and nothing refers to any
 * more: a device calls it once the kernel has copied the frame (the frame was the device's to keep
 * since `send`, device/types.ts). Anything else is ignored.
 */
export function recyclePacket(view: Uint8Array): void {
  const buffer = view.buffer;
  if (!(buffer instanceof ArrayBuffer) || spares.length >= MAX_SPARES || !ours.has(buffer) || spares.includes(buffer)) return;
  spares.push(buffer);
}

/**
 * Whether `view` lies in memory allocated here. Such memory is reused only when the device it was
 * sent to hands it back (`recyclePacket`), and the stack writes no packet again once it has handed
 * it to a device, so a device may pass it on without a copy (the memory wire does; it never hands
 * anything back).
 */
export function isPacketMemory(view: Uint8Array): boolean {
  const buffer = view.buffer;
  return buffer === slab || slabStarts.has(buffer) || ours.has(buffer);
}

/** `view` grown by `n` bytes at the front (contents of those bytes unspecified). */
export function expandFront(view: Uint8Array, n: number): Uint8Array {
  const from = view.byteOffset - n;
  if (from >= 0) {
    // The packet being built is nearly always in the current slab: no WeakMap lookup for it.
    const buffer = view.buffer;
    const map = buffer === slab ? starts : slabStarts.get(buffer);
    if (map !== undefined) {
      // In place unless a packet starts in (from, byteOffset]: that would be this packet's own
      // start (no headroom left) or a later one's, and the bytes before it belong to another packet.
      let k = Math.floor(from / UNIT) + 1;
      const last = Math.floor(view.byteOffset / UNIT);
      while (k <= last && map[k] !== 1) k++;
      if (k > last) return new Uint8Array(buffer, from, view.length + n);
    } else if (ours.has(buffer)) {
      return new Uint8Array(buffer, from, view.length + n);
    }
  }
  const copy = allocPacket(n + view.length, PACKET_HEADROOM);
  copy.set(view, n);
  return copy;
}
