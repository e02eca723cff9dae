/**
 * Simulation scaffolding: two stacks on one MemoryWire and one VirtualClock (smoltcp `tests/netsim.rs`),
 * a recording/dropping device wrapper, a raw port for hand-built frames, and a decoder that names the
 * frames a test looks for (ARP requests, fragments, ICMP messages) using the src/wire codecs.
 *
 * Everything runs in virtual time: `settle(clock, promise)` advances the clock until a stack promise
 * settles, so a scenario with seconds of protocol timers runs in milliseconds and replays exactly.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { VirtualClock } from "../../src/time/clock.ts";
import { settle } from "../../src/time/drive.ts";
import { MemoryWire, type MemoryWirePort } from "../../src/device/memory-wire.ts";
import type { Impairments } from "../../src/device/fault.ts";
import type { FrameDevice, FrameReceiver } from "../../src/device/types.ts";
import { createStack, type Stack, type StackOptions } from "../../src/stack.ts";
import { WireError } from "../../src/wire/error.ts";
import { parseEthernet, emitEthernet, ETHERNET_HEADER_LEN, ETHERTYPE_ARP, ETHERTYPE_IPV4, ETHERTYPE_IPV6 } from "../../src/wire/ethernet.ts";
import { parseArp, type ArpEthernetIpv4Repr } from "../../src/wire/arp.ts";
import { parseIpv4, emitIpv4, ipv4HeaderLen } from "../../src/wire/ipv4.ts";
import { parseIpv6 } from "../../src/wire/ipv6.ts";
import { walkIpv6Chain } from "../../src/wire/ipv6-ext.ts";
import { parseIcmpv4, type Icmpv4Repr } from "../../src/wire/icmpv4.ts";
import { parseIcmpv6, type Icmpv6Repr } from "../../src/wire/icmpv6.ts";
import { parseMac, type MacAddress } from "../../src/wire/mac.ts";
import { ipv4ToString, ipv6ToString, parseIpv4 as parseIpv4Text, type Ipv4Address } from "../../src/wire/ip-address.ts";
import { readCapture, type CaptureRecord } from "../../src/pcap/reader.ts";
import { tempDir } from "../helpers/tools.ts";

/** The addresses every simulation uses: A pings B; the "dead" addresses belong to nobody; "raw" is the raw port. */
export const ADDR = {
  macA: "02:00:00:00:00:01",
  macB: "02:00:00:00:00:02",
  macRaw: "02:00:00:00:00:09",
  ipA: "10.0.0.1",
  ipB: "10.0.0.2",
  ipDead: "10.0.0.3",
  ipRaw: "10.0.0.9",
  ip6A: "fd00::1",
  ip6B: "fd00::2",
  ip6Dead: "fd00::3",
} as const;

/** A frame that went through a `Recorder`, stamped with the virtual time it passed. */
export interface RecordedFrame {
  readonly at: number;
  readonly dir: "tx" | "rx";
  readonly frame: Uint8Array;
  /** A sent frame that the drop rule kept off the wire. */
  readonly dropped?: boolean;
}

/** Decides whether a frame the stack sends is dropped before it reaches the wire. */
export type DropRule = (frame: Uint8Array, decoded: Decoded, at: number) => boolean;

/**
 * A FrameDevice wrapper that records every frame sent and received (with virtual time), and drops
 * the sent frames `drop` picks: deterministic loss aimed at one message, which a probabilistic wire
 * cannot give (smoltcp's `FaultInjector`, narrowed to a predicate).
 */
export class Recorder implements FrameDevice {
  readonly name: string;
  readonly mtu: number;
  /** Every frame in order, dropped ones included (marked). */
  readonly log: RecordedFrame[] = [];
  /** Replace at any time; undefined drops nothing. */
  drop: DropRule | undefined = undefined;
  private receiver: FrameReceiver | undefined;

  constructor(
    private readonly inner: FrameDevice,
    private readonly clock: VirtualClock,
  ) {
    this.name = inner.name;
    this.mtu = inner.mtu;
    inner.setReceiver((frames) => {
      const at = this.clock.now();
      for (const f of frames) this.log.push({ at, dir: "rx", frame: new Uint8Array(f) });
      this.receiver?.(frames);
    });
  }

