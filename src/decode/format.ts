/**
 * One line per frame in the manner of `tcpdump -n` (tcpdump 4.99's print-*.c wording where we print
 * the same thing). Application payloads are not decoded; a frame that stopped decoding early ends
 * with a `[|layer: reason]` marker (tcpdump writes `[|layer]`).
 *
 * Relative TCP sequence numbers follow tcpdump's rule (print-tcp.c): a connection is remembered from
 * its first segment with ACK set; from then on seq and ack print relative to that segment's numbers.
 * `absoluteSeq` (tcpdump's -S) turns that off.
 */
import { macToString } from "../wire/mac.ts";
import { ipv4ToString, ipv6ToString } from "../wire/ip-address.ts";
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN, TCP_URG, tcpFlagsString, type TcpOption } from "../wire/tcp.ts";
import type { ArpRepr } from "../wire/arp.ts";
import type { EthernetHeader } from "../wire/ethernet.ts";
import type { Icmpv4Repr } from "../wire/icmpv4.ts";
import type { Icmpv6Repr } from "../wire/icmpv6.ts";
import type { LlcRepr } from "../wire/llc.ts";
import { WireError } from "../wire/error.ts";
import { dissectFrame, type Dissection, type Layer } from "./dissect.ts";

export interface FormatOptions {
  /** tcpdump -e: link-level header on each line. */
  readonly link?: boolean;
  /** tcpdump -S: absolute TCP sequence numbers. */
  readonly absoluteSeq?: boolean;
  /** Time zone offset in minutes east of UTC for the time of day; default: the local zone. */
  readonly utcOffsetMinutes?: number;
}

const ETHERTYPE_NAMES: Record<number, string> = {
  0x0800: "IPv4",
  0x0806: "ARP",
  0x86dd: "IPv6",
  0x8100: "802.1Q",
  0x88a8: "802.1Q-QinQ",
  0x88cc: "LLDP",
  0x8035: "Reverse ARP",
};

const PROTOCOL_NAMES: Record<number, string> = { 1: "icmp", 2: "igmp", 6: "tcp", 17: "udp", 58: "icmp6" };

function hex4(n: number): string {
  return `0x${n.toString(16).padStart(4, "0")}`;
}

/** Formats decoded frames into lines, keeping the per-connection state tcpdump keeps. */
export class LineFormatter {
  private readonly tcpBases = new Map<string, { seq: number; ack: number }>();
  private lastSec = -1;
  private secPrefix = "";

  constructor(private readonly opts: FormatOptions = {}) {}

  /** One line (without newline) for a captured frame. */
  formatFrame(sec: number, nsec: number, data: Uint8Array, origLen: number): string {
    return this.format(sec, nsec, dissectFrame(data, origLen));
  }

  format(sec: number, nsec: number, d: Dissection): string {
    return `${this.time(sec, nsec)} ${this.body(d)}`;
  }

  /** HH:MM:SS.uuuuuu of the time of day, cached per second (the costly part is the calendar). */
  private time(sec: number, nsec: number): string {
    if (sec !== this.lastSec) {
      this.lastSec = sec;
      const offset = this.opts.utcOffsetMinutes ?? -new Date(sec * 1000).getTimezoneOffset();
      const day = (((sec + offset * 60) % 86400) + 86400) % 86400;
      const hh = Math.floor(day / 3600);
      const mm = Math.floor((day % 3600) / 60);
      const ss = day % 60;
      this.secPrefix = `${pad2(hh)}:${pad2(mm)}:${pad2(ss)}.`;
    }
    return this.secPrefix + String(Math.floor(nsec / 1000)).padStart(6, "0");
  }

  private body(d: Dissection): string {
    const layers = d.layers;
    let out = "";
    let i = 0;
    const first = layers[0];
    if (first === undefined) return `[|ether: ${reasonOf(d.error)}]`;
    if (first.name === "eth") {
      const eth = first.repr;
      if (this.opts.link) out += `${this.linkHeader(eth, d.len)}: `;
      else if (eth.tag) out += `${vlanText(eth)}, `;
      i = 1;
      const next = layers[1];
      if (eth.kind === "ieee802.3" && next?.name !== "llc") out += `802.3, length ${eth.length}`;
      if (eth.kind === "ethernet-ii" && next === undefined && d.error === undefined) {
        out += `ethertype ${ETHERTYPE_NAMES[eth.etherType] ?? "Unknown"} (${hex4(eth.etherType)}), length ${d.len}`;
      }
    }
    for (; i < layers.length; i++) {
      const layer = layers[i] as Layer;
      const rest = layers.slice(i + 1);
      const text = this.layerText(layer, rest, d);
      if (text === undefined) continue;
      out += text;
      if (layer.name === "llc" && rest.length > 0) out += ", ";
      if (layer.name === "ipv4" || layer.name === "ipv6" || layer.name === "tcp" || layer.name === "udp") break;
      if (layer.name === "icmpv4" || layer.name === "icmpv6" || layer.name === "arp") break;
    }
    if (d.error) out += `${out.length > 0 ? " " : ""}[|${d.error.layer}: ${d.error.reason}${d.error.detail ? ` ${d.error.detail}` : ""}]`;
    return out;
  }

