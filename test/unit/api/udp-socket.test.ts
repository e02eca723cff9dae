import { describe, expect, it } from "vitest";
import { UdpSocket, parseIpLiteral, type UdpIcmpReport, type UdpRemoteInfo } from "../../../src/api/udp-socket.ts";
import { WirestackError } from "../../../src/errors.ts";
import { seededRandom } from "../../../src/time/random.ts";
import { UdpLayer, type IcmpErrorEvent, type Ipv4Sender, type Ipv6Sender } from "../../../src/transport/udp.ts";
import { parseIpv4, parseIpv6, type Ipv4Address, type Ipv6Address } from "../../../src/wire/ip-address.ts";

function hex(s: string): Uint8Array {
  return Uint8Array.from(Buffer.from(s, "hex"));
}
function toHex(b: Uint8Array): string {
  return Buffer.from(b).toString("hex");
}
const v4 = (s: string) => parseIpv4(s) as Ipv4Address;
const v6 = (s: string) => parseIpv6(s) as Ipv6Address;
/** Runs every queued process.nextTick callback (and microtask). */
const ticks = () => new Promise<void>((resolve) => setImmediate(resolve));

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

class FakeIpv4 implements Ipv4Sender {
  sent: Array<{ dst: Ipv4Address; payload: Uint8Array }> = [];
  route = true;
  dispatch(_p: number, _s: Ipv4Address | undefined, dst: Ipv4Address, payload: Uint8Array): boolean {
    this.sent.push({ dst, payload });
    return true;
  }
  routeFor(): { src: Ipv4Address } | undefined {
    return this.route ? { src: ME4 } : undefined;
  }
  isLocal(a: Ipv4Address): boolean {
    return a === ME4;
  }
}

class FakeIpv6 implements Ipv6Sender {
  sent: Array<{ dst: Ipv6Address; payload: Uint8Array }> = [];
  dispatch(_p: number, _s: Ipv6Address | undefined, dst: Ipv6Address, payload: Uint8Array): boolean {
    this.sent.push({ dst, payload });
    return true;
  }
  routeFor(): { src: Ipv6Address } {
    return { src: ME6 };
  }
  isLocal(a: Ipv6Address): boolean {
    return Buffer.from(a).equals(Buffer.from(ME6));
  }
}

function setup() {
  const ipv4 = new FakeIpv4();
  const ipv6 = new FakeIpv6();
  const layer = new UdpLayer({ ipv4, ipv6, random: seededRandom(9) });
  let kicks = 0;
  const open = (port?: number, address?: string) =>
    new UdpSocket({ layer, port, address, now: () => 1000, kick: () => void kicks++ });
  return { ipv4, ipv6, layer, open, kicks: () => kicks };
}

/** Records every event of a socket, in order. */
function events(sock: UdpSocket): unknown[][] {
  const log: unknown[][] = [];
  sock.on("listening", () => log.push(["listening"]));
  sock.on("message", (msg, rinfo) => log.push(["message", msg.toString(), rinfo]));
  sock.on("error", (err) => log.push(["error", (err as WirestackError).code, err.message]));
  sock.on("icmp", (r) => log.push(["icmp", r]));
  sock.on("close", () => log.push(["close"]));
  return log;
}

function deliver4(layer: UdpLayer, bytes: string) {
  return layer.processDatagram({ family: 4, protocol: 17, src: PEER4, dst: ME4, payload: hex(bytes), dstKind: "unicast" }, 0);
}

