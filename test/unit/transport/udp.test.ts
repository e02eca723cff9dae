import { describe, expect, it } from "vitest";
import { WirestackError } from "../../../src/errors.ts";
import { seededRandom } from "../../../src/time/random.ts";
import {
  EPHEMERAL_PORT_MAX,
  EPHEMERAL_PORT_MIN,
  pickEphemeralPort,
} from "../../../src/transport/ports.ts";
import {
  UDP_MAX_PAYLOAD_V4,
  UDP_MAX_PAYLOAD_V6,
  UdpLayer,
  type IpDelivery,
  type IpDeliveryV4,
  type Ipv4Sender,
  type Ipv6Sender,
  type UdpHandler,
  type UdpIcmpError,
  type IcmpErrorEvent,
  classifyIcmpError,
  type UdpPeer,
} from "../../../src/transport/udp.ts";
import type { Icmpv4ErrorEvent } from "../../../src/net/icmpv4.ts";
import { parseIpv4, parseIpv6, type Ipv4Address, type Ipv6Address } from "../../../src/wire/ip-address.ts";
import { PACKET_HEADROOM, expandFront } from "../../../src/wire/packet-buffer.ts";

function hex(s: string): Uint8Array {
  return Uint8Array.from(Buffer.from(s, "hex"));
}
function toHex(b: Uint8Array): string {
  return Buffer.from(b).toString("hex");
}
const v4 = (s: string) => parseIpv4(s) as Ipv4Address;
const v6 = (s: string) => parseIpv6(s) as Ipv6Address;

const ME4 = v4("10.0.0.1");
const PEER4 = v4("10.0.0.2");
const ME6 = v6("fd00::1");
const PEER6 = v6("fd00::2");

// The UDP part of datagrams built by scapy 2.5.0 (Debian's python3-scapy):
//   /usr/bin/python3 -c 'from scapy.all import *; print(raw(IP(src=S,dst=D)/U)[20:].hex())'
// (IPv6: IPv6(src=S,dst=D)/U and [40:]); S, D and U are given above each constant.

// S=10.0.0.2 D=10.0.0.1 U=UDP(sport=40000,dport=7)/b"hello wirestack"
const IN_V4 = "9c4000070017e1dc68656c6c6f2077697265737461636b";
// IPv6, S=fd00::2 D=fd00::1 U=UDP(sport=40000,dport=7)/b"hello v6"
const IN_V6 = "9c4000070010af5968656c6c6f207636";
// S=10.0.0.1 D=10.0.0.2 U=UDP(sport=7,dport=40000)/b"hello wirestack"
const OUT_V4 = "00079c400017e1dc68656c6c6f2077697265737461636b";
// IPv6, S=fd00::1 D=fd00::2 U=UDP(sport=7,dport=40000)/b"hello v6"
const OUT_V6 = "00079c400010af5968656c6c6f207636";
// IPv6, S=fd00::1 D=fd00::2 U=UDP(sport=5353,dport=5353) (no payload)
const OUT_V6_EMPTY = "14e914e90008dc07";
// S=10.0.0.2 D=10.0.0.1 U=UDP(sport=40000,dport=7,chksum=0)/b"no sum"  (IPv6 with fd00::2 → fd00::1: same bytes)
const NO_SUM = "9c400007000e00006e6f2073756d";
// S=10.0.0.2 D=10.0.0.255 U=UDP(sport=40000,dport=9999)/b"bcast"
const BCAST_9999 = "9c40270f000defac6263617374";
// S=10.0.0.2 D=10.0.0.1 U=UDP(sport=40000,dport=9999)/b"closed"
const CLOSED_9999 = "9c40270f000ef03b636c6f736564";

interface Sent<A> {
  protocol: number;
  src: A | undefined;
  dst: A;
  payload: Uint8Array;
  now: number;
}

class FakeIpv4 implements Ipv4Sender {
  sent: Sent<Ipv4Address>[] = [];
  accept = true;
  route = true;
  dispatch(protocol: number, src: Ipv4Address | undefined, dst: Ipv4Address, payload: Uint8Array, now: number): boolean {
    this.sent.push({ protocol, src, dst, payload, now });
    return this.accept;
  }
  routeFor(_dst: Ipv4Address): { src: Ipv4Address } | undefined {
    return this.route ? { src: ME4 } : undefined;
  }
  isLocal(addr: Ipv4Address): boolean {
    return addr === ME4;
  }
}

