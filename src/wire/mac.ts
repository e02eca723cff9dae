/**
 * MAC addresses (IEEE 802 EUI-48) as wirestack holds them: a 6-byte `Uint8Array`, often a `subarray`
 * view into a received frame (copy it with `.slice()` before keeping it past the frame's life).
 *
 * Bit 0 of the first octet is the I/G bit (1 = group, i.e. multicast or broadcast); bit 1 is the U/L
 * bit (1 = locally administered). Text form is six lower-case hex pairs joined by ':'.
 * Parsers return `undefined` for text that is not an address; callers turn that into a user error.
 */
import type { Ipv6Address } from "./ip-address.ts";

/** Six bytes, first octet first (transmission order of octets). */
export type MacAddress = Uint8Array;

/** Octets in a MAC address. */
export const MAC_ADDRESS_LEN = 6;

/** ff:ff:ff:ff:ff:ff. Do not write into it; `.slice()` it if a mutable copy is needed. */
export const MAC_BROADCAST: MacAddress = new Uint8Array([0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);

/**
 * "02:00:00:00:00:01" or "02-00-00-00-00-01" (either case; one or two hex digits a group, one
 * separator throughout) → 6 bytes, or undefined.
 */
export function parseMac(text: string): MacAddress | undefined {
  const sep = text.includes(":") ? ":" : "-";
  const groups = text.split(sep);
  if (groups.length !== MAC_ADDRESS_LEN) return undefined;
  const out = new Uint8Array(MAC_ADDRESS_LEN);
  for (let i = 0; i < MAC_ADDRESS_LEN; i++) {
    const g = groups[i] as string;
    if (!/^[0-9a-fA-F]{1,2}$/.test(g)) return undefined;
    out[i] = parseInt(g, 16);
  }
  return out;
}

/** Lower-case colon form of the 6 bytes at `bytes[at..]`. The caller has checked the length. */
export function macToString(bytes: Uint8Array, at = 0): string {
  let s = "";
  for (let i = 0; i < MAC_ADDRESS_LEN; i++) {
    const b = bytes[at + i] as number;
    s += (i === 0 ? "" : ":") + (b < 16 ? "0" : "") + b.toString(16);
  }
  return s;
}

/** True when the first six bytes of `a` and `b` agree. */
export function macEquals(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < MAC_ADDRESS_LEN; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** IEEE 802 I/G bit set: a group address (multicast, including broadcast). */
export function isMulticastMac(mac: Uint8Array): boolean {
  return ((mac[0] as number) & 0x01) !== 0;
}

/** ff:ff:ff:ff:ff:ff. */
export function isBroadcastMac(mac: Uint8Array): boolean {
  return macEquals(mac, MAC_BROADCAST);
}

/**
 * The Ethernet destination for an IPv6 multicast address: 33:33 followed by the last four octets of
 * the address (RFC 2464 §7).
 */
export function ipv6MulticastMac(ipv6: Ipv6Address): MacAddress {
  return new Uint8Array([0x33, 0x33, ipv6[12] as number, ipv6[13] as number, ipv6[14] as number, ipv6[15] as number]);
}
