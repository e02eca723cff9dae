/**
 * TCP congestion control, pluggable. Read first: RFC 5681 (slow start, congestion avoidance, fast
 * recovery, the RTO response), RFC 3465 (appropriate byte counting), RFC 6928 (initial window),
 * RFC 6582 (NewReno, in newreno.ts), RFC 9438 (CUBIC, the default, in cubic.ts), RFC 7661 (cwnd
 * validation).
 *
 * What this module owns: `cwnd` and `ssthresh`, in bytes, and nothing else. It never sees a segment,
 * a sequence number or a clock of its own: the connection reports events with `now` (ms) and the
 * bytes in flight, and reads `cwnd` back. Every algorithm is sans-IO and deterministic.
 *
 * Theory of operation — who does what during loss recovery:
 *
 *   - `onCongestionEvent` (3 duplicate ACKs, or RFC 6675 loss detection with SACK) sets ssthresh
 *     from FlightSize (capped at cwnd) and sets cwnd = ssthresh. It does NOT inflate cwnd.
 *   - During recovery the connection owns the sending limit. With SACK it sends while RFC 6675's
 *     `pipe` < cwnd. Without SACK it applies RFC 5681 §3.2 / RFC 6582 window inflation itself, on top
 *     of `cwnd`: limit = cwnd + 3*SMSS at entry, + SMSS per further duplicate ACK, deflated by the
 *     bytes a partial ACK acknowledges. Keeping inflation out of the CC keeps one meaning for `cwnd`
 *     (what the algorithm believes the path holds) and lets both recovery styles share one CC.
 *   - `onAck` is called for ACKs of new data OUTSIDE recovery only; partial ACKs during recovery
 *     are the connection's business. `onRecoveryEnd` is called once, on the ACK that covers the
 *     recovery point (RFC 6582 §3.2 step 5), before any `onAck` for later data.
 *   - `onRto` is the RFC 5681 §3.1 timeout response (loss window, ssthresh from FlightSize). A second
 *     timeout with no new data acknowledged in between (the same segment timing out again) keeps
 *     ssthresh as it is, as RFC 5681 §3.1 asks after equation 4.
 *   - `undo` is the Eifel response (RFC 4015 §3, Linux's tcp_undo_cwnd_reduction): the connection
 *     found the last congestion event or RTO spurious (RFC 3522 / RFC 3708), so the window
 *     reduction is reverted. Each `onCongestionEvent` / `onRto` saves the controller's state before
 *     it reduces; `undo` restores it at most once. Deciding *whether* an episode was spurious and
 *     free of real losses is the connection's business.
 *
 * Cwnd validation (RFC 7661, as Linux's tcp_is_cwnd_limited): the window grows only when the ACKed
 * data was sent under a full window. An application-limited flow would otherwise grow cwnd without
 * ever testing it, then burst. `bytesInFlight` passed to `onAck` is the flight *after* the ACK has
 * been applied (sndNxt − sndUna); passing the flight before it only makes the check more permissive.
 * `validateCwnd: false` turns the check off.
 */
import { CubicCongestion } from "./cubic.ts";
import { NewRenoCongestion } from "./newreno.ts";

/** The algorithms `createCongestionControl` knows. */
export type CongestionAlgorithm = "newreno" | "cubic";

/**
 * Where the window is, for traces. NewReno reports slow start or congestion avoidance; CUBIC reports
 * which of its regions (RFC 9438 §4.3–§4.5) set the window on the last ACK.
 */
export type CongestionRegion = "slow-start" | "congestion-avoidance" | "reno-friendly" | "concave" | "convex";

/** The interface the connection drives. All windows in bytes, all times in ms. */
export interface CongestionControl {
  /** "newreno" or "cubic". */
  readonly name: CongestionAlgorithm;
  /** Congestion window, bytes (an integer). */
  readonly cwnd: number;
  /** Slow start threshold, bytes; Infinity until the first congestion event (RFC 5681 §3.1). */
  readonly ssthresh: number;
  /**
   * New data acknowledged outside recovery: `ackedBytes` newly acknowledged, `rttMs` the RTT the
   * caller wants used (srtt or min RTT; undefined keeps the last one), `bytesInFlight` after this
   * ACK. RFC 5681 §3.1 with RFC 3465 byte counting (L = 2*SMSS).
   */
  onAck(ackedBytes: number, now: number, rttMs: number | undefined, bytesInFlight: number): void;
  /** Entering fast recovery (3 duplicate ACKs, RFC 5681 §3.2, or SACK loss, RFC 6675 §5); FlightSize now. */
  onCongestionEvent(now: number, bytesInFlight: number): void;
  /** Recovery finished: the recovery point was acknowledged (RFC 6582 §3.2 step 5). */
  onRecoveryEnd(now: number, bytesInFlight: number): void;
  /** Retransmission timeout (RFC 5681 §3.1: ssthresh from FlightSize, cwnd = LW = 1 SMSS). */
  onRto(now: number, bytesInFlight: number): void;
  /**
   * The last `onCongestionEvent` / `onRto` was spurious (RFC 4015 §3): restore cwnd, ssthresh and the
   * algorithm's state saved before it, never lowering cwnd or ssthresh (as Linux's
   * tcp_undo_cwnd_reduction). Returns false (and changes nothing) when there is no saved state: no
   * event yet, or already undone.
   */
  undo(now: number): boolean;
  /** Restart after an idle period longer than the RTO (RFC 5681 §4.1): cwnd = min(cwnd, IW). */
  onIdle(now: number): void;
  /** The effective SMSS changed (MSS option, PMTU): windows keep their size in segments. */
  setMss(mss: number): void;
  /** The region that set the window last, for cwnd traces. */
  region(): CongestionRegion;
}

