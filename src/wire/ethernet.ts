/**
 * Ethernet frame header: Ethernet II (RFC 894 for IPv4, RFC 2464 for IPv6), IEEE 802.3 length framing
 * (RFC 1042, IEEE 802.3 §3.2.6) and IEEE 802.1Q VLAN tags (one C-tag, or an 802.1ad S-tag in front).
 *
 *   0                   1                   2                   3
 *   0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                  Destination MAC address                      |
 *  +                               +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |                               |                               |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+                               +
 *  |                     Source MAC address                        |
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |  TPID 0x8100 / 0x88a8 (opt.)  | PCP |D|          VID          |   802.1Q tag (0, 1 or 2)
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *  |   EtherType or Length         |  Payload ...
 *  +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
 *
 * Frames are as devices deliver them: no preamble, no FCS. The Type/Length field decides the framing:
 * >= 0x0600 is an EtherType (Ethernet II); <= 1500 (0x05DC) is an IEEE 802.3 length and the payload is
 * an LLC PDU (see llc.ts) bounded by that length, the rest being padding; 1501–1535 is neither.
 * `EthernetView.check` walks the tags and checks every length once; after that no accessor can read out
 * of bounds. Payloads are `subarray` views over the frame.
 */
import { placePayload, put16 } from "./bytes.ts";
import { WireError } from "./error.ts";
import type { MacAddress } from "./mac.ts";

/** Destination, source and Type/Length, without tags. */
export const ETHERNET_HEADER_LEN = 14;
/** One 802.1Q tag: TPID and TCI. */
export const VLAN_TAG_LEN = 4;
/** The shortest frame a station sends, without the 4-byte FCS (IEEE 802.3 §4.4.2: 64 with FCS). */
export const ETHERNET_MIN_FRAME_LEN = 60;
/** The largest value of an IEEE 802.3 length field (IEEE 802.3 §3.2.6). */
export const ETHERNET_MAX_LENGTH_FIELD = 1500;
/** The smallest EtherType (IEEE 802.3 §3.2.6: Type values are >= 1536). */
export const ETHERTYPE_MIN = 0x0600;

/** IPv4 (RFC 894). */
export const ETHERTYPE_IPV4 = 0x0800;
/** ARP (RFC 826). */
export const ETHERTYPE_ARP = 0x0806;
/** IPv6 (RFC 2464 §3). */
export const ETHERTYPE_IPV6 = 0x86dd;
/** IEEE 802.1Q customer VLAN tag (C-tag). */
export const ETHERTYPE_VLAN = 0x8100;
/** IEEE 802.1ad service VLAN tag (S-tag, "QinQ" outer tag). */
export const ETHERTYPE_QINQ = 0x88a8;

const DST = 0;
const SRC = 6;
const TYPE = 12;
/** Bounds the tag walk: an S-tag and a C-tag is all 802.1ad stacks. */
const MAX_TAGS = 2;

/** An 802.1Q / 802.1ad tag. */
export interface VlanTag {
  /** ETHERTYPE_VLAN (C-tag) or ETHERTYPE_QINQ (S-tag). */
  readonly tpid: number;
  /** Priority Code Point, 0–7. */
  readonly pcp: number;
  /** Drop Eligible Indicator. */
  readonly dei: boolean;
  /** VLAN identifier, 0–4095 (0: priority tag only; 4095 reserved). */
  readonly vid: number;
}

interface EthernetCommon {
  readonly dst: MacAddress;
  readonly src: MacAddress;
  /** The innermost tag (the only one when there is one), or undefined for an untagged frame. */
  readonly tag?: VlanTag | undefined;
  /** With two tags, the outer one (first on the wire, normally an 802.1ad S-tag). */
  readonly outerTag?: VlanTag | undefined;
}

/** What the Type/Length field says, without the payload: the part of a repr that `emitEthernet` writes. */
export type EthernetHeader =
  | (EthernetCommon & { readonly kind: "ethernet-ii"; readonly etherType: number })
  | (EthernetCommon & {
      readonly kind: "ieee802.3";
      /** Bytes of LLC PDU that follow the header (IEEE 802.3 §3.2.6); the rest of the frame is padding. */
      readonly length: number;
    });

/**
 * The meaning of an Ethernet header. `payload` borrows the frame: for Ethernet II everything after the
 * header (including any padding, which the IP layer trims by its own length); for 802.3 exactly `length`
 * bytes, to be handed to `parseLlc`.
 */
export type EthernetRepr = EthernetHeader & { readonly payload: Uint8Array };

