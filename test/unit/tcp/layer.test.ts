import { describe, expect, it } from "vitest";
import { WirestackError } from "../../../src/errors.ts";
import { seededRandom, type Random } from "../../../src/time/random.ts";
import type { Endpoint, TcpConnection, TcpEvent } from "../../../src/transport/tcp/connection.ts";
import { TcpLayer, type TcpConnectionOwner, type TcpLayerOptions } from "../../../src/transport/tcp/layer.ts";
import type { IpDelivery, Ipv4Sender, Ipv6Sender } from "../../../src/transport/udp.ts";
import { WireError } from "../../../src/wire/error.ts";
import { ipv6Equals, parseIpv4, parseIpv6, type Ipv4Address, type Ipv6Address } from "../../../src/wire/ip-address.ts";
import { PACKET_HEADROOM, expandFront } from "../../../src/wire/packet-buffer.ts";
import { TCP_ACK, TCP_RST, TCP_SYN, emitTcp, parseTcp, tcpHeaderLen, tcpOptionSet, type TcpRepr } from "../../../src/wire/tcp.ts";

const hex = (s: string) => Uint8Array.from(Buffer.from(s, "hex"));
const toHex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const ip4 = (s: string) => parseIpv4(s) as Ipv4Address;
const ip6 = (s: string) => parseIpv6(s) as Ipv6Address;

const ME4 = ip4("10.0.0.1");
const PEER4 = ip4("10.0.0.2");
const ME6 = ip6("fd00::1");
const PEER6 = ip6("fd00::2");

// TCP segments (the IP payload) built by scapy 2.5.0 (Debian's python3-scapy):
//   /usr/bin/python3 -c 'from scapy.all import *; print(raw(IP(src=S,dst=D)/T)[20:].hex())'
// (IPv6: IPv6(src=S,dst=D)/T and [40:]); S, D and T above each constant.

// S=10.0.0.2 D=10.0.0.1 T=TCP(sport=40000,dport=80,seq=1000,flags="S",window=64240)
const SYN = "9c400050000003e8000000005002faf000770000";
// S=10.0.0.1 D=10.0.0.2 T=TCP(sport=80,dport=40000,seq=0,ack=1001,flags="RA",window=0)
const RST_ACK_1001 = "00509c4000000000000003e950140000fb540000";
// S=10.0.0.2 D=10.0.0.1 T=TCP(sport=40000,dport=80,seq=5000,ack=7000,flags="A",window=502)
const ACK = "9c4000500000138800001b58501001f6ce6b0000";
// S=10.0.0.1 D=10.0.0.2 T=TCP(sport=80,dport=40000,seq=7000,ack=0,flags="R",window=0)
const RST_7000 = "00509c4000001b580000000050040000e3f50000";
// S=10.0.0.2 D=10.0.0.1 T=TCP(sport=40000,dport=80,seq=100,flags="SF",window=1024)/b"hello"
const SYN_FIN_DATA = "9c400050000000640000000050030400b713000068656c6c6f";
// S=10.0.0.1 D=10.0.0.2 T=TCP(sport=80,dport=40000,seq=0,ack=107,flags="RA",window=0)
const RST_ACK_107 = "00509c40000000000000006b50140000fed20000";
// S=10.0.0.2 D=10.0.0.1 T=TCP(sport=40000,dport=80,seq=5000,ack=0,flags="R",window=0)
const RST_IN = "9c400050000013880000000050040000ebc50000";
// IPv6, S=fd00::2 D=fd00::1 T=TCP(sport=40000,dport=80,seq=0xfffffffe,flags="S",window=64240,options=[("MSS",1440)])
const SYN6 = "9c400050fffffffe000000006002faf006b60000020405a0";
// IPv6, S=fd00::1 D=fd00::2 T=TCP(sport=80,dport=40000,seq=0,ack=0xffffffff,flags="RA",window=0)
const RST_ACK6 = "00509c4000000000ffffffff50140000193c0000";
// S=10.0.0.2 D=10.0.0.1 T=TCP(sport=40001,dport=7,seq=12345,flags="S",window=64240,
//   options=[("MSS",1460),("SAckOK",b""),("Timestamp",(1000,0)),("NOP",None),("WScale",7)])
const SYN_OPTS = "9c4100070000303900000000a002faf068a30000020405b40402080a000003e80000000001030307";

interface Sent {
  readonly family: 4 | 6;
  readonly protocol: number;
  readonly src: Ipv4Address | Ipv6Address;
  readonly dst: Ipv4Address | Ipv6Address;
  readonly payload: Uint8Array;
}

