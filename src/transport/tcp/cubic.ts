/**
 * CUBIC congestion control, RFC 9438 — the stack's default. Read RFC 9438 §4 and congestion.ts
 * first (who does what during recovery).
 *
 * Theory of operation. After a congestion event the window follows, in segments,
 *
 *   W_cubic(t) = C*(t - K)^3 + W_max          (RFC 9438 §4.2, Figure 1)
 *   K = cubic_root((W_max - cwnd_epoch) / C)  (Figure 2)
 *
 * where t is seconds since the congestion avoidance stage began (t_epoch) and cwnd_epoch the window
 * then. Below W_max the curve is concave (fast growth that flattens out near W_max, §4.4), beyond it
 * convex (slow, then fast probing, §4.5). Alongside, W_est tracks what Reno would have (§4.3); when
 * W_cubic(t) < W_est — short RTTs, small windows — CUBIC is "Reno-friendly" and uses W_est.
 *
 *       cwnd ^            convex
 *            |   concave     ____/
 *      W_max +- - - - -_____/- - - - - - -
 *            |     __/
 *            |   _/
 * cwnd_epoch +  /
 *            +--+-----------+--------------> t
 *            t_epoch   t_epoch + K
 *
 * Windows are kept internally as fractional bytes; `cwnd` and `ssthresh` read back as integers.
 * RFC 9438's variables in segments (W_max, W_est, cwnd_epoch, cwnd_prior) are segments here too.
 * Slow start is the shared RFC 5681 + RFC 3465 one (RFC 9438 §4.10 allows HyStart++; not done).
 * Spurious congestion events (§4.9): the connection detects them (RFC 3522 / RFC 3708) and calls
 * `undo`, which restores the state saved before the reduction — cwnd, ssthresh, W_max, cwnd_prior
 * and the epoch — as §4.9 asks (Linux restores cwnd and, through bictcp, last_max_cwnd).
 */
import {
  ABC_L_SEGMENTS,
  checkMss,
  initialWindow,
  slowStart,
  wasCwndLimited,
  type CongestionControl,
  type CongestionOptions,
  type CongestionRegion,
} from "./congestion.ts";

/** RFC 9438 §4.1.1: C, the aggressiveness of the cubic curve, segments / s³. */
export const CUBIC_C = 0.4;
/** RFC 9438 §4.1.1: β_cubic, the multiplicative decrease factor. */
export const CUBIC_BETA = 0.7;
/** RFC 9438 §4.3: α_cubic = 3(1 − β)/(1 + β), Reno-friendly additive increase (≈ 0.529). */
export const CUBIC_ALPHA = (3 * (1 - CUBIC_BETA)) / (1 + CUBIC_BETA);

/** Options for CUBIC beyond the common ones. */
export interface CubicOptions extends CongestionOptions {
  /** RFC 9438 §4.7 fast convergence; default on (RECOMMENDED). */
  fastConvergence?: boolean;
}

/** RFC 9438 §4.2 Figure 1: W_cubic(t) in segments, t in seconds. */
export function wCubic(t: number, k: number, wMax: number): number {
  return CUBIC_C * (t - k) ** 3 + wMax;
}

/** RFC 9438 §4.2 Figure 2: K in seconds, windows in segments; 0 when cwnd_epoch ≥ W_max. */
export function cubicK(wMax: number, cwndEpoch: number): number {
  return wMax > cwndEpoch ? Math.cbrt((wMax - cwndEpoch) / CUBIC_C) : 0;
}

/** What `undo` restores (RFC 9438 §4.9: cwnd, ssthresh, W_max, cwnd_prior and the epoch). */
interface CubicState {
  readonly at: number;
  readonly cwnd: number;
  readonly ssthresh: number;
  readonly wMax: number | undefined;
  readonly cwndPrior: number | undefined;
  readonly tEpoch: number | undefined;
  readonly cwndEpoch: number;
  readonly k: number;
  readonly wEst: number;
  readonly region: CongestionRegion;
  readonly afterRto: boolean;
  readonly epochAfterRto: boolean;
}