  send(frame: Uint8Array): void {
    const at = this.clock.now();
    const copy = new Uint8Array(frame);
    const dropped = this.drop?.(copy, decodeFrame(copy), at) ?? false;
    this.log.push({ at, dir: "tx", frame: copy, dropped });
    if (!dropped) this.inner.send(frame);
  }

  setReceiver(receiver: FrameReceiver): void {
    this.receiver = receiver;
  }

  close(): void {
    this.inner.close();
  }

  /** Recorded frames in one direction (sent ones whether dropped or not), decoded, that match `pick`. */
  find(dir: "tx" | "rx", pick: (d: Decoded) => boolean): { at: number; d: Decoded; frame: Uint8Array; dropped: boolean }[] {
    const out: { at: number; d: Decoded; frame: Uint8Array; dropped: boolean }[] = [];
    for (const r of this.log) {
      if (r.dir !== dir) continue;
      const d = decodeFrame(r.frame);
      if (pick(d)) out.push({ at: r.at, d, frame: r.frame, dropped: r.dropped ?? false });
    }
    return out;
  }

  /** Frames received, in order (for `reassembleFrames`). */
  received(): Uint8Array[] {
    return this.log.filter((r) => r.dir === "rx").map((r) => r.frame);
  }
}

/** What a test needs to know about a frame, from the src/wire codecs. */
export type Decoded =
  | { readonly kind: "arp"; readonly arp: ArpEthernetIpv4Repr; readonly gratuitous: boolean }
  | {
      readonly kind: "ipv4";
      readonly src: string;
      readonly dst: string;
      readonly ident: number;
      readonly protocol: number;
      readonly fragmentOffset: number;
      readonly moreFragments: boolean;
      /** The IP payload (of this fragment). */
      readonly payload: Uint8Array;
      /** Only for an unfragmented ICMP packet. */
      readonly icmp: Icmpv4Repr | undefined;
    }
  | {
      readonly kind: "ipv6";
      readonly src: string;
      readonly dst: string;
      /** The Fragment header's fields, when there is one. */
      readonly fragment: { readonly offset: number; readonly more: boolean; readonly ident: number } | undefined;
      /** Upper-layer protocol (of the reassembled packet, for a fragment). */
      readonly protocol: number;
      /** Upper-layer data, or for a fragment the fragmentable part it carries. */
      readonly payload: Uint8Array;
      /** Only for an unfragmented ICMPv6 packet. */
      readonly icmp: Icmpv6Repr | undefined;
    }
  | { readonly kind: "other"; readonly why: string };

