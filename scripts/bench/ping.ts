/**
 * Ping RTT over TAP against veth (issue 7, item 1e): the kernel's `ping` in the namespace sends ICMP
 * echo requests to our stack on the TAP, and, in the same run, to the kernel at the far end of a
 * veth pair. The figure is the median of the per-reply times ping prints (µs). `ping.tap` is the
 * default device; `ping.tap.busy-poll` the same with TapOptions.busyPollUs = BUSY_POLL_US, tuned for
 * latency at the price of a CPU that spins while pings keep coming (5 ms apart, inside the window).
 * Needs root; skipped (with a line saying so) otherwise.
 */
import type { Netns } from "../../test/interop/netns.ts";
import { compared, median, type BenchConfig, type BenchResult, type BenchSection } from "./common.ts";
import { STACK_IP, VETH_B_IP, openTapEnv, openVethEnv, tapUnavailable } from "./tap-env.ts";

/** Busy-poll window of the tuned row: longer than the 5 ms between pings, so the loop never sleeps. */
const BUSY_POLL_US = 10_000;

/** Median RTT in µs of `count` pings from `ns` to `host`, 5 ms apart. */
export function pingMedianUs(ns: Netns, host: string, count: number): number {
  const out = ns.exec("ping", ["-n", "-c", String(count), "-i", "0.005", "-W", "1", host], 60_000 + count * 20);
  const rtts = [...out.matchAll(/time=([0-9.]+) ms/g)].map((m) => Number(m[1]) * 1000);
  if (rtts.length === 0) throw new Error(`no replies from ${host}: ${out.slice(-300)}`);
  return median(rtts);
}

/** The ping section. */
export const pingSection: BenchSection = {
  name: "ping",
  async run(config: BenchConfig): Promise<BenchResult[]> {
    const why = tapUnavailable();
    if (why !== undefined) {
      config.log(`ping: skipped: ${why}`);
      return [];
    }
    const count = config.quick ? 20 : 1000;
    const veth = openVethEnv();
    let ref: number;
    try {
      ref = pingMedianUs(veth.a, VETH_B_IP, count);
    } finally {
      veth.close();
    }
    const out: BenchResult[] = [];
    for (const busyPollUs of [0, BUSY_POLL_US]) {
      const env = await openTapEnv(120, { busyPollUs });
      try {
        const ours = pingMedianUs(env.ns, STACK_IP, count);
        const name = busyPollUs === 0 ? "ping.tap" : "ping.tap.busy-poll";
        const how = busyPollUs === 0 ? "default device" : `busy-poll ${busyPollUs} µs after each batch (one CPU spins)`;
        config.log(`${name}: median ${ours.toFixed(1)} µs (veth ${ref.toFixed(1)} µs)`);
        out.push(
          compared(name, ours, "µs RTT (lower is better)", "ping over veth", ref,
            `median of ${count} pings (5 ms apart) from the kernel to our stack on a TAP, ${how}; reference: the kernel at the far end of a veth; target ≤ 35 µs`),
        );
      } finally {
        await env.close();
      }
    }
    return out;
  },
};
