/**
 * Dialogue tests for the closing states (RFC 9293 §3.6 Figures 12 and 13: FIN-WAIT-1/2, CLOSING,
 * CLOSE-WAIT, LAST-ACK, TIME-WAIT) and for the checks every synchronized state makes: RST rules
 * (RFC 9293 §3.10.7.4 second, RFC 5961 §3.2), SYN (RFC 5961 §4), ACK acceptability (RFC 5961 §5),
 * PAWS (RFC 7323 §5.3), abort (RFC 9293 §3.10.5).
 */
import { describe, expect, test } from "vitest";
import { TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN } from "../../../src/wire/tcp.ts";
import { bytes, Dialogue, LOCAL_ISS, PLAIN, REMOTE_ISS, tsOffset } from "./helpers.ts";

const L = LOCAL_ISS + 1;
const R = REMOTE_ISS + 1;
const TW = { ...PLAIN, timeWaitMs: 60_000 };

describe("active close: FIN-WAIT-1 → FIN-WAIT-2 → TIME-WAIT → CLOSED (Figure 12)", () => {
  test("FIN, its ACK, the peer's FIN, 2 MSL", () => {
    const d = Dialogue.established(TW);
    d.conn.shutdown(0);
    expect(d.conn.state).toBe("FIN-WAIT-1");
    d.expectRecv([{ seq: L, ack: R, flags: "F." }]);
    d.at(10);
    d.send({ seq: R, ack: L + 1, flags: TCP_ACK });
    expect(d.conn.state).toBe("FIN-WAIT-2");
    expect(d.conn.nextDeadline()).toBeUndefined();
    d.at(20);
    d.send({ seq: R, ack: L + 1, flags: TCP_ACK | TCP_FIN });
    expect(d.conn.state).toBe("TIME-WAIT");
    // The FIN took one sequence number of the window; the edge does not move by one byte (SWS).
    d.expectRecv([{ seq: L + 1, ack: R + 1, window: 4095 }]);
    expect(d.events()).toEqual([{ kind: "end" }]);
    d.expectNothingUntil(60_020);
    expect(d.conn.state).toBe("CLOSED");
    expect(d.events()).toEqual([{ kind: "closed" }]);
  });

  test("TIME-WAIT re-ACKs a retransmitted FIN and restarts the 2 MSL timer (§3.10.7.4 eighth)", () => {
    const d = Dialogue.established(TW);
    d.conn.shutdown(0);
    d.recv();
    d.send({ seq: R, ack: L + 1, flags: TCP_ACK | TCP_FIN });
    d.recv();
    expect(d.conn.state).toBe("TIME-WAIT");
    d.at(30_000);
    d.send({ seq: R, ack: L + 1, flags: TCP_ACK | TCP_FIN });
    d.expectRecv([{ seq: L + 1, ack: R + 1, window: 4095 }]);
    d.expectNothingUntil(60_000);
    expect(d.conn.state).toBe("TIME-WAIT");
    d.expectNothingUntil(90_000);
    expect(d.conn.state).toBe("CLOSED");
  });

  test("the FIN rides on the last data segment and is retransmitted with it", () => {
    const d = Dialogue.established(TW);
    d.conn.write(bytes("abc"));
    d.conn.shutdown(0);
    expect(d.conn.write(bytes("more"))).toBe(0);
    d.expectRecv([{ seq: L, ack: R, flags: "FP.", payload: "abc" }]);
    d.expectNothingUntil(200);
    d.expectRecv([{ seq: L, ack: R, flags: "FP.", payload: "abc" }]);
    d.send({ seq: R, ack: L + 3, flags: TCP_ACK });
    expect(d.conn.state).toBe("FIN-WAIT-1");
    d.send({ seq: R, ack: L + 4, flags: TCP_ACK });
    expect(d.conn.state).toBe("FIN-WAIT-2");
  });

  test("FIN-WAIT-2 still receives data", () => {
    const d = Dialogue.established(TW);
    d.conn.shutdown(0);
    d.recv();
    d.send({ seq: R, ack: L + 1, flags: TCP_ACK });
    d.send({ seq: R, ack: L + 1, flags: TCP_ACK, payload: "late" });
    expect(Buffer.from(d.conn.read()!).toString()).toBe("late");
  });
});

