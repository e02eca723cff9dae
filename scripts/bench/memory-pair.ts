/**
 * Two stacks in one process on a MemoryWire and a VirtualClock, driven as fast as the CPU allows:
 * the shared scaffolding of the memory-wire benchmarks (bulk throughput, handshakes, heap, CPU per
 * frame). Virtual time only moves when nothing is left to do at the current instant, so wall time
 * measures the stacks' own work (and Node's streams above them), never a timer's granularity.
 */
import { MemoryWire } from "../../src/device/memory-wire.ts";
import { createStack, type Stack } from "../../src/stack.ts";
import { VirtualClock } from "../../src/time/clock.ts";
import { yieldToEventLoop } from "../../src/time/drive.ts";
import type { TcpConfig } from "../../src/transport/tcp/connection.ts";

/** A client stack `a` (10.0.0.1) and a server stack `b` (10.0.0.2) on one wire. */
export interface MemoryPair {
  readonly clock: VirtualClock;
  readonly wire: MemoryWire;
  readonly a: Stack;
  readonly b: Stack;
  close(): Promise<void>;
}

/** Builds the pair; `mtu` is the wire's (1500 or 9000 in the benchmarks). */
export function memoryPair(opts: { readonly mtu?: number; readonly maxConnections?: number; readonly config?: TcpConfig } = {}): MemoryPair {
  const clock = new VirtualClock();
  const wire = new MemoryWire({ clock, mtu: opts.mtu ?? 1500, seed: 1 });
  const common = {
    clock,
    dad: false,
    routerSolicitation: false,
    ...(opts.config !== undefined || opts.maxConnections !== undefined
      ? { tcp: { ...(opts.config !== undefined ? { config: opts.config } : {}), limits: { maxConnections: opts.maxConnections ?? 10_000 } } }
      : {}),
  };
  const a = createStack({ ...common, device: wire.port("a"), mac: "02:00:00:00:00:01", ipv4: "10.0.0.1/24", seed: 1 });
  const b = createStack({ ...common, device: wire.port("b"), mac: "02:00:00:00:00:02", ipv4: "10.0.0.2/24", seed: 2 });
  return {
    clock,
    wire,
    a,
    b,
    async close() {
      await a.close();
      await b.close();
      wire.close();
    },
  };
}

/**
 * Runs the pair until `done()` holds: fires every timer due, lets stream callbacks run, and moves
 * virtual time to the next deadline only when nothing is due now. Throws past `wallLimitMs`.
 */
export async function driveUntil(clock: VirtualClock, done: () => boolean, wallLimitMs: number): Promise<void> {
  const wallEnd = performance.now() + wallLimitMs;
  let spins = 0;
  while (!done()) {
    const next = clock.nextDeadline();
    if (next !== undefined) clock.advanceTo(Math.max(next, clock.now()));
    await yieldToEventLoop();
    if ((++spins & 0xff) === 0 && performance.now() > wallEnd) throw new Error(`benchmark still running after ${wallLimitMs} ms of wall time`);
  }
}
