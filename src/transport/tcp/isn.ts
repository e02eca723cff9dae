/**
 * Initial sequence numbers (RFC 6528) and per-connection timestamp offsets (Linux's
 * `secure_tcp_ts_off`), both from one secret key.
 *
 * Read before editing: RFC 6528 §3 (the algorithm), RFC 9293 §3.4.1 (why ISNs must not be guessable),
 * RFC 7323 §5.4 and Appendix G (timestamp offsets per connection).
 *
 * RFC 6528 §3: ISN = M + F(localip, localport, remoteip, remoteport, secretkey), where M is a timer
 * that ticks every 4 microseconds and F a keyed pseudorandom function. F here is HMAC-SHA-256
 * (RFC 2104, FIPS 180-4; computed here from per-key midstates, the same digests as node:crypto's
 * `createHmac`) truncated to 32 bits: a standard PRF, deterministic (no I/O, no clock), so a seeded
 * stack picks the same ISNs on every run. The key is drawn once from the `Random` given at
 * construction (RFC 6528 §3: "secretkey ... should be ... unknown to the attacker"). M comes from
 * `now` (ms) as floor(now × 250) mod 2^32, so for one 4-tuple successive ISNs advance with time
 * (they wrap after 2^32 × 4 µs ≈ 4.77 h, as the RFC's timer does), and different 4-tuples draw from
 * unrelated sequence spaces.
 *
 * The timestamp offset depends on the two addresses only, as Linux's does, so that a connection
 * completed from a SYN cookie uses the same TSval clock as the stateless SYN-ACK that carried the
 * cookie (cookies.ts): the peer's PAWS check (RFC 7323 §5) then never sees our TSval go backwards.
 */
import { createHmac } from "node:crypto";
import type { Random } from "../../time/random.ts";
import type { Endpoint } from "./connection.ts";

/** RFC 6528 §3: M ticks every 4 µs, i.e. 250 ticks per millisecond. */
export const ISN_TICKS_PER_MS = 250;

const TWO_32 = 0x1_0000_0000;

/** RFC 2104 §2: the SHA-256 block size. */
const BLOCK = 64;

/** The first `n` primes (FIPS 180-4 §4.2.2 and §5.3.3 derive SHA-256's constants from them). */
function firstPrimes(n: number): number[] {
  const out: number[] = [];
  for (let c = 2; out.length < n; c++) if (out.every((p) => c % p !== 0)) out.push(c);
  return out;
}

/** The first 32 bits of the fractional part of `x`, as a signed 32-bit word. */
function fraction32(x: number): number {
  return Math.floor((x - Math.floor(x)) * TWO_32) | 0;
}

/**
 * FIPS 180-4 §4.2.2: K, the first 32 bits of the fractional parts of the cube roots of the first 64
 * primes; §5.3.3: H(0), the same of the square roots of the first 8. Derived rather than listed;
 * the unit test checks every digest against node:crypto's HMAC.
 */
const K = Int32Array.from(firstPrimes(64), (p) => fraction32(Math.cbrt(p)));
const H0 = Int32Array.from(firstPrimes(8), (p) => fraction32(Math.sqrt(p)));

/** The message schedule, shared: `compress` is synchronous and not re-entrant. */
const W = new Int32Array(64);

/** FIPS 180-4 §6.2.2: one SHA-256 compression of the 64-byte block at `b[at..]` into `h`. */
function compress(h: Int32Array, b: Uint8Array, at: number): void {
  const w = W;
  for (let t = 0; t < 16; t++) {
    const i = at + 4 * t;
    w[t] = ((b[i] as number) << 24) | ((b[i + 1] as number) << 16) | ((b[i + 2] as number) << 8) | (b[i + 3] as number);
  }
  for (let t = 16; t < 64; t++) {
    const x = w[t - 15] as number;
    const y = w[t - 2] as number;
    const s0 = ((x >>> 7) | (x << 25)) ^ ((x >>> 18) | (x << 14)) ^ (x >>> 3);
    const s1 = ((y >>> 17) | (y << 15)) ^ ((y >>> 19) | (y << 13)) ^ (y >>> 10);
    w[t] = ((w[t - 16] as number) + s0 + (w[t - 7] as number) + s1) | 0;
  }
  let a = h[0] as number;
  let bb = h[1] as number;
  let c = h[2] as number;
  let d = h[3] as number;
  let e = h[4] as number;
  let f = h[5] as number;
  let g = h[6] as number;
  let hh = h[7] as number;
  for (let t = 0; t < 64; t++) {
    const S1 = ((e >>> 6) | (e << 26)) ^ ((e >>> 11) | (e << 21)) ^ ((e >>> 25) | (e << 7));
    const ch = (e & f) ^ (~e & g);
    const t1 = (hh + S1 + ch + (K[t] as number) + (w[t] as number)) | 0;
    const S0 = ((a >>> 2) | (a << 30)) ^ ((a >>> 13) | (a << 19)) ^ ((a >>> 22) | (a << 10));
    const maj = (a & bb) ^ (a & c) ^ (bb & c);
    const t2 = (S0 + maj) | 0;
    hh = g;
    g = f;
    f = e;
    e = (d + t1) | 0;
    d = c;
    c = bb;
    bb = a;
    a = (t1 + t2) | 0;
  }
  h[0] = ((h[0] as number) + a) | 0;
  h[1] = ((h[1] as number) + bb) | 0;
  h[2] = ((h[2] as number) + c) | 0;
  h[3] = ((h[3] as number) + d) | 0;
  h[4] = ((h[4] as number) + e) | 0;
  h[5] = ((h[5] as number) + f) | 0;
  h[6] = ((h[6] as number) + g) | 0;
  h[7] = ((h[7] as number) + hh) | 0;
}

