/**
 * The receive-path fuzzer (issue 8; after smoltcp's `fuzz/fuzz_targets/packet_parser.rs`, with the
 * stack's state kept live between inputs).
 *
 * A target stack T (10.77.0.1, fd77::1, 02:77:00:00:00:01 — the server side of every capture in
 * captures/, so recorded frames are already addressed to it) and a peer P (10.77.0.2, the client side)
 * share a MemoryWire in virtual time. T runs echo servers and a server that never reads (zero
 * windows), P keeps connections to them open and streams data, T streams data to P, so the state the
 * fuzzer hits holds established connections, listeners, queued out-of-order data and reassembly in
 * progress. Every input frame is injected straight into T's receive path and handed to `decode`
 * (dissect + the tcpdump-style formatter).
 *
 * Inputs, from one seeded Random: a frame of captures/ or one P really sent T (the last few hundred,
 * so mutations hit live 4-tuples and sequence numbers), retargeted to T, run through one to four
 * mutations — bit flips, interesting bytes and 16-bit words, truncation, extension, splicing, TCP
 * flags/sequence/ack/window rewrites near the live TCB values, IPv4 fragment fields — and usually
 * given correct checksums again so it reaches past them; now and then plain random bytes.
 *
 * After every frame it checks: no exception counted by either stack (`stack.exception`), and for T
 * sndUna ≤ sndNxt ≤ sndMax and buffer / out-of-order bytes within their bounds on every connection,
 * the connection bound, ARP and neighbor cache sizes and queues, reassembly datagrams and bytes. The
 * first violation stops the run with a `FuzzFailure` that names the seed, the frame index and the
 * frame's bytes; the same seed replays the same run exactly.
 *
 *   npx tsx scripts/fuzz.ts --frames 10000000 --seed 1        # progress every 100 000 frames
 */
import { readdirSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { VirtualClock } from "../src/time/clock.ts";
import { seededRandom, type Random } from "../src/time/random.ts";
import { MemoryWire } from "../src/device/memory-wire.ts";
import type { FrameDevice, FrameReceiver } from "../src/device/types.ts";
import { createStack, type Stack, type StackLimits } from "../src/stack.ts";
import type { TcpConfig, TcpConnection } from "../src/transport/tcp/connection.ts";
import type { TcpListener } from "../src/transport/tcp/listener.ts";
import { seqLe } from "../src/transport/tcp/seq.ts";
import { readCapture } from "../src/pcap/reader.ts";
import { WireError } from "../src/wire/error.ts";
import { checksumOf, pseudoHeaderSumV4, pseudoHeaderSumV6 } from "../src/wire/checksum.ts";
import { dissectFrame } from "../src/decode/dissect.ts";
import { LineFormatter } from "../src/decode/format.ts";
import { frameJson } from "../src/decode/json.ts";

/** The target's and the peer's addresses: the captures' server (a) and client (b) sides. */
export const FUZZ_ADDR = {
  macT: "02:77:00:00:00:01",
  macP: "02:77:00:00:00:02",
  ipT: "10.77.0.1",
  ipP: "10.77.0.2",
  ip6T: "fd77::1",
  ip6P: "fd77::2",
} as const;

const MAC_T = [0x02, 0x77, 0, 0, 0, 0x01] as const;
const MAC_P = [0x02, 0x77, 0, 0, 0, 0x02] as const;
const IP_T = 0x0a4d0001;
const IP_P = 0x0a4d0002;
const IP6_T = Uint8Array.from([0xfd, 0x77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
const IP6_P = Uint8Array.from([0xfd, 0x77, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);

/** Small bounds, so a fuzz run hits every one of them. */
export const FUZZ_LIMITS: StackLimits = {
  arp: { maxEntries: 16, maxQueuedTotal: 16 },
  neighbors: { maxEntries: 16, maxQueuedPackets: 16 },
  ipv4Reassembly: { maxDatagrams: 8, maxBytes: 32 * 1024, timeoutMs: 2_000 },
  ipv6Reassembly: { maxDatagrams: 8, maxBytes: 32 * 1024, timeoutMs: 2_000 },
  tcp: { maxConnections: 64, synQueue: 8, acceptQueue: 8 },
};

/** T's connections: small buffers and queue so they fill. */
export const FUZZ_TCP_CONFIG: TcpConfig = { sendBufferSize: 16 * 1024, recvBufferSize: 16 * 1024, maxOutOfOrderBytes: 8 * 1024 };

/** T's TCP servers: echo on these ports (the captures' services among them)… */
const ECHO_PORTS = [7, 21, 25, 80] as const;
/** …and one that never reads, so its windows close. */
const SINK_PORT = 5001;
/** P's discard server, for T's own outgoing data. */
const DISCARD_PORT = 9;

/** Options of `runFuzz`. */
export interface FuzzOptions {
  readonly seed: number;
  readonly frames: number;
  /** Called every `progressEvery` frames. */
  readonly onProgress?: (done: number, elapsedMs: number) => void;
  readonly progressEvery?: number;
  /** Frame files to mutate; default every pcap/pcapng in captures/. */
  readonly captureDir?: string;
}

/** What a run did. */
export interface FuzzResult {
  readonly seed: number;
  readonly frames: number;
  readonly elapsedMs: number;
  /** Connections P opened towards T over the run (each one a fresh handshake under fuzzing). */
  readonly connectionsOpened: number;
  /** T's counters at the end, for a look at which drop paths the run reached. */
  readonly counters: Record<string, number>;
}

/** A broken invariant or an escaped exception: everything needed to replay it. */
export class FuzzFailure extends Error {
  override readonly name = "FuzzFailure";
  constructor(
    readonly seed: number,
    /** 0-based index of the input frame after which the check failed. */
    readonly index: number,
    readonly frame: Uint8Array,
    readonly reason: string,
  ) {
    super(
      `fuzz failure (seed ${seed}, frame ${index}): ${reason}\n  frame (${frame.length} bytes): ${Buffer.from(frame).toString("hex")}\n` +
        `  replay: npx tsx scripts/fuzz.ts --seed ${seed} --frames ${index + 1}`,
    );
  }
}

/** Every Ethernet frame of every capture in `dir`. */
export function loadCorpus(dir: string): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (const name of readdirSync(dir).sort()) {
    if (!/\.pcap(ng)?$/.test(name)) continue;
    const file = readCapture(new Uint8Array(readFileSync(join(dir, name))));
    if (file instanceof WireError) continue;
    for (const r of file.records) if (r.linkType === 1 && r.data.length >= 14) out.push(new Uint8Array(r.data));
  }
  return out;
}

/** A device whose receiver the fuzzer can call directly, and which remembers what the stack under it sent. */
class TapPoint implements FrameDevice {
  readonly name: string;
  readonly mtu: number;
  receiver: FrameReceiver | undefined;
  readonly sent: Uint8Array[] = [];
  private sentAt = 0;

  constructor(
    private readonly inner: FrameDevice,
    private readonly keep: number,
  ) {
    this.name = inner.name;
    this.mtu = inner.mtu;
  }

  send(frame: Uint8Array): void {
    if (this.keep > 0) {
      const copy = new Uint8Array(frame);
      if (this.sent.length < this.keep) this.sent.push(copy);
      else this.sent[this.sentAt++ % this.keep] = copy;
    }
    this.inner.send(frame);
  }

  setReceiver(receiver: FrameReceiver): void {
    this.receiver = receiver;
    this.inner.setReceiver(receiver);
  }

  close(): void {
    this.inner.close();
  }
}

/** The live world a fuzz run feeds: two stacks, their servers and clients, one clock. */
export class FuzzWorld {
  readonly clock = new VirtualClock();
  readonly wire: MemoryWire;
  readonly t: Stack;
  readonly p: Stack;
  private readonly tapT: TapPoint;
  private readonly tapP: TapPoint;
  /** P's connections to T, and T's to P. */
  private readonly clients = new Set<TcpConnection>();
  private readonly outgoing = new Set<TcpConnection>();
  private readonly random: Random;
  private readonly pattern: Uint8Array;
  connectionsOpened = 0;

  constructor(seed: number) {
    this.random = seededRandom(seed).fork("world");
    // A one-way delay, so the streams move one round trip per virtual millisecond, not all at once.
    this.wire = new MemoryWire({ clock: this.clock, seed, delayMs: 1 });
    this.tapT = new TapPoint(this.wire.port("t"), 0);
    this.tapP = new TapPoint(this.wire.port("p"), 256);
    const common = { clock: this.clock, dad: false, routerSolicitation: false } as const;
    this.t = createStack({
      ...common,
      device: this.tapT,
      seed: seed + 1,
      mac: FUZZ_ADDR.macT,
      ipv4: `${FUZZ_ADDR.ipT}/24`,
      ipv6: `${FUZZ_ADDR.ip6T}/64`,
      limits: FUZZ_LIMITS,
      tcp: { config: FUZZ_TCP_CONFIG },
    });
    this.p = createStack({
      ...common,
      device: this.tapP,
      seed: seed + 2,
      mac: FUZZ_ADDR.macP,
      ipv4: `${FUZZ_ADDR.ipP}/24`,
      ipv6: `${FUZZ_ADDR.ip6P}/64`,
    });
    this.pattern = new Uint8Array(4096);
    for (let i = 0; i < this.pattern.length; i++) this.pattern[i] = (i * 7 + 3) & 0xff;

    const tl = this.t.tcpLayer;
    for (const port of ECHO_PORTS) this.serve(this.t, tl.listen(port), true);
    this.serve(this.t, tl.listen(SINK_PORT), false);
    this.serve(this.p, this.p.tcpLayer.listen(DISCARD_PORT), true, true);
    this.t.udp.bind(7);
    this.top();
    this.run(200);
  }

  /** Accepts every connection of `l`; echoes (or discards) what arrives, or never reads. */
  private serve(stack: Stack, l: TcpListener, read: boolean, discard = false): void {
    const layer = stack.tcpLayer;
    l.owner = {
      acceptable: () => {
        for (let c = layer.accept(l); c !== undefined; c = layer.accept(l)) {
          const conn = c;
          layer.setOwner(conn, {
            deliver: (events) => {
              if (!read) return;
              for (const e of events) {
                if (e.kind !== "readable" && e.kind !== "writable") continue;
                for (let guard = 0; guard < 64; guard++) {
                  const room = discard ? undefined : conn.writableFree;
                  if (room !== undefined && room <= 0) break;
                  const chunk = conn.read(room);
                  if (chunk === undefined || chunk.length === 0) break;
                  if (!discard) conn.write(chunk);
                }
                if (e.kind === "readable" && conn.state === "CLOSE-WAIT") conn.shutdown(this.clock.now());
                layer.kick(conn);
              }
            },
          });
        }
      },
    };
  }

  /** Queues a chunk on `conn`: a little data now and then keeps segments, ACKs and windows moving. */
  private feed(stack: Stack, conn: TcpConnection): void {
    if (conn.state !== "ESTABLISHED") return;
    conn.write(this.pattern.subarray(0, 1 + this.random.nextInt(this.pattern.length)));
    stack.tcpLayer.kick(conn);
  }

  /** Keeps a few connections open each way, each with a chunk of data on its way. */
  top(): void {
    const now = this.clock.now();
    for (const c of this.clients) this.feed(this.p, c);
    for (const c of this.outgoing) this.feed(this.t, c);
    for (const c of this.clients) if (c.state === "CLOSED") this.clients.delete(c);
    for (const c of this.outgoing) if (c.state === "CLOSED") this.outgoing.delete(c);
    while (this.clients.size < 6) {
      const v6 = this.random.nextInt(3) === 0;
      const ports = [...ECHO_PORTS, SINK_PORT];
      const port = ports[this.random.nextInt(ports.length)] as number;
      const c = this.open(this.p, v6 ? { family: 6, address: IP6_T, port } : { family: 4, address: IP_T, port }, now);
      if (c === undefined) break;
      this.clients.add(c);
      this.connectionsOpened++;
    }
    while (this.outgoing.size < 2) {
      const c = this.open(this.t, { family: 4, address: IP_P, port: DISCARD_PORT }, now);
      if (c === undefined) break;
      this.outgoing.add(c);
    }
  }

  private open(stack: Stack, remote: { family: 4 | 6; address: number | Uint8Array; port: number }, now: number): TcpConnection | undefined {
    const layer = stack.tcpLayer;
    let conn: TcpConnection;
    try {
      conn = layer.connect(remote, {}, now);
    } catch {
      return undefined; // the connection bound or ephemeral ports: fine, try again later
    }
    layer.setOwner(conn, {
      deliver: (events) => {
        for (const e of events) {
          if (e.kind === "readable") while (conn.read() !== undefined);
          if (e.kind === "connected") this.feed(stack, conn);
        }
      },
    });
    return conn;
  }

  /** Lets `ms` of virtual time pass: the wire delivers, timers fire, streams move. */
  run(ms: number): void {
    const end = this.clock.now() + ms;
    for (let i = 0; i < 100_000; i++) {
      const next = this.clock.nextDeadline();
      if (next === undefined || next > end) break;
      this.clock.advanceTo(Math.max(next, this.clock.now()));
    }
    this.clock.advanceTo(end);
  }

  /** A frame P sent recently (P → T mostly: ARP, ACKs and data on live connections). */
  recentFromPeer(r: Random): Uint8Array | undefined {
    const s = this.tapP.sent;
    return s.length === 0 ? undefined : s[r.nextInt(s.length)];
  }

  /** Hands `frame` to T's receive path, as its device would. */
  inject(frame: Uint8Array): void {
    this.tapT.receiver?.([frame]);
  }

  /** A live TCB of T to aim TCP mutations at. */
  someTcb(r: Random): { sndUna: number; sndMax: number; rcvNxt: number } | undefined {
    const conns = this.t.tcpLayer.connections();
    const c = conns.length === 0 ? undefined : conns[r.nextInt(conns.length)];
    return c?.tcb();
  }

  /** The invariants of issue 8, or a description of the first that does not hold. */
  check(): string | undefined {
    for (const [name, s] of [["T", this.t], ["P", this.p]] as const) {
      const ex = s.stats.get("exception");
      if (ex !== 0) return `${name}: ${ex} exception(s) escaped the receive path: ${describe(s.lastError)}`;
    }
    const t = this.t;
    const conns = t.tcpLayer.connections();
    const maxConn = FUZZ_LIMITS.tcp?.maxConnections ?? Infinity;
    if (conns.length > maxConn) return `${conns.length} connections > bound ${maxConn}`;
    for (const c of conns) {
      const st = c.state;
      if (st === "CLOSED" || st === "LISTEN") continue;
      const b = c.tcb();
      if (!seqLe(b.sndUna, b.sndNxt) || !seqLe(b.sndNxt, b.sndMax)) {
        return `${st}: sndUna ${b.sndUna} ≤ sndNxt ${b.sndNxt} ≤ sndMax ${b.sndMax} broken`;
      }
      if (c.readableLength < 0 || c.readableLength > (FUZZ_TCP_CONFIG.recvBufferSize as number)) return `${st}: receive buffer holds ${c.readableLength}`;
      if (c.writableLength < 0 || c.writableLength > (FUZZ_TCP_CONFIG.sendBufferSize as number)) return `${st}: send buffer holds ${c.writableLength}`;
      if (c.outOfOrderBytes < 0 || c.outOfOrderBytes > (FUZZ_TCP_CONFIG.maxOutOfOrderBytes as number)) return `${st}: out-of-order queue holds ${c.outOfOrderBytes}`;
      if (b.rcvWnd < 0) return `${st}: negative receive window ${b.rcvWnd}`;
    }
    const arp = t.link.arp;
    if (arp.size > (FUZZ_LIMITS.arp?.maxEntries as number)) return `ARP cache ${arp.size} entries`;
    if (arp.queued > (FUZZ_LIMITS.arp?.maxQueuedTotal as number)) return `ARP queue ${arp.queued} datagrams`;
    if (t.link.neighbors.size > (FUZZ_LIMITS.neighbors?.maxEntries as number)) return `neighbor cache ${t.link.neighbors.size} entries`;
    for (const [name, usage, lim] of [
      ["IPv4", t.ipv4?.reassemblyUsage(), FUZZ_LIMITS.ipv4Reassembly],
      ["IPv6", t.ipv6?.reassemblyUsage(), FUZZ_LIMITS.ipv6Reassembly],
    ] as const) {
      if (usage === undefined || lim === undefined) continue;
      if (usage.bytes < 0 || usage.bytes > (lim.maxBytes as number)) return `${name} reassembly holds ${usage.bytes} bytes`;
      if (usage.datagrams > (lim.maxDatagrams as number)) return `${name} reassembly holds ${usage.datagrams} datagrams`;
    }
    return undefined;
  }
}

function describe(err: unknown): string {
  return err instanceof Error ? (err.stack ?? err.message) : String(err);
}

// ---------------------------------------------------------------------------------------------
// Mutation

const INTERESTING8 = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x05, 0x06, 0x11, 0x3a, 0x2c, 0x40, 0x45, 0x60] as const;
const INTERESTING16 = [0x0000, 0x0001, 0x7fff, 0x8000, 0xffff, 0x0800, 0x0806, 0x86dd, 0x2000, 0x1fff, 0x05dc, 0x0014, 0x0028] as const;
const TCP_FLAG_CHOICES = [0x02, 0x12, 0x10, 0x04, 0x14, 0x11, 0x01, 0x18, 0x03, 0x06, 0x3f, 0x00, 0xff, 0x19, 0x52] as const;

function pick<T>(r: Random, xs: readonly T[]): T {
  return xs[r.nextInt(xs.length)] as T;
}

/** Where the IP and transport headers of an Ethernet II frame start (no VLAN tag), as far as the bytes go. */
interface Layout {
  readonly ip: number;
  readonly family: 4 | 6 | undefined;
  /** Transport header offset and protocol, when the packet is not a non-first fragment. */
  readonly l4: number | undefined;
  readonly proto: number | undefined;
  /** End of the IP packet per its length field, clamped to the frame. */
  readonly end: number;
}

function layout(f: Uint8Array): Layout {
  const ip = 14;
  const et = f.length >= 14 ? ((f[12] as number) << 8) | (f[13] as number) : 0;
  if (et === 0x0800 && f.length >= ip + 20) {
    const ihl = ((f[ip] as number) & 0x0f) * 4;
    const total = ((f[ip + 2] as number) << 8) | (f[ip + 3] as number);
    const end = Math.min(f.length, ip + Math.max(total, 0));
    const fragOff = (((f[ip + 6] as number) & 0x1f) << 8) | (f[ip + 7] as number);
    const l4 = ihl >= 20 && fragOff === 0 && ip + ihl <= end ? ip + ihl : undefined;
    return { ip, family: 4, l4, proto: f[ip + 9], end };
  }
  if (et === 0x86dd && f.length >= ip + 40) {
    const plen = ((f[ip + 4] as number) << 8) | (f[ip + 5] as number);
    return { ip, family: 6, l4: ip + 40, proto: f[ip + 6], end: Math.min(f.length, ip + 40 + plen) };
  }
  return { ip, family: undefined, l4: undefined, proto: undefined, end: f.length };
}

function put16(f: Uint8Array, at: number, v: number): void {
  if (at + 1 >= f.length) return;
  f[at] = (v >>> 8) & 0xff;
  f[at + 1] = v & 0xff;
}

function put32(f: Uint8Array, at: number, v: number): void {
  if (at + 3 >= f.length) return;
  put16(f, at, v >>> 16);
  put16(f, at + 2, v & 0xffff);
}

/** Aims a frame at T from P: Ethernet addresses, and IP addresses when the frame carries IP. */
function retarget(f: Uint8Array, r: Random): void {
  if (f.length < 14) return;
  if (r.nextInt(8) !== 0) f.set(MAC_T, 0);
  f.set(MAC_P, 6);
  const l = layout(f);
  if (l.family === 4) {
    put32(f, l.ip + 12, IP_P);
    put32(f, l.ip + 16, IP_T);
  } else if (l.family === 6) {
    f.set(IP6_P, l.ip + 8);
    f.set(IP6_T, l.ip + 24);
  }
}

/** Recomputes the IPv4 header checksum and the TCP/UDP/ICMP checksums, where the bytes allow. */
export function fixChecksums(f: Uint8Array): void {
  const l = layout(f);
  if (l.family === 4) {
    const ihl = ((f[l.ip] as number) & 0x0f) * 4;
    if (ihl >= 20 && l.ip + ihl <= f.length) {
      put16(f, l.ip + 10, 0);
      put16(f, l.ip + 10, checksumOf(f, l.ip, l.ip + ihl));
    }
  }
  if (l.l4 === undefined || l.proto === undefined || l.l4 >= l.end) return;
  const len = l.end - l.l4;
  const at = l.proto === 6 ? 16 : l.proto === 17 ? 6 : l.proto === 1 || l.proto === 58 ? 2 : -1;
  if (at < 0 || l.l4 + at + 2 > l.end) return;
  put16(f, l.l4 + at, 0);
  let acc = 0;
  if (l.proto !== 1) {
    if (l.family === 4) {
      const src = (((f[l.ip + 12] as number) << 24) | ((f[l.ip + 13] as number) << 16) | ((f[l.ip + 14] as number) << 8) | (f[l.ip + 15] as number)) >>> 0;
      const dst = (((f[l.ip + 16] as number) << 24) | ((f[l.ip + 17] as number) << 16) | ((f[l.ip + 18] as number) << 8) | (f[l.ip + 19] as number)) >>> 0;
      acc = pseudoHeaderSumV4(src, dst, l.proto, len);
    } else {
      acc = pseudoHeaderSumV6(f.subarray(l.ip + 8, l.ip + 24), f.subarray(l.ip + 24, l.ip + 40), l.proto, len);
    }
  }
  let c = checksumOf(f, l.l4, l.end, acc);
  if (l.proto === 17 && c === 0) c = 0xffff; // RFC 768: a computed 0 is sent as all ones
  put16(f, l.l4 + at, c);
}

/** One mutation of `f` (a fresh array when the length changes). */
function mutateOnce(f: Uint8Array, r: Random, world: FuzzWorld, corpus: readonly Uint8Array[]): Uint8Array {
  const n = f.length;
  switch (r.nextInt(11)) {
    case 0: {
      if (n === 0) return f;
      const i = r.nextInt(n);
      f[i] = (f[i] as number) ^ (1 << r.nextInt(8));
      return f;
    }
    case 1:
      if (n > 0) f[r.nextInt(n)] = pick(r, INTERESTING8);
      return f;
    case 2:
      if (n > 1) put16(f, r.nextInt(n - 1), pick(r, INTERESTING16));
      return f;
    case 3:
      return f.slice(0, r.nextInt(n + 1));
    case 4: {
      const g = new Uint8Array(n + 1 + r.nextInt(64));
      g.set(f);
      g.set(r.bytes(g.length - n), n);
      return g;
    }
    case 5: {
      const other = pick(r, corpus);
      const cut = r.nextInt(n + 1);
      const from = r.nextInt(other.length + 1);
      const g = new Uint8Array(cut + other.length - from);
      g.set(f.subarray(0, cut));
      g.set(other.subarray(from), cut);
      return g;
    }
    case 6:
    case 7: {
      // TCP, aimed at a live TCB: flags, sequence and acknowledgment numbers near the edges, window.
      const l = layout(f);
      if (l.proto !== 6 || l.l4 === undefined || l.l4 + 20 > f.length) return f;
      const tcb = world.someTcb(r);
      const near = (base: number): number => (base + r.nextInt(2 * 70_000) - 70_000) >>> 0;
      if (r.nextInt(2) === 0) f[l.l4 + 13] = pick(r, TCP_FLAG_CHOICES);
      if (tcb !== undefined && r.nextInt(2) === 0) put32(f, l.l4 + 4, near(tcb.rcvNxt));
      if (tcb !== undefined && r.nextInt(2) === 0) put32(f, l.l4 + 8, r.nextInt(2) === 0 ? near(tcb.sndUna) : near(tcb.sndMax));
      if (r.nextInt(3) === 0) put16(f, l.l4 + 14, r.nextInt(3) === 0 ? 0 : r.nextInt(0x10000));
      if (r.nextInt(4) === 0) f[l.l4 + 12] = (r.nextInt(16) << 4) | ((f[l.l4 + 12] as number) & 0x0f);
      return f;
    }
    case 8: {
      // IPv4 fragmentation fields: start, continue, overlap or overrun a reassembly.
      const l = layout(f);
      if (l.family !== 4) return f;
      const off = r.nextInt(4) === 0 ? 0x1fff - r.nextInt(16) : r.nextInt(200);
      const mf = r.nextInt(2);
      put16(f, l.ip + 6, (mf << 13) | off);
      if (r.nextInt(2) === 0) put16(f, l.ip + 4, r.nextInt(4));
      return f;
    }
    case 9: {
      // A length field lies: IPv4 total length / IHL, IPv6 payload length, UDP length, TCP data offset.
      const l = layout(f);
      if (l.family === 4) {
        if (r.nextInt(2) === 0) put16(f, l.ip + 2, r.nextInt(0x10000));
        else f[l.ip] = 0x40 | r.nextInt(16);
      } else if (l.family === 6) {
        put16(f, l.ip + 4, r.nextInt(0x10000));
      } else if (n > 16) {
        put16(f, 16 + r.nextInt(Math.max(1, n - 17)), r.nextInt(0x10000));
      }
      return f;
    }
    default: {
      // A run of random bytes somewhere after the Ethernet header.
      if (n <= 14) return f;
      const at = 14 + r.nextInt(n - 14);
      const len = Math.min(n - at, 1 + r.nextInt(16));
      f.set(r.bytes(len), at);
      return f;
    }
  }
}

/** The next input frame. */
function nextInput(r: Random, world: FuzzWorld, corpus: readonly Uint8Array[]): Uint8Array {
  const roll = r.nextInt(100);
  if (roll < 3) {
    const f = r.bytes(r.nextInt(1600));
    if (f.length >= 14 && r.nextInt(2) === 0) f.set(MAC_T, 0);
    return f;
  }
  const live = roll < 55 ? world.recentFromPeer(r) : undefined;
  let f: Uint8Array = new Uint8Array(live ?? pick(r, corpus));
  if (live === undefined && r.nextInt(4) !== 0) retarget(f, r);
  const rounds = 1 + r.nextInt(4);
  for (let i = 0; i < rounds; i++) f = mutateOnce(f, r, world, corpus);
  if (r.nextInt(10) < 8) fixChecksums(f);
  return f;
}

const DEFAULT_CAPTURES = fileURLToPath(new URL("../captures/", import.meta.url));

/**
 * Runs `frames` inputs with `seed` against a fresh world. Throws `FuzzFailure` at the first escaped
 * exception or broken invariant; returns what the run did otherwise.
 */
export function runFuzz(opts: FuzzOptions): FuzzResult {
  const corpus = loadCorpus(opts.captureDir ?? DEFAULT_CAPTURES);
  if (corpus.length === 0) throw new Error("fuzz: no frames in the corpus directory");
  const r = seededRandom(opts.seed).fork("inputs");
  const world = new FuzzWorld(opts.seed);
  const formatter = new LineFormatter({ utcOffsetMinutes: 0 });
  const start = performance.now();
  const every = opts.progressEvery ?? 100_000;
  const first = world.check();
  if (first !== undefined) throw new FuzzFailure(opts.seed, -1, new Uint8Array(0), `before any input: ${first}`);
  for (let i = 0; i < opts.frames; i++) {
    const frame = nextInput(r, world, corpus);
    try {
      const d = dissectFrame(frame);
      formatter.format(0, 0, d);
      if ((i & 63) === 0) JSON.stringify(frameJson(i, 0, 0, d));
    } catch (err) {
      throw new FuzzFailure(opts.seed, i, frame, `decode threw: ${describe(err)}`);
    }
    world.inject(frame);
    const bad = world.check();
    if (bad !== undefined) throw new FuzzFailure(opts.seed, i, frame, bad);
    if ((i & 31) === 31) {
      world.run(1 + r.nextInt(r.nextInt(8) === 0 ? 3_000 : 50));
      const afterTime = world.check();
      if (afterTime !== undefined) throw new FuzzFailure(opts.seed, i, frame, `after timers: ${afterTime}`);
    }
    if ((i & 255) === 255) world.top();
    if (opts.onProgress !== undefined && (i + 1) % every === 0) opts.onProgress(i + 1, performance.now() - start);
  }
  return {
    seed: opts.seed,
    frames: opts.frames,
    elapsedMs: performance.now() - start,
    connectionsOpened: world.connectionsOpened,
    counters: world.t.counters(),
  };
}

function main(argv: readonly string[]): number {
  let frames = 1_000_000;
  let seed = 1;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const v = argv[i + 1];
    if (a === "--frames" && v !== undefined) (frames = Number(v)), i++;
    else if (a === "--seed" && v !== undefined) (seed = Number(v)), i++;
    else {
      process.stderr.write("usage: tsx scripts/fuzz.ts [--frames N] [--seed S]\n");
      return 2;
    }
  }
  if (!Number.isSafeInteger(frames) || frames < 0 || !Number.isSafeInteger(seed)) {
    process.stderr.write("fuzz: --frames and --seed take integers\n");
    return 2;
  }
  const t0 = performance.now();
  try {
    const res = runFuzz({
      seed,
      frames,
      onProgress: (done, ms) => process.stdout.write(`seed ${seed}: ${done} frames, ${Math.round((done / ms) * 1000)} frames/s\n`),
    });
    const reached = Object.entries(res.counters).filter(([, v]) => v > 0).length;
    process.stdout.write(
      `seed ${seed}: ${res.frames} frames in ${(res.elapsedMs / 1000).toFixed(1)} s (${Math.round((res.frames / res.elapsedMs) * 1000)} frames/s), ` +
        `${res.connectionsOpened} connections opened, ${reached} distinct counters reached, no failure\n`,
    );
    return 0;
  } catch (err) {
    process.stdout.write(`${describe(err)}\nafter ${((performance.now() - t0) / 1000).toFixed(1)} s\n`);
    return 1;
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  process.exitCode = main(process.argv.slice(2));
}
