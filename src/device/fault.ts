/**
 * Fault injection: seeded, deterministic link impairments (smoltcp's `FaultInjector`, Linux netem),
 * and `FaultDevice`, a FrameDevice wrapper that applies them to both directions (STYLE.md §11).
 *
 * Theory of operation. A `FaultEngine` models one direction of one link. For each frame offered at
 * time `now` it decides, in this order:
 *
 *   1. mtu:       the Ethernet payload (frame length − 14) exceeds `mtu`       → dropped, `mtuDropped`
 *   2. queue:     with a rate, `queueLimit` frames already wait or transmit     → tail drop, `queueDropped`
 *                 otherwise the frame is serialized after the previous one: it leaves the sender at
 *                 departure = max(now, link free) + length·8 / rate
 *   3. loss:      with probability `loss` the frame vanishes on the wire (it still used the link) → `lost`
 *   4. corrupt:   with probability `corrupt` one random bit of one byte after the 14-byte Ethernet
 *                 header is flipped, so IP/TCP/UDP checksums catch it         → `corrupted`
 *   5. delay:     arrival = departure + `delayMs` + uniform [0, `jitterMs`), but never before the
 *                 previous in-order arrival: jitter varies latency, it does not reorder
 *   6. reorder:   with probability `reorder` the frame is held back `reorderDelayMs` more, and frames
 *                 sent after it may overtake it                                → `reordered`
 *   7. duplicate: with probability `duplicate` a second copy arrives right after it → `duplicated`
 *
 * Each impairment draws from its own fork of the engine's Random, so enabling one does not change
 * which frames another picks. Arrivals go through a `DeliveryQueue`, which schedules them on the
 * Clock and hands frames due at the same instant to the receiver as one batch. Delivery is never
 * synchronous, even with no impairment at all: a sender never re-enters its own receive path.
 * `delivered` counts copies handed to a receiver; `undeliverable` counts copies that arrived when
 * there was none (no receiver set, or the device closed).
 */
import type { Clock, TimerId } from "../time/clock.ts";
import { seededRandom, type Random } from "../time/random.ts";
import type { FrameDevice, FrameReceiver } from "./types.ts";

/** Impairments of one link direction. Every field is optional; absent means "no such impairment". */
export interface Impairments {
  /** Probability in [0, 1] that a frame is lost. */
  readonly loss?: number;
  /** Probability in [0, 1] that a frame arrives twice. */
  readonly duplicate?: number;
  /** Probability in [0, 1] that a frame is held back `reorderDelayMs` so later frames overtake it. */
  readonly reorder?: number;
  /** How long a reordered frame is held back, ms. Default 1. */
  readonly reorderDelayMs?: number;
  /** Probability in [0, 1] that one bit after the Ethernet header is flipped. */
  readonly corrupt?: number;
  /** Fixed one-way latency, ms. */
  readonly delayMs?: number;
  /** Extra latency drawn uniformly from [0, jitterMs) per frame, ms. Does not reorder. */
  readonly jitterMs?: number;
  /** Link rate; frames are serialized one after another at this rate. Default: unlimited. */
  readonly rateBitsPerSecond?: number;
  /** With a rate: frames waiting or being transmitted before tail drop. Default 1000 (Linux txqueuelen). */
  readonly queueLimit?: number;
  /** Largest Ethernet payload carried; larger frames are dropped (a black hole, for PMTU tests). */
  readonly mtu?: number;
}

/** What happened to the frames offered to a link direction. */
export interface FaultCounters {
  /** Frames offered. */
  sent: number;
  /** Copies handed to a receiver (duplicates included). */
  delivered: number;
  lost: number;
  duplicated: number;
  reordered: number;
  corrupted: number;
  queueDropped: number;
  mtuDropped: number;
  /** Copies that arrived with no receiver (none set yet, or closed). */
  undeliverable: number;
}

/** A zeroed counter set. */
export function emptyCounters(): FaultCounters {
  return {
    sent: 0,
    delivered: 0,
    lost: 0,
    duplicated: 0,
    reordered: 0,
    corrupted: 0,
    queueDropped: 0,
    mtuDropped: 0,
    undeliverable: 0,
  };
}

/** Adds `b` into `a` (for totals over several links). */
export function addCounters(a: FaultCounters, b: Readonly<FaultCounters>): FaultCounters {
  for (const k of Object.keys(a) as (keyof FaultCounters)[]) a[k] += b[k];
  return a;
}

const ETHERNET_HEADER_LEN = 14;
const DEFAULT_QUEUE_LIMIT = 1000;
const DEFAULT_REORDER_DELAY_MS = 1;

