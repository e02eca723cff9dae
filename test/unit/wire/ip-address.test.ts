import { describe, expect, it } from "vitest";
import {
  IPV4_BROADCAST,
  ipv4Mask,
  ipv4ToString,
  ipv6Equals,
  ipv6PrefixMatch,
  ipv6ToString,
  isIpv6LinkLocal,
  isIpv6Multicast,
  parseInterfaceAddress,
  parseIpv4,
  parseIpv6,
  readIpv4,
  writeIpv4,
} from "../../../src/wire/ip-address.ts";

function hex(s: string): Uint8Array {
  return Uint8Array.from(Buffer.from(s, "hex"));
}
function v6(text: string): Uint8Array {
  const a = parseIpv6(text);
  if (a === undefined) throw new Error(`${text} did not parse`);
  return a;
}

describe("IPv4 text (RFC 4001 dotted quad)", () => {
  it("parses and prints dotted quads as unsigned 32-bit numbers", () => {
    expect(parseIpv4("10.0.0.1")).toBe(0x0a000001);
    expect(parseIpv4("0.0.0.0")).toBe(0);
    expect(parseIpv4("255.255.255.255")).toBe(IPV4_BROADCAST);
    expect(parseIpv4("192.168.1.200")).toBe(0xc0a801c8);
    expect(ipv4ToString(0xc0a801c8)).toBe("192.168.1.200");
    expect(ipv4ToString(0xffffffff)).toBe("255.255.255.255");
  });

  for (const bad of ["1.2.3", "01.2.3.4", "256.0.0.1", "1.2.3.4.5", "", "1..2.3", "a.b.c.d", " 1.2.3.4", "1.2.3.4 ", "1.2.3.-1", "1.2.3.0x1", "1.2.3.1000", "+1.2.3.4"]) {
    it(`refuses ${JSON.stringify(bad)}`, () => expect(parseIpv4(bad)).toBeUndefined());
  }

  it("reads and writes big-endian at an offset", () => {
    const b = new Uint8Array(8).fill(0xaa);
    writeIpv4(b, 3, 0xc0000201);
    expect(Buffer.from(b).toString("hex")).toBe("aaaaaac0000201aa");
    expect(readIpv4(b, 3)).toBe(0xc0000201);
  });

  it("builds masks for prefix lengths 0, 1, 24 and 32", () => {
    expect(ipv4Mask(0)).toBe(0);
    expect(ipv4Mask(1)).toBe(0x80000000);
    expect(ipv4Mask(24)).toBe(0xffffff00);
    expect(ipv4Mask(32)).toBe(0xffffffff);
  });
});

