/**
 * TCP bulk throughput between two stacks in one process on the memory wire (issue 7, item 1c): 1 and
 * 8 flows, MTU 1500 and 9000, through the public socket API (a stream.Duplex each side), as an
 * application would use it. Both stacks share the one CPU thread, so a figure here is the cost of
 * sending AND receiving every byte. Reference: none measured in the same process; the target (3
 * Gbit/s for one flow at MTU 1500) is stated in the note.
 */
import { memoryPair, driveUntil } from "./memory-pair.ts";
import { median, seconds, type BenchConfig, type BenchResult, type BenchSection } from "./common.ts";

/** What one bulk run measured. */
export interface BulkRun {
  readonly bytes: number;
  readonly seconds: number;
  /** Process CPU time (user + system) over the run, µs. */
  readonly cpuUs: number;
  /** Frames that crossed the wire (both directions). */
  readonly frames: number;
}

const CHUNK = 64 * 1024;

/** Moves `bytesPerFlow` over each of `flows` connections from stack a to stack b. */
export async function runMemoryBulk(mtu: number, flows: number, bytesPerFlow: number): Promise<BulkRun> {
  const pair = memoryPair({ mtu });
  try {
    const chunk = Buffer.alloc(CHUNK, 0x5a);
    let received = 0;
    pair.b.tcp.listen(5001, (sock) => {
      sock.on("data", (d: Buffer) => {
        received += d.length;
      });
    });
    // The ARP exchange and handshakes are outside the timed part.
    const socks = Array.from({ length: flows }, () => pair.a.tcp.connect({ host: "10.0.0.2", port: 5001 }));
    let connected = 0;
    for (const s of socks) s.once("connect", () => connected++);
    await driveUntil(pair.clock, () => connected === flows, 10_000);
    const framesBefore = pair.wire.counters.sent;
    const cpu0 = process.cpuUsage();
    const t0 = seconds();
    for (const s of socks) {
      let left = bytesPerFlow;
      const pump = (): void => {
        while (left > 0) {
          const n = Math.min(CHUNK, left);
          left -= n;
          if (!s.write(n === CHUNK ? chunk : chunk.subarray(0, n))) {
            s.once("drain", pump);
            return;
          }
        }
      };
      pump();
    }
    const total = bytesPerFlow * flows;
    await driveUntil(pair.clock, () => received >= total, 600_000);
    const t = seconds() - t0;
    const cpu = process.cpuUsage(cpu0);
    return { bytes: total, seconds: t, cpuUs: cpu.user + cpu.system, frames: pair.wire.counters.sent - framesBefore };
  } finally {
    await pair.close();
  }
}

/** The memory-wire TCP throughput section. */
export const tcpMemorySection: BenchSection = {
  name: "tcp-memory",
  async run(config: BenchConfig): Promise<BenchResult[]> {
    const perFlowTotal = config.quick ? 1 << 20 : 64 << 20;
    const results: BenchResult[] = [];
    for (const mtu of [1500, 9000]) {
      for (const flows of [1, 8]) {
        // Untimed runs first: the first ~150 MiB of a process run while V8 is still compiling and
        // re-optimising the data path (the first 64 MiB measured at 1.2–1.9 Gbit/s, the third onwards at
        // 2.5–3.6 here), which says more about the JIT than about the stack. Steady state is measured.
        for (let w = 0; w < 2; w++) await runMemoryBulk(mtu, flows, Math.floor(perFlowTotal / flows));
        const rates: number[] = [];
        for (let r = 0; r < config.runs; r++) {
          const run = await runMemoryBulk(mtu, flows, Math.floor(perFlowTotal / flows));
          rates.push((run.bytes * 8) / run.seconds / 1e9);
        }
        const name = `tcp.memory.mtu${mtu}.flows${flows}`;
        config.log(`${name}: ${median(rates).toFixed(3)} Gbit/s`);
        results.push({
          name,
          value: median(rates),
          unit: "Gbit/s",
          note: `${perFlowTotal >> 20} MiB over ${flows} flow(s), a→b, two stacks in one process, socket API; median of ${config.runs} after two untimed warm-up runs of the same size` +
            (mtu === 1500 && flows === 1 ? "; target ≥ 3 Gbit/s" : ""),
        });
      }
    }
    return results;
  },
};
