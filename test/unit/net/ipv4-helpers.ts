/**
 * Shared fixtures for the IPv4-path tests (link, ipv4, icmpv4): frames from the kernel-recorded
 * captures in captures/ (see captures/README.md: wsrec-a 02:77:00:00:00:01 / 10.77.0.1, wsrec-b
 * 02:77:00:00:00:02 / 10.77.0.2), and a host (link + ipv4 + icmpv4) whose sent frames are collected.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { NeighborCache } from "../../../src/link/neighbor-cache.ts";
import { EthernetLink } from "../../../src/link/ethernet-link.ts";
import type { ArpConfig } from "../../../src/link/arp-cache.ts";
import { Icmpv4 } from "../../../src/net/icmpv4.ts";
import { Ipv4Layer, type Ipv4ReassemblyConfig } from "../../../src/net/ipv4.ts";
import { readCapture } from "../../../src/pcap/index.ts";
import { seededRandom } from "../../../src/time/random.ts";
import { WireError } from "../../../src/wire/error.ts";
import { parseIpv4 as parseIpv4Text } from "../../../src/wire/ip-address.ts";
import { parseMac } from "../../../src/wire/mac.ts";

export function hex(s: string): Uint8Array {
  return Uint8Array.from(Buffer.from(s.replace(/\s+/g, ""), "hex"));
}
export function toHex(b: Uint8Array): string {
  return Buffer.from(b).toString("hex");
}
export function ip(text: string): number {
  const a = parseIpv4Text(text);
  if (a === undefined) throw new Error(`bad test address ${text}`);
  return a;
}
export function mac(text: string): Uint8Array {
  const m = parseMac(text);
  if (m === undefined) throw new Error(`bad test MAC ${text}`);
  return m;
}

/** Frame `n` (1-based, as tcpdump and Wireshark number them) of captures/`file`, copied. */
export function captureFrame(file: string, n: number): Uint8Array {
  const path = fileURLToPath(new URL(`../../../captures/${file}`, import.meta.url));
  const cap = readCapture(new Uint8Array(readFileSync(path)));
  if (cap instanceof WireError) throw new Error(cap.toString());
  const rec = cap.records[n - 1];
  if (rec === undefined) throw new Error(`${file} has no frame ${n}`);
  return rec.data.slice();
}

export const MAC_A = mac("02:77:00:00:00:01");
export const MAC_B = mac("02:77:00:00:00:02");
export const IP_A = ip("10.77.0.1");
export const IP_B = ip("10.77.0.2");

export interface TestHost {
  readonly link: EthernetLink;
  readonly ipv4: Ipv4Layer;
  readonly icmp: Icmpv4;
  /** Every frame emitted, in order. */
  readonly sent: Uint8Array[];
  /** Feeds a frame through link → ipv4 → icmp (protocol 1) and returns the ICMP event, if any. */
  receive(frame: Uint8Array, now: number): ReturnType<Icmpv4["processIcmp"]> | "delivered" | undefined;
}

/** A host on the capture topology: by default wsrec-a (10.77.0.1/24, 02:77:00:00:00:01). */
export function makeHost(
  opts: {
    mac?: Uint8Array;
    address?: number;
    prefixLength?: number;
    gateway?: number;
    mtu?: number;
    arp?: Partial<ArpConfig>;
    reassembly?: Partial<Ipv4ReassemblyConfig>;
    rateLimit?: { ratePerSec?: number; burst?: number };
  } = {},
): TestHost {
  const sent: Uint8Array[] = [];
  const link = new EthernetLink({
    mac: opts.mac ?? MAC_A,
    mtu: opts.mtu ?? 1500,
    emit: (f) => sent.push(f),
    arp: opts.arp,
    neighbors: new NeighborCache(),
  });
  const ipv4 = new Ipv4Layer({
    link,
    addresses: [{ address: opts.address ?? IP_A, prefixLength: opts.prefixLength ?? 24 }],
    gateway: opts.gateway,
    reassembly: opts.reassembly,
    random: seededRandom(1),
  });
  const icmp = new Icmpv4({ ipv4, rateLimit: opts.rateLimit });
  return {
    link,
    ipv4,
    icmp,
    sent,
    receive(frame, now) {
      const ingress = link.processFrame(frame, now);
      if (ingress === undefined || ingress.kind !== "ipv4") return undefined;
      const d = ipv4.processPacket(ingress, now);
      if (d === undefined) return undefined;
      return d.protocol === 1 ? icmp.processIcmp(d, now) : "delivered";
    },
  };
}
