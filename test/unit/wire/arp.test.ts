import { describe, expect, test } from "vitest";
import {
  ARP_PACKET_LEN,
  ArpView,
  arpLength,
  arpOperation,
  arpOperationValue,
  emitArp,
  parseArp,
  type ArpEthernetIpv4Repr,
  type ArpOtherRepr,
  type ArpRepr,
} from "../../../src/wire/arp.ts";
import { WireError } from "../../../src/wire/error.ts";
import { parseEthernet } from "../../../src/wire/ethernet.ts";
import { ipv6ToString, parseIpv4 } from "../../../src/wire/ip-address.ts";
import { macToString, parseMac } from "../../../src/wire/mac.ts";

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ""), "hex"));
const MARK = 0xaa;

/** The Ethernet payload of a frame (padding included, as the link layer hands it to ARP). */
function payloadOf(frame: Uint8Array): Uint8Array {
  const eth = parseEthernet(frame);
  if (eth instanceof WireError) throw new Error(eth.toString());
  return eth.payload;
}

// /usr/bin/python3 -c "from scapy.all import *; print(bytes(Ether(dst='ff:ff:ff:ff:ff:ff',src='02:00:00:00:00:01')/ARP(op=1,hwsrc='02:00:00:00:00:01',psrc='10.0.0.1',pdst='10.0.0.2')).hex())"
const REQUEST = payloadOf(
  hex("ffffffffffff020000000001080600010800060400010200000000010a0000010000000000000a000002"),
);

// /usr/bin/python3 -c "from scapy.all import *; print(bytes(Ether(dst='02:00:00:00:00:01',src='02:00:00:00:00:02')/ARP(op=2,hwsrc='02:00:00:00:00:02',psrc='10.0.0.2',hwdst='02:00:00:00:00:01',pdst='10.0.0.1')).hex())"
const REPLY = payloadOf(hex("020000000001020000000002080600010800060400020200000000020a0000020200000000010a000001"));

// The request padded to the 60-byte minimum frame: the payload is 46 bytes, 18 of them padding.
// /usr/bin/python3 -c "from scapy.all import *; print(bytes(Ether(dst='ff:ff:ff:ff:ff:ff',src='02:00:00:00:00:01')/ARP(op=1,hwsrc='02:00:00:00:00:01',psrc='10.0.0.1',pdst='10.0.0.2')/Padding(b'\x00'*18)).hex())"
const PADDED_REQUEST = payloadOf(
  hex("ffffffffffff020000000001080600010800060400010200000000010a0000010000000000000a000002" + "00".repeat(18)),
);

// Not Ethernet/IPv4: ARP with protocol type IPv6 (pln 16).
// /usr/bin/python3 -c "from scapy.all import *; print(bytes(ARP(ptype=0x86dd,plen=16,hwsrc='02:00:00:00:00:01',psrc='fd00::1',pdst='fd00::2')).hex())"
const IPV6_ARP = hex(
  "000186dd06100001020000000001fd000000000000000000000000000001000000000000fd000000000000000000000000000002",
);

// RARP request (RFC 903, op 3).
// /usr/bin/python3 -c "from scapy.all import *; print(bytes(ARP(op=3,hwsrc='02:00:00:00:00:01',psrc='0.0.0.0',hwdst='02:00:00:00:00:01',pdst='0.0.0.0')).hex())"
const RARP_REQUEST = hex("00010800060400030200000000010000000002000000000100000000");

// Op 9 (InARP reply, RFC 2390): not named here, kept as unknown.
// /usr/bin/python3 -c "from scapy.all import *; print(bytes(ARP(op=9,hwsrc='02:00:00:00:00:01',psrc='10.0.0.1',hwdst='02:00:00:00:00:02',pdst='10.0.0.2')).hex())"
const OP9 = hex("00010800060400090200000000010a0000010200000000020a000002");

function parsed(bytes: Uint8Array): ArpRepr {
  const r = parseArp(bytes);
  if (r instanceof WireError) throw new Error(`unexpected ${r.toString()}`);
  return r;
}

function ethIpv4(bytes: Uint8Array): ArpEthernetIpv4Repr {
  const r = parsed(bytes);
  if (r.kind !== "ethernet-ipv4") throw new Error(r.kind);
  return r;
}