class FakeIpv6 implements Ipv6Sender {
  sent: Sent<Ipv6Address>[] = [];
  dispatch(protocol: number, src: Ipv6Address | undefined, dst: Ipv6Address, payload: Uint8Array, now: number): boolean {
    this.sent.push({ protocol, src, dst, payload, now });
    return true;
  }
  routeFor(_dst: Ipv6Address): { src: Ipv6Address } | undefined {
    return { src: ME6 };
  }
  isLocal(addr: Ipv6Address): boolean {
    return Buffer.from(addr).equals(Buffer.from(ME6));
  }
}

function setup(seed = 1) {
  const ipv4 = new FakeIpv4();
  const ipv6 = new FakeIpv6();
  const udp = new UdpLayer({ ipv4, ipv6, random: seededRandom(seed) });
  return { ipv4, ipv6, udp };
}

/** A handler that records what it gets. */
function recorder() {
  const messages: Array<{ payload: Uint8Array; from: UdpPeer; now: number }> = [];
  const errors: UdpIcmpError[] = [];
  const handler: UdpHandler = {
    onMessage: (payload, from, now) => messages.push({ payload, from, now }),
    onIcmpError: (e) => errors.push(e),
  };
  return { messages, errors, handler };
}

function in4(payload: Uint8Array, dst = ME4, dstKind: "unicast" | "broadcast" | "multicast" = "unicast"): IpDeliveryV4 {
  return { family: 4, protocol: 17, src: PEER4, dst, payload, dstKind };
}
function in6(payload: Uint8Array, dst = ME6, dstKind: "unicast" | "multicast" = "unicast"): IpDelivery {
  return { family: 6, protocol: 17, src: PEER6, dst, payload, dstKind };
}

