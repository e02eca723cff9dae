/**
 * ARP packet (RFC 826; RARP operation codes from RFC 903; names as in the IANA ARP parameters registry).
 *
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |      Hardware type (ar$hrd)   |     Protocol type (ar$pro)    |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  | HLen (ar$hln) | PLen (ar$pln) |       Operation (ar$op)       |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |  Sender hardware address (ar$sha), ar$hln octets              |
 *  |  Sender protocol address (ar$spa), ar$pln octets              |
 *  |  Target hardware address (ar$tha), ar$hln octets              |
 *  |  Target protocol address (ar$tpa), ar$pln octets              |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * `ArpView.check` verifies once that the 8 fixed octets and the 2 × (hln + pln) address octets they
 * announce are present; after that no accessor can read out of bounds. Bytes after the packet
 * (Ethernet padding: an ARP packet is 28 octets in a 46-octet minimum payload) are ignored.
 * Ethernet/IPv4 packets get a typed repr; any other hardware/protocol pair is reported with its
 * addresses as views, so it prints and re-emits unchanged.
 */
import { dataView } from "./bytes.ts";
import { WireError } from "./error.ts";
import { readIpv4, writeIpv4, type Ipv4Address } from "./ip-address.ts";
import type { MacAddress } from "./mac.ts";

/** Hardware type, protocol type, the two lengths and the operation. */
export const ARP_FIXED_LEN = 8;
/** An Ethernet/IPv4 ARP packet: 8 + 2 × (6 + 4). */
export const ARP_PACKET_LEN = 28;
/** ar$hrd for Ethernet (RFC 826: "Ethernet (10Mb)"). */
export const ARP_HTYPE_ETHERNET = 1;
/** ar$pro for IPv4: the EtherType, as RFC 826 specifies. */
export const ARP_PTYPE_IPV4 = 0x0800;

/** ar$op values (RFC 826: request 1, reply 2; RFC 903: RARP request 3, reply 4). */
export const ARP_OP = { request: 1, reply: 2, "rarp-request": 3, "rarp-reply": 4 } as const;
/** The named operations. */
export type ArpOperationKind = keyof typeof ARP_OP;

/** ar$op; other codes are kept with their value so they print and re-emit unchanged. */
export type ArpOperation =
  | { readonly kind: ArpOperationKind }
  | { readonly kind: "unknown"; readonly value: number };

/** ARP for IPv4 over Ethernet: htype 1, ptype 0x0800, hln 6, pln 4. */
export interface ArpEthernetIpv4Repr {
  readonly kind: "ethernet-ipv4";
  readonly op: ArpOperation;
  /** ar$sha. */
  readonly senderMac: MacAddress;
  /** ar$spa. */
  readonly senderIp: Ipv4Address;
  /** ar$tha (all zero in a request, by convention: RFC 826 leaves it unspecified). */
  readonly targetMac: MacAddress;
  /** ar$tpa. */
  readonly targetIp: Ipv4Address;
}

/** Any other hardware/protocol combination, addresses as views over the received bytes. */
export interface ArpOtherRepr {
  readonly kind: "other";
  readonly htype: number;
  readonly ptype: number;
  readonly hlen: number;
  readonly plen: number;
  readonly op: ArpOperation;
  readonly sha: Uint8Array;
  readonly spa: Uint8Array;
  readonly tha: Uint8Array;
  readonly tpa: Uint8Array;
}

/** The meaning of an ARP packet: typed for Ethernet/IPv4, raw views otherwise. */
export type ArpRepr = ArpEthernetIpv4Repr | ArpOtherRepr;

const HTYPE = 0;
const PTYPE = 2;
const HLEN = 4;
const PLEN = 5;
const OPER = 6;

const OPERATIONS: { readonly [K in ArpOperationKind]: ArpOperation } = {
  request: { kind: "request" },
  reply: { kind: "reply" },
  "rarp-request": { kind: "rarp-request" },
  "rarp-reply": { kind: "rarp-reply" },
};

/** The operation for an ar$op value (the known ones are shared constant objects). */
export function arpOperation(value: number): ArpOperation {
  switch (value) {
    case ARP_OP.request:
      return OPERATIONS.request;
    case ARP_OP.reply:
      return OPERATIONS.reply;
    case ARP_OP["rarp-request"]:
      return OPERATIONS["rarp-request"];
    case ARP_OP["rarp-reply"]:
      return OPERATIONS["rarp-reply"];
    default:
      return { kind: "unknown", value };
  }
}

/** The ar$op value of an operation. */
export function arpOperationValue(op: ArpOperation): number {
  return op.kind === "unknown" ? op.value : ARP_OP[op.kind];
}

/** Zero-copy view over an ARP packet whose lengths have been checked. */
export class ArpView {
  private readonly view: DataView;

  private constructor(readonly bytes: Uint8Array) {
    this.view = dataView(bytes);
  }

  /** Checks the fixed part and that the four addresses ar$hln and ar$pln announce are present. */
  static check(bytes: Uint8Array): ArpView | WireError {
    if (bytes.length < ARP_FIXED_LEN) return new WireError("arp", "truncated", `${bytes.length} < ${ARP_FIXED_LEN} bytes`);
    const v = new ArpView(bytes);
    const len = v.packetLen;
    if (len > bytes.length) {
      return new WireError("arp", "truncated", `hln ${v.hlen} pln ${v.plen} need ${len} > ${bytes.length} bytes`);
    }
    return v;
  }

