/**
 * Dissection: one captured frame taken apart layer by layer with the `src/wire` codecs, for
 * `wirestack decode` (text and JSON) and for tests that compare us with tshark.
 *
 * Guarantees: never throws on any bytes; every layer that parsed is listed, and where parsing stopped
 * `error` says at which layer and why. Frames cut short by the capture's snap length (caplen < len)
 * are decoded as far as the header bytes go: the missing tail is treated as zeros in a scratch copy, so
 * header fields print, and every checksum that would cover missing bytes is "unverified".
 * Checksums are verified (never enforced): a bad one is reported, and decoding goes on.
 */
import { parseArp, type ArpRepr } from "../wire/arp.ts";
import { WireError } from "../wire/error.ts";
import {
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  ETHERTYPE_IPV6,
  parseEthernet,
  type EthernetHeader,
} from "../wire/ethernet.ts";
import { Icmpv4View, parseIcmpv4, type Icmpv4Repr } from "../wire/icmpv4.ts";
import { Icmpv6View, parseIcmpv6, type Icmpv6Repr } from "../wire/icmpv6.ts";
import { parseIpv4, IP_PROTOCOL_ICMP, IP_PROTOCOL_TCP, IP_PROTOCOL_UDP, type Ipv4Repr } from "../wire/ipv4.ts";
import { parseIpv6, type Ipv6Repr } from "../wire/ipv6.ts";
import { walkIpv6Chain, type Ipv6ChainEntry } from "../wire/ipv6-ext.ts";
import { llcEtherType, parseLlc, type LlcRepr } from "../wire/llc.ts";
import { TcpView, parseTcp, type TcpRepr } from "../wire/tcp.ts";
import { UdpView, type UdpRepr } from "../wire/udp.ts";
import type { PseudoHeader } from "../wire/checksum.ts";

const IP_PROTOCOL_ICMPV6 = 58;

/** Checksum verdicts, as Wireshark names them (its `*.checksum.status` values 0–3). */
export type ChecksumStatus = "bad" | "good" | "unverified" | "not-present";

/** The layers a frame can hold, outermost first. */
export type Layer =
  | { readonly name: "eth"; readonly repr: EthernetHeader }
  | { readonly name: "llc"; readonly repr: LlcRepr }
  | { readonly name: "arp"; readonly repr: ArpRepr }
  | { readonly name: "ipv4"; readonly repr: Ipv4Repr; readonly checksum: ChecksumStatus; readonly length: number }
  | {
      readonly name: "ipv6";
      readonly repr: Ipv6Repr;
      readonly chain: readonly Ipv6ChainEntry[];
      readonly upperLayer: number;
    }
  | {
      readonly name: "icmpv4";
      readonly repr: Icmpv4Repr;
      /** The Type and Code octets as sent, whatever `repr.kind` makes of them. */
      readonly type: number;
      readonly code: number;
      readonly checksum: ChecksumStatus;
      readonly length: number;
    }
  | {
      readonly name: "icmpv6";
      readonly repr: Icmpv6Repr;
      readonly type: number;
      readonly code: number;
      readonly checksum: ChecksumStatus;
      readonly length: number;
    }
  | { readonly name: "udp"; readonly repr: UdpRepr; readonly length: number; readonly checksum: ChecksumStatus }
  | { readonly name: "tcp"; readonly repr: TcpRepr; readonly headerLen: number; readonly checksum: ChecksumStatus };

export type LayerName = Layer["name"];

/** A non-first fragment: its bytes belong to a datagram this frame alone cannot decode. */
export interface FragmentInfo {
  readonly family: 4 | 6;
  readonly offset: number;
  readonly more: boolean;
  readonly ident: number;
  readonly protocol: number;
  readonly length: number;
}

export interface Dissection {
  readonly layers: Layer[];
  /** Where and why decoding stopped early. */
  error: WireError | undefined;
  /** Set when this frame is an IP fragment (first or later). */
  fragment: FragmentInfo | undefined;
  /** Captured bytes (caplen) and bytes on the wire (len). */
  readonly caplen: number;
  readonly len: number;
}

// Scratch space for frames shorter than they were on the wire: reused, so snap-length-truncated
// captures (the common `tcpdump -s 128` case) cost a copy, not an allocation.
// Only the first `…Dirty` bytes of a scratch can be non-zero (nothing writes into a scratch but
// `extendTo`), so each frame clears what the previous copy left rather than its whole length.
let frameScratch = new Uint8Array(65536 + 64);
let innerScratch = new Uint8Array(65536 + 64);
let frameDirty = 0;
let innerDirty = 0;