/** An IP layer that records what TCP sends. */
class FakeIp implements Ipv4Sender, Ipv6Sender {
  sent: Sent[] = [];
  constructor(
    private readonly me4: Ipv4Address,
    private readonly me6: Ipv6Address,
  ) {}
  dispatch(protocol: number, src: any, dst: any, payload: Uint8Array): boolean {
    this.sent.push({ family: typeof dst === "number" ? 4 : 6, protocol, src, dst, payload });
    return true;
  }
  routeFor(dst: any): { src: any } {
    return { src: typeof dst === "number" ? this.me4 : this.me6 };
  }
  isLocal(a: any): boolean {
    return typeof a === "number" ? a === this.me4 : ipv6Equals(a, this.me6);
  }
  take(): Sent[] {
    const s = this.sent;
    this.sent = [];
    return s;
  }
}

function deliver4(payload: Uint8Array, src = PEER4, dst = ME4): IpDelivery {
  return { family: 4, protocol: 6, src, dst, payload, dstKind: "unicast" };
}
function deliver6(payload: Uint8Array, src = PEER6, dst = ME6): IpDelivery {
  return { family: 6, protocol: 6, src, dst, payload, dstKind: "unicast" };
}

function tcpOf(s: Sent): TcpRepr {
  const r = parseTcp(s.payload, s.family === 4 ? { family: 4, src: s.src as number, dst: s.dst as number } : { family: 6, src: s.src as Uint8Array, dst: s.dst as Uint8Array });
  if (r instanceof WireError) throw new Error(r.toString());
  return r;
}

function server(opts: Partial<TcpLayerOptions> = {}) {
  const ip = new FakeIp(ME4, ME6);
  const layer = new TcpLayer({ ipv4: ip, ipv6: ip, random: seededRandom(1).fork("tcp"), ...opts });
  return { ip, layer };
}

/** Records events per connection. */
class Recorder implements TcpConnectionOwner {
  events: TcpEvent[] = [];
  deliver(events: readonly TcpEvent[]): void {
    this.events.push(...events);
  }
  kinds(): string[] {
    return this.events.map((e) => e.kind);
  }
}

/**
 * Two layers joined back to back: what one sends to the other's address is handed to it; anything
 * else (e.g. SYN-ACKs to a flood's forged sources) is counted and discarded.
 */
class Pair {
  readonly a: TcpLayer; // client, 10.0.0.2 / fd00::2
  readonly b: TcpLayer; // server, 10.0.0.1 / fd00::1
  readonly ipA = new FakeIp(PEER4, PEER6);
  readonly ipB = new FakeIp(ME4, ME6);
  now = 0;
  lost = 0;
  constructor(optsA: Partial<TcpLayerOptions> = {}, optsB: Partial<TcpLayerOptions> = {}) {
    this.a = new TcpLayer({ ipv4: this.ipA, ipv6: this.ipA, random: seededRandom(2).fork("a"), ...optsA });
    this.b = new TcpLayer({ ipv4: this.ipB, ipv6: this.ipB, random: seededRandom(3).fork("b"), ...optsB });
  }
  /** Moves packets both ways until quiet (bounded). Returns the number moved. */
  pump(filter: (from: "a" | "b", s: Sent) => boolean = () => true): number {
    let moved = 0;
    for (let round = 0; round < 100; round++) {
      this.a.flush(this.now);
      this.b.flush(this.now);
      const fromA = this.ipA.take();
      const fromB = this.ipB.take();
      if (fromA.length === 0 && fromB.length === 0) return moved;
      for (const s of fromA) {
        if (!filter("a", s)) continue;
        if (s.family === 4 ? s.dst === ME4 : ipv6Equals(s.dst as Uint8Array, ME6)) {
          this.b.processSegment({ family: s.family, protocol: 6, src: s.src, dst: s.dst, payload: s.payload, dstKind: "unicast" } as IpDelivery, this.now);
          moved++;
        } else this.lost++;
      }
      for (const s of fromB) {
        if (!filter("b", s)) continue;
        if (s.family === 4 ? s.dst === PEER4 : ipv6Equals(s.dst as Uint8Array, PEER6)) {
          this.a.processSegment({ family: s.family, protocol: 6, src: s.src, dst: s.dst, payload: s.payload, dstKind: "unicast" } as IpDelivery, this.now);
          moved++;
        } else this.lost++;
      }
    }
    throw new Error("pump did not settle");
  }
  /** Advances virtual time to `t`, running both layers' timers at each deadline on the way. */
  advance(t: number): void {
    for (let guard = 0; guard < 10_000; guard++) {
      const next = Math.min(this.a.nextDeadline() ?? Infinity, this.b.nextDeadline() ?? Infinity);
      if (next > t) break;
      this.now = Math.max(this.now, next);
      this.a.poll(this.now);
      this.b.poll(this.now);
      this.pump();
    }
    this.now = t;
    this.pump();
  }
}

