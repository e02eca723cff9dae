import { describe, expect, test } from "vitest";
import { parseArp } from "../../../src/wire/arp.ts";
import { WireError } from "../../../src/wire/error.ts";
import { ETHERTYPE_ARP, ETHERTYPE_IPV4, parseEthernet } from "../../../src/wire/ethernet.ts";
import {
  LLC_SAP_GLOBAL,
  LLC_SAP_NULL,
  LLC_SAP_SNAP,
  LLC_SAP_STP,
  LlcView,
  emitLlc,
  llcEtherType,
  llcHeaderLen,
  parseLlc,
  type LlcRepr,
} from "../../../src/wire/llc.ts";

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ""), "hex"));
const MARK = 0xaa;

/** The LLC PDU of an 802.3 frame, as ethernet.ts hands it over. */
function llcOf(frame: Uint8Array): Uint8Array {
  const eth = parseEthernet(frame);
  if (eth instanceof WireError || eth.kind !== "ieee802.3") throw new Error("not an 802.3 frame");
  return eth.payload;
}

// /usr/bin/python3 -c "from scapy.all import *; print(bytes(Dot3(dst='ff:ff:ff:ff:ff:ff',src='02:00:00:00:00:01')/LLC(dsap=0xaa,ssap=0xaa,ctrl=3)/SNAP(OUI=0,code=0x0806)/ARP(op=1,hwsrc='02:00:00:00:00:01',psrc='10.0.0.1',pdst='10.0.0.2')).hex())"
const SNAP_ARP = llcOf(
  hex("ffffffffffff0200000000010024aaaa03000000080600010800060400010200000000010a0000010000000000000a000002"),
);

// /usr/bin/python3 -c "from scapy.all import *; print(bytes(Dot3(dst='ff:ff:ff:ff:ff:ff',src='02:00:00:00:00:01')/LLC(dsap=0xaa,ssap=0xaa,ctrl=3)/SNAP(OUI=0,code=0x0800)/IP(src='10.0.0.1',dst='10.0.0.2')/ICMP()).hex())"
const SNAP_IPV4 = llcOf(
  hex("ffffffffffff0200000000010024aaaa0300000008004500001c00010000400166de0a0000010a0000020800f7ff00000000"),
);

// A spanning-tree configuration BPDU (DSAP = SSAP = 0x42, UI).
// /usr/bin/python3 -c "from scapy.all import *; print(bytes(Dot3(dst='01:80:c2:00:00:00',src='02:00:00:00:00:01')/LLC(dsap=0x42,ssap=0x42,ctrl=3)/STP(rootid=32768,rootmac='02:00:00:00:00:01',bridgeid=32768,bridgemac='02:00:00:00:00:01',portid=0x8001)).hex())"
const STP_BPDU_FRAME = hex(
  "0180c200000002000000000100264242030000000000800002000000000100000000800002000000000180010100140002000f00",
);
const STP_BPDU = llcOf(STP_BPDU_FRAME);

// I-format, N(S)=5 N(R)=3 P=1 (scapy's LLC has a one-octet control, so the second octet rides in Raw;
// tshark -V decodes it as "Control field: I P, N(R)=3, N(S)=5 (0x070A)").
// /usr/bin/python3 -c "from scapy.all import *; print(bytes(Dot3(dst='02:00:00:00:00:02',src='02:00:00:00:00:01')/LLC(dsap=0xf0,ssap=0xf0,ctrl=0x0a)/Raw(b'\x07data')).hex())"
const I_FRAME = llcOf(hex("0200000000020200000000010008f0f00a0764617461"));

// S-format RNR response, N(R)=5 F=1 (tshark -V: "SSAP ... CR Bit: Response", "Control field: S F, func=RNR, N(R)=5 (0x0B05)").
// /usr/bin/python3 -c "from scapy.all import *; print(bytes(Dot3(dst='02:00:00:00:00:02',src='02:00:00:00:00:01')/LLC(dsap=0xf0,ssap=0xf1,ctrl=0x05)/Raw(b'\x0b')).hex())"
const S_RNR = llcOf(hex("0200000000020200000000010004f0f1050b"));

