/**
 * Handshakes + closes per second (issue 7, item 1f), two ways:
 * - on the memory wire: stack a opens connections to stack b (64 in flight), each closed by the
 *   client as soon as it is established (FIN both ways); a connection counts once the client socket
 *   has emitted 'close'. Both stacks run in this process, so this is the cost of both ends.
 * - from the kernel over TAP: a C load generator in the namespace (connect-load.c, compiled here at
 *   run time) keeps 64 connects in flight against our stack, closing each once established; the same
 *   program against its own accept+close server over a veth pair is the reference. A C client, not a
 *   scripted one: on two cores the client must cost less than the stack it measures.
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TcpSocket } from "../../src/api/tcp-socket.ts";
import { driveUntil, memoryPair } from "./memory-pair.ts";
import { buildCHelper, compared, seconds, type BenchConfig, type BenchResult, type BenchSection } from "./common.ts";
import { createNetns, type Netns } from "../../test/interop/netns.ts";
import { KERNEL_IP, STACK_IP, STACK_MAC, TAP, VETH_B_IP, openTapEnv, openVethEnv, tapUnavailable } from "./tap-env.ts";

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

/** Connections the C client keeps in flight (each a non-blocking connect, closed once established). */
const KERNEL_IN_FLIGHT = 64;

/**
 * The client namespace's ports: the client closes first, so each connection leaves a TIME-WAIT on
 * its side and 20 000/s would exhaust the range within seconds. tcp_tw_reuse=1 (namespaced) lets a
 * connect reuse a TIME-WAIT port after 1 s when both ends send timestamps (RFC 7323; ours does).
 */
function tuneClientPorts(ns: Netns): void {
  ns.exec("sysctl", ["-qw", "net.ipv4.tcp_tw_reuse=1"]);
  ns.exec("sysctl", ["-qw", "net.ipv4.ip_local_port_range=1024 65535"]);
}

/** One run of the C client in `ns` against `addr`:`port` for `secs`: connect+close cycles per second. */
async function clientRun(bin: string, ns: Netns, addr: string, port: number, secs: number): Promise<number> {
  const r = await ns.spawn(bin, ["client", addr, String(port), String(secs), String(KERNEL_IN_FLIGHT)], (secs + 30) * 1000).done;
  if (r.status !== 0) throw new Error(`connect-load client failed (status ${String(r.status)}): ${r.stderr.trim().slice(-300)}`);
  const [n = "0", fail = "0", t = "0"] = r.stdout.trim().split(/\s+/);
  if (Number(fail) > 0) throw new Error(`${fail} of ${Number(n) + Number(fail)} connects to ${addr} failed`);
  if (!(Number(n) > 0 && Number(t) > 0)) throw new Error(`connect-load client printed no result: ${r.stdout.trim().slice(0, 200)}`);
  return Number(n) / Number(t);
}

/**
 * The timed rate after an untimed run of a sixth as long (at least 0.2 s): the first seconds of a
 * Node process run its handshake path unoptimized, as the tcp-memory section's untimed first run.
 * Both are checked for failed connects. Every row (the veth reference too) is measured this way.
 */
async function kernelLoadRate(bin: string, ns: Netns, addr: string, port: number, secs: number): Promise<number> {
  await clientRun(bin, ns, addr, port, Math.max(0.2, secs / 6));
  return clientRun(bin, ns, addr, port, secs);
}

/**
 * The same client against `wirestack serve --services discard` (the product's own TCP sink, port 9)
 * on a TAP in a namespace of its own, deleted after; the server is started and stopped by PID.
 */