describe("UdpSocket events", () => {
  it("emits 'listening' then 'message' asynchronously, in order, with dgram's rinfo", async () => {
    const { layer, open } = setup();
    const sock = open(7);
    const log = events(sock);
    expect(deliver4(layer, IN_V4)).toBe("delivered");
    expect(log).toEqual([]); // never from inside processDatagram
    await ticks();
    const rinfo: UdpRemoteInfo = { address: "10.0.0.2", family: "IPv4", port: 40000, size: 15 };
    expect(log).toEqual([["listening"], ["message", "hello wirestack", rinfo]]);
  });

  it("reports IPv6 senders with family IPv6, and gives the message as a Buffer", async () => {
    const { layer, open } = setup();
    const sock = open(7);
    const got: Array<[Buffer, UdpRemoteInfo]> = [];
    sock.on("message", (m, r) => got.push([m, r]));
    layer.processDatagram({ family: 6, protocol: 17, src: PEER6, dst: ME6, payload: hex(IN_V6), dstKind: "unicast" }, 0);
    await ticks();
    expect(Buffer.isBuffer(got[0]![0])).toBe(true);
    expect(got[0]![0].toString()).toBe("hello v6");
    expect(got[0]![1]).toEqual({ address: "fd00::2", family: "IPv6", port: 40000, size: 8 });
  });

  it("close: releases the port, drops messages not yet emitted, then emits 'close' and calls back", async () => {
    const { layer, open } = setup();
    const sock = open(7);
    const log = events(sock);
    await ticks();
    deliver4(layer, IN_V4);
    let called = 0;
    sock.close(() => called++);
    sock.close();
    expect(called).toBe(0);
    expect(deliver4(layer, IN_V4)).toBe("port-unreachable");
    await ticks();
    expect(log).toEqual([["listening"], ["close"]]);
    expect(called).toBe(1);
    expect(() => sock.address()).toThrow(expect.objectContaining({ code: "WIRESTACK_ERR_CLOSED" }));
    expect(() => sock.send("x", 9, "10.0.0.2")).toThrow(expect.objectContaining({ code: "WIRESTACK_ERR_CLOSED" }));
    expect(() => open(7)).not.toThrow();
  });

  it("reports an ICMP port unreachable as an 'icmp' event with ECONNREFUSED, never as 'error'", async () => {
    const { layer, open } = setup();
    const a = open(5000);
    const b = open(5001);
    const logA = events(a);
    const logB = events(b);
    const ev: IcmpErrorEvent = {
      error: { type: "destination-unreachable", code: { kind: "port-unreachable" } },
      reporter: PEER4,
      protocol: 17,
      src: ME4,
      dst: PEER4,
      srcPort: 5001,
      dstPort: 9,
    };
    expect(layer.processIcmpError(ev, 0)).toBe("delivered");
    expect(logB).toEqual([]);
    await ticks();
    const report: UdpIcmpReport = {
      code: "ECONNREFUSED",
      kind: "port-unreachable",
      address: "10.0.0.2",
      port: 9,
      family: "IPv4",
      reporter: "10.0.0.2",
      icmpType: "destination-unreachable",
      icmpCode: "port-unreachable",
      mtu: undefined,
    };
    expect(logB).toEqual([["listening"], ["icmp", report]]);
    expect(logA).toEqual([["listening"]]);
  });

  it("ref and unref are chainable no-ops", () => {
    const { open } = setup();
    const sock = open();
    expect(sock.ref().unref()).toBe(sock);
  });
});

describe("UdpSocket bind and address()", () => {
  it("binds every address of both families by default, port 0 picking an ephemeral port", () => {
    const { open } = setup();
    const a = open(7).address();
    expect(a).toEqual({ address: "::", family: "IPv6", port: 7 });
    const e = open().address();
    expect(e.port).toBeGreaterThanOrEqual(49152);
    expect(e.port).toBeLessThanOrEqual(65535);
    expect(open(0, "10.0.0.1").address()).toMatchObject({ address: "10.0.0.1", family: "IPv4" });
    expect(open(53, "0.0.0.0").address()).toEqual({ address: "0.0.0.0", family: "IPv4", port: 53 });
    expect(open(54, "fd00::1").address()).toEqual({ address: "fd00::1", family: "IPv6", port: 54 });
  });

  it("throws WIRESTACK_ERR_ADDR_IN_USE synchronously for a taken port (EADDRINUSE)", () => {
    const { open } = setup();
    open(7);
    expect(() => open(7, "10.0.0.1")).toThrow(
      expect.objectContaining({
        code: "WIRESTACK_ERR_ADDR_IN_USE",
        message: "UDP port 7 is already bound; choose another port or close the other socket",
      }),
    );
  });

  it("refuses a bind address that is not an IP literal or not ours, saying which", () => {
    const { open } = setup();
    expect(() => open(7, "localhost")).toThrow(expect.objectContaining({ code: "WIRESTACK_ERR_BAD_ADDRESS", message: expect.stringContaining("'localhost'") }));
    expect(() => open(7, "10.0.0.99")).toThrow(expect.objectContaining({ code: "WIRESTACK_ERR_ADDR_NOT_AVAILABLE" }));
  });
});