/** Names a frame; never throws (bad bytes come back as `other`). */
export function decodeFrame(frame: Uint8Array): Decoded {
  const eth = parseEthernet(frame);
  if (eth instanceof WireError) return { kind: "other", why: eth.toString() };
  if (eth.kind !== "ethernet-ii") return { kind: "other", why: "802.3" };
  switch (eth.etherType) {
    case ETHERTYPE_ARP: {
      const arp = parseArp(eth.payload);
      if (arp instanceof WireError) return { kind: "other", why: arp.toString() };
      if (arp.kind !== "ethernet-ipv4") return { kind: "other", why: "arp not ethernet/ipv4" };
      return { kind: "arp", arp, gratuitous: arp.senderIp === arp.targetIp };
    }
    case ETHERTYPE_IPV4: {
      const ip = parseIpv4(eth.payload);
      if (ip instanceof WireError) return { kind: "other", why: ip.toString() };
      const whole = ip.fragmentOffset === 0 && !ip.moreFragments;
      const icmp = whole && ip.protocol === 1 ? parseIcmpv4(ip.payload) : undefined;
      return {
        kind: "ipv4",
        src: ipv4ToString(ip.src),
        dst: ipv4ToString(ip.dst),
        ident: ip.ident,
        protocol: ip.protocol,
        fragmentOffset: ip.fragmentOffset,
        moreFragments: ip.moreFragments,
        payload: ip.payload,
        icmp: icmp instanceof WireError ? undefined : icmp,
      };
    }
    case ETHERTYPE_IPV6: {
      const ip = parseIpv6(eth.payload);
      if (ip instanceof WireError) return { kind: "other", why: ip.toString() };
      const chain = walkIpv6Chain(ip.nextHeader, ip.payload);
      if (chain instanceof WireError) return { kind: "other", why: chain.toString() };
      const fh = chain.headers.find((h) => h.kind === "fragment");
      const fragment = fh?.kind === "fragment" ? { offset: fh.fragmentOffset, more: fh.moreFragments, ident: fh.identification } : undefined;
      const payload = ip.payload.subarray(chain.payloadOffset);
      const icmp =
        fragment === undefined && chain.upperLayer === 58
          ? parseIcmpv6(payload, { family: 6, src: ip.src, dst: ip.dst })
          : undefined;
      return {
        kind: "ipv6",
        src: ipv6ToString(ip.src),
        dst: ipv6ToString(ip.dst),
        fragment,
        protocol: chain.upperLayer,
        payload,
        icmp: icmp instanceof WireError ? undefined : icmp,
      };
    }
    default:
      return { kind: "other", why: `ethertype 0x${eth.etherType.toString(16)}` };
  }
}

/** An ARP request from anyone for `target` (not a gratuitous announcement). */
export const isArpRequestFor =
  (target: string) =>
  (d: Decoded): boolean =>
    d.kind === "arp" && d.arp.op.kind === "request" && !d.gratuitous && ipv4ToString(d.arp.targetIp) === target;

/** A Neighbor Solicitation for `target` (RFC 4861 §4.3). */
export const isNsFor =
  (target: string) =>
  (d: Decoded): boolean =>
    d.kind === "ipv6" && d.icmp?.kind === "neighbor-solicitation" && ipv6ToString(d.icmp.target) === target;

/** A reassembled datagram: the upper-layer protocol and data of every fragment put together. */
export interface Reassembled {
  readonly family: 4 | 6;
  readonly src: string;
  readonly dst: string;
  readonly protocol: number;
  readonly data: Uint8Array;
}

/**
 * Puts fragments back together independently of the stack under test, for checking what it sent:
 * duplicates (same offset) are ignored; a datagram is complete when its pieces cover 0..end with no
 * hole. Unfragmented packets come through as they are.
 */
export function reassembleFrames(frames: readonly Uint8Array[]): Reassembled[] {
  const out: Reassembled[] = [];
  const groups = new Map<string, { head: Omit<Reassembled, "data">; parts: Map<number, Uint8Array>; end: number | undefined }>();
  for (const f of frames) {
    const d = decodeFrame(f);
    let key: string;
    let offset: number;
    let more: boolean;
    if (d.kind === "ipv4") {
      if (d.fragmentOffset === 0 && !d.moreFragments) {
        out.push({ family: 4, src: d.src, dst: d.dst, protocol: d.protocol, data: d.payload });
        continue;
      }
      key = `4/${d.src}/${d.dst}/${d.protocol}/${d.ident}`;
      offset = d.fragmentOffset;
      more = d.moreFragments;
    } else if (d.kind === "ipv6") {
      if (d.fragment === undefined) {
        out.push({ family: 6, src: d.src, dst: d.dst, protocol: d.protocol, data: d.payload });
        continue;
      }
      key = `6/${d.src}/${d.dst}/${d.fragment.ident}`;
      offset = d.fragment.offset;
      more = d.fragment.more;
    } else {
      continue;
    }
    let g = groups.get(key);
    if (g === undefined) {
      g = { head: { family: d.kind === "ipv4" ? 4 : 6, src: d.src, dst: d.dst, protocol: d.protocol }, parts: new Map(), end: undefined };
      groups.set(key, g);
    }
    if (g.parts.has(offset)) continue;
    g.parts.set(offset, d.payload);
    if (!more) g.end = offset + d.payload.length;
    if (g.end === undefined) continue;
    const data = new Uint8Array(g.end);
    let covered = 0;
    for (const [off, part] of [...g.parts].sort((x, y) => x[0] - y[0])) {
      if (off > covered) break;
      data.set(part.subarray(0, Math.max(0, g.end - off)), off);
      covered = Math.max(covered, off + part.length);
    }
    if (covered < g.end) continue;
    groups.delete(key);
    out.push({ ...g.head, data });
  }
  return out;
}

