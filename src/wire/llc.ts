/**
 * IEEE 802.2 LLC header (ISO/IEC 8802-2), carried in IEEE 802.3 length-framed frames, and the SNAP
 * extension (IEEE Std 802, Subnetwork Access Protocol; RFC 1042 for IP and ARP over it).
 *
 *   0        7 8       15 16      23 24      31
 *  +----------+----------+----------+----------+
 *  | DSAP   |G| SSAP   |R| Control  |(Control) |  Information ...
 *  +----------+----------+----------+----------+
 *    G = I/G bit (1: group DSAP)   R = C/R bit (1: response)
 *
 *  Control field, first octet first; P/F is the poll (command) / final (response) bit:
 *    I-format  (2 octets):  N(S) << 1 | 0          N(R) << 1 | P/F
 *    S-format  (2 octets):  0000 SS 01             N(R) << 1 | P/F     SS: 00 RR, 01 RNR, 10 REJ
 *    U-format  (1 octet):   MMM P/F MM 11          UI 03, DM 0F, DISC 43, UA 63, SABME 6F,
 *                                                  FRMR 87, XID AF, TEST E3 (P/F clear)
 *
 *  SNAP (DSAP = SSAP = 0xAA, control UI):
 *  +----+----+----+----------+----------+----------+----------+----------+
 *  | AA | AA | 03 |          OUI (3)               |  Protocol ID (2)    |  payload ...
 *  +----+----+----+----------+----------+----------+----------+----------+
 *
 * `LlcView.check` verifies once that the buffer holds the whole header its control field (and SNAP)
 * implies; after that no accessor can read out of bounds. The input is the 802.3 payload as bounded by
 * the length field (ethernet.ts has already cut the padding off); the payload is a `subarray` view.
 */
import { dataView, placePayload } from "./bytes.ts";
import { WireError } from "./error.ts";

/** DSAP, SSAP and a U-format control octet. */
export const LLC_HEADER_LEN_U = 3;
/** DSAP, SSAP and an I- or S-format control field (two octets). */
export const LLC_HEADER_LEN_IS = 4;
/** The SNAP header after the LLC header: OUI and protocol ID. */
export const SNAP_HEADER_LEN = 5;
/** LLC (UI) + SNAP, as RFC 1042 frames IP: AA AA 03 + 5 octets. */
export const LLC_SNAP_HEADER_LEN = LLC_HEADER_LEN_U + SNAP_HEADER_LEN;

/**
 * SAP addresses as reprs hold them: the octet with its low bit (I/G or C/R) clear.
 * The null SAP (IEEE 802.2: addresses the LLC itself, for XID and TEST).
 */
export const LLC_SAP_NULL = 0x00;
/** IEEE 802.1D spanning tree BPDUs. */
export const LLC_SAP_STP = 0x42;
/** SNAP (IEEE Std 802). */
export const LLC_SAP_SNAP = 0xaa;
/** The global DSAP 0xFF is this address with `dsapGroup` set. */
export const LLC_SAP_GLOBAL = 0xfe;

/** RFC 1042: the OUI under which a SNAP protocol ID is an EtherType. */
export const SNAP_OUI_ETHERTYPE = 0x000000;
/** IEEE 802.1H bridge-tunnel encapsulation: also an EtherType (used for AppleTalk ARP and IPX). */
export const SNAP_OUI_BRIDGE_TUNNEL = 0x0000f8;

/** Supervisory functions and their first control octet. */
export const LLC_S = { rr: 0x01, rnr: 0x05, rej: 0x09 } as const;
/** The named S-format functions. */
export type LlcSupervisoryKind = keyof typeof LLC_S;

/** Unnumbered commands and responses, control octet with P/F clear. */
export const LLC_U = {
  ui: 0x03,
  dm: 0x0f,
  disc: 0x43,
  ua: 0x63,
  sabme: 0x6f,
  frmr: 0x87,
  xid: 0xaf,
  test: 0xe3,
} as const;
/** The named U-format commands and responses. */
export type LlcUnnumberedKind = keyof typeof LLC_U;

const PF_U = 0x10;