function accepted(layer: TcpLayer, port = 7): TcpConnection[] {
  const l = layer.listeners().find((x) => x.port === port);
  const out: TcpConnection[] = [];
  for (let c = l && layer.accept(l); c !== undefined; c = l && layer.accept(l)) out.push(c);
  return out;
}

function readAll(c: TcpConnection): string {
  let s = "";
  for (let d = c.read(); d !== undefined; d = c.read()) s += Buffer.from(d).toString();
  return s;
}

describe("RFC 9293 §3.10.7.1: segments to a CLOSED port", () => {
  it("without ACK: <SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK> (exact bytes)", () => {
    const { ip, layer } = server();
    layer.processSegment(deliver4(hex(SYN)), 0);
    const out = ip.take();
    expect(out).toHaveLength(1);
    expect(out[0]).toMatchObject({ family: 4, protocol: 6, src: ME4, dst: PEER4 });
    expect(toHex(out[0]!.payload)).toBe(RST_ACK_1001);
    // Built once, with headroom for the IP and link headers in front (STYLE.md §9).
    expect(out[0]!.payload.byteOffset).toBeGreaterThanOrEqual(PACKET_HEADROOM);
    expect(expandFront(out[0]!.payload, 20).buffer).toBe(out[0]!.payload.buffer);
    expect(layer.counters.get("tx.rst")).toBe(1);
  });

  it("SEG.LEN counts SYN, data and FIN", () => {
    const { ip, layer } = server();
    layer.processSegment(deliver4(hex(SYN_FIN_DATA)), 0);
    expect(toHex(ip.take()[0]!.payload)).toBe(RST_ACK_107);
  });

  it("with ACK: <SEQ=SEG.ACK><CTL=RST> (exact bytes)", () => {
    const { ip, layer } = server();
    layer.processSegment(deliver4(hex(ACK)), 0);
    expect(toHex(ip.take()[0]!.payload)).toBe(RST_7000);
  });

  it("over IPv6, ACK = SEG.SEQ+SEG.LEN wraps modulo 2^32 (exact bytes)", () => {
    const { ip, layer } = server();
    layer.processSegment(deliver6(hex(SYN6)), 0);
    const out = ip.take();
    expect(out[0]!.family).toBe(6);
    expect(toHex(out[0]!.payload)).toBe(RST_ACK6);
  });

  it("never answers a RST with a RST", () => {
    const { ip, layer } = server();
    layer.processSegment(deliver4(hex(RST_IN)), 0);
    expect(ip.take()).toEqual([]);
    expect(layer.counters.get("drop.rst-for-nothing")).toBe(1);
  });

  it("RFC 9293 §3.1: a bad checksum is dropped and counted, not reset", () => {
    const { ip, layer } = server();
    const bad = hex(SYN);
    bad[16] = (bad[16] as number) ^ 0x01;
    layer.processSegment(deliver4(bad), 0);
    expect(ip.take()).toEqual([]);
    expect(layer.counters.get("drop.bad-checksum")).toBe(1);
    // The pseudo-header is covered too: the right bytes from another source fail.
    layer.processSegment(deliver4(hex(SYN), ip4("10.0.0.3")), 0);
    expect(layer.counters.get("drop.bad-checksum")).toBe(2);
  });

  it("a checksum the device vouches for (a frame the local kernel built) is not summed again", () => {
    const { ip, layer } = server();
    const bad = hex(SYN);
    bad[16] = (bad[16] as number) ^ 0x01; // what only a device's word makes acceptable
    layer.processSegment(deliver4(bad), 0, true);
    expect(layer.counters.get("drop.bad-checksum")).toBe(0);
    expect(layer.counters.get("rx.checksum-trusted")).toBe(1);
    expect(ip.take().length).toBe(1); // the SYN-ACK
  });

  it("RFC 1122 §4.2.3.10: nothing to broadcast or multicast destinations", () => {
    const { ip, layer } = server();
    layer.processSegment({ ...deliver4(hex(SYN)), dstKind: "broadcast" } as IpDelivery, 0);
    expect(ip.take()).toEqual([]);
    expect(layer.counters.get("drop.not-unicast")).toBe(1);
  });

  it("every truncation of a segment is dropped or answered, never throws", () => {
    const { layer } = server();
    const full = hex(SYN_OPTS);
    for (let n = 0; n < full.length; n++) {
      expect(() => layer.processSegment(deliver4(full.slice(0, n)), 0)).not.toThrow();
    }
    // Below 20 bytes, or shorter than Data Offset says: "truncated"; from 20 to 39 the header claims 40.
    expect(layer.counters.get("drop.truncated")).toBe(full.length);
  });

  it("random bytes never throw", () => {
    const { layer } = server();
    const r = seededRandom(42);
    for (let i = 0; i < 2000; i++) {
      const b = r.bytes(r.nextInt(80));
      expect(() => layer.processSegment(deliver4(b), 0)).not.toThrow();
    }
  });
});

