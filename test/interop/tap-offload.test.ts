/**
 * The TAP device with offload (IFF_VNET_HDR, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) against the Linux
 * kernel, inside a namespace this file creates and deletes (issue 7, item 3).
 *
 * Set-up as in tcp.test.ts: a persistent TAP configured on the kernel side (10.95.0.1/24, fd95::1/64),
 * our stack (tcp-peer.ts with `--offload 1`: 10.95.0.2, fd95::2) attached to it, the kernel's side
 * run by scripts/tcp-kernel-peer.py, ping and python. What is checked: the kernel sees the offloads
 * on (ethtool -k), it then really sends us TCP super-frames and partial checksums, which reach the
 * stack whole (GRO: not split), and really takes the stack's own 64 KiB super-segments (TSO; the
 * device's counters), the kernel's TCP counters stay sane (nstat: no checksum errors, few
 * retransmissions), and through all that 100 MB each way arrive intact
 * (SHA-256 on both ends), ping and ping6 answer, and UDP with a partial checksum reaches our stack
 * (which answers a closed port with ICMP port unreachable, RFC 1122 §4.1.3.1 — only after the
 * checksum verified). Subnets 10.95.0.0/24 and fd95::/64 are used by no other file.
 */
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createNetns, deleteAllNetns, type Netns } from "./netns.ts";
import { interopSkipReason } from "./helpers.ts";
import { DEBIAN_PYTHON, JsonChild, REPO_ROOT, TCP_PEER, startKernelPeer, stopAll, type JsonEvent } from "./tcp-helpers.ts";

const skipReason = interopSkipReason("test/interop/tap-offload.test.ts");

const TAP = `wso${process.pid}`.slice(0, 15);
const OUR_MAC = "02:00:00:95:00:02";
const OUR_IP = "10.95.0.2";
const OUR_IP6 = "fd95::2";
const KERNEL_IP = "10.95.0.1";
const KERNEL_IP6 = "fd95::1";
const MB = 1_000_000;
const BULK_BYTES = 100 * MB;

/** Starts tcp-peer.ts with offload on and waits for its `ready` line. */
async function startOffloadPeer(ns: Netns): Promise<JsonChild> {
  const args = ["--tap", TAP, "--mac", OUR_MAC, "--ip", `${OUR_IP}/24`, "--ip6", `${OUR_IP6}/64`, "--seed", "1", "--max-seconds", "300", "--offload", "1"];
  const peer = new JsonChild("tcp-peer", ["ip", "netns", "exec", ns.name, process.execPath, "--import", "tsx", TCP_PEER, ...args], {
    cwd: REPO_ROOT,
    stdin: true,
  });
  await peer.waitFor((e) => e.event === "ready", 30_000, "ready line");
  return peer;
}

/** Absolute TCP/IP counters of the namespace's kernel (nstat -a, history untouched). */
function kernelCounters(ns: Netns): Map<string, number> {
  const out = ns.exec("nstat", ["-asz"]);
  const m = new Map<string, number>();
  for (const line of out.split("\n")) {
    const [name, value] = line.trim().split(/\s+/);
    if (name !== undefined && value !== undefined && /^\d+$/.test(value)) m.set(name, Number(value));
  }
  return m;
}

/** The peer's `stats` event printed after now. */
async function peerStats(peer: JsonChild): Promise<{ offload: Record<string, number>; tap: Record<string, number>; counters: Record<string, number> }> {
  const before = peer.events.length;
  peer.send({ cmd: "stats" });
  const e = await peer.waitFor((x) => x.event === "stats" && peer.events.indexOf(x) >= before, 10_000, "stats");
  return e as unknown as { offload: Record<string, number>; tap: Record<string, number>; counters: Record<string, number> };
}