// XID response with F set, from the null SAP (tshark -V: "Control field: U F, func=XID (0xBF)").
// /usr/bin/python3 -c "from scapy.all import *; print(bytes(Dot3(dst='02:00:00:00:00:02',src='02:00:00:00:00:01')/LLC(dsap=0x00,ssap=0x01,ctrl=0xbf)/Raw(b'\x81\x01\x00')).hex())"
const XID_RESPONSE = llcOf(hex("02000000000202000000000100060001bf810100"));

// TEST command in a 60-byte frame whose length field (7) leaves 39 bytes of padding out.
// /usr/bin/python3 -c "from scapy.all import *; f=Dot3(dst='02:00:00:00:00:02',src='02:00:00:00:00:01',len=7)/LLC(dsap=0xf0,ssap=0xf0,ctrl=0xe3)/Raw(b'ping')/Padding(b'\x00'*39); print(bytes(f).hex())"
const TEST_PADDED = llcOf(hex("0200000000020200000000010007f0f0e370696e67" + "00".repeat(39)));

function parsed(bytes: Uint8Array): LlcRepr {
  const r = parseLlc(bytes);
  if (r instanceof WireError) throw new Error(`unexpected ${r.toString()}`);
  return r;
}

const ALL: [string, Uint8Array][] = [
  ["SNAP ARP", SNAP_ARP],
  ["SNAP IPv4", SNAP_IPV4],
  ["STP BPDU", STP_BPDU],
  ["I-format", I_FRAME],
  ["S-format RNR", S_RNR],
  ["XID response", XID_RESPONSE],
  ["TEST", TEST_PADDED],
];

