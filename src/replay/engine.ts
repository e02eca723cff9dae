/**
 * Replay: a recorded session as a conformance test. The stack plays one endpoint of a capture (chosen
 * by address); the other endpoint's frames are fed to it on a VirtualClock, and what the stack sends is
 * compared, layer by layer, with what the recorded endpoint sent (src/replay/compare.ts, under the
 * rules of src/replay/rules.ts).
 *
 * Theory of operation.
 * 1. Sides. Frames whose source address (IP source, ARP sender) is `as` belong to the played endpoint,
 *    and so does every other frame from its MAC (NDP from its link-local address). They are the
 *    expected frames. All others are the peer's: they are fed to the stack.
 * 2. Flows. Every frame has a flow key (ARP, NDP, one TCP or UDP connection, one ping identifier, the
 *    fragments to one peer, ICMP errors to one peer). The stack's frames are paired, as it sends them,
 *    with the expected frames of the same flow in capture order; what is left over on either side is
 *    a missing or extra frame. Timing never decides a pairing: a delayed ACK that is late still pairs.
 * 3. Rewriting the peer. The peer's recorded frames follow the recorded endpoint's choices, not the
 *    stack's, so before each is fed it is rewritten to follow the stack's:
 *    - Ethernet destination (and ARP target hardware address): the recorded MAC becomes the stack's.
 *    - TCP (per connection, once both SYN|ACKs are known): the acknowledgment number and SACK blocks,
 *      which count in the played endpoint's sequence space, move by (stack ISN − recorded ISN)
 *      (RFC 9293 §3.4); the timestamp echo (tsEcr) becomes the stack's TSval that was paired with the
 *      recorded TSval it echoed, or moves by the last known difference (RFC 7323 §4.3). The TCP
 *      checksum is then recomputed.
 *    The peer's own fields (its sequence numbers, its TSvals, IP IDs) are left as recorded, so the
 *    stack's echoes of them compare exactly.
 * 4. Time. `timing: "capture"` advances the virtual clock to each peer frame's recorded time (relative
 *    to the first frame) before feeding it, so the stack's timers run as they would have; "asap" feeds
 *    the next peer frame as soon as the stack has answered everything recorded before it (or has gone
 *    quiet for `quietMs`). Both end by running the clock `tailMs` past the last frame.
 * 5. Frames the stack sends while starting (its gratuitous ARP) are not part of the session and are not
 *    compared.
 *
 * The engine never touches a real device, a real clock or the network.
 */
import { createStack, type Stack, type StackOptions } from "../stack.ts";
import type { FrameDevice, FrameReceiver } from "../device/types.ts";
import type { PacketSink } from "../device/capture.ts";
import { VirtualClock } from "../time/clock.ts";
import { runFor, yieldToEventLoop } from "../time/drive.ts";
import { readCapture, type CaptureRecord } from "../pcap/reader.ts";
import { WireError } from "../wire/error.ts";
import { parseIpv4, parseIpv6, ipv4ToString, ipv6ToString } from "../wire/ip-address.ts";
import { parseMac, macToString } from "../wire/mac.ts";
import { dataView } from "../wire/bytes.ts";
import { finishChecksum, pseudoHeaderSum, sumBytes } from "../wire/checksum.ts";
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from "../wire/tcp.ts";
import { WirestackError } from "../errors.ts";
import { compareFrames, flattenFrame, type Difference, type FlatFrame } from "./compare.ts";
import { treatmentOf, type RuleOverrides, type Treatment } from "./rules.ts";

