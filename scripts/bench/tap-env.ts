/**
 * The benchmark's network set-up, created for one section and deleted after it, even on failure:
 * - a namespace holding a TAP device whose kernel side is 10.77.0.1/24, with our stack
 *   (test/interop/tcp-peer.ts, 10.77.0.2, run inside the namespace) attached to it — opened plain,
 *   or with `offload` (IFF_VNET_HDR, checksum offload and TSO both ways: `--offload 1`), or busy-polling
 *   (`busyPollUs`, TapOptions.busyPollUs);
 * - a namespace pair joined by a veth (10.78.0.1 ↔ 10.78.0.2) with every offload off, where the
 *   kernel talks to itself: the reference for each TAP figure.
 * Nothing is sent outside these namespaces. Children are started by PID and stopped by PID
 * (tcp-helpers.ts `stopAll`).
 */
import { readFileSync } from "node:fs";
import { createNetns, netnsSupport, type Netns } from "../../test/interop/netns.ts";
import { JsonChild, REPO_ROOT, TCP_PEER, startPeer, stopAll } from "../../test/interop/tcp-helpers.ts";

export const TAP = "wsbtap0";
export const KERNEL_IP = "10.77.0.1";
export const STACK_IP = "10.77.0.2";
export const STACK_MAC = "02:00:00:77:00:02";
export const VETH_A_IP = "10.78.0.1";
export const VETH_B_IP = "10.78.0.2";

/** Why the TAP sections cannot run here, or undefined when they can. */
export function tapUnavailable(): string | undefined {
  const s = netnsSupport();
  return s.ok ? undefined : s.reason;
}

/** A TAP namespace with our stack attached. */
export interface TapEnv {
  readonly ns: Netns;
  readonly peer: JsonChild;
  /** The stack process's PID (ip netns exec execs in place). */
  readonly peerPid: number;
  close(): Promise<void>;
}

/** Sysctls that keep the kernel client from running out of ports in a connect loop. */
function tuneClient(ns: Netns): void {
  ns.run("sysctl", ["-qw", "net.ipv4.tcp_tw_reuse=1"]);
  ns.run("sysctl", ["-qw", "net.ipv4.ip_local_port_range=1024 65000"]);
}

/** tcp-peer.ts with options startPeer has no parameter for (`--offload`, `--busy-poll-us`). */
async function startTunedPeer(ns: Netns, maxSeconds: number, extra: readonly string[]): Promise<JsonChild> {
  const args = ["--tap", TAP, "--mac", STACK_MAC, "--ip", `${STACK_IP}/24`, "--seed", "1", "--max-seconds", String(maxSeconds), ...extra];
  const peer = new JsonChild("tcp-peer", ["ip", "netns", "exec", ns.name, process.execPath, "--import", "tsx", TCP_PEER, ...args], { cwd: REPO_ROOT, stdin: true });
  await peer.waitFor((e) => e.event === "ready", 30_000, "ready line");
  return peer;
}

/**
 * Creates the TAP namespace and starts the stack on it (with `offload`: IFF_VNET_HDR and TSO, super-frames
 * through the stack; "split": the device splits and coalesces, the stack sees MTU-sized frames).
 */
export async function openTapEnv(
  maxSeconds: number,
  opts: { readonly offload?: boolean | "split"; readonly busyPollUs?: number } = {},
): Promise<TapEnv> {
  const ns = createNetns("wsbench");
  try {
    ns.exec("ip", ["tuntap", "add", "dev", TAP, "mode", "tap"]);
    ns.exec("ip", ["link", "set", TAP, "up"]);
    ns.exec("ip", ["addr", "add", `${KERNEL_IP}/24`, "dev", TAP]);
    tuneClient(ns);
    const extra = [
      ...(opts.offload === true ? ["--offload", "1"] : opts.offload === "split" ? ["--offload", "split"] : []),
      ...(opts.busyPollUs !== undefined && opts.busyPollUs > 0 ? ["--busy-poll-us", String(opts.busyPollUs)] : []),
    ];
    const peer =
      extra.length > 0
        ? await startTunedPeer(ns, maxSeconds, extra)
        : await startPeer(ns, { tap: TAP, mac: STACK_MAC, ip: `${STACK_IP}/24` }, { maxSeconds });
    const pid = peer.child.pid;
    if (pid === undefined) throw new Error("tcp-peer has no pid");
    // Resolve ARP both ways before anything is timed.
    ns.exec("ping", ["-c", "2", "-i", "0.05", "-W", "2", STACK_IP], 10_000);
    return {
      ns,
      peer,
      peerPid: pid,
      async close() {
        peer.send({ cmd: "exit" });
        await Promise.race([peer.exited, new Promise((r) => setTimeout(r, 3_000))]);
        await stopAll();
        ns.delete();
      },
    };
  } catch (err) {
    await stopAll();
    ns.delete();
    throw err;
  }
}

/** Two namespaces and a veth between them, offloads off. */
export interface VethEnv {
  readonly a: Netns;
  readonly b: Netns;
  close(): void;
}

/** Creates the veth pair (a: 10.78.0.1, b: 10.78.0.2). */
export function openVethEnv(): VethEnv {
  const a = createNetns("wsbench");
  const b = createNetns("wsbench");
  try {
    a.exec("ip", ["link", "add", "wsbva", "type", "veth", "peer", "name", "wsbvb", "netns", b.name]);
    for (const [ns, dev, addr] of [
      [a, "wsbva", VETH_A_IP],
      [b, "wsbvb", VETH_B_IP],
    ] as const) {
      ns.exec("ip", ["addr", "add", `${addr}/24`, "dev", dev]);
      ns.exec("ip", ["link", "set", dev, "up"]);
      // Offloads off: the kernel then moves MTU-sized frames as our stack does over a plain TAP.
      ns.run("ethtool", ["-K", dev, "tso", "off", "gso", "off", "gro", "off", "tx", "off", "rx", "off", "sg", "off"]);
      tuneClient(ns);
    }
    a.exec("ping", ["-c", "2", "-i", "0.05", "-W", "2", VETH_B_IP], 10_000);
    return {
      a,
      b,
      close() {
        a.delete();
        b.delete();
      },
    };
  } catch (err) {
    a.delete();
    b.delete();
    throw err;
  }
}

/** CPU time (user + system) a process has used, µs, from /proc/PID/stat (clock ticks of 10 ms). */
export function processCpuUs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // Fields after the command: state is [0]; utime and stime are fields 14 and 15 of the whole line.
  return (Number(fields[11]) + Number(fields[12])) * 10_000;
}

/** Frames through a device so far, both directions, read in its namespace. */
export function deviceFrames(ns: Netns, dev: string): number {
  const rx = Number(ns.exec("cat", [`/sys/class/net/${dev}/statistics/rx_packets`]).trim());
  const tx = Number(ns.exec("cat", [`/sys/class/net/${dev}/statistics/tx_packets`]).trim());
  return rx + tx;
}