/** Builds a whole Ethernet + IPv4 frame carrying `payload` (one fragment of it, when asked). */
export function ipv4Frame(opts: {
  readonly srcMac: string;
  readonly dstMac: string;
  readonly src: string;
  readonly dst: string;
  readonly protocol: number;
  readonly ident: number;
  readonly fragmentOffset?: number;
  readonly moreFragments?: boolean;
  readonly ttl?: number;
  readonly payload: Uint8Array;
}): Uint8Array {
  const header = {
    dscp: 0,
    ecn: 0,
    ident: opts.ident,
    dontFragment: false,
    moreFragments: opts.moreFragments ?? false,
    fragmentOffset: opts.fragmentOffset ?? 0,
    ttl: opts.ttl ?? 64,
    protocol: opts.protocol,
    src: ipv4(opts.src),
    dst: ipv4(opts.dst),
    options: [],
  };
  const frame = new Uint8Array(ETHERNET_HEADER_LEN + ipv4HeaderLen(header) + opts.payload.length);
  const at = emitEthernet({ kind: "ethernet-ii", etherType: ETHERTYPE_IPV4, dst: mac(opts.dstMac), src: mac(opts.srcMac) }, frame, 0);
  const end = emitIpv4({ ...header, payload: opts.payload }, frame, at);
  if (end !== frame.length) throw new Error("ipv4Frame: length mismatch");
  return frame;
}

function mac(text: string): MacAddress {
  const m = parseMac(text);
  if (m === undefined) throw new Error(`bad MAC ${text}`);
  return m;
}

function ipv4(text: string): Ipv4Address {
  const a = parseIpv4Text(text);
  if (a === undefined) throw new Error(`bad IPv4 ${text}`);
  return a;
}

/** Options of `twoStacks`. */
export interface TwoStacksOptions {
  /** Seed of the wire; stack A gets seed + 1 and stack B seed + 2. Default 1. */
  readonly seed?: number;
  /** Impairments of every path of the wire. */
  readonly impairments?: Impairments;
  /** Record stack A's frames to a pcap: true for a file in a fresh temp directory, or a path. */
  readonly pcap?: boolean | string;
  /** Join a third, raw port (for hand-built frames); its received frames are kept in `rawLog`. */
  readonly raw?: boolean;
  /** Extra options for each stack. */
  readonly stackA?: Partial<StackOptions>;
  readonly stackB?: Partial<StackOptions>;
}

/** Two stacks on one wire and one clock, with everything a test inspects. */
export interface TwoStacks {
  readonly clock: VirtualClock;
  readonly wire: MemoryWire;
  readonly a: Stack;
  readonly b: Stack;
  /** The devices under each stack: every frame it sent (unless dropped) and received. */
  readonly recA: Recorder;
  readonly recB: Recorder;
  /** The raw port, when asked for. */
  readonly raw: MemoryWirePort | undefined;
  readonly rawLog: RecordedFrame[];
  /** Where stack A's capture goes, when asked for. */
  readonly pcapPath: string | undefined;
  /** `stack.ping`, driven in virtual time until it settles. */
  ping(stack: Stack, host: string, opts?: { size?: number; timeoutMs?: number }): Promise<number>;
  /** Pings until one succeeds (the wire may lose any frame); resolves to the number of attempts. */
  pingUntilReply(stack: Stack, host: string, opts?: { size?: number; timeoutMs?: number; tries?: number }): Promise<number>;
  /** Closes both stacks (flushing the capture) and the wire. */
  close(): Promise<void>;
  /** The capture's bytes (after `close`). */
  pcapBytes(): Uint8Array;
  /** The capture's records (after `close`). */
  pcapRecords(): CaptureRecord[];
  /** Removes the temp directory, if one was made. */
  dispose(): void;
}

