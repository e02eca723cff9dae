import { describe, expect, test } from "vitest";
import { WireError } from "../../../src/wire/error.ts";
import {
  ETHERNET_HEADER_LEN,
  ETHERTYPE_ARP,
  ETHERTYPE_IPV4,
  ETHERTYPE_QINQ,
  ETHERTYPE_VLAN,
  EthernetView,
  emitEthernet,
  ethernetHeaderLen,
  parseEthernet,
  type EthernetRepr,
} from "../../../src/wire/ethernet.ts";
import { macToString, parseMac } from "../../../src/wire/mac.ts";

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ""), "hex"));
const MARK = 0xaa;

// /usr/bin/python3 -c "from scapy.all import *; print(bytes(Ether(dst='ff:ff:ff:ff:ff:ff',src='02:00:00:00:00:01')/ARP(op=1,hwsrc='02:00:00:00:00:01',psrc='10.0.0.1',pdst='10.0.0.2')).hex())"
const ARP_REQUEST = hex(
  "ffffffffffff020000000001080600010800060400010200000000010a0000010000000000000a000002",
);

// /usr/bin/python3 -c "from scapy.all import *; print(bytes(Ether(dst='02:00:00:00:00:02',src='02:00:00:00:00:01')/Dot1Q(prio=5,id=1,vlan=100)/IP(src='10.0.0.1',dst='10.0.0.2')/UDP(sport=1234,dport=7)/b'hi').hex())"
const VLAN_UDP = hex(
  "0200000000020200000000018100b06408004500001e00010000401166cc0a0000010a00000204d20007000a7e956869",
);

// /usr/bin/python3 -c "from scapy.all import *; print(bytes(Ether(dst='02:00:00:00:00:02',src='02:00:00:00:00:01',type=0x88a8)/Dot1Q(prio=3,vlan=200,type=0x8100)/Dot1Q(vlan=100)/IP(src='10.0.0.1',dst='10.0.0.2')/ICMP()).hex())"
const QINQ_ICMP = hex(
  "02000000000202000000000188a860c88100006408004500001c00010000400166de0a0000010a0000020800f7ff00000000",
);

// /usr/bin/python3 -c "from scapy.all import *; print(bytes(Dot3(dst='ff:ff:ff:ff:ff:ff',src='02:00:00:00:00:01')/LLC(dsap=0xaa,ssap=0xaa,ctrl=3)/SNAP(OUI=0,code=0x0806)/ARP(op=1,hwsrc='02:00:00:00:00:01',psrc='10.0.0.1',pdst='10.0.0.2')).hex())"
const DOT3_SNAP_ARP = hex(
  "ffffffffffff0200000000010024aaaa03000000080600010800060400010200000000010a0000010000000000000a000002",
);

// A minimum-size (60-byte) 802.3 frame: 7 bytes of LLC TEST, then 39 bytes of padding.
// /usr/bin/python3 -c "from scapy.all import *; f=Dot3(dst='02:00:00:00:00:02',src='02:00:00:00:00:01',len=7)/LLC(dsap=0xf0,ssap=0xf0,ctrl=0xe3)/Raw(b'ping')/Padding(b'\x00'*39); print(bytes(f).hex())"
const DOT3_PADDED = hex(
  "0200000000020200000000010007f0f0e370696e67" + "00".repeat(39),
);

function parsed(bytes: Uint8Array): EthernetRepr {
  const r = parseEthernet(bytes);
  if (r instanceof WireError) throw new Error(`unexpected ${r.toString()}`);
  return r;
}

/** Emits `repr` at `at` into a marker-filled buffer one byte longer than needed on each side. */
function emitted(repr: EthernetRepr, at = 0): { out: Uint8Array; end: number } {
  const out = new Uint8Array(at + ethernetHeaderLen(repr) + repr.payload.length + 1).fill(MARK);
  const end = emitEthernet(repr, out, at);
  return { out, end };
}

