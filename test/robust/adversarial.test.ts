/**
 * Adversarial traffic against a stack on the memory wire (issue 8, item 3): stack A is the honest
 * client, B the server under attack, and the raw port (02:..:09, 10.0.0.9) the attacker, whose
 * frames are built with the src/wire codecs. Every test ends by checking that B still serves A, and
 * that nothing escaped as an exception.
 */
import { afterEach, describe, expect, test } from "vitest";
import { runFor } from "../../src/time/drive.ts";
import { TCP_ACK, TCP_PSH, TCP_RST, TCP_SYN } from "../../src/wire/tcp.ts";
import { ADDR, ipv4Frame, sumCounters, twoStacks, type TwoStacks } from "../sim/helpers.ts";
import { arpReply, send, tcpClient, tcpFrame, tcpServer, udpFrame, v4 } from "./helpers.ts";
import type { Stack } from "../../src/stack.ts";
import { macToString } from "../../src/wire/mac.ts";

let sim: TwoStacks | undefined;
afterEach(async () => {
  await sim?.close();
  sim?.dispose();
  sim = undefined;
});

function world(o: Parameters<typeof twoStacks>[0] = {}): TwoStacks & { rawSend(frames: Uint8Array[]): void } {
  const s = twoStacks({ raw: true, impairments: { delayMs: 1 }, ...o });
  sim = s;
  return Object.assign(s, {
    rawSend(frames: Uint8Array[]) {
      for (const f of frames) s.raw?.send(f);
    },
  });
}

function noExceptions(...stacks: Stack[]): void {
  for (const s of stacks) expect(s.stats.get("exception"), String(s.lastError)).toBe(0);
}

/** A → B:7 echo round trip of `n` bytes, checked byte for byte. */
async function echoWorks(s: TwoStacks, port = 7, n = 3000): Promise<void> {
  const c = tcpClient(s.a, ADDR.ipB, port);
  await runFor(s.clock, 50);
  expect(c.conn.state).toBe("ESTABLISHED");
  const data = new Uint8Array(n).map((_, i) => (i * 31 + 7) & 0xff);
  send(s.a, c, data);
  await runFor(s.clock, 500);
  expect(Buffer.from(c.bytes()).equals(Buffer.from(data))).toBe(true);
}

const raw = (dst: string) => ({ srcMac: ADDR.macRaw, dstMac: dst });

describe("SYN flood", () => {
  test("RFC 4987 §3.6: 3000 forged SYNs fill the SYN queue; cookies keep port 7 reachable; tables stay bounded", async () => {
    const s = world({ stackB: { limits: { tcp: { synQueue: 16, acceptQueue: 8, maxConnections: 64 }, arp: { maxQueuedTotal: 32 } } } });
    tcpServer(s.b, 7);
    const syns: Uint8Array[] = [];
    for (let i = 0; i < 3000; i++) {
      // Forged sources on B's subnet: B must ARP for each before its SYN-ACK can leave.
      syns.push(tcpFrame({ ...raw(ADDR.macB), src: `10.0.0.${20 + (i % 200)}`, dst: ADDR.ipB, srcPort: 1024 + i, dstPort: 7, seq: i * 7919, ack: 0, flags: TCP_SYN }));
    }
    s.rawSend(syns);
    await runFor(s.clock, 20);
    expect(s.b.tcpLayer.connections().length).toBeLessThanOrEqual(64);
    expect(s.b.link.arp.queued).toBeLessThanOrEqual(32);
    expect(sumCounters(s.b, /cookie/)).toBeGreaterThan(0);
    await echoWorks(s);
    noExceptions(s.a, s.b);
  });
});

