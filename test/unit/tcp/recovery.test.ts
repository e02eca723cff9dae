/**
 * Dialogue tests for loss recovery and the issue 4 follow-up fixes: Limited Transmit (RFC 3042),
 * Early Retransmit (RFC 5827), lost retransmissions resent before the RTO, spurious retransmissions
 * raising DupThresh (RFC 3708 D-SACK, RFC 4653), tail loss probes (RFC 8985 §7), an ACK per two
 * full-sized segments within one batch (RFC 5681 §4.2), `bytesOut` after an RTO, the orphaned
 * FIN-WAIT-2 bound (Linux's tcp_fin_timeout), shutdown in SYN-SENT (RFC 9293 §3.10.4), the
 * `tsOffset` argument (RFC 7323 §5.4), ICMP errors (RFC 5927, RFC 1191) and reordered duplicate ACKs
 * under PAWS (Linux's tcp_disordered_ack).
 *
 * As in established.test.ts: the peer's MSS is 100 where a window of segments is needed, so that
 * ten segments are 1000 bytes; the handshake happens at t = 0 (SRTT 0, RTO at its 200 ms floor).
 */
import { describe, expect, test } from "vitest";
import { TcpConnection, type TcpConfig } from "../../../src/transport/tcp/connection.ts";
import { seededRandom } from "../../../src/time/random.ts";
import { TCP_ACK, TCP_FIN, TCP_SYN, type TcpOption } from "../../../src/wire/tcp.ts";
import { bytes, Dialogue, LOCAL, LOCAL_ISS, PLAIN, REMOTE, REMOTE_ISS, tsOffset } from "./helpers.ts";

const L = LOCAL_ISS + 1;
const R = REMOTE_ISS + 1;
const SACK: TcpConfig = { ...PLAIN, sack: true };

/** Segment i of the pattern written by `inFlight`: 100 bytes of one digit. */
const segText = (i: number) => String.fromCharCode(0x30 + (i % 10)).repeat(100);

/** ESTABLISHED with MSS 100 and Nagle off; `total` bytes written; returns after the first flight. */
function inFlight(total: number, config: TcpConfig = PLAIN, opts: TcpOption[] = []): { d: Dialogue; sent: number } {
  const d = Dialogue.established({ ...config, noDelay: true }, [{ kind: "mss", mss: 100 }, ...opts]);
  const data = new Uint8Array(total);
  for (let i = 0; i < total; i++) data[i] = 0x30 + (Math.floor(i / 100) % 10);
  d.conn.write(data);
  return { d, sent: d.recv().length };
}

const sackOf = (...blocks: [number, number][]): TcpOption[] => [{ kind: "sack", blocks: blocks.map(([left, right]) => ({ left, right })) }];

describe("Limited Transmit (RFC 3042 §2)", () => {
  test("the first two duplicate ACKs each send one new segment; the third retransmits", () => {
    const { d, sent } = inFlight(1200);
    expect(sent).toBe(10); // the initial window (RFC 6928): 10 segments
    d.at(10);
    d.send({ seq: R, ack: L, flags: TCP_ACK });
    d.expectRecv([{ seq: L + 1000, ack: R, payload: segText(10) }]);
    d.send({ seq: R, ack: L, flags: TCP_ACK });
    d.expectRecv([{ seq: L + 1100, ack: R, flags: "P.", payload: segText(11) }]);
    expect(d.conn.stats().cwnd).toBe(1000); // RFC 3042 §2: cwnd MUST NOT change
    d.send({ seq: R, ack: L, flags: TCP_ACK });
    d.expectRecv([{ seq: L, ack: R, payload: segText(0) }]);
    expect(d.conn.stats().fastRetransmits).toBe(1);
  });
});

