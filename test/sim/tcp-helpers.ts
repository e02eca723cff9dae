/**
 * TCP simulation scaffolding: two stacks on one MemoryWire and one VirtualClock, bulk transfers
 * driven synchronously at the connection level (no Node streams, no event-loop turns: a 20 MB
 * transfer is a few hundred thousand clock callbacks and nothing else), cwnd/RTT traces, and the
 * measures the tests and scripts/tcp-sim.ts apply to them (loss events, slope of cwnd, Jain's index).
 *
 * The data of every flow comes from a seeded xorshift generator, so a run is reproducible and the
 * bytes differ at every offset (a segment delivered at the wrong place changes the SHA-256).
 *
 * Every loop is bounded: by virtual time (`limitMs`) and by the clock's own callback bound.
 */
import { createHash } from "node:crypto";
import { VirtualClock } from "../../src/time/clock.ts";
import { MemoryWire } from "../../src/device/memory-wire.ts";
import type { Impairments } from "../../src/device/fault.ts";
import type { FrameDevice, FrameReceiver } from "../../src/device/types.ts";
import { createStack, type Stack } from "../../src/stack.ts";
import { parseIpv4 } from "../../src/wire/ip-address.ts";
import type { TcpLayer } from "../../src/transport/tcp/layer.ts";
import type { TcpListener } from "../../src/transport/tcp/listener.ts";
import type { CongestionAlgorithm } from "../../src/transport/tcp/congestion.ts";
import type { Endpoint, TcpConfig, TcpConnection, TcpEvent, TcpState, TcpStats, TcpTraceSample } from "../../src/transport/tcp/connection.ts";

/** Addresses of the two simulated hosts. */
export const TCP_SIM_ADDR = {
  macA: "02:00:00:00:00:01",
  macB: "02:00:00:00:00:02",
  ipA: "10.0.0.1",
  ipB: "10.0.0.2",
} as const;

/** The TCP layer a stack composes (stack.ts wires it; tests drive it directly). */
export function tcpLayerOf(stack: Stack): TcpLayer {
  return stack.tcpLayer;
}

// ---------------------------------------------------------------------------------------------
// Data

/**
 * `length` bytes from a xorshift32 stream seeded with `seed` (Marsaglia 2003, shifts 13/17/5).
 * Deterministic and fast (20 MB in well under a second); not for anything but test data.
 */
export function patternBytes(length: number, seed: number): Uint8Array {
  const words = new Uint32Array(Math.ceil(length / 4));
  let x = (seed >>> 0) || 0x9e3779b9;
  for (let i = 0; i < words.length; i++) {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    words[i] = x;
  }
  return new Uint8Array(words.buffer, 0, length);
}

/** SHA-256 of `data`, hex. */
export function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

// ---------------------------------------------------------------------------------------------
// The simulated network

/** Options of `tcpSim`. */
export interface TcpSimOptions {
  /** Seed of the wire (stack A gets seed + 1, stack B seed + 2). */
  readonly seed: number;
  /** Impairments of every path of the wire (both directions). */
  readonly impairments?: Impairments;
  /** Settings of every connection either side opens or accepts. */
  readonly config?: TcpConfig;
  /** Wraps stack A's wire port (e.g. in a `DropDataDevice`). */
  readonly wrapA?: (port: FrameDevice, clock: VirtualClock) => FrameDevice;
}

/** Two stacks on one wire and one clock. */
export interface TcpSim {
  readonly clock: VirtualClock;
  readonly wire: MemoryWire;
  readonly a: Stack;
  readonly b: Stack;
  readonly tcpA: TcpLayer;
  readonly tcpB: TcpLayer;
  readonly config: TcpConfig;
  /** Closes both stacks and the wire. */
  close(): Promise<void>;
}

/** Builds two stacks, A = 10.0.0.1 and B = 10.0.0.2, on a seeded MemoryWire in virtual time. */
export function tcpSim(opts: TcpSimOptions): TcpSim {
  const clock = new VirtualClock();
  const wire = new MemoryWire({ clock, seed: opts.seed, ...opts.impairments });
  const common = { clock, dad: false, routerSolicitation: false } as const;
  const portA = wire.port("a");
  const a = createStack({ ...common, device: opts.wrapA?.(portA, clock) ?? portA, seed: opts.seed + 1, mac: TCP_SIM_ADDR.macA, ipv4: `${TCP_SIM_ADDR.ipA}/24` });
  const b = createStack({ ...common, device: wire.port("b"), seed: opts.seed + 2, mac: TCP_SIM_ADDR.macB, ipv4: `${TCP_SIM_ADDR.ipB}/24` });
  return {
    clock,
    wire,
    a,
    b,
    tcpA: tcpLayerOf(a),
    tcpB: tcpLayerOf(b),
    config: opts.config ?? {},
    async close() {
      await a.close();
      await b.close();
      wire.close();
    },
  };
}

