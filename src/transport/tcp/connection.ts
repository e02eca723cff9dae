/**
 * The TCP connection: one state machine per 4-tuple, sans-IO (STYLE.md §4–6).
 *
 * Read before editing: RFC 9293 §3.3.2 (states), §3.10 (event processing: the skeleton of
 * `processSegment`), §3.8 (retransmission, flow control, SWS, delayed ACK), RFC 5961 (blind in-window
 * attacks: challenge ACKs, ACK acceptability), RFC 7323 (window scale, timestamps, PAWS), RFC 2018 and
 * RFC 6675 (SACK, loss recovery with a scoreboard), RFC 5681 and RFC 6582 (fast retransmit, NewReno),
 * RFC 6298 (the retransmission timer), RFC 1122 §4.2.3.6 (keepalive), RFC 896 (Nagle).
 *
 * What it owns: the TCB (RFC 9293 §3.3.1 variables under their RFC names), the send buffer, the
 * receive buffer, the out-of-order queue, the SACK scoreboard, the RTT estimator and the congestion
 * controller, and every timer as a deadline (STYLE.md §5). What it never does: touch a clock, a
 * socket or a packet. The layer hands it parsed segments with `now`; it answers through `dispatch`
 * (segments to send, in order) and `nextDeadline`; it tells the application what happened through
 * `takeEvents`, after each transition has finished (no callbacks inside a transition).
 *
 * Theory of operation.
 *
 *   Sequence space on the send side:   iss | sndUna ........ sndNxt ...... sndMax | unsent ... | FIN
 *     - sndUna: oldest unacknowledged; the send buffer's offset 0 once the SYN is acknowledged.
 *     - sndNxt: next sequence number to send. Normally equal to sndMax; after a retransmission
 *       timeout it goes back to sndUna (go-back-N, RFC 5681 §3.1 with RFC 2018 §8: SACK information
 *       is discarded on a timeout) and walks forward again under the loss window.
 *     - sndMax: one past the highest sequence number ever sent; bare ACKs carry it as SEQ.
 *     - finSeq: the FIN's sequence number, fixed by `shutdown` (no writes are accepted afterwards).
 *   Receive side: rcvNxt, and rcvAdvEdge = the right edge of the window last advertised. The edge
 *   never moves left (RFC 9293 §3.8.6: no shrinking) and moves right only in steps large enough to
 *   avoid silly windows (§3.8.6.2.2).
 *
 *   Loss recovery has three modes:
 *     - none: new data goes out under min(cwnd, SND.WND) with Nagle and sender SWS rules; the first
 *       DupThresh − 1 duplicate ACKs each let one more segment out (Limited Transmit, RFC 3042,
 *       extended to the raised DupThresh as RFC 4653 §3.1 does).
 *     - fast recovery (DupThresh duplicate ACKs, or RFC 6675 IsLost with SACK): NewReno (RFC 6582)
 *       with window inflation kept here (`inflation`), or, when SACK was negotiated, RFC 6675's pipe
 *       and NextSeg. Ends on the ACK covering `recover` (RFC 6582 §3.2 step 5 / RFC 6675 §5). A
 *       retransmission of the head that is lost again is detected when DupThresh segments' worth of
 *       data sent after it is SACKed (Linux's tcp_mark_lost_retrans) and resent without waiting for
 *       the RTO.
 *     - after an RTO: go-back-N in slow start; `recover` = sndMax so that duplicate ACKs for data
 *       sent before the timeout do not start a fast retransmit (RFC 6582 §4.1).
 *
 *   DupThresh (`dupThresh()`): 3 (RFC 5681), raised to the reordering measured on this connection
 *   (`reordering`, as Linux's tp->reordering; RFC 4653 §3.2) when a fast retransmission proves
 *   spurious — the original's ACK echoes an older timestamp (Eifel detection, RFC 3522 §3.2) or a
 *   D-SACK reports the retransmission as a duplicate (RFC 3708 §3) — or when a cumulative ACK
 *   fills a hole that was neither retransmitted nor SACKed below SACKed data; capped at
 *   REORDERING_CAP segments. A D-SACK counts only while the retransmission's own ACK has not yet
 *   shown (by its echoed timestamp) that the retransmission filled the hole: after that, it
 *   reports a copy the network made (RFC 2883 §4.1 duplication), not reordering. DupThresh is
 *   lowered to oseg − 1 for a flight of 2–3 segments with nothing new to send (Early Retransmit,
 *   RFC 5827 §3), never once reordering was seen (§6).
 *   A tail loss probe (RFC 8985 §7, with SACK) fires 2·SRTT after the last send when nothing else
 *   would reveal a loss of the last segments before the RTO.
 *
 *   Timers (deadlines in ms, undefined = off): rto (SYN, data and FIN retransmission), persist
 *   (zero-window probes and the sender-SWS override), delayed ACK, keepalive, TIME-WAIT. `poll`
 *   fires the due ones; none ever stays in the past after `poll`.
 *
 * Where we follow Linux rather than the letter of an RFC, the line says so: the minimum RTO (rtt.ts),
 * zero-window and keepalive probes with SEQ = SND.UNA − 1 and no data, segments without timestamps
 * after timestamps were negotiated (accepted, not dropped), TIME-WAIT = 60 s, an orphaned
 * connection leaves FIN-WAIT-2 after 60 s (tcp_fin_timeout), reordered duplicate ACKs failing PAWS
 * are accepted (tcp_disordered_ack), ICMP errors in synchronized states are soft (RFC 5927 §4.1).
 */
import type { Random } from "../../time/random.ts";
import { WireError } from "../../wire/error.ts";
import {
  NO_TCP_OPTIONS,
  TCP_ACK,
  TCP_FIN,
  TCP_PSH,
  TCP_RST,
  TCP_SYN,
  tcpOptionSet,
  tcpTimestampOptions,
  tcpOptionsLikeLinux,
  type SackBlock,
  type TcpOption,
  type TcpOptionSet,
  type TcpRepr,
} from "../../wire/tcp.ts";
import { ReceiveBuffer, SendBuffer } from "./buffers.ts";
import { createCongestionControl, type CongestionAlgorithm, type CongestionControl } from "./congestion.ts";
import { RttEstimator, type RttOptions } from "./rtt.ts";
import type { IcmpErrorKind } from "../udp.ts";
import { OutOfOrderQueue, Scoreboard, DUP_THRESH } from "./sack.ts";
import { seqAdd, seqGe, seqGt, seqInRange, seqLe, seqLt, seqMax, seqMin, seqSub } from "./seq.ts";

/** RFC 9293 §3.3.2 states, in RFC spelling. */
export type TcpState =
  | "CLOSED"
  | "LISTEN"
  | "SYN-SENT"
  | "SYN-RECEIVED"
  | "ESTABLISHED"
  | "FIN-WAIT-1"
  | "FIN-WAIT-2"
  | "CLOSE-WAIT"
  | "CLOSING"
  | "LAST-ACK"
  | "TIME-WAIT";

/** Per-connection settings; every field has a default (see `DEFAULT_TCP_CONFIG`). */
export interface TcpConfig {
  /** MSS we advertise and the most we send: MTU − 40 (IPv4) or − 60 (IPv6). Default 1460 / 1440. */
  mss?: number;
  /** Send buffer, bytes. Default 256 KiB. */
  sendBufferSize?: number;
  /** Receive buffer, bytes; the advertised window is its free space. Default 256 KiB. */
  recvBufferSize?: number;
  /** Offer window scaling (RFC 7323 §2). Default true. */
  windowScale?: boolean;
  /** Offer timestamps and PAWS (RFC 7323 §3, §5). Default true. */
  timestamps?: boolean;
  /** Offer SACK (RFC 2018). Default true. */
  sack?: boolean;
  /** Congestion control algorithm. Default "cubic" (as Linux). */
  congestion?: CongestionAlgorithm;
  /** Disable Nagle (RFC 896). Default false. */
  noDelay?: boolean;
  /** Delayed ACK timeout, ms: Linux's 40 ms minimum; RFC 1122 §4.2.3.2 / RFC 9293 allow up to 500 / 200. */
  delayedAckMs?: number;
  /** TIME-WAIT duration (2×MSL), ms. Default 60 s, Linux's TCP_TIMEWAIT_LEN (MSL taken as 30 s). */
  timeWaitMs?: number;
  /**
   * How long a connection the application has `close`d may wait in FIN-WAIT-2 for the peer's FIN,
   * ms. Default 60 s, Linux's tcp_fin_timeout; RFC 9293 sets no bound, so an orphan would otherwise
   * live as long as the peer keeps its half open.
   */
  finWait2TimeoutMs?: number;
  /** Keepalive (RFC 1122 §4.2.3.6): off unless given. */
  keepalive?: { idleMs: number; intervalMs: number; count: number } | undefined;
  /** Give up after retransmitting for this long (RFC 9293 §3.8.3, R2). Default: by count, see `maxRetransmits`. */
  userTimeoutMs?: number;
  /** Consecutive retransmission timeouts before giving up: 15 like Linux's tcp_retries2. */
  maxRetransmits?: number;
  /** SYN / SYN-ACK retransmissions before giving up: 6 like Linux's tcp_syn_retries. */
  synRetries?: number;
  /** Bytes the out-of-order queue may hold. Default: the receive buffer size. */
  maxOutOfOrderBytes?: number;
  /**
   * Give up (ETIMEDOUT) when data has waited behind a closed window this long, even if the peer answers
   * every zero-window probe. Default 10 min; Infinity probes forever as RFC 9293 §3.8.6.1 (and Linux)
   * would — a DoS bound, since a peer can otherwise pin our send buffer indefinitely.
   */
  persistTimeoutMs?: number;
  /** RTO bounds (rtt.ts: initial 1 s, min 200 ms, max 120 s). */
  rto?: RttOptions;
  /** Initial congestion window in segments (RFC 6928, Linux: 10). */
  initialWindowSegments?: number;
  /**
   * TCP segmentation offload: new data may leave as one super-segment of up to this many payload
   * bytes (whole MSS-sized segments, cut by the device: device/types.ts `DeviceOffload`). Set by the
   * stack from its device; 0 or undefined: off. Congestion and loss accounting stay per MSS, and
   * retransmissions are always MSS-sized.
   */
  tsoMaxBytes?: number | undefined;
}

/** The defaults behind `TcpConfig` (MSS depends on the address family and is not listed). */
export const DEFAULT_TCP_CONFIG = {
  sendBufferSize: 256 * 1024,
  recvBufferSize: 256 * 1024,
  windowScale: true,
  timestamps: true,
  sack: true,
  congestion: "cubic",
  noDelay: false,
  delayedAckMs: 40,
  timeWaitMs: 60_000,
  finWait2TimeoutMs: 60_000,
  maxRetransmits: 15,
  synRetries: 6,
  persistTimeoutMs: 600_000,
} as const;

/** One end of a connection. IPv4 addresses are numbers, IPv6 addresses 16 bytes. */
export interface Endpoint {
  readonly family: 4 | 6;
  readonly address: number | Uint8Array;
  readonly port: number;
}

/** A segment the connection asks the layer to send; ports and checksum are the layer's. */
export interface SegmentOut {
  readonly seq: number;
  readonly ack: number;
  /** `TCP_*` bits. */
  readonly flags: number;
  /** The Window field as it goes on the wire (already shifted by our window scale). */
  readonly window: number;
  readonly options: readonly TcpOption[];
  /** A view into the send buffer; the layer copies it once into the packet before the next ACK. */
  readonly payload: Uint8Array;
  /**
   * Set on a super-segment (`TcpConfig.tsoMaxBytes`): the payload is more than one segment and the
   * device cuts it into segments of this many bytes (every one full but the last).
   */
  readonly segmentSize?: number | undefined;
}

/** What happened, for the socket API; delivered by `takeEvents` in order. */
export type TcpEvent =
  | { readonly kind: "connected" }
  | { readonly kind: "readable" }
  | { readonly kind: "writable" }
  /** The peer's FIN, after all data before it. */
  | { readonly kind: "end" }
  | { readonly kind: "closed" }
  | { readonly kind: "error"; readonly code: TcpErrorCode; readonly message: string };

/** Errors a connection reports, named like Node's. */
export type TcpErrorCode = "ECONNREFUSED" | "ECONNRESET" | "ETIMEDOUT" | "EPIPE";

/** Counters and estimates, for the API and for traces. */
export interface TcpStats {
  state: TcpState;
  cwnd: number;
  ssthresh: number;
  srtt: number | undefined;
  rttvar: number | undefined;
  rto: number;
  mss: number;
  sndWnd: number;
  rcvWnd: number;
  bytesIn: number;
  bytesOut: number;
  segmentsIn: number;
  segmentsOut: number;
  retransmits: number;
  fastRetransmits: number;
  timeouts: number;
  sackedBytes: number;
  dupAcks: number;
  outOfOrderSegments: number;
  zeroWindowProbes: number;
  keepaliveProbes: number;
  challengeAcks: number;
  pawsDrops: number;
  badAcks: number;
  /** Fast retransmissions or RTOs found unnecessary (RFC 3522 §3.2 timestamps, RFC 3708 D-SACK). */
  spuriousRetransmits: number;
  /** Spurious episodes whose window reduction was undone (RFC 4015 §3, Linux's TCPFullUndo / TCPLossUndo). */
  undos: number;
  /** Retransmissions found lost again during SACK recovery and resent before the RTO. */
  lostRetransmits: number;
  /** Tail loss probes sent (RFC 8985 §7). */
  tailLossProbes: number;
  /** Reordered duplicate ACKs accepted despite an old timestamp (Linux's tcp_disordered_ack). */
  disorderedAcks: number;
  /** The DupThresh in use, segments: 3, or the reordering measured (RFC 4653 §3.2). */
  reordering: number;
}