describe("parse (RFC 826)", () => {
  test("request: op, sender and target addresses", () => {
    const r = ethIpv4(REQUEST);
    expect(r.op).toEqual({ kind: "request" });
    expect(macToString(r.senderMac)).toBe("02:00:00:00:00:01");
    expect(r.senderIp).toBe(parseIpv4("10.0.0.1"));
    expect(macToString(r.targetMac)).toBe("00:00:00:00:00:00");
    expect(r.targetIp).toBe(parseIpv4("10.0.0.2"));
    expect(r.senderMac.buffer).toBe(REQUEST.buffer);
  });

  test("reply", () => {
    const r = ethIpv4(REPLY);
    expect(r.op).toEqual({ kind: "reply" });
    expect(macToString(r.senderMac)).toBe("02:00:00:00:00:02");
    expect(r.senderIp).toBe(parseIpv4("10.0.0.2"));
    expect(macToString(r.targetMac)).toBe("02:00:00:00:00:01");
    expect(r.targetIp).toBe(parseIpv4("10.0.0.1"));
  });

  test("Ethernet padding after the 28 octets is ignored", () => {
    expect(PADDED_REQUEST.length).toBe(46);
    expect(parsed(PADDED_REQUEST)).toEqual(parsed(REQUEST));
  });

  test("parses a packet at a non-zero offset in its buffer", () => {
    const big = new Uint8Array(3 + 28).fill(MARK);
    big.set(REPLY, 3);
    expect(parsed(big.subarray(3))).toEqual(parsed(REPLY));
  });

  test("ARP for IPv6 (pln 16) is 'other', addresses as views", () => {
    const r = parsed(IPV6_ARP);
    if (r.kind !== "other") throw new Error(r.kind);
    expect(r).toMatchObject({ htype: 1, ptype: 0x86dd, hlen: 6, plen: 16, op: { kind: "request" } });
    expect(macToString(r.sha)).toBe("02:00:00:00:00:01");
    expect(ipv6ToString(r.spa)).toBe("fd00::1");
    expect(macToString(r.tha)).toBe("00:00:00:00:00:00");
    expect(ipv6ToString(r.tpa)).toBe("fd00::2");
    expect(arpLength(r)).toBe(8 + 2 * (6 + 16));
  });

  test("hardware type other than Ethernet is 'other' even with 6/4 lengths", () => {
    const pkt = REQUEST.slice(0, 28);
    pkt[1] = 6; // IEEE 802 networks
    const r = parsed(pkt);
    expect(r.kind).toBe("other");
    expect(r.kind === "other" && r.htype).toBe(6);
  });

  test("RARP request (RFC 903) is named", () => {
    const r = ethIpv4(RARP_REQUEST);
    expect(r.op).toEqual({ kind: "rarp-request" });
    expect(macToString(r.targetMac)).toBe("02:00:00:00:00:01");
  });

  test("unknown op keeps its value", () => {
    const r = ethIpv4(OP9);
    expect(r.op).toEqual({ kind: "unknown", value: 9 });
    expect(arpOperationValue(r.op)).toBe(9);
  });

  test("arpOperation / arpOperationValue agree", () => {
    for (const v of [0, 1, 2, 3, 4, 5, 0xffff]) expect(arpOperationValue(arpOperation(v))).toBe(v);
    expect(arpOperation(4)).toEqual({ kind: "rarp-reply" });
  });

  test("zero hardware and protocol lengths: an 8-octet packet, parsed safely", () => {
    const r = parsed(hex("0001 0800 00 00 0001"));
    expect(r).toMatchObject({ kind: "other", hlen: 0, plen: 0 });
  });
});

describe("malformed and truncated packets", () => {
  test.each([
    ["request", REQUEST],
    ["IPv6 ARP", IPV6_ARP],
  ])("every truncation of %s is a truncated WireError", (_name, pkt) => {
    for (let i = 0; i < pkt.length; i++) {
      const r = parseArp(pkt.slice(0, i));
      expect(r).toBeInstanceOf(WireError);
      expect((r as WireError).reason).toBe("truncated");
      expect((r as WireError).layer).toBe("arp");
    }
  });

  test("lengths announcing more than present: truncated (8 + 2 × (255 + 255) octets)", () => {
    const pkt = REQUEST.slice(0, 28);
    pkt[4] = 0xff;
    pkt[5] = 0xff;
    const v = ArpView.check(pkt);
    expect(v).toBeInstanceOf(WireError);
    expect((v as WireError).reason).toBe("truncated");
  });
});

describe("emit", () => {
  test.each([
    ["request", REQUEST],
    ["reply", REPLY],
    ["RARP", RARP_REQUEST],
    ["op 9", OP9],
    ["IPv6 ARP (other)", IPV6_ARP],
  ])("%s: parse then emit gives the same bytes, marker untouched around", (_name, pkt) => {
    const r = parsed(pkt);
    const len = arpLength(r);
    const out = new Uint8Array(5 + len + 1).fill(MARK);
    const end = emitArp(r, out, 5);
    expect(end).toBe(5 + len);
    expect(out.subarray(5, end)).toEqual(pkt.subarray(0, len));
    expect(out.subarray(0, 5)).toEqual(new Uint8Array(5).fill(MARK));
    expect(out[end]).toBe(MARK);
  });

  test("constructs a reply from a repr", () => {
    const repr: ArpEthernetIpv4Repr = {
      kind: "ethernet-ipv4",
      op: { kind: "reply" },
      senderMac: parseMac("02:00:00:00:00:02")!,
      senderIp: parseIpv4("10.0.0.2")!,
      targetMac: parseMac("02:00:00:00:00:01")!,
      targetIp: parseIpv4("10.0.0.1")!,
    };
    const out = new Uint8Array(ARP_PACKET_LEN).fill(MARK);
    expect(emitArp(repr, out, 0)).toBe(ARP_PACKET_LEN);
    expect(out).toEqual(REPLY);
  });

  test("refuses impossible reprs", () => {
    const out = new Uint8Array(64);
    const good = ethIpv4(REQUEST);
    expect(() => emitArp({ ...good, senderMac: new Uint8Array(5) }, out, 0)).toThrow(RangeError);
    expect(() => emitArp({ ...good, op: { kind: "unknown", value: 0x10000 } }, out, 0)).toThrow(RangeError);
    const other = parsed(IPV6_ARP) as ArpOtherRepr;
    expect(() => emitArp({ ...other, plen: 4 }, out, 0)).toThrow(RangeError);
    expect(() => emitArp({ ...other, tha: new Uint8Array(5) }, out, 0)).toThrow(RangeError);
  });
});