/**
 * RFC 2104 §2 for a key of at most one block: the SHA-256 states after the first block of the inner
 * hash (K XOR ipad) and of the outer one (K XOR opad), computed once per key. Each HMAC then costs
 * the compressions of its own message and of the 32-byte inner digest — one each for the ISN — in
 * JavaScript, with no call into node:crypto and no Buffer per connection (the one-shot
 * `crypto.hash` pair this replaces was ~3 % of a handshake; `createHmac` before it ~10 %).
 */
interface HmacStates {
  readonly inner: Int32Array;
  readonly outer: Int32Array;
}
const statesOf = new WeakMap<Uint8Array, HmacStates>();

function hmacStates(key: Uint8Array): HmacStates {
  let s = statesOf.get(key);
  if (s === undefined) {
    const ipad = new Uint8Array(BLOCK);
    const opad = new Uint8Array(BLOCK);
    for (let i = 0; i < BLOCK; i++) {
      ipad[i] = (key[i] ?? 0) ^ 0x36;
      opad[i] = (key[i] ?? 0) ^ 0x5c;
    }
    const inner = H0.slice();
    const outer = H0.slice();
    compress(inner, ipad, 0);
    compress(outer, opad, 0);
    s = { inner, outer };
    statesOf.set(key, s);
  }
  return s;
}

/** The message being hashed, then its padding (grown for long labels or many words). */
let scratch = new Uint8Array(4 * BLOCK);
/** The running state of one hash (copied from a key's midstate). */
const state = new Int32Array(8);
/** The outer hash's one block: the inner digest and its padding. */
const outerBlock = new Uint8Array(BLOCK);

/**
 * FIPS 180-4 §5.1.1: pads the `len` message bytes in `scratch` for a hash whose first block (the
 * HMAC pad) is already in `state`, and compresses them into `state`.
 */
function finishFromMidstate(len: number): void {
  const blocks = Math.ceil((len + 9) / BLOCK);
  const end = blocks * BLOCK;
  const buf = scratch;
  buf[len] = 0x80;
  buf.fill(0, len + 1, end - 4);
  // The length in bits, counting the pad block: (64 + len) × 8 < 2^32 for any message built here.
  const bits = (BLOCK + len) * 8;
  buf[end - 4] = bits >>> 24;
  buf[end - 3] = bits >>> 16;
  buf[end - 2] = bits >>> 8;
  buf[end - 1] = bits;
  for (let at = 0; at < end; at += BLOCK) compress(state, buf, at);
}

const labelBytes = new Map<string, Uint8Array>();
function encodeLabel(label: string): Uint8Array {
  let b = labelBytes.get(label);
  if (b === undefined) {
    b = new TextEncoder().encode(label);
    labelBytes.set(label, b);
  }
  return b;
}

/** Writes an endpoint as hashed: family, port (big-endian), then 4 or 16 address bytes. */
function putEndpoint(out: Uint8Array, at: number, e: Endpoint): number {
  out[at] = e.family;
  out[at + 1] = e.port >>> 8;
  out[at + 2] = e.port;
  const a = e.address;
  if (typeof a === "number") {
    out[at + 3] = a >>> 24;
    out[at + 4] = a >>> 16;
    out[at + 5] = a >>> 8;
    out[at + 6] = a;
    return at + 7;
  }
  out.set(a, at + 3);
  return at + 3 + a.length;
}

/**
 * A keyed 32-bit PRF over a domain label, the connection's endpoints and extra 32-bit words
 * (HMAC-SHA-256, first 4 bytes big-endian). Shared by isn.ts and cookies.ts; each use has its own
 * label so that their outputs are unrelated.
 */