/**
 * An ICMP error quoting one of our segments, as the layer hands it over (RFC 1122 §4.2.3.9,
 * RFC 5927). `mtu`: the next-hop MTU of a fragmentation-needed / packet-too-big error (RFC 1191 §4,
 * RFC 8201 §4). `quotedSeq`: the SEQ of the quoted segment, when the quote holds it.
 */
export interface TcpIcmpError {
  readonly kind: IcmpErrorKind;
  readonly mtu?: number | undefined;
  readonly quotedSeq?: number | undefined;
}

/** One point of a cwnd/RTT trace. */
export interface TcpTraceSample {
  t: number;
  cwnd: number;
  ssthresh: number;
  srtt: number;
  inFlight: number;
}

/** RFC 9293 §3.7.1: the MSS assumed when the peer sends none: 536 (IPv4), 1220 (IPv6, RFC 8200 §8.3). */
const DEFAULT_PEER_MSS = { 4: 536, 6: 1220 } as const;
/** Linux's tcp_min_snd_mss: a peer advertising less cannot make us cut tiny segments. */
const MIN_PEER_MSS = 48;
/** NOP NOP TS: what timestamps cost in every segment (RFC 7323 Appendix A layout). */
const TIMESTAMP_OPTION_LEN = 12;
/** RFC 7323 §2.3: the largest shift. */
const MAX_WINDOW_SHIFT = 14;
/** RFC 7323 §5.5: TS.Recent is invalid after 24 days idle. */
const PAWS_IDLE_MS = 24 * 24 * 3600 * 1000;
/** RFC 5961 §7: challenge ACKs per second per connection (Linux: 1000/s per host, randomized). */
const CHALLENGE_ACK_LIMIT = 100;
/** Bounds one `dispatch` call: far more segments than any window holds. */
const MAX_SEGMENTS_PER_DISPATCH = 65536;
/** The largest DupThresh reordering may raise (Linux's tcp_max_reordering). */
const MAX_REORDERING = 300;
/**
 * The most reordering DupThresh waits for (`cappedReordering`), segments. Measured (20 MB, 10 ms
 * delay, 1% loss, 5% reordering by 2 ms, 1% duplication, 0.5% corruption): 8 gave 1–4 RTOs per
 * transfer, 16 gave 4–15, 32 gave up to 56. A flight/4 bound fell short under 25% reordering.
 */
const REORDERING_CAP = 8;
/** RFC 8985 §7.2 WCDelAckT: the worst-case delayed ACK a PTO for a single segment waits out. */
const WC_DEL_ACK_MS = 200;
/** The least PTO (Linux's tcp_pto_min: 10 ms). */
const TLP_MIN_MS = 10;
/** Retransmissions tracked for lost-retransmission detection. */
const MAX_RXT_MARKS = 64;
/** RFC 1191 §3 / RFC 8201 §5.1: the least MTU a packet-too-big message may lower the path to. */
const MIN_PMTU = { 4: 576, 6: 1280 } as const;
/** IP + TCP headers without options: MSS = MTU − this. */
const IP_TCP_HEADERS = { 4: 40, 6: 60 } as const;

const SYNCHRONIZED: ReadonlySet<TcpState> = new Set<TcpState>([
  "ESTABLISHED",
  "FIN-WAIT-1",
  "FIN-WAIT-2",
  "CLOSE-WAIT",
  "CLOSING",
  "LAST-ACK",
  "TIME-WAIT",
]);

/** The arguments of `TcpConnection`'s constructor. */
export interface TcpConnectionArgs {
  local: Endpoint;
  remote: Endpoint;
  /** Initial send sequence number (RFC 6528, chosen by the layer: isn.ts). */
  iss: number;
  config: TcpConfig;
  /** Per-connection randomness (the timestamp offset, unless `tsOffset` is given). */
  random: Random;
  now: number;
  /**
   * The TSval clock offset (RFC 7323 §5.4). The layer gives it (a keyed hash of the addresses, as
   * Linux's secure_tcp_ts_off) so that a connection completed from a SYN cookie keeps the clock of the
   * cookie SYN-ACK; without it the offset is drawn from `random`.
   */
  tsOffset?: number | undefined;
}

/** What a SYN cookie carried (cookies.ts decodes it; `acceptCookie` uses it). */
export interface CookieSynInfo {
  /** The peer's ISN. */
  irs: number;
  peerMss: number;
  /** The peer's window scale shift, when it offered one. */
  windowScale?: number | undefined;
  sackPermitted: boolean;
  /** Whether the peer uses timestamps (they then ride on the ACK). */
  timestamps: boolean;
}

/** What `takeEvents` returns when there is nothing to report. */
const NO_EVENTS: readonly TcpEvent[] = Object.freeze([]);

/** A TCP connection (see the module comment). */
export class TcpConnection {
  readonly local: Endpoint;
  readonly remote: Endpoint;
  /** Called after every change of cwnd (when set): for CSV/SVG traces. */
  onTrace: ((sample: TcpTraceSample) => void) | undefined = undefined;

  private st: TcpState = "CLOSED";
  private passive = false;

  // RFC 9293 §3.3.1 send sequence variables.
  readonly iss: number;
  private sndUna: number;
  private sndNxt: number;
  private sndMax: number;
  private sndWnd = 0;
  private sndWl1 = 0;
  private sndWl2 = 0;
  private maxSndWnd = 0;
  /** The peer's window scale (applied to its Window field). */
  private sndWs = 0;
  // Receive sequence variables.
  private irs = 0;
  private rcvNxt = 0;
  private rcvAdvEdge = 0;
  /** Our window scale (applied to our Window field). */
  private rcvWs = 0;
  private readonly ourWs: number;

  // Negotiated options.
  private readonly ourMss: number;
  private peerMss: number;
  private effMss: number;
  /** `TcpConfig.tsoMaxBytes`, 0 when off. */
  private readonly tsoMaxBytes: number;
  private wsOk = false;
  private tsOk = false;
  private sackOk = false;
  private readonly tsOffset: number;
  private tsRecent = 0;
  private tsRecentAt = 0;
  private lastAckSent = 0;

  private readonly cfg: Required<Omit<TcpConfig, "keepalive" | "userTimeoutMs" | "rto" | "initialWindowSegments" | "tsoMaxBytes">>;
  private readonly userTimeoutMs: number | undefined;
  private keepalive: { idleMs: number; intervalMs: number; count: number } | undefined;
  private noDelay: boolean;

  private readonly sendBuf: SendBuffer;
  private readonly recvBuf: ReceiveBuffer;
  private readonly ooo: OutOfOrderQueue;
  private readonly scoreboard = new Scoreboard();
  private readonly rtt: RttEstimator;
  private readonly cc: CongestionControl;

  // FIN bookkeeping.
  private finQueued = false;
  private finSeq = 0;
  private finSent = false;
  private rcvFinSeq: number | undefined;
  private endSeen = false;

  // Timers (deadlines, ms).
  private rtoAt: number | undefined;
  private persistAt: number | undefined;
  private delAckAt: number | undefined;
  private keepaliveAt: number | undefined;
  private timeWaitAt: number | undefined;
  /** Tail loss probe (RFC 8985 §7.2). */
  private ptoAt: number | undefined;
  /** FIN-WAIT-2 bound of an orphaned connection (`finWait2TimeoutMs`). */
  private finWait2At: number | undefined;

  // Pending output.
  private synPending = false;
  private ackNow = false;
  private rstPending: { seq: number; ack: number; flags: number } | undefined;
  private retransmitHeadPending = false;
  private persistProbePending = false;
  private keepaliveProbePending = false;
  private tlpPending = false;
  /** The application closed the connection and will not read again (`close`). */
  private orphaned = false;
  /** PMTU discovery's MSS cap (RFC 1191 / RFC 8201), before option bytes. */
  private pmtuMss: number | undefined;
  /** The last soft ICMP error (RFC 1122 §4.2.3.9: reported if the connection then times out). */
  private softError: string | undefined;

  // Loss recovery.
  private inRecovery = false;
  private recover: number;
  private recoverFromRto = false;
  private highRxt: number;
  private dupAcks = 0;
  private inflation = 0;
  private firstPartialAck = true;
  /** DupThresh as reordering allows (RFC 4653 §3.2, Linux's tp->reordering), in segments. */
  private reordering = DUP_THRESH;
  /**
   * The last fast retransmission (or RTO) of SND.UNA, for spurious-retransmission detection:
   * `tsVal` for Eifel (RFC 3522 §3.2, until the first ACK beyond `seq`), D-SACK otherwise
   * (RFC 3708). `degree`: segments known to have arrived above `seq` when it was declared lost.
   * `rxtBase`: `counters.retransmits` when the episode began; `undoable`: no other reduction
   * since (see `undoEpisode`).
   */
  private rxtEpisode:
    | { seq: number; tsVal: number | undefined; degree: number; rto: boolean; eifelOpen: boolean; judged: boolean; rxtBase: number; undoable: boolean }
    | undefined;
  /** Retransmissions during SACK recovery, oldest first: [seq, SND.MAX when sent]. */
  private readonly rxtMarks: { seq: number; sndMaxAt: number }[] = [];
  /** RFC 8985 §7.3 TLP.end_seq of an outstanding retransmitted probe, else undefined. */
  private tlpEnd: number | undefined;
  private tlpStart = 0;
  /** A probe was sent and its episode is not over: no second PTO (RFC 8985 §7.2). */
  private tlpOutstanding = false;
  private retries = 0;
  private firstRtoAt: number | undefined;
  private synRetriesDone = 0;
  private persistBackoff = 0;
  /** When data began waiting behind the peer's window (persist timer first armed), for `persistTimeoutMs`. */
  private persistSince: number | undefined;
  private probesUnanswered = 0;
  private keepaliveSent = 0;

  // RTT timing without timestamps (Karn's rule: one timed segment, discarded on retransmission).
  private rttSeq: number | undefined;
  private rttStart = 0;

  // Receive-side ACK policy.
  private rcvUnacked = 0;
  private rcvMss: number;
  private lastSendAt: number;
  private lastRecvAt: number;
  private challengeWindowStart = 0;
  private challengeCount = 0;

  private writeBlocked = false;
  private events: TcpEvent[] = [];
  private readablePending = false;

  private readonly counters = {
    bytesIn: 0,
    bytesOut: 0,
    segmentsIn: 0,
    segmentsOut: 0,
    retransmits: 0,
    fastRetransmits: 0,
    timeouts: 0,
    sackedBytes: 0,
    dupAcks: 0,
    outOfOrderSegments: 0,
    zeroWindowProbes: 0,
    keepaliveProbes: 0,
    challengeAcks: 0,
    pawsDrops: 0,
    badAcks: 0,
    spuriousRetransmits: 0,
    undos: 0,
    lostRetransmits: 0,
    tailLossProbes: 0,
    disorderedAcks: 0,
  };

  constructor(args: TcpConnectionArgs) {
    this.local = args.local;
    this.remote = args.remote;
    this.iss = args.iss >>> 0;
    this.sndUna = this.iss;
    this.sndNxt = this.iss;
    this.sndMax = this.iss;
    this.recover = this.iss;
    this.highRxt = this.iss;
    const c = args.config;
    const family = args.local.family;
    this.cfg = {
      mss: c.mss ?? (family === 4 ? 1460 : 1440),
      sendBufferSize: c.sendBufferSize ?? DEFAULT_TCP_CONFIG.sendBufferSize,
      recvBufferSize: c.recvBufferSize ?? DEFAULT_TCP_CONFIG.recvBufferSize,
      windowScale: c.windowScale ?? DEFAULT_TCP_CONFIG.windowScale,
      timestamps: c.timestamps ?? DEFAULT_TCP_CONFIG.timestamps,
      sack: c.sack ?? DEFAULT_TCP_CONFIG.sack,
      congestion: c.congestion ?? DEFAULT_TCP_CONFIG.congestion,
      noDelay: c.noDelay ?? DEFAULT_TCP_CONFIG.noDelay,
      delayedAckMs: Math.min(c.delayedAckMs ?? DEFAULT_TCP_CONFIG.delayedAckMs, 200),
      timeWaitMs: c.timeWaitMs ?? DEFAULT_TCP_CONFIG.timeWaitMs,
      finWait2TimeoutMs: c.finWait2TimeoutMs ?? DEFAULT_TCP_CONFIG.finWait2TimeoutMs,
      maxRetransmits: c.maxRetransmits ?? DEFAULT_TCP_CONFIG.maxRetransmits,
      synRetries: c.synRetries ?? DEFAULT_TCP_CONFIG.synRetries,
      maxOutOfOrderBytes: c.maxOutOfOrderBytes ?? c.recvBufferSize ?? DEFAULT_TCP_CONFIG.recvBufferSize,
      persistTimeoutMs: c.persistTimeoutMs ?? DEFAULT_TCP_CONFIG.persistTimeoutMs,
    };
    if (!Number.isInteger(this.cfg.mss) || this.cfg.mss < 64 || this.cfg.mss > 65495) {
      throw new RangeError(`TcpConnection: bad MSS ${this.cfg.mss}`);
    }
    this.userTimeoutMs = c.userTimeoutMs;
    this.tsoMaxBytes = c.tsoMaxBytes !== undefined && c.tsoMaxBytes > 0 ? Math.min(c.tsoMaxBytes, 0xffff) : 0;
    this.keepalive = c.keepalive;
    this.noDelay = this.cfg.noDelay;
    this.ourMss = this.cfg.mss;
    this.peerMss = DEFAULT_PEER_MSS[family];
    this.effMss = Math.min(this.peerMss, this.ourMss);
    this.rcvMss = Math.min(536, this.ourMss);
    this.sendBuf = new SendBuffer(this.cfg.sendBufferSize);
    this.recvBuf = new ReceiveBuffer(this.cfg.recvBufferSize);
    this.ooo = new OutOfOrderQueue(this.cfg.maxOutOfOrderBytes);
    this.rtt = new RttEstimator(c.rto);
    this.cc = createCongestionControl(this.cfg.congestion, {
      mss: this.effMss,
      ...(c.initialWindowSegments !== undefined ? { initialWindowSegments: c.initialWindowSegments } : {}),
    });
    // RFC 7323 §2.3: the smallest shift that lets the whole receive buffer be advertised.
    let ws = 0;
    while (ws < MAX_WINDOW_SHIFT && this.cfg.recvBufferSize >>> ws > 0xffff) ws++;
    this.ourWs = ws;
    // RFC 7323 §5.4 / RFC 9293: a per-connection timestamp offset, as Linux does.
    this.tsOffset = args.tsOffset !== undefined ? args.tsOffset >>> 0 : args.random.nextU32();
    this.lastSendAt = args.now;
    this.lastRecvAt = args.now;
  }

