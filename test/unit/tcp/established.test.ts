/**
 * Dialogue tests in ESTABLISHED: data both ways, Nagle (RFC 896), delayed ACK (RFC 1122 §4.2.3.2,
 * RFC 9293 §3.8.6.3), out-of-order data and SACK blocks (RFC 5681 §4.2, RFC 2018 §4), fast
 * retransmit and NewReno (RFC 5681 §3.2, RFC 6582), SACK recovery (RFC 6675), the retransmission
 * timer (RFC 6298), zero windows, persist and SWS (RFC 9293 §3.8.6), keepalive (RFC 1122 §4.2.3.6).
 * After the handshake (at t = 0, so the SYN's RTT sample is 0 ms) the RTO is the 200 ms floor.
 */
import { describe, expect, test } from "vitest";
import { TCP_ACK, TCP_PSH, type TcpOption } from "../../../src/wire/tcp.ts";
import { bytes, Dialogue, LOCAL_ISS, PLAIN, REMOTE_ISS, tsOffset } from "./helpers.ts";

const L = LOCAL_ISS + 1; // our first data byte
const R = REMOTE_ISS + 1; // the peer's first data byte

function text(u: Uint8Array | undefined): string {
  return u === undefined ? "" : Buffer.from(u).toString("latin1");
}

describe("ESTABLISHED: sending (RFC 9293 §3.10.2, RFC 896)", () => {
  test("write → one PSH segment; the ACK frees the buffer and stops the timer", () => {
    const d = Dialogue.established();
    expect(d.conn.write(bytes("hello"))).toBe(5);
    d.expectRecv([{ seq: L, ack: R, flags: "P.", payload: "hello" }]);
    expect(d.conn.nextDeadline()).toBe(200);
    d.send({ seq: R, ack: L + 5, flags: TCP_ACK });
    expect(d.conn.writableLength).toBe(0);
    expect(d.conn.nextDeadline()).toBeUndefined();
    d.expectRecv([]);
  });

  test("Nagle holds a small segment while data is unacknowledged (RFC 896)", () => {
    const d = Dialogue.established();
    d.conn.write(bytes("hello"));
    d.recv();
    d.conn.write(bytes("world"));
    d.expectRecv([]);
    d.at(10);
    d.send({ seq: R, ack: L + 5, flags: TCP_ACK });
    d.expectRecv([{ seq: L + 5, ack: R, flags: "P.", payload: "world" }]);
  });

  test("setNoDelay(true) sends small segments at once", () => {
    const d = Dialogue.established();
    d.conn.setNoDelay(true);
    d.conn.write(bytes("hello"));
    d.recv();
    d.conn.write(bytes("world"));
    d.expectRecv([{ seq: L + 5, ack: R, flags: "P.", payload: "world" }]);
  });

  test("full-sized segments go out regardless of Nagle; the tail waits", () => {
    const d = Dialogue.established(PLAIN, [{ kind: "mss", mss: 100 }]);
    d.conn.write(new Uint8Array(250).fill(0x61));
    const a = "a".repeat(100);
    d.expectRecv([
      { seq: L, ack: R, payload: a },
      { seq: L + 100, ack: R, payload: a },
    ]);
    d.send({ seq: R, ack: L + 200, flags: TCP_ACK });
    d.expectRecv([{ seq: L + 200, ack: R, flags: "P.", payload: "a".repeat(50) }]);
  });

  test("the congestion window limits the first flight to 10 segments (RFC 6928)", () => {
    const d = Dialogue.established({ ...PLAIN, noDelay: true }, [{ kind: "mss", mss: 100 }]);
    d.conn.write(new Uint8Array(2000));
    expect(d.recv().length).toBe(10);
  });

  test("the peer's window limits what is sent (RFC 9293 §3.8.6)", () => {
    const d = Dialogue.established({ ...PLAIN, noDelay: true }, [{ kind: "mss", mss: 100 }], 250);
    d.conn.write(new Uint8Array(1000));
    // 2 full segments, then 50 bytes: less than an MSS and less than half the window → SWS holds it.
    expect(d.recv().map((s) => s.payload.length)).toEqual([100, 100]);
  });

  test("the write after a full buffer reports 0, then a 'writable' event once ACKed", () => {
    const d = Dialogue.established({ ...PLAIN, sendBufferSize: 10 });
    expect(d.conn.write(bytes("0123456789abc"))).toBe(10);
    expect(d.conn.write(bytes("x"))).toBe(0);
    d.recv();
    d.send({ seq: R, ack: L + 10, flags: TCP_ACK });
    expect(d.events()).toEqual([{ kind: "writable" }]);
  });
});

