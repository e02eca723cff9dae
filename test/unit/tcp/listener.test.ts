import { describe, expect, it } from "vitest";
import { seededRandom } from "../../../src/time/random.ts";
import type { Endpoint, TcpConnection } from "../../../src/transport/tcp/connection.ts";
import { COOKIE_PERIOD_MS, SynCookies, cookieTsVal } from "../../../src/transport/tcp/cookies.ts";
import { DEFAULT_BACKLOG, DEFAULT_SYN_QUEUE, TcpListener } from "../../../src/transport/tcp/listener.ts";
import { parseIpv4 } from "../../../src/wire/ip-address.ts";
import { NO_TCP_OPTIONS, TCP_ACK, TCP_FIN, TCP_PSH, TCP_RST, TCP_SYN, parseTcp, type TcpRepr } from "../../../src/wire/tcp.ts";
import { WireError } from "../../../src/wire/error.ts";

const hex = (s: string) => Uint8Array.from(Buffer.from(s, "hex"));
const v4 = (s: string, port: number): Endpoint => ({ family: 4, address: parseIpv4(s) as number, port });

// scapy 2.5.0: /usr/bin/python3 -c 'from scapy.all import *; print(raw(IP(src="10.0.0.2",dst="10.0.0.1")/TCP(sport=40001,
//   dport=7,seq=12345,flags="S",window=64240,options=[("MSS",1460),("SAckOK",b""),("Timestamp",(1000,0)),("NOP",None),("WScale",7)]))[20:].hex())'
const SYN_OPTS = "9c4100070000303900000000a002faf068a30000020405b40402080a000003e80000000001030307";
const LOCAL = v4("10.0.0.1", 7);
const REMOTE = v4("10.0.0.2", 40001);

function syn(): TcpRepr {
  const r = parseTcp(hex(SYN_OPTS));
  if (r instanceof WireError) throw new Error(r.toString());
  return r;
}

function seg(flags: number, seq: number, ack: number, extra: Partial<TcpRepr> = {}): TcpRepr {
  return { srcPort: 40001, dstPort: 7, seq, ack, flags, window: 1000, urgentPointer: 0, options: NO_TCP_OPTIONS, payload: new Uint8Array(0), ...extra };
}

const FAKE_CONN = (n: number) => ({ n }) as unknown as TcpConnection;

function listener(opts: { backlog?: number; synQueue?: number } = {}, cookies = new SynCookies(seededRandom(5))) {
  return new TcpListener({ port: 7, local: { family: 4 }, features: { windowScale: true, sack: true, timestamps: true }, cookies, ...opts });
}

describe("RFC 9293 §3.10.7.2 LISTEN", () => {
  it("ignores a RST", () => {
    const l = listener();
    expect(l.decide(seg(TCP_RST, 5, 0), LOCAL, REMOTE, 0)).toEqual({ kind: "drop", reason: "rst" });
    expect(l.decide(seg(TCP_RST | TCP_ACK, 5, 9), LOCAL, REMOTE, 0)).toEqual({ kind: "drop", reason: "rst" });
    expect(l.counters.get("drop.rst")).toBe(2);
  });

  it("answers an ACK with a reset (also a SYN,ACK)", () => {
    const l = listener();
    expect(l.decide(seg(TCP_ACK, 5, 9), LOCAL, REMOTE, 0)).toEqual({ kind: "reset" });
    expect(l.decide(seg(TCP_SYN | TCP_ACK, 5, 9), LOCAL, REMOTE, 0)).toEqual({ kind: "reset" });
    expect(l.decide(seg(TCP_ACK | TCP_PSH, 5, 9, { payload: new Uint8Array(3) }), LOCAL, REMOTE, 0)).toEqual({ kind: "reset" });
  });

  it("a SYN starts SYN-RECEIVED while the SYN queue has room", () => {
    const l = listener();
    expect(l.decide(syn(), LOCAL, REMOTE, 0)).toEqual({ kind: "syn-received" });
    expect(l.lastOverflowAt).toBeUndefined();
  });

  it("drops segments with neither SYN, ACK nor RST", () => {
    const l = listener();
    expect(l.decide(seg(TCP_FIN, 5, 0), LOCAL, REMOTE, 0)).toEqual({ kind: "drop", reason: "no-syn" });
    expect(l.decide(seg(0, 5, 0, { payload: new Uint8Array(4) }), LOCAL, REMOTE, 0)).toEqual({ kind: "drop", reason: "no-syn" });
  });

  it("defaults: SYN queue 256, backlog 128", () => {
    const l = listener();
    expect(l.synQueueLimit).toBe(DEFAULT_SYN_QUEUE);
    expect(l.backlog).toBe(DEFAULT_BACKLOG);
    expect(DEFAULT_SYN_QUEUE).toBe(256);
    expect(DEFAULT_BACKLOG).toBe(128);
  });
});

