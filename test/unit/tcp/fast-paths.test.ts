/**
 * The data path's fast paths (issue 7, item 2) against the plain computations they replace: the
 * hashed 4-tuple table of the layer (bucket collisions included), HMAC-SHA-256 from two one-shot
 * hashes, the cached timestamp offsets, the cached word view of the checksum, the `nop,nop,TS`
 * shortcut and parsing from a checked view.
 */
import { createHmac } from "node:crypto";
import { describe, expect, it } from "vitest";
import { seededRandom } from "../../../src/time/random.ts";
import type { Endpoint } from "../../../src/transport/tcp/connection.ts";
import { IsnGenerator, keyedHash32 } from "../../../src/transport/tcp/isn.ts";
import { TcpLayer, tupleHash } from "../../../src/transport/tcp/layer.ts";
import type { IpDelivery, Ipv4Sender } from "../../../src/transport/udp.ts";
import { put16, put32 } from "../../../src/wire/bytes.ts";
import { sumBytes } from "../../../src/wire/checksum.ts";
import { WireError } from "../../../src/wire/error.ts";
import { parseIpv4, type Ipv4Address } from "../../../src/wire/ip-address.ts";
import { allocPacket } from "../../../src/wire/packet-buffer.ts";
import {
  TCP_ACK,
  TCP_RST,
  TCP_SYN,
  TcpView,
  emitTcp,
  parseTcp,
  tcpHeaderLen,
  tcpOptionsLikeLinux,
  tcpTimestampOptions,
  type TcpRepr,
} from "../../../src/wire/tcp.ts";

const hex = (s: string) => Uint8Array.from(Buffer.from(s, "hex"));
const toHex = (b: Uint8Array) => Buffer.from(b).toString("hex");
const ip4 = (s: string) => parseIpv4(s) as Ipv4Address;

/** RFC 1071 §4.1 read plainly: big-endian 16-bit words, an odd last byte as the high byte. */
function referenceSum(b: Uint8Array, start: number, end: number): number {
  let s = 0;
  for (let i = start; i < end; i += 2) s += ((b[i] as number) << 8) | (i + 1 < end ? (b[i + 1] as number) : 0);
  return s;
}

/** keyedHash32 as it was written before the one-shot version: createHmac over the same fields. */
function hmacReference(key: Uint8Array, label: string, local: Endpoint | undefined, remote: Endpoint | undefined, words: readonly number[] = []): number {
  const h = createHmac("sha256", key);
  h.update(label);
  for (const e of [local, remote]) {
    if (e === undefined) continue;
    h.update(Uint8Array.of(e.family, e.port >>> 8, e.port & 0xff));
    const a = e.address;
    h.update(typeof a === "number" ? Uint8Array.of(a >>> 24, (a >>> 16) & 0xff, (a >>> 8) & 0xff, a & 0xff) : a);
  }
  for (const w of words) h.update(Uint8Array.of(w >>> 24, (w >>> 16) & 0xff, (w >>> 8) & 0xff, w & 0xff));
  return h.digest().readUInt32BE(0);
}

describe("keyedHash32 is HMAC-SHA-256 (RFC 2104 §2) truncated to 32 bits (RFC 6528 §3 F)", () => {
  const v4a: Endpoint = { family: 4, address: ip4("10.0.0.1"), port: 80 };
  const v4b: Endpoint = { family: 4, address: ip4("192.168.255.254"), port: 65535 };
  const v6a: Endpoint = { family: 6, address: hex("fd000000000000000000000000000001"), port: 443 };
  const v6b: Endpoint = { family: 6, address: hex("fe80000000000000021122fffe334455"), port: 40000 };
  it.each([
    ["16-byte key, IPv4", 16, v4a, v4b, []],
    ["16-byte key, IPv6, words", 16, v6a, v6b, [0, 0xffffffff, 0x80000001]],
    ["64-byte key (one block), one endpoint", 64, undefined, v4b, [7]],
    ["80-byte key (hashed first, RFC 2104 §2)", 80, v4a, v6b, [1, 2, 3]],
  ] as const)("%s", (_name, keyLen, local, remote, words) => {
    const key = Uint8Array.from({ length: keyLen }, (_, i) => (i * 37 + 11) & 0xff);
    for (const label of ["isn", "ts-offset", "syn-cookie"]) {
      expect(keyedHash32(key, label, local, remote, words)).toBe(hmacReference(key, label, local, remote, words));
    }
  });
  it("two keys in turn keep their own pads", () => {
    const k1 = new Uint8Array(16).fill(1);
    const k2 = new Uint8Array(16).fill(2);
    for (let i = 0; i < 3; i++) {
      expect(keyedHash32(k1, "isn", v4a, v4b)).toBe(hmacReference(k1, "isn", v4a, v4b));
      expect(keyedHash32(k2, "isn", v4a, v4b)).toBe(hmacReference(k2, "isn", v4a, v4b));
    }
  });
});