async function serveRate(bin: string, config: BenchConfig, secs: number): Promise<number> {
  const ns = createNetns("wsbench");
  let child: ReturnType<typeof spawn> | undefined;
  try {
    ns.exec("ip", ["tuntap", "add", "dev", TAP, "mode", "tap"]);
    ns.exec("ip", ["link", "set", TAP, "up"]);
    ns.exec("ip", ["addr", "add", `${KERNEL_IP}/24`, "dev", TAP]);
    tuneClientPorts(ns);
    const cli = join(config.root, "bin", "wirestack.mjs");
    const args = ["netns", "exec", ns.name, process.execPath, cli, "serve", "--tap", TAP, "--mac", STACK_MAC, "--ip", `${STACK_IP}/24`, "--services", "discard"];
    const server = spawn("ip", args, { stdio: ["ignore", "pipe", "pipe"], timeout: (secs + 90) * 1000 });
    child = server;
    let stderr = "";
    server.stderr?.setEncoding("utf8").on("data", (d: string) => (stderr = (stderr + d).slice(-2000)));
    await new Promise<void>((resolve, reject) => {
      let out = "";
      const timer = setTimeout(() => reject(new Error("wirestack serve printed no ready line within 30 s")), 30_000);
      server.stdout?.setEncoding("utf8").on("data", (d: string) => {
        out = (out + d).slice(-2000);
        if (/^ready /m.test(out)) {
          clearTimeout(timer);
          resolve();
        }
      });
      server.once("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`wirestack serve exited (${String(code)}): ${stderr.trim().slice(-300)}`));
      });
    });
    // ARP both ways before anything is timed, as openTapEnv does.
    ns.exec("ping", ["-c", "2", "-i", "0.05", "-W", "2", STACK_IP], 10_000);
    return await kernelLoadRate(bin, ns, STACK_IP, 9, secs);
  } finally {
    if (child !== undefined && child.exitCode === null && child.signalCode === null) {
      const c = child;
      const exited = new Promise((r) => c.once("exit", r));
      c.kill("SIGTERM");
      await Promise.race([exited, new Promise((r) => setTimeout(r, 5_000))]);
      if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
    }
    ns.delete();
  }
}

/** From the kernel over TAP to our stack, and over veth to a kernel listener (both ends C). */
async function kernelHandshakes(config: BenchConfig): Promise<BenchResult[]> {
  const secs = config.quick ? 0.5 : 3;
  const dir = mkdtempSync(join(tmpdir(), "wirestack-connect-load-"));
  try {
    const bin = buildCHelper("connect-load", dir, "handshakes");
    const veth = openVethEnv();
    let ref: number;
    try {
      tuneClientPorts(veth.a);
      const server = veth.b.spawn(bin, ["server", VETH_B_IP, "5001", String(secs + 60)], (secs + 70) * 1000);
      try {
        const t0 = performance.now();
        while (!veth.b.run("ss", ["-tlnH", "sport", "= :5001"]).stdout.includes(":5001")) {
          if (server.child.exitCode !== null) throw new Error(`connect-load server exited: ${(await server.done).stderr.trim().slice(-300)}`);
          if (performance.now() - t0 > 10_000) throw new Error("the kernel listener did not start");
          await new Promise((r) => setTimeout(r, 50));
        }
        ref = await kernelLoadRate(bin, veth.a, VETH_B_IP, 5001, secs);
      } finally {
        if (server.child.exitCode === null) server.child.kill("SIGTERM");
        await server.done;
      }
    } finally {
      veth.close();
    }
    let ours: number;
    const env = await openTapEnv(120);
    try {
      tuneClientPorts(env.ns);
      env.peer.send({ cmd: "listen", port: 5001, role: "bench-accept" });
      await env.peer.waitFor((e) => e.event === "listening" && e.port === 5001, 10_000, "listening");
      ours = await kernelLoadRate(bin, env.ns, STACK_IP, 5001, secs);
      const seen = env.peer.events.length;
      env.peer.send({ cmd: "stats" });
      const stats = await env.peer.waitFor((e) => e.event === "stats" && env.peer.events.indexOf(e) >= seen, 10_000, "stats");
      const counted = stats.accepts as { closed: number; errors: number } | undefined;
      if (counted === undefined || counted.closed === 0) throw new Error("handshakes: the TAP peer counted no closed connection");
      if (counted.errors > 0) throw new Error(`handshakes: ${counted.errors} connections failed in our stack`);
    } finally {
      await env.close();
    }
    const serve = await serveRate(bin, config, secs);
    config.log(`handshakes.tap: ${Math.round(ours)}/s, serve ${Math.round(serve)}/s (veth ${Math.round(ref)}/s)`);
    const client = `C client (scripts/bench/connect-load.c: epoll, ${KERNEL_IN_FLIGHT} non-blocking connects in flight, each closed with a FIN once established; client namespace tcp_tw_reuse=1, ports 1024–65535) for ${secs} s after an untimed ${Math.max(0.2, secs / 6)} s`;
    return [
      compared("handshakes.tap", ours, "conn/s", "kernel listener over veth", ref,
        `${client} against our stack on a TAP (test/interop/tcp-peer.ts, role bench-accept: discards, counts, prints nothing per connection); reference: the same client against the same program's accept+close server over a veth; target ≥ 20 000/s`),
      compared("handshakes.tap.serve", serve, "conn/s", "kernel listener over veth", ref,
        `the same ${client} against \`wirestack serve --services discard\` (port 9) on a TAP; reference as handshakes.tap`),
    ];
  } finally {
    rmSync(dir, { recursive: true, force: true });
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