describe("parse", () => {
  test("SNAP with OUI 000000 carries an EtherType: ARP (RFC 1042)", () => {
    const r = parsed(SNAP_ARP);
    expect(r).toMatchObject({ dsap: LLC_SAP_SNAP, dsapGroup: false, ssap: LLC_SAP_SNAP, response: false });
    expect(r.control).toEqual({ format: "u", kind: "ui", pf: false });
    expect(r.snap).toEqual({ oui: 0, protocolId: ETHERTYPE_ARP });
    expect(llcEtherType(r)).toBe(ETHERTYPE_ARP);
    expect(r.payload.length).toBe(28);
    const arp = parseArp(r.payload);
    expect(arp instanceof WireError ? arp.toString() : arp.kind).toBe("ethernet-ipv4");
  });

  test("SNAP carrying IPv4 (RFC 1042)", () => {
    const r = parsed(SNAP_IPV4);
    expect(llcEtherType(r)).toBe(ETHERTYPE_IPV4);
    expect(r.payload[0]).toBe(0x45);
    expect(r.payload.length).toBe(28);
    expect(r.payload.buffer).toBe(SNAP_IPV4.buffer);
  });

  test("a SNAP OUI other than 000000/0000F8 is not an EtherType", () => {
    const pdu = SNAP_IPV4.slice();
    pdu[5] = 0x0c; // OUI 00000c (Cisco)
    const r = parsed(pdu);
    expect(r.snap).toEqual({ oui: 0x00000c, protocolId: 0x0800 });
    expect(llcEtherType(r)).toBeUndefined();
  });

  test("STP BPDU: DSAP 0x42, UI, no SNAP", () => {
    const r = parsed(STP_BPDU);
    expect(r).toMatchObject({ dsap: LLC_SAP_STP, ssap: LLC_SAP_STP, response: false, dsapGroup: false });
    expect(r.control).toEqual({ format: "u", kind: "ui", pf: false });
    expect(r.snap).toBeUndefined();
    expect(llcEtherType(r)).toBeUndefined();
    // Protocol id 0, version 0, type 0 (configuration), then the root id 8000/02:00:00:00:00:01.
    expect(r.payload.length).toBe(35);
    expect(r.payload.subarray(0, 13)).toEqual(hex("00000000 00 8000 020000000001"));
  });

  test("I-format: N(S), N(R), P (IEEE 802.2 §5.2)", () => {
    const r = parsed(I_FRAME);
    expect(r.control).toEqual({ format: "i", kind: "i", ns: 5, nr: 3, pf: true });
    expect(new TextDecoder().decode(r.payload)).toBe("data");
  });

  test("S-format RNR response: C/R bit, N(R), F (IEEE 802.2 §5.2)", () => {
    const r = parsed(S_RNR);
    expect(r).toMatchObject({ dsap: 0xf0, ssap: 0xf0, response: true });
    expect(r.control).toEqual({ format: "s", kind: "rnr", nr: 5, pf: true });
    expect(r.payload.length).toBe(0);
  });

  test.each([
    ["01", "rr"],
    ["09", "rej"],
  ])("S-format first octet 0x%s is %s", (c0hex, kind) => {
    const c0 = parseInt(c0hex, 16);
    expect(parsed(new Uint8Array([0xf0, 0xf0, c0, 0x80])).control).toEqual({ format: "s", kind, nr: 64, pf: false });
  });

  test("XID response with F from the null SAP", () => {
    const r = parsed(XID_RESPONSE);
    expect(r).toMatchObject({ dsap: LLC_SAP_NULL, ssap: LLC_SAP_NULL, response: true });
    expect(r.control).toEqual({ format: "u", kind: "xid", pf: true });
    expect(r.payload).toEqual(hex("810100"));
  });

  test("TEST in a padded frame: the payload ends where the 802.3 length says", () => {
    const r = parsed(TEST_PADDED);
    expect(r.control).toEqual({ format: "u", kind: "test", pf: false });
    expect(new TextDecoder().decode(r.payload)).toBe("ping");
  });

  test.each([
    ["6f", "sabme"],
    ["43", "disc"],
    ["63", "ua"],
    ["0f", "dm"],
    ["87", "frmr"],
  ])("U-format 0x%s is %s; the 0x10 bit is P/F", (valueHex, kind) => {
    const value = parseInt(valueHex, 16);
    expect(parsed(new Uint8Array([0xf0, 0xf0, value])).control).toEqual({ format: "u", kind, pf: false });
    expect(parsed(new Uint8Array([0xf0, 0xf0, value | 0x10])).control).toEqual({ format: "u", kind, pf: true });
  });

  test("unknown U and S values are kept", () => {
    expect(parsed(new Uint8Array([0xf0, 0xf0, 0x37])).control).toEqual({ format: "u", kind: "unknown", value: 0x27, pf: true });
    expect(parsed(new Uint8Array([0xf0, 0xf0, 0x0d, 0x03])).control).toEqual({
      format: "s",
      kind: "unknown",
      value: 0x0d,
      nr: 1,
      pf: true,
    });
  });

  test("global DSAP 0xFF: the I/G bit (IEEE 802.2 §3.3.1)", () => {
    const r = parsed(new Uint8Array([0xff, 0x42, 0xe3]));
    expect(r).toMatchObject({ dsap: LLC_SAP_GLOBAL, dsapGroup: true, ssap: LLC_SAP_STP, response: false });
    const v = LlcView.check(new Uint8Array([0xff, 0x43, 0xe3]));
    if (v instanceof WireError) throw new Error(v.toString());
    expect(v.dsapIsGroup).toBe(true);
    expect(v.isResponse).toBe(true);
  });

  test("UI with P set on SAP 0xAA is not SNAP", () => {
    const r = parsed(new Uint8Array([0xaa, 0xaa, 0x13, 0x01]));
    expect(r.snap).toBeUndefined();
    expect(r.control).toEqual({ format: "u", kind: "ui", pf: true });
    expect(r.payload).toEqual(new Uint8Array([0x01]));
  });

  test("parses a PDU at a non-zero offset in its buffer", () => {
    const big = new Uint8Array(SNAP_IPV4.length + 9).fill(MARK);
    big.set(SNAP_IPV4, 9);
    const r = parsed(big.subarray(9));
    expect(r.snap).toEqual({ oui: 0, protocolId: ETHERTYPE_IPV4 });
    expect(r.payload).toEqual(SNAP_IPV4.subarray(8));
  });
});

describe("malformed and truncated PDUs", () => {
  test.each(ALL)("every truncation of %s returns a WireError or a valid shorter value", (_name, pdu) => {
    for (let i = 0; i < pdu.length; i++) {
      const cut = pdu.slice(0, i);
      const r = parseLlc(cut);
      if (r instanceof WireError) {
        expect(r.layer).toBe("llc");
        expect(r.reason).toBe("truncated");
        continue;
      }
      expect(r.payload.byteOffset + r.payload.length).toBeLessThanOrEqual(i);
    }
  });

  test("a 2-octet control field cut after its first octet: truncated", () => {
    expect((parseLlc(I_FRAME.subarray(0, 3)) as WireError).reason).toBe("truncated");
    expect((parseLlc(S_RNR.subarray(0, 3)) as WireError).reason).toBe("truncated");
  });

  test("SNAP header cut short: truncated, not plain UI", () => {
    expect((parseLlc(SNAP_ARP.subarray(0, 7)) as WireError).reason).toBe("truncated");
    expect(parseLlc(SNAP_ARP.subarray(0, 8))).not.toBeInstanceOf(WireError);
  });
});

