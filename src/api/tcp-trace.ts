/**
 * `--trace tcp`: one line per connection event, for watching a stack's TCP at work — each new
 * connection, every state change (RFC 9293 §3.3.2 spelling), retransmissions, retransmission
 * timeouts and fast retransmits with the congestion window before and after (RFC 5681 §3.1–§3.2,
 * RFC 6298 §5.5), and a summary when the connection leaves the table.
 *
 *   tcp 3.141 10.0.0.1:7>10.0.0.2:40001 new SYN-RECEIVED
 *   tcp 3.162 10.0.0.1:7>10.0.0.2:40001 state SYN-RECEIVED > ESTABLISHED
 *   tcp 4.020 10.0.0.1:7>10.0.0.2:40001 fast-retransmit cwnd 28960 > 20272 ssthresh 20272 srtt 21.0ms
 *   tcp 4.900 10.0.0.1:7>10.0.0.2:40001 rto #1 cwnd 20272 > 1448 ssthresh 14190 rto 412ms
 *   tcp 4.901 10.0.0.1:7>10.0.0.2:40001 retransmit +1 (total 4)
 *   tcp 9.000 10.0.0.1:7>10.0.0.2:40001 closed in 1048576 out 52 segments 790/750 retransmits 4 (fast 1, timeouts 1) srtt 20.4ms
 *
 * Time is seconds on the stack's clock. The tracer reads what connections already expose — `state`,
 * `stats()` and the `onTrace` cwnd hook — and never changes them. Lines collected inside a
 * transition (the cwnd hook) are written at the next `check`, after the transition finished
 * (STYLE.md: finish, then notify).
 */
import type { Stack } from "../stack.ts";
import type { Endpoint, TcpState, TcpStats, TcpTraceSample } from "../transport/tcp/connection.ts";
import { ipv4ToString, ipv6ToString } from "../wire/ip-address.ts";

/** What the tracer needs of a connection (TcpConnection fits). */
export interface TraceableConnection {
  readonly local: Endpoint;
  readonly remote: Endpoint;
  readonly state: TcpState;
  stats(): TcpStats;
  onTrace: ((sample: TcpTraceSample) => void) | undefined;
}

/** Where connections come from (TcpLayer fits). */
export interface TraceableConnections {
  connections(): readonly TraceableConnection[];
}

interface Watched {
  readonly name: string;
  state: TcpState;
  retransmits: number;
  timeouts: number;
  fastRetransmits: number;
  /** cwnd and ssthresh of the last cwnd sample, to see a reduction. */
  cwnd: number;
  ssthresh: number;
}

/** "10.0.0.1:7>10.0.0.2:40001" (IPv6 addresses in brackets). */
export function connectionName(local: Endpoint, remote: Endpoint): string {
  const text = (e: Endpoint): string =>
    e.family === 4 ? `${ipv4ToString(e.address as number)}:${e.port}` : `[${ipv6ToString(e.address as Uint8Array)}]:${e.port}`;
  return `${text(local)}>${text(remote)}`;
}

function ms(v: number | undefined): string {
  return v === undefined ? "-" : `${v.toFixed(1)}ms`;
}

function threshold(v: number): string {
  return Number.isFinite(v) ? String(v) : "inf";
}

/** Follows the connections of one TCP layer and writes a line per event (see the module comment). */
export class TcpTracer {
  private readonly watched = new Map<TraceableConnection, Watched>();
  private queued: string[] = [];

  constructor(
    private readonly source: TraceableConnections,
    /** Receives each line, newline included. */
    private readonly write: (line: string) => void,
  ) {}