describe("RFC 9293 §3.10.7.2: LISTEN through the layer", () => {
  it("an ACK to a listener is reset with <SEQ=SEG.ACK><CTL=RST>", () => {
    const { ip, layer } = server();
    layer.listen(80);
    layer.processSegment(deliver4(hex(ACK)), 0);
    expect(toHex(ip.take()[0]!.payload)).toBe(RST_7000);
  });

  it("a RST to a listener is ignored", () => {
    const { ip, layer } = server();
    layer.listen(80);
    layer.processSegment(deliver4(hex(RST_IN)), 0);
    layer.flush(0);
    expect(ip.take()).toEqual([]);
  });

  it("a SYN is answered with a SYN-ACK acknowledging SEG.SEQ+1 and the connection waits in SYN-RECEIVED", () => {
    const { ip, layer } = server();
    const l = layer.listen(7);
    layer.processSegment(deliver4(hex(SYN_OPTS)), 0);
    layer.flush(0);
    const out = ip.take();
    expect(out).toHaveLength(1);
    const sa = tcpOf(out[0]!);
    expect(sa.flags).toBe(TCP_SYN | TCP_ACK);
    expect(sa.ack).toBe(12346);
    expect(sa.srcPort).toBe(7);
    expect(sa.dstPort).toBe(40001);
    const o = tcpOptionSet(sa.options as never);
    expect(o.mss).toBe(1460);
    expect(o.sackPermitted).toBe(true);
    expect(o.timestamps?.tsEcr).toBe(1000);
    expect(l.synQueue.size).toBe(1);
    expect([...l.synQueue][0]!.state).toBe("SYN-RECEIVED");
    expect(layer.connections()).toHaveLength(1);
    // The SYN-ACK is retransmitted by the connection's timer (RFC 6298 §2.1: 1 s).
    expect(layer.nextDeadline()).toBe(1000);
    layer.poll(1000);
    expect(tcpOf(ip.take()[0]!).flags).toBe(TCP_SYN | TCP_ACK);
  });

  it("listening twice on a port is EADDRINUSE; another family or address is not", () => {
    const { layer } = server();
    layer.listen(7, { family: 4 });
    expect(() => layer.listen(7, { family: 4 })).toThrow(WirestackError);
    expect(() => layer.listen(7)).toThrowError(/already listening/);
    expect(() => layer.listen(7, { family: 6 })).not.toThrow();
    expect(() => layer.listen(0)).toThrowError(/1–65535/);
  });
});

