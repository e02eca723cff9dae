/**
 * IPv4/IPv6 dispatch of a TCP super-segment (TSO, issue 7): with a segment size and a link whose
 * device segments (`EthernetLink` `emitSegmented`), a packet over the MTU goes out as ONE frame —
 * not fragmented (RFC 791 §3.2 / RFC 8200 §4.5 fragmentation is skipped: the device cuts TCP
 * segments instead) — to a resolved neighbour only; without TSO it is refused and counted. The
 * same payload without a segment size is fragmented as before.
 */
import { describe, expect, test } from "vitest";
import { EthernetLink } from "../../../src/link/ethernet-link.ts";
import { NeighborCache } from "../../../src/link/neighbor-cache.ts";
import { Ipv4Layer } from "../../../src/net/ipv4.ts";
import { Ipv6Layer } from "../../../src/net/ipv6.ts";
import { seededRandom } from "../../../src/time/random.ts";
import { allocPacket } from "../../../src/wire/packet-buffer.ts";
import { parseIpv4 as parseIpv4Text, parseIpv6 as parseIpv6Text } from "../../../src/wire/ip-address.ts";
import { parseMac } from "../../../src/wire/mac.ts";

const MAC_A = parseMac("02:77:00:00:00:01") as Uint8Array;
const MAC_B = parseMac("02:77:00:00:00:02") as Uint8Array;
const IP_A = parseIpv4Text("10.77.0.1") as number;
const IP_B = parseIpv4Text("10.77.0.2") as number;
const IP6_A = parseIpv6Text("fd77::1") as Uint8Array;
const IP6_B = parseIpv6Text("fd77::2") as Uint8Array;

function host(tso: boolean) {
  const plain: Uint8Array[] = [];
  const supers: { frame: Uint8Array; segmentSize: number }[] = [];
  const link = new EthernetLink({
    mac: MAC_A,
    mtu: 1500,
    emit: (f) => plain.push(f),
    ...(tso ? { emitSegmented: (frame: Uint8Array, segmentSize: number) => supers.push({ frame, segmentSize }) } : {}),
    neighbors: new NeighborCache(),
  });
  const ipv4 = new Ipv4Layer({ link, addresses: [{ address: IP_A, prefixLength: 24 }], random: seededRandom(1) });
  const ipv6 = new Ipv6Layer({ link, addresses: [{ address: IP6_A, prefixLength: 64 }], random: seededRandom(2), dad: false, sendRouterSolicitation: false });
  return { link, ipv4, ipv6, plain, supers };
}

function resolve4(h: ReturnType<typeof host>): void {
  h.link.arp.processArp({ kind: "ethernet-ipv4", op: { kind: "reply" }, senderMac: MAC_B, senderIp: IP_B, targetMac: MAC_A, targetIp: IP_A }, true, 0);
}

/** A TCP-sized payload (the bytes do not matter to IP) of `n` bytes in an allocPacket view. */
function payload(n: number): Uint8Array {
  const p = allocPacket(n);
  for (let i = 0; i < n; i++) p[i] = i & 0xff;
  return p;
}

describe("IPv4 dispatch of a super-segment (RFC 791 §3.1 Total Length up to 65535)", () => {
  test("one frame over the MTU to the device's sendSegmented, not fragmented", () => {
    const h = host(true);
    resolve4(h);
    h.plain.length = 0;
    expect(h.ipv4.dispatch(6, undefined, IP_B, payload(5000), 0, { segmentSize: 1448 })).toBe(true);
    expect(h.plain).toEqual([]);
    expect(h.supers.length).toBe(1);
    const { frame, segmentSize } = h.supers[0] as { frame: Uint8Array; segmentSize: number };
    expect(segmentSize).toBe(1448);
    expect(frame.length).toBe(14 + 20 + 5000);
    const v = new DataView(frame.buffer, frame.byteOffset, frame.byteLength);
    expect(v.getUint16(12)).toBe(0x0800);
    expect(v.getUint16(14 + 2)).toBe(5020); // Total Length of the whole
    expect(v.getUint16(14 + 6) & 0x3fff).toBe(0); // no MF, offset 0
    expect(frame[14 + 9]).toBe(6);
    expect(Buffer.from(frame.subarray(0, 6)).equals(Buffer.from(MAC_B))).toBe(true);
    expect(frame[34 + 4999]).toBe(4999 & 0xff);
    expect(h.ipv4.counters.get("tx.tso-packets")).toBe(1);
    expect(h.ipv4.counters.get("tx.fragments")).toBe(0);
  });

  test("the same payload without a segment size is fragmented as before (RFC 791 §3.2)", () => {
    const h = host(true);
    resolve4(h);
    h.plain.length = 0;
    expect(h.ipv4.dispatch(6, undefined, IP_B, payload(5000), 0)).toBe(true);
    expect(h.supers).toEqual([]);
    expect(h.plain.length).toBe(4);
    expect(Math.max(...h.plain.map((f) => f.length))).toBeLessThanOrEqual(1514);
  });

  test("a link without TSO refuses it, counted; nothing is sent", () => {
    const h = host(false);
    resolve4(h);
    h.plain.length = 0;
    expect(h.ipv4.dispatch(6, undefined, IP_B, payload(5000), 0, { segmentSize: 1448 })).toBe(false);
    expect(h.plain).toEqual([]);
    expect(h.ipv4.counters.get("drop.no-tso")).toBe(1);
  });

  test("an unresolved neighbour: dropped and counted, never queued behind ARP as a plain frame", () => {
    const h = host(true);
    h.ipv4.dispatch(6, undefined, IP_B, payload(5000), 0, { segmentSize: 1448 });
    expect(h.supers).toEqual([]);
    expect(h.link.counters.get("drop.tso-unresolved")).toBe(1);
    resolve4(h);
    expect(h.plain.every((f) => f.length <= 1514)).toBe(true);
  });
});

describe("IPv6 dispatch of a super-segment (RFC 8200 §3 Payload Length up to 65535)", () => {
  test("one frame over the MTU, no Fragment header", () => {
    const h = host(true);
    // RFC 4861 §7.2.3: a solicitation's source link-layer option creates a STALE entry with the MAC.
    h.link.neighbors.processSolicitation(IP6_B, MAC_B, 0);
    expect(h.ipv6.dispatch(6, undefined, IP6_B, payload(6000), 0, { segmentSize: 1428 })).toBe(true);
    expect(h.supers.length).toBe(1);
    const { frame } = h.supers[0] as { frame: Uint8Array };
    expect(frame.length).toBe(14 + 40 + 6000);
    expect(frame[14 + 6]).toBe(6); // Next Header TCP, not 44 (Fragment)
    expect((frame[14 + 4] as number) * 256 + (frame[14 + 5] as number)).toBe(6000);
  });

  test("a link without TSO refuses it, counted", () => {
    const h = host(false);
    expect(h.ipv6.dispatch(6, undefined, IP6_B, payload(6000), 0, { segmentSize: 1428 })).toBe(false);
    expect(h.ipv6.counters.get("drop.no-tso")).toBe(1);
  });
});
