/**
 * SYN cookies (RFC 4987 §3.6), encoded as the RFC describes and as Linux does
 * (net/ipv4/syncookies.c): the listener answers a SYN without keeping any state, and the ISN of its
 * SYN-ACK carries what it needs to rebuild the connection when the peer's ACK returns it.
 *
 * Read before editing: RFC 4987 §3.6 (cookies and what they cost), RFC 7323 §3.2 and §5 (timestamps,
 * PAWS), RFC 9293 §3.10.7.2 (LISTEN).
 *
 * Cookie layout (the ISS of the SYN-ACK), RFC 4987 §3.6:
 *
 *    31       27 26  24 23                                          0
 *   +-----------+------+---------------------------------------------+
 *   | t mod 32  | MSS  |  H(key, 4-tuple, t, peer ISN, MSS) mod 2^24  |
 *   +-----------+------+---------------------------------------------+
 *
 * t counts 64-second periods of `now` (Linux's COOKIE period); a cookie is accepted while t is the
 * current or the previous period (Linux's MAX_SYNCOOKIE_AGE = 2), so it lives 64–128 s. The 3-bit
 * MSS index points into a table per family and yields the largest table entry not above the peer's
 * MSS. The peer's ISN is in the hash (as Linux adds it to its cookie) so that every SYN gets its own
 * cookie and the ACK's SEQ must match too; so is the MSS index, so that its bits cannot be altered
 * (Linux adds the index to its hash and only range-checks what comes back).
 *
 * What the 32 bits cannot hold — window scale and SACK-permitted — rides in the low 6 bits of the
 * SYN-ACK's TSval when the peer sent timestamps, exactly as Linux's `cookie_init_timestamp`: bits 0–3
 * the peer's window shift (0xF: none), bit 4 SACK-permitted, bit 5 (ECN, which we do not do) zero.
 * The peer echoes TSval in TSecr, and the ACK brings them back. The TSval is never ahead of our
 * timestamp clock (lowered by 64 when the bits would push it past), so it stays monotonic. Without
 * timestamps the SYN-ACK offers neither window scaling nor SACK, since we could not remember them.
 */
import type { Random } from "../../time/random.ts";
import type { TcpOptionSet } from "../../wire/tcp.ts";
import type { CookieSynInfo, Endpoint } from "./connection.ts";
import { keyedHash32 } from "./isn.ts";

/** Length of one cookie time period (Linux: 64 s). */
export const COOKIE_PERIOD_MS = 64_000;
/** A cookie is valid in the period it was made and the next one (Linux's MAX_SYNCOOKIE_AGE). */
export const COOKIE_MAX_AGE = 2;
/** MSS values a cookie can carry over IPv4 (index 0–7); index 0 is RFC 9293's default 536. */
export const COOKIE_MSS_V4 = [536, 1000, 1200, 1300, 1380, 1440, 1452, 1460] as const;
/** MSS values over IPv6; index 0 is the IPv6 minimum MTU's 1220 (RFC 8200 §5). */
export const COOKIE_MSS_V6 = [1220, 1280, 1340, 1380, 1400, 1420, 1432, 1440] as const;

/** Low TSval bits that carry options (Linux's TSBITS). */
const TS_BITS = 6;
const TS_MASK = (1 << TS_BITS) - 1;
const TS_WSCALE_MASK = 0x0f;
const TS_SACK = 0x10;
/** RFC 7323 §2.3: shifts above 14 are taken as 14. */
const MAX_WINDOW_SHIFT = 14;

const HASH_MASK = 0x00ff_ffff;

/** Why a cookie was refused (counted by the listener as `cookies.failed.<reason>`). */
export type CookieFailure = "expired" | "bad-hash" | "timestamps-off" | "sack-off" | "wscale-off";

/** The local TCP features a cookie may promise: the listener's config. */
export interface CookieFeatures {
  readonly windowScale: boolean;
  readonly sack: boolean;
  readonly timestamps: boolean;
}

function mssTable(family: 4 | 6): readonly number[] {
  return family === 4 ? COOKIE_MSS_V4 : COOKIE_MSS_V6;
}