  get htype(): number {
    return this.view.getUint16(HTYPE);
  }
  get ptype(): number {
    return this.view.getUint16(PTYPE);
  }
  get hlen(): number {
    return this.view.getUint8(HLEN);
  }
  get plen(): number {
    return this.view.getUint8(PLEN);
  }
  get opValue(): number {
    return this.view.getUint16(OPER);
  }
  get op(): ArpOperation {
    return arpOperation(this.opValue);
  }
  /** Octets of the packet: 8 + 2 × (hln + pln). */
  get packetLen(): number {
    return ARP_FIXED_LEN + 2 * (this.hlen + this.plen);
  }
  /** htype 1, ptype 0x0800, hln 6, pln 4. */
  get isEthernetIpv4(): boolean {
    return this.htype === ARP_HTYPE_ETHERNET && this.ptype === ARP_PTYPE_IPV4 && this.hlen === 6 && this.plen === 4;
  }
  get sha(): Uint8Array {
    return this.bytes.subarray(ARP_FIXED_LEN, ARP_FIXED_LEN + this.hlen);
  }
  get spa(): Uint8Array {
    const at = ARP_FIXED_LEN + this.hlen;
    return this.bytes.subarray(at, at + this.plen);
  }
  get tha(): Uint8Array {
    const at = ARP_FIXED_LEN + this.hlen + this.plen;
    return this.bytes.subarray(at, at + this.hlen);
  }
  get tpa(): Uint8Array {
    const at = ARP_FIXED_LEN + 2 * this.hlen + this.plen;
    return this.bytes.subarray(at, at + this.plen);
  }
}

/** Parses an ARP packet (the payload of an Ethernet frame with EtherType 0x0806, padding included). */
export function parseArp(bytes: Uint8Array): ArpRepr | WireError {
  const v = ArpView.check(bytes);
  if (v instanceof WireError) return v;
  if (v.isEthernetIpv4) {
    return {
      kind: "ethernet-ipv4",
      op: v.op,
      senderMac: v.sha,
      senderIp: readIpv4(bytes, 14),
      targetMac: v.tha,
      targetIp: readIpv4(bytes, 24),
    };
  }
  return {
    kind: "other",
    htype: v.htype,
    ptype: v.ptype,
    hlen: v.hlen,
    plen: v.plen,
    op: v.op,
    sha: v.sha,
    spa: v.spa,
    tha: v.tha,
    tpa: v.tpa,
  };
}

/** Bytes `emitArp` writes: 28 for Ethernet/IPv4, 8 + 2 × (hlen + plen) otherwise. */
export function arpLength(repr: ArpRepr): number {
  return repr.kind === "ethernet-ipv4" ? ARP_PACKET_LEN : ARP_FIXED_LEN + 2 * (repr.hlen + repr.plen);
}

function checkField(name: string, value: number, max: number): void {
  if (!Number.isInteger(value) || value < 0 || value > max) throw new RangeError(`ARP ${name} ${value} not in 0..${max}`);
}

/**
 * Writes the packet at `out[at..]` and returns the offset after it (no Ethernet padding is added).
 * Throws on a repr that cannot be sent (a MAC that is not 6 bytes; for "other", an address whose length
 * differs from hlen/plen or a field out of range).
 */
export function emitArp(repr: ArpRepr, out: Uint8Array, at: number): number {
  const view = dataView(out);
  const op = arpOperationValue(repr.op);
  checkField("operation", op, 0xffff);
  switch (repr.kind) {
    case "ethernet-ipv4":
      if (repr.senderMac.length !== 6 || repr.targetMac.length !== 6) throw new RangeError("ARP MAC addresses are 6 bytes");
      view.setUint16(at + HTYPE, ARP_HTYPE_ETHERNET);
      view.setUint16(at + PTYPE, ARP_PTYPE_IPV4);
      view.setUint8(at + HLEN, 6);
      view.setUint8(at + PLEN, 4);
      view.setUint16(at + OPER, op);
      out.set(repr.senderMac, at + 8);
      writeIpv4(out, at + 14, repr.senderIp);
      out.set(repr.targetMac, at + 18);
      writeIpv4(out, at + 24, repr.targetIp);
      return at + ARP_PACKET_LEN;
    case "other": {
      checkField("hardware type", repr.htype, 0xffff);
      checkField("protocol type", repr.ptype, 0xffff);
      checkField("hardware length", repr.hlen, 0xff);
      checkField("protocol length", repr.plen, 0xff);
      const { hlen, plen } = repr;
      if (repr.sha.length !== hlen || repr.tha.length !== hlen || repr.spa.length !== plen || repr.tpa.length !== plen) {
        throw new RangeError(`ARP addresses do not match hln ${hlen} / pln ${plen}`);
      }
      view.setUint16(at + HTYPE, repr.htype);
      view.setUint16(at + PTYPE, repr.ptype);
      view.setUint8(at + HLEN, hlen);
      view.setUint8(at + PLEN, plen);
      view.setUint16(at + OPER, op);
      let off = at + ARP_FIXED_LEN;
      for (const field of [repr.sha, repr.spa, repr.tha, repr.tpa]) {
        out.set(field, off);
        off += field.length;
      }
      return off;
    }
    default:
      return assertNever(repr);
  }
}

function assertNever(x: never): never {
  throw new Error(`unexpected value ${String(x)}`);
}