/**
 * A FrameDevice wrapper that loses chosen frames on purpose: for each time in `dropAt`, the first
 * frame of at least `minLength` bytes (a full-sized TCP data segment) sent at or after it. One loss
 * at a known moment shows a congestion response in isolation, which random loss cannot.
 */
export class DropDataDevice implements FrameDevice {
  readonly name: string;
  readonly mtu: number;
  /** When each drop happened. */
  readonly droppedAt: number[] = [];
  private readonly pending: number[];

  constructor(
    private readonly inner: FrameDevice,
    private readonly clock: VirtualClock,
    dropAt: readonly number[],
    private readonly minLength = 1000,
  ) {
    this.name = inner.name;
    this.mtu = inner.mtu;
    this.pending = [...dropAt].sort((x, y) => x - y);
  }

  send(frame: Uint8Array): void {
    const now = this.clock.now();
    const next = this.pending[0];
    if (next !== undefined && now >= next && frame.length >= this.minLength) {
      this.pending.shift();
      this.droppedAt.push(now);
      return;
    }
    this.inner.send(frame);
  }

  setReceiver(receiver: FrameReceiver): void {
    this.inner.setReceiver(receiver);
  }

  close(): void {
    this.inner.close();
  }
}

// ---------------------------------------------------------------------------------------------
// One endpoint of a transfer

/** A state the connection was in after a clock callback, with the virtual time first seen. */
export interface StateStep {
  readonly t: number;
  readonly state: TcpState;
}

/** A trace sample as recorded: the connection's `onTrace` sample. */
export type TraceSample = TcpTraceSample;

/**
 * One side of a connection in a transfer: writes `send` (when given) then shuts down, reads and
 * hashes everything the peer sends, and records states, events and the cwnd trace.
 */
export class SimEnd {
  readonly states: StateStep[] = [];
  /** Events other than "readable" and "writable" (those are only counted, in `eventCounts`). */
  readonly events: TcpEvent[] = [];
  readonly eventCounts = new Map<TcpEvent["kind"], number>();
  readonly trace: TraceSample[] = [];
  /** Bytes handed to the connection so far. */
  written = 0;
  /** Bytes read so far. */
  received = 0;
  /** The virtual time the last byte was read, and the peer's FIN ("end"). */
  lastByteAt: number | undefined = undefined;
  endAt: number | undefined = undefined;
  shutdownAt: number | undefined = undefined;
  private readonly hash = createHash("sha256");
  private digest: string | undefined = undefined;

  constructor(
    readonly conn: TcpConnection,
    private readonly layer: TcpLayer,
    /** What this side sends, then shuts down; undefined: nothing, and shut down after the peer's FIN; `endless`: a block over and over. */
    private readonly send: Uint8Array | { readonly endless: Uint8Array } | undefined,
    /** Hash what arrives (costs time; off for fairness runs). */
    private readonly hashInput: boolean,
    now: number,
  ) {
    conn.onTrace = (s) => this.trace.push({ ...s });
    this.states.push({ t: now, state: conn.state });
    layer.setOwner(conn, {
      deliver: (evs) => {
        for (const ev of evs) {
          this.eventCounts.set(ev.kind, (this.eventCounts.get(ev.kind) ?? 0) + 1);
          if (ev.kind !== "readable" && ev.kind !== "writable") this.events.push(ev);
        }
      },
    });
  }

  /** The SHA-256 of everything read (final once the peer's FIN has been read). */
  receivedSha256(): string {
    this.digest ??= this.hash.digest("hex");
    return this.digest;
  }

  /** Moves data both ways as far as the connection allows; true when it called into the connection. */
  pump(now: number): boolean {
    const c = this.conn;
    let touched = false;
    const st = c.state;
    if (this.states[this.states.length - 1]?.state !== st) this.states.push({ t: now, state: st });
    if (st === "CLOSED") return false;
    // Read.
    for (let guard = 0; guard < 100_000; guard++) {
      const piece = c.read();
      if (piece === undefined || piece.length === 0) break;
      touched = true;
      this.received += piece.length;
      this.lastByteAt = now;
      if (this.hashInput) this.hash.update(piece);
    }
    if (this.endAt === undefined && this.events.some((e) => e.kind === "end")) this.endAt = now;
    // Write.
    const synchronized = st !== "SYN-SENT" && st !== "SYN-RECEIVED" && st !== "LISTEN";
    if (synchronized && this.send !== undefined && this.shutdownAt === undefined) {
      if (this.send instanceof Uint8Array) {
        const data = this.send;
        if (this.written < data.length && c.writableFree > 0) {
          this.written += c.write(data.subarray(this.written));
          touched = true;
        }
        if (this.written === data.length) {
          c.shutdown(now);
          this.shutdownAt = now;
          touched = true;
        }
      } else {
        const block = this.send.endless;
        for (let guard = 0; guard < 1000 && c.writableFree > 0; guard++) {
          const off = this.written % block.length;
          const n = c.write(block.subarray(off));
          if (n === 0) break;
          this.written += n;
          touched = true;
        }
      }
    }
    // A side with nothing to send closes once the peer has (as net's allowHalfOpen = false).
    if (this.send === undefined && this.endAt !== undefined && this.shutdownAt === undefined) {
      c.shutdown(now);
      this.shutdownAt = now;
      touched = true;
    }
    if (touched) this.layer.kick(c);
    return touched;
  }