  /** The RFC 9293 state. */
  get state(): TcpState {
    return this.st;
  }

  // ---------------------------------------------------------------------------------------------
  // Opening

  /** Active OPEN (RFC 9293 §3.10.1): SYN-SENT, the SYN goes out at the next `dispatch`. */
  connect(now: number): void {
    if (this.st !== "CLOSED") throw new Error(`TcpConnection.connect in ${this.st}`);
    this.st = "SYN-SENT";
    this.sndNxt = seqAdd(this.iss, 1);
    this.sndMax = this.sndNxt;
    this.synPending = true;
    this.rtoAt = now + this.rtt.rto;
  }

  /**
   * Passive OPEN from LISTEN (RFC 9293 §3.10.7.2): the listener hands over the SYN; the connection
   * enters SYN-RECEIVED and the SYN-ACK goes out at the next `dispatch`.
   */
  acceptSyn(syn: TcpRepr, now: number): void {
    if (this.st !== "CLOSED") throw new Error(`TcpConnection.acceptSyn in ${this.st}`);
    this.passive = true;
    this.st = "SYN-RECEIVED";
    this.irs = syn.seq;
    this.rcvNxt = seqAdd(syn.seq, 1);
    this.negotiate(optionsOf(syn), true, now);
    // RFC 7323 §2.2: the window of a SYN is never scaled.
    this.sndWnd = syn.window;
    this.maxSndWnd = this.sndWnd;
    this.sndWl1 = syn.seq;
    this.sndWl2 = this.iss;
    this.sndNxt = seqAdd(this.iss, 1);
    this.sndMax = this.sndNxt;
    this.synPending = true;
    this.rtoAt = now + this.rtt.rto;
  }

  /**
   * Completes a passive open from a valid SYN cookie (RFC 4987 §3.6): the listener kept no state,
   * so the SYN's options come from the cookie, and `ack` (the segment that carried the cookie) is
   * processed as the ACK of our SYN-ACK. `iss` given at construction must be the cookie.
   */
  acceptCookie(info: CookieSynInfo, ack: TcpRepr, now: number): void {
    if (this.st !== "CLOSED") throw new Error(`TcpConnection.acceptCookie in ${this.st}`);
    this.passive = true;
    this.st = "SYN-RECEIVED";
    this.irs = info.irs >>> 0;
    this.rcvNxt = seqAdd(this.irs, 1);
    // The listener's SYN-ACK advertised at most this (unscaled, RFC 7323 §2.2).
    this.rcvAdvEdge = seqAdd(this.rcvNxt, Math.min(this.recvBuf.window(), 0xffff));
    const set: TcpOptionSet = {
      mss: info.peerMss,
      windowScale: info.windowScale,
      sackPermitted: info.sackPermitted,
      timestamps: undefined,
    };
    this.negotiate(set, true, now);
    const ts = optionsOf(ack).timestamps;
    if (info.timestamps && this.cfg.timestamps && ts !== undefined) {
      this.tsOk = true;
      this.tsRecent = ts.tsVal;
      this.tsRecentAt = now;
      this.effMss = Math.max(1, Math.min(this.peerMss, this.ourMss, this.pmtuMss ?? Infinity) - TIMESTAMP_OPTION_LEN);
      this.cc.setMss(this.effMss);
    }
    this.sndNxt = seqAdd(this.iss, 1);
    this.sndMax = this.sndNxt;
    this.sndWl1 = this.irs;
    this.processSegment(ack, now);
  }

  // ---------------------------------------------------------------------------------------------
  // Input

  /** Processes one arriving segment (RFC 9293 §3.10.7.3 SYN-SENT, §3.10.7.4 the others). */
  processSegment(seg: TcpRepr, now: number): void {
    this.counters.segmentsIn++;
    switch (this.st) {
      case "CLOSED":
      case "LISTEN":
        // §3.10.7.1/.2 belong to the layer and the listener.
        return;
      case "SYN-SENT":
        this.processSynSent(seg, now);
        break;
      case "SYN-RECEIVED":
      case "ESTABLISHED":
      case "FIN-WAIT-1":
      case "FIN-WAIT-2":
      case "CLOSE-WAIT":
      case "CLOSING":
      case "LAST-ACK":
      case "TIME-WAIT":
        this.processOther(seg, now);
        break;
      default:
        assertNever(this.st);
    }
    if (this.readablePending) {
      this.readablePending = false;
      this.events.push({ kind: "readable" });
    }
  }

  /** RFC 9293 §3.10.7.3. */
  private processSynSent(seg: TcpRepr, now: number): void {
    const f = seg.flags;
    // First: the ACK bit.
    if (f & TCP_ACK) {
      if (seqLe(seg.ack, this.iss) || seqGt(seg.ack, this.sndMax)) {
        if (!(f & TCP_RST)) this.rstPending = { seq: seg.ack, ack: 0, flags: TCP_RST };
        this.counters.badAcks++;
        return;
      }
    }
    // Second: RST. RFC 5961 §3.2 adds nothing here: an acceptable ACK is already required.
    if (f & TCP_RST) {
      if (f & TCP_ACK) this.fail("ECONNREFUSED", "connection refused by the peer (RST in SYN-SENT)");
      return;
    }
    // Fourth: SYN.
    if (!(f & TCP_SYN)) return;
    this.irs = seg.seq;
    this.rcvNxt = seqAdd(seg.seq, 1);
    // The window our SYN advertised (unscaled, RFC 7323 §2.2), now anchored at RCV.NXT.
    this.rcvAdvEdge = seqAdd(this.rcvNxt, Math.min(this.recvBuf.window(), 0xffff));
    this.negotiate(optionsOf(seg), false, now);
    if (f & TCP_ACK) {
      this.ackAdvance(seg, now);
      this.rtoAt = undefined; // RFC 6298 §5.2: nothing outstanding
      this.rtt.resetBackoff();
      // RFC 7323 §2.2: the window of a SYN is never scaled.
      this.sndWnd = seg.window;
      this.maxSndWnd = Math.max(this.maxSndWnd, this.sndWnd);
      this.sndWl1 = seg.seq;
      this.sndWl2 = seg.ack;
      this.setEstablished();
      // "form an ACK segment <SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK> and send it" (a data segment may carry it).
      this.ackNow = true;
      // Data on a SYN-ACK is not taken (no TCP Fast Open): not acknowledged, the peer sends it again.
      return;
    }
    // Simultaneous open (RFC 9293 §3.5 Figure 8): SYN-RECEIVED, send SYN,ACK.
    this.st = "SYN-RECEIVED";
    this.sndWnd = seg.window;
    this.maxSndWnd = Math.max(this.maxSndWnd, this.sndWnd);
    this.sndWl1 = seg.seq;
    this.sndWl2 = this.iss;
    this.synPending = true;
    this.rttSeq = undefined;
  }

  /** RFC 9293 §3.10.7.4, for SYN-RECEIVED and the synchronized states. */
  private processOther(seg: TcpRepr, now: number): void {
    // Simultaneous open (RFC 9293 §3.5 Figure 8, line 7): the peer's SYN,ACK repeats the SYN we
    // already hold; only its new part, the ACK, is processed (as Linux's tcp_validate_incoming).
    if (this.st === "SYN-RECEIVED" && !this.passive && seg.flags & TCP_SYN && seg.flags & TCP_ACK && seg.seq === this.irs) {
      seg = { ...seg, seq: this.rcvNxt, flags: seg.flags & ~TCP_SYN, payload: seg.payload.subarray(seg.payload.length) };
    }
    this.lastRecvAt = now;
    const f = seg.flags;
    const opts = optionsOf(seg);
    const ts = opts.timestamps;

    // RFC 7323 §5.3 R1: PAWS, before the sequence number check.
    if (this.tsOk && ts !== undefined && !(f & TCP_RST)) {
      if (now - this.tsRecentAt > PAWS_IDLE_MS) this.tsRecent = ts.tsVal; // §5.5: TS.Recent too old to trust
      else if (((ts.tsVal - this.tsRecent) | 0) < 0) {
        if (!this.isDisorderedAck(seg, ts.tsVal)) {
          this.counters.pawsDrops++;
          this.ackNow = true;
          return;
        }
        this.counters.disorderedAcks++;
      }
    }

    // SYN-RECEIVED: a retransmitted SYN means our SYN-ACK was lost.
    if (this.st === "SYN-RECEIVED" && f & TCP_SYN && !(f & TCP_ACK) && seg.seq === this.irs) {
      this.synPending = true;
      return;
    }

    // TIME-WAIT: a retransmitted FIN is re-acknowledged and restarts the 2 MSL wait (§3.10.7.4, eighth).
    if (this.st === "TIME-WAIT" && f & TCP_FIN && !(f & TCP_RST) && seqAdd(seg.seq, seg.payload.length + 1) === this.rcvNxt) {
      this.ackNow = true;
      this.timeWaitAt = now + this.cfg.timeWaitMs;
      return;
    }

    // First: sequence number acceptability (the table of §3.10.7.4).
    const synLen = f & TCP_SYN ? 1 : 0;
    const finLen = f & TCP_FIN ? 1 : 0;
    const segLen = seg.payload.length + synLen + finLen;
    const rcvWnd = this.rcvWnd();
    let acceptable: boolean;
    let zeroWindowAllowance = false;
    if (segLen === 0) {
      acceptable = rcvWnd === 0 ? seg.seq === this.rcvNxt : seqInRange(seg.seq, this.rcvNxt, seqAdd(this.rcvNxt, rcvWnd));
    } else if (rcvWnd === 0) {
      // "special allowance should be made to accept valid ACKs, URGs, and RSTs": the text is
      // trimmed below but the ACK field is still processed.
      acceptable = seg.seq === this.rcvNxt;
      zeroWindowAllowance = acceptable;
    } else {
      const end = seqAdd(this.rcvNxt, rcvWnd);
      acceptable = seqInRange(seg.seq, this.rcvNxt, end) || seqInRange(seqAdd(seg.seq, segLen - 1), this.rcvNxt, end);
    }
    if (!acceptable) {
      if (!(f & TCP_RST)) this.ackNow = true;
      return;
    }

    // RFC 7323 §4.3: TS.Recent follows the segment that the last ACK we sent asked for.
    if (this.tsOk && ts !== undefined && seqLe(seg.seq, this.lastAckSent) && ((ts.tsVal - this.tsRecent) | 0) >= 0) {
      this.tsRecent = ts.tsVal;
      this.tsRecentAt = now;
    }

    // Second: RST (RFC 5961 §3.2: only the exact RCV.NXT resets; else a challenge ACK).
    if (f & TCP_RST) {
      if (seg.seq !== this.rcvNxt) {
        this.challengeAck(now);
        return;
      }
      this.processReset();
      return;
    }

    // Fourth: SYN in a synchronized state (RFC 5961 §4: challenge ACK, irrespective of SEQ).
    if (f & TCP_SYN) {
      if (this.st === "SYN-RECEIVED" && this.passive) {
        // RFC 9293: "return this connection to the LISTEN state"; the listener still listens.
        this.closeQuietly();
        return;
      }
      this.challengeAck(now);
      return;
    }

    // Fifth: the ACK field.
    if (!(f & TCP_ACK)) return;
    // RFC 5961 §5.2: SND.UNA − MAX.SND.WND ≤ SEG.ACK ≤ SND.NXT, else ACK and drop.
    const ackTooNew = seqGt(seg.ack, this.sndMax);
    const ackTooOld = seqLt(seg.ack, seqAdd(this.sndUna, -Math.max(this.maxSndWnd, 1)));
    if (this.st === "SYN-RECEIVED") {
      if (seqLe(seg.ack, this.sndUna) || ackTooNew) {
        this.counters.badAcks++;
        this.rstPending = { seq: seg.ack, ack: 0, flags: TCP_RST };
        return;
      }
      this.setEstablished();
      this.sndWnd = seg.window << this.sndWs;
      this.maxSndWnd = Math.max(this.maxSndWnd, this.sndWnd);
      this.sndWl1 = seg.seq;
      this.sndWl2 = seg.ack;
    } else if (ackTooNew || ackTooOld) {
      this.counters.badAcks++;
      this.ackNow = true;
      return;
    }
    this.keepaliveSent = 0;
    this.probesUnanswered = 0;
    if (this.keepalive !== undefined && (this.st === "ESTABLISHED" || this.st === "CLOSE-WAIT")) {
      this.keepaliveAt = now + this.keepalive.idleMs;
    }
    this.processAck(seg, opts, now);
    if (this.st === "CLOSED") return;
    if (this.st === "TIME-WAIT") {
      // Only a retransmitted FIN is expected here (handled above); anything else is dropped.
      return;
    }

    // Seventh: segment text (ESTABLISHED, FIN-WAIT-1, FIN-WAIT-2 only).
    let payload = seg.payload;
    let seq = seg.seq;
    let fin = finLen === 1;
    if (zeroWindowAllowance) {
      if (payload.length > 0 || fin) this.ackNow = true;
      payload = payload.subarray(0, 0);
      fin = false;
    }
    if (seqLt(seq, this.rcvNxt)) {
      const cut = seqSub(this.rcvNxt, seq);
      if (cut > payload.length) fin = false;
      payload = payload.subarray(Math.min(cut, payload.length));
      seq = this.rcvNxt;
      this.ackNow = true; // part of it was a duplicate: tell the peer where we are
    }
    const winEnd = seqAdd(this.rcvNxt, rcvWnd);
    if (seqGt(seqAdd(seq, payload.length), winEnd)) {
      payload = payload.subarray(0, Math.max(0, seqSub(winEnd, seq)));
      fin = false;
      this.ackNow = true;
    }
    const receiving = this.st === "ESTABLISHED" || this.st === "FIN-WAIT-1" || this.st === "FIN-WAIT-2";
    if (receiving && payload.length > 0) this.receiveText(seq, payload, now);

    // Eighth: FIN.
    if (fin && receiving) {
      const fs = seqAdd(seq, payload.length);
      if (fs === this.rcvNxt) this.receiveFin(now);
      else if (seqGt(fs, this.rcvNxt)) this.rcvFinSeq = fs;
    }
  }