/** Options common to every algorithm. */
export interface CongestionOptions {
  /** SMSS in bytes (RFC 5681 §2). */
  mss: number;
  /** Initial window in segments; default 10 (RFC 6928, as Linux). */
  initialWindowSegments?: number;
  /** Grow cwnd only when the flow was cwnd-limited (RFC 7661); default true. */
  validateCwnd?: boolean;
}

/**
 * Initial window in segments. RFC 5681 §3.1 equation 1 allows 2–4 segments depending on SMSS;
 * RFC 6928 raised it to min(10*MSS, max(2*MSS, 14600)) bytes after measurements showed most web
 * responses fit in 10 segments. We follow Linux (TCP_INIT_CWND = 10 packets, since 2.6.39), which
 * counts segments rather than bytes; with a 1460-byte MSS both give 14600 bytes.
 */
export const DEFAULT_INITIAL_WINDOW_SEGMENTS = 10;

/** RFC 3465 §2.2: L, the most one ACK may grow cwnd in slow start, in segments. */
export const ABC_L_SEGMENTS = 2;

/** Builds the named algorithm. CUBIC is the stack's default (as Linux's since 2.6.19). */
export function createCongestionControl(name: CongestionAlgorithm, opts: CongestionOptions): CongestionControl {
  switch (name) {
    case "newreno":
      return new NewRenoCongestion(opts);
    case "cubic":
      return new CubicCongestion(opts);
    default:
      return assertNever(name);
  }
}

/** Throws RangeError for an impossible SMSS (misuse of the API, not something a peer sends). */
export function checkMss(mss: number): number {
  if (!Number.isInteger(mss) || mss <= 0) throw new RangeError(`congestion control: bad MSS ${mss}`);
  return mss;
}

/** Initial window in bytes: segments × SMSS (see DEFAULT_INITIAL_WINDOW_SEGMENTS). */
export function initialWindow(mss: number, segments: number = DEFAULT_INITIAL_WINDOW_SEGMENTS): number {
  if (!Number.isInteger(segments) || segments < 1) throw new RangeError(`congestion control: bad initial window ${segments}`);
  return segments * mss;
}

/** RFC 5681 §3.1 equation 4: ssthresh = max(FlightSize / 2, 2*SMSS). */
export function renoSsthresh(flightSize: number, mss: number): number {
  return Math.max(Math.floor(flightSize / 2), 2 * mss);
}

/**
 * Slow start (RFC 5681 §3.1) with appropriate byte counting (RFC 3465 §2.2): cwnd grows by the bytes
 * acknowledged, at most `limitSegments` SMSS per ACK, and stops at ssthresh (as Linux's
 * tcp_slow_start; the rest of that one ACK is not carried into congestion avoidance).
 */
export function slowStart(cwnd: number, ssthresh: number, ackedBytes: number, mss: number, limitSegments: number): number {
  const grown = cwnd + Math.min(ackedBytes, limitSegments * mss);
  return Math.max(cwnd, Math.min(grown, ssthresh));
}

/**
 * RFC 7661 / Linux tcp_is_cwnd_limited: was the data this ACK covers sent under a full window? In
 * slow start, half the window in use is enough (the window doubles each RTT, so the sender may not
 * have caught up yet); in congestion avoidance the flight must reach within one SMSS of cwnd.
 */
export function wasCwndLimited(cwnd: number, ackedBytes: number, bytesInFlight: number, mss: number, inSlowStart: boolean): boolean {
  const flightBefore = bytesInFlight + ackedBytes;
  return inSlowStart ? 2 * flightBefore >= cwnd : flightBefore + mss > cwnd;
}

/** Exhaustiveness guard for switches over literal unions. */
export function assertNever(x: never): never {
  throw new Error(`unexpected value ${String(x)}`);
}