describe("blind in-window attacks (RFC 5961)", () => {
  async function established(s: TwoStacks) {
    const served = tcpServer(s.b, 7);
    const c = tcpClient(s.a, ADDR.ipB, 7);
    await runFor(s.clock, 50);
    const srv = served[0];
    if (srv === undefined) throw new Error("no connection accepted");
    return { c, srv, tcb: srv.conn.tcb(), aPort: c.conn.local.port };
  }

  test("§3.2: an in-window RST that is not exact draws a challenge ACK; out of window is ignored; the connection lives", async () => {
    const s = world();
    const { c, srv, tcb, aPort } = await established(s);
    const before = srv.conn.stats().challengeAcks;
    const forge = (seq: number) =>
      tcpFrame({ ...raw(ADDR.macB), src: ADDR.ipA, dst: ADDR.ipB, srcPort: aPort, dstPort: 7, seq, ack: 0, flags: TCP_RST });
    s.rawSend([forge(tcb.rcvNxt + 1000), forge(tcb.rcvNxt + 0x4000_0000)]);
    await runFor(s.clock, 10);
    expect(srv.conn.state).toBe("ESTABLISHED");
    expect(srv.conn.stats().challengeAcks).toBe(before + 1);
    await runFor(s.clock, 10);
    expect(c.conn.state).toBe("ESTABLISHED");
    noExceptions(s.a, s.b);
  });

  test("§4.2: a SYN in a synchronized state draws a challenge ACK, never a reset of the connection", async () => {
    const s = world();
    const { srv, tcb, aPort } = await established(s);
    s.rawSend([tcpFrame({ ...raw(ADDR.macB), src: ADDR.ipA, dst: ADDR.ipB, srcPort: aPort, dstPort: 7, seq: tcb.rcvNxt + 5, ack: 0, flags: TCP_SYN })]);
    await runFor(s.clock, 10);
    expect(srv.conn.state).toBe("ESTABLISHED");
    expect(srv.conn.stats().challengeAcks).toBeGreaterThanOrEqual(1);
    noExceptions(s.a, s.b);
  });

  test("§5.2: data whose ACK is outside [SND.UNA − MAX.SND.WND, SND.NXT] is discarded, not delivered", async () => {
    const s = world();
    const { c, srv, tcb, aPort } = await established(s);
    const evil = new TextEncoder().encode("INJECTED");
    s.rawSend([
      tcpFrame({ ...raw(ADDR.macB), src: ADDR.ipA, dst: ADDR.ipB, srcPort: aPort, dstPort: 7, seq: tcb.rcvNxt, ack: (tcb.sndUna - 0x2000_0000) >>> 0, flags: TCP_ACK | TCP_PSH, payload: evil }),
      tcpFrame({ ...raw(ADDR.macB), src: ADDR.ipA, dst: ADDR.ipB, srcPort: aPort, dstPort: 7, seq: tcb.rcvNxt, ack: (tcb.sndMax + 0x10_0000) >>> 0, flags: TCP_ACK | TCP_PSH, payload: evil }),
    ]);
    await runFor(s.clock, 50);
    expect(srv.received.length).toBe(0);
    expect(srv.conn.tcb().rcvNxt).toBe(tcb.rcvNxt);
    const data = new TextEncoder().encode("honest bytes");
    send(s.a, c, data);
    await runFor(s.clock, 100);
    expect(Buffer.from(c.bytes()).toString()).toBe("honest bytes");
    noExceptions(s.a, s.b);
  });

  test("ACK storm: 5000 forged ACKs, one frame per batch, get at most the RFC 5961 §7 rate of answers", async () => {
    const s = world();
    const { srv, tcb, aPort } = await established(s);
    const sentBefore = s.recB.log.filter((r) => r.dir === "tx").length;
    for (let i = 0; i < 5000; i++) {
      const ack = i % 2 === 0 ? (tcb.sndMax + 0x100_0000 + i) >>> 0 : (tcb.sndUna - 0x4000_0000 - i) >>> 0;
      s.raw?.send(tcpFrame({ ...raw(ADDR.macB), src: ADDR.ipA, dst: ADDR.ipB, srcPort: aPort, dstPort: 7, seq: tcb.rcvNxt, ack, flags: TCP_ACK }));
      if (i % 500 === 499) await runFor(s.clock, 2); // several batches, all within one second
    }
    await runFor(s.clock, 20);
    const answered = s.recB.log.filter((r) => r.dir === "tx").length - sentBefore;
    expect(srv.conn.state).toBe("ESTABLISHED");
    expect(answered).toBeLessThanOrEqual(110); // 100 challenge ACKs per second, and a few honest segments
    await echoWorks(s);
    noExceptions(s.a, s.b);
  });
});

