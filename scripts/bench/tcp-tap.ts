/**
 * TCP throughput over TAP against the Linux kernel, both directions (issue 7, item 1d), with the CPU
 * our stack spends per frame (item 1h) — and, in the same run, iperf3 kernel-to-kernel over a veth
 * pair with offloads off as the reference. The kernel end is scripts/tcp-kernel-peer.py (1 MiB
 * send/recv buffers, so it is not the bottleneck); our end is test/interop/tcp-peer.ts on the TAP.
 * A rate is bytes over the kernel peer's own time, connect/accept to EOF. Both ends run as iperf3's
 * source and sink do — one pre-filled buffer written again and again, bytes counted, nothing hashed
 * (tcp-peer.ts roles "bench-source"/"bench-sink", tcp-kernel-peer.py `--no-hash`): the interop tests
 * verify the bytes, a benchmark measures the stack. Hashing and generating random bytes had cost our
 * process 18 % of its time and the kernel end 0.3–0.6 of a CPU. The kernel end's CPU share is logged
 * per direction, to show it is not the bottleneck. Needs root; skipped (with a line saying so) otherwise.
 *
 * Then the same transfers with the TAP opened with offload (issue 7, item 3: IFF_VNET_HDR, checksum
 * offload, TSO both ways — super-frames split and coalesced in src/device/gso.ts), compared with the
 * plain TAP of the same run: `tcp.tap-offload.*` with super-frames through the whole stack (GRO/TSO
 * end to end: the stack receives and builds 64 KiB TCP segments), `tcp.tap-offload-split.*` with the
 * device alone splitting and coalescing (the stack sees MTU-sized frames). With TSO the TAP's packet
 * counters count super-frames, so the figure that compares them is CPU per byte moved (ns/byte).
 */
import { spawnSync } from "node:child_process";
import type { Netns } from "../../test/interop/netns.ts";
import { startKernelPeer } from "../../test/interop/tcp-helpers.ts";
import { compared, median, type BenchConfig, type BenchResult, type BenchSection } from "./common.ts";
import {
  KERNEL_IP,
  STACK_IP,
  TAP,
  VETH_B_IP,
  deviceFrames,
  openTapEnv,
  openVethEnv,
  processCpuUs,
  tapUnavailable,
  type TapEnv,
} from "./tap-env.ts";

interface TapRun {
  readonly gbps: number;
  readonly cpuUsPerFrame: number;
  /** Our process's CPU per payload byte moved, ns. */
  readonly cpuNsPerByte: number;
  /** The kernel end's CPU time over its transfer time (1 = one CPU busy). */
  readonly kernelPeerCpu: number;
}

/** Kernel source → our sink (`dir` "rx") or our source → kernel sink ("tx"), `bytes` bytes. */
async function tapTransfer(env: TapEnv, dir: "rx" | "tx", bytes: number, port: number): Promise<TapRun> {
  const frames0 = deviceFrames(env.ns, TAP);
  const cpu0 = processCpuUs(env.peerPid);
  let done;
  if (dir === "rx") {
    env.peer.send({ cmd: "listen", port, role: "bench-sink" });
    await env.peer.waitFor((e) => e.event === "listening" && e.port === port, 10_000, "listening");
    const k = startKernelPeer(env.ns, ["source", "--connect", STACK_IP, String(port), "--bytes", String(bytes), "--timeout", "300", "--no-hash", "1"]);
    done = await k.waitFor((e) => e.event === "done" || e.event === "error", 300_000, "kernel source done");
  } else {
    const k = startKernelPeer(env.ns, ["sink", "--listen", KERNEL_IP, String(port), "--timeout", "300", "--no-hash", "1"]);
    await k.waitFor((e) => e.event === "listening", 10_000, "kernel listening");
    env.peer.send({ cmd: "connect", id: `tx${port}`, host: KERNEL_IP, port, role: "bench-source", bytes });
    done = await k.waitFor((e) => e.event === "done" || e.event === "error", 300_000, "kernel sink done");
  }
  if (done.event !== "done") throw new Error(`kernel peer: ${JSON.stringify(done)}`);
  const moved = Number(dir === "rx" ? done.bytes_out : done.bytes_in);
  if (moved !== bytes) throw new Error(`moved ${moved} of ${bytes} bytes`);
  // Our side's 'done' follows once its close completes: then its CPU and the frames are final.
  await env.peer.waitFor((e) => e.event === "done" && (dir === "tx" ? e.id === `tx${port}` : String(e.id).startsWith(`${port}#`)), 30_000, "stack done");
  const cpu = processCpuUs(env.peerPid) - cpu0;
  const frames = deviceFrames(env.ns, TAP) - frames0;
  const secs = Number(done.seconds);
  return {
    gbps: (bytes * 8) / secs / 1e9,
    cpuUsPerFrame: cpu / frames,
    cpuNsPerByte: (cpu * 1000) / bytes,
    kernelPeerCpu: Number(done.cpu_seconds) / secs,
  };
}