function extendTo(bytes: Uint8Array, length: number, inner: boolean): Uint8Array {
  if (bytes.length >= length) return bytes;
  let scratch = inner ? innerScratch : frameScratch;
  let dirty = inner ? innerDirty : frameDirty;
  if (scratch.length < length) {
    scratch = new Uint8Array(length);
    dirty = 0;
    if (inner) innerScratch = scratch;
    else frameScratch = scratch;
  }
  scratch.set(bytes, 0);
  if (dirty > bytes.length) scratch.fill(0, bytes.length, dirty);
  if (inner) innerDirty = bytes.length;
  else frameDirty = bytes.length;
  return scratch.subarray(0, length);
}

/** Takes apart an Ethernet frame (`data` captured, `origLen` on the wire). */
export function dissectFrame(data: Uint8Array, origLen = data.length): Dissection {
  const d: Dissection = { layers: [], error: undefined, fragment: undefined, caplen: data.length, len: origLen };
  // Offsets below `captured` (relative to `frame`) are real bytes; the rest are zeros we supplied.
  const frame = origLen > data.length && origLen <= 262144 ? extendTo(data, origLen, false) : data;
  dissectEthernet(d, frame, data.length);
  return d;
}

/** `captured` counts the real bytes at the start of `frame`. */
function dissectEthernet(d: Dissection, frame: Uint8Array, captured: number): void {
  const eth = parseEthernet(frame);
  if (eth instanceof WireError) {
    d.error = eth;
    return;
  }
  d.layers.push({ name: "eth", repr: eth });
  const headerLen = eth.payload.byteOffset - frame.byteOffset;
  const payloadCaptured = captured - headerLen;
  if (eth.kind === "ieee802.3") {
    const llc = parseLlc(eth.payload);
    if (llc instanceof WireError) {
      d.error = llc;
      return;
    }
    d.layers.push({ name: "llc", repr: llc });
    const etherType = llcEtherType(llc);
    if (etherType !== undefined) {
      const offset = llc.payload.byteOffset - eth.payload.byteOffset;
      dissectEtherType(d, etherType, llc.payload, payloadCaptured - offset);
    }
    return;
  }
  dissectEtherType(d, eth.etherType, eth.payload, payloadCaptured);
}

function dissectEtherType(d: Dissection, etherType: number, payload: Uint8Array, captured: number): void {
  switch (etherType) {
    case ETHERTYPE_ARP: {
      const arp = parseArp(payload);
      if (arp instanceof WireError) d.error = arp;
      else d.layers.push({ name: "arp", repr: arp });
      return;
    }
    case ETHERTYPE_IPV4:
      dissectIpv4(d, payload, captured);
      return;
    case ETHERTYPE_IPV6:
      dissectIpv6(d, payload, captured);
      return;
    default:
      return; // An EtherType we do not decode: the Ethernet layer says which.
  }
}

function dissectIpv4(d: Dissection, bytes: Uint8Array, captured: number): void {
  const ip = parseIpv4(bytes, { strictChecksum: false, strictOptions: false });
  if (ip instanceof WireError) {
    d.error = ip;
    return;
  }
  const headerLen = ip.payload.byteOffset - bytes.byteOffset;
  const length = headerLen + ip.payload.length;
  d.layers.push({ name: "ipv4", repr: ip, checksum: ip.checksumOk ? "good" : "bad", length });
  const fragmented = ip.moreFragments || ip.fragmentOffset !== 0;
  if (fragmented) {
    d.fragment = {
      family: 4,
      offset: ip.fragmentOffset,
      more: ip.moreFragments,
      ident: ip.ident,
      protocol: ip.protocol,
      length: ip.payload.length,
    };
    if (ip.fragmentOffset !== 0) return;
  }
  const ph: PseudoHeader = { family: 4, src: ip.src, dst: ip.dst };
  const complete = !fragmented && captured >= length;
  dissectUpper(d, ip.protocol, ip.payload, ph, complete, captured - headerLen);
}

