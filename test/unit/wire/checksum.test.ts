import { describe, expect, it } from "vitest";
import {
  checksumOf,
  finishChecksum,
  foldSum,
  pseudoHeaderSum,
  pseudoHeaderSumV4,
  pseudoHeaderSumV6,
  sumBytes,
  updateChecksum,
  updateChecksum32,
} from "../../../src/wire/checksum.ts";
import { parseIpv4, parseIpv6, writeIpv4 } from "../../../src/wire/ip-address.ts";

function hex(s: string): Uint8Array {
  return Uint8Array.from(Buffer.from(s, "hex"));
}

/** A seeded xorshift32, so a failure replays exactly. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 2 ** 32;
  };
}

/** The plainest reading of RFC 1071 §4.1: big-endian 16-bit words, a last odd byte as the high byte. */
function referenceSum(data: Uint8Array, start: number, end: number): number {
  let sum = 0;
  for (let i = start; i < end; i++) sum += (i - start) % 2 === 0 ? (data[i] as number) * 256 : (data[i] as number);
  return sum;
}

describe("RFC 1071 internet checksum", () => {
  it("RFC 1071 §3 numerical example: 00 01 f2 03 f4 f5 f6 f7 sums to 2ddf0, folds to ddf2", () => {
    const b = hex("0001f203f4f5f6f7");
    expect(sumBytes(b)).toBe(0x2ddf0);
    expect(foldSum(sumBytes(b))).toBe(0xddf2);
    expect(checksumOf(b)).toBe(0x220d);
  });

  it("pads an odd final byte with zero on the right (RFC 1071 §4.1)", () => {
    expect(sumBytes(hex("01"))).toBe(0x0100);
    expect(sumBytes(hex("0001f2"))).toBe(0x0001 + 0xf200);
    expect(sumBytes(hex("0001f203f4f5f6f7"), 1, 4)).toBe(0x01f2 + 0x0300);
    expect(sumBytes(new Uint8Array(0))).toBe(0);
  });

  it("a range that includes its correct checksum sums to 0", () => {
    const b = hex("0001f203f4f5f6f70000");
    const c = checksumOf(b);
    b[8] = c >>> 8;
    b[9] = c & 0xff;
    expect(checksumOf(b)).toBe(0);
  });

  it("folds with end-around carry and never turns a non-zero sum into 0", () => {
    expect(foldSum(0x1fffe)).toBe(0xffff);
    expect(foldSum(0xffff)).toBe(0xffff);
    expect(foldSum(0x10000)).toBe(1);
    expect(foldSum(0xffff * 0x20000)).toBe(0xffff);
    expect(finishChecksum(0xffff)).toBe(0);
    expect(finishChecksum(0)).toBe(0xffff);
  });

  it("the 32-bit fast path equals the byte loop on random lengths 0..200 at random offsets (seeded)", () => {
    const rand = rng(1071);
    const backing = new Uint8Array(512);
    for (let i = 0; i < backing.length; i++) backing[i] = Math.floor(rand() * 256);
    for (let k = 0; k < 2000; k++) {
      // A subarray at an odd byteOffset checks that the DataView honours it.
      const base = Math.floor(rand() * 7);
      const data = backing.subarray(base, base + 300);
      const start = Math.floor(rand() * 50);
      const end = start + Math.floor(rand() * 201);
      const acc = k % 3 === 0 ? Math.floor(rand() * 0x1000000) : 0;
      expect(sumBytes(data, start, end, acc)).toBe(acc + referenceSum(data, start, end));
    }
  });

  it("all-0xff data of 64 KiB sums exactly (no precision loss in the unfolded sum)", () => {
    const b = new Uint8Array(65536).fill(0xff);
    expect(sumBytes(b)).toBe(32768 * 0xffff);
    expect(foldSum(sumBytes(b))).toBe(0xffff);
  });
});

describe("RFC 1624 incremental update", () => {
  it("RFC 1624 §4 example: m 0x5555 → 0x3285 over sum 0xCD7A gives 0x0000, not 0xFFFF", () => {
    const hc = finishChecksum(0xcd7a + 0x5555); // ~(0xCD7A + 0x5555) = ~0x22D0
    expect(hc).toBe(0xdd2f);
    expect(updateChecksum(hc, 0x5555, 0x3285)).toBe(0x0000);
  });

  it("equals a full recomputation after changing one 16-bit word or one 32-bit field (seeded)", () => {
    const rand = rng(1624);
    for (let k = 0; k < 1000; k++) {
      const b = new Uint8Array(20);
      for (let i = 0; i < 20; i++) b[i] = Math.floor(rand() * 256);
      b[10] = 0;
      b[11] = 0;
      const c = checksumOf(b);
      const w = 2 * Math.floor(rand() * 4); // a word before the checksum field
      const old16 = ((b[w] as number) << 8) | (b[w + 1] as number);
      const new16 = Math.floor(rand() * 0x10000);
      const c16 = b.slice();
      c16[w] = new16 >>> 8;
      c16[w + 1] = new16 & 0xff;
      expect(updateChecksum(c, old16, new16)).toBe(checksumOf(c16));

      const old32 = ((b[12] as number) * 2 ** 24 + ((b[13] as number) << 16) + ((b[14] as number) << 8) + (b[15] as number)) >>> 0;
      const new32 = Math.floor(rand() * 2 ** 32) >>> 0;
      const c32 = b.slice();
      writeIpv4(c32, 12, new32);
      expect(updateChecksum32(c, old32, new32)).toBe(checksumOf(c32));
    }
  });
});