/** The kernel end's CPU share over `runs`, as "median (min–max)". */
function kernelCpu(runs: readonly TapRun[]): string {
  const xs = runs.map((r) => r.kernelPeerCpu);
  return `${median(xs).toFixed(2)} (${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)})`;
}

/** iperf3 over the veth, `reverse` for b → a; Gbit/s and µs of CPU (both ends) per frame. */
export function iperfVeth(a: Netns, b: Netns, secs: number, reverse: boolean): { gbps: number; cpuUsPerFrame: number } | undefined {
  const server = b.spawn("iperf3", ["-s", "-1", "-B", VETH_B_IP], (secs + 20) * 1000);
  try {
    spawnSync("sleep", ["0.3"]);
    const frames0 = deviceFrames(a, "wsbva");
    const r = a.run("iperf3", ["-c", VETH_B_IP, "-t", String(secs), "-J", ...(reverse ? ["-R"] : [])], (secs + 15) * 1000);
    const frames = deviceFrames(a, "wsbva") - frames0;
    if (r.status !== 0) return undefined;
    const j = JSON.parse(r.stdout) as {
      end: { sum_received: { bits_per_second: number; seconds: number }; cpu_utilization_percent: { host_total: number; remote_total: number } };
    };
    const s = j.end.sum_received;
    const cpuSeconds = ((j.end.cpu_utilization_percent.host_total + j.end.cpu_utilization_percent.remote_total) / 100) * s.seconds;
    return { gbps: s.bits_per_second / 1e9, cpuUsPerFrame: (cpuSeconds * 1e6) / frames };
  } finally {
    if (server.child.pid !== undefined && server.child.exitCode === null) server.child.kill("SIGTERM");
  }
}