/** RFC 9438 CUBIC. Build it through `createCongestionControl("cubic", …)` or directly. */
export class CubicCongestion implements CongestionControl {
  readonly name = "cubic";
  private mss: number;
  private readonly iwSegments: number | undefined;
  private readonly validate: boolean;
  private readonly fastConvergence: boolean;
  private cwndBytes: number;
  private ssthreshBytes = Infinity;
  /** RFC 9438 §4.1.2 W_max, segments; undefined before the first congestion event. */
  private wMaxSeg: number | undefined = undefined;
  /** cwnd_prior, segments: cwnd when ssthresh was last set (§4.3 switches α to 1 past it). */
  private cwndPriorSeg: number | undefined = undefined;
  /** t_epoch, ms; undefined until the current congestion avoidance stage sees its first ACK. */
  private tEpoch: number | undefined = undefined;
  private cwndEpochSeg = 0;
  private kSec = 0;
  private wEstSeg = 0;
  private rttMs: number | undefined = undefined;
  private lastAckAt: number | undefined = undefined;
  private lastRegion: CongestionRegion = "slow-start";
  /** From an RTO until new data is acknowledged: RFC 3465 §2.3 and the held ssthresh of RFC 5681 §3.1. */
  private afterRto = false;
  /** The next epoch is the first after a timeout: §4.8 sets K = 0 and W_max = cwnd_epoch. */
  private epochAfterRto = false;
  /** State before the last reduction and when it was saved, for `undo` (RFC 9438 §4.9); undefined once undone. */
  private prior: CubicState | undefined = undefined;

  constructor(opts: CubicOptions) {
    this.mss = checkMss(opts.mss);
    this.iwSegments = opts.initialWindowSegments;
    this.validate = opts.validateCwnd ?? true;
    this.fastConvergence = opts.fastConvergence ?? true;
    this.cwndBytes = initialWindow(this.mss, this.iwSegments);
  }

  get cwnd(): number {
    return Math.floor(this.cwndBytes);
  }
  get ssthresh(): number {
    return this.ssthreshBytes;
  }
  /** RFC 9438 W_max in segments (undefined before the first congestion event), for traces and tests. */
  get wMax(): number | undefined {
    return this.wMaxSeg;
  }
  /** RFC 9438 K in seconds for the current epoch (0 before one starts). */
  get k(): number {
    return this.kSec;
  }
  /** RFC 9438 W_est in segments (the Reno estimate of the current epoch). */
  get wEst(): number {
    return this.wEstSeg;
  }

  region(): CongestionRegion {
    return this.cwndBytes < this.ssthreshBytes ? "slow-start" : this.lastRegion;
  }

  onAck(ackedBytes: number, now: number, rttMs: number | undefined, bytesInFlight: number): void {
    if (!(ackedBytes > 0)) return;
    if (rttMs !== undefined && rttMs >= 0) this.rttMs = rttMs;
    const limit = this.afterRto ? 1 : ABC_L_SEGMENTS; // RFC 3465 §2.3
    this.afterRto = false;
    const lastAckAt = this.lastAckAt;
    this.lastAckAt = now;
    const inSlowStart = this.cwndBytes < this.ssthreshBytes;
    if (this.validate && !wasCwndLimited(this.cwndBytes, ackedBytes, bytesInFlight, this.mss, inSlowStart)) {
      // RFC 9438 §5.8: an application-limited flow must not grow cwnd; shifting t_epoch by the time
      // spent so keeps W_cubic from racing ahead of a window nobody tested (as Linux does after idle).
      if (this.tEpoch !== undefined && lastAckAt !== undefined) this.tEpoch += now - lastAckAt;
      return;
    }
    if (inSlowStart) {
      this.cwndBytes = slowStart(this.cwndBytes, this.ssthreshBytes, ackedBytes, this.mss, limit);
      return;
    }
    this.congestionAvoidance(ackedBytes, now);
  }