  /** The ACK field of an acceptable segment in a synchronized state (§3.10.7.4, fifth). */
  private processAck(seg: TcpRepr, opts: TcpOptionSet, now: number): void {
    const ack = seg.ack;
    const acked = seqSub(ack, this.sndUna);
    const wnd = seg.window << this.sndWs;
    const windowChanged = wnd !== this.sndWnd;
    const prevUna = this.sndUna;
    const highSackBefore = this.scoreboard.highSackEnd;
    // Judged against the scoreboard before this ACK's blocks: was the data it covers SACKed already?
    const late = acked > 0 && highSackBefore !== undefined ? this.firstLateByte(prevUna, ack, highSackBefore) : undefined;

    let newlySacked = 0;
    if (this.sackOk && opts.sack !== undefined) {
      newlySacked = this.scoreboard.update(opts.sack, seqMax(ack, this.sndUna), this.sndMax);
      this.counters.sackedBytes += newlySacked;
    } else if (acked > 0) {
      this.scoreboard.update(undefined, ack, this.sndMax);
    }

    if (late !== undefined && highSackBefore !== undefined) this.measureReordering(late, highSackBefore);
    this.detectSpurious(ack, acked, opts, now);
    const dataAcked = acked > 0 ? this.ackAdvance(seg, now) : 0;
    if (this.tlpEnd !== undefined) this.tlpEpisode(ack, now);

    // Window update rule (RFC 9293 §3.10.7.4: SND.WL1 / SND.WL2 guard against old segments).
    if (seqGe(ack, prevUna) && (seqLt(this.sndWl1, seg.seq) || (this.sndWl1 === seg.seq && seqLe(this.sndWl2, ack)))) {
      const wasZero = this.sndWnd === 0;
      this.sndWnd = wnd;
      this.sndWl1 = seg.seq;
      this.sndWl2 = ack;
      if (wnd > this.maxSndWnd) this.maxSndWnd = wnd;
      if (wasZero && wnd > 0) {
        this.persistAt = undefined;
        this.persistBackoff = 0;
        this.persistSince = undefined;
      }
    }

    if (acked > 0) {
      this.afterNewAck(dataAcked, now);
    } else if (acked === 0 && this.sndMax !== this.sndUna) {
      // RFC 5681 §2 duplicate ACK; with SACK, RFC 6675 §2 wants it to SACK new data.
      const plainDup = seg.payload.length === 0 && !(seg.flags & (TCP_SYN | TCP_FIN)) && !windowChanged;
      const isDup = this.sackOk ? plainDup || newlySacked > 0 : plainDup;
      if (isDup) this.onDupAck(now);
    }
    if (this.inRecovery && this.sackOk && this.rxtMarks.length > 0) this.detectLostRetransmission();

    // FIN acknowledged? (§3.10.7.4 fifth, per state.)
    const finAcked = this.finSent && seqGt(this.sndUna, this.finSeq);
    switch (this.st) {
      case "FIN-WAIT-1":
        if (finAcked) {
          this.st = "FIN-WAIT-2";
          if (this.orphaned) this.finWait2At = now + this.cfg.finWait2TimeoutMs;
        }
        break;
      case "CLOSING":
        if (finAcked) this.enterTimeWait(now);
        break;
      case "LAST-ACK":
        if (finAcked) this.closeQuietly();
        break;
      default:
        break;
    }
  }

  /** Moves SND.UNA to SEG.ACK: frees the buffer, takes an RTT sample (RFC 6298 §3 / RFC 7323 §4). */
  private ackAdvance(seg: TcpRepr, now: number): number {
    const ack = seg.ack;
    let acked = seqSub(ack, this.sndUna);
    if (acked <= 0) return 0;
    if (this.sndUna === this.iss) acked--; // the SYN
    if (this.finSent && seqGt(ack, this.finSeq)) acked--; // the FIN
    const data = Math.min(Math.max(acked, 0), this.sendBuf.length);
    if (data > 0) this.sendBuf.ack(data);
    this.sndUna = ack;
    if (seqLt(this.sndNxt, ack)) this.sndNxt = ack;
    if (seqLt(this.highRxt, ack)) this.highRxt = ack;
    // RTT: timestamps give an unambiguous sample for any ACK of new data (RFC 7323 §4.1), else
    // the timed segment if it was not retransmitted (Karn's rule, RFC 6298 §3).
    const ts = this.tsOk ? optionsOf(seg).timestamps : undefined;
    if (ts !== undefined && ts.tsEcr !== 0) {
      const r = (this.tsNow(now) - ts.tsEcr) >>> 0;
      if (r < 0x7fffffff) this.rtt.sample(r);
      this.rttSeq = undefined;
    } else if (this.rttSeq !== undefined && seqGe(ack, this.rttSeq)) {
      this.rtt.sample(now - this.rttStart);
      this.rttSeq = undefined;
    }
    if (data > 0 && this.writeBlocked && this.sendBuf.free > 0) {
      this.writeBlocked = false;
      this.events.push({ kind: "writable" });
    }
    return data;
  }

  /** Recovery and timer bookkeeping after SND.UNA advanced by `acked`. */
  private afterNewAck(acked: number, now: number): void {
    this.retries = 0;
    this.firstRtoAt = undefined;
    this.dupAcks = 0;
    const flight = seqSub(this.sndMax, this.sndUna);
    if (this.inRecovery) {
      if (seqGe(this.sndUna, this.recover)) {
        // RFC 6582 §3.2 step 5 / RFC 6675 §5: the recovery point is acknowledged.
        this.inRecovery = false;
        this.inflation = 0;
        this.cc.onRecoveryEnd(now, flight);
        this.trace(now);
      } else if (!this.sackOk) {
        // RFC 6582 §3.2 step 5, partial ACK: retransmit the first unacknowledged segment, deflate
        // by the amount acknowledged and add back one SMSS.
        this.retransmitHeadPending = true;
        this.inflation = Math.max(this.inflation - acked + this.effMss, -this.cc.cwnd + this.effMss);
        if (this.firstPartialAck) {
          this.firstPartialAck = false;
          this.rtoAt = now + this.rtt.rto; // the "Impatient" variant: reset only on the first
        }
      }
    } else {
      // Linux's tcp_slow_start: cwnd grows by every segment a stretch ACK covers. RFC 3465's L =
      // 2·SMSS per ACK (applied by the controller per call) would make slow start linear when one
      // ACK covers a whole batch (receivers acknowledging per batch or after GRO/LRO, lost ACKs):
      // in slow start the ACK is fed in 2·SMSS slices, at most a window / (2·SMSS) calls.
      // Cwnd validation judges the ACK as one: every slice sees the flight before it (more permissive
      // than after it, congestion.ts), so a slice does not find the window it just grew untested.
      let left = acked;
      const slice = 2 * this.effMss;
      const sliced = left > slice && this.cc.cwnd < this.cc.ssthresh;
      while (left > slice && this.cc.cwnd < this.cc.ssthresh) {
        this.cc.onAck(slice, now, this.rtt.srtt, flight + acked);
        left -= slice;
      }
      this.cc.onAck(left, now, this.rtt.srtt, sliced ? flight + acked : flight);
      this.trace(now);
    }
    // RFC 8985 §7.2: the PTO is re-armed (at the next dispatch) after an ACK of new data.
    this.ptoAt = undefined;
    // RFC 6298 §5.2 / §5.3.
    if (this.sndUna === this.sndMax) this.rtoAt = undefined;
    else if (!(this.inRecovery && !this.sackOk && !this.firstPartialAck)) this.rtoAt = now + this.rtt.rto;
  }

  /** One more duplicate ACK (RFC 5681 §3.2, RFC 6675 §5). */
  private onDupAck(now: number): void {
    this.counters.dupAcks++;
    this.dupAcks++;
    if (this.inRecovery) {
      if (!this.sackOk) this.inflation += this.effMss; // RFC 5681 §3.2 step 4
      return;
    }
    const thresh = this.dupThresh();
    const lost = this.sackOk && this.scoreboard.isLost(this.sndUna, this.effMss, thresh);
    // Below the threshold, Limited Transmit (RFC 3042 §2) lets new data out: see `sendNew`.
    if (this.dupAcks < thresh && !lost) return;
    // RFC 6582 §3.2 step 2 / §4.1: not for ACKs of data sent before the last recovery or timeout.
    if (!(seqGt(this.sndUna, this.recover) || (this.sndUna === this.recover && !this.recoverFromRto))) return;
    this.inRecovery = true;
    this.recover = this.sndMax;
    this.recoverFromRto = false;
    this.firstPartialAck = true;
    this.cc.onCongestionEvent(now, seqSub(this.sndMax, this.sndUna));
    this.counters.fastRetransmits++;
    this.ptoAt = undefined;
    this.tlpEnd = undefined;
    this.tlpOutstanding = false;
    this.rxtMarks.length = 0;
    const sackedSegs = this.sackOk ? Math.ceil(this.scoreboard.sackedAbove(this.sndUna) / this.effMss) : 0;
    this.rxtEpisode = {
      seq: this.sndUna,
      tsVal: this.tsOk ? this.tsNow(now) : undefined,
      degree: Math.max(this.dupAcks, sackedSegs),
      rto: false,
      eifelOpen: true,
      judged: false,
      rxtBase: this.counters.retransmits,
      undoable: true,
    };
    this.rttSeq = undefined;
    this.retransmitHeadPending = true; // RFC 5681 §3.2 step 3 / RFC 6675 §5 (4.3)
    // As Linux (tcp_xmit_retransmit_queue re-arms the timer when it resends the head): timed from
    // the last new ACK, the RTO (≈ SRTT on a steady path) would expire before the fast
    // retransmission can be acknowledged, a spurious timeout after every loss.
    this.rtoAt = now + this.rtt.rto;
    this.highRxt = this.sndUna;
    // RFC 5681 §3.2 step 4: cwnd = ssthresh + 3*SMSS (the inflation is ours, congestion.ts): one
    // SMSS per duplicate ACK received, so the Limited Transmit segments already count.
    this.inflation = this.sackOk ? 0 : this.dupAcks * this.effMss;
    this.trace(now);
  }

  /**
   * The reordering DupThresh may wait for: the measured one, at most `REORDERING_CAP` (RFC 4653
   * §3.2 lets the sender bound it). Linux keeps up to 300 because RACK detects losses by time
   * regardless; with DupThresh alone, one burst overtaken whole would otherwise leave every later
   * loss to the RTO.
   */
  private cappedReordering(): number {
    return Math.min(this.reordering, REORDERING_CAP);
  }

  /**
   * DupThresh now (see the module comment): the reordering measured, or for a small flight with
   * nothing new to send, RFC 5827 §3.1/§3.2 ER_thresh = oseg − 1.
   */
  private dupThresh(): number {
    const oseg = Math.ceil(seqSub(this.sndMax, this.sndUna) / this.effMss);
    if (this.reordering > DUP_THRESH) {
      // RFC 5827 §6: no ER once reordering was seen. But a DupThresh above the flight can never be
      // reached: every other segment SACKed is as much as a small flight can say before the RTO
      // (RFC 8985 would wait one reordering window of time instead).
      return Math.min(this.cappedReordering(), Math.max(DUP_THRESH, oseg - 1));
    }
    if (this.unsentBytes() > 0 && this.sendWindowAvail() >= this.effMss) return DUP_THRESH;
    return oseg >= 2 && oseg < 4 ? oseg - 1 : DUP_THRESH;
  }