/** How to replay a capture. */
export interface ReplayOptions {
  /** The capture: pcap or pcapng bytes (Ethernet frames). */
  readonly capture: Uint8Array;
  /** The address (IPv4 or IPv6) of the endpoint the stack plays. */
  readonly as: string;
  /** The stack's IPv4 addresses ("A/N"); default: each IPv4 source address the played endpoint used, /24. */
  readonly ipv4?: string | readonly string[];
  /** The stack's IPv6 addresses; default: each global IPv6 source address the played endpoint used, /64. */
  readonly ipv6?: string | readonly string[];
  /** The stack's MAC; default the played endpoint's. */
  readonly mac?: string;
  /** Starts the code under test on the stack (listeners, sockets) before the first frame is fed. */
  readonly setup?: (stack: Stack) => unknown;
  /** "capture" (default): the recorded timing; "asap": as fast as the stack answers. */
  readonly timing?: "capture" | "asap";
  /** Virtual time run after the last frame, for late answers (retransmissions, delayed ACKs). Default 3000 ms. */
  readonly tailMs?: number;
  /** "asap" only: how long the stack may stay silent before the next peer frame is fed. Default 1000 ms. */
  readonly quietMs?: number;
  /** Overrides of the comparison rules (src/replay/rules.ts). */
  readonly rules?: RuleOverrides;
  /** The stack's seed (ISNs, IDs, ports). Default 1. */
  readonly seed?: number;
  /** Record everything the stack received and sent (a file name, or a sink). */
  readonly pcap?: string | PacketSink;
  /** TCP settings of the stack. */
  readonly tcp?: StackOptions["tcp"];
}

/** One expected frame and the stack's frame paired with it. */
export interface ReplayPair {
  readonly frame: number;
  readonly gotFrame: number | undefined;
  readonly flow: string;
}

/** What a replay found. */
export interface ReplayResult {
  /** True when every expected frame was matched and no field differs. */
  readonly ok: boolean;
  readonly differences: readonly Difference[];
  readonly pairs: readonly ReplayPair[];
  /** Bare ACKs left without a counterpart under rule `frame.pure-ack` (frame 0: one the stack sent). */
  readonly tolerated: readonly ReplayPair[];
  /** Frames of the played endpoint in the capture, and frames the stack sent during the session. */
  readonly expectedFrames: number;
  readonly sentFrames: number;
  /** The frames the stack sent, in order (copies). */
  readonly sent: readonly Uint8Array[];
  /** The stack's counters when the replay ended. */
  readonly counters: Record<string, number>;
}

/** A capture that cannot be replayed as asked: one line that says what to fix. */
export class ReplayError extends WirestackError<"WIRESTACK_ERR_REPLAY"> {
  override readonly name = "ReplayError";
}

const IPV6_LINK_LOCAL_PREFIX = 0xfe80;

/** The FrameDevice the stack is given: frames in from the replay, frames out to a callback. */
class ReplayDevice implements FrameDevice {
  readonly name = "replay";
  readonly mtu = 1500;
  private receiver: FrameReceiver | undefined;
  constructor(private readonly onSend: (frame: Uint8Array) => void) {}
  send(frame: Uint8Array): void {
    this.onSend(frame);
  }
  setReceiver(receiver: FrameReceiver): void {
    this.receiver = receiver;
  }
  inject(frame: Uint8Array): void {
    this.receiver?.([frame]);
  }
  close(): void {
    this.receiver = undefined;
  }
}

function flatText(f: FlatFrame, field: string): string | undefined {
  const v = f.fields.get(field);
  return typeof v === "string" ? v : undefined;
}

/** The address a frame comes from: IP source or ARP sender. */
function sourceAddress(f: FlatFrame): string | undefined {
  return flatText(f, "ipv4.src") ?? flatText(f, "ipv6.src") ?? flatText(f, "arp.senderIp");
}

/**
 * The flow a frame belongs to, named from the played endpoint's side (`played` tells which side sent
 * it), so that the stack's frames and the recorded ones of one exchange share a key.
 */