  private congestionAvoidance(ackedBytes: number, now: number): void {
    const mss = this.mss;
    const cwndSeg = this.cwndBytes / mss;
    if (this.tEpoch === undefined) {
      // RFC 9438 §4.2: a new congestion avoidance stage begins.
      this.tEpoch = now;
      this.cwndEpochSeg = cwndSeg;
      // §4.3: W_est starts at cwnd_epoch.
      this.wEstSeg = cwndSeg;
      if (this.wMaxSeg === undefined || this.epochAfterRto || this.wMaxSeg < cwndSeg) {
        // §4.8 (first stage after a timeout) and §4.10 (slow start left without a congestion event,
        // W_max undefined: cwnd_prior = cwnd too): W_max = cwnd_epoch and K = 0, so the curve
        // starts on its convex side.
        if (this.wMaxSeg === undefined) this.cwndPriorSeg = cwndSeg;
        this.wMaxSeg = cwndSeg;
        this.kSec = 0;
      } else {
        this.kSec = cubicK(this.wMaxSeg, this.cwndEpochSeg);
      }
      this.epochAfterRto = false;
    }
    const wMax = this.wMaxSeg ?? cwndSeg;
    const segmentsAcked = ackedBytes / mss;
    const t = (now - this.tEpoch) / 1000;
    // §4.3 Figure 4: W_est += α * segments_acked / cwnd; α = 1 once W_est reaches cwnd_prior, where
    // Reno's AIMD(1, 0.5) takes over.
    const alpha = this.cwndPriorSeg !== undefined && this.wEstSeg >= this.cwndPriorSeg ? 1 : CUBIC_ALPHA;
    this.wEstSeg += (alpha * segmentsAcked) / cwndSeg;
    if (wCubic(t, this.kSec, wMax) < this.wEstSeg) {
      // §4.3: Reno-friendly region, cwnd = W_est. Never lowered on an ACK: cwnd may sit above
      // W_cubic(t) because §4.2 aims at W_cubic(t + RTT).
      this.lastRegion = "reno-friendly";
      this.cwndBytes = Math.max(this.cwndBytes, this.wEstSeg * mss);
      return;
    }
    // §4.4 concave (cwnd < W_max) / §4.5 convex (cwnd ≥ W_max).
    this.lastRegion = cwndSeg < wMax ? "concave" : "convex";
    // §4.2: target = W_cubic(t + RTT), clamped to [cwnd, 1.5*cwnd].
    const rttSec = (this.rttMs ?? 0) / 1000;
    const target = Math.min(Math.max(wCubic(t + rttSec, this.kSec, wMax), cwndSeg), 1.5 * cwndSeg);
    // §4.4/§4.5: cwnd += (target − cwnd)/cwnd per ACK, per segment acknowledged when counting bytes (§4.1).
    this.cwndBytes += ((target - cwndSeg) / cwndSeg) * segmentsAcked * mss;
  }

  /** §4.6 multiplicative decrease and §4.7 fast convergence; shared by congestion events and RTOs. */
  private decrease(flightSize: number): void {
    const cwndSeg = this.cwndBytes / this.mss;
    // §4.7: a flow whose window did not get back to its previous W_max releases bandwidth faster.
    if (this.fastConvergence && this.wMaxSeg !== undefined && cwndSeg < this.wMaxSeg) {
      this.wMaxSeg = (cwndSeg * (1 + CUBIC_BETA)) / 2;
    } else {
      this.wMaxSeg = cwndSeg;
    }
    this.cwndPriorSeg = cwndSeg;
    // §4.6 Figure 5: ssthresh = flight_size * β_cubic (RFC 9438 uses FlightSize; Linux uses cwnd,
    // which the RFC allows only with cwnd validation), at least 2 SMSS.
    this.ssthreshBytes = Math.max(Math.floor(flightSize * CUBIC_BETA), 2 * this.mss);
    this.tEpoch = undefined;
  }

