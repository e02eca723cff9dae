/**
 * Capture: a FrameDevice wrapper that tees every frame sent and received to a packet sink (a pcap or
 * pcapng writer), like smoltcp's `PcapWriter<D>` (STYLE.md §11).
 *
 * Frames are written before they move on: a sent frame before the inner device owns it, a received
 * batch before the receiver (which may mutate it) sees it. The sink must therefore copy or write
 * synchronously. Timestamps are `clock.epochMs + clock.now()`, split so that sub-microsecond
 * precision survives (see `captureTimestamp`); with a VirtualClock they are the same on every run.
 * Where it sits in a stack of wrappers decides what it records: outside a FaultDevice it sees frames
 * before loss, inside it sees what the link carried.
 */
import type { Clock } from "../time/clock.ts";
import type { FrameDevice, FrameReceiver } from "./types.ts";

/** Where captured frames go; the pcap/pcapng writers match this structurally. */
export interface PacketSink {
  /**
   * Records one frame at absolute time `sec` + `nsec`·10⁻⁹ since the Unix epoch. `origLen` is the
   * frame's length on the wire when `frame` was cut short (snap length); absent means `frame.length`.
   */
  writePacket(frame: Uint8Array, sec: number, nsec: number, origLen?: number): void;
  /** Flushes and releases the sink. */
  close(): void;
}

/** An absolute timestamp: seconds since the Unix epoch and nanoseconds in [0, 10⁹). */
export interface CaptureTimestamp {
  readonly sec: number;
  readonly nsec: number;
}

/**
 * Splits `epochMs + nowMs` into seconds and nanoseconds. Adding the two as floats would round the
 * fraction of `nowMs` to ~0.2 µs (an epoch in ms needs 41 bits); splitting off the integer ms first
 * keeps it to the nanosecond.
 */
export function captureTimestamp(epochMs: number, nowMs: number): CaptureTimestamp {
  const wholeMs = Math.floor(nowMs);
  const fraction = nowMs - wholeMs;
  const totalMs = epochMs + wholeMs;
  let sec = Math.floor(totalMs / 1000);
  let nsec = (totalMs - sec * 1000) * 1_000_000 + Math.round(fraction * 1_000_000);
  if (nsec >= 1_000_000_000) {
    sec += 1;
    nsec -= 1_000_000_000;
  }
  return { sec, nsec };
}

/** Options of `CaptureDevice`. */
export interface CaptureOptions {
  readonly clock: Clock;
  /** Record at most this many bytes of each frame (the rest is reported as `origLen`). Default: all. */
  readonly snapLen?: number;
}

/** A FrameDevice that records every frame sent and received through it. */
export class CaptureDevice implements FrameDevice {
  readonly name: string;
  readonly mtu: number;
  private receiver: FrameReceiver | undefined;
  private closed = false;
  private readonly snapLen: number;

  constructor(
    private readonly inner: FrameDevice,
    private readonly sink: PacketSink,
    private readonly options: CaptureOptions,
  ) {
    this.name = inner.name;
    this.mtu = inner.mtu;
    this.snapLen = options.snapLen ?? Infinity;
    if (!(this.snapLen >= 1)) throw new RangeError(`CaptureDevice: snapLen ${options.snapLen} < 1`);
    inner.setReceiver((frames, checksumsValid) => {
      if (this.closed) return;
      for (const f of frames) this.record(f);
      this.receiver?.(frames, checksumsValid);
    });
  }

  send(frame: Uint8Array): void {
    if (this.closed) return;
    this.record(frame);
    this.inner.send(frame);
  }

  setReceiver(receiver: FrameReceiver): void {
    this.receiver = receiver;
  }

  /** Closes the inner device, then the sink. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    try {
      this.inner.close();
    } finally {
      this.sink.close();
    }
  }

  private record(frame: Uint8Array): void {
    const { clock } = this.options;
    const { sec, nsec } = captureTimestamp(clock.epochMs, clock.now());
    if (frame.length > this.snapLen) this.sink.writePacket(frame.subarray(0, this.snapLen), sec, nsec, frame.length);
    else this.sink.writePacket(frame, sec, nsec);
  }
}
