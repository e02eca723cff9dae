/**
 * Handshakes + closes per second (issue 7, item 1f), two ways:
 * - on the memory wire: stack a opens connections to stack b (64 in flight), each closed by the
 *   client as soon as it is established (FIN both ways); a connection counts once the client socket
 *   has emitted 'close'. Both stacks run in this process, so this is the cost of both ends.
 * - from the kernel over TAP (section tcp-tap, handshakes.ts only supplies the client program): a
 *   Python client in the namespace connects and closes in a loop against our stack, and the same
 *   client against a kernel listener over a veth pair is the reference.
 */
import type { TcpSocket } from "../../src/api/tcp-socket.ts";
import { driveUntil, memoryPair } from "./memory-pair.ts";
import { compared, seconds, type BenchConfig, type BenchResult, type BenchSection } from "./common.ts";
import type { Netns } from "../../test/interop/netns.ts";
import { STACK_IP, VETH_B_IP, openTapEnv, openVethEnv, tapUnavailable } from "./tap-env.ts";

const IN_FLIGHT = 64;

/** Runs `n` connect+close cycles a → b; returns cycles per second of wall time. */
export async function memoryHandshakes(n: number): Promise<number> {
  // Every client endpoint stays in TIME-WAIT (virtual time barely moves): room for all of them.
  const pair = memoryPair({ maxConnections: n + IN_FLIGHT + 16 });
  try {
    pair.b.tcp.listen(5001, { backlog: 1024 }, (sock) => {
      sock.on("data", () => {});
      sock.on("error", () => {});
    });
    let started = 0;
    let closed = 0;
    let failed = 0;
    const open = (): void => {
      started++;
      const s: TcpSocket = pair.a.tcp.connect({ host: "10.0.0.2", port: 5001 });
      s.once("connect", () => s.end());
      s.on("data", () => {});
      s.on("error", () => failed++);
      s.once("close", () => {
        closed++;
        if (started < n) open();
      });
    };
    // Warm-up (ARP, JIT) outside the clock.
    open();
    await driveUntil(pair.clock, () => closed === 1, 10_000);
    if (failed > 0) throw new Error("the warm-up connection failed");
    const t0 = seconds();
    const base = closed;
    started = 1;
    for (let i = 0; i < IN_FLIGHT && started < n; i++) open();
    await driveUntil(pair.clock, () => closed - base >= n - 1, 300_000);
    if (failed > 0) throw new Error(`${failed} connections failed`);
    return (n - 1) / (seconds() - t0);
  } finally {
    await pair.close();
  }
}

/** The Python client used over TAP and veth: connect, close, repeat, for `--seconds`; prints a count. */
export const KERNEL_CONNECT_LOOP = `
import socket, sys, time
addr, port, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
n = fail = 0
end = time.monotonic() + secs
t0 = time.monotonic()
while time.monotonic() < end:
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.connect((addr, port))
        n += 1
    except OSError:
        fail += 1
    s.close()
print(n, fail, time.monotonic() - t0)
`;

/** The kernel listener of the veth reference: accept, close, repeat, until killed. */
const KERNEL_ACCEPT_LOOP = `
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(4096)
print("listening", flush=True)
while True:
    c, _ = s.accept()
    c.close()
`;

/** Client loops run at once: one sequential loop waits a round trip per cycle. */
const CLIENTS = 4;

/** Connect+close cycles per second of `CLIENTS` Python loops at once in `ns` against `addr`:`port`. */
async function kernelLoopRate(ns: Netns, addr: string, port: number, secs: number): Promise<number> {
  const runs = await Promise.all(
    Array.from({ length: CLIENTS }, () => ns.spawn("/usr/bin/python3", ["-c", KERNEL_CONNECT_LOOP, addr, String(port), String(secs)], (secs + 30) * 1000).done),
  );
  let total = 0;
  for (const r of runs) {
    const [n = "0", fail = "0", t = "1"] = r.stdout.trim().split(/\s+/);
    if (r.status !== 0) throw new Error(`connect loop failed: ${r.stderr.slice(-300)}`);
    if (Number(fail) > 0) throw new Error(`${fail} of ${Number(n) + Number(fail)} connects to ${addr} failed`);
    total += Number(n) / Number(t);
  }
  return total;
}

/** From the kernel over TAP to our stack, and over veth to a kernel listener; undefined when not root. */
async function kernelHandshakes(config: BenchConfig): Promise<BenchResult[]> {
  const secs = config.quick ? 0.5 : 3;
  const veth = openVethEnv();
  let ref: number;
  try {
    const server = veth.b.spawn("/usr/bin/python3", ["-c", KERNEL_ACCEPT_LOOP, VETH_B_IP, "5001"], (secs + 60) * 1000);
    try {
      const t0 = performance.now();
      while (!veth.b.run("ss", ["-tlnH", "sport", "= :5001"]).stdout.includes(":5001")) {
        if (performance.now() - t0 > 10_000) throw new Error("the kernel listener did not start");
        await new Promise((r) => setTimeout(r, 50));
      }
      ref = await kernelLoopRate(veth.a, VETH_B_IP, 5001, secs);
    } finally {
      if (server.child.exitCode === null) server.child.kill("SIGTERM");
      await server.done;
    }
  } finally {
    veth.close();
  }
  const env = await openTapEnv(120);
  try {
    env.peer.send({ cmd: "listen", port: 5001, role: "sink" });
    await env.peer.waitFor((e) => e.event === "listening" && e.port === 5001, 10_000, "listening");
    const ours = await kernelLoopRate(env.ns, STACK_IP, 5001, secs);
    config.log(`handshakes.tap: ${Math.round(ours)}/s (veth ${Math.round(ref)}/s)`);
    return [
      compared("handshakes.tap", ours, "conn/s", "kernel listener over veth", ref,
        `${CLIENTS} Python connect+close loops at once in the namespace for ${secs} s against our stack on a TAP (test/interop/tcp-peer.ts, role sink); reference: the same loops against a Python accept+close loop over a veth; target ≥ 20 000/s`),
    ];
  } finally {
    await env.close();
  }
}

/** The handshake section: memory wire always, kernel over TAP when root. */
export const handshakeSection: BenchSection = {
  name: "handshakes",
  async run(config: BenchConfig): Promise<BenchResult[]> {
    const n = config.quick ? 300 : 10_000;
    const rate = await memoryHandshakes(n);
    config.log(`handshakes.memory: ${Math.round(rate)}/s`);
    const why = tapUnavailable();
    if (why !== undefined) config.log(`handshakes: TAP part skipped: ${why}`);
    const tap = why === undefined ? await kernelHandshakes(config) : [];
    return [
      ...tap,
      {
        name: "handshakes.memory",
        value: rate,
        unit: "conn/s",
        note: `${n} connect + close cycles between two stacks in one process (64 in flight, both ends' work); target (from the kernel over TAP) ≥ 20 000/s`,
      },
    ];
  },
};
