/**
 * The retransmission timer's estimator, RFC 6298. Read RFC 6298 §2 (the formulas), §3 (Karn's rule)
 * and §5 (managing the timer) first.
 *
 * What it owns: SRTT, RTTVAR and the current RTO, in milliseconds. What it does not: choosing
 * samples. Karn's rule (RFC 6298 §3: no sample from a retransmitted segment, unless timestamps make
 * it unambiguous, RFC 7323 §4) and the timer itself belong to the connection.
 *
 * Bounds, and how they compare with Linux:
 *   - initial RTO 1 s (RFC 6298 §2.1; Linux's TCP_TIMEOUT_INIT is 1 s too).
 *   - minimum 200 ms, where RFC 6298 §2.4 says the RTO SHOULD be rounded up to 1 s. We follow Linux
 *     (TCP_RTO_MIN = HZ/5 = 200 ms), as most deployed stacks do: the 1 s floor guards against
 *     spurious timeouts with coarse (500 ms) clocks and delayed ACKs of the 1980s; with a 1 ms clock
 *     it turns every tail loss on a LAN or loopback path into a one-second stall. 200 ms still sits
 *     above the 40–200 ms delayed-ACK timers deployed stacks run (RFC 1122 §4.2.3.2 allows up to
 *     500 ms; a peer that long-delayed costs a spurious retransmission, nothing worse). Linux applies its minimum differently: it floors the
 *     variance term (RTO ≈ SRTT + max(4·RTTVAR, 200 ms)), where we clamp the RTO itself as RFC 6298
 *     does, so on long paths our RTO can be lower than Linux's by up to 200 ms.
 *     `minRtoMs: 1000` gives the letter of the RFC.
 *   - maximum 120 s (Linux's TCP_RTO_MAX; RFC 6298 §2.5 allows any maximum of at least 60 s).
 *   - clock granularity G = 1 ms (our clocks count milliseconds).
 */

/** RFC 6298 §2.1 initial RTO, ms. */
export const RTO_INITIAL_MS = 1000;
/** Minimum RTO, ms: Linux's TCP_RTO_MIN rather than RFC 6298 §2.4's 1 s (see above). */
export const RTO_MIN_MS = 200;
/** Maximum RTO, ms: Linux's TCP_RTO_MAX (RFC 6298 §2.5: at least 60 s). */
export const RTO_MAX_MS = 120_000;
/** Clock granularity G, ms. */
export const RTO_GRANULARITY_MS = 1;

/** RFC 6298 §2.3 gains and multiplier. */
const ALPHA = 1 / 8;
const BETA = 1 / 4;
const K = 4;

/** Bounds for `RttEstimator`; every field defaults to the constants above. */
export interface RttOptions {
  initialRtoMs?: number;
  minRtoMs?: number;
  maxRtoMs?: number;
  granularityMs?: number;
}

/** RFC 6298 SRTT / RTTVAR / RTO, with exponential backoff (§5.5). */
export class RttEstimator {
  private readonly minRto: number;
  private readonly maxRto: number;
  private readonly granularity: number;
  private srttMs: number | undefined = undefined;
  private rttvarMs: number | undefined = undefined;
  /** The RTO computed from the estimates, before backoff. */
  private baseRto: number;
  private rtoMs: number;
  private backoffs = 0;

  constructor(opts: RttOptions = {}) {
    this.minRto = opts.minRtoMs ?? RTO_MIN_MS;
    this.maxRto = opts.maxRtoMs ?? RTO_MAX_MS;
    this.granularity = opts.granularityMs ?? RTO_GRANULARITY_MS;
    const initial = opts.initialRtoMs ?? RTO_INITIAL_MS;
    for (const [name, v] of [["minRtoMs", this.minRto], ["maxRtoMs", this.maxRto], ["granularityMs", this.granularity], ["initialRtoMs", initial]] as const) {
      if (!Number.isFinite(v) || v < 0) throw new RangeError(`RttEstimator: ${name} must be a finite number ≥ 0, got ${v}`);
    }
    if (this.minRto > this.maxRto) throw new RangeError(`RttEstimator: minRtoMs ${this.minRto} > maxRtoMs ${this.maxRto}`);
    // RFC 6298 §2.1: RTO = 1 s until a sample arrives; kept within the configured bounds.
    this.baseRto = this.clamp(initial);
    this.rtoMs = this.baseRto;
  }

  /** Smoothed RTT, ms; undefined before the first sample. */
  get srtt(): number | undefined {
    return this.srttMs;
  }
  /** RTT variation, ms; undefined before the first sample. */
  get rttvar(): number | undefined {
    return this.rttvarMs;
  }
  /** The retransmission timeout to arm now, ms, backoff included. */
  get rto(): number {
    return this.rtoMs;
  }
  /** How many times the timer has backed off since the last sample or `resetBackoff`. */
  get backoffCount(): number {
    return this.backoffs;
  }

  /**
   * Feeds one RTT measurement (ms). Returns false, changing nothing, for a value that cannot be an
   * RTT (negative, NaN, infinite): such a value comes from a bug or a forged timestamp echo, and
   * must not poison the estimate. A valid sample also ends any backoff: RFC 6298 §5, the note after
   * (5.7), lets a new measurement collapse a backed-off RTO.
   */
  sample(rttMs: number): boolean {
    if (!Number.isFinite(rttMs) || rttMs < 0) return false;
    if (this.srttMs === undefined || this.rttvarMs === undefined) {
      // RFC 6298 §2.2: the first measurement R.
      this.srttMs = rttMs;
      this.rttvarMs = rttMs / 2;
    } else {
      // RFC 6298 §2.3: RTTVAR first, with the SRTT from before this sample.
      this.rttvarMs = (1 - BETA) * this.rttvarMs + BETA * Math.abs(this.srttMs - rttMs);
      this.srttMs = (1 - ALPHA) * this.srttMs + ALPHA * rttMs;
    }
    // RFC 6298 §2.2/§2.3: RTO = SRTT + max(G, K*RTTVAR); §2.4 minimum, §2.5 maximum.
    this.baseRto = this.clamp(this.srttMs + Math.max(this.granularity, K * this.rttvarMs));
    this.resetBackoff();
    return true;
  }

  /** RFC 6298 §5.5: the timer expired; RTO = RTO * 2, up to the maximum. */
  backoff(): void {
    this.rtoMs = Math.min(this.rtoMs * 2, this.maxRto);
    this.backoffs++;
  }

  /**
   * Drops the backoff, returning to the RTO the estimates give. Karn's algorithm keeps the
   * backed-off RTO until a valid sample arrives (and `sample` calls this); call it directly only
   * where the connection decides to forget the backoff without one.
   */
  resetBackoff(): void {
    this.rtoMs = this.baseRto;
    this.backoffs = 0;
  }

  private clamp(rto: number): number {
    return Math.min(Math.max(rto, this.minRto), this.maxRto);
  }
}
