/**
 * Dialogue tests for the Eifel response (RFC 4015 §3; Linux's tcp_undo_cwnd_reduction): a fast
 * retransmission or RTO that the timestamp echo (RFC 3522 §3.2) or a D-SACK (RFC 3708 §3) proves
 * spurious has its window reduction undone, once, unless a real loss happened in the same episode.
 *
 * As in recovery.test.ts: segments carry 100 bytes (MSS 112 minus 12 bytes of timestamps), the
 * handshake happens at t = 0 (RTO at its 200 ms floor), ten segments fill the initial window.
 */
import { describe, expect, test } from "vitest";
import type { CongestionAlgorithm } from "../../../src/transport/tcp/congestion.ts";
import type { TcpConfig, TcpTraceSample } from "../../../src/transport/tcp/connection.ts";
import { TCP_ACK, type TcpOption } from "../../../src/wire/tcp.ts";
import { Dialogue, LOCAL_ISS, PLAIN, REMOTE_ISS, type Out } from "./helpers.ts";

const L = LOCAL_ISS + 1;
const R = REMOTE_ISS + 1;
const TS = (val: number, ecr: number): TcpOption => ({ kind: "timestamps", tsVal: val, tsEcr: ecr });
const tsOf = (s: Out): number => (s.options.find((o) => o.kind === "timestamps") as { tsVal: number }).tsVal;
const sackOf = (...blocks: [number, number][]): TcpOption[] => [{ kind: "sack", blocks: blocks.map(([left, right]) => ({ left, right })) }];

/** ESTABLISHED with timestamps, 1000 bytes written and sent at t = 0; a cwnd trace is recorded. */
function flight(congestion: CongestionAlgorithm, sack = false): { d: Dialogue; first: Out[]; trace: TcpTraceSample[] } {
  const config: TcpConfig = { ...PLAIN, noDelay: true, timestamps: true, sack, congestion };
  const d = Dialogue.established(config, [{ kind: "mss", mss: 112 }, ...(sack ? [{ kind: "sack-permitted" } as const] : []), TS(1, 0)]);
  const trace: TcpTraceSample[] = [];
  d.conn.onTrace = (s) => trace.push(s);
  d.conn.write(new Uint8Array(1000).fill(0x30));
  const first = d.recv();
  expect(first.length).toBe(10);
  return { d, first, trace };
}

/** Segments 1–3 arrived, 0 was overtaken: three duplicate ACKs at t = 50 bring its fast retransmission. */
function fastRetransmit(d: Dialogue, first: Out[], sack: boolean): Out {
  d.at(50);
  for (let k = 2; k <= 4; k++) d.send({ seq: R, ack: L, flags: TCP_ACK, options: [TS(1 + k, tsOf(first[0]!)), ...(sack ? sackOf([L + 100, L + k * 100]) : [])] });
  const out = d.recv();
  expect(out.map((s) => s.seq)).toEqual([L]);
  expect(d.conn.stats().fastRetransmits).toBe(1);
  return out[0]!;
}

describe("Eifel response to a spurious fast retransmit (RFC 4015 §3, RFC 3522 §3.2)", () => {
  for (const congestion of ["cubic", "newreno"] as const) {
    for (const sack of [false, true]) {
      const how = `${congestion}${sack ? ", SACK" : ""}`;

      test(`${how}: the late original's ACK echoes the older timestamp: cwnd and ssthresh return to their values before`, () => {
        const { d, first, trace } = flight(congestion, sack);
        const before = d.conn.stats();
        expect(before).toMatchObject({ cwnd: 1000, ssthresh: Infinity });
        const rxt = fastRetransmit(d, first, sack);
        expect(tsOf(rxt)).toBeGreaterThan(tsOf(first[0]!));
        expect(d.conn.stats().cwnd).toBeLessThan(1000);
        // The overtaken original arrives: the ACK echoes ITS timestamp, older than the retransmission's.
        d.at(60);
        trace.length = 0;
        d.send({ seq: R, ack: L + 400, flags: TCP_ACK, options: [TS(6, tsOf(first[0]!))] });
        expect(d.conn.stats()).toMatchObject({ spuriousRetransmits: 1, undos: 1 });
        // The undo's own trace point: exactly the window before the event.
        expect(trace[0]).toMatchObject({ t: 60, cwnd: 1000, ssthresh: Infinity });
        // Recovery is over: the ACK then grows the restored window (slow start, ssthresh Infinity).
        expect(d.conn.stats().cwnd).toBeGreaterThanOrEqual(1000);
        expect(d.conn.stats().ssthresh).toBe(Infinity);
        // Only once: the rest of the flight's ACK changes nothing more.
        d.send({ seq: R, ack: L + 1000, flags: TCP_ACK, options: [TS(7, tsOf(first[9]!))] });
        expect(d.conn.stats()).toMatchObject({ spuriousRetransmits: 1, undos: 1 });
      });

      test(`${how}: the ACK echoes the retransmission's timestamp (a real loss): no undo, cwnd stays reduced`, () => {
        const { d, first } = flight(congestion, sack);
        const rxt = fastRetransmit(d, first, sack);
        const reduced = d.conn.stats().cwnd;
        d.at(60);
        d.send({ seq: R, ack: L + 1000, flags: TCP_ACK, options: [TS(6, tsOf(rxt))] });
        expect(d.conn.stats()).toMatchObject({ spuriousRetransmits: 0, undos: 0 });
        expect(d.conn.stats().cwnd).toBeLessThanOrEqual(reduced);
        expect(d.conn.stats().ssthresh).toBeLessThan(1000);
      });
    }
  }

  test("a timeout after the fast retransmit: only the timeout's reduction is undone, never the first", () => {
    const { d, first } = flight("cubic");
    fastRetransmit(d, first, false);
    const reduced = d.conn.stats().cwnd;
    // The retransmission's ACK does not come; the RTO resends the head (another episode, a repeat
    // of the same segment) and the original's ACK arrives only then.
    d.expectNothingUntil(d.conn.nextDeadline()!);
    expect(d.recv()[0]).toMatchObject({ seq: L });
    expect(d.conn.stats().timeouts).toBe(1);
    d.send({ seq: R, ack: L + 1000, flags: TCP_ACK, options: [TS(9, tsOf(first[0]!))] });
    // The RTO's episode is judged spurious and its reduction undone: back to the fast recovery
    // window, not to the 10 segments before the first reduction (that episode had two
    // retransmissions of the head, so it is not known to be spurious as a whole).
    expect(d.conn.stats()).toMatchObject({ spuriousRetransmits: 1, undos: 1 });
    expect(d.conn.stats().cwnd).toBeLessThan(1000);
    expect(d.conn.stats().cwnd).toBeGreaterThanOrEqual(reduced);
  });
});