describe("IsnGenerator.tsOffset remembers address pairs (RFC 7323 Appendix G: per pair, not per port)", () => {
  it("is the same for any ports and after the memory starts over", () => {
    const a = new IsnGenerator(seededRandom(5));
    const b = new IsnGenerator(seededRandom(5));
    const local: Endpoint = { family: 4, address: ip4("10.0.0.1"), port: 1 };
    const remote: Endpoint = { family: 4, address: ip4("10.0.0.2"), port: 2 };
    const first = a.tsOffset(local, remote);
    expect(a.tsOffset({ ...local, port: 5000 }, { ...remote, port: 6000 })).toBe(first);
    // Fill b past its bound (4096 pairs) before asking: the value does not depend on what it holds.
    for (let i = 0; i < 5000; i++) b.tsOffset(local, { family: 4, address: ip4("10.1.0.0") + i, port: 9 });
    expect(b.tsOffset(local, remote)).toBe(first);
    expect(b.tsOffset(local, { ...remote, address: ip4("10.0.0.3") })).not.toBe(first);
  });
});

describe("sumBytes reuses a word view per buffer (RFC 1071 sum unchanged)", () => {
  it("alternating among three buffers, at every 2-aligned offset", () => {
    const bufs = [0, 1, 2].map((k) => Uint8Array.from({ length: 4096 }, (_, i) => (i * (7 + k) + k) & 0xff));
    for (let round = 0; round < 2; round++) {
      for (let at = 0; at < 64; at += 2) {
        for (const b of bufs) expect(sumBytes(b, at, at + 1500)).toBe(referenceSum(b, at, at + 1500));
      }
    }
  });
  it("a buffer that grew since its view was made", () => {
    const ab = new (ArrayBuffer as unknown as new (n: number, o: { maxByteLength: number }) => ArrayBuffer & { resize(n: number): void })(256, { maxByteLength: 8192 });
    const small = new Uint8Array(ab, 0, 256).fill(3);
    expect(sumBytes(small)).toBe(referenceSum(small, 0, 256));
    ab.resize(8192);
    const big = new Uint8Array(ab, 4096, 2048).fill(0xfe);
    expect(sumBytes(big)).toBe(referenceSum(big, 0, 2048));
  });
});

describe("codec shortcuts give the bytes of the general paths", () => {
  it("put16/put32 write big-endian at the offset and nothing else", () => {
    const b = new Uint8Array(8).fill(0xaa);
    put16(b, 1, 0xbeef);
    put32(b, 3, 0xfedcba98);
    expect(toHex(b)).toBe("aabeeffedcba98aa");
  });
  it("tcpTimestampOptions = tcpOptionsLikeLinux({ timestamps }) (RFC 7323 §3.2, Linux layout)", () => {
    expect(tcpTimestampOptions(0xdeadbeef, 7)).toEqual(tcpOptionsLikeLinux({ timestamps: { tsVal: 0xdeadbeef, tsEcr: 7 } }));
  });
  // scapy 2.5.0: /usr/bin/python3 -c 'from scapy.all import *; print(raw(IP(src="10.0.0.2",dst="10.0.0.1")/
  //   TCP(sport=40000,dport=80,seq=5000,ack=7000,flags="PA",window=502,options=[("NOP",None),("NOP",None),
  //   ("Timestamp",(1000,2000))])/b"hi")[20:].hex())'
  const DATA_TS = "9c4000500000138800001b58801801f6212900000101080a000003e8000007d06869";
  it("TcpView.toRepr = parseTcp, and emitTcp with a given header length = without", () => {
    const bytes = hex(DATA_TS);
    const v = TcpView.check(bytes);
    if (v instanceof WireError) throw new Error(v.toString());
    const repr = parseTcp(bytes) as TcpRepr;
    expect(v.toRepr()).toEqual(repr);
    const ph = { family: 4, src: ip4("10.0.0.2"), dst: ip4("10.0.0.1") } as const;
    expect(v.verifyChecksum(ph)).toBe(true);
    const out = new Uint8Array(4 + bytes.length).fill(0xaa);
    expect(emitTcp(repr, out, 4, ph, tcpHeaderLen(repr))).toBe(4 + bytes.length);
    expect(toHex(out)).toBe("aaaaaaaa" + DATA_TS);
  });
});