/** The TAP throughput section. */
export const tcpTapSection: BenchSection = {
  name: "tcp-tap",
  async run(config: BenchConfig): Promise<BenchResult[]> {
    const why = tapUnavailable();
    if (why !== undefined) {
      config.log(`tcp-tap: skipped: ${why}`);
      return [];
    }
    // Quick: 8 MiB, enough CPU for several 10 ms ticks, so the per-frame figure is never zero.
    const bytes = config.quick ? 8 << 20 : 256 << 20;
    const secs = config.quick ? 1 : 3;
    const veth = openVethEnv();
    let ref: { rx: ReturnType<typeof iperfVeth>; tx: ReturnType<typeof iperfVeth> };
    try {
      // a → b is "the kernel sends" (our rx); -R is "the kernel receives" (our tx).
      ref = { rx: iperfVeth(veth.a, veth.b, secs, false), tx: iperfVeth(veth.a, veth.b, secs, true) };
    } finally {
      veth.close();
    }
    if (ref.rx === undefined || ref.tx === undefined) config.log("tcp-tap: iperf3 over veth failed: no reference");
    const out: BenchResult[] = [];
    const plain = { rx: { gbps: 0, nsPerByte: 0 }, tx: { gbps: 0, nsPerByte: 0 } };
    const env = await openTapEnv(600);
    try {
      let port = 6000;
      for (const dir of ["rx", "tx"] as const) {
        const runs: TapRun[] = [];
        for (let r = 0; r < config.runs; r++) runs.push(await tapTransfer(env, dir, bytes, port++));
        const gbps = median(runs.map((x) => x.gbps));
        const cpu = median(runs.map((x) => x.cpuUsPerFrame));
        plain[dir] = { gbps, nsPerByte: median(runs.map((x) => x.cpuNsPerByte)) };
        const reference = ref[dir];
        config.log(`tcp.tap.${dir}: ${gbps.toFixed(3)} Gbit/s, ${cpu.toFixed(2)} µs CPU/frame; kernel end ${kernelCpu(runs)} CPU`);
        const what = dir === "rx" ? "kernel source → our sink" : "our source → kernel sink";
        out.push(
          compared(`tcp.tap.${dir}`, gbps, "Gbit/s", "iperf3 over veth", reference?.gbps,
            `${bytes >> 20} MiB ${what} over a plain TAP (MTU 1500, no offloads), iperf3-like source/sink, median of ${config.runs}; reference: iperf3 -t ${secs} kernel↔kernel, veth with offloads off; target ≥ 1 Gbit/s`),
          {
            name: `cpu.tap.${dir}`,
            value: cpu,
            unit: "µs/frame (lower is better)",
            reference: "iperf3 over veth (both ends)",
            refValue: reference?.cpuUsPerFrame,
            ratio: reference !== undefined ? cpu / reference.cpuUsPerFrame : undefined,
            note: `our stack process's CPU (user + system, 10 ms ticks) over TAP frames both ways, ${what}; reference: iperf3's reported CPU of both ends over veth frames`,
          },
        );
      }
    } finally {
      await env.close();
    }
    for (const mode of ["split", "stack"] as const) {
      const offloaded = await openTapEnv(600, { offload: mode === "stack" ? true : "split" });
      const row = mode === "stack" ? "tap-offload" : "tap-offload-split";
      const how = mode === "stack" ? "super-frames through the stack (GRO/TSO end to end)" : "split/coalesced at the device";
      try {
        let port = mode === "stack" ? 7000 : 7500;
        for (const dir of ["rx", "tx"] as const) {
          const runs: TapRun[] = [];
          for (let r = 0; r < config.runs; r++) runs.push(await tapTransfer(offloaded, dir, bytes, port++));
          const gbps = median(runs.map((x) => x.gbps));
          const nsPerByte = median(runs.map((x) => x.cpuNsPerByte));
          const base = plain[dir];
          config.log(`tcp.${row}.${dir}: ${gbps.toFixed(3)} Gbit/s, ${nsPerByte.toFixed(2)} ns CPU/byte (plain TAP: ${base.gbps.toFixed(3)} Gbit/s, ${base.nsPerByte.toFixed(2)} ns/byte); kernel end ${kernelCpu(runs)} CPU`);
          const what = dir === "rx" ? "kernel source → our sink" : "our source → kernel sink";
          out.push(
            compared(`tcp.${row}.${dir}`, gbps, "Gbit/s", "plain TAP, same run", base.gbps,
              `${bytes >> 20} MiB ${what} over a TAP with IFF_VNET_HDR, checksum offload and TSO (MTU 1500), ${how}, median of ${config.runs}; target 2.7 (rx) / 2.2 (tx) Gbit/s`),
            {
              name: `cpu.${row}.${dir}`,
              value: nsPerByte,
              unit: "ns/byte (lower is better)",
              reference: "plain TAP, same run",
              refValue: base.nsPerByte,
              ratio: base.nsPerByte > 0 ? nsPerByte / base.nsPerByte : undefined,
              note: `our stack process's CPU (user + system, 10 ms ticks) per payload byte, ${what}, ${how} vs plain TAP`,
            },
          );
        }
      } finally {
        await offloaded.close();
      }
    }
    return out;
  },
};
