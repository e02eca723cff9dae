import { describe, expect, test } from "vitest";
import { parseIpv6 } from "../../../src/wire/ip-address.ts";
import {
  MAC_BROADCAST,
  ipv6MulticastMac,
  isBroadcastMac,
  isMulticastMac,
  macEquals,
  macToString,
  parseMac,
} from "../../../src/wire/mac.ts";

describe("parseMac", () => {
  test("colon form", () => {
    expect(parseMac("02:00:00:00:00:01")).toEqual(new Uint8Array([2, 0, 0, 0, 0, 1]));
  });
  test("dash form and upper case", () => {
    expect(parseMac("0A-1B-2C-3D-4E-FF")).toEqual(new Uint8Array([0x0a, 0x1b, 0x2c, 0x3d, 0x4e, 0xff]));
  });
  test("single-digit groups", () => {
    expect(parseMac("2:0:0:0:0:1")).toEqual(new Uint8Array([2, 0, 0, 0, 0, 1]));
  });
  test.each([
    "",
    "02:00:00:00:00",
    "02:00:00:00:00:01:02",
    "02:00:00:00:00:001",
    "02:00:00:00:00:0g",
    "02:00-00:00:00:01",
    "02::00:00:00:01",
    "0200.0000.0001",
    " 02:00:00:00:00:01",
  ])("refuses %j", (text) => {
    expect(parseMac(text)).toBeUndefined();
  });
});

describe("macToString", () => {
  test("lower case, zero-padded, at an offset", () => {
    const b = new Uint8Array([0xaa, 0xaa, 0x0a, 0x1b, 0x2c, 0x3d, 0x4e, 0xff]);
    expect(macToString(b, 2)).toBe("0a:1b:2c:3d:4e:ff");
  });
  test("round trip through parseMac", () => {
    const text = "02:42:ac:11:00:02";
    expect(macToString(parseMac(text) as Uint8Array)).toBe(text);
  });
});

describe("predicates", () => {
  test("macEquals", () => {
    expect(macEquals(parseMac("02:00:00:00:00:01")!, new Uint8Array([2, 0, 0, 0, 0, 1]))).toBe(true);
    expect(macEquals(parseMac("02:00:00:00:00:01")!, parseMac("02:00:00:00:00:02")!)).toBe(false);
  });
  test("I/G bit marks multicast; broadcast is multicast", () => {
    expect(isMulticastMac(parseMac("01:00:5e:00:00:01")!)).toBe(true);
    expect(isMulticastMac(parseMac("33:33:00:00:00:01")!)).toBe(true);
    expect(isMulticastMac(MAC_BROADCAST)).toBe(true);
    // 02: locally administered (U/L) but individual.
    expect(isMulticastMac(parseMac("02:00:00:00:00:01")!)).toBe(false);
  });
  test("isBroadcastMac", () => {
    expect(isBroadcastMac(parseMac("ff:ff:ff:ff:ff:ff")!)).toBe(true);
    expect(isBroadcastMac(parseMac("ff:ff:ff:ff:ff:fe")!)).toBe(false);
  });
});

describe("ipv6MulticastMac (RFC 2464 §7)", () => {
  test("all-nodes ff02::1 → 33:33:00:00:00:01", () => {
    expect(macToString(ipv6MulticastMac(parseIpv6("ff02::1")!))).toBe("33:33:00:00:00:01");
  });
  test("solicited-node ff02::1:ff00:2 → 33:33:ff:00:00:02", () => {
    expect(macToString(ipv6MulticastMac(parseIpv6("ff02::1:ff00:2")!))).toBe("33:33:ff:00:00:02");
  });
  test("uses the last four octets only", () => {
    expect(macToString(ipv6MulticastMac(parseIpv6("ff05::1:3:89ab:cdef")!))).toBe("33:33:89:ab:cd:ef");
  });
});