describe("parse Ethernet II", () => {
  test("ARP request: addresses, EtherType, payload view", () => {
    const r = parsed(ARP_REQUEST);
    expect(r.kind).toBe("ethernet-ii");
    if (r.kind !== "ethernet-ii") return;
    expect(r.etherType).toBe(ETHERTYPE_ARP);
    expect(macToString(r.dst)).toBe("ff:ff:ff:ff:ff:ff");
    expect(macToString(r.src)).toBe("02:00:00:00:00:01");
    expect(r.tag).toBeUndefined();
    expect(r.outerTag).toBeUndefined();
    expect(r.payload).toEqual(ARP_REQUEST.subarray(14));
    // Zero-copy: the payload is a view over the frame.
    expect(r.payload.buffer).toBe(ARP_REQUEST.buffer);
    expect(r.payload.byteOffset).toBe(ARP_REQUEST.byteOffset + 14);
  });

  test("802.1Q C-tag: PCP, DEI, VID and the EtherType after the tag", () => {
    const r = parsed(VLAN_UDP);
    expect(r.kind).toBe("ethernet-ii");
    if (r.kind !== "ethernet-ii") return;
    expect(r.tag).toEqual({ tpid: ETHERTYPE_VLAN, pcp: 5, dei: true, vid: 100 });
    expect(r.outerTag).toBeUndefined();
    expect(r.etherType).toBe(ETHERTYPE_IPV4);
    expect(r.payload[0]).toBe(0x45);
    expect(r.payload.length).toBe(VLAN_UDP.length - 18);
    expect(ethernetHeaderLen(r)).toBe(18);
  });

  test("802.1ad S-tag (0x88a8) in front of a C-tag", () => {
    const r = parsed(QINQ_ICMP);
    if (r.kind !== "ethernet-ii") throw new Error(r.kind);
    expect(r.outerTag).toEqual({ tpid: ETHERTYPE_QINQ, pcp: 3, dei: false, vid: 200 });
    expect(r.tag).toEqual({ tpid: ETHERTYPE_VLAN, pcp: 0, dei: false, vid: 100 });
    expect(r.etherType).toBe(ETHERTYPE_IPV4);
    expect(r.payload[0]).toBe(0x45);
    expect(ethernetHeaderLen(r)).toBe(22);
  });

  test("a lone 0x88a8 tag is reported as the tag", () => {
    const frame = QINQ_ICMP.slice();
    frame.set([0x08, 0x00], 16); // the S-tag now carries IPv4 directly
    const r = parsed(frame.subarray(0, 18 + 20));
    if (r.kind !== "ethernet-ii") throw new Error(r.kind);
    expect(r.tag).toEqual({ tpid: ETHERTYPE_QINQ, pcp: 3, dei: false, vid: 200 });
    expect(r.outerTag).toBeUndefined();
    expect(r.etherType).toBe(ETHERTYPE_IPV4);
  });

  test("Ethernet II payload keeps trailing bytes (the IP layer trims by its own length)", () => {
    const frame = new Uint8Array(ARP_REQUEST.length + 18);
    frame.set(ARP_REQUEST);
    expect(parsed(frame).payload.length).toBe(28 + 18);
  });

  test("parses a frame that starts at a non-zero offset in its buffer", () => {
    const big = new Uint8Array(VLAN_UDP.length + 7).fill(MARK);
    big.set(VLAN_UDP, 5);
    const r = parsed(big.subarray(5, 5 + VLAN_UDP.length));
    if (r.kind !== "ethernet-ii") throw new Error(r.kind);
    expect(r.tag?.vid).toBe(100);
    expect(r.etherType).toBe(ETHERTYPE_IPV4);
    expect(r.payload).toEqual(VLAN_UDP.subarray(18));
  });
});