describe("UDP ingress (RFC 768)", () => {
  it("delivers a datagram over IPv4 to the bound port with its sender, without copying", () => {
    const { udp } = setup();
    const r = recorder();
    udp.bind(7, { family: 4 }, r.handler);
    const bytes = hex(IN_V4);
    expect(udp.processDatagram(in4(bytes), 123)).toBe("delivered");
    expect(r.messages).toHaveLength(1);
    const m = r.messages[0]!;
    expect(Buffer.from(m.payload).toString()).toBe("hello wirestack");
    expect(m.payload.buffer).toBe(bytes.buffer);
    expect(m.from).toEqual({ family: 4, address: PEER4, port: 40000 });
    expect(m.now).toBe(123);
    expect(udp.counters.get("rx.delivered")).toBe(1);
  });

  it("delivers a datagram over IPv6 (RFC 8200 §8.1 pseudo-header) to a dual-stack binding", () => {
    const { udp } = setup();
    const r = recorder();
    udp.bind(7, { family: "dual" }, r.handler);
    expect(udp.processDatagram(in6(hex(IN_V6)), 0)).toBe("delivered");
    expect(udp.processDatagram(in4(hex(IN_V4)), 0)).toBe("delivered");
    expect(r.messages.map((m) => Buffer.from(m.payload).toString())).toEqual(["hello v6", "hello wirestack"]);
    expect(r.messages[0]!.from.family).toBe(6);
    expect(Buffer.from(r.messages[0]!.from.address as Uint8Array).equals(Buffer.from(PEER6))).toBe(true);
  });

  it("ignores bytes past the UDP Length (Ethernet padding), found at a non-zero offset", () => {
    const { udp } = setup();
    const r = recorder();
    udp.bind(7, { family: 4 }, r.handler);
    const frame = new Uint8Array(5 + 23 + 6).fill(0xaa);
    frame.set(hex(IN_V4), 5);
    expect(udp.processDatagram(in4(frame.subarray(5)), 0)).toBe("delivered");
    expect(Buffer.from(r.messages[0]!.payload).toString()).toBe("hello wirestack");
  });

  it("accepts checksum 0 over IPv4 (RFC 768: no checksum computed)", () => {
    const { udp } = setup();
    const r = recorder();
    udp.bind(7, { family: "dual" }, r.handler);
    expect(udp.processDatagram(in4(hex(NO_SUM)), 0)).toBe("delivered");
    expect(Buffer.from(r.messages[0]!.payload).toString()).toBe("no sum");
  });

  it("drops checksum 0 over IPv6 and counts it (RFC 8200 §8.1)", () => {
    const { udp } = setup();
    const r = recorder();
    udp.bind(7, { family: "dual" }, r.handler);
    expect(udp.processDatagram(in6(hex(NO_SUM)), 0)).toBe("dropped");
    expect(r.messages).toHaveLength(0);
    expect(udp.counters.get("drop.zero-checksum")).toBe(1);
  });

  it("drops a bad checksum silently and counts it (RFC 1122 §4.1.3.4)", () => {
    const { udp } = setup();
    const r = recorder();
    udp.bind(7, { family: "dual" }, r.handler);
    const b4 = hex(IN_V4);
    b4[10] = b4[10]! ^ 0x01;
    const b6 = hex(IN_V6);
    b6[6] = b6[6]! ^ 0x80;
    expect(udp.processDatagram(in4(b4), 0)).toBe("dropped");
    expect(udp.processDatagram(in6(b6), 0)).toBe("dropped");
    // The right bytes from the wrong source fail too: the pseudo-header is covered.
    expect(udp.processDatagram({ ...in4(hex(IN_V4)), src: v4("10.0.0.3") }, 0)).toBe("dropped");
    expect(r.messages).toHaveLength(0);
    expect(udp.counters.snapshot()).toMatchObject({ "udp.drop.bad-checksum": 3 });
  });

  it("drops every truncation of a valid datagram without throwing, counted by reason", () => {
    const { udp } = setup();
    const r = recorder();
    udp.bind(7, { family: "dual" }, r.handler);
    const full = hex(IN_V4);
    for (let n = 0; n < full.length; n++) {
      expect(udp.processDatagram(in4(full.subarray(0, n)), 0)).toBe("dropped");
    }
    expect(r.messages).toHaveLength(0);
    expect(udp.counters.get("drop.truncated")).toBe(full.length);
  });

  it("drops a Length below 8 as bad-length", () => {
    const { udp } = setup();
    udp.bind(7, { family: 4 }, recorder().handler);
    const b = hex(NO_SUM);
    b[5] = 7;
    expect(udp.processDatagram(in4(b), 0)).toBe("dropped");
    expect(udp.counters.get("drop.bad-length")).toBe(1);
  });

  it("answers port-unreachable for a closed port on a unicast destination (RFC 1122 §4.1.3.1)", () => {
    const { udp } = setup();
    udp.bind(7, { family: "dual" }, recorder().handler);
    expect(udp.processDatagram(in4(hex(CLOSED_9999)), 0)).toBe("port-unreachable");
    expect(udp.counters.get("rx.port-unreachable")).toBe(1);
  });

  it("drops silently, with no ICMP, for a closed port on broadcast and multicast destinations (RFC 1122 §4.1.3.1)", () => {
    const { udp } = setup();
    expect(udp.processDatagram(in4(hex(BCAST_9999), v4("10.0.0.255"), "broadcast"), 0)).toBe("dropped");
    expect(udp.counters.get("drop.no-socket-broadcast")).toBe(1);
    // Same bytes presented as multicast: the checksum covers the destination, so rebuild it for ff02::1.
    const { udp: u2, ipv6 } = setup();
    const b = u2.bind(9999, { family: 6 }, recorder().handler);
    u2.send(b, v6("ff02::1"), 9999, Buffer.from("m"), 0);
    u2.unbind(b);
    const dgram = ipv6.sent[0]!.payload;
    expect(u2.processDatagram({ family: 6, protocol: 17, src: ME6, dst: v6("ff02::1"), payload: dgram, dstKind: "multicast" }, 0)).toBe("dropped");
    expect(u2.counters.get("drop.no-socket-multicast")).toBe(1);
    expect(u2.counters.get("rx.port-unreachable")).toBe(0);
  });

  it("delivers a broadcast to a wildcard binding but not to one bound to a unicast address", () => {
    const { udp } = setup();
    const specific = recorder();
    const b = udp.bind(9999, { family: 4, address: ME4 }, specific.handler);
    expect(udp.processDatagram(in4(hex(BCAST_9999), v4("10.0.0.255"), "broadcast"), 0)).toBe("dropped");
    udp.unbind(b);
    const any = recorder();
    udp.bind(9999, { family: 4 }, any.handler);
    expect(udp.processDatagram(in4(hex(BCAST_9999), v4("10.0.0.255"), "broadcast"), 0)).toBe("delivered");
    expect(specific.messages).toHaveLength(0);
    expect(Buffer.from(any.messages[0]!.payload).toString()).toBe("bcast");
  });

  it("keeps a family-specific binding to its family", () => {
    const { udp } = setup();
    const r = recorder();
    udp.bind(7, { family: 6 }, r.handler);
    expect(udp.processDatagram(in4(hex(IN_V4)), 0)).toBe("port-unreachable");
    expect(udp.processDatagram(in6(hex(IN_V6)), 0)).toBe("delivered");
  });

  it("drops a delivery whose protocol is not UDP (a stack bug, counted)", () => {
    const { udp } = setup();
    expect(udp.processDatagram({ ...in4(hex(IN_V4)), protocol: 6 }, 0)).toBe("dropped");
    expect(udp.counters.get("drop.not-udp")).toBe(1);
  });
});