describe("UdpSocket send", () => {
  it("sends the exact scapy datagram over IPv4 and IPv6, kicks the stack, and calls back with the size", async () => {
    const { ipv4, ipv6, open, kicks } = setup();
    const sock = open(7);
    const done: unknown[][] = [];
    sock.send(Buffer.from("hello wirestack"), 40000, "10.0.0.2", (err, n) => done.push([err, n]));
    sock.send("hello v6", 40000, "fd00::2", (err, n) => done.push([err, n]));
    expect(toHex(ipv4.sent[0]!.payload)).toBe(OUT_V4);
    expect(ipv4.sent[0]!.dst).toBe(PEER4);
    expect(toHex(ipv6.sent[0]!.payload)).toBe(OUT_V6);
    expect(kicks()).toBe(2);
    expect(done).toEqual([]);
    await ticks();
    expect(done).toEqual([
      [null, 15],
      [null, 8],
    ]);
  });

  it("accepts dgram's (msg, offset, length, port, address) form, arrays, and IPv4-mapped destinations", () => {
    const { ipv4, open } = setup();
    const sock = open(7);
    sock.send(Buffer.from("xxhello wirestackyy"), 2, 15, 40000, "::ffff:10.0.0.2");
    sock.send([Buffer.from("hello "), "wirestack"], 40000, "10.0.0.2");
    expect(ipv4.sent.map((s) => toHex(s.payload))).toEqual([OUT_V4, OUT_V4]);
    expect(() => sock.send(Buffer.from("abc"), 2, 5, 9, "10.0.0.2")).toThrow(expect.objectContaining({ code: "WIRESTACK_ERR_BAD_ARGUMENT" }));
  });

  it("reports a bad address, an oversize datagram and no route to the callback; without one, only a bad address as 'error' (as Node)", async () => {
    const { ipv4, layer, open } = setup();
    const sock = open(7);
    const log = events(sock);
    const errs: Array<[string, string]> = [];
    const cb = (err: Error | null) => errs.push([(err as WirestackError).code, err!.message]);
    sock.send("x", 9, "10.0.0.256", cb);
    sock.send(new Uint8Array(65508), 9, "10.0.0.2", cb);
    ipv4.route = false;
    sock.send("x", 9, "10.0.0.2", cb);
    sock.send("x", 9, "example.com");
    sock.send("x", 9, "10.0.0.2");
    sock.send(new Uint8Array(65508), 9, "10.0.0.2");
    expect(ipv4.sent).toHaveLength(0);
    await ticks();
    expect(errs.map((e) => e[0])).toEqual(["WIRESTACK_ERR_BAD_ADDRESS", "WIRESTACK_ERR_MSG_TOO_BIG", "WIRESTACK_ERR_NO_ROUTE"]);
    expect(errs[0]![1]).toContain("'10.0.0.256' is not an IPv4 or IPv6 address");
    expect(errs[1]![1]).toContain("at most 65507 bytes");
    expect(log.slice(1)).toEqual([["error", "WIRESTACK_ERR_BAD_ADDRESS", expect.stringContaining("'example.com'")]]);
    expect(layer.counters.snapshot()).toMatchObject({ "udp.tx.no-route": 2, "udp.tx.too-big": 2 });
  });

  it("throws synchronously for a bad port, as dgram does", () => {
    const { open } = setup();
    const sock = open(7);
    for (const port of [0, 65536, 1.5, Number.NaN]) {
      expect(() => sock.send("x", port, "10.0.0.2")).toThrow(WirestackError);
    }
  });
});

describe("parseIpLiteral", () => {
  it("reads IPv4, IPv6, IPv4-mapped IPv6 (RFC 4291 §2.5.5.2) and drops a zone", () => {
    expect(parseIpLiteral("10.0.0.2")).toEqual({ family: 4, address: PEER4 });
    expect(parseIpLiteral("::ffff:10.0.0.2")).toEqual({ family: 4, address: PEER4 });
    expect(parseIpLiteral("fe80::1%tap0")).toEqual({ family: 6, address: v6("fe80::1") });
    expect(parseIpLiteral("fd00::2")).toEqual({ family: 6, address: PEER6 });
    expect(parseIpLiteral("host.example")).toBeUndefined();
    expect(parseIpLiteral("")).toBeUndefined();
  });
});