describe("Early Retransmit (RFC 5827 §3)", () => {
  test("3 segments outstanding, nothing new to send: the second duplicate ACK retransmits (ER_thresh = oseg − 1)", () => {
    const { d, sent } = inFlight(300);
    expect(sent).toBe(3);
    d.at(10);
    d.send({ seq: R, ack: L, flags: TCP_ACK });
    d.expectRecv([]);
    d.send({ seq: R, ack: L, flags: TCP_ACK });
    d.expectRecv([{ seq: L, ack: R, payload: segText(0) }]);
    expect(d.conn.stats()).toMatchObject({ fastRetransmits: 1, timeouts: 0 });
  });

  test("with SACK (§3.2): two SACKed segments above the hole of a 3-segment flight mark it lost", () => {
    const { d } = inFlight(300, SACK, [{ kind: "sack-permitted" }]);
    d.at(5); // before the tail loss probe (10 ms)
    d.send({ seq: R, ack: L, flags: TCP_ACK, options: sackOf([L + 100, L + 200]) });
    d.expectRecv([]);
    d.send({ seq: R, ack: L, flags: TCP_ACK, options: sackOf([L + 100, L + 300]) });
    d.expectRecv([{ seq: L, ack: R, payload: segText(0) }]);
  });

  test("not once reordering was measured (RFC 5827 §6)", () => {
    const { d } = inFlight(1000, SACK, [{ kind: "sack-permitted" }]);
    d.at(10);
    // A spurious fast retransmission (D-SACK below) raises DupThresh to 4.
    for (let k = 2; k <= 4; k++) d.send({ seq: R, ack: L, flags: TCP_ACK, options: sackOf([L + 100, L + k * 100]) });
    d.recv();
    d.send({ seq: R, ack: L + 1000, flags: TCP_ACK });
    d.send({ seq: R, ack: L + 1000, flags: TCP_ACK, options: sackOf([L, L + 100]) });
    expect(d.conn.stats().reordering).toBe(4);
    d.conn.write(new Uint8Array(200).fill(0x41));
    expect(d.recv().length).toBe(2);
    // Two outstanding: ER_thresh would be 1, but DupThresh stays 4.
    d.send({ seq: R, ack: L + 1000, flags: TCP_ACK, options: sackOf([L + 1100, L + 1200]) });
    d.expectRecv([]);
    expect(d.conn.stats().fastRetransmits).toBe(1);
  });
});

describe("lost retransmissions during SACK recovery (RFC 6675 §5, as Linux's tcp_mark_lost_retrans)", () => {
  test("data sent after the retransmission is SACKed while the hole stays: the head goes again before the RTO", () => {
    const { d } = inFlight(2000, SACK, [{ kind: "sack-permitted" }]);
    d.at(10);
    for (let k = 2; k <= 4; k++) d.send({ seq: R, ack: L, flags: TCP_ACK, options: sackOf([L + 100, L + k * 100]) });
    d.expectRecv([{ seq: L, ack: R, payload: segText(0) }]);
    // Everything else of the first flight arrives; pipe falls and new data goes out.
    d.send({ seq: R, ack: L, flags: TCP_ACK, options: sackOf([L + 100, L + 1000]) });
    const fresh = d.recv();
    expect(fresh.length).toBeGreaterThanOrEqual(3);
    expect(fresh[0]!.seq).toBe(L + 1000);
    d.expectRecv([]);
    // Three of those new segments are SACKed, the retransmitted head is still missing: lost again.
    d.at(20);
    d.send({ seq: R, ack: L, flags: TCP_ACK, options: sackOf([L + 100, L + 1300]) });
    const again = d.recv();
    expect(again[0]).toMatchObject({ seq: L, payload: segText(0) });
    expect(d.conn.stats()).toMatchObject({ lostRetransmits: 1, timeouts: 0 });
  });
});

describe("spurious retransmissions raise DupThresh (RFC 3708 §3, RFC 4653 §3.2)", () => {
  test("a D-SACK of the fast-retransmitted segment: reordering = segments SACKed above it + 1", () => {
    const { d } = inFlight(1000, SACK, [{ kind: "sack-permitted" }]);
    d.at(10);
    for (let k = 2; k <= 4; k++) d.send({ seq: R, ack: L, flags: TCP_ACK, options: sackOf([L + 100, L + k * 100]) });
    d.expectRecv([{ seq: L, ack: R, payload: segText(0) }]);
    expect(d.conn.stats().reordering).toBe(3);
    // The original arrived (all acknowledged), then the retransmission is reported as a duplicate.
    d.send({ seq: R, ack: L + 1000, flags: TCP_ACK });
    d.send({ seq: R, ack: L + 1000, flags: TCP_ACK, options: sackOf([L, L + 100]) });
    expect(d.conn.stats()).toMatchObject({ spuriousRetransmits: 1, reordering: 4 });
  });

  test("a D-SACK from a duplicated original (never retransmitted) changes nothing", () => {
    const { d } = inFlight(1000, SACK, [{ kind: "sack-permitted" }]);
    d.at(10);
    d.send({ seq: R, ack: L + 1000, flags: TCP_ACK });
    d.send({ seq: R, ack: L + 1000, flags: TCP_ACK, options: sackOf([L, L + 100]) });
    expect(d.conn.stats()).toMatchObject({ spuriousRetransmits: 0, reordering: 3 });
  });
});