/**
 * The control field. N(S) and N(R) are modulo-128 sequence numbers. Unknown S- and U-format values are
 * kept (`value` is the first octet, for U-format with P/F clear) so they print and re-emit unchanged.
 */
export type LlcControl =
  | { readonly format: "i"; readonly kind: "i"; readonly ns: number; readonly nr: number; readonly pf: boolean }
  | { readonly format: "s"; readonly kind: LlcSupervisoryKind; readonly nr: number; readonly pf: boolean }
  | {
      readonly format: "s";
      readonly kind: "unknown";
      readonly value: number;
      readonly nr: number;
      readonly pf: boolean;
    }
  | { readonly format: "u"; readonly kind: LlcUnnumberedKind; readonly pf: boolean }
  | { readonly format: "u"; readonly kind: "unknown"; readonly value: number; readonly pf: boolean };

/** The SNAP header (IEEE Std 802). */
export interface SnapHeader {
  /** 24-bit Organizationally Unique Identifier. */
  readonly oui: number;
  /** With OUI 000000 (RFC 1042) or 0000F8 (IEEE 802.1H), an EtherType. */
  readonly protocolId: number;
}

/** The meaning of an LLC PDU; `payload` borrows the received bytes (after SNAP when present). */
export interface LlcRepr {
  /** Destination SAP address, I/G bit clear. */
  readonly dsap: number;
  /** I/G bit of the DSAP: a group (e.g. the global 0xFF) rather than an individual SAP. */
  readonly dsapGroup: boolean;
  /** Source SAP address, C/R bit clear. */
  readonly ssap: number;
  /** C/R bit of the SSAP: the PDU is a response (P/F is then "final") rather than a command. */
  readonly response: boolean;
  readonly control: LlcControl;
  /** Present when DSAP = SSAP = 0xAA with a UI control: the SNAP header. */
  readonly snap?: SnapHeader | undefined;
  readonly payload: Uint8Array;
}

const DSAP = 0;
const SSAP = 1;
const CONTROL = 2;

/** Control-field octets implied by its first octet: 1 for U-format, 2 for I and S (IEEE 802.2 §5.2). */
function controlLen(first: number): number {
  return (first & 0x03) === 0x03 ? 1 : 2;
}

/** Zero-copy view over an LLC PDU whose header (and SNAP header) lengths have been checked. */
export class LlcView {
  private readonly view: DataView;

  private constructor(readonly bytes: Uint8Array) {
    this.view = dataView(bytes);
  }

  /** Checks that the control field and, for SNAP, the SNAP header are all present. */
  static check(bytes: Uint8Array): LlcView | WireError {
    if (bytes.length < LLC_HEADER_LEN_U) {
      return new WireError("llc", "truncated", `${bytes.length} < ${LLC_HEADER_LEN_U} bytes`);
    }
    const v = new LlcView(bytes);
    const need = v.headerLen;
    if (bytes.length < need) {
      const what = v.isSnap ? "SNAP header" : "2-octet control field";
      return new WireError("llc", "truncated", `${what} needs ${need} > ${bytes.length} bytes`);
    }
    return v;
  }

