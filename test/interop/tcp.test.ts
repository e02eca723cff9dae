/**
 * Our TCP against the Linux kernel's, over a TAP device inside a namespace this file creates and
 * deletes (issue 4, item 8).
 *
 * Set-up: a persistent TAP (`ip tuntap add`) configured on the kernel side before anything of ours
 * attaches (10.94.0.1/24, fd94::1/64). Each test starts its own stack-side program (tcp-peer.ts:
 * a stack on that TAP, optionally behind a seeded FaultDevice impairing frames both ways) and the
 * kernel side with scripts/tcp-kernel-peer.py (plain sockets, 1 MiB buffers), nc, or scapy. Since
 * this kernel has no `tc netem`, impairment is ours, in userspace, on both directions: the kernel's
 * TCP recovers from what we do to our egress, ours from what we do to its frames.
 *
 * Addresses: stack 10.94.0.2 / fd94::2 (MAC 02:00:00:94:00:02); scapy pretends to be 10.94.0.3
 * (MAC 02:00:00:94:00:03), an address the kernel does not own, so the kernel neither answers for it
 * nor resets the crafted connection. Subnets 10.94.0.0/24 and fd94::/64 are used by no other file.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createNetns, deleteAllNetns, type Netns } from "./netns.ts";
import { interopSkipReason, killAllChildren, runIn, startServe, tshark } from "./helpers.ts";
import {
  DEBIAN_PYTHON,
  JsonChild,
  SCAPY_TCP,
  chargenLine,
  kernelCounters,
  kernelSockets,
  startCapture,
  startKernelPeer,
  startPeer,
  stopAll,
  type JsonEvent,
  type PeerImpairments,
} from "./tcp-helpers.ts";

const skipReason = interopSkipReason("test/interop/tcp.test.ts");

const TAP = `wst${process.pid}`.slice(0, 15);
const OUR_MAC = "02:00:00:94:00:02";
const OUR_IP = "10.94.0.2";
const OUR_IP6 = "fd94::2";
const KERNEL_IP = "10.94.0.1";
const KERNEL_IP6 = "fd94::1";
const SCAPY_MAC = "02:00:00:94:00:03";
const SCAPY_IP = "10.94.0.3";
const OUR = { tap: TAP, mac: OUR_MAC, ip: `${OUR_IP}/24`, ip6: `${OUR_IP6}/64` } as const;

const MB = 1_000_000;
/** Unimpaired bulk size, each way (the 100 MB). */
const BULK_BYTES = 100 * MB;
/**
 * Impaired bulk size, each way: the full 100 MB. Measured here: kernel → stack ~8–14 MB/s, stack →
 * kernel ~1.1–1.3 MB/s (our sender takes an RTO for every lost retransmission: no RACK/TLP), so
 * about 100 s of this file's ~2 minutes. Lower it to 20 MB if CI is much slower than this machine.
 */
const IMPAIRED_BYTES = 100 * MB;
/** The impairment mix, applied to both directions. */
const IMPAIRMENTS: PeerImpairments = { loss: 0.01, reorder: 0.05, reorderDelayMs: 2, duplicate: 0.01, corrupt: 0.005 };

/** Kernel → stack: our listener sinks what a kernel client sends; returns both ends' reports. */
async function kernelToStack(
  ns: Netns,
  peer: JsonChild,
  o: { port: number; bytes: number; host: string; timeoutMs: number },
): Promise<{ kernel: JsonEvent; ours: JsonEvent }> {
  peer.send({ cmd: "listen", port: o.port, role: "sink" });
  await peer.waitFor((e) => e.event === "listening" && e.port === o.port, 10_000, `listening on ${o.port}`);
  const k = startKernelPeer(ns, ["source", "--connect", o.host, String(o.port), "--bytes", String(o.bytes), "--timeout", String(Math.ceil(o.timeoutMs / 1000))]);
  const kernel = await k.waitFor((e) => e.event === "done" || e.event === "error", o.timeoutMs + 5_000, "kernel source report");
  const ours = await peer.waitFor((e) => e.event === "done" && String(e.id).startsWith(`${o.port}#`), 15_000, `done on ${o.port}`);
  return { kernel, ours };
}