describe("parse IEEE 802.3 length framing (IEEE 802.3 §3.2.6)", () => {
  test("LLC/SNAP frame: length bounds the payload", () => {
    const r = parsed(DOT3_SNAP_ARP);
    expect(r.kind).toBe("ieee802.3");
    if (r.kind !== "ieee802.3") return;
    expect(r.length).toBe(0x24);
    expect(r.payload).toEqual(DOT3_SNAP_ARP.subarray(14));
  });

  test("60-byte padded frame: the payload stops at the length field, padding excluded", () => {
    expect(DOT3_PADDED.length).toBe(60);
    const r = parsed(DOT3_PADDED);
    if (r.kind !== "ieee802.3") throw new Error(r.kind);
    expect(r.length).toBe(7);
    expect(r.payload).toEqual(hex("f0f0e370696e67"));
  });

  test("length 1500 is 802.3, 1536 (0x0600) is an EtherType", () => {
    const f = new Uint8Array(14 + 1500);
    f.set([0x05, 0xdc], 12);
    expect(parsed(f).kind).toBe("ieee802.3");
    f.set([0x06, 0x00], 12);
    const r = parsed(f);
    expect(r.kind === "ethernet-ii" && r.etherType).toBe(0x0600);
  });

  test.each([1501, 0x05ff])("type/length %i is neither: bad-value", (value) => {
    const f = new Uint8Array(60);
    f[12] = value >>> 8;
    f[13] = value & 0xff;
    const r = parseEthernet(f);
    expect(r).toBeInstanceOf(WireError);
    expect((r as WireError).reason).toBe("bad-value");
  });

  test("length larger than the frame: truncated", () => {
    const f = DOT3_SNAP_ARP.slice(0, DOT3_SNAP_ARP.length - 1);
    const r = parseEthernet(f);
    expect(r).toBeInstanceOf(WireError);
    expect((r as WireError).reason).toBe("truncated");
  });

  test("802.3 inside an 802.1Q tag", () => {
    const f = hex("ffffffffffff020000000001 8100 0064 0003 424203");
    const r = parsed(f);
    if (r.kind !== "ieee802.3") throw new Error(r.kind);
    expect(r.tag?.vid).toBe(100);
    expect(r.payload).toEqual(hex("424203"));
  });
});

describe("malformed and truncated frames", () => {
  test.each([
    ["ARP", ARP_REQUEST],
    ["802.1Q", VLAN_UDP],
    ["QinQ", QINQ_ICMP],
    ["802.3 SNAP", DOT3_SNAP_ARP],
    ["802.3 padded", DOT3_PADDED],
  ])("every truncation of %s returns a WireError or a valid shorter value", (_name, frame) => {
    for (let i = 0; i < frame.length; i++) {
      const cut = frame.slice(0, i);
      const r = parseEthernet(cut);
      if (r instanceof WireError) {
        expect(r.layer).toBe("ethernet");
        continue;
      }
      expect(i).toBeGreaterThanOrEqual(ETHERNET_HEADER_LEN);
      expect(r.payload.byteOffset + r.payload.length).toBeLessThanOrEqual(cut.byteOffset + i);
    }
  });

  test("shorter than 14 bytes: truncated", () => {
    const r = EthernetView.check(ARP_REQUEST.subarray(0, 13));
    expect(r).toBeInstanceOf(WireError);
    expect((r as WireError).reason).toBe("truncated");
  });

  test("a tag cut before its EtherType: truncated", () => {
    expect((parseEthernet(VLAN_UDP.subarray(0, 17)) as WireError).reason).toBe("truncated");
    expect((parseEthernet(QINQ_ICMP.subarray(0, 21)) as WireError).reason).toBe("truncated");
    expect(parseEthernet(QINQ_ICMP.subarray(0, 22))).not.toBeInstanceOf(WireError);
  });
});