describe("bounded queues and SYN cookies (RFC 4987 §3.6)", () => {
  it("a full SYN queue answers SYNs with cookies and records the overflow", () => {
    const l = listener({ synQueue: 2 });
    l.synQueue.add(FAKE_CONN(1));
    l.synQueue.add(FAKE_CONN(2));
    const d = l.decide(syn(), LOCAL, REMOTE, 1234);
    expect(d.kind).toBe("cookie-syn");
    if (d.kind === "cookie-syn") {
      expect(d.options).toMatchObject({ mss: 1460, windowScale: 7, sackPermitted: true, timestamps: { tsVal: 1000, tsEcr: 0 } });
    }
    expect(l.lastOverflowAt).toBe(1234);
    expect(l.counters.get("tx.cookie")).toBe(1);
  });

  it("a full accept queue drops SYNs (Linux tcp_conn_request)", () => {
    const l = listener({ backlog: 1 });
    l.acceptQueue.push(FAKE_CONN(1));
    expect(l.decide(syn(), LOCAL, REMOTE, 0)).toEqual({ kind: "drop", reason: "accept-queue-full" });
    expect(l.accept()).toEqual({ n: 1 });
    expect(l.decide(syn(), LOCAL, REMOTE, 0)).toEqual({ kind: "syn-received" });
  });

  it("accept() is first in, first out", () => {
    const l = listener();
    l.acceptQueue.push(FAKE_CONN(1), FAKE_CONN(2));
    expect(l.accept()).toEqual({ n: 1 });
    expect(l.accept()).toEqual({ n: 2 });
    expect(l.accept()).toBeUndefined();
  });

  it("the ACK of a valid cookie becomes a cookie-ack with the SYN's options", () => {
    const cookies = new SynCookies(seededRandom(5));
    const l = listener({ synQueue: 0 }, cookies);
    const s = syn();
    expect(l.decide(s, LOCAL, REMOTE, 1000).kind).toBe("cookie-syn");
    const iss = cookies.make(LOCAL, REMOTE, s.seq, 1460, 1000);
    const tsEcr = cookieTsVal(777777, 7, true);
    const ack = seg(TCP_ACK, s.seq + 1, iss + 1, { options: [{ kind: "timestamps", tsVal: 1001, tsEcr }] });
    expect(l.decide(ack, LOCAL, REMOTE, 1500)).toEqual({
      kind: "cookie-ack",
      iss,
      info: { irs: s.seq, peerMss: 1460, windowScale: 7, sackPermitted: true, timestamps: true },
    });
    expect(l.counters.get("rx.cookie-valid")).toBe(1);
  });

  it("a forged cookie is dropped and counted, not reset (while cookies are in flight)", () => {
    const cookies = new SynCookies(seededRandom(5));
    const l = listener({ synQueue: 0 }, cookies);
    l.decide(syn(), LOCAL, REMOTE, 0);
    const iss = cookies.make(LOCAL, REMOTE, 12345, 1460, 0);
    expect(l.decide(seg(TCP_ACK, 12346, iss + 2), LOCAL, REMOTE, 10)).toEqual({ kind: "drop", reason: "cookie-bad-hash" });
    expect(l.decide(seg(TCP_ACK, 12347, iss + 1), LOCAL, REMOTE, 10)).toEqual({ kind: "drop", reason: "cookie-bad-hash" });
    expect(l.counters.get("drop.cookie-bad-hash")).toBe(2);
  });

  it("an old cookie is dropped as expired while overflows go on", () => {
    const cookies = new SynCookies(seededRandom(5));
    const l = listener({ synQueue: 0 }, cookies);
    l.decide(syn(), LOCAL, REMOTE, 0);
    const iss = cookies.make(LOCAL, REMOTE, 12345, 1460, 0);
    l.decide(syn(), LOCAL, REMOTE, 2 * COOKIE_PERIOD_MS); // the flood continues
    expect(l.decide(seg(TCP_ACK, 12346, iss + 1), LOCAL, REMOTE, 2 * COOKIE_PERIOD_MS + 5)).toEqual({ kind: "drop", reason: "cookie-expired" });
  });

  it("two cookie periods after the last overflow, an ACK is reset again (§3.10.7.2)", () => {
    const cookies = new SynCookies(seededRandom(5));
    const l = listener({ synQueue: 0 }, cookies);
    l.decide(syn(), LOCAL, REMOTE, 0);
    expect(l.cookiesRecent(2 * COOKIE_PERIOD_MS - 1)).toBe(true);
    expect(l.decide(seg(TCP_ACK, 1, 1), LOCAL, REMOTE, 2 * COOKIE_PERIOD_MS)).toEqual({ kind: "reset" });
  });

  it("a valid cookie with a full accept queue is dropped (the peer retries)", () => {
    const cookies = new SynCookies(seededRandom(5));
    const l = listener({ synQueue: 0, backlog: 1 }, cookies);
    l.decide(syn(), LOCAL, REMOTE, 0);
    l.acceptQueue.push(FAKE_CONN(1));
    const iss = cookies.make(LOCAL, REMOTE, 12345, 1460, 0);
    expect(l.decide(seg(TCP_ACK, 12346, iss + 1), LOCAL, REMOTE, 1)).toEqual({ kind: "drop", reason: "accept-queue-full" });
  });
});