/** The index of the largest table entry ≤ `mss` (0 when `mss` is below every entry). */
export function cookieMssIndex(family: 4 | 6, mss: number): number {
  const t = mssTable(family);
  let idx = 0;
  for (let i = 0; i < t.length; i++) if ((t[i] as number) <= mss) idx = i;
  return idx;
}

/** The time period of `now`. */
export function cookiePeriod(now: number): number {
  return Math.floor(now / COOKIE_PERIOD_MS);
}

/** Makes and checks SYN cookies with one secret key. */
export class SynCookies {
  private readonly key: Uint8Array;

  /** Draws the secret key (16 bytes) from `random`. */
  constructor(random: Random) {
    this.key = random.bytes(16);
  }

  /**
   * The cookie (our ISS) for a SYN from `remote` to `local` with sequence number `irs`, whose MSS
   * option said `peerMss` (RFC 9293 §3.7.1 default when absent: pass 536 / 1220).
   */
  make(local: Endpoint, remote: Endpoint, irs: number, peerMss: number, now: number): number {
    const t = cookiePeriod(now);
    const idx = cookieMssIndex(local.family, peerMss);
    return this.compose(local, remote, irs >>> 0, t, idx);
  }

  /**
   * Checks `cookie` (the ACK's SEG.ACK − 1) for a connection whose peer ISN was `irs` (SEG.SEQ − 1):
   * the peer's MSS, or why not.
   */
  check(local: Endpoint, remote: Endpoint, irs: number, cookie: number, now: number): { mss: number } | CookieFailure {
    const c = cookie >>> 0;
    const cur = cookiePeriod(now);
    const age = (cur - (c >>> 27)) & 31;
    if (age >= COOKIE_MAX_AGE) return "expired";
    const idx = (c >>> 24) & 7;
    if (this.compose(local, remote, irs >>> 0, cur - age, idx) !== c) return "bad-hash";
    return { mss: mssTable(local.family)[idx] as number };
  }

  private compose(local: Endpoint, remote: Endpoint, irs: number, t: number, idx: number): number {
    const h = keyedHash32(this.key, "syn-cookie", local, remote, [t >>> 0, irs, idx]) & HASH_MASK;
    return (((t & 31) << 27) | (idx << 24) | h) >>> 0;
  }
}

/**
 * The TSval of a cookie SYN-ACK: `tsNow` with its low 6 bits replaced by the peer's window shift and
 * SACK-permitted (Linux's `cookie_init_timestamp`), never ahead of `tsNow`.
 */
export function cookieTsVal(tsNow: number, windowScale: number | undefined, sackPermitted: boolean): number {
  const opts = (windowScale === undefined ? TS_WSCALE_MASK : Math.min(windowScale, MAX_WINDOW_SHIFT)) | (sackPermitted ? TS_SACK : 0);
  let ts = ((tsNow & ~TS_MASK) | opts) >>> 0;
  if (((ts - tsNow) | 0) > 0) ts = (ts - (TS_MASK + 1)) >>> 0;
  return ts;
}

/**
 * Rebuilds what the SYN said from a validated cookie's MSS and the options of the ACK that returned
 * it (Linux's `cookie_timestamp_decode`). Without timestamps on the ACK: no window scaling, no SACK.
 * With them, a feature the cookie claims but our config no longer offers fails the cookie.
 */
export function cookieSynInfo(irs: number, mss: number, ack: TcpOptionSet, features: CookieFeatures): CookieSynInfo | CookieFailure {
  const ts = ack.timestamps;
  if (ts === undefined) return { irs: irs >>> 0, peerMss: mss, windowScale: undefined, sackPermitted: false, timestamps: false };
  if (!features.timestamps) return "timestamps-off";
  const bits = ts.tsEcr & TS_MASK;
  const sack = (bits & TS_SACK) !== 0;
  if (sack && !features.sack) return "sack-off";
  const ws = bits & TS_WSCALE_MASK;
  if (ws !== TS_WSCALE_MASK && !features.windowScale) return "wscale-off";
  return { irs: irs >>> 0, peerMss: mss, windowScale: ws === TS_WSCALE_MASK ? undefined : ws, sackPermitted: sack, timestamps: true };
}