/** Stack → kernel: we connect to a kernel listener and send; returns both ends' reports. */
async function stackToKernel(
  ns: Netns,
  peer: JsonChild,
  o: { port: number; bytes: number; host: string; timeoutMs: number; kernelMode?: string; kernelArgs?: readonly string[] },
): Promise<{ kernel: JsonEvent; ours: JsonEvent }> {
  const k = startKernelPeer(ns, [o.kernelMode ?? "sink", "--listen", o.host, String(o.port), "--timeout", String(Math.ceil(o.timeoutMs / 1000)), ...(o.kernelArgs ?? [])]);
  await k.waitFor((e) => e.event === "listening", 10_000, "kernel listening");
  const id = `c${o.port}`;
  peer.send({ cmd: "connect", id, host: o.host, port: o.port, role: "source", bytes: o.bytes });
  const kernel = await k.waitFor((e) => e.event === "done" || e.event === "error", o.timeoutMs + 5_000, "kernel sink report");
  const ours = await peer.waitFor((e) => e.event === "done" && e.id === id, 15_000, `done of ${id}`);
  return { kernel, ours };
}

/** Both ends agree on every byte: counts and SHA-256 of what one sent and the other received. */
function expectIntact(kernel: JsonEvent, ours: JsonEvent, bytes: number, direction: "kernel→stack" | "stack→kernel"): void {
  const ctx = JSON.stringify({ kernel, ours });
  expect(kernel.event, ctx).toBe("done");
  expect(ours.error, ctx).toBeUndefined();
  if (direction === "kernel→stack") {
    expect(kernel.bytes_out, ctx).toBe(bytes);
    expect(ours.bytesIn, ctx).toBe(bytes);
    expect(ours.sha256In, ctx).toBe(kernel.sha256_out);
  } else {
    expect(ours.bytesOut, ctx).toBe(bytes);
    expect(kernel.bytes_in, ctx).toBe(bytes);
    expect(kernel.sha256_in, ctx).toBe(ours.sha256Out);
  }
}

function rate(bytes: number, ms: number): string {
  return `${((bytes / MB) / (ms / 1000)).toFixed(1)} MB/s`;
}

/** Our stack's counters from a `stats` event. */
async function ourCounters(peer: JsonChild): Promise<{ counters: Record<string, number>; fault?: Record<string, Record<string, number>> }> {
  const before = peer.events.length;
  peer.send({ cmd: "stats" });
  const e = await peer.waitFor((x) => x.event === "stats" && peer.events.indexOf(x) >= before, 10_000, "stats");
  return e as unknown as { counters: Record<string, number>; fault?: Record<string, Record<string, number>> };
}