describe("handshake, demultiplexing and events", () => {
  it("two clients on the same server port are told apart by the 4-tuple", () => {
    const p = new Pair();
    p.b.listen(7);
    const c1 = p.a.connect({ family: 4, address: ME4, port: 7 }, {}, 0);
    const c2 = p.a.connect({ family: 4, address: ME4, port: 7 }, {}, 0);
    expect(c1.local.port).not.toBe(c2.local.port);
    p.pump();
    expect(c1.state).toBe("ESTABLISHED");
    expect(c2.state).toBe("ESTABLISHED");
    const [s1, s2] = accepted(p.b);
    expect(s1!.remote.port).toBe(c1.local.port);
    expect(s2!.remote.port).toBe(c2.local.port);
    c1.write(Buffer.from("one"));
    c2.write(Buffer.from("two"));
    p.a.kick(c1);
    p.a.kick(c2);
    p.pump();
    expect(readAll(s1!)).toBe("one");
    expect(readAll(s2!)).toBe("two");
  });

  it("works over IPv6 too", () => {
    const p = new Pair();
    p.b.listen(7);
    const c = p.a.connect({ family: 6, address: ME6, port: 7 }, {}, 0);
    p.pump();
    expect(c.state).toBe("ESTABLISHED");
    expect(accepted(p.b)[0]!.remote.family).toBe(6);
  });

  it("delivers events to the owner after the transition; unowned events wait for setOwner", () => {
    const p = new Pair();
    const l = p.b.listen(7);
    let acceptable = 0;
    l.owner = { acceptable: () => acceptable++ };
    const rec = new Recorder();
    const c = p.a.connect({ family: 4, address: ME4, port: 7 }, {}, 0);
    p.a.setOwner(c, {
      deliver: (evs) => {
        // Called after the transition: the state already says so.
        expect(c.state).toBe("ESTABLISHED");
        rec.deliver(evs);
      },
    });
    p.pump();
    expect(rec.kinds()).toEqual(["connected"]);
    expect(acceptable).toBe(1);
    const s = p.b.accept(l)!;
    c.write(Buffer.from("hi"));
    p.a.kick(c);
    p.pump();
    const srec = new Recorder();
    p.b.setOwner(s, srec);
    p.b.flush(p.now);
    expect(srec.kinds()).toEqual(["connected", "readable"]);
  });

  it("an owner may call back into the layer during delivery (echo)", () => {
    const p = new Pair();
    const l = p.b.listen(7);
    l.owner = {
      acceptable: () => {
        for (let s = p.b.accept(l); s !== undefined; s = p.b.accept(l)) {
          const conn = s;
          p.b.setOwner(conn, {
            deliver: (evs) => {
              if (evs.some((e) => e.kind === "readable")) {
                for (let d = conn.read(); d !== undefined; d = conn.read()) conn.write(d);
                p.b.kick(conn);
              }
            },
          });
        }
      },
    };
    const c = p.a.connect({ family: 4, address: ME4, port: 7 }, {}, 0);
    p.pump();
    c.write(Buffer.from("echo me"));
    p.a.kick(c);
    p.pump();
    expect(readAll(c)).toBe("echo me");
  });

  it("closed connections leave the table", () => {
    const p = new Pair({ config: { timeWaitMs: 1000 } }, { config: { timeWaitMs: 1000 } });
    p.b.listen(7);
    const c = p.a.connect({ family: 4, address: ME4, port: 7 }, {}, 0);
    p.pump();
    const s = accepted(p.b)[0]!;
    c.shutdown(p.now);
    p.a.kick(c);
    p.pump();
    s.shutdown(p.now);
    p.b.kick(s);
    p.pump();
    expect(s.state).toBe("CLOSED");
    expect(p.b.connections()).toHaveLength(0);
    expect(c.state).toBe("TIME-WAIT");
    p.advance(5000);
    expect(c.state).toBe("CLOSED");
    expect(p.a.connections()).toHaveLength(0);
    expect(p.a.nextDeadline()).toBeUndefined();
  });

  it("a SYN to a port nobody listens on fails the connect with ECONNREFUSED", () => {
    const p = new Pair();
    const rec = new Recorder();
    const c = p.a.connect({ family: 4, address: ME4, port: 9999 }, {}, 0);
    p.a.setOwner(c, rec);
    p.pump();
    expect(c.state).toBe("CLOSED");
    expect(rec.events[0]).toMatchObject({ kind: "error", code: "ECONNREFUSED" });
  });

  it("RFC 1122 §4.2.3.9: ICMP port unreachable during SYN-SENT refuses the connection", () => {
    const { layer } = server();
    const rec = new Recorder();
    const c = layer.connect({ family: 4, address: PEER4, port: 80 }, {}, 0);
    layer.setOwner(c, rec);
    layer.flush(0);
    const r = layer.processIcmpError(
      { error: { type: "destination-unreachable", code: { kind: "port-unreachable" } }, reporter: PEER4, protocol: 6, src: ME4, dst: PEER4, srcPort: c.local.port, dstPort: 80 },
      5,
    );
    expect(r).toBe("delivered");
    layer.flush(5);
    expect(rec.kinds()).toEqual(["error", "closed"]);
    expect(rec.events[0]).toMatchObject({ code: "ECONNREFUSED" });
    expect(layer.connections()).toHaveLength(0);
  });

  it("RFC 5927 §4.1: the quoted SEQ must be in flight; a blind error quoting another is ignored", () => {
    const { layer } = server();
    const rec = new Recorder();
    const c = layer.connect({ family: 4, address: PEER4, port: 80 }, {}, 0);
    layer.setOwner(c, rec);
    layer.flush(0);
    const quote = (seq: number): Uint8Array => {
      const q = new Uint8Array(20);
      const v = new DataView(q.buffer);
      v.setUint16(0, c.local.port);
      v.setUint16(2, 80);
      v.setUint32(4, seq);
      return q;
    };
    const error = (seq: number) => ({
      error: { type: "destination-unreachable", code: { kind: "port-unreachable" } },
      reporter: PEER4,
      protocol: 6,
      src: ME4,
      dst: PEER4,
      srcPort: c.local.port,
      dstPort: 80,
      quotedPayload: quote(seq),
    });
    const iss = c.iss;
    layer.processIcmpError(error((iss + 0x4000_0000) >>> 0), 5);
    layer.flush(5);
    expect(c.state).toBe("SYN-SENT");
    layer.processIcmpError(error(iss), 6);
    layer.flush(6);
    expect(rec.events[0]).toMatchObject({ code: "ECONNREFUSED" });
  });

  it("closing a listener resets its half-open connections", () => {
    const { ip, layer } = server();
    const l = layer.listen(7);
    layer.processSegment(deliver4(hex(SYN_OPTS)), 0);
    layer.flush(0);
    ip.take();
    layer.closeListener(l, 1);
    layer.flush(1);
    const out = ip.take();
    expect(out).toHaveLength(1);
    expect(tcpOf(out[0]!).flags & TCP_RST).toBe(TCP_RST);
    expect(layer.connections()).toHaveLength(0);
  });
});

