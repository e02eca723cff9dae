/**
 * Ephemeral port allocation, shared by UDP and TCP (RFC 6056).
 *
 * Owns nothing but the choice: the caller says which ports are taken (a predicate over its own
 * binding table), this module picks a free one in the IANA dynamic range 49152–65535 (RFC 6335 §6)
 * following RFC 6056 §3.3.1, Algorithm 1 ("simple port randomization"): a random starting point,
 * then a linear probe that wraps around the range. The search is bounded by the size of the range:
 * when every port is taken it answers `undefined` instead of looping. Randomness comes only from the
 * `Random` passed in (STYLE.md §4), so a seeded stack picks the same ports on every run.
 */
import type { Random } from "../time/random.ts";

/** RFC 6335 §6: the first port of the Dynamic and/or Private range. */
export const EPHEMERAL_PORT_MIN = 49152;
/** The last port of the Dynamic and/or Private range. */
export const EPHEMERAL_PORT_MAX = 65535;

/** An inclusive port range to allocate from. */
export interface PortRange {
  readonly min: number;
  readonly max: number;
}

/** The default range, 49152–65535 (RFC 6056 §3.2 recommends the whole dynamic range). */
export const EPHEMERAL_PORT_RANGE: PortRange = { min: EPHEMERAL_PORT_MIN, max: EPHEMERAL_PORT_MAX };

/**
 * Picks a port in `range` for which `inUse(port)` is false, or `undefined` when all are taken.
 * Consumes exactly one random number per call; calls `inUse` at most `range.max - range.min + 1`
 * times. Throws RangeError for a range that is not within 1–65535 (a bug in the caller).
 */
export function pickEphemeralPort(
  random: Random,
  inUse: (port: number) => boolean,
  range: PortRange = EPHEMERAL_PORT_RANGE,
): number | undefined {
  const { min, max } = range;
  if (!Number.isInteger(min) || !Number.isInteger(max) || min < 1 || max > 0xffff || min > max) {
    throw new RangeError(`ephemeral port range ${min}–${max} is not within 1–65535`);
  }
  const count = max - min + 1;
  // RFC 6056 §3.3.1: next_ephemeral = min_ephemeral + (offset + i) % num_ephemeral.
  const offset = random.nextInt(count);
  for (let i = 0; i < count; i++) {
    const port = min + ((offset + i) % count);
    if (!inUse(port)) return port;
  }
  return undefined;
}