function dissectIpv6(d: Dissection, bytes: Uint8Array, captured: number): void {
  const ip = parseIpv6(bytes);
  if (ip instanceof WireError) {
    d.error = ip;
    return;
  }
  const chain = walkIpv6Chain(ip.nextHeader, ip.payload);
  if (chain instanceof WireError) {
    d.layers.push({ name: "ipv6", repr: ip, chain: [], upperLayer: ip.nextHeader });
    d.error = chain;
    return;
  }
  d.layers.push({ name: "ipv6", repr: ip, chain: chain.headers, upperLayer: chain.upperLayer });
  const frag = chain.headers.find((h) => h.kind === "fragment");
  const upperBytes = ip.payload.subarray(chain.payloadOffset);
  if (frag && frag.kind === "fragment") {
    d.fragment = {
      family: 6,
      offset: frag.fragmentOffset,
      more: frag.moreFragments,
      ident: frag.identification,
      protocol: chain.upperLayer,
      length: upperBytes.length,
    };
    if (frag.fragmentOffset !== 0) return;
  }
  const ph: PseudoHeader = { family: 6, src: ip.src, dst: ip.dst };
  const complete = frag === undefined && captured >= 40 + ip.payload.length;
  dissectUpper(d, chain.upperLayer, upperBytes, ph, complete, captured - 40 - chain.payloadOffset);
}

/**
 * Transport and ICMP. `complete` is false when `bytes` is only part of the datagram (a first fragment,
 * or a capture cut short), so checksums cannot be checked and length fields may point past the end.
 * `captured` counts the real (not zero-filled) bytes at the start of `bytes`.
 */
function dissectUpper(
  d: Dissection,
  protocol: number,
  bytes: Uint8Array,
  ph: PseudoHeader,
  complete: boolean,
  captured: number,
): void {
  switch (protocol) {
    case IP_PROTOCOL_TCP: {
      const tcp = parseTcp(bytes);
      if (tcp instanceof WireError) {
        d.error = tcp;
        return;
      }
      // parseTcp succeeded, so Data Offset is sound; a view is built only to verify the checksum.
      const headerLen = bytes.length - tcp.payload.length;
      const checksum: ChecksumStatus = complete
        ? (TcpView.check(bytes) as TcpView).verifyChecksum(ph)
          ? "good"
          : "bad"
        : "unverified";
      d.layers.push({ name: "tcp", repr: tcp, headerLen, checksum });
      if (tcp.options instanceof WireError) d.error = tcp.options;
      return;
    }
    case IP_PROTOCOL_UDP: {
      // A first fragment holds the UDP header but not the whole datagram its Length field names.
      let udpBytes = bytes;
      if (!complete && bytes.length >= 8) {
        const declared = ((bytes[4] as number) << 8) | (bytes[5] as number);
        if (declared > bytes.length) udpBytes = extendTo(bytes, declared, true);
      }
      const v = UdpView.check(udpBytes);
      if (v instanceof WireError) {
        d.error = v;
        return;
      }
      let checksum: ChecksumStatus;
      // RFC 768: zero means "no checksum" over IPv4 — but only if the zero was captured, not supplied.
      if (captured < 8) checksum = "unverified";
      else if (v.checksum === 0 && ph.family === 4) checksum = "not-present";
      else if (!complete) checksum = "unverified";
      else checksum = v.verifyChecksum(ph) ? "good" : "bad";
      d.layers.push({
        name: "udp",
        repr: { srcPort: v.srcPort, dstPort: v.dstPort, payload: v.payload },
        length: v.length,
        checksum,
      });
      return;
    }
    case IP_PROTOCOL_ICMP: {
      const icmp = parseIcmpv4(bytes, { verifyChecksum: false });
      if (icmp instanceof WireError) {
        d.error = icmp;
        return;
      }
      const v = Icmpv4View.check(bytes) as Icmpv4View;
      const checksum: ChecksumStatus = complete ? (v.verifyChecksum() ? "good" : "bad") : "unverified";
      d.layers.push({ name: "icmpv4", repr: icmp, type: v.type, code: v.code, checksum, length: bytes.length });
      return;
    }
    case IP_PROTOCOL_ICMPV6: {
      if (ph.family !== 6) return;
      const icmp = parseIcmpv6(bytes);
      if (icmp instanceof WireError) {
        d.error = icmp;
        return;
      }
      const v = Icmpv6View.check(bytes) as Icmpv6View;
      const checksum: ChecksumStatus = complete ? (v.verifyChecksum(ph) ? "good" : "bad") : "unverified";
      d.layers.push({ name: "icmpv6", repr: icmp, type: v.type, code: v.code, checksum, length: bytes.length });
      return;
    }
    default:
      return;
  }
}

/** The layer named `name`, if the frame has one. */
export function findLayer<N extends LayerName>(d: Dissection, name: N): Extract<Layer, { name: N }> | undefined {
  for (const l of d.layers) if (l.name === name) return l as Extract<Layer, { name: N }>;
  return undefined;
}