export function flowKey(f: FlatFrame, played: boolean): string {
  const d = f.dissection;
  const names = d.layers.map((l) => l.name);
  if (names.includes("arp")) return "arp";
  const src = flatText(f, "ipv4.src") ?? flatText(f, "ipv6.src");
  const dst = flatText(f, "ipv4.dst") ?? flatText(f, "ipv6.dst");
  if (src === undefined || dst === undefined) return `other ${names.join("/")}`;
  const peer = played ? dst : src;
  if (d.fragment !== undefined) return `fragments ${peer}`;
  for (const proto of ["tcp", "udp"] as const) {
    if (names.includes(proto)) {
      const sp = flatText(f, `${proto}.srcPort`);
      const dp = flatText(f, `${proto}.dstPort`);
      return played ? `${proto} ${peer}:${dp} ${sp}` : `${proto} ${peer}:${sp} ${dp}`;
    }
  }
  for (const icmp of ["icmpv4", "icmpv6"] as const) {
    if (!names.includes(icmp)) continue;
    const type = Number(flatText(f, `${icmp}.type`));
    if (icmp === "icmpv6" && type >= 133 && type <= 137) return "ndp";
    const id = flatText(f, `${icmp}.repr.identifier`) ?? flatText(f, `${icmp}.identifier`);
    if (id !== undefined) return `echo ${peer} ${id}`;
    return `${icmp} ${peer}`;
  }
  return `other ${peer} ${names.join("/")}`;
}

interface TcpFlow {
  recordedIss: number | undefined;
  stackIss: number | undefined;
  /** Recorded TSval → the stack's TSval paired with it. */
  readonly tsMap: Map<number, number>;
  tsDelta: number | undefined;
}

interface Recorded {
  readonly number: number;
  readonly record: CaptureRecord;
  readonly flat: FlatFrame;
  readonly played: boolean;
  readonly flow: string;
}

function tcpOptionsOf(f: FlatFrame): { tsVal: number | undefined } {
  const v = flatText(f, "tcp.option.timestamps.tsVal");
  return { tsVal: v === undefined ? undefined : Number(v) };
}

function asList(v: string | readonly string[] | undefined): string[] | undefined {
  return v === undefined ? undefined : typeof v === "string" ? [v] : [...v];
}