// Big-endian 16-bit read straight from the bytes: a DataView per frame costs more than the few
// fields read through it.
function be16(b: Uint8Array, at: number): number {
  return ((b[at] as number) << 8) | (b[at + 1] as number);
}

/** Zero-copy view over an Ethernet frame whose header and tags have been checked. */
export class EthernetView {
  private constructor(
    readonly bytes: Uint8Array,
    /** Tags present, 0–2. */
    readonly tagCount: number,
  ) {}

  /** Checks the header, the tags and (for 802.3) the length field against the bytes present. */
  static check(bytes: Uint8Array): EthernetView | WireError {
    if (bytes.length < ETHERNET_HEADER_LEN) {
      return new WireError("ethernet", "truncated", `${bytes.length} < ${ETHERNET_HEADER_LEN} bytes`);
    }
    let tags = 0;
    let type = be16(bytes, TYPE);
    // IEEE 802.1Q §9.5: an S-tag (0x88a8) may precede the C-tag (0x8100); a C-tag is innermost.
    while (tags < MAX_TAGS && (type === ETHERTYPE_VLAN || (tags === 0 && type === ETHERTYPE_QINQ))) {
      const next = TYPE + (tags + 1) * VLAN_TAG_LEN;
      if (bytes.length < next + 2) {
        return new WireError("ethernet", "truncated", `802.1Q tag ${tags + 1} needs ${next + 2} > ${bytes.length} bytes`);
      }
      tags++;
      type = be16(bytes, next);
    }
    const v = new EthernetView(bytes, tags);
    const headerLen = v.headerLen;
    if (type <= ETHERNET_MAX_LENGTH_FIELD) {
      if (headerLen + type > bytes.length) {
        return new WireError("ethernet", "truncated", `802.3 length ${type} > ${bytes.length - headerLen} bytes`);
      }
    } else if (type < ETHERTYPE_MIN) {
      // IEEE 802.3 §3.2.6: 1501–1535 is neither a length nor a type.
      return new WireError("ethernet", "bad-value", `type/length 0x${type.toString(16)}`);
    }
    return v;
  }

  get dst(): MacAddress {
    return this.bytes.subarray(DST, DST + 6);
  }
  get src(): MacAddress {
    return this.bytes.subarray(SRC, SRC + 6);
  }
  /** Header bytes including tags: 14, 18 or 22. */
  get headerLen(): number {
    return ETHERNET_HEADER_LEN + this.tagCount * VLAN_TAG_LEN;
  }
  /** The Type/Length field after the tags. */
  get typeOrLength(): number {
    return be16(this.bytes, this.headerLen - 2);
  }
  /** True for IEEE 802.3 length framing (an LLC PDU follows). */
  get isIeee8023(): boolean {
    return this.typeOrLength <= ETHERNET_MAX_LENGTH_FIELD;
  }
  /** The innermost tag, or undefined. */
  get tag(): VlanTag | undefined {
    return this.tagCount === 0 ? undefined : this.tagAt(this.tagCount - 1);
  }
  /** The outer tag when two are present, else undefined. */
  get outerTag(): VlanTag | undefined {
    return this.tagCount === 2 ? this.tagAt(0) : undefined;
  }
  /** For 802.3, the `length` bytes after the header; for Ethernet II, the rest of the frame. */
  get payload(): Uint8Array {
    const start = this.headerLen;
    return this.isIeee8023 ? this.bytes.subarray(start, start + this.typeOrLength) : this.bytes.subarray(start);
  }

  private tagAt(index: number): VlanTag {
    const at = TYPE + index * VLAN_TAG_LEN;
    const tci = be16(this.bytes, at + 2);
    // IEEE 802.1Q §9.6: TCI = PCP (3 bits) | DEI (1 bit) | VID (12 bits).
    return { tpid: be16(this.bytes, at), pcp: tci >>> 13, dei: (tci & 0x1000) !== 0, vid: tci & 0x0fff };
  }
}

/** Parses an Ethernet frame (no FCS). */
export function parseEthernet(bytes: Uint8Array): EthernetRepr | WireError {
  const v = EthernetView.check(bytes);
  if (v instanceof WireError) return v;
  const typeOrLength = v.typeOrLength;
  // Literals rather than a spread of the common fields: one shape per kind, built without a copy.
  return typeOrLength <= ETHERNET_MAX_LENGTH_FIELD
    ? { kind: "ieee802.3", length: typeOrLength, dst: v.dst, src: v.src, tag: v.tag, outerTag: v.outerTag, payload: v.payload }
    : { kind: "ethernet-ii", etherType: typeOrLength, dst: v.dst, src: v.src, tag: v.tag, outerTag: v.outerTag, payload: v.payload };
}