describe("a real loss in the same episode: no undo (Linux's undo_retrans)", () => {
  test("SACK recovery also repairs segment 5: the head's spurious verdict does not restore cwnd", () => {
    const { d, first } = flight("cubic", true);
    d.at(50);
    // Segments 1–4 and 6–9 arrived; 0 was overtaken and 5 is lost.
    const sacks: [number, number][][] = [[[L + 100, L + 300]], [[L + 100, L + 500]], [[L + 600, L + 800], [L + 100, L + 500]], [[L + 600, L + 1000], [L + 100, L + 500]]];
    for (const [i, blocks] of sacks.entries()) d.send({ seq: R, ack: L, flags: TCP_ACK, options: [TS(2 + i, tsOf(first[0]!)), ...sackOf(...blocks)] });
    expect(d.recv().map((s) => s.seq)).toEqual([L, L + 500]);
    const reduced = d.conn.stats().cwnd;
    expect(reduced).toBeLessThan(1000);
    // Segment 0's original arrives: its timestamp is echoed, the head's retransmission was spurious.
    d.at(60);
    d.send({ seq: R, ack: L + 500, flags: TCP_ACK, options: [TS(9, tsOf(first[0]!)), ...sackOf([L + 600, L + 1000])] });
    expect(d.conn.stats()).toMatchObject({ spuriousRetransmits: 1, undos: 0 });
    expect(d.conn.stats().cwnd).toBe(reduced);
  });
});

describe("Eifel response to a spurious RTO (RFC 4015 §3, RFC 3522 §3.2)", () => {
  test("the original's ACK after the timeout: cwnd restored and no go-back-N of data already in flight", () => {
    const { d, first } = flight("cubic");
    d.expectNothingUntil(200);
    const rxt = d.recv();
    expect(rxt.map((s) => s.seq)).toEqual([L]);
    expect(d.conn.stats()).toMatchObject({ timeouts: 1, cwnd: 100 });
    d.at(210);
    d.send({ seq: R, ack: L + 100, flags: TCP_ACK, options: [TS(5, tsOf(first[0]!))] });
    expect(d.conn.stats()).toMatchObject({ spuriousRetransmits: 1, undos: 1 });
    expect(d.conn.stats().cwnd).toBeGreaterThanOrEqual(1000);
    // RFC 4015 §3: SND.NXT = SND.MAX; segments 1–9 are still in flight and are not sent again.
    expect(d.recv()).toEqual([]);
  });

  test("a real timeout (the retransmission's timestamp echoed): go-back-N resends under the loss window", () => {
    const { d } = flight("cubic");
    d.expectNothingUntil(200);
    const rxt = d.recv()[0]!;
    d.at(210);
    d.send({ seq: R, ack: L + 100, flags: TCP_ACK, options: [TS(5, tsOf(rxt))] });
    expect(d.conn.stats()).toMatchObject({ spuriousRetransmits: 0, undos: 0 });
    expect(d.recv().map((s) => s.seq)).toEqual([L + 100, L + 200]);
  });
});

describe("D-SACK of the only retransmission (RFC 3708 §3 with RFC 4015 §3)", () => {
  test("without timestamps a D-SACK proves the fast retransmit spurious: the reduction is undone", () => {
    const d = Dialogue.established({ ...PLAIN, noDelay: true, sack: true }, [{ kind: "mss", mss: 100 }, { kind: "sack-permitted" }]);
    d.conn.write(new Uint8Array(1000).fill(0x30));
    expect(d.recv().length).toBe(10);
    d.at(10);
    for (let k = 2; k <= 4; k++) d.send({ seq: R, ack: L, flags: TCP_ACK, options: sackOf([L + 100, L + k * 100]) });
    expect(d.recv().map((s) => s.seq)).toEqual([L]);
    expect(d.conn.stats().cwnd).toBeLessThan(1000);
    d.send({ seq: R, ack: L + 1000, flags: TCP_ACK });
    // Recovery ended (RFC 6582 §3.2 step 5: NewReno, PLAIN's algorithm, leaves cwnd = FlightSize + SMSS).
    expect(d.conn.stats()).toMatchObject({ undos: 0, cwnd: 200 });
    d.send({ seq: R, ack: L + 1000, flags: TCP_ACK, options: sackOf([L, L + 100]) });
    expect(d.conn.stats()).toMatchObject({ spuriousRetransmits: 1, undos: 1, cwnd: 1000, ssthresh: Infinity });
  });
});
