/**
 * TCP segmentation offload in the connection (issue 7): with `tsoMaxBytes` new data leaves as one
 * super-segment of whole MSS-sized segments (`SegmentOut.segmentSize`) under the same limits as
 * segment-by-segment sending — cwnd (RFC 5681 §3.1), the peer's window (RFC 9293 §3.8.6.2.1) and
 * Nagle (RFC 896) — while retransmissions stay MSS-sized; and a received segment larger than our MSS
 * (what Linux GRO or a TSO peer's GRO'd path hands us) is accepted and ACKed at once.
 */
import { describe, expect, test } from "vitest";
import type { SegmentOut, TcpConfig } from "../../../src/transport/tcp/connection.ts";
import { TCP_ACK, TCP_FIN, TCP_PSH } from "../../../src/wire/tcp.ts";
import { Dialogue, LOCAL_ISS, PLAIN, REMOTE_ISS } from "./helpers.ts";

const L = LOCAL_ISS + 1;
const R = REMOTE_ISS + 1;
const TSO: TcpConfig = { ...PLAIN, tsoMaxBytes: 65535 };
const MSS100 = [{ kind: "mss", mss: 100 } as const];

/** Every segment the connection sends now, raw (segmentSize kept). */
function raw(d: Dialogue): SegmentOut[] {
  const got: SegmentOut[] = [];
  d.conn.dispatch(d.now, (s) => got.push(s));
  return got;
}

const shape = (s: SegmentOut): [number, number, number | undefined, number] => [s.seq, s.payload.length, s.segmentSize, s.flags];

describe("TSO: super-segments of new data (RFC 5681 §3.1, RFC 9293 §3.8.6.2.1, RFC 896)", () => {
  test("off by default: the same write goes out MSS by MSS", () => {
    const d = Dialogue.established(PLAIN, MSS100);
    d.conn.write(new Uint8Array(5000));
    const segs = raw(d);
    expect(segs.length).toBeGreaterThan(1);
    expect(segs.every((s) => s.payload.length === 100 && s.segmentSize === undefined)).toBe(true);
  });

  test("RFC 5681 §3.1: one super-segment of exactly cwnd bytes, cut at the MSS", () => {
    const d = Dialogue.established(TSO, MSS100);
    const cwnd = d.conn.stats().cwnd;
    const plain = Dialogue.established(PLAIN, MSS100);
    plain.conn.write(new Uint8Array(5000));
    const plainBytes = raw(plain).reduce((n, s) => n + s.payload.length, 0);
    d.conn.write(new Uint8Array(5000));
    const segs = raw(d);
    expect(segs.map(shape)).toEqual([[L, cwnd, 100, TCP_ACK]]);
    // The same bytes as segment-by-segment sending would put in flight.
    expect(plainBytes).toBe(cwnd);
    // Counted as the segments the device puts on the wire.
    expect(d.conn.stats().segmentsOut - plain.conn.stats().segmentsOut).toBe(0);
  });

  test("RFC 9293 §3.8.6.2.1: the peer's window limits it to whole segments; the rest waits (SWS)", () => {
    const d = Dialogue.established(TSO, MSS100, 450);
    d.conn.write(new Uint8Array(5000));
    expect(raw(d).map(shape)).toEqual([[L, 400, 100, TCP_ACK]]);
    d.send({ seq: R, ack: L + 400, flags: TCP_ACK, window: 450 });
    expect(raw(d).map(shape)).toEqual([[L + 400, 400, 100, TCP_ACK]]);
  });

  test("tsoMaxBytes caps one super-segment; the next one follows at once", () => {
    const d = Dialogue.established({ ...TSO, tsoMaxBytes: 350 }, MSS100);
    d.conn.write(new Uint8Array(5000));
    const segs = raw(d);
    expect(segs[0] && shape(segs[0])).toEqual([L, 300, 100, TCP_ACK]);
    expect(segs[1] && shape(segs[1])).toEqual([L + 300, 300, 100, TCP_ACK]);
  });

  test("RFC 896: the short tail is held back while the whole segments are in flight", () => {
    const d = Dialogue.established(TSO, MSS100);
    d.conn.write(new Uint8Array(250));
    expect(raw(d).map(shape)).toEqual([[L, 200, 100, TCP_ACK]]);
    d.send({ seq: R, ack: L + 200, flags: TCP_ACK });
    expect(raw(d).map(shape)).toEqual([[L + 200, 50, undefined, TCP_ACK | TCP_PSH]]);
  });

  test("Nagle off: the tail rides in the super-segment, PSH on it (the device puts PSH on the last)", () => {
    const d = Dialogue.established({ ...TSO, noDelay: true }, MSS100);
    d.conn.write(new Uint8Array(250));
    expect(raw(d).map(shape)).toEqual([[L, 250, 100, TCP_ACK | TCP_PSH]]);
  });

  test("a FIN after the data rides on the super-segment with its tail", () => {
    const d = Dialogue.established(TSO, MSS100);
    d.conn.write(new Uint8Array(250));
    d.conn.shutdown(d.now);
    expect(raw(d).map(shape)).toEqual([[L, 250, 100, TCP_ACK | TCP_PSH | TCP_FIN]]);
  });

  test("RFC 6298 §5.4: the retransmission after a timeout is one MSS-sized segment", () => {
    const d = Dialogue.established(TSO, MSS100);
    d.conn.write(new Uint8Array(500));
    expect(raw(d).map(shape)).toEqual([[L, 500, 100, TCP_ACK | TCP_PSH]]);
    d.at(d.conn.nextDeadline() as number);
    expect(raw(d).map(shape)).toEqual([[L, 100, undefined, TCP_ACK]]);
  });
});

describe("receiving a segment larger than our MSS (Linux GRO; RFC 9293 §3.10.7.4: the window is the limit)", () => {
  test("a 5000-byte segment with MSS 1460 is accepted whole and ACKed at once", () => {
    const d = Dialogue.established({ ...PLAIN, recvBufferSize: 65536 });
    d.send({ seq: R, ack: L, flags: TCP_ACK, payload: new Uint8Array(5000).fill(0x61) });
    const segs = raw(d);
    expect(segs.map((s) => [s.seq, s.ack, s.flags, s.payload.length])).toEqual([[L, R + 5000, TCP_ACK, 0]]);
    expect(d.conn.read()?.length).toBe(5000);
  });

  test("beyond the window only the part inside it is taken (the window, not the MSS, limits)", () => {
    const d = Dialogue.established({ ...PLAIN, recvBufferSize: 4096 });
    d.send({ seq: R, ack: L, flags: TCP_ACK, payload: new Uint8Array(5000).fill(0x62) });
    const segs = raw(d);
    expect(segs.map((s) => [s.seq, s.ack])).toEqual([[L, R + 4096]]);
  });
});