  /** Compares every connection with what was last reported and writes the differences. */
  check(now: number): void {
    const stamp = (now / 1000).toFixed(3);
    const flushQueued = (): void => {
      for (const l of this.queued) this.write(l);
      this.queued = [];
    };
    flushQueued();
    const seen = new Set<TraceableConnection>();
    for (const conn of this.source.connections()) {
      seen.add(conn);
      let w = this.watched.get(conn);
      const s = conn.stats();
      if (w === undefined) {
        w = this.watch(conn, s);
        this.write(`tcp ${stamp} ${w.name} new ${s.state}\n`);
      }
      this.report(conn, w, s, stamp);
    }
    for (const [conn, w] of this.watched) {
      if (seen.has(conn)) continue;
      // Gone from the table: CLOSED. Its last changes are reported first.
      const s = conn.stats();
      this.report(conn, w, s, stamp);
      this.write(
        `tcp ${stamp} ${w.name} closed in ${s.bytesIn} out ${s.bytesOut} segments ${s.segmentsIn}/${s.segmentsOut} ` +
          `retransmits ${s.retransmits} (fast ${s.fastRetransmits}, timeouts ${s.timeouts}) srtt ${ms(s.srtt)}\n`,
      );
      this.watched.delete(conn);
    }
    flushQueued();
  }

  private watch(conn: TraceableConnection, s: TcpStats): Watched {
    const w: Watched = {
      name: connectionName(conn.local, conn.remote),
      state: s.state,
      retransmits: s.retransmits,
      timeouts: s.timeouts,
      fastRetransmits: s.fastRetransmits,
      cwnd: s.cwnd,
      ssthresh: s.ssthresh,
    };
    this.watched.set(conn, w);
    const previous = conn.onTrace;
    conn.onTrace = (sample) => {
      previous?.(sample);
      this.onSample(conn, w, sample);
    };
    return w;
  }

  /**
   * A cwnd sample, inside a transition. The connection counts a fast retransmit or a timeout before
   * it samples the window it set in response, so the counters name the cause of this sample.
   */
  private onSample(conn: TraceableConnection, w: Watched, sample: TcpTraceSample): void {
    const s = conn.stats();
    const stamp = (sample.t / 1000).toFixed(3);
    const change = `cwnd ${w.cwnd} > ${sample.cwnd} ssthresh ${threshold(sample.ssthresh)}`;
    if (s.timeouts > w.timeouts) {
      this.queued.push(`tcp ${stamp} ${w.name} rto #${s.timeouts} ${change} rto ${s.rto}ms\n`);
      w.timeouts = s.timeouts;
    } else if (s.fastRetransmits > w.fastRetransmits) {
      this.queued.push(`tcp ${stamp} ${w.name} fast-retransmit ${change} srtt ${ms(s.srtt)}\n`);
      w.fastRetransmits = s.fastRetransmits;
    }
    w.cwnd = sample.cwnd;
    w.ssthresh = sample.ssthresh;
  }

  private report(_conn: TraceableConnection, w: Watched, s: TcpStats, stamp: string): void {
    if (s.state !== w.state) {
      this.write(`tcp ${stamp} ${w.name} state ${w.state} > ${s.state}\n`);
      w.state = s.state;
    }
    if (s.timeouts > w.timeouts) {
      // A timeout the cwnd hook did not see (a SYN or SYN-ACK retransmission).
      this.write(`tcp ${stamp} ${w.name} rto #${s.timeouts} rto ${s.rto}ms cwnd ${s.cwnd}\n`);
      w.timeouts = s.timeouts;
    }
    if (s.fastRetransmits > w.fastRetransmits) {
      this.write(`tcp ${stamp} ${w.name} fast-retransmit cwnd ${s.cwnd} ssthresh ${threshold(s.ssthresh)}\n`);
    }
    if (s.retransmits > w.retransmits) {
      this.write(`tcp ${stamp} ${w.name} retransmit +${s.retransmits - w.retransmits} (total ${s.retransmits})\n`);
      w.retransmits = s.retransmits;
    }
    w.fastRetransmits = s.fastRetransmits;
  }
}

/**
 * Traces every TCP connection of `stack` to `write` (stderr for `--trace tcp`). The tracer runs
 * after each flush of the TCP layer — after every batch of frames, timer and application call — so
 * no state a connection passes through is missed.
 *
 * The layer has no observer hook yet, so this wraps the layer's `flush` on this one instance; a
 * `TcpLayer` hook would replace the wrapper without changing the output.
 */
export function traceTcp(stack: Stack, write: (line: string) => void): TcpTracer {
  const layer = stack.tcpLayer;
  const tracer = new TcpTracer(layer, write);
  const flush = layer.flush.bind(layer);
  layer.flush = (now: number): void => {
    flush(now);
    tracer.check(now);
  };
  return tracer;
}