describe("ESTABLISHED: receiving, delayed ACK (RFC 1122 §4.2.3.2, RFC 9293 §3.8.6.3)", () => {
  test("data is ACKed after the 40 ms delayed-ACK timeout, not before", () => {
    const d = Dialogue.established();
    d.send({ seq: R, ack: L, flags: TCP_ACK | TCP_PSH, payload: "abc" });
    expect(d.events()).toEqual([{ kind: "readable" }]);
    d.expectNothingUntil(40);
    d.expectRecv([{ seq: L, ack: R + 3, window: 4096 - 3 }]);
    expect(text(d.conn.read())).toBe("abc");
  });

  test("the second full-sized segment is ACKed at once", () => {
    const d = Dialogue.established();
    const seg = "x".repeat(1460);
    d.send({ seq: R, ack: L, flags: TCP_ACK, payload: seg });
    d.expectRecv([]);
    d.send({ seq: R + 1460, ack: L, flags: TCP_ACK, payload: seg });
    d.expectRecv([{ seq: L, ack: R + 2920, window: 4096 - 2920 }]);
    expect(d.conn.nextDeadline()).toBeUndefined();
  });

  test("data to send carries the pending ACK (no separate ACK)", () => {
    const d = Dialogue.established();
    d.send({ seq: R, ack: L, flags: TCP_ACK, payload: "ping" });
    d.conn.write(bytes("pong"));
    d.expectRecv([{ seq: L, ack: R + 4, flags: "P.", payload: "pong", window: 4092 }]);
    d.expectNothingUntil(200);
  });

  test("a duplicate segment is ACKed at once (RFC 9293 §3.10.7.4 first)", () => {
    const d = Dialogue.established();
    d.send({ seq: R, ack: L, flags: TCP_ACK, payload: "abc" });
    d.at(40);
    d.recv();
    d.send({ seq: R, ack: L, flags: TCP_ACK, payload: "abc" });
    d.expectRecv([{ seq: L, ack: R + 3, window: 4093 }]);
  });

  test("receiver SWS: the window stays shut until min(buffer/2, MSS) is free (§3.8.6.2.2)", () => {
    const d = Dialogue.established();
    d.send({ seq: R, ack: L, flags: TCP_ACK, payload: "x".repeat(1460) });
    d.send({ seq: R + 1460, ack: L, flags: TCP_ACK, payload: "x".repeat(1460) });
    d.send({ seq: R + 2920, ack: L, flags: TCP_ACK, payload: "x".repeat(1176) });
    d.at(40);
    d.expectRecv([{ seq: L, ack: R + 4096, window: 0 }]);
    // Data beyond a zero window is dropped and ACKed; the ACK field is still processed.
    d.send({ seq: R + 4096, ack: L, flags: TCP_ACK, payload: "y" });
    d.expectRecv([{ seq: L, ack: R + 4096, window: 0 }]);
    expect(d.conn.read(100)?.length).toBe(100);
    d.expectRecv([]); // 100 bytes free: below the threshold, no update
    expect(d.conn.read(2000)?.length).toBe(2000);
    d.expectRecv([{ seq: L, ack: R + 4096, window: 2100 }]);
  });
});

