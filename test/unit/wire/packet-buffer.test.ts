/**
 * Egress buffers with headroom (STYLE.md §9, src/wire/packet-buffer.ts): headers go in front of the
 * payload in the same memory; packets carved from one slab never grow into each other, and memory
 * we did not allocate is never written in front of.
 */
import { describe, expect, test } from "vitest";
import { PACKET_HEADROOM, allocPacket, expandFront, isPacketMemory, recyclePacket } from "../../../src/wire/packet-buffer.ts";

describe("allocPacket / expandFront", () => {
  test("a packet is zeroed and grows in place by up to its headroom", () => {
    const p = allocPacket(100);
    expect(p.length).toBe(100);
    expect(p.every((b) => b === 0)).toBe(true);
    const grown = expandFront(p, PACKET_HEADROOM);
    expect(grown.buffer).toBe(p.buffer);
    expect(grown.byteOffset).toBe(p.byteOffset - PACKET_HEADROOM);
    expect(grown.length).toBe(100 + PACKET_HEADROOM);
  });

  test("growing past the headroom copies instead of writing into the packet before it", () => {
    const first = allocPacket(64);
    first.fill(0xaa);
    const second = allocPacket(64);
    expect(second.buffer).toBe(first.buffer); // same slab: the case that matters
    const grown = expandFront(second, PACKET_HEADROOM + 8);
    expect(grown.buffer === second.buffer && grown.byteOffset < second.byteOffset - PACKET_HEADROOM).toBe(false);
    grown.fill(0x55, 0, PACKET_HEADROOM + 8);
    expect(first.every((b) => b === 0xaa)).toBe(true);
    expect(grown.subarray(PACKET_HEADROOM + 8)).toEqual(second);
  });

  test("successive packets in a slab each keep their own headroom", () => {
    const views = Array.from({ length: 50 }, (_, i) => {
      const v = allocPacket(37 + i);
      v.fill(i + 1);
      return v;
    });
    for (const v of views) expandFront(v, PACKET_HEADROOM).fill(0xff, 0, PACKET_HEADROOM);
    views.forEach((v, i) => expect(v.every((b) => b === i + 1)).toBe(true));
  });

  test("a large packet gets its own buffer and still grows in place", () => {
    const big = allocPacket(60_000);
    expect(expandFront(big, 54).buffer).toBe(big.buffer);
  });

  test("a large packet handed back by its device carries the next one, zeroed; small and foreign ones are ignored", () => {
    const big = allocPacket(60_000);
    big.fill(0xee);
    recyclePacket(big);
    recyclePacket(big); // twice: must still not be handed out twice
    const next = allocPacket(59_000);
    expect(next.buffer).toBe(big.buffer);
    expect(next.every((b) => b === 0)).toBe(true);
    expect(isPacketMemory(next)).toBe(true);
    const other = allocPacket(59_000);
    expect(other.buffer).not.toBe(big.buffer);

    const small = allocPacket(100);
    recyclePacket(small);
    recyclePacket(new Uint8Array(60_000));
    const after = allocPacket(60_000);
    expect(after.buffer).not.toBe(small.buffer);
    expect(isPacketMemory(new Uint8Array(60_000))).toBe(false);
  });

  test("memory not from allocPacket is never grown in place (a received Buffer may share its pool)", () => {
    const pool = Buffer.alloc(4096, 7);
    const view = pool.subarray(1000, 1100);
    const grown = expandFront(view, 14);
    expect(grown.buffer).not.toBe(pool.buffer);
    expect(grown.subarray(14)).toEqual(new Uint8Array(view));
    expect(pool.every((b) => b === 7)).toBe(true);
  });
});