/** Replays `opts.capture` against a stack playing `opts.as`; resolves to the comparison. */
export async function replay(opts: ReplayOptions): Promise<ReplayResult> {
  const file = readCapture(opts.capture);
  if (file instanceof WireError) throw new ReplayError("WIRESTACK_ERR_REPLAY", `not a pcap or pcapng capture: ${file.reason} ${file.detail ?? ""}`.trim());
  const records = file.records.filter((r) => r.linkType === 1);
  if (records.length === 0) throw new ReplayError("WIRESTACK_ERR_REPLAY", "the capture holds no Ethernet frames");
  const asV4 = parseIpv4(opts.as);
  const asV6 = asV4 === undefined ? parseIpv6(opts.as) : undefined;
  if (asV4 === undefined && asV6 === undefined) throw new ReplayError("WIRESTACK_ERR_REPLAY", `--as ${opts.as}: give the IPv4 or IPv6 address of the endpoint the stack plays`);
  const asText = asV4 !== undefined ? ipv4ToString(asV4) : ipv6ToString(asV6 as Uint8Array);

  // 1. Sides: the played endpoint's MAC from its first frame, then every frame from that MAC.
  const flats = records.map((r) => flattenFrame(r.data));
  let recordedMacText: string | undefined;
  for (const f of flats) {
    if (sourceAddress(f) === asText) {
      recordedMacText = flatText(f, "eth.src");
      if (recordedMacText !== undefined) break;
    }
  }
  if (recordedMacText === undefined) throw new ReplayError("WIRESTACK_ERR_REPLAY", `no frame in the capture comes from ${asText}: give --as the address of one endpoint`);
  const recordedMac = parseMac(recordedMacText) as Uint8Array;
  const recorded: Recorded[] = records.map((record, i) => {
    const flat = flats[i] as FlatFrame;
    const played = flatText(flat, "eth.src") === recordedMacText;
    return { number: i + 1, record, flat, played, flow: flowKey(flat, played) };
  });

  // Default addresses: those the played endpoint used.
  const v4 = new Set<string>();
  const v6 = new Set<string>();
  for (const r of recorded) {
    if (!r.played) continue;
    const s4 = flatText(r.flat, "ipv4.src") ?? flatText(r.flat, "arp.senderIp");
    const s6 = flatText(r.flat, "ipv6.src");
    if (s4 !== undefined) v4.add(`${s4}/24`);
    const a6 = s6 === undefined ? undefined : parseIpv6(s6);
    if (a6 !== undefined && ((a6[0] as number) << 8 | (a6[1] as number)) !== IPV6_LINK_LOCAL_PREFIX) v6.add(`${s6}/64`);
  }
  const stackMacText = opts.mac ?? recordedMacText;
  const stackMac = parseMac(stackMacText);
  if (stackMac === undefined) throw new ReplayError("WIRESTACK_ERR_REPLAY", `bad MAC address '${stackMacText}': write six hex bytes like 02:00:00:00:00:01`);

  // 2. Expected frames per flow, in capture order.
  const expected = new Map<string, Recorded[]>();
  for (const r of recorded) {
    if (!r.played) continue;
    let list = expected.get(r.flow);
    if (list === undefined) expected.set(r.flow, (list = []));
    list.push(r);
  }
  const next = new Map<string, number>();
  const tcpFlows = new Map<string, TcpFlow>();
  const tcpFlow = (key: string): TcpFlow => {
    let t = tcpFlows.get(key);
    if (t === undefined) tcpFlows.set(key, (t = { recordedIss: undefined, stackIss: undefined, tsMap: new Map(), tsDelta: undefined }));
    return t;
  };
  for (const r of recorded) {
    if (r.played && r.flow.startsWith("tcp ") && (Number(flatText(r.flat, "tcp.flags")) & TCP_SYN) !== 0) {
      tcpFlow(r.flow).recordedIss = Number(flatText(r.flat, "tcp.seq"));
    }
  }

  // Probes of the recorded side, and each record's time (ms from the first frame).
  const recordedProbes = new Set<number>();
  const recordedTracker = new ProbeTracker();
  for (const r of recorded) {
    if (r.played && r.flow.startsWith("tcp ") && recordedTracker.see(r.flow, r.flat)) recordedProbes.add(r.number);
  }
  const firstRecord = records[0] as CaptureRecord;
  const msOf = (rec: CaptureRecord): number => (rec.sec - firstRecord.sec) * 1000 + (rec.nsec - firstRecord.nsec) / 1e6;
  const stackTracker = new ProbeTracker();
  const probeTime = treatmentOf("tcp.probe.time", opts.rules);

  const differences: Difference[] = [];
  const pairs: ReplayPair[] = [];
  const tolerated: ReplayPair[] = [];
  const pureAckOptional = treatmentOf("frame.pure-ack", opts.rules) === "ignore";
  const sent: Uint8Array[] = [];
  let collecting = false;

  const onSend = (frame: Uint8Array): void => {
    if (!collecting) return;
    const copy = new Uint8Array(frame);
    sent.push(copy);
    const gotNumber = sent.length;
    const flat = flattenFrame(copy);
    const flow = flowKey(flat, true);
    const isTcp = flow.startsWith("tcp ");
    const t = isTcp ? tcpFlow(flow) : undefined;
    if (t !== undefined && (Number(flatText(flat, "tcp.flags")) & TCP_SYN) !== 0) t.stackIss = Number(flatText(flat, "tcp.seq"));
    const list = expected.get(flow) ?? [];
    let i = next.get(flow) ?? 0;
    const gotProbe = isTcp && stackTracker.see(flow, flat);
    if (pureAckOptional && isTcp) {
      // Rule frame.pure-ack: ACK timing is the receiver's policy, so a bare ACK on either side may have
      // no counterpart (merged into data, delayed, or sent where the other did not). Probes are not
      // bare ACKs: each must have its counterpart.
      const bare = (r: Recorded | undefined): boolean => r !== undefined && isPureAck(r.flat) && !recordedProbes.has(r.number);
      const gotPure = isPureAck(flat) && !gotProbe;
      while (!gotPure && bare(list[i])) {
        tolerated.push({ frame: (list[i] as Recorded).number, gotFrame: undefined, flow });
        i++;
      }
      next.set(flow, i);
      if (gotPure && !bare(list[i])) {
        tolerated.push({ frame: 0, gotFrame: gotNumber, flow });
        return;
      }
    }
    const exp = list[i];
    if (exp === undefined) {
      differences.push({ frame: 0, gotFrame: gotNumber, layer: "frame", field: "frame.extra", expected: "(no such frame recorded)", got: `${flow}: ${describe(flat)}` });
      pairs.push({ frame: 0, gotFrame: gotNumber, flow });
      return;
    }
    next.set(flow, i + 1);
    pairs.push({ frame: exp.number, gotFrame: gotNumber, flow });
    if (t !== undefined) {
      const er = tcpOptionsOf(exp.flat).tsVal;
      const gr = tcpOptionsOf(flat).tsVal;
      if (er !== undefined && gr !== undefined) {
        t.tsMap.set(er, gr);
        t.tsDelta = (gr - er) >>> 0;
      }
    }
    if (gotProbe && recordedProbes.has(exp.number) && probeTime !== "ignore") {
      const d = probeTimeDifference(msOf(exp.record), clock.now(), probeTime);
      if (d !== undefined) differences.push({ frame: exp.number, gotFrame: gotNumber, layer: "tcp", field: "tcp.probe.time", ...d });
    }
    differences.push(
      ...compareFrames(exp.flat, flat, exp.number, gotNumber, {
        overrides: opts.rules ?? {},
        recordedMac,
        stackMac,
        recordedIss: t?.recordedIss,
        stackIss: t?.stackIss,
      }),
    );
  };

  const device = new ReplayDevice(onSend);
  const t0Ms = Math.floor((records[0] as CaptureRecord).sec * 1000 + (records[0] as CaptureRecord).nsec / 1e6);
  const clock = new VirtualClock({ epochMs: t0Ms });
  const stack = createStack({
    device,
    mac: stackMac,
    ipv4: asList(opts.ipv4) ?? [...v4],
    ipv6: asList(opts.ipv6) ?? [...v6],
    clock,
    seed: opts.seed ?? 1,
    dad: false,
    routerSolicitation: false,
    ...(opts.pcap !== undefined ? { pcap: opts.pcap } : {}),
    ...(opts.tcp !== undefined ? { tcp: opts.tcp } : {}),
  });
  try {
    await opts.setup?.(stack);
    await yieldToEventLoop();
    collecting = true;

    const timing = opts.timing ?? "capture";
    const firstNs = (records[0] as CaptureRecord).sec * 1e9 + (records[0] as CaptureRecord).nsec;
    const answeredBefore = (n: number): boolean => {
      for (const [flow, list] of expected) {
        const done = next.get(flow) ?? 0;
        const owed = list.filter((r) => r.number < n).length;
        if (done < owed) return false;
      }
      return true;
    };
    for (const r of recorded) {
      if (r.played) continue;
      if (timing === "capture") {
        const at = (r.record.sec * 1e9 + r.record.nsec - firstNs) / 1e6;
        if (at > clock.now()) await runFor(clock, at - clock.now());
      } else {
        // Bounded: at most `quietMs` of virtual time, one timer at a time.
        const limit = clock.now() + (opts.quietMs ?? 1000);
        await yieldToEventLoop();
        while (!answeredBefore(r.number)) {
          const due = clock.nextDeadline();
          if (due === undefined || due > limit) break;
          clock.advanceTo(Math.max(due, clock.now()));
          await yieldToEventLoop();
        }
      }
      device.inject(rewritePeerFrame(r, recordedMac, stackMac, tcpFlows));
      for (let i = 0; i < 4; i++) await yieldToEventLoop();
    }
    await runFor(clock, opts.tailMs ?? 3000);
    collecting = false;
  } finally {
    collecting = false;
    await stack.close();
  }

  for (const [flow, list] of expected) {
    for (const r of list.slice(next.get(flow) ?? 0)) {
      if (pureAckOptional && flow.startsWith("tcp ") && isPureAck(r.flat) && !recordedProbes.has(r.number)) {
        tolerated.push({ frame: r.number, gotFrame: undefined, flow });
        continue;
      }
      differences.push({ frame: r.number, gotFrame: undefined, layer: "frame", field: "frame.missing", expected: `${flow}: ${describe(r.flat)}`, got: "(not sent)" });
      pairs.push({ frame: r.number, gotFrame: undefined, flow });
    }
  }
  differences.sort((a, b) => (a.frame || Infinity) - (b.frame || Infinity) || (a.gotFrame ?? 0) - (b.gotFrame ?? 0));
  return {
    ok: differences.length === 0,
    differences,
    pairs,
    tolerated,
    expectedFrames: recorded.filter((r) => r.played).length,
    sentFrames: sent.length,
    sent,
    counters: stack.counters(),
  };
}

