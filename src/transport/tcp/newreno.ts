/**
 * NewReno congestion control: RFC 5681 (slow start, congestion avoidance, the RTO response) with the
 * RFC 6582 exit from fast recovery, and RFC 3465 byte counting in both phases. Read congestion.ts
 * first: the recovery logic itself (partial ACKs, the recover point, window inflation) is the
 * connection's; this class only moves cwnd and ssthresh.
 *
 * All arithmetic is on integers of bytes, so a trace replays exactly.
 */
import {
  ABC_L_SEGMENTS,
  checkMss,
  initialWindow,
  renoSsthresh,
  slowStart,
  wasCwndLimited,
  type CongestionControl,
  type CongestionOptions,
  type CongestionRegion,
} from "./congestion.ts";

/** RFC 5681 NewReno. Build it through `createCongestionControl("newreno", …)` or directly. */
export class NewRenoCongestion implements CongestionControl {
  readonly name = "newreno";
  private mss: number;
  private readonly iwSegments: number | undefined;
  private readonly validate: boolean;
  private cwndBytes: number;
  private ssthreshBytes = Infinity; // RFC 5681 §3.1: "arbitrarily high"
  /** RFC 3465 §2.1 bytes_acked: the counter congestion avoidance grows cwnd by. */
  private bytesAcked = 0;
  /** True from an RTO until new data is acknowledged: RFC 3465 §2.3 (L = 1) and RFC 5681's held ssthresh. */
  private afterRto = false;
  /** State before the last reduction, for `undo` (RFC 4015 §3); undefined once undone. */
  private prior: { cwnd: number; ssthresh: number; bytesAcked: number; afterRto: boolean } | undefined = undefined;

  constructor(opts: CongestionOptions) {
    this.mss = checkMss(opts.mss);
    this.iwSegments = opts.initialWindowSegments;
    this.validate = opts.validateCwnd ?? true;
    this.cwndBytes = initialWindow(this.mss, this.iwSegments);
  }

  get cwnd(): number {
    return this.cwndBytes;
  }
  get ssthresh(): number {
    return this.ssthreshBytes;
  }

  region(): CongestionRegion {
    return this.cwndBytes < this.ssthreshBytes ? "slow-start" : "congestion-avoidance";
  }

  onAck(ackedBytes: number, _now: number, _rttMs: number | undefined, bytesInFlight: number): void {
    if (!(ackedBytes > 0)) return;
    // RFC 3465 §2.3: L = 1*SMSS for the ACK that ends the first RTT after a timeout, so that an ACK
    // covering data the receiver already held does not release a burst.
    const limit = this.afterRto ? 1 : ABC_L_SEGMENTS;
    this.afterRto = false;
    const inSlowStart = this.cwndBytes < this.ssthreshBytes;
    if (this.validate && !wasCwndLimited(this.cwndBytes, ackedBytes, bytesInFlight, this.mss, inSlowStart)) return;
    if (inSlowStart) {
      // RFC 5681 §3.1 slow start, RFC 3465 §2.2 byte counting.
      this.cwndBytes = slowStart(this.cwndBytes, this.ssthreshBytes, ackedBytes, this.mss, limit);
      return;
    }
    // RFC 5681 §3.1 congestion avoidance by byte counting (RFC 3465 §2.1): +1 SMSS each time a whole
    // cwnd of bytes has been acknowledged, i.e. +1 SMSS per RTT, independent of delayed ACKs.
    this.bytesAcked += ackedBytes;
    if (this.bytesAcked >= this.cwndBytes) {
      this.bytesAcked -= this.cwndBytes;
      this.cwndBytes += this.mss;
    }
  }

  onCongestionEvent(_now: number, bytesInFlight: number): void {
    this.save();
    // RFC 5681 §3.2 step 2 (equation 4); step 4's "+ 3*SMSS" inflation is the connection's (congestion.ts).
    // FlightSize is capped at cwnd: soon after an RTO the flight still counts data sent under the old,
    // larger window, and halving that would raise cwnd into a burst (Linux halves cwnd itself).
    this.ssthreshBytes = renoSsthresh(Math.min(bytesInFlight, this.cwndBytes), this.mss);
    this.cwndBytes = this.ssthreshBytes;
    this.bytesAcked = 0;
  }

  onRecoveryEnd(_now: number, bytesInFlight: number): void {
    // RFC 6582 §3.2 step 5, option 1: cwnd = min(ssthresh, max(FlightSize, SMSS) + SMSS), which
    // avoids a burst when little is in flight as recovery ends.
    this.cwndBytes = Math.min(this.ssthreshBytes, Math.max(bytesInFlight, this.mss) + this.mss);
    this.bytesAcked = 0;
  }

  onRto(_now: number, bytesInFlight: number): void {
    this.save();
    // RFC 5681 §3.1 equation 4, unless this is the same segment timing out again: then ssthresh is
    // held constant (the note after equation 4), since FlightSize no longer measures the path.
    if (!this.afterRto) this.ssthreshBytes = renoSsthresh(bytesInFlight, this.mss);
    // RFC 5681 §3.1: cwnd = LW, the loss window, 1 full-sized segment.
    this.cwndBytes = this.mss;
    this.bytesAcked = 0;
    this.afterRto = true;
  }

  undo(_now: number): boolean {
    const p = this.prior;
    if (p === undefined) return false;
    this.prior = undefined;
    // RFC 4015 §3 restores the window before the event; as Linux, never below what it is now (the
    // window may have grown since).
    this.cwndBytes = Math.max(this.cwndBytes, p.cwnd);
    this.ssthreshBytes = Math.max(this.ssthreshBytes, p.ssthresh);
    this.bytesAcked = p.bytesAcked;
    this.afterRto = p.afterRto;
    return true;
  }

  private save(): void {
    this.prior = { cwnd: this.cwndBytes, ssthresh: this.ssthreshBytes, bytesAcked: this.bytesAcked, afterRto: this.afterRto };
  }

  onIdle(_now: number): void {
    // RFC 5681 §4.1: cwnd = min(cwnd, RW) with RW = min(IW, cwnd).
    this.cwndBytes = Math.min(this.cwndBytes, initialWindow(this.mss, this.iwSegments));
    this.bytesAcked = 0;
    this.prior = undefined; // an undo must not bring back a window that went stale while idle
  }

  setMss(mss: number): void {
    checkMss(mss);
    if (mss === this.mss) return;
    this.cwndBytes = Math.max(mss, Math.round((this.cwndBytes / this.mss) * mss));
    if (Number.isFinite(this.ssthreshBytes)) this.ssthreshBytes = Math.max(2 * mss, Math.round((this.ssthreshBytes / this.mss) * mss));
    this.bytesAcked = Math.round((this.bytesAcked / this.mss) * mss);
    this.prior = undefined; // saved in the old SMSS
    this.mss = mss;
  }
}