/**
 * A (10.0.0.1, fd00::1, 02:..:01) and B (10.0.0.2, fd00::2, 02:..:02) on one MemoryWire in virtual
 * time. DAD and router solicitations are off so captures hold only what a test causes, plus each
 * stack's gratuitous ARP at start.
 */
export function twoStacks(opts: TwoStacksOptions = {}): TwoStacks {
  const seed = opts.seed ?? 1;
  const clock = new VirtualClock();
  const wire = new MemoryWire({ clock, seed, ...opts.impairments });
  let tmp: { dir: string; remove: () => void } | undefined;
  let pcapPath: string | undefined;
  if (opts.pcap === true) {
    tmp = tempDir("wirestack-sim-");
    pcapPath = join(tmp.dir, "a.pcap");
  } else if (typeof opts.pcap === "string") {
    pcapPath = opts.pcap;
  }
  const recA = new Recorder(wire.port("a"), clock);
  const recB = new Recorder(wire.port("b"), clock);
  const a = createStack({
    device: recA,
    clock,
    seed: seed + 1,
    mac: ADDR.macA,
    ipv4: `${ADDR.ipA}/24`,
    ipv6: `${ADDR.ip6A}/64`,
    dad: false,
    routerSolicitation: false,
    ...(pcapPath !== undefined ? { pcap: pcapPath } : {}),
    ...opts.stackA,
  });
  const b = createStack({
    device: recB,
    clock,
    seed: seed + 2,
    mac: ADDR.macB,
    ipv4: `${ADDR.ipB}/24`,
    ipv6: `${ADDR.ip6B}/64`,
    dad: false,
    routerSolicitation: false,
    ...opts.stackB,
  });
  const rawLog: RecordedFrame[] = [];
  let raw: MemoryWirePort | undefined;
  if (opts.raw) {
    raw = wire.port("raw");
    const port = raw;
    port.setReceiver((frames) => {
      for (const f of frames) rawLog.push({ at: clock.now(), dir: "rx", frame: f });
    });
  }

  const ping = (stack: Stack, host: string, o: { size?: number; timeoutMs?: number } = {}): Promise<number> =>
    settle(clock, stack.ping(host, o));

  return {
    clock,
    wire,
    a,
    b,
    recA,
    recB,
    raw,
    rawLog,
    pcapPath,
    ping,
    async pingUntilReply(stack, host, o = {}) {
      const tries = o.tries ?? 10;
      for (let i = 1; ; i++) {
        try {
          await ping(stack, host, o);
          return i;
        } catch (err) {
          if (i >= tries || (err as { code?: unknown }).code !== "WIRESTACK_ERR_TIMEOUT") throw err;
        }
      }
    },
    async close() {
      await a.close();
      await b.close();
      wire.close();
    },
    pcapBytes() {
      if (pcapPath === undefined) throw new Error("twoStacks: no pcap was asked for");
      return new Uint8Array(readFileSync(pcapPath));
    },
    pcapRecords() {
      if (pcapPath === undefined) throw new Error("twoStacks: no pcap was asked for");
      const file = readCapture(new Uint8Array(readFileSync(pcapPath)));
      if (file instanceof WireError) throw new Error(`pcap unreadable: ${file.toString()}`);
      if (file.error !== undefined) throw new Error(`pcap damaged: ${file.error.toString()}`);
      return file.records;
    },
    dispose() {
      tmp?.remove();
    },
  };
}

/** The counters of `stack` whose names match `pattern`, for messages and `toMatchObject`. */
export function countersMatching(stack: Stack, pattern: RegExp): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(stack.counters())) if (pattern.test(k)) out[k] = v;
  return out;
}

/** Sum of the counters of `stack` whose names match `pattern`. */
export function sumCounters(stack: Stack, pattern: RegExp): number {
  return Object.values(countersMatching(stack, pattern)).reduce((s, v) => s + v, 0);
}