describe("pseudo-headers", () => {
  // TCP and UDP parts of packets built by scapy 2.5.0, e.g.
  //   /usr/bin/python3 -c 'from scapy.all import *; print(raw(IP(src="10.0.0.1",dst="10.0.0.2")/
  //     TCP(sport=41648,dport=8080,flags="S",seq=1102849155,window=65495,options=[("MSS",65495),
  //     ("SAckOK",b""),("Timestamp",(2429274211,0)),("NOP",None),("WScale",10)]))[20:].hex())'
  // IPv6 rows use IPv6(src="fd00::1",dst="fd00::2") and [40:]; the checksum field holds scapy's value.
  const v4 = { family: 4, src: parseIpv4("10.0.0.1") as number, dst: parseIpv4("10.0.0.2") as number } as const;
  const v6 = { family: 6, src: parseIpv6("fd00::1") as Uint8Array, dst: parseIpv6("fd00::2") as Uint8Array } as const;
  const cases = [
    // the TCP SYN above
    { ph: v4, proto: 6, at: 16, hex: "a2b01f9041bc248300000000a002ffd7b84f00000204ffd70402080a90cbc863000000000103030a" },
    // the same SYN over IPv6 with MSS 65475
    { ph: v6, proto: 6, at: 16, hex: "a2b01f9041bc248300000000a002ffd7d26100000204ffc30402080a90cbc863000000000103030a" },
    // UDP(sport=5353,dport=5353)/b"hello" (odd length)
    { ph: v4, proto: 17, at: 6, hex: "14e914e9000d7e2d68656c6c6f" },
    // IPv6, UDP(sport=546,dport=547)/b"hello v6"
    { ph: v6, proto: 17, at: 6, hex: "022202230010475c68656c6c6f207636" },
  ];
  for (const { ph, proto, at, hex: h } of cases) {
    it(`IPv${ph.family} protocol ${proto}: the sum reproduces scapy's checksum (RFC 9293 §3.1, RFC 8200 §8.1)`, () => {
      const b = hex(h);
      const expected = ((b[at] as number) << 8) | (b[at + 1] as number);
      b[at] = 0;
      b[at + 1] = 0;
      expect(finishChecksum(sumBytes(b, 0, b.length, pseudoHeaderSum(ph, proto, b.length)))).toBe(expected);
    });
  }

  it("pseudoHeaderSumV4 equals the sum of the 12-byte pseudo-header of RFC 9293 §3.1", () => {
    const rand = rng(793);
    for (let k = 0; k < 200; k++) {
      const src = Math.floor(rand() * 2 ** 32) >>> 0;
      const dst = Math.floor(rand() * 2 ** 32) >>> 0;
      const len = Math.floor(rand() * 0x10000);
      const p = new Uint8Array(12);
      writeIpv4(p, 0, src);
      writeIpv4(p, 4, dst);
      p[9] = 6;
      p[10] = len >>> 8;
      p[11] = len & 0xff;
      expect(foldSum(pseudoHeaderSumV4(src, dst, 6, len))).toBe(foldSum(sumBytes(p)));
    }
  });

  it("pseudoHeaderSumV6 equals the sum of the 40-byte pseudo-header of RFC 8200 §8.1, 32-bit length included", () => {
    const rand = rng(8200);
    for (let k = 0; k < 200; k++) {
      const p = new Uint8Array(40);
      for (let i = 0; i < 32; i++) p[i] = Math.floor(rand() * 256);
      const len = k % 2 === 0 ? Math.floor(rand() * 0x10000) : 0x10000 + Math.floor(rand() * 0x1000000);
      writeIpv4(p, 32, len);
      p[39] = 58;
      const sum = pseudoHeaderSumV6(p.subarray(0, 16), p.subarray(16, 32), 58, len);
      expect(foldSum(sum)).toBe(foldSum(sumBytes(p)));
    }
  });
});