/** A segment with no data and none of SYN, FIN, RST: an acknowledgment (or window update) only. */
function isPureAck(f: FlatFrame): boolean {
  const flags = Number(flatText(f, "tcp.flags"));
  const payload = f.fields.get("tcp.payload");
  return (flags & (TCP_SYN | TCP_FIN | TCP_RST)) === 0 && (flags & TCP_ACK) !== 0 && payload instanceof Uint8Array && payload.length === 0;
}

/**
 * Per flow, one side's SND.MAX as seen on the wire, to tell probes from bare ACKs: a zero-window or
 * keepalive probe is a bare segment with SEQ = SND.UNA − 1 (Linux's tcp_xmit_probe_skb, and
 * wirestack's), sent when everything is acknowledged, so SND.UNA = SND.MAX. A bare ACK carries
 * SEQ = SND.MAX (RFC 9293 §3.8.6.1, RFC 1122 §4.2.3.6).
 */
class ProbeTracker {
  private readonly sndMax = new Map<string, number>();
  /** Records `f` (sent on `flow`) and tells whether it is a probe. */
  see(flow: string, f: FlatFrame): boolean {
    const flags = Number(flatText(f, "tcp.flags"));
    const seq = Number(flatText(f, "tcp.seq"));
    const payload = f.fields.get("tcp.payload");
    const len = payload instanceof Uint8Array ? payload.length : 0;
    const max = this.sndMax.get(flow);
    const probe = isPureAck(f) && max !== undefined && seq === ((max - 1) >>> 0);
    const end = (seq + len + ((flags & TCP_SYN) !== 0 ? 1 : 0) + ((flags & TCP_FIN) !== 0 ? 1 : 0)) >>> 0;
    if (max === undefined || ((end - max) | 0) > 0) this.sndMax.set(flow, end);
    return probe;
  }
}