  private linkHeader(eth: EthernetHeader, len: number): string {
    let s = `${macToString(eth.src)} > ${macToString(eth.dst)}`;
    if (eth.kind === "ieee802.3") return `${s}, 802.3, length ${len}`;
    if (eth.tag) {
      const outer = eth.outerTag ?? eth.tag;
      s += `, ethertype ${ETHERTYPE_NAMES[outer.tpid] ?? "Unknown"} (${hex4(outer.tpid)}), length ${len}: ${vlanText(eth)}`;
      return s;
    }
    return `${s}, ethertype ${ETHERTYPE_NAMES[eth.etherType] ?? "Unknown"} (${hex4(eth.etherType)}), length ${len}`;
  }

  /** Text for one layer; transport layers are printed together with their IP layer. */
  private layerText(layer: Layer, rest: readonly Layer[], d: Dissection): string | undefined {
    switch (layer.name) {
      case "eth":
        return undefined;
      case "llc":
        return llcText(layer.repr, d.len);
      case "arp":
        return `ARP, ${arpText(layer.repr)}`;
      case "ipv4": {
        const ip = layer.repr;
        const src = ipv4ToString(ip.src);
        const dst = ipv4ToString(ip.dst);
        const upper = rest[0];
        if (d.fragment && d.fragment.offset !== 0) {
          return `IP ${src} > ${dst}: ${PROTOCOL_NAMES[ip.protocol] === undefined ? "ip-proto-" : "ip-proto-"}${ip.protocol}`;
        }
        return `IP ${this.upperText(src, dst, upper, ip.protocol, ip.payload.length, "")}`;
      }
      case "ipv6": {
        const ip = layer.repr;
        const src = ipv6ToString(ip.src);
        const dst = ipv6ToString(ip.dst);
        let ext = "";
        for (const h of layer.chain) {
          if (h.kind === "hop-by-hop") ext += "HBH ";
          else if (h.kind === "destination-options") ext += "DSTOPT ";
          else if (h.kind === "routing") ext += `srcrt (type ${h.routingType}, segleft ${h.segmentsLeft}) `;
          else if (h.kind === "fragment") ext += `frag (${h.fragmentOffset}|${d.fragment?.length ?? 0}) `;
        }
        if (d.fragment && d.fragment.offset !== 0) return `IP6 ${src} > ${dst}: ${ext.trimEnd()}`;
        const upperLen = d.fragment ? d.fragment.length : undefined;
        return `IP6 ${this.upperText(src, dst, rest[0], layer.upperLayer, upperLen ?? -1, ext)}`;
      }
      default:
        return undefined;
    }
  }

  private upperText(src: string, dst: string, upper: Layer | undefined, protocol: number, length: number, ext: string): string {
    if (upper === undefined) {
      if (protocol === 59) return `${src} > ${dst}: ${ext}no next header`;
      return `${src} > ${dst}: ${ext}ip-proto-${protocol}${length >= 0 ? ` ${length}` : ""}`;
    }
    switch (upper.name) {
      case "tcp":
        return `${src}.${upper.repr.srcPort} > ${dst}.${upper.repr.dstPort}: ${ext}${this.tcpText(src, dst, upper)}`;
      case "udp":
        return `${src}.${upper.repr.srcPort} > ${dst}.${upper.repr.dstPort}: ${ext}UDP, length ${upper.length - 8}`;
      case "icmpv4":
        return `${src} > ${dst}: ${ext}ICMP ${icmpv4Text(upper.repr)}, length ${upper.length}`;
      case "icmpv6":
        return `${src} > ${dst}: ${ext}ICMP6, ${icmpv6Text(upper.repr)}, length ${upper.length}`;
      default:
        return `${src} > ${dst}: ${ext}ip-proto-${protocol}`;
    }
  }