describe("fragments", () => {
  const echoRequest = (len: number): Uint8Array => {
    // ICMP echo request header + data; the checksum does not matter for a datagram that must be dropped.
    const p = new Uint8Array(8 + len).fill(0x61);
    p[0] = 8;
    p[1] = 0;
    return p;
  };

  test("ping of death (RFC 791 §3.1): a datagram reassembling past 65 535 bytes is dropped and counted", async () => {
    const s = world();
    const body = echoRequest(1400);
    const frags = [
      ipv4Frame({ ...raw(ADDR.macB), src: ADDR.ipRaw, dst: ADDR.ipB, protocol: 1, ident: 77, moreFragments: true, fragmentOffset: 0, payload: body.subarray(0, 1400) }),
      // Offset 65 528 + 100 bytes of data: the end passes the 16-bit Total Length.
      ipv4Frame({ ...raw(ADDR.macB), src: ADDR.ipRaw, dst: ADDR.ipB, protocol: 1, ident: 77, moreFragments: false, fragmentOffset: 65_528, payload: new Uint8Array(100) }),
    ];
    s.rawSend(frags);
    await runFor(s.clock, 10);
    expect(sumCounters(s.b, /^ipv4\.drop\.frag-too-big/)).toBeGreaterThanOrEqual(1);
    expect(s.b.ipv4?.reassemblyUsage().datagrams).toBe(0);
    await s.ping(s.a, ADDR.ipB);
    noExceptions(s.a, s.b);
  });

  test("teardrop: overlapping fragments never overwrite held data (RFC 791 policy 'ipv4', trimmed and counted)", async () => {
    const s = world();
    const a = new Uint8Array(64).fill(0x11);
    const b = new Uint8Array(64).fill(0x22);
    s.rawSend([
      ipv4Frame({ ...raw(ADDR.macB), src: ADDR.ipRaw, dst: ADDR.ipB, protocol: 17, ident: 5, moreFragments: true, fragmentOffset: 0, payload: a }),
      ipv4Frame({ ...raw(ADDR.macB), src: ADDR.ipRaw, dst: ADDR.ipB, protocol: 17, ident: 5, moreFragments: true, fragmentOffset: 24, payload: b }),
      ipv4Frame({ ...raw(ADDR.macB), src: ADDR.ipRaw, dst: ADDR.ipB, protocol: 17, ident: 5, moreFragments: false, fragmentOffset: 8, payload: new Uint8Array(8) }),
    ]);
    await runFor(s.clock, 10);
    expect(sumCounters(s.b, /^ipv4\.frag-(overlap-trimmed|duplicate)/)).toBeGreaterThanOrEqual(1);
    await s.ping(s.a, ADDR.ipB);
    noExceptions(s.a, s.b);
  });

  test("fragment flood of tiny first fragments: reassembly stays within maxDatagrams and maxBytes, drops are counted", async () => {
    const s = world({ stackB: { limits: { ipv4Reassembly: { maxDatagrams: 32, maxBytes: 16 * 1024 } } } });
    const frames: Uint8Array[] = [];
    for (let i = 0; i < 5000; i++) {
      frames.push(ipv4Frame({ ...raw(ADDR.macB), src: ADDR.ipRaw, dst: ADDR.ipB, protocol: 17, ident: i, moreFragments: true, fragmentOffset: (i % 7) * 8, payload: new Uint8Array(8) }));
    }
    s.rawSend(frames);
    await runFor(s.clock, 10);
    const usage = s.b.ipv4?.reassemblyUsage();
    expect(usage?.datagrams).toBeLessThanOrEqual(32);
    expect(usage?.bytes).toBeLessThanOrEqual(16 * 1024);
    expect(sumCounters(s.b, /^ipv4\.drop\.frag-/)).toBeGreaterThan(4000);
    await s.ping(s.a, ADDR.ipB);
    // Past the reassembly timeout (30 s default) nothing is held.
    await runFor(s.clock, 31_000);
    expect(s.b.ipv4?.reassemblyUsage()).toEqual({ datagrams: 0, bytes: 0 });
    noExceptions(s.a, s.b);
  });
});

