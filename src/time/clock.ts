/**
 * Clocks: where a stack's time comes from (STYLE.md §4, §5).
 *
 * Time is milliseconds as a JS number (fractional allowed) relative to the clock's origin; `epochMs`
 * is the wall time of that origin (integer ms since the Unix epoch), so `epochMs + now()` is absolute
 * time for captures. Protocol code never reads a clock itself: the stack reads `now()` once per event
 * and passes it down, and schedules its one earliest deadline here.
 *
 * Both clocks keep their callbacks in one `DeadlineHeap`: callbacks fire in deadline order, equal
 * deadlines in scheduling order. `cancel` is O(1): it marks the entry, which is skipped when it
 * surfaces (the heap is compacted when cancelled entries outnumber live ones).
 *
 * - `RealClock` follows `performance.now()` and holds at most ONE host `setTimeout`, armed for the
 *   earliest callback and re-armed only when the earliest changes.
 * - `VirtualClock` moves only when a test tells it to (`advance`, `advanceTo`, `runUntil`,
 *   `runUntilIdle`); each callback sees `now()` equal to its deadline. Its default `epochMs` is a fixed
 *   constant so that pcaps written by simulations are byte-identical run to run.
 */
import { DeadlineHeap } from "./heap.ts";

/** Identifies a scheduled callback for `cancel`. */
export type TimerId = number & { readonly __timerId: never };

/** A source of time and of deferred callbacks. */
export interface Clock {
  /** Wall time of the origin: integer milliseconds since the Unix epoch. */
  readonly epochMs: number;
  /** Milliseconds since the origin (may be fractional). */
  now(): number;
  /**
   * Runs `fn` at time `at` (ms since the origin), or as soon as possible if `at` is not in the future.
   * Never runs `fn` synchronously inside `schedule`.
   */
  schedule(at: number, fn: () => void): TimerId;
  /** Cancels a scheduled callback. Unknown, fired or already cancelled ids are ignored. */
  cancel(id: TimerId): void;
}

/** 2026-01-01T00:00:00Z: the default origin of a VirtualClock, fixed so simulation pcaps are reproducible. */
export const VIRTUAL_EPOCH_MS = 1_767_225_600_000;

interface TimerEntry {
  readonly id: TimerId;
  readonly at: number;
  readonly fn: () => void;
  cancelled: boolean;
}

/** The callback queue shared by both clocks. */
class TimerQueue {
  private readonly heap = new DeadlineHeap<TimerEntry>();
  private readonly live = new Map<TimerId, TimerEntry>();
  private nextId = 1;
  private cancelledInHeap = 0;

  get pending(): number {
    return this.live.size;
  }

  add(at: number, fn: () => void): TimerId {
    if (Number.isNaN(at)) throw new RangeError("Clock.schedule: time is NaN");
    const id = this.nextId++ as TimerId;
    const entry: TimerEntry = { id, at, fn, cancelled: false };
    this.heap.push(at, entry);
    this.live.set(id, entry);
    return id;
  }

  cancel(id: TimerId): void {
    const entry = this.live.get(id);
    if (entry === undefined) return;
    this.live.delete(id);
    entry.cancelled = true;
    this.cancelledInHeap++;
    if (this.cancelledInHeap > 64 && this.cancelledInHeap > this.live.size) {
      this.heap.retain((e) => !e.cancelled);
      this.cancelledInHeap = 0;
    }
  }

  /** The earliest live deadline, dropping cancelled entries that surface. */
  nextDeadline(): number | undefined {
    for (;;) {
      const top = this.heap.peek();
      if (top === undefined) return undefined;
      if (!top.cancelled) return top.at;
      this.heap.pop();
      this.cancelledInHeap--;
    }
  }

  /** Removes and returns the earliest live entry if it is due at or before `limit`. */
  popDue(limit: number): TimerEntry | undefined {
    const at = this.nextDeadline();
    if (at === undefined || at > limit) return undefined;
    const entry = this.heap.pop()!;
    this.live.delete(entry.id);
    return entry;
  }

  clear(): void {
    this.heap.clear();
    this.live.clear();
    this.cancelledInHeap = 0;
  }
}

/** Options of `RealClock`. */
export interface RealClockOptions {
  /** Unref the host timer so pending callbacks do not keep the process alive. Default false. */
  readonly unref?: boolean;
}

/** Node's setTimeout takes at most a signed 32-bit delay; longer waits re-arm when it fires. */
const MAX_HOST_DELAY_MS = 0x7fff_ffff;

/** Real time from `performance.now()`, with one host timer for the earliest callback. */
export class RealClock implements Clock {
  readonly epochMs: number;
  /** `performance.now()` reading at the origin (epochMs), kept small so `now()` keeps sub-µs precision. */
  private readonly perfOrigin: number;
  private readonly queue = new TimerQueue();
  private readonly unref: boolean;
  private host: ReturnType<typeof setTimeout> | undefined;
  private armedAt: number | undefined;

  constructor(options: RealClockOptions = {}) {
    this.unref = options.unref ?? false;
    this.epochMs = Math.floor(performance.timeOrigin + performance.now());
    this.perfOrigin = this.epochMs - performance.timeOrigin;
  }

  now(): number {
    return performance.now() - this.perfOrigin;
  }

  /** Number of callbacks scheduled and not yet fired or cancelled. */
  get pending(): number {
    return this.queue.pending;
  }

  schedule(at: number, fn: () => void): TimerId {
    const id = this.queue.add(at, fn);
    if (this.armedAt === undefined || at < this.armedAt) this.arm();
    return id;
  }

  cancel(id: TimerId): void {
    this.queue.cancel(id);
    // Left armed, an early host timer finds nothing due and re-arms; but with nothing pending it must
    // not keep the process alive.
    if (this.queue.pending === 0) this.disarm();
  }

