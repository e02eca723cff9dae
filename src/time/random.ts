/**
 * Seeded randomness for the stack and its simulations (STYLE.md §4): ISN secrets, ephemeral ports,
 * jitter, fault injection. Protocol code receives a `Random` at construction and never calls
 * `Math.random`.
 *
 * Generator: sfc32 (Chris Doty-Humphrey's Small Fast Counting generator, PractRand-clean, 128-bit
 * state), seeded through splitmix32 and warmed up 12 rounds as its author recommends.
 *
 * `fork(label)` derives a child stream from the parent's *seed key* and the label, not from the
 * parent's stream: forking consumes nothing, so adding a consumer never perturbs the others, and a
 * child depends only on the root seed and its path of labels. The same label forked twice from the
 * same parent gives the same stream: give each consumer its own label.
 */
import { webcrypto } from "node:crypto";

/** A deterministic source of random numbers. */
export interface Random {
  /** A uniform integer in [0, 2^32). */
  nextU32(): number;
  /** A uniform float in [0, 1), 32 bits of precision. */
  nextFloat(): number;
  /** A uniform integer in [0, n), without modulo bias. `n` must be an integer in [1, 2^32]. */
  nextInt(n: number): number;
  /** `n` uniform random bytes. */
  bytes(n: number): Uint8Array;
  /** An independent stream determined by this stream's seed and `label` (see the module comment). */
  fork(label: string): Random;
}

const GOLDEN = 0x9e3779b9;
const TWO_32 = 0x1_0000_0000;

/** MurmurHash3's 32-bit finalizer: a bijective avalanche mix. */
function fmix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/** splitmix32 expansion of a 32-bit state into `n` words. */
function splitmix32(state: number, n: number): Uint32Array {
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) {
    state = (state + GOLDEN) | 0;
    out[i] = fmix32(state);
  }
  return out;
}

/** The 4-word key of a root seed: any safe integer, both 32-bit halves absorbed. */
function rootKey(seed: number): Uint32Array {
  if (!Number.isSafeInteger(seed)) throw new RangeError(`Random seed must be a safe integer, got ${seed}`);
  const lo = seed >>> 0;
  const hi = Math.floor(seed / TWO_32) >>> 0;
  const a = splitmix32(lo, 4);
  const b = splitmix32(hi ^ 0x5bd1e995, 4);
  return a.map((w, i) => (w ^ b[i]!) >>> 0);
}

/** A child key from a parent key and a label (every UTF-16 unit absorbed). */
function childKey(parent: Uint32Array, label: string): Uint32Array {
  let h = 0x811c9dc5;
  for (const w of parent) h = fmix32((h ^ w) + GOLDEN);
  for (let i = 0; i < label.length; i++) h = fmix32((h ^ label.charCodeAt(i)) + GOLDEN);
  h = fmix32((h ^ label.length) + GOLDEN);
  const out = splitmix32(h, 4);
  for (let i = 0; i < 4; i++) out[i] = (out[i]! ^ fmix32(parent[i]! + i * GOLDEN)) >>> 0;
  return out;
}

/** sfc32 over a 128-bit key. */
export class SeededRandom implements Random {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  /**
   * Prefer `seededRandom(seed)`. `path` names the stream for messages ("seed 7/wire/0->1").
   */
  constructor(
    private readonly key: Uint32Array,
    readonly path: string,
  ) {
    this.a = key[0]!;
    this.b = key[1]!;
    this.c = key[2]!;
    this.d = key[3]! | 1; // a non-zero counter word rules out a degenerate all-zero state
    for (let i = 0; i < 12; i++) this.nextU32();
  }

  nextU32(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  nextFloat(): number {
    return this.nextU32() / TWO_32;
  }

  nextInt(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > TWO_32) throw new RangeError(`nextInt: ${n} is not an integer in [1, 2^32]`);
    // Reject the top partial copy of [0, n) in [0, 2^32) so every result is equally likely.
    const limit = TWO_32 - (TWO_32 % n);
    for (;;) {
      const x = this.nextU32();
      if (x < limit) return x % n;
    }
  }

  bytes(n: number): Uint8Array {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`bytes: ${n} is not a non-negative integer`);
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i += 4) {
      let x = this.nextU32();
      for (let j = i; j < i + 4 && j < n; j++) {
        out[j] = x & 0xff;
        x >>>= 8;
      }
    }
    return out;
  }

  fork(label: string): SeededRandom {
    return new SeededRandom(childKey(this.key, label), `${this.path}/${label}`);
  }
}

/** A deterministic stream: the same seed gives the same numbers on every run and machine. */
export function seededRandom(seed: number): SeededRandom {
  return new SeededRandom(rootKey(seed), `seed ${seed}`);
}

/**
 * A stream seeded from the operating system, for real runs. Its `path` names the seed, so a run
 * can be replayed with `seededRandom(seed)`.
 */
export function systemRandom(): SeededRandom {
  const words = webcrypto.getRandomValues(new Uint32Array(2));
  const seed = (words[0]! & 0x1f_ffff) * TWO_32 + words[1]!; // 53 bits: a safe integer
  return seededRandom(seed);
}