describe("the layer's 4-tuple table (RFC 9293 §3.3.2: a connection is named by its socket pair)", () => {
  const ME = ip4("10.0.0.1");
  class Ip implements Ipv4Sender {
    sent: { dst: number; payload: Uint8Array }[] = [];
    dispatch(_protocol: number, _src: number, dst: number, payload: Uint8Array): boolean {
      this.sent.push({ dst, payload });
      return true;
    }
    routeFor(): { src: number } {
      return { src: ME };
    }
    isLocal(a: number): boolean {
      return a === ME;
    }
  }

  /** Two remote endpoints whose tuples with ours (port `localPort`) fall in one bucket. */
  function collidingPeers(salt: number, localPort: number): [Endpoint, Endpoint] {
    const seen = new Map<number, Endpoint>();
    for (let host = 1; host < 256; host++) {
      for (let port = 1; port <= 0xffff; port++) {
        const address = ip4("10.0.1.0") + host;
        const h = tupleHash(salt, ME, localPort, address, port);
        const other = seen.get(h);
        if (other !== undefined) return [other, { family: 4, address, port }];
        seen.set(h, { family: 4, address, port });
      }
    }
    throw new Error("no collision found");
  }

  function rstFor(peer: Endpoint, localPort: number, ack: number): IpDelivery {
    const repr: TcpRepr = { srcPort: peer.port, dstPort: localPort, seq: 0, ack, flags: TCP_RST | TCP_ACK, window: 0, urgentPointer: 0, options: [], payload: new Uint8Array(0) };
    const seg = allocPacket(tcpHeaderLen(repr));
    emitTcp(repr, seg, 0, { family: 4, src: peer.address as number, dst: ME });
    return { family: 4, protocol: 6, src: peer.address as number, dst: ME, payload: seg, dstKind: "unicast" };
  }

  it("two connections in one bucket each get their own segments, before and after the other leaves", () => {
    const random = seededRandom(9).fork("tcp");
    const salt = random.fork("tuples").nextU32() | 0;
    const ip = new Ip();
    const layer = new TcpLayer({ ipv4: ip, random });
    const localPort = 40000;
    const [p1, p2] = collidingPeers(salt, localPort);
    expect(tupleHash(salt, ME, localPort, p1.address, p1.port)).toBe(tupleHash(salt, ME, localPort, p2.address, p2.port));
    const c1 = layer.connect(p1, { localPort }, 0);
    const c2 = layer.connect(p2, { localPort }, 0);
    // The same 4-tuple twice is refused even when its bucket holds another.
    expect(() => layer.connect(p2, { localPort }, 0)).toThrow(/already exists/);
    layer.flush(0);
    const iss = new Map(ip.sent.map((s) => [s.dst, (parseTcp(s.payload) as TcpRepr).seq]));
    expect(ip.sent.map((s) => (parseTcp(s.payload) as TcpRepr).flags)).toEqual([TCP_SYN, TCP_SYN]);
    // RFC 9293 §3.10.7.3: an acceptable RST,ACK in SYN-SENT closes that connection only.
    layer.processSegment(rstFor(p2, localPort, ((iss.get(p2.address as number) as number) + 1) >>> 0), 0);
    expect(c2.state).toBe("CLOSED");
    expect(c1.state).toBe("SYN-SENT");
    layer.flush(0);
    expect(layer.connections()).toEqual([c1]);
    // The bucket now holds c1 alone; a RST for the departed tuple meets no connection.
    layer.processSegment(rstFor(p2, localPort, 1), 0);
    expect(layer.counters.get("rx.no-connection")).toBe(1);
    layer.processSegment(rstFor(p1, localPort, ((iss.get(p1.address as number) as number) + 1) >>> 0), 0);
    expect(c1.state).toBe("CLOSED");
  });
});