  /** Drops every pending callback and the host timer. The clock stays usable. */
  close(): void {
    this.queue.clear();
    this.disarm();
  }

  private readonly onHostTimer = (): void => {
    this.host = undefined;
    this.armedAt = undefined;
    // Callbacks scheduled for "now" by callbacks of this pass run in the next pass, so a callback
    // that keeps rescheduling itself cannot starve the event loop.
    const limit = this.now();
    try {
      for (let entry = this.queue.popDue(limit); entry !== undefined; entry = this.queue.popDue(limit)) {
        entry.fn();
      }
    } finally {
      this.arm();
    }
  };

  private arm(): void {
    const next = this.queue.nextDeadline();
    if (next === undefined) {
      this.disarm();
      return;
    }
    if (this.host !== undefined && this.armedAt === next) return;
    if (this.host !== undefined) clearTimeout(this.host);
    this.armedAt = next;
    const delay = Math.min(MAX_HOST_DELAY_MS, Math.max(0, next - this.now()));
    this.host = setTimeout(this.onHostTimer, delay);
    if (this.unref) this.host.unref();
  }

  private disarm(): void {
    if (this.host !== undefined) clearTimeout(this.host);
    this.host = undefined;
    this.armedAt = undefined;
  }
}

/** Options of `VirtualClock`. */
export interface VirtualClockOptions {
  /** The initial `now()`. Default 0. */
  readonly startMs?: number;
  /** Wall time of the origin. Default `VIRTUAL_EPOCH_MS`. */
  readonly epochMs?: number;
  /**
   * Bound on callbacks fired by one `advance…`/`run…` call; exceeding it throws (a callback that
   * reschedules itself at the same instant would otherwise loop forever). Default 10 000 000.
   */
  readonly maxCallbacksPerRun?: number;
}

/** Options of `VirtualClock.runUntil` and `runUntilIdle`. */
export interface RunOptions {
  /** Run at most this many virtual milliseconds past the current time. Default: no limit. */
  readonly limitMs?: number;
}

/** Time that moves only when told to; callbacks fire in deadline order, each at its deadline. */
export class VirtualClock implements Clock {
  readonly epochMs: number;
  private current: number;
  private readonly queue = new TimerQueue();
  private readonly maxCallbacks: number;

  constructor(options: VirtualClockOptions = {}) {
    this.current = options.startMs ?? 0;
    this.epochMs = options.epochMs ?? VIRTUAL_EPOCH_MS;
    this.maxCallbacks = options.maxCallbacksPerRun ?? 10_000_000;
    if (!Number.isInteger(this.epochMs)) throw new RangeError("VirtualClock: epochMs must be an integer");
    if (!Number.isFinite(this.current)) throw new RangeError("VirtualClock: startMs must be finite");
  }

  now(): number {
    return this.current;
  }

  /** Number of callbacks scheduled and not yet fired or cancelled. */
  get pending(): number {
    return this.queue.pending;
  }

  /** The deadline of the earliest pending callback, or undefined when idle. */
  nextDeadline(): number | undefined {
    return this.queue.nextDeadline();
  }

  /** A deadline in the past fires at the current time, on the next advance (even `advance(0)`). */
  schedule(at: number, fn: () => void): TimerId {
    return this.queue.add(Math.max(at, this.current), fn);
  }

  cancel(id: TimerId): void {
    this.queue.cancel(id);
  }

  /** Moves time forward by `ms`, firing every callback due on the way. */
  advance(ms: number): void {
    if (!(ms >= 0)) throw new RangeError(`VirtualClock.advance: ${ms} is not a non-negative number`);
    this.advanceTo(this.current + ms);
  }

  /** Moves time to `t`, firing every callback due at or before `t`; then `now()` is `t`. */
  advanceTo(t: number): void {
    if (!(t >= this.current)) throw new RangeError(`VirtualClock.advanceTo: ${t} is before now (${this.current})`);
    let fired = 0;
    for (let entry = this.queue.popDue(t); entry !== undefined; entry = this.queue.popDue(t)) {
      this.fire(entry, ++fired);
    }
    this.current = t;
  }

  /**
   * Fires callbacks one at a time until `predicate()` holds (checked before the first and after each
   * callback). Returns true if it held; false if the clock went idle (time stays at the last callback)
   * or the next callback lies beyond `limitMs` (time moves to the limit).
   */
  runUntil(predicate: () => boolean, options: RunOptions = {}): boolean {
    const limit = this.current + (options.limitMs ?? Infinity);
    let fired = 0;
    for (;;) {
      if (predicate()) return true;
      const next = this.queue.nextDeadline();
      if (next === undefined) return false;
      if (next > limit) {
        this.current = limit;
        return false;
      }
      this.fire(this.queue.popDue(limit)!, ++fired);
    }
  }

  /**
   * Fires callbacks until none is pending. Returns true when idle; false if the next callback lies
   * beyond `limitMs` (time then moves to the limit). When idle, time stays at the last callback.
   */
  runUntilIdle(options: RunOptions = {}): boolean {
    const limit = this.current + (options.limitMs ?? Infinity);
    let fired = 0;
    for (let entry = this.queue.popDue(limit); entry !== undefined; entry = this.queue.popDue(limit)) {
      this.fire(entry, ++fired);
    }
    if (this.queue.pending === 0) return true;
    this.current = limit;
    return false;
  }

  private fire(entry: TimerEntry, count: number): void {
    if (count > this.maxCallbacks) {
      throw new Error(`VirtualClock: more than ${this.maxCallbacks} callbacks in one run (a timer loop at t=${entry.at}?)`);
    }
    this.current = entry.at;
    entry.fn();
  }
}