  /**
   * The lowest byte a cumulative ACK to `ack` covers that was neither retransmitted nor SACKed
   * below `highSack` before it: a hole filled by the original, which arrived late. Undefined when
   * everything it covers above the retransmissions had been SACKed: a retransmission repaired the
   * only hole, and nothing was reordered (Linux's tcp_clean_rtx_queue counts only segments that were
   * neither SACKed nor retransmitted). Binary search on `sackedAbove`: O(ranges · log window).
   */
  private firstLateByte(prevUna: number, ack: number, highSack: number): number | undefined {
    let rxtEnd = this.highRxt;
    if (seqLt(this.sndNxt, this.sndMax)) rxtEnd = seqMax(rxtEnd, this.sndNxt);
    const from = seqMax(prevUna, rxtEnd);
    const end = seqMin(ack, highSack);
    if (!seqLt(from, end)) return undefined;
    const sb = this.scoreboard;
    const base = sb.sackedAbove(from);
    // Bytes of [from, from + k) not SACKed: non-decreasing in k.
    const unsacked = (k: number): number => k - (base - sb.sackedAbove(seqAdd(from, k)));
    let hi = seqSub(end, from);
    if (unsacked(hi) === 0) return undefined;
    let lo = 0; // invariant: unsacked(lo) === 0 < unsacked(hi)
    while (hi - lo > 1) {
      const mid = lo + Math.floor((hi - lo) / 2);
      if (unsacked(mid) === 0) lo = mid;
      else hi = mid;
    }
    return seqAdd(from, lo);
  }

  /**
   * A cumulative ACK filled the hole at `late` (never retransmitted) while SACKed data up to
   * `highSack` lay above it: that data arrived late, not lost. DupThresh must exceed the segments
   * that overtook it (Linux's tcp_check_sack_reordering; RFC 4653 §3.2).
   */
  private measureReordering(late: number, highSack: number): void {
    if (!seqGt(highSack, late)) return;
    const overtook = Math.ceil(seqSub(highSack, late) / this.effMss);
    if (overtook + 1 > this.reordering) this.reordering = Math.min(overtook + 1, MAX_REORDERING);
  }

  /**
   * Was the last retransmission of SND.UNA unnecessary? Eifel (RFC 3522 §3.2): the first ACK beyond
   * it echoes a timestamp older than the retransmission's, so the original was acknowledged.
   * D-SACK (RFC 3708 §3): the receiver reports the retransmitted data as a duplicate. A spurious
   * fast retransmission raises DupThresh above the reordering it mistook for loss, and its window
   * reduction is undone when nothing else was lost (`undoEpisode`).
   */
  private detectSpurious(ack: number, acked: number, opts: TcpOptionSet, now: number): void {
    const ep = this.rxtEpisode;
    if (ep === undefined || ep.judged) return;
    let spurious = false;
    if (ep.eifelOpen && acked > 0 && seqGt(ack, ep.seq)) {
      ep.eifelOpen = false;
      const ts = opts.timestamps;
      if (ep.tsVal !== undefined && ts !== undefined && ts.tsEcr !== 0) {
        if (seqLt(ts.tsEcr, ep.tsVal)) spurious = true;
        // The ACK echoes the retransmission: it, not the original, filled the hole. A D-SACK of
        // this range from now on reports a copy the network made (RFC 3708 §3 / RFC 2883 §4.1:
        // duplication), which must not raise DupThresh.
        else ep.judged = true;
      }
    }
    if (ep.judged) return;
    const d = this.scoreboard.lastDsack;
    if (!spurious && d !== undefined && seqInRange(ep.seq, d.left, d.right)) spurious = true;
    if (!spurious) return;
    ep.judged = true;
    this.counters.spuriousRetransmits++;
    if (!ep.rto) this.reordering = Math.min(Math.max(this.reordering, ep.degree + 1), MAX_REORDERING);
    this.undoEpisode(ep, ack, now);
  }

  /**
   * The Eifel response (RFC 4015 §3; Linux's tcp_try_undo_recovery, tcp_try_undo_dsack and
   * tcp_try_undo_loss): a spurious episode's window reduction is reverted and recovery ends. Only
   * when the episode's retransmission was its only one (any other was a real loss, or the head
   * was lost again: Linux's undo_retrans) and no other reduction came after it (a TLP's, or a
   * repeated timeout).
   */
  private undoEpisode(ep: { rto: boolean; rxtBase: number; undoable: boolean }, ack: number, now: number): void {
    if (!ep.undoable || this.counters.retransmits - ep.rxtBase > 1) return;
    if (!this.cc.undo(now)) return;
    this.counters.undos++;
    this.inRecovery = false;
    this.inflation = 0;
    this.retransmitHeadPending = false;
    this.rxtMarks.length = 0;
    // Nothing was lost up to `ack`: a later loss may start a fast retransmit again (the RFC 6582
    // §4.1 guard protects against duplicate ACKs of retransmissions, and there was only this one).
    this.recover = ack;
    this.recoverFromRto = false;
    // RFC 4015 §3 after a spurious timeout: resume with new data (SND.NXT = SND.MAX);
    // the originals are still in flight, and go-back-N would resend what has arrived.
    if (ep.rto) this.sndNxt = this.sndMax;
    this.trace(now);
  }

  /**
   * A retransmission that DupThresh segments' worth of later-sent data overtook (SACKed above the
   * SND.MAX it was sent at) was lost again; resend it now rather than at the RTO (Linux's
   * tcp_mark_lost_retrans; RFC 8985 reaches the same by time). Only the head is resent here: every
   * lost retransmission becomes the head once the data below it is acknowledged.
   */
  private detectLostRetransmission(): void {
    const marks = this.rxtMarks;
    while (marks.length > 0 && seqLt((marks[0] as { seq: number }).seq, this.sndUna)) marks.shift();
    const m = marks[0];
    if (m === undefined || m.seq !== this.sndUna || this.retransmitHeadPending) return;
    if (this.scoreboard.sackedAbove(m.sndMaxAt) <= (this.dupThresh() - 1) * this.effMss) return;
    marks.shift();
    this.counters.lostRetransmits++;
    this.retransmitHeadPending = true;
  }

  /**
   * RFC 8985 §7.4: the ACK of a retransmitted probe's episode. A D-SACK of it: the original had
   * arrived, nothing was lost. An ACK beyond it with no D-SACK: the probe repaired a loss, and the
   * congestion controller reacts as to a recovery (§7.4.2, as Linux's tcp_process_tlp_ack).
   */
  private tlpEpisode(ack: number, now: number): void {
    const end = this.tlpEnd as number;
    const d = this.scoreboard.lastDsack;
    if (d !== undefined && seqLt(d.left, end) && seqGt(d.right, this.tlpStart)) {
      this.tlpEnd = undefined;
      return;
    }
    if (!seqGt(ack, end) && !(ack === end && this.sndUna === this.sndMax)) return;
    this.tlpEnd = undefined;
    if (this.inRecovery) return;
    if (this.rxtEpisode !== undefined) this.rxtEpisode.undoable = false; // cc's saved state is the TLP's now
    const flight = seqSub(this.sndMax, this.sndUna);
    // ssthresh from cwnd (the flight may be empty by now), as Linux's tcp_init_cwnd_reduction.
    this.cc.onCongestionEvent(now, this.cc.cwnd);
    this.cc.onRecoveryEnd(now, flight);
    this.trace(now);
  }

  /**
   * Linux's tcp_disordered_ack: a pure duplicate ACK that fails PAWS only because ACKs were
   * reordered (RFC 7323 §5 would drop it) is accepted when it moves nothing — no data, SEQ = RCV.NXT,
   * ACK = SND.UNA, no window update — and its timestamp is less than an RTO old. Dropping it would
   * lose the SACK information it carries.
   */
  private isDisorderedAck(seg: TcpRepr, tsVal: number): boolean {
    if ((seg.flags & (TCP_ACK | TCP_SYN | TCP_FIN | TCP_RST)) !== TCP_ACK || seg.payload.length !== 0) return false;
    if (seg.seq !== this.rcvNxt || seg.ack !== this.sndUna) return false;
    const wnd = seg.window << this.sndWs;
    if (seqGt(seg.seq, this.sndWl1) || (seg.seq === this.sndWl1 && wnd > this.sndWnd)) return false;
    return ((this.tsRecent - tsVal) | 0) <= this.rtt.rto;
  }

  /** Text of an acceptable in-window segment (§3.10.7.4 seventh), `seq` ≥ RCV.NXT. */
  private receiveText(seq: number, payload: Uint8Array, now: number): void {
    if (payload.length > this.rcvMss) this.rcvMss = Math.min(payload.length, this.ourMss);
    if (seq !== this.rcvNxt) {
      // RFC 5681 §4.2: an out-of-order segment is acknowledged at once (a duplicate ACK with SACK).
      this.counters.outOfOrderSegments++;
      this.ooo.insert(seq, payload, this.rcvNxt);
      this.ackNow = true;
      return;
    }
    const hadHole = !this.ooo.isEmpty;
    const n = this.recvBuf.push(payload);
    this.rcvNxt = seqAdd(this.rcvNxt, n);
    this.counters.bytesIn += n;
    if (n > 0) this.readablePending = true;
    if (hadHole) {
      for (let piece = this.ooo.take(this.rcvNxt); piece !== undefined; piece = this.ooo.take(this.rcvNxt)) {
        const k = this.recvBuf.push(piece);
        this.rcvNxt = seqAdd(this.rcvNxt, k);
        this.counters.bytesIn += k;
        if (k < piece.length) break;
      }
      this.ackNow = true; // RFC 5681 §4.2: a segment that fills a hole is acknowledged at once
    }
    if (this.rcvFinSeq !== undefined && this.rcvFinSeq === this.rcvNxt) {
      this.rcvFinSeq = undefined;
      this.receiveFin(now);
      return;
    }
    // RFC 1122 §4.2.3.2 / RFC 9293 §3.8.6.3: ACK at least every second full-sized segment, and
    // within the delayed-ACK timeout otherwise.
    // Within one batch (the layer dispatches once per batch) this yields one ACK for the whole
    // batch: a stretch ACK, as Linux sends after GRO. One ACK per two segments of a batch cost the
    // kernel → stack interop transfer 60% of its throughput (a TAP write per ACK); the sender side
    // copes with stretch ACKs instead (`afterNewAck`).
    this.rcvUnacked += n;
    if (this.rcvUnacked >= 2 * this.rcvMss) this.ackNow = true;
    else if (this.delAckAt === undefined) this.delAckAt = now + this.cfg.delayedAckMs;
  }

  /** The peer's FIN, in order (§3.10.7.4 eighth). */
  private receiveFin(now: number): void {
    this.rcvNxt = seqAdd(this.rcvNxt, 1);
    this.ackNow = true;
    if (!this.endSeen) {
      this.endSeen = true;
      if (this.readablePending) {
        this.readablePending = false;
        this.events.push({ kind: "readable" });
      }
      this.events.push({ kind: "end" });
    }
    switch (this.st) {
      case "SYN-RECEIVED":
      case "ESTABLISHED":
        this.st = "CLOSE-WAIT";
        break;
      case "FIN-WAIT-1":
        if (this.finSent && seqGt(this.sndUna, this.finSeq)) this.enterTimeWait(now);
        else this.st = "CLOSING";
        break;
      case "FIN-WAIT-2":
        this.enterTimeWait(now);
        break;
      default:
        break;
    }
  }

  /** An acceptable RST with SEG.SEQ = RCV.NXT (§3.10.7.4 second). */
  private processReset(): void {
    switch (this.st) {
      case "SYN-RECEIVED":
        if (this.passive) this.closeQuietly();
        else this.fail("ECONNREFUSED", "connection refused by the peer (RST in SYN-RECEIVED)");
        return;
      case "ESTABLISHED":
      case "FIN-WAIT-1":
      case "FIN-WAIT-2":
      case "CLOSE-WAIT":
        this.fail("ECONNRESET", "connection reset by the peer");
        return;
      default:
        this.closeQuietly();
    }
  }

  /** RFC 5961 §3.2/§4: ACK the current state, rate-limited (§7). */
  private challengeAck(now: number): void {
    if (now - this.challengeWindowStart >= 1000) {
      this.challengeWindowStart = now;
      this.challengeCount = 0;
    }
    if (this.challengeCount >= CHALLENGE_ACK_LIMIT) return;
    this.challengeCount++;
    this.counters.challengeAcks++;
    this.ackNow = true;
  }

  // ---------------------------------------------------------------------------------------------
  // Timers

  /** Fires the timers that are due at `now`. */
  poll(now: number): void {
    if (this.timeWaitAt !== undefined && now >= this.timeWaitAt) {
      this.timeWaitAt = undefined;
      this.closeQuietly();
      return;
    }
    if (this.finWait2At !== undefined && now >= this.finWait2At) {
      this.finWait2At = undefined;
      // Linux's tcp_fin_timeout: the orphan goes away without a RST (the peer's later FIN meets a RST).
      if (this.st === "FIN-WAIT-2") {
        this.closeQuietly();
        return;
      }
    }
    if (this.ptoAt !== undefined && now >= this.ptoAt) {
      this.ptoAt = undefined;
      if (this.tlpAllowed()) {
        this.tlpPending = true;
        this.tlpOutstanding = true;
        this.counters.tailLossProbes++;
      }
    }
    if (this.rtoAt !== undefined && now >= this.rtoAt) this.onRtoExpired(now);
    if (this.st === "CLOSED") return;
    if (this.persistAt !== undefined && now >= this.persistAt) {
      this.persistAt = undefined;
      this.probesUnanswered++;
      if (this.probesUnanswered > this.cfg.maxRetransmits) {
        this.fail("ETIMEDOUT", "the peer stopped answering zero-window probes");
        return;
      }
      if (this.persistSince !== undefined && now - this.persistSince >= this.cfg.persistTimeoutMs) {
        this.fail("ETIMEDOUT", `the peer kept its window closed for ${this.cfg.persistTimeoutMs} ms (persistTimeoutMs)`);
        return;
      }
      this.persistProbePending = true;
      this.persistBackoff++;
    }
    if (this.delAckAt !== undefined && now >= this.delAckAt) {
      this.delAckAt = undefined;
      this.ackNow = true;
    }
    if (this.keepaliveAt !== undefined && now >= this.keepaliveAt) this.onKeepaliveTimer(now);
  }