function checkProbability(name: string, p: number | undefined): number {
  const v = p ?? 0;
  if (!(v >= 0 && v <= 1)) throw new RangeError(`Impairments.${name}: ${p} is not a probability in [0, 1]`);
  return v;
}

function checkNonNegative(name: string, x: number | undefined, dflt: number): number {
  const v = x ?? dflt;
  if (!(v >= 0)) throw new RangeError(`Impairments.${name}: ${x} is not a non-negative number`);
  return v;
}

/**
 * Schedules frame arrivals on a Clock and delivers each instant's frames as one batch, in the order
 * they were added. `deliver` returns false when nobody took the batch (counted `undeliverable`).
 */
export class DeliveryQueue {
  private readonly batches = new Map<number, { id: TimerId; frames: Uint8Array[]; counters: FaultCounters[] }>();

  constructor(
    private readonly clock: Clock,
    private readonly deliver: (frames: Uint8Array[]) => boolean,
  ) {}

  /** Queues `frame` to arrive at `at`; `counters` is charged with the outcome. */
  add(at: number, frame: Uint8Array, counters: FaultCounters): void {
    const batch = this.batches.get(at);
    if (batch !== undefined) {
      batch.frames.push(frame);
      batch.counters.push(counters);
      return;
    }
    const frames = [frame];
    const owners = [counters];
    const id = this.clock.schedule(at, () => {
      this.batches.delete(at);
      const taken = this.deliver(frames);
      for (const c of owners) {
        if (taken) c.delivered++;
        else c.undeliverable++;
      }
    });
    this.batches.set(at, { id, frames, counters: owners });
  }

  /** Frames scheduled and not yet delivered. */
  get pending(): number {
    let n = 0;
    for (const b of this.batches.values()) n += b.frames.length;
    return n;
  }

  /** Cancels every pending arrival (they are neither delivered nor counted). */
  clear(): void {
    for (const b of this.batches.values()) this.clock.cancel(b.id);
    this.batches.clear();
  }
}

/** One direction of one link: decides each frame's fate and queues its arrivals. */
export class FaultEngine {
  /** Live counters of this direction. */
  readonly counters: FaultCounters = emptyCounters();

  private readonly loss: number;
  private readonly duplicate: number;
  private readonly reorder: number;
  private readonly reorderDelayMs: number;
  private readonly corrupt: number;
  private readonly delayMs: number;
  private readonly jitterMs: number;
  private readonly rate: number | undefined;
  private readonly queueLimit: number;
  private readonly mtu: number;

  private readonly lossRandom: Random;
  private readonly duplicateRandom: Random;
  private readonly reorderRandom: Random;
  private readonly corruptRandom: Random;
  private readonly jitterRandom: Random;

  /** Departure times of frames accepted and not yet fully transmitted, oldest first (from `head`). */
  private departures: number[] = [];
  private head = 0;
  private linkFreeAt = -Infinity;
  private lastArrival = -Infinity;

  constructor(
    impairments: Impairments,
    random: Random,
    private readonly queue: DeliveryQueue,
  ) {
    this.loss = checkProbability("loss", impairments.loss);
    this.duplicate = checkProbability("duplicate", impairments.duplicate);
    this.reorder = checkProbability("reorder", impairments.reorder);
    this.corrupt = checkProbability("corrupt", impairments.corrupt);
    this.reorderDelayMs = checkNonNegative("reorderDelayMs", impairments.reorderDelayMs, DEFAULT_REORDER_DELAY_MS);
    this.delayMs = checkNonNegative("delayMs", impairments.delayMs, 0);
    this.jitterMs = checkNonNegative("jitterMs", impairments.jitterMs, 0);
    this.mtu = checkNonNegative("mtu", impairments.mtu, Infinity);
    this.rate = impairments.rateBitsPerSecond;
    if (this.rate !== undefined && !(this.rate > 0)) {
      throw new RangeError(`Impairments.rateBitsPerSecond: ${this.rate} is not a positive number`);
    }
    this.queueLimit = impairments.queueLimit ?? DEFAULT_QUEUE_LIMIT;
    if (!(Number.isInteger(this.queueLimit) && this.queueLimit >= 1) && this.queueLimit !== Infinity) {
      throw new RangeError(`Impairments.queueLimit: ${impairments.queueLimit} is not a positive integer`);
    }
    this.lossRandom = random.fork("loss");
    this.duplicateRandom = random.fork("duplicate");
    this.reorderRandom = random.fork("reorder");
    this.corruptRandom = random.fork("corrupt");
    this.jitterRandom = random.fork("jitter");
  }