/**
 * Rule `tcp.probe.time` ("tolerance"): a probe's send time, in ms from the first frame, against the
 * recorded probe's. Both stacks send the first probe one RTO after the window closed and double the
 * interval after each (RFC 1122 §4.2.2.17, RFC 6298 §5.5); the RTOs differ by what each measured, so
 * the stack's probe may be off by PROBE_TOLERANCE of the recorded time, and at least PROBE_SLACK_MS.
 * "exact" asks for the same millisecond.
 */
function probeTimeDifference(expectedMs: number, gotMs: number, t: Treatment): { expected: string; got: string } | undefined {
  const slack = t === "exact" ? 0.5 : Math.max(PROBE_SLACK_MS, expectedMs * PROBE_TOLERANCE);
  if (Math.abs(gotMs - expectedMs) <= slack) return undefined;
  return { expected: `probe at ${expectedMs.toFixed(1)} ms (± ${slack.toFixed(1)})`, got: `probe at ${gotMs.toFixed(1)} ms` };
}

/** Rule `tcp.probe.time`: the share of the recorded time a probe may be off, and the least slack. */
export const PROBE_TOLERANCE = 0.15;
export const PROBE_SLACK_MS = 50;

/** A short description of a frame for missing/extra reports: its layers and, for TCP, flags and length. */
function describe(f: FlatFrame): string {
  const layers = flatText(f, "frame.layers") ?? "";
  const flags = flatText(f, "tcp.flags");
  if (flags === undefined) return layers;
  const payload = f.fields.get("tcp.payload");
  const names = [[0x02, "S"], [0x01, "F"], [0x04, "R"], [0x08, "P"], [0x10, "."]] as const;
  const bits = Number(flags) | (flatText(f, "tcp.flags.psh") === "true" ? 0x08 : 0);
  const text = names.filter(([bit]) => (bits & bit) !== 0).map(([, n]) => n).join("");
  return `${layers} [${text}] len ${payload instanceof Uint8Array ? payload.length : 0}`;
}