describe("tail loss probe (RFC 8985 §7)", () => {
  test("the last two segments lost: the probe resends the last 10 ms (Linux's floor for 2·SRTT) after the ACK; its SACK reveals the other", () => {
    const { d } = inFlight(400, SACK, [{ kind: "sack-permitted" }]);
    d.at(5);
    d.send({ seq: R, ack: L + 200, flags: TCP_ACK });
    d.expectRecv([]);
    expect(d.conn.nextDeadline()).toBe(15);
    d.expectNothingUntil(15);
    d.expectRecv([{ seq: L + 300, ack: R, flags: "P.", payload: segText(3) }]);
    expect(d.conn.stats()).toMatchObject({ tailLossProbes: 1, timeouts: 0 });
    expect(d.conn.nextDeadline()).toBe(215); // the RTO, re-armed after the probe (§7.3)
    // The probe's SACK: one segment above the hole of a 2-segment flight (RFC 5827 ER_thresh 1).
    d.at(20);
    d.send({ seq: R, ack: L + 200, flags: TCP_ACK, options: sackOf([L + 300, L + 400]) });
    d.expectRecv([{ seq: L + 200, ack: R, payload: segText(2) }]);
    expect(d.conn.stats()).toMatchObject({ fastRetransmits: 1, timeouts: 0 });
  });

  test("the probe repaired a loss (an ACK covering it, no D-SACK): a congestion response (§7.4.2)", () => {
    const { d } = inFlight(400, SACK, [{ kind: "sack-permitted" }]);
    d.at(5);
    d.send({ seq: R, ack: L + 200, flags: TCP_ACK });
    d.expectNothingUntil(15);
    expect(d.recv().length).toBe(1);
    const cwnd = d.conn.stats().cwnd;
    d.send({ seq: R, ack: L + 400, flags: TCP_ACK });
    expect(d.conn.stats().cwnd).toBeLessThan(cwnd);
  });

  test("a D-SACK of the probe: the original had arrived, no congestion response", () => {
    const { d } = inFlight(400, SACK, [{ kind: "sack-permitted" }]);
    d.at(5);
    d.send({ seq: R, ack: L + 200, flags: TCP_ACK });
    d.expectNothingUntil(15);
    expect(d.recv().length).toBe(1);
    const cwnd = d.conn.stats().cwnd;
    d.send({ seq: R, ack: L + 400, flags: TCP_ACK, options: sackOf([L + 300, L + 400]) });
    expect(d.conn.stats().cwnd).toBe(cwnd);
  });

  test("a single segment in flight: PTO = 2·SRTT + WCDelAckT (§7.2) is not before the RTO, so no probe", () => {
    const { d } = inFlight(300, SACK, [{ kind: "sack-permitted" }]);
    d.at(5);
    d.send({ seq: R, ack: L + 200, flags: TCP_ACK });
    d.expectRecv([]);
    expect(d.conn.nextDeadline()).toBe(205);
  });

  test("no probe without SACK (§7.2): the RTO at 200 ms", () => {
    const { d } = inFlight(300);
    d.at(5);
    d.send({ seq: R, ack: L + 200, flags: TCP_ACK });
    d.expectNothingUntil(205);
    d.expectRecv([{ seq: L + 200, ack: R, flags: "P.", payload: segText(2) }]);
    expect(d.conn.stats()).toMatchObject({ tailLossProbes: 0, timeouts: 1 });
  });
});

describe("slow start with stretch ACKs (RFC 5681 §3.1; Linux's tcp_slow_start counts every segment)", () => {
  test("one ACK covering 6 segments grows cwnd by 6 segments, not by RFC 3465's L = 2", () => {
    const { d, sent } = inFlight(1000);
    expect(sent).toBe(10);
    expect(d.conn.stats().cwnd).toBe(1000);
    d.at(10);
    d.send({ seq: R, ack: L + 600, flags: TCP_ACK });
    expect(d.conn.stats().cwnd).toBe(1600);
  });

});

describe("bytesOut after an RTO counts the new bytes of a resent segment", () => {
  test("the head resent past SND.MAX: the new part is new data, SND.MAX follows, its ACK is accepted", () => {
    const d = Dialogue.established();
    d.conn.write(bytes("hello"));
    d.expectRecv([{ seq: L, ack: R, flags: "P.", payload: "hello" }]);
    d.conn.write(bytes("world")); // Nagle: waits for the ACK
    d.expectNothingUntil(200);
    d.expectRecv([{ seq: L, ack: R, flags: "P.", payload: "helloworld" }]);
    expect(d.conn.stats()).toMatchObject({ bytesOut: 10, retransmits: 1 });
    expect(d.conn.tcb().sndMax).toBe(L + 10);
    d.send({ seq: R, ack: L + 10, flags: TCP_ACK });
    expect(d.conn.writableLength).toBe(0);
    expect(d.conn.stats().badAcks).toBe(0);
  });
});