describe("ephemeral ports (RFC 6056)", () => {
  /** A Random whose nextInt always answers 0: the first candidate is 49152. */
  function zeroRandom(): Random {
    const r: Random = {
      nextU32: () => 0,
      nextFloat: () => 0,
      nextInt: () => 0,
      bytes: (n) => new Uint8Array(n).fill(7),
      fork: () => r,
    };
    return r;
  }

  it("skips a port whose 4-tuple is taken, and a listening port", () => {
    const { layer } = server({ random: zeroRandom() });
    const dst: Endpoint = { family: 4, address: PEER4, port: 80 };
    expect(layer.connect(dst, {}, 0).local.port).toBe(49152);
    expect(layer.connect(dst, {}, 0).local.port).toBe(49153);
    // Another destination may reuse 49152 (RFC 6056 §2.1: the 4-tuple must be unique, not the port).
    expect(layer.connect({ ...dst, port: 81 }, {}, 0).local.port).toBe(49152);
    layer.listen(49154);
    expect(layer.connect(dst, {}, 0).local.port).toBe(49155);
  });

  it("an explicit local port that repeats a 4-tuple is EADDRINUSE", () => {
    const { layer } = server();
    const dst: Endpoint = { family: 4, address: PEER4, port: 80 };
    layer.connect(dst, { localPort: 5000 }, 0);
    expect(() => layer.connect(dst, { localPort: 5000 }, 0)).toThrowError(/already exists/);
    expect(() => layer.connect({ ...dst, port: 81 }, { localPort: 5000 }, 0)).not.toThrow();
  });
});

describe("limits", () => {
  it("past maxConnections, SYNs are dropped and counted and connect throws", () => {
    const { ip, layer } = server({ limits: { maxConnections: 2 } });
    layer.listen(80);
    const syns = [11, 12, 13].map((i) => synFrom(ip4(`10.0.0.${i}`), 40000, 80, 1000));
    for (const s of syns) layer.processSegment(s, 0);
    layer.flush(0);
    expect(layer.connections()).toHaveLength(2);
    expect(layer.counters.get("drop.connection-limit")).toBe(1);
    expect(ip.take()).toHaveLength(2);
    expect(() => layer.connect({ family: 4, address: PEER4, port: 1 }, {}, 0)).toThrowError(/maxConnections/);
  });

  it("a full accept queue drops SYNs until the application accepts (backlog)", () => {
    const p = new Pair({}, { limits: { acceptQueue: 1 } });
    const l = p.b.listen(7);
    const c1 = p.a.connect({ family: 4, address: ME4, port: 7 }, {}, 0);
    p.pump();
    const c2 = p.a.connect({ family: 4, address: ME4, port: 7 }, {}, 0);
    p.pump();
    expect(c1.state).toBe("ESTABLISHED");
    expect(c2.state).toBe("SYN-SENT");
    expect(l.acceptQueue).toHaveLength(1);
    expect(p.b.listenCounters.get("drop.accept-queue-full")).toBe(1);
    p.b.accept(l);
    p.advance(1000); // the client's SYN retransmission (RFC 6298 §2.1: initial RTO 1 s)
    expect(c2.state).toBe("ESTABLISHED");
    expect(l.acceptQueue).toHaveLength(1);
  });
});