  /** The earliest deadline, or undefined when no timer runs. */
  nextDeadline(): number | undefined {
    let d = earlier(this.rtoAt, this.persistAt);
    d = earlier(d, this.delAckAt);
    d = earlier(d, this.keepaliveAt);
    d = earlier(d, this.timeWaitAt);
    d = earlier(d, this.ptoAt);
    return earlier(d, this.finWait2At);
  }

  /** RFC 8985 §7.2: a PTO may be scheduled (SACK, data in flight, no recovery, no probe out). */
  private tlpAllowed(): boolean {
    return (
      this.sackOk &&
      !this.inRecovery &&
      !this.tlpOutstanding &&
      this.sndNxt === this.sndMax &&
      this.sndUna !== this.sndMax &&
      this.rtt.srtt !== undefined &&
      (this.st === "ESTABLISHED" || this.st === "CLOSE-WAIT" || this.st === "FIN-WAIT-1" || this.st === "LAST-ACK" || this.st === "CLOSING")
    );
  }

  /** RFC 8985 §7.2: PTO = 2·SRTT (+ WCDelAckT for a single segment), never later than the RTO. */
  private armPto(now: number): void {
    if (this.ptoAt !== undefined || this.tlpPending || !this.tlpAllowed()) return;
    let pto = 2 * (this.rtt.srtt as number);
    if (seqSub(this.sndMax, this.sndUna) <= this.effMss) pto += WC_DEL_ACK_MS;
    // Linux's 10 ms floor: below the timer granularity of a real path, a probe would only duplicate.
    const at = now + Math.max(pto, TLP_MIN_MS);
    if (this.rtoAt !== undefined && at >= this.rtoAt) return;
    this.ptoAt = at;
  }

  /** RFC 6298 §5.4–5.6 and RFC 5681 §3.1 (the RTO response); SYN retransmission (RFC 9293 §3.8.1). */
  private onRtoExpired(now: number): void {
    this.rtoAt = undefined;
    if (this.st === "SYN-SENT" || this.st === "SYN-RECEIVED") {
      this.synRetriesDone++;
      if (this.synRetriesDone > this.cfg.synRetries) {
        this.fail("ETIMEDOUT", `no answer to ${this.st === "SYN-SENT" ? "SYN" : "SYN-ACK"} after ${this.cfg.synRetries} retransmissions`);
        return;
      }
      this.counters.timeouts++;
      this.counters.retransmits++;
      this.rtt.backoff();
      this.rttSeq = undefined;
      this.synPending = true;
      this.rtoAt = now + this.rtt.rto;
      return;
    }
    if (this.sndUna === this.sndMax) return;
    this.counters.timeouts++;
    this.retries++;
    if (this.firstRtoAt === undefined) this.firstRtoAt = now;
    const timedOut =
      this.userTimeoutMs !== undefined ? now - this.firstRtoAt >= this.userTimeoutMs : this.retries > this.cfg.maxRetransmits;
    if (timedOut) {
      const soft = this.softError !== undefined ? ` (last ICMP error: ${this.softError})` : "";
      this.fail("ETIMEDOUT", `no acknowledgment after ${this.retries - 1} retransmissions${soft}`);
      return;
    }
    // FlightSize capped at cwnd (RFC 9438 §4.6 allows cwnd with RFC 7661 validation; Linux uses
    // cwnd): after a failed recovery SND.MAX − SND.UNA still counts the whole window sent before
    // the loss, and an ssthresh from it would restart slow start far past the path's capacity.
    this.cc.onRto(now, Math.min(seqSub(this.sndMax, this.sndUna), this.cc.cwnd));
    this.rtt.backoff(); // RFC 6298 §5.5
    // RFC 2018 §8: the receiver may have reneged; SACK information is discarded after a timeout.
    this.scoreboard.clear();
    this.inRecovery = false;
    this.inflation = 0;
    this.dupAcks = 0;
    this.ptoAt = undefined;
    this.tlpPending = false;
    this.tlpOutstanding = false;
    this.tlpEnd = undefined;
    this.rxtMarks.length = 0;
    this.rxtEpisode = {
      seq: this.sndUna,
      tsVal: this.tsOk ? this.tsNow(now) : undefined,
      degree: 0,
      rto: true,
      eifelOpen: true,
      judged: false,
      rxtBase: this.counters.retransmits,
      // A repeated timeout of the same segment: the first retransmission may have been needed.
      undoable: this.retries === 1,
    };
    this.recover = this.sndMax; // RFC 6582 §4.1
    this.recoverFromRto = true;
    this.sndNxt = this.sndUna; // go-back-N
    this.highRxt = this.sndUna;
    this.rttSeq = undefined; // Karn
    this.retransmitHeadPending = true; // RFC 6298 §5.4: the earliest unacknowledged segment
    this.rtoAt = now + this.rtt.rto; // RFC 6298 §5.6
    this.trace(now);
  }

  private onKeepaliveTimer(now: number): void {
    const ka = this.keepalive;
    if (ka === undefined || !(this.st === "ESTABLISHED" || this.st === "CLOSE-WAIT")) {
      this.keepaliveAt = undefined;
      return;
    }
    // Only on an idle connection: with data outstanding the retransmission timer watches the peer.
    if (this.sndUna !== this.sndMax || this.unsentBytes() > 0) {
      this.keepaliveAt = now + ka.idleMs;
      return;
    }
    if (this.keepaliveSent >= ka.count) {
      this.fail("ETIMEDOUT", `no answer to ${ka.count} keepalive probes`);
      return;
    }
    this.keepaliveSent++;
    this.keepaliveProbePending = true;
    this.keepaliveAt = now + ka.intervalMs;
  }

  // ---------------------------------------------------------------------------------------------
  // Output

  /**
   * Hands every segment the connection wants to send now to `emit`, in order: RST, SYN / SYN-ACK,
   * probes, retransmissions, new data under the windows, then a bare ACK if one is still owed.
   */
  dispatch(now: number, emit: (seg: SegmentOut) => void): void {
    if (this.rstPending !== undefined) {
      const r = this.rstPending;
      this.rstPending = undefined;
      this.emitRaw(emit, r.seq, r.ack, r.flags, 0, NO_TCP_OPTIONS, EMPTY);
    }
    switch (this.st) {
      case "CLOSED":
      case "LISTEN":
        return;
      case "SYN-SENT":
        if (this.synPending) this.sendSyn(now, emit, false);
        return;
      case "SYN-RECEIVED":
        if (this.synPending || this.ackNow) this.sendSyn(now, emit, true);
        return;
      default:
        break;
    }
    if (this.keepaliveProbePending || this.persistProbePending) {
      const probeZeroWindow = this.persistProbePending && this.sndWnd === 0;
      if (this.keepaliveProbePending || probeZeroWindow) {
        // Linux's tcp_xmit_probe_skb: SEQ = SND.UNA − 1 and no data, which any TCP answers with an
        // ACK carrying its window (RFC 9293 §3.8.6.1 allows the probe to carry no new data).
        this.sendSegment(now, emit, seqAdd(this.sndUna, -1), TCP_ACK, EMPTY, this.optionsFor(now));
        if (this.keepaliveProbePending) this.counters.keepaliveProbes++;
        else this.counters.zeroWindowProbes++;
        this.persistProbePending = false;
      }
      this.keepaliveProbePending = false;
    }
    if (this.canSendData()) this.sendData(now, emit);
    this.persistProbePending = false;
    this.tlpPending = false;
    if (this.ackNow) this.sendSegment(now, emit, this.sndMax, TCP_ACK, EMPTY, this.optionsFor(now));
    this.armPersist(now);
    this.armPto(now);
  }

  /** Retransmissions and new data; returns the number of segments sent. */
  private sendData(now: number, emit: (seg: SegmentOut) => void): number {
    let sent = 0;
    if (this.retransmitHeadPending) {
      this.retransmitHeadPending = false;
      if (this.sendHead(now, emit)) sent++;
    }
    if (this.tlpPending && sent === 0) {
      this.tlpPending = false;
      if (this.sendProbe(now, emit)) sent++;
    }
    const override = this.persistProbePending;
    this.persistProbePending = false;
    for (let guard = 0; guard < MAX_SEGMENTS_PER_DISPATCH; guard++) {
      if (this.inRecovery && this.sackOk) {
        // RFC 6675 §5 (C): while cwnd − pipe ≥ SMSS, send NextSeg.
        const thresh = this.dupThresh();
        const pipe = this.scoreboard.pipe(this.sndUna, this.sndMax, this.highRxt, this.effMss, thresh);
        if (this.cc.cwnd - pipe < this.effMss) break;
        const from = seqMax(this.highRxt, this.sndUna);
        const haveNew = this.unsentBytes() > 0 && this.sendWindowAvail() > 0;
        const ns = this.scoreboard.nextSeg(from, this.effMss, haveNew, thresh);
        if (ns.kind === "retransmit") {
          // RFC 9293 §3.7.1: the SACK blocks riding on it share the MSS with the data.
          const len = Math.min(ns.len, Math.max(1, this.effMss - this.sackOptionLength()));
          this.sendRange(now, emit, ns.seq, len);
          this.highRxt = seqAdd(ns.seq, len);
          sent++;
          continue;
        }
        if (ns.kind === "new-data" && this.sendNew(now, emit, true, false)) {
          sent++;
          continue;
        }
        break;
      }
      if (!this.sendNew(now, emit, false, override && sent === 0)) break;
      sent++;
    }
    return sent;
  }

  /**
   * One segment at SND.NXT (new data, or data again after a timeout) if the windows, Nagle and the
   * sender SWS rules allow it (RFC 9293 §3.8.6.2.1, RFC 896). `ignoreCwnd`: the pipe already gated
   * it (RFC 6675). `force`: the persist timer's override (§3.8.6.2.1 rule 4).
   */
  private sendNew(now: number, emit: (seg: SegmentOut) => void, ignoreCwnd: boolean, force: boolean): boolean {
    if (!this.canSendData()) return false;
    const dataStart = this.dataStartSeq();
    const offset = seqSub(this.sndNxt, dataStart);
    const unsent = this.sendBuf.length - offset;
    const finToSend = this.finQueued && seqLe(this.sndNxt, this.finSeq);
    if (unsent <= 0) {
      if (!finToSend || unsent < 0) return false;
      // A bare FIN: it takes one sequence number and no window (Linux sends it regardless too).
      this.sendSegment(now, emit, this.sndNxt, TCP_ACK | TCP_FIN, EMPTY, this.optionsFor(now));
      this.afterSend(now, 0, true);
      return true;
    }
    const sackLen = this.sackOptionLength();
    const mss = Math.max(1, this.effMss - sackLen);
    const inFlight = seqSub(this.sndNxt, this.sndUna);
    const wndAvail = this.sndWnd - inFlight;
    // RFC 3042 §2 Limited Transmit: each of the first DupThresh − 1 duplicate ACKs (RFC 4653 §3.1
    // when DupThresh was raised) lets one more segment out beyond cwnd, which is not changed.
    const limited = !this.inRecovery && this.dupAcks > 0 && this.sndNxt === this.sndMax ? Math.min(this.dupAcks, this.dupThresh() - 1) * this.effMss : 0;
    const cwndAvail = ignoreCwnd ? Infinity : this.cc.cwnd + this.inflation + limited - inFlight;
    let len = Math.min(unsent, mss, wndAvail, cwndAvail);
    if (force && len <= 0 && this.sndWnd > 0) len = Math.min(unsent, mss, this.sndWnd);
    if (len <= 0) return false;
    const retransmission = seqLt(this.sndNxt, this.sndMax);
    let segmentSize: number | undefined;
    if (len === mss && this.tsoMaxBytes > mss && !retransmission && !force && !ignoreCwnd && !this.inRecovery && this.dupAcks === 0) {
      // TSO: as many whole segments as cwnd, the peer's window and the device allow go out as one
      // unit. The short tail rides along only where Nagle would send it on its own once the whole
      // segments are in flight (Nagle off, or the FIN follows: RFC 896, as Linux's tcp_mss_split_point).
      const room = Math.min(unsent, wndAvail, cwndAvail, this.tsoMaxBytes);
      let big = room - (room % mss);
      if (room === unsent && room > big && (this.noDelay || this.finQueued)) big = room;
      if (big > mss) {
        len = big;
        segmentSize = mss;
      }
    }
    if (len < mss && !retransmission && !force) {
      // Sender SWS avoidance and Nagle: a short segment only if it empties the buffer and nothing is
      // in flight (or Nagle is off), or if it is at least half the largest window the peer offered.
      const empties = len === unsent;
      const nagleOk = this.noDelay || this.sndUna === this.sndMax || (this.finQueued && empties);
      if (!((empties && nagleOk) || len >= this.maxSndWnd / 2)) return false;
    }
    // RFC 5681 §4.1: restart from the initial window after an idle period longer than the RTO.
    if (!retransmission && this.sndUna === this.sndMax && now - this.lastSendAt > this.rtt.rto) this.cc.onIdle(now);
    const fin = finToSend && len === unsent;
    const payload = this.sendBuf.peek(offset, len);
    let flags = TCP_ACK;
    if (len === unsent) flags |= TCP_PSH;
    if (fin) flags |= TCP_FIN;
    if (retransmission) {
      this.counters.retransmits++;
      // Go-back-N resends: `measureReordering` must not take their ACKs for late originals.
      if (seqGt(seqAdd(this.sndNxt, len), this.highRxt)) this.highRxt = seqAdd(this.sndNxt, len);
      // Go-back-N may reach past SND.MAX in one segment: that part is new data.
      const fresh = seqSub(seqAdd(this.sndNxt, len), this.sndMax);
      if (fresh > 0) this.counters.bytesOut += fresh;
    } else {
      this.counters.bytesOut += len;
      if (this.rttSeq === undefined && !this.tsOk) {
        this.rttSeq = seqAdd(this.sndNxt, len);
        this.rttStart = now;
      }
    }
    this.sendSegment(now, emit, this.sndNxt, flags, payload, this.optionsFor(now), segmentSize);
    this.afterSend(now, len, fin);
    return true;
  }