describe("FIN-WAIT-2 of an orphan (Linux's tcp_fin_timeout)", () => {
  test("close(): FIN-WAIT-2 lasts finWait2TimeoutMs, then CLOSED without a segment", () => {
    const d = Dialogue.established({ ...PLAIN, finWait2TimeoutMs: 5000 });
    d.conn.close(0);
    d.expectRecv([{ seq: L, ack: R, flags: "F." }]);
    d.at(10);
    d.send({ seq: R, ack: L + 1, flags: TCP_ACK });
    expect(d.conn.state).toBe("FIN-WAIT-2");
    expect(d.conn.nextDeadline()).toBe(5010);
    d.expectNothingUntil(5010);
    expect(d.conn.state).toBe("CLOSED");
    d.expectRecv([]);
  });

  test("default 60 s; shutdown() alone (the app still reads) waits in FIN-WAIT-2 for the FIN", () => {
    const orphan = Dialogue.established();
    orphan.conn.close(0);
    orphan.recv();
    orphan.send({ seq: R, ack: L + 1, flags: TCP_ACK });
    expect(orphan.conn.nextDeadline()).toBe(60_000);
    const half = Dialogue.established();
    half.conn.shutdown(0);
    half.recv();
    half.send({ seq: R, ack: L + 1, flags: TCP_ACK });
    expect(half.conn.nextDeadline()).toBeUndefined();
    half.send({ seq: R, ack: L + 1, flags: TCP_ACK | TCP_FIN });
    expect(half.conn.state).toBe("TIME-WAIT");
  });
});

describe("shutdown in SYN-SENT (RFC 9293 §3.10.4)", () => {
  test("data written before the handshake goes out, then the FIN", () => {
    const d = new Dialogue();
    d.conn.connect(0);
    d.recv();
    expect(d.conn.write(bytes("early"))).toBe(5);
    d.conn.shutdown(0);
    expect(d.conn.state).toBe("SYN-SENT");
    d.send({ seq: REMOTE_ISS, ack: L, flags: TCP_SYN | TCP_ACK, options: [{ kind: "mss", mss: 1460 }] });
    expect(d.conn.state).toBe("FIN-WAIT-1");
    d.expectRecv([{ seq: L, ack: R, flags: "FP.", payload: "early" }]);
    d.send({ seq: R, ack: L + 6, flags: TCP_ACK });
    expect(d.conn.state).toBe("FIN-WAIT-2");
  });
});

describe("tsOffset (RFC 7323 §5.4)", () => {
  test("given: the TSval clock uses it and draws nothing from the Random", () => {
    const random = seededRandom(3);
    const c = new TcpConnection({ local: LOCAL, remote: REMOTE, iss: LOCAL_ISS, config: {}, random, now: 7, tsOffset: 0xfffffff0 });
    c.connect(7);
    const out: { options: readonly TcpOption[] }[] = [];
    c.dispatch(7, (s) => out.push(s));
    const ts = out[0]!.options.find((o) => o.kind === "timestamps");
    expect(ts).toEqual({ kind: "timestamps", tsVal: (0xfffffff0 + 7) >>> 0, tsEcr: 0 });
    expect(random.nextU32()).toBe(seededRandom(3).nextU32());
  });

  test("absent: drawn from the Random (the first draw)", () => {
    const d = new Dialogue({ ...PLAIN, timestamps: true });
    d.conn.connect(0);
    const syn = d.recv()[0]!;
    expect(syn.options.find((o) => o.kind === "timestamps")).toEqual({ kind: "timestamps", tsVal: tsOffset(), tsEcr: 0 });
  });
});