describe("limits within one batch, and timers", () => {
  it("the backlog holds when two handshakes complete in the same batch", () => {
    const p = new Pair({}, { limits: { acceptQueue: 1 } });
    const l = p.b.listen(7);
    const c1 = p.a.connect({ family: 4, address: ME4, port: 7 }, {}, 0);
    const c2 = p.a.connect({ family: 4, address: ME4, port: 7 }, {}, 0);
    p.pump();
    // Both SYNs met an empty accept queue; only one of the two ACKs finds room.
    expect(l.acceptQueue).toHaveLength(1);
    expect(l.synQueue.size).toBe(1);
    expect(p.b.listenCounters.get("drop.accept-queue-full")).toBe(1);
    expect([c1.state, c2.state]).toEqual(["ESTABLISHED", "ESTABLISHED"]);
    p.b.accept(l);
    // The server's SYN-ACK retransmission (RFC 6298 §2.1: 1 s) draws the client's ACK again.
    p.advance(1000);
    expect(l.acceptQueue).toHaveLength(1);
    expect(l.synQueue.size).toBe(0);
  });

  it("nextDeadline follows the connections, skipping deadlines that moved", () => {
    const p = new Pair();
    p.b.listen(7);
    const c = p.a.connect({ family: 4, address: ME4, port: 7 }, {}, 0);
    p.a.flush(0);
    expect(p.a.nextDeadline()).toBe(1000); // the SYN's RTO (RFC 6298 §2.1)
    p.pump();
    expect(c.state).toBe("ESTABLISHED");
    // The handshake's ACK cancelled the SYN timer: the heap entry at 1000 is stale now.
    expect(c.nextDeadline()).toBeUndefined();
    expect(p.a.nextDeadline()).toBeUndefined();
    c.write(Buffer.from("x"));
    p.a.kick(c);
    p.a.flush(0);
    expect(p.a.nextDeadline()).toBe(c.nextDeadline());
    expect(p.a.nextDeadline()).toBeGreaterThan(0);
  });
});

/** A SYN from `src` built through the codec (checksum over the right pseudo-header). */
function synFrom(src: Ipv4Address, sport: number, dport: number, seq: number, options: TcpRepr["options"] = []): IpDelivery {
  const repr: TcpRepr = { srcPort: sport, dstPort: dport, seq, ack: 0, flags: TCP_SYN, window: 65535, urgentPointer: 0, options, payload: new Uint8Array(0) };
  return deliver4(emitSegment(repr, src, ME4), src, ME4);
}

function emitSegment(repr: TcpRepr, src: Ipv4Address, dst: Ipv4Address): Uint8Array {
  const out = new Uint8Array(tcpHeaderLen(repr) + repr.payload.length);
  emitTcp(repr, out, 0, { family: 4, src, dst });
  return out;
}