  /** Advances SND.NXT / SND.MAX past what was just sent and arms the retransmission timer. */
  private afterSend(now: number, len: number, fin: boolean): void {
    this.sndNxt = seqAdd(this.sndNxt, len + (fin ? 1 : 0));
    if (seqGt(this.sndNxt, this.sndMax)) this.sndMax = this.sndNxt;
    if (fin) this.finSent = true;
    if (this.rtoAt === undefined) this.rtoAt = now + this.rtt.rto; // RFC 6298 §5.1
    this.persistAt = undefined;
    if (this.st === "ESTABLISHED" && fin) this.st = "FIN-WAIT-1";
  }

  /** Retransmits the first unacknowledged segment (fast retransmit, partial ACK, RTO). */
  private sendHead(now: number, emit: (seg: SegmentOut) => void): boolean {
    const dataEnd = seqAdd(this.dataStartSeq(), this.sendBuf.length);
    const avail = Math.max(0, seqSub(dataEnd, this.sndUna));
    const len = Math.min(avail, Math.max(1, this.effMss - this.sackOptionLength()));
    const fin = this.finSent && len === avail && seqAdd(this.sndUna, len) === this.finSeq;
    if (len === 0 && !fin) return false;
    this.sendRange(now, emit, this.sndUna, len);
    const end = seqAdd(this.sndUna, len + (fin ? 1 : 0));
    if (seqGt(end, this.sndNxt)) this.sndNxt = end;
    if (seqGt(end, this.sndMax)) this.sndMax = end; // the head may reach past SND.MAX after an RTO
    if (seqGt(end, this.highRxt)) this.highRxt = end;
    return true;
  }

  /**
   * RFC 8985 §7.3: the tail loss probe — one new segment if the windows allow, else the last
   * segment sent again; then the RTO is re-armed.
   */
  private sendProbe(now: number, emit: (seg: SegmentOut) => void): boolean {
    if (this.sndUna === this.sndMax) return false;
    let sent = false;
    if (this.unsentBytes() > 0 && this.sendWindowAvail() > 0) sent = this.sendNew(now, emit, true, false);
    if (!sent) {
      const dataEnd = this.finSent ? this.finSeq : this.sndMax;
      const len = Math.max(0, Math.min(this.effMss - this.sackOptionLength(), seqSub(dataEnd, this.sndUna)));
      const seq = seqAdd(dataEnd, -len);
      if (len === 0 && !this.finSent) return false;
      this.sendRange(now, emit, seq, len);
      this.tlpStart = seq;
      this.tlpEnd = this.sndMax;
    }
    this.rtoAt = now + this.rtt.rto;
    return true;
  }

  /** Sends [seq, seq+len) again (and the FIN if it ends there and was sent). */
  private sendRange(now: number, emit: (seg: SegmentOut) => void, seq: number, len: number): void {
    const dataStart = this.dataStartSeq();
    const offset = seqSub(seq, dataStart);
    const avail = this.sendBuf.length - offset;
    const n = Math.max(0, Math.min(len, avail));
    let flags = TCP_ACK;
    if (n === avail && n > 0) flags |= TCP_PSH;
    if (this.finSent && seqAdd(seq, n) === this.finSeq) flags |= TCP_FIN;
    this.counters.retransmits++;
    const fresh = seqSub(seqAdd(seq, n), this.sndMax);
    if (fresh > 0) this.counters.bytesOut += fresh;
    if (this.inRecovery && this.sackOk && seqLt(seq, this.sndMax)) {
      const marks = this.rxtMarks;
      const last = marks[marks.length - 1];
      if (last !== undefined && last.seq === seq) last.sndMaxAt = this.sndMax;
      else if (marks.length < MAX_RXT_MARKS) marks.push({ seq, sndMaxAt: this.sndMax });
    }
    this.rttSeq = undefined; // Karn: a retransmission makes the timed segment ambiguous
    this.sendSegment(now, emit, seq, flags, n > 0 ? this.sendBuf.peek(offset, n) : EMPTY, this.optionsFor(now));
    if (this.rtoAt === undefined) this.rtoAt = now + this.rtt.rto;
  }

  /** SYN (active) or SYN-ACK (passive / simultaneous open). */
  private sendSyn(now: number, emit: (seg: SegmentOut) => void, synAck: boolean): void {
    this.synPending = false;
    const set: TcpOptionSet = {
      mss: this.ourMss,
      // RFC 7323 §2.2 / §3.2, RFC 2018 §2: in a SYN-ACK only if the SYN carried them.
      windowScale: this.cfg.windowScale && (!synAck || this.wsOk) ? this.ourWs : undefined,
      sackPermitted: this.cfg.sack && (!synAck || this.sackOk) ? true : undefined,
      timestamps:
        this.cfg.timestamps && (!synAck || this.tsOk) ? { tsVal: this.tsNow(now), tsEcr: synAck ? this.tsRecent : 0 } : undefined,
    };
    if (this.rttSeq === undefined && this.synRetriesDone === 0) {
      this.rttSeq = seqAdd(this.iss, 1);
      this.rttStart = now;
    }
    // RFC 7323 §2.2: the window of a SYN is not scaled.
    const window = Math.min(this.recvBuf.window(), 0xffff);
    this.rcvAdvEdge = seqAdd(this.rcvNxt, window);
    this.emitCounted(emit, now, this.iss, synAck ? this.rcvNxt : 0, synAck ? TCP_SYN | TCP_ACK : TCP_SYN, window, tcpOptionsLikeLinux(set));
    if (synAck) this.lastAckSent = this.rcvNxt;
    this.ackNow = false;
    if (this.rtoAt === undefined) this.rtoAt = now + this.rtt.rto;
  }

  /** Every non-SYN segment goes through here: ACK field, window, ACK bookkeeping. */
  private sendSegment(
    now: number,
    emit: (seg: SegmentOut) => void,
    seq: number,
    flags: number,
    payload: Uint8Array,
    options: readonly TcpOption[],
    segmentSize?: number,
  ): void {
    const window = this.windowToAdvertise();
    this.emitCounted(emit, now, seq, this.rcvNxt, flags, window, options, payload, segmentSize);
    this.ackNow = false;
    this.delAckAt = undefined;
    this.rcvUnacked = 0;
    this.lastAckSent = this.rcvNxt;
  }

  private emitCounted(
    emit: (seg: SegmentOut) => void,
    now: number,
    seq: number,
    ack: number,
    flags: number,
    window: number,
    options: readonly TcpOption[],
    payload: Uint8Array = EMPTY,
    segmentSize?: number,
  ): void {
    this.lastSendAt = now;
    if (segmentSize === undefined) {
      this.emitRaw(emit, seq, ack, flags, window, options, payload);
      return;
    }
    // Counted as the segments the device will put on the wire.
    this.counters.segmentsOut += Math.ceil(payload.length / segmentSize);
    emit({ seq: seq >>> 0, ack: ack >>> 0, flags, window, options, payload, segmentSize });
  }

  private emitRaw(emit: (seg: SegmentOut) => void, seq: number, ack: number, flags: number, window: number, options: readonly TcpOption[], payload: Uint8Array): void {
    this.counters.segmentsOut++;
    emit({ seq: seq >>> 0, ack: ack >>> 0, flags, window, options, payload });
  }

  /** Timestamps and SACK blocks for a non-SYN segment (RFC 7323 §3.2, RFC 2018 §4). */
  private optionsFor(now: number): readonly TcpOption[] {
    const sacking = this.sackOk && !this.ooo.isEmpty;
    // The common case (timestamps, nothing out of order) without the intermediate option set.
    if (!sacking) return this.tsOk ? tcpTimestampOptions(this.tsNow(now), this.tsRecent) : NO_TCP_OPTIONS;
    const ts = this.tsOk ? { tsVal: this.tsNow(now), tsEcr: this.tsRecent } : undefined;
    // RFC 2018 §3: 4 blocks fit in 40 bytes, 3 beside timestamps.
    const sack = this.ooo.sackBlocks(this.tsOk ? 3 : 4, this.rcvNxt);
    return tcpOptionsLikeLinux({ timestamps: ts, sack });
  }

  /** Bytes SACK blocks would take in the next segment (they shorten its payload). */
  private sackOptionLength(): number {
    if (!this.sackOk || this.ooo.isEmpty) return 0;
    const n = Math.min(this.ooo.blocks().length, this.tsOk ? 3 : 4);
    return 4 + 8 * n;
  }

  /**
   * The Window field for a non-SYN segment. The right edge moves only forward (RFC 9293 §3.8.6) and,
   * to avoid silly windows (§3.8.6.2.2), only by at least min(buffer/2, MSS).
   */
  private windowToAdvertise(): number {
    const free = this.recvBuf.window();
    const maxWnd = this.wsOk ? 0xffff << this.rcvWs : 0xffff;
    const cand = Math.min(free, maxWnd);
    const candEdge = seqAdd(this.rcvNxt, (cand >>> this.rcvWs) << this.rcvWs);
    const threshold = Math.min(Math.floor(this.recvBuf.capacity / 2), this.ourMss);
    if (seqGt(candEdge, this.rcvAdvEdge) && seqSub(candEdge, this.rcvAdvEdge) >= threshold) this.rcvAdvEdge = candEdge;
    if (seqLt(this.rcvAdvEdge, this.rcvNxt)) this.rcvAdvEdge = this.rcvNxt;
    return Math.min(seqSub(this.rcvAdvEdge, this.rcvNxt) >>> this.rcvWs, 0xffff);
  }

  /** RCV.WND as last advertised. */
  private rcvWnd(): number {
    return Math.max(0, seqSub(this.rcvAdvEdge, this.rcvNxt));
  }

  /** Arms the persist timer when data waits, nothing is in flight and the window holds it back. */
  private armPersist(now: number): void {
    if (!this.canSendData() || this.sndUna !== this.sndMax || this.unsentBytes() <= 0) {
      this.persistAt = undefined;
      this.persistBackoff = 0;
      this.persistSince = undefined;
      return;
    }
    if (this.persistAt !== undefined) return;
    this.persistSince ??= now;
    // RFC 1122 §4.2.2.17: probes back off exponentially; the interval follows the RTO, as in Linux.
    const base = Math.max(this.rtt.rto, 200);
    // Never past the persist timeout, so it fires on time rather than at the next backed-off probe.
    this.persistAt = Math.min(now + Math.min(base * 2 ** Math.min(this.persistBackoff, 16), 120_000), this.persistSince + this.cfg.persistTimeoutMs);
  }

  private canSendData(): boolean {
    return this.st === "ESTABLISHED" || this.st === "CLOSE-WAIT" || this.st === "FIN-WAIT-1" || this.st === "LAST-ACK" || this.st === "CLOSING";
  }

  /** The sequence number of send-buffer offset 0. */
  private dataStartSeq(): number {
    return this.sndUna === this.iss ? seqAdd(this.iss, 1) : this.finSent && seqGt(this.sndUna, this.finSeq) ? this.finSeq : this.sndUna;
  }

  private unsentBytes(): number {
    return Math.max(0, this.sendBuf.length - seqSub(this.sndNxt, this.dataStartSeq()));
  }

  private sendWindowAvail(): number {
    return this.sndWnd - seqSub(this.sndNxt, this.sndUna);
  }

  private tsNow(now: number): number {
    return (Math.floor(now) + this.tsOffset) >>> 0;
  }

  // ---------------------------------------------------------------------------------------------
  // Application side

  /** Copies what fits of `data` into the send buffer; returns the bytes taken (0 when full or closed). */
  write(data: Uint8Array): number {
    if (this.finQueued || !(this.st === "SYN-SENT" || this.st === "SYN-RECEIVED" || this.st === "ESTABLISHED" || this.st === "CLOSE-WAIT")) {
      return 0;
    }
    const n = this.sendBuf.append(data);
    if (n < data.length) this.writeBlocked = true;
    return n;
  }

  /**
   * In-order data for the application (up to `maxBytes`), or undefined. Reading frees window: a
   * window update is owed when the window at least doubled and grew by the SWS threshold.
   */
  read(maxBytes?: number): Uint8Array | undefined {
    const before = this.rcvWnd();
    const out = this.recvBuf.read(maxBytes);
    if (out !== undefined && SYNCHRONIZED.has(this.st)) {
      const free = Math.min(this.recvBuf.window(), this.wsOk ? 0xffff << this.rcvWs : 0xffff);
      const threshold = Math.min(Math.floor(this.recvBuf.capacity / 2), this.ourMss);
      if (free - before >= threshold && free >= 2 * before) this.ackNow = true;
    }
    return out;
  }