  /** Offers one frame at time `now`; the engine owns (and may modify) it from then on. */
  transmit(frame: Uint8Array, now: number): void {
    const c = this.counters;
    c.sent++;
    if (frame.length - ETHERNET_HEADER_LEN > this.mtu) {
      c.mtuDropped++;
      return;
    }

    let departure = now;
    if (this.rate !== undefined) {
      while (this.head < this.departures.length && this.departures[this.head]! <= now) this.head++;
      if (this.head > 1024 && this.head * 2 > this.departures.length) {
        this.departures = this.departures.slice(this.head);
        this.head = 0;
      }
      if (this.departures.length - this.head >= this.queueLimit) {
        c.queueDropped++;
        return;
      }
      departure = Math.max(now, this.linkFreeAt) + (frame.length * 8000) / this.rate;
      this.linkFreeAt = departure;
      this.departures.push(departure);
    }

    if (this.loss > 0 && this.lossRandom.nextFloat() < this.loss) {
      c.lost++;
      return;
    }

    if (this.corrupt > 0 && this.corruptRandom.nextFloat() < this.corrupt && frame.length > ETHERNET_HEADER_LEN) {
      const at = ETHERNET_HEADER_LEN + this.corruptRandom.nextInt(frame.length - ETHERNET_HEADER_LEN);
      // A copy: the frame may be shared with its sender and other receivers (memory-wire.ts).
      frame = new Uint8Array(frame);
      frame[at]! ^= 1 << this.corruptRandom.nextInt(8);
      c.corrupted++;
    }

    let arrival = departure + this.delayMs;
    if (this.jitterMs > 0) arrival += this.jitterRandom.nextFloat() * this.jitterMs;
    arrival = Math.max(arrival, this.lastArrival);
    if (this.reorder > 0 && this.reorderRandom.nextFloat() < this.reorder) {
      arrival += this.reorderDelayMs;
      c.reordered++;
    } else {
      this.lastArrival = arrival;
    }

    this.queue.add(arrival, frame, c);
    if (this.duplicate > 0 && this.duplicateRandom.nextFloat() < this.duplicate) {
      this.queue.add(arrival, new Uint8Array(frame), c); // not .slice(): on a Buffer that is a view
      c.duplicated++;
    }
  }
}

/** Options of `FaultDevice`. Top-level impairments apply to both directions. */
export interface FaultDeviceOptions extends Impairments {
  readonly clock: Clock;
  /** The Random forked per direction ("egress", "ingress"). Default: `seededRandom(seed)`. */
  readonly random?: Random;
  /** Seed used when no `random` is given. Default 0. */
  readonly seed?: number;
  /** Overrides for frames sent through the device towards the inner device. */
  readonly egress?: Impairments;
  /** Overrides for frames the inner device receives, on their way to our receiver. */
  readonly ingress?: Impairments;
}

/**
 * A FrameDevice that impairs the frames of an inner device, each direction with its own engine,
 * Random fork and counters. Its `mtu` is the inner device's: an `mtu` impairment models a path that
 * silently drops larger frames.
 */
export class FaultDevice implements FrameDevice {
  readonly name: string;
  readonly mtu: number;
  /** Frames sent through this device, towards the inner device. */
  readonly egress: FaultEngine;
  /** Frames received from the inner device, towards our receiver. */
  readonly ingress: FaultEngine;

  private readonly egressQueue: DeliveryQueue;
  private readonly ingressQueue: DeliveryQueue;
  private receiver: FrameReceiver | undefined;
  private closed = false;

  constructor(
    private readonly inner: FrameDevice,
    private readonly options: FaultDeviceOptions,
  ) {
    this.name = inner.name;
    this.mtu = inner.mtu;
    const { clock, random: given, seed, egress, ingress, ...both } = options;
    const random = given ?? seededRandom(seed ?? 0);
    this.egressQueue = new DeliveryQueue(clock, (frames) => {
      if (this.closed) return false;
      for (const f of frames) this.inner.send(f);
      return true;
    });
    this.ingressQueue = new DeliveryQueue(clock, (frames) => {
      if (this.closed || this.receiver === undefined) return false;
      this.receiver(frames);
      return true;
    });
    this.egress = new FaultEngine({ ...both, ...egress }, random.fork("egress"), this.egressQueue);
    this.ingress = new FaultEngine({ ...both, ...ingress }, random.fork("ingress"), this.ingressQueue);
    inner.setReceiver((frames) => {
      if (this.closed) return;
      const now = this.options.clock.now();
      for (const f of frames) this.ingress.transmit(f, now);
    });
  }

  send(frame: Uint8Array): void {
    if (this.closed) return;
    this.egress.transmit(frame, this.options.clock.now());
  }

  setReceiver(receiver: FrameReceiver): void {
    this.receiver = receiver;
  }

  /** Drops frames still in flight in either direction and closes the inner device. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.egressQueue.clear();
    this.ingressQueue.clear();
    this.inner.close();
  }
}