describe("emit", () => {
  test.each(ALL)("%s: parse then emit gives the same bytes, marker untouched around", (_name, pdu) => {
    const r = parsed(pdu);
    const out = new Uint8Array(4 + llcHeaderLen(r) + r.payload.length + 1).fill(MARK);
    const end = emitLlc(r, out, 4);
    expect(end).toBe(4 + pdu.length);
    expect(out.subarray(4, end)).toEqual(pdu);
    expect(out.subarray(0, 4)).toEqual(new Uint8Array(4).fill(MARK));
    expect(out[end]).toBe(MARK);
  });

  test("constructs SNAP/IPv4 from a repr (RFC 1042 header AA AA 03 00 00 00 08 00)", () => {
    const out = new Uint8Array(10).fill(MARK);
    const end = emitLlc(
      {
        dsap: LLC_SAP_SNAP,
        dsapGroup: false,
        ssap: LLC_SAP_SNAP,
        response: false,
        control: { format: "u", kind: "ui", pf: false },
        snap: { oui: 0, protocolId: ETHERTYPE_IPV4 },
      },
      out,
      1,
    );
    expect(end).toBe(9);
    expect(out).toEqual(hex("aa aaaa03 000000 0800 aa"));
  });

  test("constructs I and S formats from reprs", () => {
    const out = new Uint8Array(6).fill(MARK);
    const base = { dsap: 0xf0, dsapGroup: false, ssap: 0xf0, response: false };
    expect(emitLlc({ ...base, control: { format: "i", kind: "i", ns: 127, nr: 64, pf: false } }, out, 1)).toBe(5);
    expect(out).toEqual(hex("aa f0f0 fe80 aa"));
    expect(
      emitLlc({ ...base, response: true, control: { format: "s", kind: "rej", nr: 1, pf: true } }, out.fill(MARK), 0),
    ).toBe(4);
    expect(out).toEqual(hex("f0f1 0903 aaaa"));
  });

  test("unknown control values re-emit unchanged", () => {
    for (const pdu of [new Uint8Array([0xf0, 0xf0, 0x37]), new Uint8Array([0xf0, 0xf0, 0x0d, 0x03])]) {
      const out = new Uint8Array(pdu.length);
      emitLlc(parsed(pdu), out, 0);
      expect(out).toEqual(pdu);
    }
  });

  test("refuses reprs that would not parse back as themselves", () => {
    const out = new Uint8Array(16);
    const ui = { format: "u", kind: "ui", pf: false } as const;
    const base = { dsap: 0xf0, dsapGroup: false, ssap: 0xf0, response: false };
    expect(() => emitLlc({ ...base, dsap: 0xf1, control: ui }, out, 0)).toThrow(RangeError);
    expect(() => emitLlc({ ...base, control: { format: "i", kind: "i", ns: 128, nr: 0, pf: false } }, out, 0)).toThrow(
      RangeError,
    );
    expect(() => emitLlc({ ...base, control: { format: "u", kind: "unknown", value: 0x03, pf: false } }, out, 0)).toThrow(
      RangeError,
    );
    expect(() => emitLlc({ ...base, control: { format: "u", kind: "unknown", value: 0x13, pf: false } }, out, 0)).toThrow(
      RangeError,
    );
    expect(() =>
      emitLlc({ ...base, control: { format: "s", kind: "unknown", value: 0x02, nr: 0, pf: false } }, out, 0),
    ).toThrow(RangeError);
    // SNAP on the wrong SAPs, and SAP 0xAA with UI but no SNAP header.
    expect(() => emitLlc({ ...base, control: ui, snap: { oui: 0, protocolId: 0x0800 } }, out, 0)).toThrow(RangeError);
    expect(() => emitLlc({ ...base, dsap: 0xaa, ssap: 0xaa, control: ui }, out, 0)).toThrow(RangeError);
  });
});