export function keyedHash32(
  key: Uint8Array,
  label: string,
  local: Endpoint | undefined,
  remote: Endpoint | undefined,
  words: readonly number[] = [],
): number {
  const l = encodeLabel(label);
  if (key.length > BLOCK) return slowKeyedHash32(key, l, local, remote, words);
  const msgLen = l.length + (local === undefined ? 0 : 19) + (remote === undefined ? 0 : 19) + 4 * words.length;
  if (scratch.length < msgLen + 9 + BLOCK) scratch = new Uint8Array(Math.ceil((msgLen + 9) / BLOCK + 1) * BLOCK);
  const m = scratch;
  m.set(l, 0);
  let at = l.length;
  if (local !== undefined) at = putEndpoint(m, at, local);
  if (remote !== undefined) at = putEndpoint(m, at, remote);
  for (const x of words) {
    m[at] = x >>> 24;
    m[at + 1] = x >>> 16;
    m[at + 2] = x >>> 8;
    m[at + 3] = x;
    at += 4;
  }
  const st = hmacStates(key);
  state.set(st.inner);
  finishFromMidstate(at);
  // Outer hash: H(K XOR opad ‖ inner digest); one block of 32 digest bytes, 0x80 and the length 768.
  const o = outerBlock;
  for (let i = 0; i < 8; i++) {
    const v = state[i] as number;
    o[4 * i] = v >>> 24;
    o[4 * i + 1] = v >>> 16;
    o[4 * i + 2] = v >>> 8;
    o[4 * i + 3] = v;
  }
  o[32] = 0x80;
  o.fill(0, 33, 62);
  o[62] = (BLOCK + 32) * 8 >>> 8;
  o[63] = ((BLOCK + 32) * 8) & 0xff;
  state.set(st.outer);
  compress(state, o, 0);
  return (state[0] as number) >>> 0;
}

/** `keyedHash32` through `createHmac`, for keys longer than a block (RFC 2104 hashes those first). */
function slowKeyedHash32(key: Uint8Array, label: Uint8Array, local: Endpoint | undefined, remote: Endpoint | undefined, words: readonly number[]): number {
  const msg = new Uint8Array(label.length + 38 + 4 * words.length);
  msg.set(label);
  let at = label.length;
  if (local !== undefined) at = putEndpoint(msg, at, local);
  if (remote !== undefined) at = putEndpoint(msg, at, remote);
  for (const x of words) {
    msg[at] = x >>> 24;
    msg[at + 1] = x >>> 16;
    msg[at + 2] = x >>> 8;
    msg[at + 3] = x;
    at += 4;
  }
  const d = createHmac("sha256", key).update(msg.subarray(0, at)).digest();
  return (((d[0] as number) << 24) | ((d[1] as number) << 16) | ((d[2] as number) << 8) | (d[3] as number)) >>> 0;
}

/** Address pairs whose timestamp offset `tsOffset` remembers before starting over. */
const TS_OFFSET_CACHE = 4096;

/** Chooses ISNs (RFC 6528) and timestamp offsets for one stack. */
export class IsnGenerator {
  private readonly key: Uint8Array;
  /** IPv4 timestamp offsets by local, then remote address (see `tsOffset`). */
  private readonly tsOffsets = new Map<number, Map<number, number>>();
  private tsOffsetCount = 0;

  /** Draws the secret key (16 bytes) from `random`: give the stack's Random, forked for TCP. */
  constructor(random: Random) {
    this.key = random.bytes(16);
  }

  /** RFC 6528 §3: ISN = M + F(localip, localport, remoteip, remoteport, secretkey). */
  isn(local: Endpoint, remote: Endpoint, now: number): number {
    const m = Math.floor(now * ISN_TICKS_PER_MS) % TWO_32;
    return (m + keyedHash32(this.key, "isn", local, remote)) >>> 0;
  }

  /**
   * The TSval offset of connections between these two addresses (ports ignored, as Linux's
   * `secure_tcp_ts_off`): random to an observer (RFC 7323 Appendix G), stable for the address pair.
   */
  tsOffset(local: Endpoint, remote: Endpoint): number {
    const la = local.address;
    const ra = remote.address;
    if (typeof la !== "number" || typeof ra !== "number") {
      return keyedHash32(this.key, "ts-offset", { ...local, port: 0 }, { ...remote, port: 0 });
    }
    // IPv4: remembered per address pair (both ends of a handshake ask, and so does every later
    // connection between the same hosts); bounded so that many peers cannot grow it without end.
    let byRemote = this.tsOffsets.get(la);
    const known = byRemote?.get(ra);
    if (known !== undefined) return known;
    const v = keyedHash32(this.key, "ts-offset", { ...local, port: 0 }, { ...remote, port: 0 });
    if (this.tsOffsetCount >= TS_OFFSET_CACHE) {
      this.tsOffsets.clear();
      this.tsOffsetCount = 0;
      byRemote = undefined;
    }
    if (byRemote === undefined) {
      byRemote = new Map();
      this.tsOffsets.set(la, byRemote);
    }
    byRemote.set(ra, v);
    this.tsOffsetCount++;
    return v;
  }
}
