/**
 * A token bucket on caller-supplied time (STYLE.md §4), shared by ICMPv4 and ICMPv6 to bound the
 * error messages a host originates (RFC 1812 §4.3.2.8, RFC 4443 §2.4(f): "a token bucket ... is
 * recommended"). It never reads a clock: `take(now)` refills from the time elapsed since the last call.
 *
 * Guarantee: over any interval of T ms at most `burst + ratePerSec * T / 1000` takes succeed. Time that
 * steps backwards refills nothing (the bucket waits for time to catch up).
 */

/** Bucket parameters: the long-run rate and the size of a burst allowed after a quiet period. */
export interface TokenBucketConfig {
  /** Tokens added per second (may be fractional; 0 allows only the initial burst). */
  readonly ratePerSec: number;
  /** Capacity: the most takes that can succeed back to back. At least 1. */
  readonly burst: number;
}

/** A token bucket that starts full. */
export class TokenBucket {
  private tokens: number;
  private last: number | undefined;

  constructor(readonly config: TokenBucketConfig) {
    if (!(config.ratePerSec >= 0) || !Number.isFinite(config.ratePerSec)) {
      throw new RangeError(`TokenBucket ratePerSec ${config.ratePerSec} must be a finite number >= 0`);
    }
    if (!(config.burst >= 1) || !Number.isFinite(config.burst)) {
      throw new RangeError(`TokenBucket burst ${config.burst} must be a finite number >= 1`);
    }
    this.tokens = config.burst;
  }

  /** Takes one token at time `now` (ms); false when the bucket is empty. */
  take(now: number): boolean {
    this.refill(now);
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }

  /** Tokens available at `now` (fractional), without taking one. */
  available(now: number): number {
    this.refill(now);
    return this.tokens;
  }

  private refill(now: number): void {
    if (this.last !== undefined && now > this.last) {
      this.tokens = Math.min(this.config.burst, this.tokens + ((now - this.last) * this.config.ratePerSec) / 1000);
    }
    if (this.last === undefined || now > this.last) this.last = now;
  }
}