describe.skipIf(skipReason !== undefined)("TCP against the Linux kernel over TAP", () => {
  let ns: Netns;
  let dir: string;
  let peer: JsonChild | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "wstcp-"));
    ns = createNetns("wstcp");
    ns.exec("ip", ["tuntap", "add", "dev", TAP, "mode", "tap"]);
    ns.exec("ip", ["link", "set", TAP, "up"]);
    ns.exec("ip", ["addr", "add", `${KERNEL_IP}/24`, "dev", TAP]);
    ns.exec("ip", ["-6", "addr", "add", `${KERNEL_IP6}/64`, "dev", TAP, "nodad"]);
  });

  afterAll(async () => {
    try {
      await stopAll();
      await killAllChildren();
    } finally {
      deleteAllNetns();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  /** Starts a fresh stack-side peer (the previous one, if any, is asked to exit first). */
  async function freshPeer(opts: Parameters<typeof startPeer>[2] = {}): Promise<JsonChild> {
    await endPeer();
    peer = await startPeer(ns, OUR, opts);
    return peer;
  }

  async function endPeer(): Promise<void> {
    if (peer === undefined) return;
    const p = peer;
    peer = undefined;
    if (p.running) {
      p.send({ cmd: "exit" });
      await Promise.race([p.exited, new Promise((r) => setTimeout(r, 3_000))]);
      if (p.running) await p.stop();
    }
    // A TCP bug is a thrown exception inside the stack: it is counted and printed, never silent.
    expect(p.events.filter((e) => e.event === "exception" || e.event === "fatal"), p.stderr).toEqual([]);
  }

  test("handshakes both ways, IPv4 and IPv6, data intact, clean close (RFC 9293 §3.5, §3.6)", async () => {
    const p = await freshPeer();
    // The kernel opens (active open on its side, passive on ours), then we open to the kernel.
    for (const [i, host] of [KERNEL_IP, KERNEL_IP6].entries()) {
      const ourHost = host === KERNEL_IP ? OUR_IP : OUR_IP6;
      const a = await kernelToStack(ns, p, { port: 5001 + i, bytes: 300_000, host: ourHost, timeoutMs: 20_000 });
      expectIntact(a.kernel, a.ours, 300_000, "kernel→stack");
      const b = await stackToKernel(ns, p, { port: 6001 + i, bytes: 300_000, host, timeoutMs: 20_000 });
      expectIntact(b.kernel, b.ours, 300_000, "stack→kernel");
    }
    // The kernel closed first on 5001/5002 (TIME-WAIT there, RFC 9293 §3.6 case 1), we closed first
    // on 6001/6002 (the kernel's side goes LAST-ACK → CLOSED once our ACK of its FIN arrives).
    await new Promise((r) => setTimeout(r, 500));
    const socks = kernelSockets(ns).filter((s) => s.peer.includes("10.94.0.2") || s.peer.includes("fd94::2"));
    expect(socks.filter((s) => s.state !== "TIME-WAIT"), JSON.stringify(socks)).toEqual([]);
    expect(socks.filter((s) => /:500[12]$/.test(s.peer)).length, JSON.stringify(socks)).toBe(2);
    const { counters } = await ourCounters(p);
    expect(counters["stack.exception"] ?? 0).toBe(0);
    await endPeer();
  });

  describe("100 MB each way, SHA-256 on both ends, no impairment", () => {
    test("kernel → stack", async () => {
      const p = await freshPeer();
      const r = await kernelToStack(ns, p, { port: 5010, bytes: BULK_BYTES, host: OUR_IP, timeoutMs: 120_000 });
      expectIntact(r.kernel, r.ours, BULK_BYTES, "kernel→stack");
      console.log(`kernel → stack, ${BULK_BYTES / MB} MB unimpaired: ${rate(BULK_BYTES, Number(r.kernel.seconds) * 1000)} (kernel's clock)`);
    }, 150_000);

    test("stack → kernel", async () => {
      const p = peer ?? (await freshPeer());
      const r = await stackToKernel(ns, p, { port: 6010, bytes: BULK_BYTES, host: KERNEL_IP, timeoutMs: 120_000 });
      expectIntact(r.kernel, r.ours, BULK_BYTES, "stack→kernel");
      console.log(`stack → kernel, ${BULK_BYTES / MB} MB unimpaired: ${rate(BULK_BYTES, Number(r.kernel.seconds) * 1000)} (kernel's clock)`);
      await endPeer();
    }, 150_000);
  });

  describe("with 1% loss, 5% reordering, 1% duplication, 0.5% corruption in both directions (FaultDevice)", () => {
    let kernelBefore: Record<string, number>;

    test("kernel → stack and stack → kernel, intact", async () => {
      kernelBefore = kernelCounters(ns);
      const p = await freshPeer({ impair: IMPAIRMENTS, seed: 94 });
      const a = await kernelToStack(ns, p, { port: 5020, bytes: IMPAIRED_BYTES, host: OUR_IP, timeoutMs: 180_000 });
      expectIntact(a.kernel, a.ours, IMPAIRED_BYTES, "kernel→stack");
      const b = await stackToKernel(ns, p, { port: 6020, bytes: IMPAIRED_BYTES, host: KERNEL_IP, timeoutMs: 180_000 });
      expectIntact(b.kernel, b.ours, IMPAIRED_BYTES, "stack→kernel");
      console.log(
        `impaired ${IMPAIRED_BYTES / MB} MB: kernel → stack ${rate(IMPAIRED_BYTES, Number(a.kernel.seconds) * 1000)}, ` +
          `stack → kernel ${rate(IMPAIRED_BYTES, Number(b.kernel.seconds) * 1000)}; our sender: ${JSON.stringify(b.ours.tcp ?? {})}`,
      );

      // The impairments really happened, both ways…
      const { counters, fault } = await ourCounters(p);
      for (const dir of ["egress", "ingress"] as const) {
        const c = fault?.[dir] ?? {};
        for (const k of ["lost", "reordered", "duplicated", "corrupted"]) expect(c[k] ?? 0, `${dir}.${k}: ${JSON.stringify(fault)}`).toBeGreaterThan(0);
      }
      // …and corrupted frames were caught by checksums on both sides: ours count them by name, the
      // kernel's in its SNMP counters (TCP checksum, or the IPv4 header checksum when the bit hit it).
      const ourChecksumDrops = Object.entries(counters)
        .filter(([k]) => /checksum/.test(k))
        .reduce((n, [, v]) => n + v, 0);
      expect(ourChecksumDrops, JSON.stringify(counters)).toBeGreaterThan(0);
      const kernelAfter = kernelCounters(ns);
      const delta = (k: string): number => (kernelAfter[k] ?? 0) - (kernelBefore[k] ?? 0);
      expect(delta("TcpInCsumErrors") + delta("IpInHdrErrors") + delta("IpInCsumErrors"), JSON.stringify(kernelAfter)).toBeGreaterThan(0);
      await endPeer();
    }, 400_000);
  });

  test("a slow Linux reader closes its window: we probe with the persist timer, backing off (RFC 9293 §3.8.6.1, RFC 1122 §4.2.2.17)", async () => {
    const pcap = join(dir, "slow.pcap");
    const p = await freshPeer();
    const cap = await startCapture(ns, TAP, pcap, ["tcp", "port", "6030"]);
    const bytes = 200_000;
    let r: { kernel: JsonEvent; ours: JsonEvent };
    try {
      // 4 KiB receive buffer, 3 s before the first read, then 1 KiB every 10 ms.
      r = await stackToKernel(ns, p, {
        port: 6030,
        bytes,
        host: KERNEL_IP,
        timeoutMs: 60_000,
        kernelMode: "slowsink",
        kernelArgs: ["--rcvbuf", "4096", "--pause-ms", "3000", "--read-size", "1024", "--interval-ms", "10"],
      });
    } finally {
      await cap.stop();
    }
    expectIntact(r.kernel, r.ours, bytes, "stack→kernel");

    const rows = (
      await tshark(["-r", pcap, "-T", "fields", "-e", "frame.time_relative", "-e", "ip.src", "-e", "tcp.seq_raw", "-e", "tcp.ack_raw", "-e", "tcp.len", "-e", "tcp.window_size_value", "-e", "tcp.flags"])
    )
      .trim()
      .split("\n")
      .map((l) => {
        const [t, src, seq, ack, len, win, flags] = l.split("\t");
        return { t: Number(t) * 1000, ours: src === OUR_IP, seq: Number(seq), ack: Number(ack), len: Number(len), win: Number(win), flags: Number(flags) };
      });
    // Zero-window episodes as the kernel advertised them; our segments inside one are the probes.
    interface Episode {
      readonly since: number;
      readonly probes: { t: number; seq: number; len: number; kernelAck: number }[];
    }
    const episodes: Episode[] = [];
    let current: Episode | undefined;
    let kernelAck = 0;
    for (const f of rows) {
      if (!f.ours) {
        kernelAck = f.ack;
        if (f.win > 0) current = undefined;
        else if (current === undefined) episodes.push((current = { since: f.t, probes: [] }));
        continue;
      }
      const isFinOrSyn = (f.flags & 0x03) !== 0;
      if (current !== undefined && f.len <= 1 && !isFinOrSyn) current.probes.push({ t: f.t, seq: f.seq, len: f.len, kernelAck });
    }
    const longest = episodes.reduce<Episode>((a, b) => (b.probes.length > a.probes.length ? b : a), { since: 0, probes: [] });
    const times = [longest.since, ...longest.probes.map((q) => q.t)];
    const gaps = times.slice(1).map((t, i) => t - (times[i] as number));
    const ctx = JSON.stringify({ longest, gaps, episodes: episodes.length, ours: r.ours.tcp });
    // During the 3 s pause: probes about RTO, 2·RTO, 4·RTO… apart (RTO ≥ 200 ms): at least 3 of them.
    expect(longest.probes.length, ctx).toBeGreaterThanOrEqual(3);
    expect(gaps[0] ?? 0, ctx).toBeGreaterThanOrEqual(150);
    for (let i = 1; i < gaps.length; i++) expect(gaps[i] as number, ctx).toBeGreaterThanOrEqual((gaps[i - 1] as number) * 1.5);
    // Each probe: Linux's form (SEQ = SND.UNA − 1, no data) or RFC 9293's (one byte at SND.UNA).
    for (const q of longest.probes) {
      expect(q.len === 0 ? (q.seq + 1) >>> 0 : q.seq, ctx).toBe(q.kernelAck);
    }
    // Our counters saw them too.
    expect(Number((r.ours.tcp as { zeroWindowProbes?: number } | undefined)?.zeroWindowProbes ?? 0), ctx).toBeGreaterThanOrEqual(longest.probes.length);
    console.log(`zero-window probes in the longest episode: ${longest.probes.length}, gaps (from the zero window) ${gaps.map((g) => g.toFixed(0)).join(", ")} ms`);
    await endPeer();
  }, 90_000);

  test("crafted segments on an established connection: RFC 5961 challenge ACKs and RST validation", async () => {
    const p = await freshPeer();
    p.send({ cmd: "listen", port: 7007, role: "echo" });
    await p.waitFor((e) => e.event === "listening" && e.port === 7007, 10_000);
    const r = await runIn(ns, DEBIAN_PYTHON, [SCAPY_TCP, TAP, SCAPY_MAC, SCAPY_IP, OUR_MAC, OUR_IP, "7007", "40007"], { timeoutMs: 60_000 });
    const steps = new Map<string, JsonEvent>();
    for (const l of r.stdout.toString("utf8").split("\n")) if (l.trim() !== "") steps.set((JSON.parse(l) as JsonEvent).step ?? "", JSON.parse(l) as JsonEvent);
    const ctx = `${r.stdout.toString("utf8")}\n${r.stderr}`;
    const step = (name: string): JsonEvent & { replies: { flags: string; seq: number; ack: number; len: number }[]; sndNxt: number; rcvNxt: number } => {
      const s = steps.get(name);
      if (s === undefined) throw new Error(`scapy step ${name} missing:\n${ctx}`);
      return s as never;
    };
    const isAlive = (name: string): boolean => (step(name).alive as { ok: boolean }).ok;
    /** Exactly one bare ACK acknowledging exactly what we sent so far: a challenge ACK. */
    const expectChallengeAck = (name: string): void => {
      const s = step(name);
      expect(s.replies, `${name}\n${ctx}`).toEqual([{ flags: "A", seq: s.rcvNxt, ack: s.sndNxt, len: 0, window: expect.any(Number) }]);
    };

    expect(step("handshake").ok, ctx).toBe(true);
    expect(isAlive("handshake"), ctx).toBe(true);
    // RFC 5961 §3.2: in window, SEQ ≠ RCV.NXT → challenge ACK, the connection survives.
    expectChallengeAck("rst-in-window");
    expect(isAlive("after-rst-in-window"), ctx).toBe(true);
    // RFC 5961 §3.2: out of window → dropped without a reply.
    expect(step("rst-out-of-window").replies, ctx).toEqual([]);
    expect(isAlive("after-rst-out-of-window"), ctx).toBe(true);
    // RFC 5961 §4.2: a SYN in a synchronized state → challenge ACK whatever its SEQ.
    expectChallengeAck("syn-in-window");
    expectChallengeAck("syn-out-of-window");
    expect(isAlive("after-syn"), ctx).toBe(true);
    // RFC 5961 §5.2: SEG.ACK > SND.NXT or < SND.UNA − MAX.SND.WND → an ACK, and the data is dropped.
    expectChallengeAck("ack-unsent-data");
    expectChallengeAck("ack-too-old");
    expect(step("after-bad-acks").alive, ctx).toMatchObject({ ok: true, echoed: "alive-4" });
    // RFC 5961 §3.2: SEQ = RCV.NXT exactly → reset, no reply; our application sees ECONNRESET.
    expect(step("rst-exact").replies, ctx).toEqual([]);
    const done = await p.waitFor((e) => e.event === "done" && String(e.id).startsWith("7007#"), 5_000, "echo connection closed");
    expect(done.error, JSON.stringify(done)).toBe("ECONNRESET");
    // The connection is gone: the next segment meets no connection → RST with SEQ = SEG.ACK (RFC 9293 §3.10.7.1).
    const after = step("data-after-reset");
    expect(after.replies.length, ctx).toBe(1);
    expect(after.replies[0]?.flags, ctx).toMatch(/R/);
    expect(after.replies[0]?.seq, ctx).toBe(after.sent && (after.sent as { ack: number }).ack);
    expect(r.status, ctx).toBe(0);
    await endPeer();
  }, 90_000);

  describe("wirestack serve: TCP echo (7), discard (9), chargen (19) with nc (RFC 862, RFC 863, RFC 864)", () => {
    let serve: Awaited<ReturnType<typeof startServe>> | undefined;

    beforeAll(async () => {
      await endPeer();
      serve = await startServe(ns, ["--tap", TAP, "--mac", OUR_MAC, "--ip", `${OUR_IP}/24`, "--ip6", `${OUR_IP6}/64`, "--services", "echo,discard,chargen"]);
    });

    afterAll(async () => {
      if (serve?.running()) await serve.stop("SIGTERM", 5_000);
    });

    test.each([4, 6] as const)("IPv%i: echo returns every byte (RFC 862)", async (family) => {
      const data = Buffer.alloc(200_000);
      for (let i = 0; i < data.length; i++) data[i] = (i * 7 + (i >> 8)) & 0xff;
      const host = family === 4 ? OUR_IP : OUR_IP6;
      // -N: shut down our sending side at EOF of stdin; the server's FIN follows its last echo.
      const r = await runIn(ns, "nc", [`-${family}`, "-N", "-w", "10", host, "7"], { input: data, timeoutMs: 30_000 });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout.length).toBe(data.length);
      expect(r.stdout.equals(data)).toBe(true);
    });

    test.each([4, 6] as const)("IPv%i: discard swallows everything (RFC 863)", async (family) => {
      const data = Buffer.alloc(1_000_000, 0x5a);
      const host = family === 4 ? OUR_IP : OUR_IP6;
      const r = await runIn(ns, "nc", [`-${family}`, "-N", "-w", "10", host, "9"], { input: data, timeoutMs: 30_000 });
      expect(r.status, r.stderr).toBe(0);
      expect(r.stdout.length).toBe(0);
    });

    test.each([4, 6] as const)("IPv%i: chargen sends the rotating 72-character lines (RFC 864)", async (family) => {
      const host = family === 4 ? OUR_IP : OUR_IP6;
      const lines = 200;
      // head closes the pipe after 200 lines; nc then dies of SIGPIPE and our side sees its RST or FIN.
      const r = await runIn(ns, "sh", ["-c", `nc -${family} -d -w 10 ${host} 19 | head -c ${lines * 74}`], { timeoutMs: 30_000 });
      const text = r.stdout.toString("latin1");
      let expected = "";
      for (let n = 0; n < lines; n++) expected += chargenLine(n);
      expect(text.length, r.stderr).toBe(expected.length);
      expect(text).toBe(expected);
    });

    test("serve is still running after the clients left, and stops cleanly", async () => {
      expect(serve?.running()).toBe(true);
      const e = await serve?.stop("SIGTERM", 5_000);
      expect(e?.status, e?.stderr).toBe(0);
    });
  });
});
