/**
 * The memory wire: an in-process Ethernet hub for simulations (smoltcp `tests/netsim.rs`, gVisor
 * `link/channel`). Any number of ports join; a frame sent on one port reaches every other port.
 *
 * Guarantees:
 * - Each directed path (sender port → receiver port) is its own impaired link (`FaultEngine`): its own
 *   Random fork (labelled by the two ports' join indices, so runs with the same seed replay exactly),
 *   its own rate queue and counters.
 * - Receivers read frames and do not write them (the stack never writes a received frame). A frame
 *   built by the stack (src/wire/packet-buffer.ts memory, never reused nor written after `send`) is
 *   delivered as it is, to every receiver, as a veth hands the same buffer on; any other frame (a
 *   Buffer the caller may reuse) is copied first. Corruption flips a bit in a copy of its own.
 * - Such untouched stack-built frames reach the receiver marked checksum-valid (FrameReceiver's
 *   `checksumsValid`, as veth marks CHECKSUM_UNNECESSARY); copies, corrupted frames and anything a
 *   caller injected are verified by the receiving stack as usual.
 * - Delivery always goes through the clock, at `now` when nothing delays it: never synchronously
 *   inside `send`, so a stack's send never re-enters its own receive.
 * - Frames arriving at one port at the same instant are delivered as one batch, in the order sent.
 * - A frame whose Ethernet payload exceeds the wire's `mtu` is dropped and counted (`mtuDropped`).
 *
 * It never looks inside frames (no MAC filtering: a hub, not a switch).
 */
import { VirtualClock, type Clock } from "../time/clock.ts";
import { seededRandom, type Random } from "../time/random.ts";
import { DeliveryQueue, FaultEngine, addCounters, emptyCounters, type FaultCounters, type Impairments } from "./fault.ts";
import type { FrameDevice, FrameReceiver } from "./types.ts";
import { isPacketMemory } from "../wire/packet-buffer.ts";

/** Options of `MemoryWire`: impairments apply to every directed path. */
export interface MemoryWireOptions extends Impairments {
  /** Default: a new `VirtualClock`, readable as `wire.clock`. */
  readonly clock?: Clock;
  /** Seed of the wire's Random. Default 0. Ignored when `random` is given. */
  readonly seed?: number;
  /** The Random that each path forks. Default `seededRandom(seed)`. */
  readonly random?: Random;
  /** Largest Ethernet payload; every port reports it. Default 1500. */
  readonly mtu?: number;
}

/**
 * Receiver copies are carved from slabs of this size (one allocation per many frames). A receiver
 * that keeps a view (a TCP receive buffer holds payload views until read) keeps its whole slab alive:
 * small slabs bound that, as Node's 8 KiB Buffer pool does.
 */
const COPY_SLAB = 64 * 1024;
let copySlab = new ArrayBuffer(0);
let copyUsed = 0;

/** A private copy of `frame` (even of a Buffer, whose slice() is a view), in a shared, never reused slab. */
function copyFrame(frame: Uint8Array): Uint8Array {
  const n = frame.length;
  if (n > COPY_SLAB >>> 2) return new Uint8Array(frame);
  if (copyUsed + n > copySlab.byteLength) {
    copySlab = new ArrayBuffer(COPY_SLAB);
    copyUsed = 0;
  }
  const copy = new Uint8Array(copySlab, copyUsed, n);
  copy.set(frame);
  copyUsed += (n + 7) & ~7;
  return copy;
}

/**
 * Which frames of a batch need no checksum verification: those a stack built and the wire handed on
 * untouched (packet memory — a corrupted or duplicated frame is a copy, an injected one is the
 * caller's), whose checksums the sending stack computed in this process. Linux's veth does the same
 * (CHECKSUM_UNNECESSARY on the receiving side: nothing between the two ends can damage a frame).
 */
function checksumsOf(frames: readonly Uint8Array[]): Uint8Array {
  const valid = new Uint8Array(frames.length);
  for (let i = 0; i < frames.length; i++) if (isPacketMemory(frames[i] as Uint8Array)) valid[i] = 1;
  return valid;
}