describe("ESTABLISHED: out-of-order data and SACK (RFC 5681 §4.2, RFC 2018 §4)", () => {
  const SACK = { ...PLAIN, sack: true };
  const sackOpts = (blocks: { left: number; right: number }[]): TcpOption[] => [{ kind: "nop" }, { kind: "nop" }, { kind: "sack", blocks }];

  test("out-of-order → immediate duplicate ACK with the block; filling the hole → immediate ACK", () => {
    const d = Dialogue.established(SACK, [{ kind: "sack-permitted" }]);
    d.send({ seq: R + 100, ack: L, flags: TCP_ACK, payload: "b".repeat(100) });
    d.expectRecv([{ seq: L, ack: R, options: sackOpts([{ left: R + 100, right: R + 200 }]) }]);
    expect(d.events()).toEqual([]);
    d.send({ seq: R, ack: L, flags: TCP_ACK, payload: "a".repeat(100) });
    d.expectRecv([{ seq: L, ack: R + 200, window: 4096 - 200 }]);
    expect(text(d.conn.read())).toBe("a".repeat(100) + "b".repeat(100));
  });

  test("the block holding the latest segment comes first, then the most recent others (RFC 2018 §4)", () => {
    const d = Dialogue.established(SACK, [{ kind: "sack-permitted" }]);
    d.send({ seq: R + 100, ack: L, flags: TCP_ACK, payload: "x".repeat(100) });
    d.recv();
    d.send({ seq: R + 300, ack: L, flags: TCP_ACK, payload: "x".repeat(100) });
    d.expectRecv([{ seq: L, ack: R, options: sackOpts([{ left: R + 300, right: R + 400 }, { left: R + 100, right: R + 200 }]) }]);
    d.send({ seq: R + 500, ack: L, flags: TCP_ACK, payload: "x".repeat(100) });
    d.expectRecv([
      { seq: L, ack: R, options: sackOpts([{ left: R + 500, right: R + 600 }, { left: R + 300, right: R + 400 }, { left: R + 100, right: R + 200 }]) },
    ]);
    // A segment joining two blocks reports the merged block first.
    d.send({ seq: R + 200, ack: L, flags: TCP_ACK, payload: "x".repeat(100) });
    d.expectRecv([{ seq: L, ack: R, options: sackOpts([{ left: R + 100, right: R + 400 }, { left: R + 500, right: R + 600 }]) }]);
  });

  test("without SACK the duplicate ACK carries no option", () => {
    const d = Dialogue.established();
    d.send({ seq: R + 100, ack: L, flags: TCP_ACK, payload: "x".repeat(100) });
    d.expectRecv([{ seq: L, ack: R }]);
  });

  test("at most 3 blocks beside timestamps", () => {
    const d = Dialogue.established({ ...SACK, timestamps: true }, [{ kind: "sack-permitted" }, { kind: "timestamps", tsVal: 1, tsEcr: 0 }]);
    for (let i = 1; i <= 4; i++) d.send({ seq: R + 200 * i, ack: L, flags: TCP_ACK, payload: "x".repeat(100), options: [{ kind: "timestamps", tsVal: 1, tsEcr: 0 }] });
    const segs = d.recv();
    const last = segs[segs.length - 1]!;
    const sack = last.options.find((o) => o.kind === "sack");
    expect(sack).toEqual({ kind: "sack", blocks: [{ left: R + 800, right: R + 900 }, { left: R + 600, right: R + 700 }, { left: R + 400, right: R + 500 }] });
    expect(last.options[2]).toEqual({ kind: "timestamps", tsVal: tsOffset(), tsEcr: 1 });
  });
});