  /** DSAP address, I/G bit clear. */
  get dsap(): number {
    return this.view.getUint8(DSAP) & 0xfe;
  }
  get dsapIsGroup(): boolean {
    return (this.view.getUint8(DSAP) & 0x01) !== 0;
  }
  /** SSAP address, C/R bit clear. */
  get ssap(): number {
    return this.view.getUint8(SSAP) & 0xfe;
  }
  get isResponse(): boolean {
    return (this.view.getUint8(SSAP) & 0x01) !== 0;
  }
  /** Octets of control field: 1 (U) or 2 (I, S). */
  get controlLen(): number {
    return controlLen(this.view.getUint8(CONTROL));
  }
  /** DSAP and SSAP are 0xAA and the control is UI (RFC 1042). */
  get isSnap(): boolean {
    return this.dsap === LLC_SAP_SNAP && this.ssap === LLC_SAP_SNAP && this.view.getUint8(CONTROL) === LLC_U.ui;
  }
  /** LLC header, plus the SNAP header when present. */
  get headerLen(): number {
    if (this.isSnap) return LLC_SNAP_HEADER_LEN;
    return CONTROL + this.controlLen;
  }
  get control(): LlcControl {
    const c0 = this.view.getUint8(CONTROL);
    if ((c0 & 0x03) === 0x03) {
      // IEEE 802.2 §5.2: U-format, P/F in bit 4 of the one octet.
      const pf = (c0 & PF_U) !== 0;
      const value = c0 & ~PF_U;
      const kind = unnumberedKind(value);
      return kind ? { format: "u", kind, pf } : { format: "u", kind: "unknown", value, pf };
    }
    const c1 = this.view.getUint8(CONTROL + 1);
    const nr = c1 >>> 1;
    const pf = (c1 & 0x01) !== 0;
    if ((c0 & 0x01) === 0) return { format: "i", kind: "i", ns: c0 >>> 1, nr, pf };
    // S-format: SS bits 2-3, the reserved bits 4-7 zero; anything else is kept as unknown.
    const kind = supervisoryKind(c0);
    return kind ? { format: "s", kind, nr, pf } : { format: "s", kind: "unknown", value: c0, nr, pf };
  }
  /** The SNAP header, or undefined when this is not a SNAP PDU. */
  get snap(): SnapHeader | undefined {
    if (!this.isSnap) return undefined;
    const at = LLC_HEADER_LEN_U;
    return { oui: (this.view.getUint8(at) << 16) | this.view.getUint16(at + 1), protocolId: this.view.getUint16(at + 3) };
  }
  /** Everything after the LLC (and SNAP) header. */
  get payload(): Uint8Array {
    return this.bytes.subarray(this.headerLen);
  }
}

function unnumberedKind(value: number): LlcUnnumberedKind | undefined {
  switch (value) {
    case LLC_U.ui:
      return "ui";
    case LLC_U.dm:
      return "dm";
    case LLC_U.disc:
      return "disc";
    case LLC_U.ua:
      return "ua";
    case LLC_U.sabme:
      return "sabme";
    case LLC_U.frmr:
      return "frmr";
    case LLC_U.xid:
      return "xid";
    case LLC_U.test:
      return "test";
    default:
      return undefined;
  }
}

function supervisoryKind(first: number): LlcSupervisoryKind | undefined {
  switch (first) {
    case LLC_S.rr:
      return "rr";
    case LLC_S.rnr:
      return "rnr";
    case LLC_S.rej:
      return "rej";
    default:
      return undefined;
  }
}

/** Parses an LLC PDU (the payload of an IEEE 802.3 frame, as bounded by its length field). */
export function parseLlc(bytes: Uint8Array): LlcRepr | WireError {
  const v = LlcView.check(bytes);
  if (v instanceof WireError) return v;
  return {
    dsap: v.dsap,
    dsapGroup: v.dsapIsGroup,
    ssap: v.ssap,
    response: v.isResponse,
    control: v.control,
    snap: v.snap,
    payload: v.payload,
  };
}

/**
 * The EtherType a PDU carries: SNAP with OUI 000000 (RFC 1042) or 0000F8 (IEEE 802.1H), else undefined.
 * This is how IPv4 and ARP arrive over 802.3 framing.
 */
export function llcEtherType(repr: LlcRepr): number | undefined {
  const snap = repr.snap;
  if (!snap) return undefined;
  return snap.oui === SNAP_OUI_ETHERTYPE || snap.oui === SNAP_OUI_BRIDGE_TUNNEL ? snap.protocolId : undefined;
}

/** Octets of control field `control` takes: 1 (U) or 2 (I, S). */
export function llcControlLen(control: LlcControl): number {
  return control.format === "u" ? 1 : 2;
}

/** Header bytes `emitLlc` writes: DSAP, SSAP, control, and the SNAP header when present. */
export function llcHeaderLen(repr: Omit<LlcRepr, "payload">): number {
  return CONTROL + llcControlLen(repr.control) + (repr.snap ? SNAP_HEADER_LEN : 0);
}

function checkField(name: string, value: number, max: number): void {
  if (!Number.isInteger(value) || value < 0 || value > max) throw new RangeError(`LLC ${name} ${value} not in 0..${max}`);
}

