/**
 * Stateless address autoconfiguration arithmetic (RFC 4862 §5.3, §5.5.3; modified EUI-64 interface
 * identifiers: RFC 4291 §2.5.1 and Appendix A, RFC 2464 §4 for Ethernet). Pure functions: net/ndp
 * keeps the state and the timers, this file only computes addresses and lifetimes.
 */
import type { Ipv6Address } from "../wire/ip-address.ts";
import type { MacAddress } from "../wire/mac.ts";

/** RFC 4862 §5.5.3 (e): the two hours below which an unauthenticated RA cannot shorten a lifetime. */
export const TWO_HOURS_MS = 2 * 60 * 60 * 1000;
/** The prefix length SLAAC needs on Ethernet: 128 minus the 64-bit interface identifier (RFC 4862 §5.5.3 (d)). */
export const SLAAC_PREFIX_LEN = 64;
/** "Infinity" in Prefix Information lifetimes (RFC 4861 §4.6.2). */
const INFINITE = 0xffffffff;

/**
 * The modified EUI-64 interface identifier of a 48-bit MAC (RFC 4291 Appendix A, RFC 2464 §4): insert
 * ff:fe in the middle and invert the universal/local bit, so 02:77:00:00:00:01 → 0077:00ff:fe00:0001.
 */
export function interfaceIdentifier(mac: MacAddress): Uint8Array {
  return new Uint8Array([
    (mac[0] as number) ^ 0x02,
    mac[1] as number,
    mac[2] as number,
    0xff,
    0xfe,
    mac[3] as number,
    mac[4] as number,
    mac[5] as number,
  ]);
}

/** `prefix`'s first 64 bits followed by the interface identifier of `mac` (RFC 4862 §5.5.3 (d)). */
export function addressFromPrefix(prefix: Ipv6Address, mac: MacAddress): Ipv6Address {
  const out = new Uint8Array(16);
  out.set(prefix.subarray(0, 8), 0);
  out.set(interfaceIdentifier(mac), 8);
  return out;
}

/** The link-local address fe80::/64 + interface identifier (RFC 4862 §5.3). */
export function linkLocalFromMac(mac: MacAddress): Ipv6Address {
  const out = new Uint8Array(16);
  out[0] = 0xfe;
  out[1] = 0x80;
  out.set(interfaceIdentifier(mac), 8);
  return out;
}

/** A lifetime in seconds from a Prefix Information option as an absolute time; infinity → undefined. */
export function lifetimeDeadline(seconds: number, now: number): number | undefined {
  return seconds === INFINITE ? undefined : now + seconds * 1000;
}

/**
 * RFC 4862 §5.5.3 (e): the new valid-lifetime deadline of an autoconfigured address when an RA
 * advertises its prefix again with `receivedSeconds`. `current` is the address's valid deadline
 * (undefined = infinite). Without authentication an RA may lengthen the lifetime freely, but may
 * shorten it only down to two hours, so a forged RA cannot expire addresses quickly:
 *   1. received > 2 hours, or received > remaining  → received;
 *   2. remaining ≤ 2 hours                           → unchanged;
 *   3. otherwise                                      → 2 hours.
 */
export function updatedValidLifetime(current: number | undefined, receivedSeconds: number, now: number): number | undefined {
  const received = lifetimeDeadline(receivedSeconds, now);
  const receivedMs = received === undefined ? Infinity : received - now;
  const remainingMs = current === undefined ? Infinity : current - now;
  if (receivedMs > TWO_HOURS_MS || receivedMs > remainingMs) return received;
  if (remainingMs <= TWO_HOURS_MS) return current;
  return now + TWO_HOURS_MS;
}