  /** Bytes held in the out-of-order queue (bounded by `maxOutOfOrderBytes`). */
  get outOfOrderBytes(): number {
    return this.ooo.bytes;
  }

  /** Bytes received and not yet read. */
  get readableLength(): number {
    return this.recvBuf.length;
  }
  /** Bytes written and not yet acknowledged. */
  get writableLength(): number {
    return this.sendBuf.length;
  }
  /** Room left in the send buffer. */
  get writableFree(): number {
    return this.finQueued ? 0 : this.sendBuf.free;
  }

  /** CLOSE for sending (RFC 9293 §3.10.4): a FIN after all buffered data. */
  shutdown(now: number): void {
    void now;
    if (this.finQueued) return;
    switch (this.st) {
      case "CLOSED":
      case "LISTEN":
        return;
      case "SYN-SENT":
      case "SYN-RECEIVED":
      case "ESTABLISHED":
      case "CLOSE-WAIT":
        // RFC 9293 §3.10.4: in SYN-SENT the RFC deletes the TCB, which would drop data already
        // written; as for SYN-RECEIVED ("queue for processing after entering ESTABLISHED"), the FIN
        // waits for the handshake and the data before it (setEstablished moves to FIN-WAIT-1).
        this.finQueued = true;
        this.finSeq = seqAdd(this.dataStartSeq(), this.sendBuf.length);
        if (this.st === "CLOSE-WAIT") this.st = "LAST-ACK";
        // ESTABLISHED → FIN-WAIT-1 when the FIN is sent (afterSend); SYN-RECEIVED waits for the ACK.
        else if (this.st === "ESTABLISHED") this.st = "FIN-WAIT-1";
        return;
      default:
        return;
    }
  }

  /**
   * CLOSE by an application that goes away (RFC 9293 §3.10.4, as close(2) on Linux): a FIN after
   * the buffered data, as `shutdown`, and the connection is an orphan — nobody reads any more, so
   * FIN-WAIT-2 lasts at most `finWait2TimeoutMs` (Linux's tcp_fin_timeout).
   */
  close(now: number): void {
    this.orphaned = true;
    this.shutdown(now);
    if (this.st === "FIN-WAIT-2" && this.finWait2At === undefined) this.finWait2At = now + this.cfg.finWait2TimeoutMs;
  }

  /**
   * An ICMP error about a segment of this connection (RFC 1122 §4.2.3.9, RFC 5927). With
   * `quotedSeq`, only a quote of data in flight (SND.UNA ≤ SEQ < SND.MAX) counts (RFC 5927 §4.1:
   * blind attacks). Fragmentation needed / packet too big lowers the MSS to the reported MTU (RFC
   * 1191 §6.3, RFC 8201 §5.2; never below 576 / 1280) and resends what was cut too large, without a
   * congestion response (Linux's tcp_simple_retransmit). Port or protocol unreachable and
   * administratively prohibited end a connection in SYN-SENT with ECONNREFUSED (as Linux); every
   * other error, and any error once synchronized, is soft (RFC 5927 §4.1): remembered and named if
   * the connection later times out.
   */
  processIcmpError(err: TcpIcmpError, now: number): void {
    void now;
    if (this.st === "CLOSED" || this.st === "LISTEN" || this.st === "TIME-WAIT") return;
    if (err.quotedSeq !== undefined) {
      const q = err.quotedSeq >>> 0;
      const inFlight = seqInRange(q, this.sndUna, this.sndMax) || (this.st === "SYN-SENT" && q === this.iss);
      if (!inFlight) return;
    }
    switch (err.kind) {
      case "packet-too-big":
        if (err.mtu !== undefined) this.lowerPathMtu(err.mtu);
        return;
      case "port-unreachable":
      case "protocol-unreachable":
      case "admin-prohibited":
        if (this.st === "SYN-SENT") {
          this.fail("ECONNREFUSED", `connection refused (ICMP ${err.kind})`);
          return;
        }
        this.softError = err.kind;
        return;
      case "host-unreachable":
      case "net-unreachable":
      case "time-exceeded":
      case "parameter-problem":
      case "other":
        this.softError = err.kind;
        return;
      default:
        assertNever(err.kind);
    }
  }

  /** RFC 1191 §6.3 / RFC 8201 §5.2: a smaller path MTU; segments already too large go again. */
  private lowerPathMtu(mtu: number): void {
    const family = this.local.family;
    if (!Number.isFinite(mtu)) return;
    const pmtu = Math.max(Math.floor(mtu), MIN_PMTU[family]);
    const mss = pmtu - IP_TCP_HEADERS[family];
    const current = this.pmtuMss ?? this.ourMss;
    if (mss >= current || mss >= Math.min(this.peerMss, this.ourMss)) return;
    this.pmtuMss = mss;
    const before = this.effMss;
    this.effMss = Math.max(1, mss - (this.tsOk ? TIMESTAMP_OPTION_LEN : 0));
    this.rcvMss = Math.min(this.rcvMss, this.effMss);
    this.cc.setMss(this.effMss);
    if (this.effMss >= before || this.sndUna === this.sndMax || !SYNCHRONIZED.has(this.st)) return;
    // Resend from SND.UNA in the new size: the recovery point moves past what was sent, so the
    // duplicate ACKs of the old flight do not start a fast retransmit (RFC 6582 §4.1).
    this.sndNxt = this.sndUna;
    this.highRxt = this.sndUna;
    this.recover = this.sndMax;
    this.recoverFromRto = true;
    this.inRecovery = false;
    this.inflation = 0;
    this.dupAcks = 0;
    this.rttSeq = undefined;
    this.retransmitHeadPending = true;
  }

  /** ABORT (RFC 9293 §3.10.5): RST in synchronized states, then CLOSED. */
  abort(now: number): void {
    void now;
    if (this.st === "CLOSED") return;
    if (this.st === "SYN-RECEIVED" || (SYNCHRONIZED.has(this.st) && this.st !== "TIME-WAIT")) {
      // <SEQ=SND.NXT><CTL=RST>; with ACK as Linux sends it.
      this.rstPending = { seq: this.sndMax, ack: this.rcvNxt, flags: TCP_RST | TCP_ACK };
    }
    this.closeQuietly();
  }

  /** Nagle off (true) or on (false). */
  setNoDelay(on: boolean): void {
    this.noDelay = on;
  }

  /** Keepalive on with `idleMs` before the first probe (interval and count as Linux: 75 s, 9), or off. */
  setKeepAlive(on: boolean, idleMs = 7_200_000, now?: number): void {
    if (!on) {
      this.keepalive = undefined;
      this.keepaliveAt = undefined;
      return;
    }
    this.keepalive = { idleMs, intervalMs: this.keepalive?.intervalMs ?? 75_000, count: this.keepalive?.count ?? 9 };
    if (this.st === "ESTABLISHED" || this.st === "CLOSE-WAIT") this.keepaliveAt = (now ?? this.lastRecvAt) + idleMs;
  }

  /**
   * Events since the last call, in order. A non-empty result is the caller's to keep; an empty one
   * is shared (most flushes of a connection have nothing to report, and allocate nothing).
   */
  takeEvents(): readonly TcpEvent[] {
    const e = this.events;
    if (e.length === 0) return NO_EVENTS;
    this.events = [];
    return e;
  }

  /** Counters and estimates (RFC names where there is one). */
  stats(): TcpStats {
    return {
      state: this.st,
      cwnd: this.cc.cwnd,
      ssthresh: this.cc.ssthresh,
      srtt: this.rtt.srtt,
      rttvar: this.rtt.rttvar,
      rto: this.rtt.rto,
      mss: this.effMss,
      sndWnd: this.sndWnd,
      rcvWnd: this.rcvWnd(),
      ...this.counters,
      reordering: this.reordering,
    };
  }

  /** The RFC 9293 TCB variables, for tests and inspection. */
  tcb(): { iss: number; irs: number; sndUna: number; sndNxt: number; sndMax: number; sndWnd: number; rcvNxt: number; rcvWnd: number; sndWs: number; rcvWs: number; tsOk: boolean; sackOk: boolean } {
    return {
      iss: this.iss,
      irs: this.irs,
      sndUna: this.sndUna,
      sndNxt: this.sndNxt,
      sndMax: this.sndMax,
      sndWnd: this.sndWnd,
      rcvNxt: this.rcvNxt,
      rcvWnd: this.rcvWnd(),
      sndWs: this.sndWs,
      rcvWs: this.rcvWs,
      tsOk: this.tsOk,
      sackOk: this.sackOk,
    };
  }

  // ---------------------------------------------------------------------------------------------
  // Transitions

  /** Options of the peer's SYN (RFC 9293 §3.7.1 MSS; RFC 7323 §2.2, §3.2; RFC 2018 §2). */
  private negotiate(o: TcpOptionSet, passive: boolean, now: number): void {
    void passive;
    this.peerMss = Math.max(o.mss ?? DEFAULT_PEER_MSS[this.local.family], MIN_PEER_MSS);
    // RFC 7323 §2.2: scaling only when both SYNs carry the option; §2.3: shifts above 14 are 14.
    this.wsOk = this.cfg.windowScale && o.windowScale !== undefined;
    this.sndWs = this.wsOk ? Math.min(o.windowScale ?? 0, MAX_WINDOW_SHIFT) : 0;
    this.rcvWs = this.wsOk ? this.ourWs : 0;
    this.tsOk = this.cfg.timestamps && o.timestamps !== undefined;
    if (this.tsOk && o.timestamps !== undefined) {
      this.tsRecent = o.timestamps.tsVal;
      this.tsRecentAt = now;
    }
    this.sackOk = this.cfg.sack && o.sackPermitted === true;
    // RFC 9293 §3.7.1: Eff.snd.MSS = min(SendMSS, our MMS_S) − option bytes (timestamps in every segment).
    this.effMss = Math.max(1, Math.min(this.peerMss, this.ourMss, this.pmtuMss ?? Infinity) - (this.tsOk ? TIMESTAMP_OPTION_LEN : 0));
    this.rcvMss = Math.min(this.rcvMss, this.effMss);
    this.cc.setMss(this.effMss);
  }

  private setEstablished(): void {
    this.st = this.finQueued ? "FIN-WAIT-1" : "ESTABLISHED";
    this.synPending = false;
    if (seqLt(this.rcvAdvEdge, this.rcvNxt)) this.rcvAdvEdge = this.rcvNxt;
    this.events.push({ kind: "connected" });
    if (this.keepalive !== undefined) this.keepaliveAt = this.lastRecvAt + this.keepalive.idleMs;
  }

  private enterTimeWait(now: number): void {
    this.st = "TIME-WAIT";
    this.rtoAt = undefined;
    this.ptoAt = undefined;
    this.finWait2At = undefined;
    this.persistAt = undefined;
    this.keepaliveAt = undefined;
    this.delAckAt = undefined;
    this.timeWaitAt = now + this.cfg.timeWaitMs;
  }

  /** An error, then CLOSED. */
  private fail(code: TcpErrorCode, message: string): void {
    this.events.push({ kind: "error", code, message });
    this.closeQuietly();
  }

  /** CLOSED: timers off, queues dropped, a "closed" event. */
  private closeQuietly(): void {
    if (this.st === "CLOSED") return;
    this.st = "CLOSED";
    this.rtoAt = undefined;
    this.persistAt = undefined;
    this.delAckAt = undefined;
    this.keepaliveAt = undefined;
    this.timeWaitAt = undefined;
    this.ptoAt = undefined;
    this.finWait2At = undefined;
    this.tlpPending = false;
    this.rxtMarks.length = 0;
    this.synPending = false;
    this.ackNow = false;
    this.retransmitHeadPending = false;
    this.persistProbePending = false;
    this.keepaliveProbePending = false;
    this.ooo.clear();
    this.scoreboard.clear();
    if (this.readablePending) {
      this.readablePending = false;
      this.events.push({ kind: "readable" });
    }
    this.events.push({ kind: "closed" });
  }

  private trace(now: number): void {
    if (this.onTrace === undefined) return;
    this.onTrace({
      t: now,
      cwnd: this.cc.cwnd,
      ssthresh: this.cc.ssthresh,
      srtt: this.rtt.srtt ?? 0,
      inFlight: seqSub(this.sndMax, this.sndUna),
    });
  }
}

const EMPTY = new Uint8Array(0);

/** The earlier of two optional deadlines. */
function earlier(a: number | undefined, b: number | undefined): number | undefined {
  if (a === undefined) return b;
  return b === undefined || a <= b ? a : b;
}

/** The options of a segment as a set; a malformed option list counts as none (RFC 9293 §3.2 MUST-7). */
function optionsOf(seg: TcpRepr): TcpOptionSet {
  const options = seg.options;
  if (options instanceof WireError || options.length === 0) return NO_OPTION_SET;
  // Nearly every segment of a connection with timestamps carries exactly `nop,nop,TS`: one object,
  // shaped as `tcpOptionSet`'s result (the immutable option itself serves as the timestamps field).
  if (options.length === 3) {
    const ts = options[2] as TcpOption;
    if (ts.kind === "timestamps" && options[0]?.kind === "nop" && options[1]?.kind === "nop") {
      return { mss: undefined, windowScale: undefined, sackPermitted: undefined, timestamps: ts, sack: undefined };
    }
  }
  return tcpOptionSet(options);
}

const NO_OPTION_SET: TcpOptionSet = Object.freeze({});

function assertNever(x: never): never {
  throw new Error(`unexpected TCP state ${String(x)}`);
}

/** Re-exported for tests that build SACK options. */
export type { SackBlock };
