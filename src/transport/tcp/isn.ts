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
import { createHmac } from "node:crypto";
import type { Random } from "../../time/random.ts";
import type { Endpoint } from "./connection.ts";

/** RFC 6528 §3: M ticks every 4 µs, i.e. 250 ticks per millisecond. */
export const ISN_TICKS_PER_MS = 250;

const TWO_32 = 0x1_0000_0000;

/** Bytes of an address in a hash input: 4 for IPv4 (a number), 16 for IPv6. */
function addressBytes(a: number | Uint8Array): Uint8Array {
  if (typeof a !== "number") return a;
  return Uint8Array.of(a >>> 24, (a >>> 16) & 0xff, (a >>> 8) & 0xff, a & 0xff);
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
  const h = createHmac("sha256", key);
  h.update(label);
  for (const e of [local, remote]) {
    if (e === undefined) continue;
    h.update(Uint8Array.of(e.family, e.port >>> 8, e.port & 0xff));
    h.update(addressBytes(e.address));
  }
  if (words.length > 0) {
    const w = new Uint8Array(4 * words.length);
    words.forEach((x, i) => {
      w[4 * i] = x >>> 24;
      w[4 * i + 1] = (x >>> 16) & 0xff;
      w[4 * i + 2] = (x >>> 8) & 0xff;
      w[4 * i + 3] = x & 0xff;
    });
    h.update(w);
  }
  const d = h.digest();
  return (((d[0] as number) << 24) | ((d[1] as number) << 16) | ((d[2] as number) << 8) | (d[3] as number)) >>> 0;
}

/** Chooses ISNs (RFC 6528) and timestamp offsets for one stack. */
export class IsnGenerator {
  private readonly key: Uint8Array;

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
    return keyedHash32(this.key, "ts-offset", { ...local, port: 0 }, { ...remote, port: 0 });
  }
}
