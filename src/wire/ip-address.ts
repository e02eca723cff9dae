/**
 * IP addresses as wirestack holds them: an IPv4 address is an unsigned 32-bit number (cheap to
 * compare, hash and mask); an IPv6 address is a 16-byte `Uint8Array`. Text forms follow RFC 4001
 * (dotted quad, no leading zeros accepted) and RFC 5952 (canonical IPv6 text: lower case, longest
 * run of two or more zero groups compressed, the first such run on a tie).
 *
 * Parsers return `undefined` for text that is not an address; callers turn that into a user error.
 */

export type Ipv4Address = number;
export type Ipv6Address = Uint8Array;

export const IPV4_ANY: Ipv4Address = 0;
export const IPV4_BROADCAST: Ipv4Address = 0xffffffff;

/** "10.0.0.1" → 0x0a000001, or undefined. */
export function parseIpv4(text: string): Ipv4Address | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  let value = 0;
  for (const part of parts) {
    if (!/^(0|[1-9][0-9]{0,2})$/.test(part)) return undefined;
    const n = Number(part);
    if (n > 255) return undefined;
    value = value * 256 + n;
  }
  return value >>> 0;
}

export function ipv4ToString(addr: Ipv4Address): string {
  return `${addr >>> 24}.${(addr >>> 16) & 0xff}.${(addr >>> 8) & 0xff}.${addr & 0xff}`;
}

/** Reads an IPv4 address at `at` (big-endian). The caller has checked the length. */
export function readIpv4(bytes: Uint8Array, at: number): Ipv4Address {
  return (
    (((bytes[at] as number) << 24) |
      ((bytes[at + 1] as number) << 16) |
      ((bytes[at + 2] as number) << 8) |
      (bytes[at + 3] as number)) >>>
    0
  );
}

export function writeIpv4(bytes: Uint8Array, at: number, addr: Ipv4Address): void {
  bytes[at] = addr >>> 24;
  bytes[at + 1] = (addr >>> 16) & 0xff;
  bytes[at + 2] = (addr >>> 8) & 0xff;
  bytes[at + 3] = addr & 0xff;
}

/** A netmask of `prefixLength` leading ones. */
export function ipv4Mask(prefixLength: number): number {
  return prefixLength === 0 ? 0 : (0xffffffff << (32 - prefixLength)) >>> 0;
}

/** "fd00::1" (also "::ffff:1.2.3.4" and zone-less link-local) → 16 bytes, or undefined. */
export function parseIpv6(text: string): Ipv6Address | undefined {
  if (text.length === 0 || text.length > 45) return undefined;
  let head = text;
  let tailV4: number | undefined;
  const lastColon = text.lastIndexOf(":");
  if (text.indexOf(".", lastColon) !== -1) {
    tailV4 = parseIpv4(text.slice(lastColon + 1));
    if (tailV4 === undefined) return undefined;
    head = text.slice(0, lastColon + 1) + "0:0";
  }
  const halves = head.split("::");
  if (halves.length > 2) return undefined;
  const groupsOf = (s: string): number[] | undefined => {
    if (s === "") return [];
    const out: number[] = [];
    for (const g of s.split(":")) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const left = groupsOf(halves[0] as string);
  const right = halves.length === 2 ? groupsOf(halves[1] as string) : [];
  if (!left || !right) return undefined;
  const total = left.length + right.length;
  if (halves.length === 2 ? total > 7 : total !== 8) return undefined;
  const groups = [...left, ...new Array<number>(8 - total).fill(0), ...right];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    out[2 * i] = g >>> 8;
    out[2 * i + 1] = g & 0xff;
  });
  if (tailV4 !== undefined) writeIpv4(out, 12, tailV4);
  return out;
}

/** RFC 5952 canonical text of 16 bytes at `at`. */
export function ipv6ToString(addr: Uint8Array, at = 0): string {
  const groups: number[] = [];
  for (let i = 0; i < 8; i++) groups.push(((addr[at + 2 * i] as number) << 8) | (addr[at + 2 * i + 1] as number));
  // RFC 5952 §4.2.2/§4.2.3: compress the longest run of ≥2 zero groups, the first on a tie.
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  // RFC 5952 §5: IPv4-mapped addresses keep the dotted quad.
  if (bestStart === 0 && bestLen === 5 && groups[5] === 0xffff) {
    return `::ffff:${ipv4ToString(readIpv4(addr, at + 12))}`;
  }
  const hex = (gs: number[]) => gs.map((g) => g.toString(16)).join(":");
  if (bestStart === -1) return hex(groups);
  return `${hex(groups.slice(0, bestStart))}::${hex(groups.slice(bestStart + bestLen))}`;
}

export function ipv6Equals(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < 16; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** True when the first `prefixLength` bits of `a` and `b` agree. */
export function ipv6PrefixMatch(a: Uint8Array, b: Uint8Array, prefixLength: number): boolean {
  let bits = prefixLength;
  for (let i = 0; i < 16 && bits > 0; i++, bits -= 8) {
    const mask = bits >= 8 ? 0xff : (0xff << (8 - bits)) & 0xff;
    if ((((a[i] as number) ^ (b[i] as number)) & mask) !== 0) return false;
  }
  return true;
}

export function isIpv6Multicast(a: Uint8Array): boolean {
  return a[0] === 0xff;
}

export function isIpv6LinkLocal(a: Uint8Array): boolean {
  return a[0] === 0xfe && ((a[1] as number) & 0xc0) === 0x80;
}

/** An address with its prefix length, as given on the command line: "10.0.0.2/24", "fd00::2/64". */
export type InterfaceAddress =
  | { readonly family: 4; readonly address: Ipv4Address; readonly prefixLength: number }
  | { readonly family: 6; readonly address: Ipv6Address; readonly prefixLength: number };

/** Parses "A.B.C.D/N" or "ADDR6/N"; undefined when either part is bad. */
export function parseInterfaceAddress(text: string): InterfaceAddress | undefined {
  const slash = text.lastIndexOf("/");
  if (slash === -1) return undefined;
  const addrText = text.slice(0, slash);
  const lenText = text.slice(slash + 1);
  if (!/^(0|[1-9][0-9]{0,2})$/.test(lenText)) return undefined;
  const prefixLength = Number(lenText);
  const v4 = parseIpv4(addrText);
  if (v4 !== undefined) return prefixLength <= 32 ? { family: 4, address: v4, prefixLength } : undefined;
  const v6 = parseIpv6(addrText);
  if (v6 !== undefined) return prefixLength <= 128 ? { family: 6, address: v6, prefixLength } : undefined;
  return undefined;
}