/** A hub joining any number of FrameDevice ports. */
export class MemoryWire {
  readonly clock: Clock;
  readonly mtu: number;
  private readonly random: Random;
  private readonly impairments: Impairments;
  private readonly ports: MemoryWirePort[] = [];
  private readonly paths = new Map<string, FaultEngine>();
  private nextIndex = 0;

  constructor(options: MemoryWireOptions = {}) {
    const { clock, seed, random, mtu, ...impairments } = options;
    this.clock = clock ?? new VirtualClock();
    this.mtu = mtu ?? 1500;
    this.random = random ?? seededRandom(seed ?? 0);
    this.impairments = { ...impairments, mtu: this.mtu };
  }

  /** Joins a new port. `name` defaults to "wire:N" (N the join index, from 0). */
  port(name?: string): MemoryWirePort {
    const index = this.nextIndex++;
    const p = new MemoryWirePort(this, index, name ?? `wire:${index}`, this.mtu);
    this.ports.push(p);
    return p;
  }

  /** Totals over every path. */
  get counters(): FaultCounters {
    const total = emptyCounters();
    for (const e of this.paths.values()) addCounters(total, e.counters);
    return total;
  }

  /** Counters of the path `from` → `to` (zeros if nothing was sent on it). */
  pathCounters(from: MemoryWirePort, to: MemoryWirePort): FaultCounters {
    const e = this.paths.get(`${from.index}->${to.index}`);
    return e === undefined ? emptyCounters() : { ...e.counters };
  }

  /** Closes every port. */
  close(): void {
    for (const p of [...this.ports]) p.close();
  }

  /** @internal Called by a port's `send`. */
  broadcast(from: MemoryWirePort, frame: Uint8Array): void {
    const now = this.clock.now();
    const shared = isPacketMemory(frame) ? frame : copyFrame(frame);
    for (const to of this.ports) {
      if (to === from) continue;
      let e = from.pathTo.get(to);
      if (e === undefined) {
        e = this.path(from, to);
        from.pathTo.set(to, e);
      }
      e.transmit(shared, now);
    }
  }

  /** @internal Called by a port's `close`. */
  leave(port: MemoryWirePort): void {
    const i = this.ports.indexOf(port);
    if (i >= 0) this.ports.splice(i, 1);
  }

  private path(from: MemoryWirePort, to: MemoryWirePort): FaultEngine {
    const key = `${from.index}->${to.index}`;
    let e = this.paths.get(key);
    if (e === undefined) {
      e = new FaultEngine(this.impairments, this.random.fork(key), to.arrivals);
      this.paths.set(key, e);
    }
    return e;
  }
}

/** One port of a MemoryWire: a FrameDevice. */
export class MemoryWirePort implements FrameDevice {
  /** @internal Frames on their way to this port. */
  readonly arrivals: DeliveryQueue;
  /** @internal The wire's path from this port to each other, looked up once per pair. */
  readonly pathTo = new Map<MemoryWirePort, FaultEngine>();
  private receiver: FrameReceiver | undefined;
  private closed = false;

  /** @internal Use `MemoryWire.port`. */
  constructor(
    private readonly wire: MemoryWire,
    /** Join order on the wire, from 0. */
    readonly index: number,
    readonly name: string,
    readonly mtu: number,
  ) {
    this.arrivals = new DeliveryQueue(wire.clock, (frames) => {
      if (this.closed || this.receiver === undefined) return false;
      this.receiver(frames, checksumsOf(frames));
      return true;
    });
  }

  /** Sending on a closed port does nothing. */
  send(frame: Uint8Array): void {
    if (this.closed) return;
    this.wire.broadcast(this, frame);
  }

  setReceiver(receiver: FrameReceiver): void {
    this.receiver = receiver;
  }

  /** Leaves the wire; frames still on their way to this port are dropped. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.arrivals.clear();
    this.wire.leave(this);
  }
}
