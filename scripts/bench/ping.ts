/**
 * Ping RTT over TAP (issue 7, item 1e): the kernel's `ping` in a namespace sends ICMP echo requests to
 * our stack on a TAP and, in the same run, to two references:
 * - a C responder on the same kind of TAP (scripts/bench/tap-pong.c, compiled here at run time: one
 *   blocking read(2) and one write(2) per echo, no event loop). Its RTT is what the TAP device and the
 *   two process wakeups every TAP round trip needs (the responder's, then ping's) cost on this machine;
 *   the difference to our figure is ours.
 * - the kernel at the far end of a veth pair, where the reply is produced inside ping's own send
 *   syscall: no wakeup at all, so it is a floor no TAP program reaches.
 * Each figure is the median of the per-reply times ping prints (µs). Pings are 5 ms apart (the
 * responder sleeps between them), and again back to back (`-i 0`: iputils ping keeps the interval in
 * whole milliseconds, so anything under 1 ms is 0 and each request leaves as soon as the previous
 * reply arrives; neither process has time to fall asleep deeply). `ping.tap.busy-poll` is the default
 * row with TapOptions.busyPollUs = BUSY_POLL_US, tuned for latency at the price of a CPU that spins
 * while pings keep coming. Needs root; skipped (with a line saying so) otherwise.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createNetns, type Netns } from "../../test/interop/netns.ts";
import { buildCHelper, compared, median, type BenchConfig, type BenchResult, type BenchSection } from "./common.ts";
import { KERNEL_IP, STACK_IP, STACK_MAC, TAP, VETH_B_IP, openTapEnv, openVethEnv, tapUnavailable } from "./tap-env.ts";

/** Busy-poll window of the tuned row: longer than the 5 ms between pings, so the loop never sleeps. */
const BUSY_POLL_US = 10_000;

/** Seconds between pings of the main rows. */
const SPACED_S = 0.005;

/**
 * Median RTT in µs of `count` pings from `ns` to `host`, `intervalS` apart (0: back to back). ping
 * writes to a file, not to a pipe: a pipe would wake this process once per reply, a third process
 * competing for the two CPUs with ping and the responder inside every round trip.
 */