  onCongestionEvent(now: number, bytesInFlight: number): void {
    this.save(now);
    // FlightSize capped at cwnd, as in newreno.ts: data sent under an older, larger window (before
    // an RTO) must not lift cwnd above where it is.
    this.decrease(Math.min(bytesInFlight, this.cwndBytes));
    // §4.6: cwnd = max(ssthresh, 2) on loss (ssthresh is already at least 2 SMSS).
    this.cwndBytes = this.ssthreshBytes;
    this.lastRegion = this.cwndBytes / this.mss < (this.wMaxSeg ?? 0) ? "concave" : "convex";
  }

  onRecoveryEnd(_now: number, _bytesInFlight: number): void {
    // The window was set at entry (§4.6) and inflation is the connection's; as Linux at the end of
    // recovery, cwnd = ssthresh. The new epoch starts with the next ACK of new data.
    this.cwndBytes = this.ssthreshBytes;
    this.tEpoch = undefined;
  }

  onRto(now: number, bytesInFlight: number): void {
    this.save(now);
    // §4.8: ssthresh as in §4.6; RFC 5681 §3.1: held constant when the same segment times out again.
    if (!this.afterRto) this.decrease(bytesInFlight);
    // RFC 5681 §3.1: cwnd = LW = 1 SMSS.
    this.cwndBytes = this.mss;
    this.tEpoch = undefined;
    this.epochAfterRto = true;
    this.afterRto = true;
  }

  undo(now: number): boolean {
    const p = this.prior;
    if (p === undefined) return false;
    this.prior = undefined;
    // RFC 9438 §4.9: back to the state before the event; as Linux, cwnd and ssthresh are never
    // lowered (the window may have grown since).
    this.cwndBytes = Math.max(this.cwndBytes, p.cwnd);
    this.ssthreshBytes = Math.max(this.ssthreshBytes, p.ssthresh);
    this.wMaxSeg = p.wMax;
    this.cwndPriorSeg = p.cwndPrior;
    // The curve resumes where it stood: the time spent in the spurious episode does not count.
    this.tEpoch = p.tEpoch === undefined ? undefined : p.tEpoch + (now - p.at);
    this.cwndEpochSeg = p.cwndEpoch;
    this.kSec = p.k;
    this.wEstSeg = p.wEst;
    this.lastRegion = p.region;
    this.afterRto = p.afterRto;
    this.epochAfterRto = p.epochAfterRto;
    return true;
  }

  private save(now: number): void {
    this.prior = {
      at: now,
      cwnd: this.cwndBytes,
      ssthresh: this.ssthreshBytes,
      wMax: this.wMaxSeg,
      cwndPrior: this.cwndPriorSeg,
      tEpoch: this.tEpoch,
      cwndEpoch: this.cwndEpochSeg,
      k: this.kSec,
      wEst: this.wEstSeg,
      region: this.lastRegion,
      afterRto: this.afterRto,
      epochAfterRto: this.epochAfterRto,
    };
  }

  onIdle(_now: number): void {
    // RFC 5681 §4.1: cwnd = min(cwnd, IW); the cubic curve restarts from here (a new epoch).
    this.cwndBytes = Math.min(this.cwndBytes, initialWindow(this.mss, this.iwSegments));
    this.tEpoch = undefined;
    this.lastAckAt = undefined;
    this.prior = undefined; // an undo must not bring back a window that went stale while idle
  }

  setMss(mss: number): void {
    checkMss(mss);
    if (mss === this.mss) return;
    this.cwndBytes = Math.max(mss, (this.cwndBytes / this.mss) * mss);
    if (Number.isFinite(this.ssthreshBytes)) this.ssthreshBytes = Math.max(2 * mss, Math.round((this.ssthreshBytes / this.mss) * mss));
    this.prior = undefined; // saved in the old SMSS
    this.mss = mss;
  }
}