describe("ESTABLISHED: loss recovery", () => {
  /** 10 segments of 100 bytes in flight, SND.UNA = L. */
  function tenInFlight(config = PLAIN, opts: TcpOption[] = []): Dialogue {
    const d = Dialogue.established({ ...config, noDelay: true }, [{ kind: "mss", mss: 100 }, ...opts]);
    const data = new Uint8Array(1000);
    for (let i = 0; i < 1000; i++) data[i] = 0x30 + Math.floor(i / 100);
    d.conn.write(data);
    expect(d.recv().length).toBe(10);
    return d;
  }
  const segText = (i: number) => String.fromCharCode(0x30 + i).repeat(100);

  test("fast retransmit on the third duplicate ACK (RFC 5681 §3.2), NewReno partial ACK (RFC 6582 §3.2)", () => {
    const d = tenInFlight();
    d.at(10);
    d.send({ seq: R, ack: L, flags: TCP_ACK });
    d.send({ seq: R, ack: L, flags: TCP_ACK });
    d.expectRecv([]);
    d.send({ seq: R, ack: L, flags: TCP_ACK });
    d.expectRecv([{ seq: L, ack: R, payload: segText(0) }]);
    expect(d.conn.stats()).toMatchObject({ fastRetransmits: 1, ssthresh: 500, cwnd: 500 });
    // Partial ACK: segments 0–2 arrived, 3 was lost too: it is retransmitted at once.
    d.send({ seq: R, ack: L + 300, flags: TCP_ACK });
    d.expectRecv([{ seq: L + 300, ack: R, payload: segText(3) }]);
    // Full ACK ends recovery (RFC 6582 §3.2 step 5, option 1): cwnd = min(ssthresh, max(FlightSize, SMSS) + SMSS).
    d.send({ seq: R, ack: L + 1000, flags: TCP_ACK });
    expect(d.conn.stats()).toMatchObject({ cwnd: 200, ssthresh: 500, retransmits: 2 });
    expect(d.conn.nextDeadline()).toBeUndefined();
  });

  test("each further duplicate ACK inflates the window by one SMSS (RFC 5681 §3.2 step 4)", () => {
    const d = tenInFlight();
    d.conn.write(new Uint8Array(500).fill(0x78));
    for (let i = 0; i < 3; i++) d.send({ seq: R, ack: L, flags: TCP_ACK });
    d.recv();
    // cwnd 500 + 3*100 inflation = 800 < 1000 in flight; three more dupacks make 1100: one new segment.
    d.send({ seq: R, ack: L, flags: TCP_ACK });
    d.send({ seq: R, ack: L, flags: TCP_ACK });
    d.expectRecv([]);
    d.send({ seq: R, ack: L, flags: TCP_ACK });
    d.expectRecv([{ seq: L + 1000, ack: R, payload: "x".repeat(100) }]);
  });

  test("SACK recovery: IsLost on SACKed data retransmits the hole (RFC 6675 §5)", () => {
    const d = tenInFlight({ ...PLAIN, sack: true }, [{ kind: "sack-permitted" }]);
    const sack = (right: number): TcpOption[] => [{ kind: "sack", blocks: [{ left: L + 100, right }] }];
    d.send({ seq: R, ack: L, flags: TCP_ACK, options: sack(L + 200) });
    d.send({ seq: R, ack: L, flags: TCP_ACK, options: sack(L + 300) });
    d.expectRecv([]);
    d.send({ seq: R, ack: L, flags: TCP_ACK, options: sack(L + 400) });
    d.expectRecv([{ seq: L, ack: R, payload: segText(0) }]);
    expect(d.conn.stats().sackedBytes).toBe(300);
    // Segment 4 lost too: more SACKs above it; once pipe < cwnd the hole at L+400 goes out.
    d.send({ seq: R, ack: L, flags: TCP_ACK, options: [{ kind: "sack", blocks: [{ left: L + 100, right: L + 400 }, { left: L + 500, right: L + 800 }] }] });
    d.expectRecv([{ seq: L + 400, ack: R, payload: segText(4) }]);
    d.send({ seq: R, ack: L + 1000, flags: TCP_ACK });
    expect(d.conn.stats()).toMatchObject({ fastRetransmits: 1, retransmits: 2, cwnd: 200, sackedBytes: 600 });
  });

  test("RTO: retransmit at 200 ms, back off 400, 800 (RFC 6298 §5.4–5.6); Karn: no sample from it", () => {
    const d = Dialogue.established();
    d.conn.write(bytes("hello"));
    const seg = { seq: L, ack: R, flags: "P.", payload: "hello" };
    d.expectRecv([seg]);
    d.expectNothingUntil(200);
    d.expectRecv([seg]);
    expect(d.conn.stats()).toMatchObject({ timeouts: 1, rto: 400, cwnd: 1460, ssthresh: 2920 });
    d.expectNothingUntil(600);
    d.expectRecv([seg]);
    d.expectNothingUntil(1400);
    d.expectRecv([seg]);
    d.at(1450);
    d.send({ seq: R, ack: L + 5, flags: TCP_ACK });
    // Karn (RFC 6298 §3): the ACK of a retransmitted segment gives no sample; the backoff stays.
    expect(d.conn.stats()).toMatchObject({ rto: 1600, srtt: 0 });
    d.conn.write(bytes("again"));
    d.expectRecv([{ seq: L + 5, ack: R, flags: "P.", payload: "again" }]);
    d.at(1500);
    d.send({ seq: R, ack: L + 10, flags: TCP_ACK });
    // A clean sample (50 ms) ends the backoff (RFC 6298 §5.7).
    expect(d.conn.stats().rto).toBe(200);
    expect(d.conn.stats().srtt).toBe(6.25);
  });

  test("after an RTO, go-back-N under the loss window (RFC 5681 §3.1)", () => {
    const d = tenInFlight();
    d.expectNothingUntil(200);
    d.expectRecv([{ seq: L, ack: R, payload: segText(0) }]);
    d.send({ seq: R, ack: L + 100, flags: TCP_ACK });
    // cwnd 100 → 200 after the ACK: segments 1 and 2 again.
    d.expectRecv([
      { seq: L + 100, ack: R, payload: segText(1) },
      { seq: L + 200, ack: R, payload: segText(2) },
    ]);
    // The receiver had everything: the cumulative ACK jumps and nothing more is resent.
    d.send({ seq: R, ack: L + 1000, flags: TCP_ACK });
    d.expectRecv([]);
    expect(d.conn.nextDeadline()).toBeUndefined();
  });

  test("ETIMEDOUT after maxRetransmits timeouts (RFC 9293 §3.8.3 R2)", () => {
    const d = Dialogue.established({ ...PLAIN, maxRetransmits: 2 });
    d.conn.write(bytes("x"));
    d.recv();
    d.expectNothingUntil(200);
    d.recv();
    d.expectNothingUntil(600);
    d.recv();
    d.expectNothingUntil(1400);
    expect(d.conn.state).toBe("CLOSED");
    expect(d.events()[0]).toMatchObject({ kind: "error", code: "ETIMEDOUT" });
  });
});

