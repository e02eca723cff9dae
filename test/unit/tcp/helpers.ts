/**
 * Dialogue helpers for TcpConnection tests, in the style of smoltcp's socket tests: `send` a segment,
 * `expectRecv` exactly these segments, `expectNothingUntil(t)` in virtual time.
 *
 * Segments are written and compared in a compact form: flags as tcpdump prints them ("S", "S.", ".",
 * "P.", "F.", "R."), payload as a latin1 string. Sequence numbers are absolute: our ISS is LOCAL_ISS,
 * the peer's REMOTE_ISS.
 */
import { expect } from "vitest";
import { TcpConnection, type Endpoint, type SegmentOut, type TcpConfig, type TcpEvent } from "../../../src/transport/tcp/connection.ts";
import { seededRandom } from "../../../src/time/random.ts";
import { NO_TCP_OPTIONS, TCP_ACK, TCP_SYN, tcpFlagsString, type TcpOption, type TcpRepr } from "../../../src/wire/tcp.ts";

export const LOCAL: Endpoint = { family: 4, address: 0x0a000001, port: 49500 };
export const REMOTE: Endpoint = { family: 4, address: 0x0a000002, port: 80 };
export const LOCAL_ISS = 10_000;
export const REMOTE_ISS = 5_000;
export const SEED = 1;

/** The timestamp offset a connection built with `seededRandom(SEED)` uses. */
export function tsOffset(seed = SEED): number {
  return seededRandom(seed).nextU32();
}

/** Small buffers and no options: the segments of most tests stay short to read. */
export const PLAIN: TcpConfig = {
  windowScale: false,
  timestamps: false,
  sack: false,
  congestion: "newreno",
  recvBufferSize: 4096,
  sendBufferSize: 65536,
};

/** A segment as a test writes it. */
export interface In {
  seq: number;
  ack?: number;
  flags: number;
  window?: number;
  options?: readonly TcpOption[];
  payload?: string | Uint8Array;
}

/** A segment as a test expects it. */
export interface Out {
  seq: number;
  ack: number;
  flags: string;
  window: number;
  options: readonly TcpOption[];
  payload: string;
}

export function bytes(s: string): Uint8Array {
  return Uint8Array.from(Buffer.from(s, "latin1"));
}

export function repr(s: In): TcpRepr {
  return {
    srcPort: REMOTE.port,
    dstPort: LOCAL.port,
    seq: s.seq >>> 0,
    ack: (s.ack ?? 0) >>> 0,
    flags: s.flags,
    window: s.window ?? 65535,
    urgentPointer: 0,
    options: s.options ?? NO_TCP_OPTIONS,
    payload: typeof s.payload === "string" ? bytes(s.payload) : (s.payload ?? new Uint8Array(0)),
  };
}

export function norm(s: SegmentOut): Out {
  return {
    seq: s.seq,
    ack: s.ack,
    flags: tcpFlagsString(s.flags),
    window: s.window,
    options: s.options.length === 0 ? [] : [...s.options],
    payload: Buffer.from(s.payload).toString("latin1"),
  };
}

/** An expected segment: ACK flag, window and empty options/payload unless given. */
export function out(o: Partial<Out> & { seq: number; ack: number }, defaults: { window: number }): Out {
  return { flags: ".", window: defaults.window, options: [], payload: "", ...o };
}

export class Dialogue {
  now = 0;
  readonly conn: TcpConnection;
  /** The Window field our segments carry by default in `out`. */
  window: number;

  constructor(config: TcpConfig = PLAIN, opts: { iss?: number; now?: number } = {}) {
    this.now = opts.now ?? 0;
    this.conn = new TcpConnection({
      local: LOCAL,
      remote: REMOTE,
      iss: opts.iss ?? LOCAL_ISS,
      config,
      random: seededRandom(SEED),
      now: this.now,
    });
    this.window = Math.min(config.recvBufferSize ?? 256 * 1024, 65535);
  }

  send(s: In): void {
    this.conn.processSegment(repr(s), this.now);
  }

  recv(): Out[] {
    const got: Out[] = [];
    this.conn.dispatch(this.now, (s) => got.push(norm(s)));
    return got;
  }

  /** Exactly these segments now (partial descriptions are filled with `out`'s defaults). */
  expectRecv(expected: (Partial<Out> & { seq: number; ack: number })[]): void {
    expect(this.recv()).toEqual(expected.map((e) => out(e, { window: this.window })));
  }

  /** Sets the clock to `t` and fires due timers. */
  at(t: number): void {
    this.now = t;
    this.conn.poll(t);
  }

  /**
   * Runs every timer due before `t`, asserting that nothing is sent, then moves to `t` and fires
   * what is due there (the caller then checks what is sent at `t`).
   */
  expectNothingUntil(t: number): void {
    expect(this.recv()).toEqual([]);
    for (let guard = 0; guard < 1000; guard++) {
      const d = this.conn.nextDeadline();
      if (d === undefined || d >= t) break;
      this.at(Math.max(d, this.now));
      expect(this.recv(), `at ${this.now}`).toEqual([]);
    }
    this.at(t);
  }

  events(): readonly TcpEvent[] {
    return this.conn.takeEvents();
  }

  /** Active open to ESTABLISHED: SYN out, SYN-ACK in (with `synAckOptions`), ACK out. */
  static established(config: TcpConfig = PLAIN, synAckOptions: readonly TcpOption[] = [{ kind: "mss", mss: 1460 }], window = 65535): Dialogue {
    const d = new Dialogue(config);
    d.conn.connect(d.now);
    d.recv();
    d.send({ seq: REMOTE_ISS, ack: LOCAL_ISS + 1, flags: TCP_SYN | TCP_ACK, window, options: synAckOptions });
    d.recv();
    d.events();
    return d;
  }
}

export { TCP_ACK };