describe("ICMP errors (RFC 1122 §4.2.3.9, RFC 5927, RFC 1191)", () => {
  test("port unreachable in SYN-SENT: ECONNREFUSED (as Linux)", () => {
    const d = new Dialogue();
    d.conn.connect(0);
    d.recv();
    d.conn.processIcmpError({ kind: "port-unreachable", quotedSeq: LOCAL_ISS }, 1);
    expect(d.conn.state).toBe("CLOSED");
    expect(d.events()).toEqual([{ kind: "error", code: "ECONNREFUSED", message: "connection refused (ICMP port-unreachable)" }, { kind: "closed" }]);
  });

  test("a quote of a sequence number not in flight is ignored (RFC 5927 §4.1)", () => {
    const d = new Dialogue();
    d.conn.connect(0);
    d.recv();
    d.conn.processIcmpError({ kind: "port-unreachable", quotedSeq: LOCAL_ISS + 1000 }, 1);
    expect(d.conn.state).toBe("SYN-SENT");
  });

  test("soft in ESTABLISHED: the connection stays, the timeout names the error", () => {
    const d = Dialogue.established({ ...PLAIN, maxRetransmits: 1 });
    d.conn.write(bytes("x"));
    d.recv();
    d.conn.processIcmpError({ kind: "host-unreachable", quotedSeq: L }, 1);
    d.conn.processIcmpError({ kind: "port-unreachable" }, 1);
    expect(d.conn.state).toBe("ESTABLISHED");
    d.events();
    d.at(200);
    d.recv();
    d.at(600);
    expect(d.conn.state).toBe("CLOSED");
    expect(d.events()[0]).toEqual({ kind: "error", code: "ETIMEDOUT", message: "no acknowledgment after 1 retransmissions (last ICMP error: port-unreachable)" });
  });

  test("fragmentation needed (RFC 1191 §6.3): the MSS falls to MTU − 40 and the data goes again in smaller segments", () => {
    const d = Dialogue.established({ ...PLAIN, noDelay: true, sendBufferSize: 65536 });
    d.conn.write(new Uint8Array(2000).fill(0x61));
    const first = d.recv();
    expect(first.map((s) => s.payload.length)).toEqual([1460, 540]);
    d.conn.processIcmpError({ kind: "packet-too-big", mtu: 1000, quotedSeq: L }, 1);
    expect(d.conn.stats().mss).toBe(960);
    const again = d.recv();
    expect(again.map((s) => [s.seq, s.payload.length])).toEqual([[L, 960], [L + 960, 960], [L + 1920, 80]]);
    // An MTU below the RFC 1191 §3 floor counts as 576; a larger one never raises the MSS.
    d.conn.processIcmpError({ kind: "packet-too-big", mtu: 100 }, 2);
    expect(d.conn.stats().mss).toBe(536);
    d.conn.processIcmpError({ kind: "packet-too-big", mtu: 1500 }, 3);
    expect(d.conn.stats().mss).toBe(536);
  });
});

describe("PAWS and reordered duplicate ACKs (RFC 7323 §5.3, Linux's tcp_disordered_ack)", () => {
  const TS_PEER = 1000;
  function withTimestamps(): Dialogue {
    const d = new Dialogue({ ...PLAIN, timestamps: true, sack: true, noDelay: true });
    d.conn.connect(0);
    d.recv();
    d.send({
      seq: REMOTE_ISS,
      ack: L,
      flags: TCP_SYN | TCP_ACK,
      options: [{ kind: "mss", mss: 112 }, { kind: "sack-permitted" }, { kind: "timestamps", tsVal: TS_PEER, tsEcr: tsOffset() }],
    });
    d.recv();
    return d;
  }
  const ts = (tsVal: number): TcpOption => ({ kind: "timestamps", tsVal, tsEcr: tsOffset() });

  test("a pure duplicate ACK with an older TSval that moves nothing is accepted (its SACK counts)", () => {
    const d = withTimestamps();
    d.conn.write(new Uint8Array(500).fill(0x62));
    expect(d.recv().length).toBe(5); // effective MSS 100 (112 − 12 for timestamps)
    d.at(5);
    d.send({ seq: R, ack: L, flags: TCP_ACK, options: [ts(TS_PEER + 10), ...sackOf([L + 100, L + 200])] });
    d.send({ seq: R, ack: L, flags: TCP_ACK, options: [ts(TS_PEER + 9), ...sackOf([L + 100, L + 300])] });
    expect(d.conn.stats()).toMatchObject({ pawsDrops: 0, disorderedAcks: 1, dupAcks: 2 });
    d.expectRecv([]); // no ACK in answer, unlike a PAWS drop
  });

  test("an old segment carrying data still fails PAWS (§5.3 R1)", () => {
    const d = withTimestamps();
    d.send({ seq: R, ack: L, flags: TCP_ACK, options: [ts(TS_PEER + 10)] });
    d.send({ seq: R, ack: L, flags: TCP_ACK, options: [ts(TS_PEER + 9)], payload: "old" });
    expect(d.conn.stats()).toMatchObject({ pawsDrops: 1, disorderedAcks: 0 });
  });
});