describe("ESTABLISHED: zero window, persist, SWS (RFC 9293 §3.8.6)", () => {
  test("zero window: probes on the persist timer with backoff; data when it opens", () => {
    const d = Dialogue.established();
    d.send({ seq: R, ack: L, flags: TCP_ACK, window: 0 });
    d.conn.write(bytes("hello"));
    d.expectRecv([]);
    d.expectNothingUntil(200);
    // Linux's probe: SEQ = SND.UNA − 1, no data; it draws an ACK with the current window.
    d.expectRecv([{ seq: L - 1, ack: R }]);
    d.expectNothingUntil(600);
    d.expectRecv([{ seq: L - 1, ack: R }]);
    d.send({ seq: R, ack: L, flags: TCP_ACK, window: 0 });
    d.expectNothingUntil(1400);
    d.expectRecv([{ seq: L - 1, ack: R }]);
    expect(d.conn.stats().zeroWindowProbes).toBe(3);
    d.at(1410);
    d.send({ seq: R, ack: L, flags: TCP_ACK, window: 1000 });
    d.expectRecv([{ seq: L, ack: R, flags: "P.", payload: "hello" }]);
  });

  test("sender SWS: a window below MSS and below half the largest window waits for the persist override", () => {
    const d = Dialogue.established();
    d.send({ seq: R, ack: L, flags: TCP_ACK, window: 3 });
    d.conn.write(bytes("abcdefghij"));
    d.expectRecv([]);
    d.expectNothingUntil(200);
    d.expectRecv([{ seq: L, ack: R, payload: "abc" }]);
  });
});

describe("ESTABLISHED: keepalive (RFC 1122 §4.2.3.6)", () => {
  const KA = { ...PLAIN, keepalive: { idleMs: 1000, intervalMs: 100, count: 2 } };

  test("probe after idleMs, answered probes restart the idle period", () => {
    const d = Dialogue.established(KA);
    d.expectNothingUntil(1000);
    d.expectRecv([{ seq: L - 1, ack: R }]);
    d.at(1005);
    d.send({ seq: R, ack: L, flags: TCP_ACK });
    d.expectNothingUntil(2005);
    d.expectRecv([{ seq: L - 1, ack: R }]);
    expect(d.conn.stats().keepaliveProbes).toBe(2);
  });

  test("count unanswered probes → ETIMEDOUT", () => {
    const d = Dialogue.established(KA);
    d.expectNothingUntil(1000);
    d.expectRecv([{ seq: L - 1, ack: R }]);
    d.expectNothingUntil(1100);
    d.expectRecv([{ seq: L - 1, ack: R }]);
    d.expectNothingUntil(1200);
    expect(d.conn.state).toBe("CLOSED");
    expect(d.events()[0]).toMatchObject({ kind: "error", code: "ETIMEDOUT" });
  });

  test("off unless asked; setKeepAlive turns it on", () => {
    const d = Dialogue.established();
    expect(d.conn.nextDeadline()).toBeUndefined();
    d.conn.setKeepAlive(true, 5000, 0);
    expect(d.conn.nextDeadline()).toBe(5000);
    d.conn.setKeepAlive(false);
    expect(d.conn.nextDeadline()).toBeUndefined();
  });
});