describe("SYN cookies through the layer (RFC 4987 §3.6)", () => {
  it("engage once the SYN queue is full: a SYN-ACK and no state", () => {
    const { ip, layer } = server({ limits: { synQueue: 2 } });
    const l = layer.listen(7);
    for (let i = 0; i < 3; i++) layer.processSegment(synFrom(ip4(`10.0.1.${i}`), 40000, 7, 1000 + i), 0);
    layer.flush(0);
    expect(l.synQueue.size).toBe(2);
    expect(layer.connections()).toHaveLength(2);
    const out = ip.take();
    expect(out).toHaveLength(3);
    const cookie = tcpOf(out.find((s) => s.dst === ip4("10.0.1.2"))!);
    expect(cookie.flags).toBe(TCP_SYN | TCP_ACK);
    expect(cookie.ack).toBe(1003);
    expect(layer.counters.get("tx.cookie-syn-ack")).toBe(1);
  });

  it("a cookie ACK validates into an ESTABLISHED connection with the SYN's MSS, window scale and SACK", () => {
    const p = new Pair({}, { limits: { synQueue: 0 } });
    const l = p.b.listen(7);
    const c = p.a.connect({ family: 4, address: ME4, port: 7 }, { config: { mss: 1400 } }, 0);
    p.pump();
    expect(p.b.listenCounters.get("tx.cookie")).toBe(1);
    expect(p.b.listenCounters.get("rx.cookie-valid")).toBe(1);
    expect(c.state).toBe("ESTABLISHED");
    const s = accepted(p.b)[0]!;
    expect(s.state).toBe("ESTABLISHED");
    expect(l.synQueue.size).toBe(0);
    const tcb = s.tcb();
    const ctcb = c.tcb();
    expect(tcb.sackOk).toBe(true);
    expect(tcb.tsOk).toBe(true);
    expect(tcb.sndWs).toBe(ctcb.rcvWs); // the client's shift came back through the TSecr bits
    expect(tcb.rcvWs).toBe(ctcb.sndWs);
    expect(tcb.irs).toBe(ctcb.iss);
    expect(tcb.iss).toBe(ctcb.irs);
    // MSS 1400 is carried as the table's 1380, less 12 bytes of timestamps.
    expect(s.stats().mss).toBe(1380 - 12);
    // Data flows both ways; the server's timestamps continue the cookie SYN-ACK's clock (no PAWS drop).
    c.write(Buffer.from("ping"));
    p.a.kick(c);
    p.pump();
    expect(readAll(s)).toBe("ping");
    p.advance(50);
    s.write(Buffer.from("pong"));
    p.b.kick(s);
    p.pump();
    expect(readAll(c)).toBe("pong");
    expect(c.stats().pawsDrops).toBe(0);
  });

  it("without timestamps the cookie connection has no window scaling and no SACK", () => {
    const p = new Pair({ config: { timestamps: false } }, { limits: { synQueue: 0 } });
    p.b.listen(7);
    const c = p.a.connect({ family: 4, address: ME4, port: 7 }, {}, 0);
    p.pump();
    expect(c.state).toBe("ESTABLISHED");
    const s = accepted(p.b)[0]!;
    expect(s.tcb()).toMatchObject({ sackOk: false, tsOk: false, sndWs: 0, rcvWs: 0 });
    expect(c.tcb()).toMatchObject({ sackOk: false, sndWs: 0, rcvWs: 0 });
  });

  it("a forged cookie ACK is dropped and counted: no connection, no RST", () => {
    const p = new Pair({}, { limits: { synQueue: 0 } });
    p.b.listen(7);
    const c = p.a.connect({ family: 4, address: ME4, port: 7 }, {}, 0);
    // Corrupt the ACK number of the client's handshake ACK on its way (checksum recomputed).
    p.pump((from, s) => {
      if (from !== "a") return true;
      const t = tcpOf(s);
      if (t.flags !== TCP_ACK) return true;
      p.b.processSegment(deliver4(emitSegment({ ...t, ack: (t.ack + 1) >>> 0 }, PEER4, ME4)), p.now);
      return false;
    });
    expect(c.state).toBe("ESTABLISHED");
    expect(p.b.connections()).toHaveLength(0);
    expect(p.b.listenCounters.get("drop.cookie-bad-hash")).toBe(1);
    expect(p.b.counters.get("tx.rst")).toBe(0);
  });

  it("an old cookie (past two 64 s periods) is dropped while the flood goes on", () => {
    const { ip, layer } = server({ limits: { synQueue: 0 } });
    layer.listen(7);
    layer.processSegment(synFrom(PEER4, 40000, 7, 5000), 0);
    const sa = tcpOf(ip.take()[0]!);
    layer.processSegment(synFrom(ip4("10.9.9.9"), 1, 7, 1), 129_000); // still overflowing
    ip.take();
    const ack: TcpRepr = { srcPort: 40000, dstPort: 7, seq: 5001, ack: (sa.seq + 1) >>> 0, flags: TCP_ACK, window: 100, urgentPointer: 0, options: [], payload: new Uint8Array(0) };
    layer.processSegment(deliver4(emitSegment(ack, PEER4, ME4)), 129_000);
    layer.flush(129_000);
    expect(ip.take()).toEqual([]);
    expect(layer.connections()).toHaveLength(0);
    expect(layer.listenCounters.get("drop.cookie-expired")).toBe(1);
  });

  it("SYN flood: 10 000 SYNs from random sources, and a real client still connects", () => {
    const p = new Pair({}, { limits: { synQueue: 256 } });
    const l = p.b.listen(7);
    const r = seededRandom(2024);
    for (let i = 0; i < 10_000; i++) {
      // Forged sources in 172.16.0.0/12; none of them will ever answer the SYN-ACK.
      const src = (ip4("172.16.0.0") + r.nextInt(1 << 20)) >>> 0;
      p.b.processSegment(synFrom(src, 1024 + r.nextInt(60000), 7, r.nextU32()), p.now);
      if (i % 1000 === 999) p.pump();
    }
    p.pump();
    expect(l.synQueue.size).toBe(256);
    expect(p.b.connections()).toHaveLength(256);
    expect(p.b.listenCounters.get("tx.cookie")).toBeGreaterThanOrEqual(10_000 - 256 - 5);
    const c = p.a.connect({ family: 4, address: ME4, port: 7 }, {}, p.now);
    p.pump();
    expect(c.state).toBe("ESTABLISHED");
    const s = accepted(p.b)[0]!;
    c.write(Buffer.from("still here"));
    p.a.kick(c);
    p.pump();
    expect(readAll(s)).toBe("still here");
  }, 30_000);
});