/**
 * The peer's recorded frame, rewritten to follow the stack's choices (theory of operation, 3). Returns
 * a copy; the capture's bytes are never changed.
 */
function rewritePeerFrame(r: Recorded, recordedMac: Uint8Array, stackMac: Uint8Array, tcpFlows: Map<string, TcpFlow>): Uint8Array {
  const out = new Uint8Array(r.record.data);
  const sameMac = macToString(recordedMac) === macToString(stackMac);
  if (!sameMac && out.length >= 14) {
    if (macToString(out, 0) === macToString(recordedMac)) out.set(stackMac, 0);
    // ARP over Ethernet: target hardware address at 18 bytes into the ARP packet (RFC 826).
    if (out.length >= 42 && out[12] === 0x08 && out[13] === 0x06 && macToString(out, 32) === macToString(recordedMac)) out.set(stackMac, 32);
  }
  if (!r.flow.startsWith("tcp ")) return out;
  const t = tcpFlows.get(r.flow);
  if (t === undefined || t.recordedIss === undefined || t.stackIss === undefined) return out;
  const flat = flattenFrame(out);
  const tcp = flat.dissection.layers.find((l) => l.name === "tcp");
  const ip = flat.dissection.layers.find((l) => l.name === "ipv4" || l.name === "ipv6");
  if (tcp === undefined || tcp.name !== "tcp" || ip === undefined || (ip.name !== "ipv4" && ip.name !== "ipv6")) return out;
  const start = tcp.repr.payload.byteOffset - out.byteOffset - tcp.headerLen;
  const end = tcp.repr.payload.byteOffset - out.byteOffset + tcp.repr.payload.length;
  const seg = out.subarray(start, end);
  const view = dataView(seg);
  const delta = (t.stackIss - t.recordedIss) >>> 0;
  const shift = (n: number) => (n + delta) >>> 0;
  if ((tcp.repr.flags & TCP_ACK) !== 0) view.setUint32(8, shift(view.getUint32(8)));
  // Options: SACK blocks (RFC 2018 §3) and the timestamp echo (RFC 7323 §3.2).
  for (let i = 20; i < tcp.headerLen; ) {
    const kind = seg[i] as number;
    if (kind === 0) break;
    if (kind === 1) {
      i++;
      continue;
    }
    const len = seg[i + 1] as number;
    if (len < 2 || i + len > tcp.headerLen) break;
    if (kind === 5) {
      for (let b = i + 2; b + 4 <= i + len; b += 4) view.setUint32(b, shift(view.getUint32(b)));
    } else if (kind === 8 && len === 10) {
      const ecr = view.getUint32(i + 6);
      if (ecr !== 0) {
        const mapped = t.tsMap.get(ecr) ?? (t.tsDelta !== undefined ? (ecr + t.tsDelta) >>> 0 : ecr);
        view.setUint32(i + 6, mapped);
      }
    }
    i += len;
  }
  view.setUint16(16, 0);
  const ph = ip.name === "ipv4" ? { family: 4 as const, src: ip.repr.src, dst: ip.repr.dst } : { family: 6 as const, src: ip.repr.src, dst: ip.repr.dst };
  view.setUint16(16, finishChecksum(sumBytes(seg, 0, seg.length, pseudoHeaderSum(ph, 6, seg.length))));
  return out;
}