describe("emit", () => {
  test.each([
    ["ARP", ARP_REQUEST],
    ["802.1Q", VLAN_UDP],
    ["QinQ", QINQ_ICMP],
    ["802.3 SNAP", DOT3_SNAP_ARP],
  ])("%s: parse then emit gives the same bytes, marker untouched after", (_name, frame) => {
    const { out, end } = emitted(parsed(frame));
    expect(end).toBe(frame.length);
    expect(out.subarray(0, end)).toEqual(frame);
    expect(out[end]).toBe(MARK);
  });

  test("padded 802.3 frame: re-emits the 21 bytes before the padding", () => {
    const { out, end } = emitted(parsed(DOT3_PADDED));
    expect(end).toBe(21);
    expect(out.subarray(0, end)).toEqual(DOT3_PADDED.subarray(0, 21));
  });

  test("constructs a tagged frame from a repr, at a non-zero offset", () => {
    const payload = VLAN_UDP.slice(18);
    const repr: EthernetRepr = {
      kind: "ethernet-ii",
      dst: parseMac("02:00:00:00:00:02")!,
      src: parseMac("02:00:00:00:00:01")!,
      tag: { tpid: ETHERTYPE_VLAN, pcp: 5, dei: true, vid: 100 },
      etherType: ETHERTYPE_IPV4,
      payload,
    };
    const { out, end } = emitted(repr, 3);
    expect(out.subarray(0, 3)).toEqual(new Uint8Array(3).fill(MARK));
    expect(out.subarray(3, end)).toEqual(VLAN_UDP);
    expect(end).toBe(3 + VLAN_UDP.length);
    const back = parsed(out.subarray(3, end));
    expect(back).toEqual(repr);
  });

  test("without a payload: writes the header only and returns the payload offset", () => {
    const out = new Uint8Array(30).fill(MARK);
    const at = emitEthernet(
      { kind: "ethernet-ii", dst: parseMac("ff:ff:ff:ff:ff:ff")!, src: parseMac("02:00:00:00:00:01")!, etherType: ETHERTYPE_ARP },
      out,
      2,
    );
    expect(at).toBe(16);
    expect(out.subarray(2, 16)).toEqual(ARP_REQUEST.subarray(0, 14));
    expect(out[1]).toBe(MARK);
    expect(out[16]).toBe(MARK);
  });

  test("payload already in place is not copied over itself", () => {
    const out = new Uint8Array(ARP_REQUEST.length);
    out.set(ARP_REQUEST.subarray(14), 14);
    const r = parsed(ARP_REQUEST);
    const end = emitEthernet({ ...r, payload: out.subarray(14) }, out, 0);
    expect(end).toBe(ARP_REQUEST.length);
    expect(out).toEqual(ARP_REQUEST);
  });

  test("refuses impossible reprs", () => {
    const base = { dst: parseMac("ff:ff:ff:ff:ff:ff")!, src: parseMac("02:00:00:00:00:01")! };
    const out = new Uint8Array(64);
    expect(() => emitEthernet({ ...base, kind: "ethernet-ii", etherType: 0x05dc }, out, 0)).toThrow(RangeError);
    expect(() => emitEthernet({ ...base, kind: "ieee802.3", length: 1501 }, out, 0)).toThrow(RangeError);
    expect(() => emitEthernet({ ...base, kind: "ieee802.3", length: 3, payload: new Uint8Array(4) }, out, 0)).toThrow(
      RangeError,
    );
    const tag = { tpid: ETHERTYPE_VLAN, pcp: 0, dei: false, vid: 4096 };
    expect(() => emitEthernet({ ...base, kind: "ethernet-ii", etherType: 0x0800, tag }, out, 0)).toThrow(RangeError);
    const outerTag = { tpid: ETHERTYPE_QINQ, pcp: 0, dei: false, vid: 1 };
    expect(() => emitEthernet({ ...base, kind: "ethernet-ii", etherType: 0x0800, outerTag }, out, 0)).toThrow(RangeError);
    expect(() =>
      emitEthernet({ ...base, kind: "ethernet-ii", etherType: 0x0800, tag: { ...outerTag, tpid: 0x9100 } }, out, 0),
    ).toThrow(RangeError);
  });
});