/** Header bytes `emitEthernet` writes for `repr`: 14 plus 4 per tag. */
export function ethernetHeaderLen(repr: EthernetHeader): number {
  return ETHERNET_HEADER_LEN + (repr.tag ? VLAN_TAG_LEN : 0) + (repr.outerTag ? VLAN_TAG_LEN : 0);
}

function writeTag(out: Uint8Array, at: number, tag: VlanTag): void {
  if (tag.tpid !== ETHERTYPE_VLAN && tag.tpid !== ETHERTYPE_QINQ) {
    throw new RangeError(`VLAN TPID 0x${tag.tpid.toString(16)} is neither 0x8100 nor 0x88a8`);
  }
  if (!Number.isInteger(tag.pcp) || tag.pcp < 0 || tag.pcp > 7) throw new RangeError(`VLAN PCP ${tag.pcp} not in 0..7`);
  if (!Number.isInteger(tag.vid) || tag.vid < 0 || tag.vid > 0x0fff) throw new RangeError(`VLAN VID ${tag.vid} not in 0..4095`);
  put16(out, at, tag.tpid);
  put16(out, at + 2, (tag.pcp << 13) | (tag.dei ? 0x1000 : 0) | tag.vid);
}

/**
 * Writes the header (with its tags) at `out[at..]`. Without `payload`, returns the payload offset
 * (the caller has placed, or will place, the payload there); with it, places the payload (copied unless
 * it already lies there) and returns the offset after it. No padding is added: a device that needs
 * ETHERNET_MIN_FRAME_LEN pads. Throws on a repr that cannot be sent (an 802.3 length over 1500 or
 * unequal to the payload given, an EtherType below 0x0600, a tag field out of range, an outer tag
 * without an inner 0x8100 tag, a MAC that is not 6 bytes).
 */
export function emitEthernet(
  repr: EthernetHeader & { readonly payload?: Uint8Array | undefined },
  out: Uint8Array,
  at: number,
): number {
  let typeOrLength: number;
  switch (repr.kind) {
    case "ethernet-ii":
      if (!Number.isInteger(repr.etherType) || repr.etherType < ETHERTYPE_MIN || repr.etherType > 0xffff) {
        throw new RangeError(`EtherType 0x${repr.etherType.toString(16)} is not in 0x0600..0xffff`);
      }
      typeOrLength = repr.etherType;
      break;
    case "ieee802.3":
      if (!Number.isInteger(repr.length) || repr.length < 0 || repr.length > ETHERNET_MAX_LENGTH_FIELD) {
        throw new RangeError(`802.3 length ${repr.length} is not in 0..1500`);
      }
      if (repr.payload && repr.payload.length !== repr.length) {
        throw new RangeError(`802.3 length ${repr.length} but payload of ${repr.payload.length} bytes`);
      }
      typeOrLength = repr.length;
      break;
    default:
      return assertNever(repr);
  }
  if (repr.outerTag && repr.tag?.tpid !== ETHERTYPE_VLAN) {
    throw new RangeError("an outer VLAN tag needs an inner 0x8100 tag");
  }
  if (repr.dst.length !== 6 || repr.src.length !== 6) throw new RangeError("MAC addresses are 6 bytes");
  const hlen = TYPE + 2 + (repr.tag ? VLAN_TAG_LEN : 0) + (repr.outerTag ? VLAN_TAG_LEN : 0);
  if (at < 0 || at + hlen > out.length) throw new RangeError(`Ethernet header of ${hlen} bytes does not fit at ${at}`);
  // Six byte stores cost less than TypedArray#set's call for so few bytes.
  const { dst, src } = repr;
  for (let k = 0; k < 6; k++) {
    out[at + DST + k] = dst[k] as number;
    out[at + SRC + k] = src[k] as number;
  }
  let off = at + TYPE;
  if (repr.outerTag) {
    writeTag(out, off, repr.outerTag);
    off += VLAN_TAG_LEN;
  }
  if (repr.tag) {
    writeTag(out, off, repr.tag);
    off += VLAN_TAG_LEN;
  }
  put16(out, off, typeOrLength);
  off += 2;
  return repr.payload ? placePayload(repr.payload, out, off) : off;
}

function assertNever(x: never): never {
  throw new Error(`unexpected value ${String(x)}`);
}
