/**
 * CPU time per frame (issue 7, item 1h) on the memory wire: the process's user + system time over a
 * one-flow bulk transfer at MTU 1500, divided by the frames that crossed the wire. Both stacks run in
 * this process, so each frame is paid for twice: emitted by one stack and processed by the other.
 * The TAP figures (our process alone, against iperf3's CPU per frame over veth) are in tcp-tap.
 */
import { runMemoryBulk } from "./tcp-memory.ts";
import { median, type BenchConfig, type BenchResult, type BenchSection } from "./common.ts";

/** The CPU-per-frame section. */
export const cpuSection: BenchSection = {
  name: "cpu",
  async run(config: BenchConfig): Promise<BenchResult[]> {
    const bytes = config.quick ? 1 << 20 : 64 << 20;
    const per: number[] = [];
    for (let r = 0; r < config.runs; r++) {
      const run = await runMemoryBulk(1500, 1, bytes);
      per.push(run.cpuUs / run.frames);
    }
    const v = median(per);
    config.log(`cpu.memory: ${v.toFixed(2)} µs/frame`);
    return [
      {
        name: "cpu.memory",
        value: v,
        unit: "µs/frame (lower is better)",
        note: `process CPU over a ${bytes >> 20} MiB one-flow transfer on the memory wire (MTU 1500) / frames on the wire; each frame emitted by one stack and processed by the other; median of ${config.runs}`,
      },
    ];
  },
};
