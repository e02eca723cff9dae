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
import type { EthernetHeader, VlanTag } from "../wire/ethernet.ts";
import type { Icmpv4Repr } from "../wire/icmpv4.ts";
import type { Icmpv6Repr } from "../wire/icmpv6.ts";
import { LLC_S, LLC_U, llcEtherType, type LlcRepr } from "../wire/llc.ts";
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
  private recent0Ports = -1;
  private recent0Src = "";
  private recent0Dst = "";
  private recent0Base: { seq: number; ack: number } | undefined = undefined;
  private recent1Ports = -1;
  private recent1Src = "";
  private recent1Dst = "";
  private recent1Base: { seq: number; ack: number } | undefined = undefined;
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
    return this.secPrefix + pad6(Math.floor(nsec / 1000));
  }

  private body(d: Dissection): string {
    const first = d.layers[0];
    if (first === undefined || first.name !== "eth") return `[|ether: ${reasonOf(d.error)}]`;
    const eth = first.repr;
    const link = this.opts.link === true;
    let out = link ? this.linkHeader(eth, d.len) : "";
    let i = 1;
    const second = d.layers[1];
    if (second?.name === "llc") {
      const llc = llcText(second.repr, link);
      out += llc.text;
      if (!llc.inner) return withMarker(out, d.error);
      i = 2;
    } else if (eth.kind === "ieee802.3") {
      if (!link) out += `802.3, length ${eth.length}`;
      return withMarker(out, d.error);
    }
    const layer = d.layers[i];
    if (layer === undefined) {
      // An EtherType we do not decode: tcpdump names it (with -e the link header already did).
      if (!link && d.error === undefined && eth.kind === "ethernet-ii") {
        out += `ethertype ${ETHERTYPE_NAMES[eth.etherType] ?? "Unknown"} (${hex4(eth.etherType)}), length ${d.len}`;
      }
      return withMarker(out, d.error);
    }
    const text = this.layerText(layer, d.layers.slice(i + 1), d);
    return withMarker(out + (text ?? ""), d.error);
  }

  /**
   * tcpdump -e's link header, through the separator before the payload: print-ether.c prints the
   * 802.3 length field (not the frame length) and, for a tagged frame, the tags inline ending in ", ".
   */
  private linkHeader(eth: EthernetHeader, len: number): string {
    const s = `${macToString(eth.src)} > ${macToString(eth.dst)}`;
    if (eth.kind === "ieee802.3" && !eth.tag) return `${s}, 802.3, length ${eth.length}: `;
    const first = eth.outerTag ?? eth.tag;
    if (first) return `${s}, ethertype ${etherTypeText(first.tpid)}, length ${len}: ${vlanText(eth)}, `;
    return `${s}, ethertype ${etherTypeText(eth.kind === "ethernet-ii" ? eth.etherType : 0)}, length ${len}: `;
  }

  /** Text for the network layer and what it carries. Without -e, tcpdump names the protocol first. */
  private layerText(layer: Layer, rest: readonly Layer[], d: Dissection): string | undefined {
    const link = this.opts.link === true;
    switch (layer.name) {
      case "arp":
        return `${link ? "" : "ARP, "}${arpText(layer.repr)}`;
      case "ipv4": {
        const ip = layer.repr;
        const src = ipv4Text(ip.src);
        const dst = ipv4Text(ip.dst);
        const name = link ? "" : "IP ";
        // print-ip.c: a later fragment's bytes cannot be dissected on their own.
        if (d.fragment && d.fragment.offset !== 0) return `${name}${src} > ${dst}: ip-proto-${ip.protocol}`;
        return `${name}${this.upperText(src, dst, rest[0], ip.protocol, ip.payload.length, "")}`;
      }
      case "ipv6": {
        const ip = layer.repr;
        const src = ipv6ToString(ip.src);
        const dst = ipv6ToString(ip.dst);
        const name = link ? "" : "IP6 ";
        let ext = "";
        for (const h of layer.chain) {
          if (h.kind === "hop-by-hop") ext += "HBH ";
          else if (h.kind === "destination-options") ext += "DSTOPT ";
          else if (h.kind === "routing") ext += `srcrt (type ${h.routingType}, segleft ${h.segmentsLeft}) `;
          else if (h.kind === "fragment") ext += `frag (${h.fragmentOffset}|${d.fragment?.length ?? 0}) `;
        }
        if (d.fragment && d.fragment.offset !== 0) return `${name}${src} > ${dst}: ${ext.trimEnd()}`;
        const upperLen = d.fragment ? d.fragment.length : undefined;
        return `${name}${this.upperText(src, dst, rest[0], layer.upperLayer, upperLen ?? -1, ext)}`;
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

  /**
   * The remembered base of a conversation. The last two found are kept aside: a bulk transfer
   * alternates data and ACKs, so most segments need neither a key string nor a Map lookup. Callers
   * forget them (ports -1) whenever `tcpBases` changes.
   */
  private tcpBase(src: string, dst: string, srcPort: number, dstPort: number): { seq: number; ack: number } | undefined {
    const ports = srcPort * 65536 + dstPort;
    if (ports === this.recent0Ports && src === this.recent0Src && dst === this.recent0Dst) return this.recent0Base;
    if (ports === this.recent1Ports && src === this.recent1Src && dst === this.recent1Dst) return this.recent1Base;
    const base = this.tcpBases.get(src + "." + srcPort + ">" + dst + "." + dstPort);
    if (base !== undefined) {
      this.recent1Ports = this.recent0Ports;
      this.recent1Src = this.recent0Src;
      this.recent1Dst = this.recent0Dst;
      this.recent1Base = this.recent0Base;
      this.recent0Ports = ports;
      this.recent0Src = src;
      this.recent0Dst = dst;
      this.recent0Base = base;
    }
    return base;
  }

  private tcpText(src: string, dst: string, layer: Extract<Layer, { name: "tcp" }>): string {
    const t = layer.repr;
    const flags = t.flags;
    let seq = t.seq;
    let ack = t.ack;
    // SACK blocks acknowledge the peer's bytes: print-tcp.c shows them relative to this direction's
    // ack base, the same base as the ack field.
    let sackBase = 0;
    if (!this.opts.absoluteSeq && flags & TCP_ACK) {
      const mine = flags & TCP_SYN ? undefined : this.tcpBase(src, dst, t.srcPort, t.dstPort);
      if (mine === undefined) {
        // print-tcp.c: a new conversation, or a SYN restarting one: remember, print absolute.
        const fwd = src + "." + t.srcPort + ">" + dst + "." + t.dstPort;
        const rev = dst + "." + t.dstPort + ">" + src + "." + t.srcPort;
        this.recent0Ports = this.recent1Ports = -1;
        this.tcpBases.set(fwd, { seq, ack: (ack - 1) >>> 0 });
        this.tcpBases.set(rev, { seq: (ack - 1) >>> 0, ack: seq });
        sackBase = (ack - 1) >>> 0;
        if (this.tcpBases.size > 200_000) this.tcpBases.clear(); // bound the memory of a huge capture
      } else {
        seq = (seq - mine.seq) >>> 0;
        ack = (ack - mine.ack) >>> 0;
        sackBase = mine.ack;
      }
    }
    const len = t.payload.length;
    let s = flagsText(flags);
    if (len > 0 || flags & (TCP_SYN | TCP_FIN | TCP_RST)) {
      s += len > 0 ? `, seq ${seq}:${(seq + len) >>> 0}` : `, seq ${seq}`;
    }
    if (flags & TCP_ACK) s += `, ack ${ack}`;
    s += `, win ${t.window}`;
    if (flags & TCP_URG) s += `, urg ${t.urgentPointer}`;
    if (t.options instanceof WireError) s += ", options [bad opts]";
    else if (t.options.length > 0) {
      s += ", options [";
      for (let k = 0; k < t.options.length; k++) s += (k === 0 ? "" : ",") + tcpOptionText(t.options[k] as TcpOption, sackBase);
      s += "]";
    }
    return `${s}, length ${len}`;
  }
}

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** 0..999999 as six digits: the microseconds of a timestamp, once per line. */
function pad6(n: number): string {
  if (n >= 100000) return String(n);
  if (n >= 10000) return "0" + n;
  if (n >= 1000) return "00" + n;
  if (n >= 100) return "000" + n;
  if (n >= 10) return "0000" + n;
  return "00000" + n;
}

// A capture holds few addresses and many frames: each text form is built once. Bounded so a scan
// across millions of addresses cannot grow it without limit.
const ipv4Texts = new Map<number, string>();

function ipv4Text(addr: number): string {
  let s = ipv4Texts.get(addr);
  if (s === undefined) {
    if (ipv4Texts.size >= 4096) ipv4Texts.clear();
    s = ipv4ToString(addr);
    ipv4Texts.set(addr, s);
  }
  return s;
}

// "Flags [S.]" for each of the 4096 values of the 12 flag bits, built on first use.
const flagsTexts: (string | undefined)[] = [];

function flagsText(flags: number): string {
  return (flagsTexts[flags] ??= `Flags [${tcpFlagsString(flags)}]`);
}

function reasonOf(e: WireError | undefined): string {
  return e ? `${e.reason}` : "empty";
}

function etherTypeText(type: number): string {
  return `${ETHERTYPE_NAMES[type] ?? "Unknown"} (${hex4(type)})`;
}

/** print-vlan: each tag as "vlan V, p P[, DEI]" followed by the type it carries. */
function vlanText(eth: EthernetHeader): string {
  const tag = eth.tag;
  if (!tag) return "";
  const tci = (t: VlanTag): string => `vlan ${t.vid}, p ${t.pcp}${t.dei ? ", DEI" : ""}`;
  const outer = eth.outerTag ? `${tci(eth.outerTag)}, ethertype ${etherTypeText(tag.tpid)}, ` : "";
  const inner = eth.kind === "ethernet-ii" ? `ethertype ${etherTypeText(eth.etherType)}` : `802.3, length ${eth.length}`;
  return `${outer}${tci(tag)}, ${inner}`;
}

/** Appends the marker of a frame that stopped decoding early: `[|layer: reason detail]`. */
function withMarker(out: string, error: WireError | undefined): string {
  if (error === undefined) return out.endsWith(": ") || out.endsWith(", ") ? out.slice(0, -2) : out;
  const marker = `[|${error.layer}: ${error.reason}${error.detail ? ` ${error.detail}` : ""}]`;
  return out.length === 0 ? marker : out.endsWith(" ") ? out + marker : `${out} ${marker}`;
}

function tcpOptionText(o: TcpOption, sackBase: number): string {
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
      return `sack ${o.blocks.length} ${o.blocks.map((b) => `{${(b.left - sackBase) >>> 0}:${(b.right - sackBase) >>> 0}}`).join("")}`;
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

/** tcpdump's names for the SAPs it knows (llc.h, `llc_values`). */
const SAP_NAMES: Record<number, string> = {
  0x00: "Null",
  0x02: "802.1B I",
  0x03: "802.1B G",
  0x04: "SNA",
  0x06: "IP",
  0x0e: "ProWay NM",
  0x42: "STP",
  0x4e: "RS511",
  0x7e: "ISO8208",
  0x8e: "ProWay",
  0xaa: "SNAP",
  0xe0: "IPX",
  0xf0: "NetBeui",
  0xfe: "OSI",
  0xff: "Global",
};

/** STP protocol versions as print-stp.c names them. */
const STP_VERSIONS: Record<number, string> = { 0: "802.1d", 2: "802.1w", 3: "802.1s", 4: "SPB" };

/** The control field as on the wire: one octet (U), or two read little-endian as print-llc.c does (I, S). */
function llcControlValue(c: LlcRepr["control"]): number {
  switch (c.format) {
    case "u":
      return (c.kind === "unknown" ? c.value : LLC_U[c.kind]) | (c.pf ? 0x10 : 0);
    case "s":
      return (c.kind === "unknown" ? c.value : LLC_S[c.kind]) | (((c.nr << 1) | (c.pf ? 1 : 0)) << 8);
    case "i":
      return (c.ns << 1) | (((c.nr << 1) | (c.pf ? 1 : 0)) << 8);
  }
}

/**
 * The LLC part of a line. `inner` says whether an EtherType's layers follow (SNAP with an EtherType
 * OUI). As print-llc.c: with -e the LLC header is spelled out; without it, SNAP-encapsulated IP and
 * STP print as if the LLC header were not there. STP BPDU fields are not decoded: only the version
 * and length print (tcpdump adds the BPDU details between them).
 */
function llcText(l: LlcRepr, link: boolean): { text: string; inner: boolean } {
  const c = l.control;
  const len = l.payload.length;
  const isStp = l.dsap === 0x42 && l.ssap === 0x42 && c.format === "u" && c.kind === "ui";
  const etherType = llcEtherType(l);
  if (link) {
    const value = llcControlValue(c);
    const sap = (v: number): string => `${SAP_NAMES[v] ?? "Unknown"} (0x${v.toString(16).padStart(2, "0")})`;
    const ctrl = c.format === "u" ? `0x${value.toString(16).padStart(2, "0")}` : `0x${value.toString(16).padStart(4, "0")}`;
    const head = `LLC, dsap ${sap(l.dsap)} ${l.dsapGroup ? "Group" : "Individual"}, ssap ${sap(l.ssap)} ${l.response ? "Response" : "Command"}, ctrl ${ctrl}: `;
    if (isStp) return { text: head + stpText(l.payload), inner: false };
    if (l.snap) {
      const ouiName = l.snap.oui === 0 ? "Ethernet" : l.snap.oui === 0xf8 ? "Cisco bridged" : "Unknown";
      const proto = etherType !== undefined ? `ethertype ${etherTypeText(etherType)}` : `pid Unknown (${hex4(l.snap.protocolId)})`;
      return { text: `${head}oui ${ouiName} (${hex6(l.snap.oui)}), ${proto}, length ${len}: `, inner: etherType !== undefined };
    }
    return { text: `${head}length ${len}`, inner: false };
  }
  if (isStp) return { text: stpText(l.payload), inner: false };
  if (etherType !== undefined) return { text: "", inner: true };
  const ctrl = c.format === "i" ? `I N(S) ${c.ns} N(R) ${c.nr}` : c.kind === "unknown" ? `${c.format.toUpperCase()} 0x${c.value.toString(16)}` : c.kind.toUpperCase();
  let s = `LLC, dsap 0x${l.dsap.toString(16).padStart(2, "0")}${l.dsapGroup ? " Group" : " Individual"}, ssap 0x${l.ssap
    .toString(16)
    .padStart(2, "0")}${l.response ? " Response" : " Command"}, ctrl ${ctrl}${c.pf ? (l.response ? " F" : " P") : ""}`;
  s += l.snap ? `, SNAP oui ${hex6(l.snap.oui)}, protocol ${hex4(l.snap.protocolId)}` : `, length ${len}`;
  return { text: s, inner: false };
}

/** "STP 802.1d, length 35": the BPDU's protocol version (IEEE 802.1D §9.3) and length. */
function stpText(bpdu: Uint8Array): string {
  const version = bpdu.length >= 3 ? (bpdu[2] as number) : undefined;
  const name = version === undefined ? "[|stp]" : (STP_VERSIONS[version] ?? `Unknown STP protocol (0x${version.toString(16).padStart(2, "0")})`);
  return `STP ${name}, length ${bpdu.length}`;
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