describe("simultaneous close: CLOSING (Figure 13)", () => {
  test("FIN crosses FIN: CLOSING, then the ACK of our FIN → TIME-WAIT", () => {
    const d = Dialogue.established(TW);
    d.conn.shutdown(0);
    d.expectRecv([{ seq: L, ack: R, flags: "F." }]);
    d.send({ seq: R, ack: L, flags: TCP_ACK | TCP_FIN });
    expect(d.conn.state).toBe("CLOSING");
    d.expectRecv([{ seq: L + 1, ack: R + 1, window: 4095 }]);
    d.send({ seq: R + 1, ack: L + 1, flags: TCP_ACK });
    expect(d.conn.state).toBe("TIME-WAIT");
  });

  test("FIN,ACK acknowledging our FIN goes straight to TIME-WAIT", () => {
    const d = Dialogue.established(TW);
    d.conn.shutdown(0);
    d.recv();
    d.send({ seq: R, ack: L + 1, flags: TCP_ACK | TCP_FIN });
    expect(d.conn.state).toBe("TIME-WAIT");
  });
});

describe("passive close: CLOSE-WAIT → LAST-ACK → CLOSED", () => {
  test("the peer's FIN is ACKed at once, 'end' after the data; our FIN; its ACK closes", () => {
    const d = Dialogue.established(TW);
    d.send({ seq: R, ack: L, flags: TCP_ACK | TCP_FIN, payload: "bye" });
    expect(d.conn.state).toBe("CLOSE-WAIT");
    d.expectRecv([{ seq: L, ack: R + 4, window: 4092 }]);
    expect(d.events()).toEqual([{ kind: "readable" }, { kind: "end" }]);
    d.conn.write(bytes("ok"));
    d.conn.shutdown(0);
    expect(d.conn.state).toBe("LAST-ACK");
    d.expectRecv([{ seq: L, ack: R + 4, flags: "FP.", payload: "ok", window: 4092 }]);
    d.send({ seq: R + 4, ack: L + 3, flags: TCP_ACK });
    expect(d.conn.state).toBe("CLOSED");
    expect(d.events()).toEqual([{ kind: "closed" }]);
  });

  test("a FIN after a hole waits for the hole (§3.10.7.4 eighth: only in sequence)", () => {
    const d = Dialogue.established(TW);
    d.send({ seq: R + 3, ack: L, flags: TCP_ACK | TCP_FIN, payload: "def" });
    expect(d.conn.state).toBe("ESTABLISHED");
    d.expectRecv([{ seq: L, ack: R }]);
    d.send({ seq: R, ack: L, flags: TCP_ACK, payload: "abc" });
    expect(d.conn.state).toBe("CLOSE-WAIT");
    d.expectRecv([{ seq: L, ack: R + 7, window: 4089 }]);
    expect(Buffer.from(d.conn.read()!).toString()).toBe("abcdef");
  });

  test("LAST-ACK retransmits the FIN on the RTO", () => {
    const d = Dialogue.established(TW);
    d.send({ seq: R, ack: L, flags: TCP_ACK | TCP_FIN });
    d.recv();
    d.conn.shutdown(0);
    d.expectRecv([{ seq: L, ack: R + 1, flags: "F.", window: 4095 }]);
    d.expectNothingUntil(200);
    d.expectRecv([{ seq: L, ack: R + 1, flags: "F.", window: 4095 }]);
  });
});

