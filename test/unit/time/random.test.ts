import { describe, expect, it } from "vitest";
import { seededRandom, systemRandom } from "../../../src/time/random.ts";

/*
 * Known answers from an independent Python implementation of the same construction (splitmix32 key
 * expansion of both seed halves, sfc32 with 12 warm-up rounds), the script below saved as ref.py and
 * run as `/usr/bin/python3 ref.py`:
 *
 *   M=0xffffffff; G=0x9e3779b9
 *   def fmix(x): x=((x^(x>>16))*0x85ebca6b)&M; x=((x^(x>>13))*0xc2b2ae35)&M; return x^(x>>16)
 *   def sm(s,n):  out=[]; [out.append(fmix(s:=(s+G)&M)) for _ in range(n)]; return out
 *   def root(seed): return [x^y for x,y in zip(sm(seed&M,4), sm(((seed>>32)&M)^0x5bd1e995,4))]
 *   def sfc(k):
 *     a,b,c,d=k[0],k[1],k[2],k[3]|1
 *     while True:
 *       t=(a+b+d)&M; d=(d+1)&M; a=b^(b>>9); b=(c+(c<<3))&M; c=((c<<21)|(c>>11))&M; c=(c+t)&M; yield t
 *   for seed in (7, 0, 123456789012345):
 *     g=sfc(root(seed)); [next(g) for _ in range(12)]; print([next(g) for _ in range(5)])
 *
 * Simulation pcaps are golden files: if these change, every seeded run changes.
 */
describe("seededRandom", () => {
  it("matches the reference sfc32 outputs", () => {
    const cases: [number, number[]][] = [
      [7, [3161528889, 2204648418, 1870397386, 248149947, 917653854]],
      [0, [425073580, 3539444953, 1818987605, 2733185101, 3710828678]],
      [123456789012345, [590154586, 3053981089, 281240082, 1702176651, 2127721049]],
    ];
    for (const [seed, want] of cases) {
      const r = seededRandom(seed);
      expect(want.map(() => r.nextU32())).toEqual(want);
    }
  });

  it("same seed, same stream; different seeds differ", () => {
    const take = (seed: number) => {
      const r = seededRandom(seed);
      return Array.from({ length: 100 }, () => r.nextU32());
    };
    expect(take(1)).toEqual(take(1));
    expect(take(1)).not.toEqual(take(2));
    expect(take(2 ** 32)).not.toEqual(take(0)); // the high half of the seed counts
    expect(() => seededRandom(1.5)).toThrow(RangeError);
  });

  it("fork does not consume the parent's stream, and depends only on seed and label", () => {
    const plain = seededRandom(9);
    const forked = seededRandom(9);
    const child = forked.fork("tcp");
    expect(Array.from({ length: 10 }, () => forked.nextU32())).toEqual(Array.from({ length: 10 }, () => plain.nextU32()));
    // A fork taken after the parent advanced is the same stream.
    const later = forked.fork("tcp");
    const a = Array.from({ length: 10 }, () => child.nextU32());
    expect(Array.from({ length: 10 }, () => later.nextU32())).toEqual(a);
    expect(later.path).toBe("seed 9/tcp");
  });

  it("forks with different labels, or of different parents, are different streams", () => {
    const r = seededRandom(3);
    const first = (x: { nextU32(): number }) => Array.from({ length: 8 }, () => x.nextU32());
    const streams = [
      first(r.fork("a")),
      first(r.fork("b")),
      first(r.fork("ab")),
      first(r.fork("a").fork("b")),
      first(seededRandom(4).fork("a")),
      first(seededRandom(3)),
    ];
    const keys = new Set(streams.map((s) => s.join(",")));
    expect(keys.size).toBe(streams.length);
  });

  it("nextFloat lies in [0, 1) with mean about 1/2", () => {
    const r = seededRandom(11);
    let sum = 0;
    let outside = 0;
    for (let i = 0; i < 100_000; i++) {
      const x = r.nextFloat();
      if (!(x >= 0 && x < 1)) outside++;
      sum += x;
    }
    expect(outside).toBe(0);
    expect(sum / 100_000).toBeGreaterThan(0.49);
    expect(sum / 100_000).toBeLessThan(0.51);
  });

  it("nextInt is uniform over [0, n) and refuses bad n", () => {
    const r = seededRandom(5);
    const counts = new Array<number>(6).fill(0);
    for (let i = 0; i < 60_000; i++) {
      const k = r.nextInt(6);
      counts[k] = counts[k]! + 1;
    }
    for (const c of counts) expect(Math.abs(c - 10_000)).toBeLessThan(500);
    expect(r.nextInt(1)).toBe(0);
    const big = r.nextInt(2 ** 32);
    expect(big >= 0 && big < 2 ** 32).toBe(true);
    expect(() => r.nextInt(0)).toThrow(RangeError);
    expect(() => r.nextInt(2.5)).toThrow(RangeError);
    expect(() => r.nextInt(2 ** 32 + 1)).toThrow(RangeError);
  });

  it("bytes(n) gives n bytes, little-endian words of the stream", () => {
    const a = seededRandom(7).bytes(7);
    expect(a.length).toBe(7);
    // 3161528889 = 0xbc711a39, 2204648418 = 0x836843e2 (first reference outputs for seed 7)
    expect([...a]).toEqual([0x39, 0x1a, 0x71, 0xbc, 0xe2, 0x43, 0x68]);
    expect(seededRandom(7).bytes(0).length).toBe(0);
    expect(() => seededRandom(7).bytes(-1)).toThrow(RangeError);
  });
});

describe("systemRandom", () => {
  it("gives different streams per call and names a replayable seed", () => {
    const a = systemRandom();
    const b = systemRandom();
    expect(a.nextU32() === b.nextU32() && a.nextU32() === b.nextU32()).toBe(false);
    const m = /^seed (\d+)$/.exec(a.path);
    expect(m).not.toBeNull();
    const replay = seededRandom(Number(m![1]));
    const c = systemRandom();
    const seedC = Number(/^seed (\d+)$/.exec(c.path)![1]);
    expect(seededRandom(seedC).nextU32()).toBe(c.nextU32());
    expect(replay.path).toBe(a.path);
  });
});
