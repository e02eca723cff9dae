import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { seededRandom } from "../../../src/time/random.ts";
import type { Endpoint } from "../../../src/transport/tcp/connection.ts";
import { ISN_TICKS_PER_MS, IsnGenerator, keyedHash32 } from "../../../src/transport/tcp/isn.ts";
import { seqGt, seqSub } from "../../../src/transport/tcp/seq.ts";
import { parseIpv4, parseIpv6 } from "../../../src/wire/ip-address.ts";

const v4 = (s: string, port: number): Endpoint => ({ family: 4, address: parseIpv4(s) as number, port });
const v6 = (s: string, port: number): Endpoint => ({ family: 6, address: parseIpv6(s) as Uint8Array, port });

const LOCAL = v4("10.0.0.1", 80);
const REMOTE = v4("10.0.0.2", 40000);

describe("RFC 6528 ISNs", () => {
  it("are deterministic for a seed and differ between seeds", () => {
    const a = new IsnGenerator(seededRandom(7).fork("tcp"));
    const b = new IsnGenerator(seededRandom(7).fork("tcp"));
    const c = new IsnGenerator(seededRandom(8).fork("tcp"));
    expect(a.isn(LOCAL, REMOTE, 1234.5)).toBe(b.isn(LOCAL, REMOTE, 1234.5));
    expect(a.isn(LOCAL, REMOTE, 1234.5)).not.toBe(c.isn(LOCAL, REMOTE, 1234.5));
  });

  it("RFC 6528 §3: M ticks every 4 µs (250 per ms)", () => {
    const g = new IsnGenerator(seededRandom(1));
    const base = g.isn(LOCAL, REMOTE, 10_000);
    expect(seqSub(g.isn(LOCAL, REMOTE, 10_000.004), base)).toBe(1);
    expect(seqSub(g.isn(LOCAL, REMOTE, 10_001), base)).toBe(ISN_TICKS_PER_MS);
    expect(seqSub(g.isn(LOCAL, REMOTE, 10_000 + 60_000), base)).toBe(60_000 * 250);
  });

  it("RFC 6528 §3: increase monotonically over time for the same 4-tuple", () => {
    const g = new IsnGenerator(seededRandom(2));
    const r = seededRandom(99);
    let now = 0;
    let prev = g.isn(LOCAL, REMOTE, now);
    // 2000 steps of up to 5 s: 10 000 s in all, past the 2^32 × 4 µs ≈ 4.77 h wrap of M.
    for (let i = 0; i < 2000; i++) {
      now += 1 + r.nextInt(5000);
      const next = g.isn(LOCAL, REMOTE, now);
      expect(seqGt(next, prev)).toBe(true);
      prev = next;
    }
  });

  it("RFC 6528 §3: F differs for different 4-tuples (address, port, family)", () => {
    const g = new IsnGenerator(seededRandom(3));
    const seen = new Set<number>();
    for (let p = 40000; p < 41000; p++) seen.add(g.isn(LOCAL, v4("10.0.0.2", p), 0));
    expect(seen.size).toBe(1000);
    const base = g.isn(LOCAL, REMOTE, 0);
    expect(g.isn(LOCAL, v4("10.0.0.3", 40000), 0)).not.toBe(base);
    expect(g.isn(v4("10.0.0.1", 81), REMOTE, 0)).not.toBe(base);
    // Swapping the ends is another tuple.
    expect(g.isn(REMOTE, LOCAL, 0)).not.toBe(base);
    const l6 = v6("fd00::1", 80);
    const r6 = v6("fd00::2", 40000);
    expect(g.isn(l6, r6, 0)).not.toBe(g.isn(l6, v6("fd00::3", 40000), 0));
  });

  it("timestamp offsets depend on the addresses only (Linux's secure_tcp_ts_off)", () => {
    const g = new IsnGenerator(seededRandom(4));
    const off = g.tsOffset(LOCAL, REMOTE);
    expect(g.tsOffset({ ...LOCAL, port: 7 }, { ...REMOTE, port: 1234 })).toBe(off);
    expect(g.tsOffset(LOCAL, v4("10.0.0.9", 40000))).not.toBe(off);
    expect(off).toBeGreaterThanOrEqual(0);
    expect(off).toBeLessThan(2 ** 32);
  });

  it("keyedHash32 is keyed and labelled", () => {
    const k1 = new Uint8Array(16).fill(1);
    const k2 = new Uint8Array(16).fill(2);
    const h = keyedHash32(k1, "a", LOCAL, REMOTE, [1, 2]);
    expect(keyedHash32(k1, "a", LOCAL, REMOTE, [1, 2])).toBe(h);
    expect(keyedHash32(k2, "a", LOCAL, REMOTE, [1, 2])).not.toBe(h);
    expect(keyedHash32(k1, "b", LOCAL, REMOTE, [1, 2])).not.toBe(h);
    expect(keyedHash32(k1, "a", LOCAL, REMOTE, [1, 3])).not.toBe(h);
  });

  it("keyedHash32 is HMAC-SHA-256 (RFC 2104), first 4 bytes big-endian, for messages of one to three blocks", () => {
    const r = seededRandom(11);
    // The message as keyedHash32 lays it out: label, each endpoint (family, port, address), then 32-bit words.
    const layout = (label: string, l: Endpoint | undefined, rm: Endpoint | undefined, words: readonly number[]): Buffer => {
      const parts: number[] = [...Buffer.from(label)];
      for (const e of [l, rm]) {
        if (e === undefined) continue;
        parts.push(e.family, e.port >>> 8, e.port & 0xff);
        if (typeof e.address === "number") parts.push(e.address >>> 24, (e.address >>> 16) & 0xff, (e.address >>> 8) & 0xff, e.address & 0xff);
        else parts.push(...e.address);
      }
      for (const w of words) parts.push(w >>> 24, (w >>> 16) & 0xff, (w >>> 8) & 0xff, w & 0xff);
      return Buffer.from(parts);
    };
    const cases: [string, Endpoint | undefined, Endpoint | undefined, number[]][] = [
      ["isn", LOCAL, REMOTE, []],
      ["ts-offset", { ...LOCAL, port: 0 }, { ...REMOTE, port: 0 }, []],
      ["syn-cookie", v6("fd00::1", 443), v6("fd00::2", 50000), [7, 0xdeadbeef, 3]],
      ["", undefined, undefined, []],
      // 55 and 56 bytes: the last length that fits one padded block, and the first that needs two.
      ["x".repeat(55), undefined, undefined, []],
      ["y".repeat(56), undefined, undefined, []],
      ["z".repeat(64), v6("fd00::9", 1), v6("fd00::8", 2), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]],
    ];
    for (let i = 0; i < 200; i++) {
      const words = Array.from({ length: r.nextInt(6) }, () => r.nextU32());
      cases.push([`l${i}`, v4(`10.${i}.0.1`, r.nextInt(65536)), v4(`10.0.${i}.2`, r.nextInt(65536)), words]);
    }
    for (const keyLen of [1, 16, 64]) {
      const key = r.bytes(keyLen);
      for (const [label, l, rm, words] of cases) {
        const want = createHmac("sha256", key).update(layout(label, l, rm, words)).digest().readUInt32BE(0);
        expect(keyedHash32(key, label, l, rm, words), `${label} key ${keyLen}`).toBe(want);
      }
    }
  });
});
