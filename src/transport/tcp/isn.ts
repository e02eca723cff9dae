/**
 * Initial sequence numbers (RFC 6528) and per-connection timestamp offsets (Linux's
 * `secure_tcp_ts_off`), both from one secret key.
 *
 * Read before editing: RFC 6528 §3 (the algorithm), RFC 9293 §3.4.1 (why ISNs must not be guessable),
 * RFC 7323 §5.4 and Appendix G (timestamp offsets per connection).
 *
 * RFC 6528 §3: ISN = M + F(localip, localport, remoteip, remoteport, secretkey), where M is a timer
 * that ticks every 4 microseconds and F a keyed pseudorandom function. F here is HMAC-SHA-256 from
 * node:crypto truncated to 32 bits: a standard PRF, deterministic (no I/O, no clock), so a seeded
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
import { createHmac, hash } from "node:crypto";
import type { Random } from "../../time/random.ts";
import type { Endpoint } from "./connection.ts";

/** RFC 6528 §3: M ticks every 4 µs, i.e. 250 ticks per millisecond. */
export const ISN_TICKS_PER_MS = 250;

const TWO_32 = 0x1_0000_0000;

/** RFC 2104 §2: the SHA-256 block size, and its digest size. */
const BLOCK = 64;
const DIGEST = 32;

/**
 * RFC 2104 §2: K XOR ipad and K XOR opad, computed once per key, each followed by room for what is
 * hashed after it (the message; the inner digest). HMAC(K, m) = H(K^opad ‖ H(K^ipad ‖ m)), with two
 * one-shot `crypto.hash` calls: the same bytes as `createHmac`, without an Hmac object and its key
 * set-up per connection (the hash was ~10 % of a handshake).
 */
interface HmacPads {
  inner: Uint8Array;
  readonly outer: Uint8Array;
}
const padsOf = new WeakMap<Uint8Array, HmacPads>();

function pads(key: Uint8Array): HmacPads {
  let p = padsOf.get(key);
  if (p === undefined) {
    const inner = new Uint8Array(BLOCK + 64);
    const outer = new Uint8Array(BLOCK + DIGEST);
    for (let i = 0; i < BLOCK; i++) {
      inner[i] = (key[i] ?? 0) ^ 0x36;
      outer[i] = (key[i] ?? 0) ^ 0x5c;
    }
    p = { inner, outer };
    padsOf.set(key, p);
  }
  return p;
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
  const msgLen = l.length + (local === undefined ? 0 : 19) + (remote === undefined ? 0 : 19) + 4 * words.length;
  if (key.length > BLOCK) return slowKeyedHash32(key, l, local, remote, words);
  const p = pads(key);
  if (p.inner.length < BLOCK + msgLen) {
    const grown = new Uint8Array(BLOCK + msgLen);
    grown.set(p.inner.subarray(0, BLOCK));
    p.inner = grown;
  }
  const inner = p.inner;
  inner.set(l, BLOCK);
  let at = BLOCK + l.length;
  if (local !== undefined) at = putEndpoint(inner, at, local);
  if (remote !== undefined) at = putEndpoint(inner, at, remote);
  for (const x of words) {
    inner[at] = x >>> 24;
    inner[at + 1] = x >>> 16;
    inner[at + 2] = x >>> 8;
    inner[at + 3] = x;
    at += 4;
  }
  p.outer.set(hash("sha256", inner.subarray(0, at), "buffer"), BLOCK);
  const d = hash("sha256", p.outer, "buffer");
  return (((d[0] as number) << 24) | ((d[1] as number) << 16) | ((d[2] as number) << 8) | (d[3] as number)) >>> 0;
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