describe("UDP binding table", () => {
  it("refuses a second binding of a port with WIRESTACK_ERR_ADDR_IN_USE (EADDRINUSE)", () => {
    const { udp } = setup();
    udp.bind(7, { family: "dual" }, recorder().handler);
    let err: unknown;
    try {
      udp.bind(7, { family: 4 }, recorder().handler);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(WirestackError);
    expect((err as WirestackError).code).toBe("WIRESTACK_ERR_ADDR_IN_USE");
    expect((err as WirestackError).message).toBe("UDP port 7 is already bound; choose another port or close the other socket");
    expect(() => udp.bind(7, { family: 6, address: ME6 }, recorder().handler)).toThrow(/already bound/);
  });

  it("allows the same port on different families, and on distinct addresses", () => {
    const { udp } = setup();
    udp.bind(53, { family: 4 }, recorder().handler);
    udp.bind(53, { family: 6, address: ME6 }, recorder().handler);
    expect(() => udp.bind(53, { family: 4, address: ME4 }, recorder().handler)).toThrow(WirestackError);
    expect(udp.bindings()).toHaveLength(2);
  });

  it("frees the port on unbind: the port answers port-unreachable and can be bound again", () => {
    const { udp } = setup();
    const b = udp.bind(7, { family: 4 }, recorder().handler);
    udp.unbind(b);
    udp.unbind(b);
    expect(b.open).toBe(false);
    expect(udp.processDatagram(in4(hex(IN_V4)), 0)).toBe("port-unreachable");
    expect(() => udp.bind(7, { family: 4 }, recorder().handler)).not.toThrow();
  });

  it("refuses an address that is not ours, a missing family, and a bad port", () => {
    const { udp } = setup();
    expect(() => udp.bind(7, { family: 4, address: v4("10.9.9.9") }, recorder().handler)).toThrow(
      expect.objectContaining({ code: "WIRESTACK_ERR_ADDR_NOT_AVAILABLE", message: expect.stringContaining("10.9.9.9") }),
    );
    const only6 = new UdpLayer({ ipv6: new FakeIpv6(), random: seededRandom(1) });
    expect(only6.defaultLocal()).toEqual({ family: 6 });
    expect(() => only6.bind(7, { family: 4 }, recorder().handler)).toThrow(expect.objectContaining({ code: "WIRESTACK_ERR_ADDR_NOT_AVAILABLE" }));
    expect(() => only6.bind(7, { family: "dual" }, recorder().handler)).toThrow(expect.objectContaining({ code: "WIRESTACK_ERR_ADDR_NOT_AVAILABLE" }));
    expect(() => udp.bind(65536, undefined, recorder().handler)).toThrow(expect.objectContaining({ code: "WIRESTACK_ERR_BAD_PORT" }));
    expect(() => udp.bind(1.5, undefined, recorder().handler)).toThrow(expect.objectContaining({ code: "WIRESTACK_ERR_BAD_PORT" }));
  });

  it("binds both families by default when both are configured", () => {
    const { udp } = setup();
    expect(udp.bind(7, undefined, recorder().handler).local).toEqual({ family: "dual" });
  });
});

describe("ephemeral ports (RFC 6056 §3.3.1, RFC 6335 §6)", () => {
  it("gives distinct ports in 49152–65535 for port 0", () => {
    const { udp } = setup(7);
    const ports = new Set<number>();
    for (let i = 0; i < 500; i++) {
      const { port } = udp.bind(0, { family: "dual" }, recorder().handler);
      expect(port).toBeGreaterThanOrEqual(49152);
      expect(port).toBeLessThanOrEqual(65535);
      ports.add(port);
    }
    expect(ports.size).toBe(500);
  });

  it("is deterministic for a seed and differs between seeds", () => {
    const run = (seed: number) => {
      const { udp } = setup(seed);
      return Array.from({ length: 8 }, () => udp.bind(0, undefined, recorder().handler).port);
    };
    expect(run(42)).toEqual(run(42));
    expect(run(42)).not.toEqual(run(43));
  });

  it("skips ports already in use, and reports exhaustion after a bounded search", () => {
    let calls = 0;
    const taken = new Set([100, 101, 102, 103]);
    const rnd = seededRandom(3);
    expect(pickEphemeralPort(rnd, (p) => (calls++, taken.has(p)), { min: 100, max: 104 })).toBe(104);
    calls = 0;
    taken.add(104);
    expect(pickEphemeralPort(rnd, (p) => (calls++, taken.has(p)), { min: 100, max: 104 })).toBeUndefined();
    expect(calls).toBe(5);
    expect(() => pickEphemeralPort(rnd, () => false, { min: 0, max: 10 })).toThrow(RangeError);
    expect([EPHEMERAL_PORT_MIN, EPHEMERAL_PORT_MAX]).toEqual([49152, 65535]);
  });

  it("throws WIRESTACK_ERR_ADDR_IN_USE when every ephemeral port is bound", () => {
    const { udp } = setup();
    for (let p = EPHEMERAL_PORT_MIN; p <= EPHEMERAL_PORT_MAX; p++) udp.bind(p, { family: "dual" }, recorder().handler);
    expect(() => udp.bind(0, { family: 4 }, recorder().handler)).toThrow(
      expect.objectContaining({ code: "WIRESTACK_ERR_ADDR_IN_USE", message: expect.stringContaining("ephemeral") }),
    );
    expect(() => udp.bind(1024, { family: 4 }, recorder().handler)).not.toThrow();
  });
});

describe("UDP egress", () => {
  it("builds the scapy datagram over IPv4 in a buffer with headroom, source from the route", () => {
    const { udp, ipv4 } = setup();
    const b = udp.bind(7, { family: "dual" }, recorder().handler);
    const data = Buffer.from("hello wirestack");
    expect(udp.send(b, PEER4, 40000, data, 55)).toBe(true);
    expect(ipv4.sent).toHaveLength(1);
    const s = ipv4.sent[0]!;
    expect([s.protocol, s.src, s.dst, s.now]).toEqual([17, ME4, PEER4, 55]);
    expect(toHex(s.payload)).toBe(OUT_V4);
    // Built in place with headroom (STYLE.md §9): the IP header can go in front without a copy.
    expect(s.payload.byteOffset).toBeGreaterThanOrEqual(PACKET_HEADROOM);
    expect(expandFront(s.payload, 28).buffer).toBe(s.payload.buffer);
    expect(udp.counters.get("tx.datagrams")).toBe(1);
  });

  it("builds the scapy datagram over IPv6 (checksum mandatory, RFC 8200 §8.1)", () => {
    const { udp, ipv6 } = setup();
    const b = udp.bind(7, { family: 6, address: ME6 }, recorder().handler);
    expect(udp.send(b, PEER6, 40000, Buffer.from("hello v6"), 0)).toBe(true);
    expect(toHex(ipv6.sent[0]!.payload)).toBe(OUT_V6);
    const e = udp.bind(5353, { family: 6 }, recorder().handler);
    udp.send(e, PEER6, 5353, new Uint8Array(0), 0);
    expect(toHex(ipv6.sent[1]!.payload)).toBe(OUT_V6_EMPTY);
  });

  it("round trip: what one layer sends, another receives, placed at a non-zero offset", () => {
    const a = setup(1);
    const z = setup(2);
    const r = recorder();
    z.udp.bind(40000, { family: 4 }, r.handler);
    const b = a.udp.bind(0, { family: 4 }, recorder().handler);
    const data = Uint8Array.from({ length: 300 }, (_, i) => (i * 7) & 0xff);
    a.udp.send(b, PEER4, 40000, data, 0);
    const sent = a.ipv4.sent[0]!.payload;
    const frame = new Uint8Array(sent.length + 34).fill(0xaa);
    frame.set(sent, 34);
    expect(z.udp.processDatagram({ family: 4, protocol: 17, src: ME4, dst: PEER4, payload: frame.subarray(34), dstKind: "unicast" }, 0)).toBe("delivered");
    expect(toHex(r.messages[0]!.payload)).toBe(toHex(data));
    expect(r.messages[0]!.from).toEqual({ family: 4, address: ME4, port: b.port });
  });

  it("sends the largest datagram allowed and refuses one byte more (65507 over IPv4, 65527 over IPv6)", () => {
    const { udp, ipv4, ipv6 } = setup();
    const b = udp.bind(7, undefined, recorder().handler);
    expect(udp.send(b, PEER4, 9, new Uint8Array(UDP_MAX_PAYLOAD_V4), 0)).toBe(true);
    expect(ipv4.sent[0]!.payload.length).toBe(65515);
    expect(() => udp.send(b, PEER4, 9, new Uint8Array(UDP_MAX_PAYLOAD_V4 + 1), 0)).toThrow(
      expect.objectContaining({ code: "WIRESTACK_ERR_MSG_TOO_BIG", message: expect.stringContaining("65507") }),
    );
    expect(udp.send(b, PEER6, 9, new Uint8Array(UDP_MAX_PAYLOAD_V6), 0)).toBe(true);
    expect(ipv6.sent[0]!.payload.length).toBe(65535);
    expect(() => udp.send(b, PEER6, 9, new Uint8Array(UDP_MAX_PAYLOAD_V6 + 1), 0)).toThrow(
      expect.objectContaining({ code: "WIRESTACK_ERR_MSG_TOO_BIG" }),
    );
    expect(ipv4.sent).toHaveLength(1);
    expect(ipv6.sent).toHaveLength(1);
  });

  it("returns false and counts when there is no route or the IP layer refuses", () => {
    const { udp, ipv4 } = setup();
    const b = udp.bind(7, { family: 4 }, recorder().handler);
    ipv4.route = false;
    expect(udp.send(b, PEER4, 9, Buffer.from("x"), 0)).toBe(false);
    expect(ipv4.sent).toHaveLength(0);
    expect(udp.counters.get("tx.no-route")).toBe(1);
    ipv4.route = true;
    ipv4.accept = false;
    expect(udp.send(b, PEER4, 9, Buffer.from("x"), 0)).toBe(false);
    expect(udp.counters.get("tx.refused")).toBe(1);
  });

  it("refuses misuse: another family, port 0, a closed binding", () => {
    const { udp } = setup();
    const b = udp.bind(7, { family: 4 }, recorder().handler);
    expect(() => udp.send(b, PEER6, 9, Buffer.from("x"), 0)).toThrow(
      expect.objectContaining({ code: "WIRESTACK_ERR_BAD_ADDRESS", message: expect.stringContaining("fd00::2") }),
    );
    expect(() => udp.send(b, PEER4, 0, Buffer.from("x"), 0)).toThrow(expect.objectContaining({ code: "WIRESTACK_ERR_BAD_PORT" }));
    udp.unbind(b);
    expect(() => udp.send(b, PEER4, 9, Buffer.from("x"), 0)).toThrow(expect.objectContaining({ code: "WIRESTACK_ERR_CLOSED" }));
  });
});

describe("ICMP errors to the sending binding (RFC 1122 §4.1.3.3)", () => {
  // Shaped as src/net/icmpv4.ts reports an error (typed against it, so a drift fails tsc), for a
  // datagram 10.0.0.1:quotedSrcPort → 10.0.0.2:9 answered by 10.0.0.2.
  const portUnreachable = (srcPort: number, extra: Partial<Icmpv4ErrorEvent> = {}): Icmpv4ErrorEvent => ({
    kind: "error",
    error: { type: "destination-unreachable", code: { kind: "port-unreachable" } },
    reporter: PEER4,
    protocol: 17,
    src: ME4,
    dst: PEER4,
    srcPort,
    dstPort: 9,
    quotedPayload: new Uint8Array(8),
    now: 0,
    ...extra,
  });

  it("routes the error to the binding of the quoted source port, and only to it", () => {
    const { udp } = setup();
    const a = recorder();
    const b = recorder();
    udp.bind(5000, { family: 4 }, a.handler);
    udp.bind(5001, { family: 4 }, b.handler);
    expect(udp.processIcmpError(portUnreachable(5001), 7)).toBe("delivered");
    expect(a.errors).toHaveLength(0);
    expect(b.errors).toEqual([
      {
        kind: "port-unreachable",
        icmpType: "destination-unreachable",
        icmpCode: "port-unreachable",
        mtu: undefined,
        dstPort: 9,
        family: 4,
        dst: PEER4,
        reporter: PEER4,
      },
    ]);
    expect(udp.counters.get("rx.icmp.port-unreachable")).toBe(1);
  });

  it("delivers ICMPv6 errors to an IPv6 binding, with the Packet Too Big MTU (RFC 4443 §3.2)", () => {
    const { udp } = setup();
    const r = recorder();
    udp.bind(5000, { family: "dual" }, r.handler);
    const ev: IcmpErrorEvent = {
      error: { type: "packet-too-big", mtu: 1280 },
      reporter: v6("fd00::fe"),
      protocol: 17,
      src: ME6,
      dst: PEER6,
      srcPort: 5000,
      dstPort: 53,
    };
    expect(udp.processIcmpError(ev, 0)).toBe("delivered");
    expect(r.errors[0]).toMatchObject({ kind: "packet-too-big", family: 6, mtu: 1280, dstPort: 53 });
    expect(Buffer.from(r.errors[0]!.dst as Uint8Array).equals(Buffer.from(PEER6))).toBe(true);
  });

  it("classifies IPv4 and IPv6 codes alike (RFC 792, RFC 1122 §3.2.2.1, RFC 4443 §3.1)", () => {
    expect(classifyIcmpError("destination-unreachable", "fragmentation-needed")).toBe("packet-too-big");
    expect(classifyIcmpError("destination-unreachable", "no-route")).toBe("net-unreachable");
    expect(classifyIcmpError("destination-unreachable", "address-unreachable")).toBe("host-unreachable");
    expect(classifyIcmpError("destination-unreachable", "host-prohibited")).toBe("admin-prohibited");
    expect(classifyIcmpError("destination-unreachable", "unknown")).toBe("other");
    expect(classifyIcmpError("time-exceeded", "ttl-exceeded")).toBe("time-exceeded");
    expect(classifyIcmpError("redirect", "host")).toBe("other");
    const { udp } = setup();
    const r = recorder();
    udp.bind(5000, { family: 4 }, r.handler);
    udp.processIcmpError(
      portUnreachable(5000, { error: { type: "destination-unreachable", code: { kind: "fragmentation-needed", nextHopMtu: 1400 } } }),
      0,
    );
    expect(r.errors[0]).toMatchObject({ kind: "packet-too-big", mtu: 1400 });
  });

  it("drops errors for unbound ports, other families, other protocols and short quotes, counted", () => {
    const { udp } = setup();
    const a = recorder();
    udp.bind(5000, { family: 6 }, a.handler);
    expect(udp.processIcmpError(portUnreachable(5002), 0)).toBe("dropped");
    expect(udp.processIcmpError(portUnreachable(5000), 0)).toBe("dropped");
    expect(udp.counters.get("drop.icmp-no-socket")).toBe(2);
    udp.bind(5000, { family: 4 }, a.handler);
    expect(udp.processIcmpError(portUnreachable(5000, { protocol: 6 }), 0)).toBe("dropped");
    expect(udp.counters.get("drop.icmp-not-udp")).toBe(1);
    expect(udp.processIcmpError(portUnreachable(5000, { srcPort: undefined, dstPort: undefined }), 0)).toBe("dropped");
    expect(udp.counters.get("drop.icmp-short-quote")).toBe(1);
    expect(a.errors).toHaveLength(0);
    expect(udp.processIcmpError(portUnreachable(5000), 0)).toBe("delivered");
    expect(a.errors).toHaveLength(1);
  });
});