describe("RST, SYN and ACK checks in synchronized states (RFC 5961)", () => {
  test("RST with SEQ = RCV.NXT resets: ECONNRESET, CLOSED (RFC 5961 §3.2)", () => {
    const d = Dialogue.established();
    d.send({ seq: R, flags: TCP_RST });
    expect(d.conn.state).toBe("CLOSED");
    const ev = d.events();
    expect(ev[0]).toMatchObject({ kind: "error", code: "ECONNRESET" });
    expect(ev[1]).toEqual({ kind: "closed" });
    d.expectRecv([]);
  });

  test("in-window RST not exactly at RCV.NXT → challenge ACK, no reset (RFC 5961 §3.2)", () => {
    const d = Dialogue.established();
    d.send({ seq: R + 1, flags: TCP_RST });
    expect(d.conn.state).toBe("ESTABLISHED");
    d.expectRecv([{ seq: L, ack: R }]);
    expect(d.conn.stats().challengeAcks).toBe(1);
  });

  test("RST outside the window is dropped silently (§3.10.7.4 first)", () => {
    const d = Dialogue.established();
    d.send({ seq: R + 5000, flags: TCP_RST });
    d.send({ seq: R - 1, flags: TCP_RST });
    expect(d.conn.state).toBe("ESTABLISHED");
    d.expectRecv([]);
  });

  test("SYN in a synchronized state → challenge ACK, whatever its SEQ (RFC 5961 §4)", () => {
    const d = Dialogue.established();
    d.send({ seq: R + 100, flags: TCP_SYN });
    d.expectRecv([{ seq: L, ack: R }]);
    d.send({ seq: R + 100000, flags: TCP_SYN });
    d.expectRecv([{ seq: L, ack: R }]);
    expect(d.conn.state).toBe("ESTABLISHED");
  });

  test("ACK of data never sent → ACK and drop, data not taken (RFC 5961 §5.2)", () => {
    const d = Dialogue.established();
    d.send({ seq: R, ack: L + 100, flags: TCP_ACK, payload: "evil" });
    d.expectRecv([{ seq: L, ack: R }]);
    expect(d.conn.readableLength).toBe(0);
  });

  test("ACK older than SND.UNA − MAX.SND.WND → ACK and drop (RFC 5961 §5.2)", () => {
    const d = Dialogue.established();
    d.send({ seq: R, ack: L - 70_000, flags: TCP_ACK, payload: "evil" });
    d.expectRecv([{ seq: L, ack: R }]);
    expect(d.conn.readableLength).toBe(0);
    expect(d.conn.stats().badAcks).toBe(1);
  });

  test("PAWS: an old timestamp → ACK and drop (RFC 7323 §5.3 R1)", () => {
    const TS = { ...PLAIN, timestamps: true };
    const d = Dialogue.established(TS, [{ kind: "timestamps", tsVal: 1000, tsEcr: 0 }]);
    d.send({ seq: R, ack: L, flags: TCP_ACK, payload: "new", options: [{ kind: "timestamps", tsVal: 1001, tsEcr: 0 }] });
    d.send({ seq: R + 3, ack: L, flags: TCP_ACK, payload: "old", options: [{ kind: "timestamps", tsVal: 999, tsEcr: 0 }] });
    d.expectRecv([{ seq: L, ack: R + 3, window: 4093, options: [{ kind: "nop" }, { kind: "nop" }, { kind: "timestamps", tsVal: tsOffset(), tsEcr: 1001 }] }]);
    expect(Buffer.from(d.conn.read()!).toString()).toBe("new");
    expect(d.conn.stats().pawsDrops).toBe(1);
  });

  test("PAWS does not apply to RST (RFC 7323 §5.3)", () => {
    const d = Dialogue.established({ ...PLAIN, timestamps: true }, [{ kind: "timestamps", tsVal: 1000, tsEcr: 0 }]);
    d.send({ seq: R, flags: TCP_RST, options: [{ kind: "timestamps", tsVal: 5, tsEcr: 0 }] });
    expect(d.conn.state).toBe("CLOSED");
  });

  test("abort sends <SEQ=SND.NXT><CTL=RST,ACK> and closes (RFC 9293 §3.10.5)", () => {
    const d = Dialogue.established();
    d.conn.write(bytes("unsent?"));
    d.recv();
    d.conn.abort(0);
    expect(d.conn.state).toBe("CLOSED");
    d.expectRecv([{ seq: L + 7, ack: R, flags: "R.", window: 0 }]);
    expect(d.events()).toEqual([{ kind: "closed" }]);
  });

  test("sequence numbers wrap around 2^32 (RFC 9293 §3.4)", () => {
    const d = new Dialogue({ ...PLAIN, noDelay: true }, { iss: 0xfffffffe });
    d.conn.connect(0);
    d.recv();
    d.send({ seq: 0xfffffff0, ack: 0xffffffff, flags: TCP_SYN | TCP_ACK });
    d.recv();
    d.conn.write(bytes("wrap"));
    d.expectRecv([{ seq: 0xffffffff, ack: 0xfffffff1, flags: "P.", payload: "wrap" }]);
    d.send({ seq: 0xfffffff1, ack: 3, flags: TCP_ACK, payload: "x".repeat(20) });
    expect(d.conn.writableLength).toBe(0);
    expect(d.conn.tcb().rcvNxt).toBe(5);
  });
});