function checkSap(name: string, value: number): void {
  checkField(name, value, 0xfe);
  if ((value & 0x01) !== 0) throw new RangeError(`LLC ${name} 0x${value.toString(16)}: the low bit is a flag, keep it clear`);
}

/**
 * Writes the LLC header (and SNAP header) at `out[at..]`. Without `payload`, returns the payload offset;
 * with it, places the payload (copied unless it already lies there) and returns the offset after it.
 * Throws on a repr that would not parse back as itself (a SAP with its flag bit set, a sequence number
 * over 127, an unknown value of the wrong format, SNAP without DSAP = SSAP = 0xAA and UI).
 */
export function emitLlc(
  repr: Omit<LlcRepr, "payload"> & { readonly payload?: Uint8Array | undefined },
  out: Uint8Array,
  at: number,
): number {
  checkSap("DSAP", repr.dsap);
  checkSap("SSAP", repr.ssap);
  const view = dataView(out);
  view.setUint8(at + DSAP, repr.dsap | (repr.dsapGroup ? 0x01 : 0));
  view.setUint8(at + SSAP, repr.ssap | (repr.response ? 0x01 : 0));
  const c = repr.control;
  let off = at + CONTROL;
  switch (c.format) {
    case "i":
      checkField("N(S)", c.ns, 127);
      checkField("N(R)", c.nr, 127);
      view.setUint8(off, c.ns << 1);
      view.setUint8(off + 1, (c.nr << 1) | (c.pf ? 1 : 0));
      off += 2;
      break;
    case "s": {
      const first = c.kind === "unknown" ? c.value : LLC_S[c.kind];
      checkField("S-format control", first, 0xff);
      if ((first & 0x03) !== 0x01) throw new RangeError(`LLC S-format control 0x${first.toString(16)} lacks the 01 bits`);
      if (c.kind === "unknown" && supervisoryKind(first) !== undefined) {
        throw new RangeError(`LLC S-format control 0x${first.toString(16)} is a known kind, not unknown`);
      }
      checkField("N(R)", c.nr, 127);
      view.setUint8(off, first);
      view.setUint8(off + 1, (c.nr << 1) | (c.pf ? 1 : 0));
      off += 2;
      break;
    }
    case "u": {
      const value = c.kind === "unknown" ? c.value : LLC_U[c.kind];
      checkField("U-format control", value, 0xff);
      if ((value & 0x03) !== 0x03 || (value & PF_U) !== 0) {
        throw new RangeError(`LLC U-format control 0x${value.toString(16)} must end in 11 with P/F clear`);
      }
      if (c.kind === "unknown" && unnumberedKind(value) !== undefined) {
        throw new RangeError(`LLC U-format control 0x${value.toString(16)} is a known kind, not unknown`);
      }
      view.setUint8(off, value | (c.pf ? PF_U : 0));
      off += 1;
      break;
    }
    default:
      return assertNever(c);
  }
  if (repr.snap) {
    // RFC 1042: SNAP rides on DSAP = SSAP = 170 (0xAA) with an unnumbered information (UI) control.
    if (repr.dsap !== LLC_SAP_SNAP || repr.ssap !== LLC_SAP_SNAP || c.kind !== "ui" || c.pf) {
      throw new RangeError("SNAP needs DSAP = SSAP = 0xAA and a UI control without P/F");
    }
    checkField("SNAP OUI", repr.snap.oui, 0xffffff);
    checkField("SNAP protocol ID", repr.snap.protocolId, 0xffff);
    view.setUint8(off, repr.snap.oui >>> 16);
    view.setUint16(off + 1, repr.snap.oui & 0xffff);
    view.setUint16(off + 3, repr.snap.protocolId);
    off += SNAP_HEADER_LEN;
  } else if (repr.dsap === LLC_SAP_SNAP && repr.ssap === LLC_SAP_SNAP && c.kind === "ui" && !c.pf) {
    throw new RangeError("DSAP = SSAP = 0xAA with UI is SNAP: give the snap header");
  }
  return repr.payload ? placePayload(repr.payload, out, off) : off;
}

function assertNever(x: never): never {
  throw new Error(`unexpected value ${String(x)}`);
}