describe("IPv6 text (RFC 4291 §2.2 input, RFC 5952 output)", () => {
  const canonical: [string, string, string][] = [
    ["RFC 5952 §4.1: leading zeros dropped", "2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"],
    ["RFC 5952 §4.2.1: shorten as much as possible", "2001:db8:0:0:0:0:2:1", "2001:db8::2:1"],
    ["RFC 5952 §4.2.1: no zero group left beside ::", "2001:db8::0:1", "2001:db8::1"],
    ["RFC 5952 §4.2.2: a single zero group is not compressed", "2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"],
    ["RFC 5952 §4.2.3: the longest run is compressed", "2001:0:0:1:0:0:0:1", "2001:0:0:1::1"],
    ["RFC 5952 §4.2.3: on a tie, the first run", "2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
    ["RFC 5952 §4.3: lower case", "2001:DB8::AB:CDEF", "2001:db8::ab:cdef"],
    ["RFC 5952 §5: IPv4-mapped keeps the dotted quad", "::ffff:192.0.2.1", "::ffff:192.0.2.1"],
    ["RFC 5952 §5: IPv4-mapped written in hex", "::ffff:c000:0201", "::ffff:192.0.2.1"],
    ["unspecified", "::", "::"],
    ["loopback", "0:0:0:0:0:0:0:1", "::1"],
    ["trailing run", "fe80:0:0:0:0:0:0:0", "fe80::"],
    ["link-local", "fe80::1", "fe80::1"],
    ["no zero group", "1:2:3:4:5:6:7:8", "1:2:3:4:5:6:7:8"],
    [":: standing for one group on input", "1:2:3:4:5:6:7::", "1:2:3:4:5:6:7:0"],
  ];
  for (const [why, input, output] of canonical) {
    it(`${why}: ${input} → ${output}`, () => expect(ipv6ToString(v6(input))).toBe(output));
  }

  it("parses to the right 16 bytes", () => {
    expect(Buffer.from(v6("2001:db8::2:1")).toString("hex")).toBe("20010db8000000000000000000020001");
    expect(Buffer.from(v6("::ffff:192.0.2.1")).toString("hex")).toBe("00000000000000000000ffffc0000201");
    expect(Buffer.from(v6("::")).toString("hex")).toBe("0".repeat(32));
    // RFC 4291 §2.2 form 3: a dotted quad may end any address, not only a mapped one.
    expect(Buffer.from(v6("64:ff9b::192.0.2.33")).toString("hex")).toBe("0064ff9b0000000000000000c0000221");
  });

  const invalid = [
    ":::",
    "1::2::3",
    "1:2:3:4:5:6:7:8:9",
    "1:2:3:4:5:6:7",
    "1:2:3:4:5:6:7:8::",
    "::1:2:3:4:5:6:7:8",
    "1:2:3:4:5:6::1.2.3.4",
    "12345::",
    "g::",
    ":1::",
    "1::2:",
    ":",
    "",
    "1.2.3.4",
    "::ffff:1.2.3",
    "::ffff:01.2.3.4",
    "::ffff:256.1.1.1",
    "1.2.3.4::",
    "fe80::1%eth0",
    "[::1]",
    "0000:0000:0000:0000:0000:0000:0000:0000:0",
  ];
  for (const bad of invalid) {
    it(`refuses ${JSON.stringify(bad)}`, () => expect(parseIpv6(bad)).toBeUndefined());
  }

  it("prints 16 bytes found at an offset", () => {
    const b = new Uint8Array(20).fill(0xaa);
    b.set(v6("fd00::2"), 3);
    expect(ipv6ToString(b, 3)).toBe("fd00::2");
  });

  it("text → bytes → text → bytes is stable on random addresses with zero runs (seeded)", () => {
    let s = 5952;
    const rand = () => {
      s ^= s << 13;
      s ^= s >>> 17;
      s ^= s << 5;
      return (s >>> 0) / 2 ** 32;
    };
    for (let k = 0; k < 500; k++) {
      const a = new Uint8Array(16);
      for (let g = 0; g < 8; g++) {
        if (rand() < 0.5) continue; // leave zero groups so that runs and ties occur
        a[2 * g] = Math.floor(rand() * 256);
        a[2 * g + 1] = Math.floor(rand() * 256);
      }
      const text = ipv6ToString(a);
      expect(ipv6Equals(v6(text), a)).toBe(true);
      expect(text).toBe(text.toLowerCase());
      expect(text.includes(":::")).toBe(false);
      // RFC 5952 §4.2.2: "::" never stands for a single group.
      if (text.includes("::")) expect(text.split(":").filter((x) => x !== "").length).toBeLessThanOrEqual(6);
    }
  });

  it("classifies multicast and link-local, matches prefixes", () => {
    expect(isIpv6Multicast(v6("ff02::1"))).toBe(true);
    expect(isIpv6Multicast(v6("fe80::1"))).toBe(false);
    expect(isIpv6LinkLocal(v6("fe80::1"))).toBe(true);
    expect(isIpv6LinkLocal(v6("febf::1"))).toBe(true);
    expect(isIpv6LinkLocal(v6("fec0::1"))).toBe(false);
    expect(ipv6PrefixMatch(v6("fd00::1"), v6("fd00::2"), 64)).toBe(true);
    expect(ipv6PrefixMatch(v6("fd00:0:0:1::1"), v6("fd00::2"), 64)).toBe(false);
    expect(ipv6PrefixMatch(v6("fd00:0:0:1::1"), v6("fd00::2"), 63)).toBe(true);
    expect(ipv6PrefixMatch(hex("ff" + "00".repeat(15)), hex("fe" + "00".repeat(15)), 7)).toBe(true);
    expect(ipv6PrefixMatch(hex("ff" + "00".repeat(15)), hex("fe" + "00".repeat(15)), 8)).toBe(false);
    expect(ipv6PrefixMatch(v6("::1"), v6("::2"), 0)).toBe(true);
    expect(ipv6PrefixMatch(v6("::1"), v6("::1"), 128)).toBe(true);
    expect(ipv6PrefixMatch(v6("::1"), v6("::3"), 128)).toBe(false);
  });
});

describe("parseInterfaceAddress", () => {
  it("parses IPv4 and IPv6 addresses with prefix lengths", () => {
    expect(parseInterfaceAddress("10.0.0.2/24")).toEqual({ family: 4, address: 0x0a000002, prefixLength: 24 });
    expect(parseInterfaceAddress("0.0.0.0/0")).toEqual({ family: 4, address: 0, prefixLength: 0 });
    expect(parseInterfaceAddress("10.0.0.2/32")).toEqual({ family: 4, address: 0x0a000002, prefixLength: 32 });
    expect(parseInterfaceAddress("fd00::2/64")).toEqual({ family: 6, address: v6("fd00::2"), prefixLength: 64 });
    expect(parseInterfaceAddress("::ffff:10.0.0.2/128")).toEqual({ family: 6, address: v6("::ffff:10.0.0.2"), prefixLength: 128 });
  });

  for (const bad of ["10.0.0.2", "10.0.0.2/", "/24", "10.0.0.2/33", "fd00::2/129", "10.0.0.2/-1", "10.0.0.2/2a", "10.0.0/24", "10.0.0.2/24/1", "fd00::2", "fd00:::2/64", "10.0.0.2/1000"]) {
    it(`refuses ${JSON.stringify(bad)}`, () => expect(parseInterfaceAddress(bad)).toBeUndefined());
  }
});