  /** Shuts an endless sender down (FIN after what is buffered). */
  stopSending(now: number): void {
    if (this.shutdownAt !== undefined || this.conn.state === "CLOSED") return;
    this.conn.shutdown(now);
    this.shutdownAt = now;
    this.layer.kick(this.conn);
  }

  /** The states passed through, as names. */
  stateNames(): TcpState[] {
    return this.states.map((s) => s.state);
  }
}

/** What each side of a connection sends. */
export interface PairOptions {
  /** Client (A) → server (B) data. */
  readonly upload?: Uint8Array | { readonly endless: Uint8Array } | undefined;
  /** Server (B) → client (A) data. */
  readonly download?: Uint8Array | { readonly endless: Uint8Array } | undefined;
  readonly port: number;
  readonly hash?: boolean;
  readonly config?: TcpConfig;
}

/** A connection between the two stacks, both ends wrapped as `SimEnd`s. */
export interface Pair {
  readonly client: SimEnd;
  /** Undefined until the server accepted the connection. */
  server: SimEnd | undefined;
}

/**
 * Drives connections on a TcpSim: opens them, pumps data after every clock callback, and runs until
 * a condition holds. All synchronous; every run is bounded in virtual time.
 */
export class Driver {
  readonly pairs: Pair[] = [];
  private readonly listeners = new Map<number, { l: TcpListener; waiting: { pair: Pair; opts: PairOptions }[] }>();

  constructor(readonly sim: TcpSim) {}

  /** Opens a connection A → B:port (B listens on the port if it does not already). */
  open(opts: PairOptions): Pair {
    const { sim } = this;
    const now = sim.clock.now();
    const config = { ...sim.config, ...opts.config };
    let entry = this.listeners.get(opts.port);
    if (entry === undefined) {
      entry = { l: sim.tcpB.listen(opts.port, { family: 4 }, { config }), waiting: [] };
      this.listeners.set(opts.port, entry);
    }
    const remote: Endpoint = { family: 4, address: parseIpv4(TCP_SIM_ADDR.ipB)!, port: opts.port };
    const conn = sim.tcpA.connect(remote, { config }, now);
    const pair: Pair = { client: new SimEnd(conn, sim.tcpA, opts.upload, opts.hash ?? true, now), server: undefined };
    entry.waiting.push({ pair, opts });
    this.pairs.push(pair);
    sim.a.kick();
    return pair;
  }

  /** Accepts, pumps every endpoint; kicks the stacks when anything moved. */
  pump(): void {
    const { sim } = this;
    const now = sim.clock.now();
    let movedA = false;
    let movedB = false;
    for (const entry of this.listeners.values()) {
      for (let c = sim.tcpB.accept(entry.l); c !== undefined; c = sim.tcpB.accept(entry.l)) {
        // Matched by the client's port: under loss, handshakes may complete out of order.
        const i = entry.waiting.findIndex((w) => w.pair.client.conn.local.port === c.remote.port);
        const w = entry.waiting[i];
        if (w === undefined) throw new Error("tcp-helpers: accepted a connection nobody opened");
        entry.waiting.splice(i, 1);
        w.pair.server = new SimEnd(c, sim.tcpB, w.opts.download, w.opts.hash ?? true, now);
        movedB = true;
      }
    }
    for (const p of this.pairs) {
      if (p.client.pump(now)) movedA = true;
      if (p.server?.pump(now)) movedB = true;
    }
    if (movedA) sim.a.kick();
    if (movedB) sim.b.kick();
  }

  /**
   * Fires clock callbacks, pumping after each, until `done()` holds or `limitMs` of virtual time
   * passed. Returns whether `done()` held.
   */
  runUntil(done: () => boolean, limitMs: number): boolean {
    this.pump();
    return this.sim.clock.runUntil(
      () => {
        this.pump();
        return done();
      },
      { limitMs },
    );
  }

  /** Runs `ms` of virtual time, pumping after every callback. */
  runFor(ms: number): void {
    const end = this.sim.clock.now() + ms;
    this.runUntil(() => false, ms);
    if (this.sim.clock.now() < end) this.sim.clock.advanceTo(end);
    this.pump();
  }
}