  private tcpText(src: string, dst: string, layer: Extract<Layer, { name: "tcp" }>): string {
    const t = layer.repr;
    const flags = t.flags;
    let seq = t.seq;
    let ack = t.ack;
    if (!this.opts.absoluteSeq && flags & TCP_ACK) {
      const fwd = `${src}.${t.srcPort}>${dst}.${t.dstPort}`;
      const rev = `${dst}.${t.dstPort}>${src}.${t.srcPort}`;
      const mine = this.tcpBases.get(fwd);
      if (mine === undefined || flags & TCP_SYN) {
        // print-tcp.c: a new conversation, or a SYN restarting one: remember, print absolute.
        this.tcpBases.set(fwd, { seq, ack: (ack - 1) >>> 0 });
        this.tcpBases.set(rev, { seq: (ack - 1) >>> 0, ack: seq });
        if (this.tcpBases.size > 200_000) this.tcpBases.clear(); // bound the memory of a huge capture
      } else {
        seq = (seq - mine.seq) >>> 0;
        ack = (ack - mine.ack) >>> 0;
      }
    }
    const len = t.payload.length;
    let s = `Flags [${tcpFlagsString(flags)}]`;
    if (len > 0 || flags & (TCP_SYN | TCP_FIN | TCP_RST)) {
      s += len > 0 ? `, seq ${seq}:${(seq + len) >>> 0}` : `, seq ${seq}`;
    }
    if (flags & TCP_ACK) s += `, ack ${ack}`;
    s += `, win ${t.window}`;
    if (flags & TCP_URG) s += `, urg ${t.urgentPointer}`;
    if (t.options instanceof WireError) s += ", options [bad opts]";
    else if (t.options.length > 0) s += `, options [${t.options.map(tcpOptionText).join(",")}]`;
    return `${s}, length ${len}`;
  }
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

function reasonOf(e: WireError | undefined): string {
  return e ? `${e.reason}` : "empty";
}

function vlanText(eth: EthernetHeader): string {
  const tag = eth.tag;
  if (!tag) return "";
  const outer = eth.outerTag ? `vlan ${eth.outerTag.vid}, p ${eth.outerTag.pcp}, ` : "";
  const inner = eth.kind === "ethernet-ii" ? eth.etherType : 0;
  return `${outer}vlan ${tag.vid}, p ${tag.pcp}${tag.dei ? ", DEI" : ""}, ethertype ${ETHERTYPE_NAMES[inner] ?? "Unknown"} (${hex4(inner)})`;
}

function tcpOptionText(o: TcpOption): string {
  switch (o.kind) {
    case "eol":
      return "eol";
    case "nop":
      return "nop";
    case "mss":
      return `mss ${o.mss}`;
    case "window-scale":
      return `wscale ${o.shift}`;
    case "sack-permitted":
      return "sackOK";
    case "sack":
      return `sack ${o.blocks.length} ${o.blocks.map((b) => `{${b.left}:${b.right}}`).join("")}`;
    case "timestamps":
      return `TS val ${o.tsVal} ecr ${o.tsEcr}`;
    case "unknown":
      return `unknown-${o.code} 0x${Buffer.from(o.data.buffer, o.data.byteOffset, o.data.byteLength).toString("hex")}`;
  }
}

function arpText(a: ArpRepr): string {
  if (a.kind === "other") {
    return `${a.op.kind === "unknown" ? `op ${a.op.value}` : a.op.kind}, hardware ${a.htype}, protocol ${hex4(a.ptype)}, length ${8 + 2 * (a.hlen + a.plen)}`;
  }
  const op = a.op.kind;
  switch (op) {
    case "request": {
      const zero = a.targetMac.every((b) => b === 0);
      const tha = zero ? "" : ` (${macToString(a.targetMac)})`;
      return `Request who-has ${ipv4ToString(a.targetIp)}${tha} tell ${ipv4ToString(a.senderIp)}, length 28`;
    }
    case "reply":
      return `Reply ${ipv4ToString(a.senderIp)} is-at ${macToString(a.senderMac)}, length 28`;
    case "rarp-request":
      return `Reverse Request who-is ${macToString(a.targetMac)} tell ${macToString(a.senderMac)}, length 28`;
    case "rarp-reply":
      return `Reverse Reply ${macToString(a.targetMac)} at ${ipv4ToString(a.targetIp)}, length 28`;
    case "unknown":
      return `op ${a.op.kind === "unknown" ? a.op.value : ""}, length 28`;
  }
}

function llcText(l: LlcRepr, len: number): string {
  const c = l.control;
  const ctrl = c.format === "i" ? `I N(S) ${c.ns} N(R) ${c.nr}` : c.kind === "unknown" ? `${c.format.toUpperCase()} 0x${c.value.toString(16)}` : c.kind.toUpperCase();
  let s = `LLC, dsap 0x${l.dsap.toString(16).padStart(2, "0")}${l.dsapGroup ? " Group" : " Individual"}, ssap 0x${l.ssap
    .toString(16)
    .padStart(2, "0")}${l.response ? " Response" : " Command"}, ctrl ${ctrl}${c.pf ? (l.response ? " F" : " P") : ""}`;
  if (l.dsap === 0x42 && l.ssap === 0x42) s += ": STP";
  if (l.snap) {
    s += `, SNAP oui ${hex6(l.snap.oui)}, protocol ${hex4(l.snap.protocolId)}`;
  } else {
    s += `, length ${len}`;
  }
  return s;
}

function hex6(n: number): string {
  return `0x${n.toString(16).padStart(6, "0")}`;
}

/** A one-line summary of the datagram quoted in an ICMP error: "10.0.0.1 udp port 9". */
function quotedText(invoking: Uint8Array): string {
  const version = invoking.length > 0 ? (invoking[0] as number) >>> 4 : 0;
  if (version === 4 && invoking.length >= 20) {
    const ihl = ((invoking[0] as number) & 0x0f) * 4;
    const proto = invoking[9] as number;
    const dst = ipv4ToString(((invoking[16]! << 24) | (invoking[17]! << 16) | (invoking[18]! << 8) | invoking[19]!) >>> 0);
    if ((proto === 6 || proto === 17) && invoking.length >= ihl + 4) {
      const port = (invoking[ihl + 2]! << 8) | invoking[ihl + 3]!;
      return `${dst} ${PROTOCOL_NAMES[proto]} port ${port}`;
    }
    return `${dst} protocol ${proto}`;
  }
  if (version === 6 && invoking.length >= 40) {
    const proto = invoking[6] as number;
    const dst = ipv6ToString(invoking, 24);
    if ((proto === 6 || proto === 17) && invoking.length >= 44) {
      const port = (invoking[42]! << 8) | invoking[43]!;
      return `${dst} ${PROTOCOL_NAMES[proto]} port ${port}`;
    }
    return `${dst} protocol ${proto}`;
  }
  return "(truncated quote)";
}

function icmpv4Text(m: Icmpv4Repr): string {
  switch (m.kind) {
    case "echo-request":
    case "echo-reply":
      return `echo ${m.kind === "echo-request" ? "request" : "reply"}, id ${m.identifier}, seq ${m.sequence}`;
    case "destination-unreachable": {
      const q = quotedText(m.invoking);
      switch (m.code.kind) {
        case "port-unreachable":
          return `${q} unreachable`;
        case "protocol-unreachable":
          return `${q} protocol unreachable`;
        case "fragmentation-needed":
          return `${q} unreachable - need to frag (mtu ${m.code.nextHopMtu ?? 0})`;
        case "unknown":
          return `${q} unreachable - #${m.code.value}`;
        default:
          return `${q} unreachable - ${m.code.kind}`;
      }
    }
    case "time-exceeded":
      return m.code.kind === "reassembly-time-exceeded" ? `ip reassembly time exceeded` : `time exceeded in-transit`;
    case "parameter-problem":
      return `parameter problem - octet ${m.pointer}`;
    case "redirect":
      return `redirect ${quotedText(m.invoking)} to host ${ipv4ToString(m.gateway)}`;
    case "timestamp":
    case "timestamp-reply":
      return `time stamp ${m.kind === "timestamp" ? "query" : "reply"} id ${m.identifier} seq ${m.sequence}`;
    case "unknown":
      return `type-#${m.type}`;
  }
}

function icmpv6Text(m: Icmpv6Repr): string {
  switch (m.kind) {
    case "echo-request":
    case "echo-reply":
      return `echo ${m.kind === "echo-request" ? "request" : "reply"}, id ${m.identifier}, seq ${m.sequence}`;
    case "destination-unreachable": {
      const code = m.code.kind === "port-unreachable" ? "unreachable port" : m.code.kind === "unknown" ? `code ${m.code.value}` : m.code.kind;
      return `destination unreachable, ${code}, ${quotedText(m.invoking)}`;
    }
    case "packet-too-big":
      return `packet too big, mtu ${m.mtu}`;
    case "time-exceeded":
      return m.code.kind === "reassembly-time-exceeded" ? "time exceeded in-transit, reassembly" : "time exceeded in-transit";
    case "parameter-problem":
      return `parameter problem, ${m.code.kind}, pointer ${m.pointer}`;
    case "router-solicitation":
      return "router solicitation";
    case "router-advertisement":
      return "router advertisement";
    case "neighbor-solicitation":
      return `neighbor solicitation, who has ${ipv6ToString(m.target)}`;
    case "neighbor-advertisement":
      return `neighbor advertisement, tgt is ${ipv6ToString(m.target)}`;
    case "redirect":
      return `redirect, ${ipv6ToString(m.destination)} to ${ipv6ToString(m.target)}`;
    case "mld-query":
      return "multicast listener query";
    case "mld-report":
      return "multicast listener report";
    case "mld-done":
      return "multicast listener done";
    case "mldv2-report": {
      const groups = m.rest.length >= 4 ? (m.rest[2]! << 8) | m.rest[3]! : 0;
      return `multicast listener report v2, ${groups} group record(s)`;
    }
    case "unknown":
      return `type ${m.type}`;
  }
}