describe("neighbor spoofing", () => {
  test("ARP: a reply changing a just-confirmed entry's MAC is ignored (lock, drop.locked); the real owner keeps the traffic", async () => {
    const s = world();
    await s.ping(s.b, ADDR.ipA); // B learns and confirms A
    const ipA = v4(ADDR.ipA);
    const before = s.b.link.arp.entries(s.clock.now()).find((e) => e.ip === ipA);
    expect(before?.state).toBe("REACHABLE");
    s.rawSend([arpReply({ senderMac: ADDR.macRaw, senderIp: ADDR.ipA, dstMac: ADDR.macB, targetIp: ADDR.ipB })]);
    await runFor(s.clock, 5);
    const after = s.b.link.arp.entries(s.clock.now()).find((e) => e.ip === ipA);
    expect(after?.mac !== undefined ? macToString(after.mac) : undefined).toBe(ADDR.macA);
    expect(sumCounters(s.b, /^arp\.drop\.locked/)).toBe(1);
    await s.ping(s.b, ADDR.ipA);
    noExceptions(s.a, s.b);
  });

  test("ARP: a reply for an address B never asked about creates no entry (RFC 826: only when we are the target)", async () => {
    const s = world();
    s.rawSend([arpReply({ senderMac: ADDR.macRaw, senderIp: "10.0.0.77", dstMac: ADDR.macB, targetIp: "10.0.0.78" })]);
    await runFor(s.clock, 5);
    expect(s.b.link.arp.entries(s.clock.now()).some((e) => e.ip === v4("10.0.0.77"))).toBe(false);
    noExceptions(s.b);
  });
});

describe("ICMP error flood", () => {
  test("RFC 1812 §4.3.2.8: 2000 datagrams to a closed UDP port in one second get at most burst + rate port-unreachables", async () => {
    const s = world();
    await s.ping(s.b, ADDR.ipA); // the forged source is A (a reflection attack), which B can reach
    const sentBefore = s.recB.log.filter((r) => r.dir === "tx").length;
    for (let i = 0; i < 2000; i++) {
      s.raw?.send(udpFrame({ ...raw(ADDR.macB), src: ADDR.ipA, dst: ADDR.ipB, srcPort: 4000, dstPort: 9999, payload: new Uint8Array(16), ident: i }));
      if (i % 200 === 199) await runFor(s.clock, 100);
    }
    await runFor(s.clock, 10);
    const errors = s.recB.log.filter((r) => r.dir === "tx").length - sentBefore;
    // Default bucket: 50 at once, 100 per second: about 150 in this second.
    expect(errors).toBeLessThanOrEqual(155);
    expect(errors).toBeGreaterThan(50);
    expect(sumCounters(s.b, /^icmpv4\.drop\.rate-limited/)).toBeGreaterThan(1500);
    noExceptions(s.b);
  });
});

describe("a peer that keeps its window closed", () => {
  test("persistTimeoutMs bounds a zero window whose probes are answered (ETIMEDOUT), though RFC 9293 §3.8.6.1 would probe forever", async () => {
    const s = world({ stackB: { tcp: { config: { recvBufferSize: 4096 } } } });
    const served = tcpServer(s.b, 5001, { read: false });
    const c = tcpClient(s.a, ADDR.ipB, 5001, { persistTimeoutMs: 120_000 });
    await runFor(s.clock, 50);
    send(s.a, c, new Uint8Array(64 * 1024));
    await runFor(s.clock, 60_000);
    expect(c.conn.state).toBe("ESTABLISHED");
    expect(c.conn.stats().zeroWindowProbes).toBeGreaterThan(0);
    expect(served[0]?.conn.tcb().rcvWnd).toBe(0);
    await runFor(s.clock, 120_000);
    expect(c.errors).toEqual(["ETIMEDOUT"]);
    expect(c.conn.state).toBe("CLOSED");
    noExceptions(s.a, s.b);
  });

  test("while the window opens now and then, the bound does not fire", async () => {
    const s = world({ stackB: { tcp: { config: { recvBufferSize: 4096 } } } });
    const served = tcpServer(s.b, 5001, { read: false });
    const c = tcpClient(s.a, ADDR.ipB, 5001, { persistTimeoutMs: 30_000 });
    await runFor(s.clock, 50);
    send(s.a, c, new Uint8Array(64 * 1024));
    for (let i = 0; i < 8; i++) {
      await runFor(s.clock, 20_000);
      const srv = served[0]?.conn;
      srv?.read(2048); // the application drains a little: the window opens, data moves, closes again
      if (srv !== undefined) s.b.tcpLayer.kick(srv);
      s.b.kick();
    }
    expect(c.errors).toEqual([]);
    expect(c.conn.state).toBe("ESTABLISHED");
    noExceptions(s.a, s.b);
  });
});