export function pingMedianUs(ns: Netns, host: string, count: number, intervalS = SPACED_S): number {
  const dir = mkdtempSync(join(tmpdir(), "wirestack-ping-"));
  try {
    const file = join(dir, "ping.txt");
    const args = ["-n", "-c", String(count), "-i", String(intervalS), "-W", "1", host];
    ns.exec("sh", ["-c", 'out="$1"; shift; exec ping "$@" > "$out"', "sh", file, ...args], 60_000 + count * 20);
    const out = readFileSync(file, "utf8");
    const rtts = [...out.matchAll(/time=([0-9.]+) ms/g)].map((m) => Number(m[1]) * 1000);
    if (rtts.length === 0) throw new Error(`no replies from ${host}: ${out.slice(-300)}`);
    return median(rtts);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The C responder's medians: `spaced` (5 ms apart) and `b2b` (back to back). */
interface Medians {
  readonly spaced: number;
  readonly b2b: number;
}

/**
 * Runs tap-pong on a TAP in a namespace of its own, with the same addresses as our stack's, pings it
 * both ways, and deletes the namespace; the responder is started and stopped by PID.
 */
async function tapPongMedians(bin: string, count: number): Promise<Medians> {
  const ns = createNetns("wsbench");
  let pong: ReturnType<Netns["spawn"]> | undefined;
  try {
    ns.exec("ip", ["tuntap", "add", "dev", TAP, "mode", "tap"]);
    ns.exec("ip", ["link", "set", TAP, "up"]);
    ns.exec("ip", ["addr", "add", `${KERNEL_IP}/24`, "dev", TAP]);
    const limitS = 60 + Math.ceil(count * SPACED_S * 4);
    const p = ns.spawn(bin, [TAP, STACK_IP, STACK_MAC, String(limitS)], (limitS + 10) * 1000);
    pong = p;
    await new Promise<void>((resolve, reject) => {
      let out = "";
      const timer = setTimeout(() => reject(new Error("tap-pong printed no ready line within 10 s")), 10_000);
      p.child.stdout?.on("data", (d: string) => {
        out = (out + d).slice(-200);
        if (/^ready$/m.test(out)) {
          clearTimeout(timer);
          resolve();
        }
      });
      void p.done.then((r) => {
        clearTimeout(timer);
        reject(new Error(`tap-pong exited (${String(r.status)}): ${r.stderr.trim().slice(-300)}`));
      });
    });
    // Resolve ARP both ways before anything is timed, as openTapEnv does.
    ns.exec("ping", ["-c", "2", "-i", "0.05", "-W", "2", STACK_IP], 10_000);
    return { spaced: pingMedianUs(ns, STACK_IP, count), b2b: pingMedianUs(ns, STACK_IP, count, 0) };
  } finally {
    if (pong !== undefined && pong.child.exitCode === null && pong.child.signalCode === null) {
      pong.child.kill("SIGTERM");
      const c = pong.child;
      await Promise.race([pong.done, new Promise((r) => setTimeout(r, 3_000))]);
      if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    }
    ns.delete();
  }
}

/** Our stack's medians, with busy-polling for `busyPollUs` after each batch (0: off). */
async function stackMedians(count: number, busyPollUs: number): Promise<Medians> {
  const env = await openTapEnv(120, { busyPollUs });
  try {
    return { spaced: pingMedianUs(env.ns, STACK_IP, count), b2b: pingMedianUs(env.ns, STACK_IP, count, 0) };
  } finally {
    await env.close();
  }
}

const UNIT = "µs RTT (lower is better)";

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
    const dir = mkdtempSync(join(tmpdir(), "wirestack-tap-pong-"));
    try {
      const bin = buildCHelper("tap-pong", dir, "ping");
      const veth = openVethEnv();
      let vethUs: number;
      try {
        vethUs = pingMedianUs(veth.a, VETH_B_IP, count);
      } finally {
        veth.close();
      }
      const c = await tapPongMedians(bin, count);
      const ours = await stackMedians(count, 0);
      const busy = await stackMedians(count, BUSY_POLL_US);
      const x = (a: number, b: number): string => `${(a / b).toFixed(2)}×`;
      config.log(
        `ping.tap: median ${ours.spaced.toFixed(1)} µs, busy-poll ${busy.spaced.toFixed(1)} µs, back to back ${ours.b2b.toFixed(1)} µs ` +
          `(C responder on a TAP ${c.spaced.toFixed(1)} / back to back ${c.b2b.toFixed(1)} µs; veth ${vethUs.toFixed(1)} µs)`,
      );
      const spaced = `median of ${count} pings ${SPACED_S * 1000} ms apart from the kernel in a namespace`;
      const b2b = `median of ${count} pings back to back (ping -i 0: each request leaves when the previous reply arrives) from the kernel in a namespace`;
      const cRef = "C responder on a TAP";
      const cIs = "reference: scripts/bench/tap-pong.c (blocking read/write, no event loop) on the same kind of TAP, same interval, same run";
      return [
        compared("ping.tap", ours.spaced, UNIT, cRef, c.spaced,
          `${spaced} to our stack on a TAP (test/interop/tcp-peer.ts, default device); ${cIs}; against the kernel over veth: ${vethUs.toFixed(1)} µs, ${x(ours.spaced, vethUs)}; target ≤ 35 µs`),
        compared("ping.tap.busy-poll", busy.spaced, UNIT, cRef, c.spaced,
          `as ping.tap with busy-poll ${BUSY_POLL_US} µs after each batch (one CPU spins); ${cIs}; against veth: ${x(busy.spaced, vethUs)}`),
        compared("ping.tap.back-to-back", ours.b2b, UNIT, cRef, c.b2b,
          `${b2b} to our stack on a TAP, default device; ${cIs}; against veth (${SPACED_S * 1000} ms apart): ${x(ours.b2b, vethUs)}`),
        compared("ping.tap.c-responder", c.spaced, UNIT, "ping over veth", vethUs,
          `${spaced} to scripts/bench/tap-pong.c on a TAP: what the TAP device and two process wakeups allow; reference: the kernel at the far end of a veth (reply made inside ping's own syscall, no wakeup), same interval, same run`),
      ];
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
};