/** Every endpoint of a pair that exists. */
export function endpoints(p: Pair): SimEnd[] {
  return p.server === undefined ? [p.client] : [p.client, p.server];
}

/** A one-line summary of a stuck pair, for failure messages: states, stats, bytes. */
export function describePair(p: Pair): string {
  const side = (name: string, e: SimEnd | undefined): string => {
    if (e === undefined) return `${name}: not accepted`;
    const s: TcpStats = e.conn.stats();
    return (
      `${name}: ${e.stateNames().join(">")} written ${e.written} received ${e.received} ` +
      `cwnd ${s.cwnd} ssthresh ${s.ssthresh} srtt ${s.srtt} rto ${s.rto} sndWnd ${s.sndWnd} rcvWnd ${s.rcvWnd} ` +
      `retx ${s.retransmits} fast ${s.fastRetransmits} timeouts ${s.timeouts} tcb ${JSON.stringify(e.conn.tcb())} ` +
      `events ${e.events.map((ev) => (ev.kind === "error" ? `error ${ev.code} ${ev.message}` : ev.kind)).join(",")}`
    );
  };
  return `${side("client", p.client)} | ${side("server", p.server)}`;
}

// ---------------------------------------------------------------------------------------------
// Trace analysis

/** A congestion response seen in a trace: ssthresh was set anew and cwnd went down. */
export interface LossEvent {
  readonly t: number;
  /** cwnd before and after, bytes. */
  readonly before: number;
  readonly after: number;
  readonly ssthresh: number;
  /** "rto" when cwnd fell to one segment (RFC 5681 §3.1 LW), else a fast-recovery entry. */
  readonly kind: "fast" | "rto";
}

/** The congestion responses of a trace, in order (see `LossEvent`). */
export function lossEvents(trace: readonly TraceSample[], mss: number): LossEvent[] {
  const out: LossEvent[] = [];
  for (let i = 1; i < trace.length; i++) {
    const p = trace[i - 1]!;
    const s = trace[i]!;
    if (s.ssthresh !== p.ssthresh && s.cwnd < p.cwnd) {
      out.push({ t: s.t, before: p.cwnd, after: s.cwnd, ssthresh: s.ssthresh, kind: s.cwnd <= mss ? "rto" : "fast" });
    }
  }
  return out;
}

/** cwnd at time `t`: the last sample at or before it (undefined before the first). */
export function cwndAt(trace: readonly TraceSample[], t: number): number | undefined {
  let lo = 0;
  let hi = trace.length - 1;
  let found: number | undefined;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (trace[mid]!.t <= t) {
      found = trace[mid]!.cwnd;
      lo = mid + 1;
    } else hi = mid - 1;
  }
  return found;
}

/** Jain's fairness index (Σx)² / (n·Σx²): 1 when all equal, 1/n when one takes everything. */
export function jainIndex(xs: readonly number[]): number {
  const sum = xs.reduce((a, b) => a + b, 0);
  const sq = xs.reduce((a, b) => a + b * b, 0);
  return sq === 0 ? 1 : (sum * sum) / (xs.length * sq);
}

/** The trace as CSV, `t,cwnd,ssthresh,srtt,inflight` (the columns scripts/plot-cwnd.ts reads). */
export function traceCsv(trace: readonly TraceSample[]): string {
  const lines = ["t,cwnd,ssthresh,srtt,inflight"];
  for (const s of trace) {
    const ss = Number.isFinite(s.ssthresh) ? String(s.ssthresh) : "";
    lines.push(`${round3(s.t)},${s.cwnd},${ss},${round3(s.srtt)},${s.inFlight}`);
  }
  return lines.join("\n") + "\n";
}

function round3(v: number): string {
  return String(Math.round(v * 1000) / 1000);
}

/** Least-squares slope of cwnd over time, bytes per second, for the samples in [from, to). */
export function cwndSlope(trace: readonly TraceSample[], from: number, to: number): number {
  const pts = trace.filter((s) => s.t >= from && s.t < to);
  if (pts.length < 2) return Number.NaN;
  const n = pts.length;
  const mt = pts.reduce((a, s) => a + s.t, 0) / n;
  const mc = pts.reduce((a, s) => a + s.cwnd, 0) / n;
  let num = 0;
  let den = 0;
  for (const s of pts) {
    num += (s.t - mt) * (s.cwnd - mc);
    den += (s.t - mt) ** 2;
  }
  return den === 0 ? Number.NaN : (num / den) * 1000;
}

/** Congestion algorithms, for loops over both. */
export const ALGORITHMS: readonly CongestionAlgorithm[] = ["cubic", "newreno"];