describe.skipIf(skipReason !== undefined)("TAP with IFF_VNET_HDR, checksum offload and TSO against the kernel", () => {
  let ns: Netns;
  let peer: JsonChild;

  beforeAll(async () => {
    ns = createNetns("wsoff");
    ns.exec("ip", ["tuntap", "add", "dev", TAP, "mode", "tap"]);
    ns.exec("ip", ["link", "set", TAP, "up"]);
    ns.exec("ip", ["addr", "add", `${KERNEL_IP}/24`, "dev", TAP]);
    ns.exec("ip", ["-6", "addr", "add", `${KERNEL_IP6}/64`, "dev", TAP, "nodad"]);
    peer = await startOffloadPeer(ns);
  }, 60_000);

  afterAll(async () => {
    try {
      if (peer?.running) {
        peer.send({ cmd: "exit" });
        await Promise.race([peer.exited, new Promise((r) => setTimeout(r, 3_000))]);
      }
      await stopAll();
    } finally {
      deleteAllNetns();
    }
  });

  test("the kernel sees checksum offload and TSO on the TAP (ethtool -k)", () => {
    const k = ns.exec("ethtool", ["-k", TAP]);
    expect(k).toMatch(/^tx-checksumming: on/m);
    expect(k).toMatch(/^\s*tx-tcp-segmentation: on/m);
    expect(k).toMatch(/^\s*tx-tcp6-segmentation: on/m);
  });

  test("ping and ping6 answer", () => {
    const v4 = ns.exec("ping", ["-c", "3", "-i", "0.05", "-W", "2", "-s", "1400", OUR_IP], 10_000);
    expect(v4).toMatch(/3 received/);
    const v6 = ns.exec("ping", ["-6", "-c", "3", "-i", "0.05", "-W", "2", OUR_IP6], 10_000);
    expect(v6).toMatch(/3 received/);
  });

  test("UDP sent with a partial checksum is completed by the device (RFC 1122 §4.1.3.1 unreachable comes back)", async () => {
    const before = (await peerStats(peer)).offload;
    const script =
      "import socket,sys\n" +
      "for fam, host in ((socket.AF_INET, sys.argv[1]), (socket.AF_INET6, sys.argv[2])):\n" +
      "  s = socket.socket(fam, socket.SOCK_DGRAM); s.settimeout(2); s.connect((host, 9999)); s.send(b'x' * 300)\n" +
      "  try:\n    s.recv(100); print('answered')\n  except ConnectionRefusedError:\n    print('refused')\n  except socket.timeout:\n    print('timeout')\n";
    const out = ns.exec(DEBIAN_PYTHON, ["-c", script, OUR_IP, OUR_IP6], 15_000);
    expect(out.trim().split("\n")).toEqual(["refused", "refused"]);
    const after = (await peerStats(peer)).offload;
    expect((after.rxChecksumsCompleted ?? 0) - (before.rxChecksumsCompleted ?? 0)).toBeGreaterThanOrEqual(2);
  });

  describe("100 MB each way, SHA-256 on both ends", () => {
    test("kernel → stack: the kernel sends TSO super-frames, which reach the stack whole", async () => {
      const before = (await peerStats(peer)).offload;
      const kBefore = kernelCounters(ns);
      peer.send({ cmd: "listen", port: 5020, role: "sink" });
      await peer.waitFor((e) => e.event === "listening" && e.port === 5020, 10_000, "listening");
      const k = startKernelPeer(ns, ["source", "--connect", OUR_IP, "5020", "--bytes", String(BULK_BYTES), "--timeout", "120"]);
      const kernel = await k.waitFor((e) => e.event === "done" || e.event === "error", 125_000, "kernel source report");
      const ours = await peer.waitFor((e) => e.event === "done" && String(e.id).startsWith("5020#"), 15_000, "done on 5020");
      const ctx = JSON.stringify({ kernel, ours });
      expect(kernel.event, ctx).toBe("done");
      expect(ours.error, ctx).toBeUndefined();
      expect(ours.bytesIn, ctx).toBe(BULK_BYTES);
      expect(ours.sha256In, ctx).toBe(kernel.sha256_out);
      const stats = await peerStats(peer);
      const after = stats.offload;
      // Super-frames the kernel built carry a checksum the device completed: TCP does not sum them again.
      expect(stats.counters["tcp.rx.checksum-trusted"] ?? 0).toBeGreaterThan(0);
      const supers = (after.rxSuperFrames ?? 0) - (before.rxSuperFrames ?? 0);
      const split = (after.rxSplitFrames ?? 0) - (before.rxSplitFrames ?? 0);
      expect(supers, JSON.stringify(after)).toBeGreaterThan(100);
      expect(split, "super-frames go up whole").toBe(0);
      expect(after.rxDropped ?? 0).toBe(0);
      const kAfter = kernelCounters(ns);
      const d = (k: string): number => (kAfter.get(k) ?? 0) - (kBefore.get(k) ?? 0);
      // The kernel sent ~69 000 MSS-sized segments' worth; our ACKs reach it intact.
      expect(d("TcpOutSegs")).toBeGreaterThan(BULK_BYTES / 1448 / 2);
      expect(d("TcpInCsumErrors")).toBe(0);
      expect(d("TcpRetransSegs")).toBeLessThan(d("TcpOutSegs") / 100);
      console.log(`offload kernel → stack: ${((BULK_BYTES / MB) / Number(kernel.seconds)).toFixed(1)} MB/s, ${supers} super-frames, kernel TcpOutSegs ${d("TcpOutSegs")}, retrans ${d("TcpRetransSegs")}`);
    }, 150_000);

    test("stack → kernel: the stack builds 64 KiB super-segments (TSO) and the kernel takes them whole", async () => {
      const before = (await peerStats(peer)).offload;
      const kBefore = kernelCounters(ns);
      const k = startKernelPeer(ns, ["sink", "--listen", KERNEL_IP, "6020", "--timeout", "120"]);
      await k.waitFor((e) => e.event === "listening", 10_000, "kernel listening");
      peer.send({ cmd: "connect", id: "c6020", host: KERNEL_IP, port: 6020, role: "source", bytes: BULK_BYTES });
      const kernel: JsonEvent = await k.waitFor((e) => e.event === "done" || e.event === "error", 125_000, "kernel sink report");
      const ours = await peer.waitFor((e) => e.event === "done" && e.id === "c6020", 15_000, "done of c6020");
      const ctx = JSON.stringify({ kernel, ours });
      expect(kernel.event, ctx).toBe("done");
      expect(ours.error, ctx).toBeUndefined();
      expect(kernel.bytes_in, ctx).toBe(BULK_BYTES);
      expect(kernel.sha256_in, ctx).toBe(ours.sha256Out);
      const after = (await peerStats(peer)).offload;
      const supers = (after.txStackSuperFrames ?? 0) - (before.txStackSuperFrames ?? 0);
      const superBytes = (after.txStackSuperBytes ?? 0) - (before.txStackSuperBytes ?? 0);
      expect(supers, JSON.stringify(after)).toBeGreaterThan(100);
      expect(superBytes / supers).toBeGreaterThan(2 * 1448);
      expect(after.txDropped ?? 0).toBe(0);
      const kAfter = kernelCounters(ns);
      const d = (k: string): number => (kAfter.get(k) ?? 0) - (kBefore.get(k) ?? 0);
      // Delivered locally, a super-frame is never cut: the kernel's TCP takes each one whole (as
      // after GRO) and counts it as one segment — far fewer than one per MSS — with every byte in.
      const ctxK = JSON.stringify(Object.fromEntries([...kAfter].filter(([k]) => k.startsWith("Tcp") || k.startsWith("IpExt"))));
      expect(d("IpExtInOctets"), ctxK).toBeGreaterThan(BULK_BYTES);
      expect(d("TcpInSegs"), ctxK).toBeLessThan(BULK_BYTES / 1448 / 4);
      expect(d("TcpInCsumErrors")).toBe(0);
      expect(d("TcpInErrs")).toBe(0);
      console.log(`offload stack → kernel: ${((BULK_BYTES / MB) / Number(kernel.seconds)).toFixed(1)} MB/s, ${superBytes} bytes in ${supers} super-segments, kernel TcpInSegs ${d("TcpInSegs")}`);
    }, 150_000);

    test("IPv6 both ways (TSO6), 10 MB each", async () => {
      const bytes = 10 * MB;
      peer.send({ cmd: "listen", port: 5021, role: "sink" });
      await peer.waitFor((e) => e.event === "listening" && e.port === 5021, 10_000, "listening");
      const k1 = startKernelPeer(ns, ["source", "--connect", OUR_IP6, "5021", "--bytes", String(bytes), "--timeout", "60"]);
      const kernel1 = await k1.waitFor((e) => e.event === "done" || e.event === "error", 65_000, "kernel source report");
      const ours1 = await peer.waitFor((e) => e.event === "done" && String(e.id).startsWith("5021#"), 15_000, "done on 5021");
      expect(ours1.sha256In, JSON.stringify({ kernel1, ours1 })).toBe(kernel1.sha256_out);
      const k2 = startKernelPeer(ns, ["sink", "--listen", KERNEL_IP6, "6021", "--timeout", "60"]);
      await k2.waitFor((e) => e.event === "listening", 10_000, "kernel listening");
      peer.send({ cmd: "connect", id: "c6021", host: KERNEL_IP6, port: 6021, role: "source", bytes });
      const kernel2 = await k2.waitFor((e) => e.event === "done" || e.event === "error", 65_000, "kernel sink report");
      const ours2 = await peer.waitFor((e) => e.event === "done" && e.id === "c6021", 15_000, "done of c6021");
      expect(kernel2.bytes_in, JSON.stringify({ kernel2, ours2 })).toBe(bytes);
      expect(kernel2.sha256_in).toBe(ours2.sha256Out);
      const s = await peerStats(peer);
      expect(s.counters["stack.exception"] ?? 0).toBe(0);
      expect(peer.events.filter((e) => e.event === "exception" || e.event === "fatal")).toEqual([]);
    }, 150_000);
  });

  test("close() resets the offloads, so a later plain attach of the persistent TAP gets no super-frames", async () => {
    peer.send({ cmd: "exit" });
    await Promise.race([peer.exited, new Promise((r) => setTimeout(r, 5_000))]);
    expect(peer.running).toBe(false);
    const k = ns.exec("ethtool", ["-k", TAP]);
    expect(k).toMatch(/^\s*tx-tcp-segmentation: off/m);
    expect(k).toMatch(/^\s*tx-tcp6-segmentation: off/m);
  }, 20_000);
});
