/**
 * Dialogue tests for the reordering estimate behind DupThresh (RFC 4653 §3.2): what counts as
 * evidence of reordering (a hole filled by the original, a D-SACK of a spurious retransmission)
 * and what does not (a retransmission repairing the only hole, a network-duplicated
 * retransmission, RFC 2883 §4.1 / RFC 3708 §3), and the cap on the estimate.
 *
 * As in recovery.test.ts: segments carry 100 bytes (MSS 100, or 112 with 12 bytes of timestamps).
 */
import { describe, expect, test } from "vitest";
import type { TcpConfig } from "../../../src/transport/tcp/connection.ts";
import { TCP_ACK, type TcpOption } from "../../../src/wire/tcp.ts";
import { Dialogue, LOCAL_ISS, PLAIN, REMOTE_ISS } from "./helpers.ts";

const L = LOCAL_ISS + 1;
const R = REMOTE_ISS + 1;
const SACK: TcpConfig = { ...PLAIN, sack: true };

/** ESTABLISHED with MSS 100, SACK and Nagle off; `total` bytes written and the first flight read. */
function inFlight(total: number, opts: TcpOption[] = []): Dialogue {
  const d = Dialogue.established({ ...SACK, noDelay: true }, [{ kind: "mss", mss: 100 }, { kind: "sack-permitted" }, ...opts]);
  d.conn.write(new Uint8Array(total).fill(0x30));
  d.recv();
  return d;
}

const sackOf = (...blocks: [number, number][]): TcpOption[] => [{ kind: "sack", blocks: blocks.map(([left, right]) => ({ left, right })) }];

describe("reordering measured from filled holes (RFC 4653 §3.2, Linux's tcp_check_sack_reordering)", () => {
  test("a retransmission repairing the only hole below SACKed data is not reordering", () => {
    const d = inFlight(1000);
    d.at(10);
    d.send({ seq: R, ack: L, flags: TCP_ACK, options: sackOf([L + 100, L + 1000]) });
    expect(d.recv()[0]).toMatchObject({ seq: L });
    expect(d.conn.stats().fastRetransmits).toBe(1);
    d.send({ seq: R, ack: L + 1000, flags: TCP_ACK });
    expect(d.conn.stats().reordering).toBe(3);
  });

  test("a hole never retransmitted nor SACKed, filled while SACKed data lay above it, is", () => {
    const d = inFlight(1000);
    d.at(10);
    d.send({ seq: R, ack: L, flags: TCP_ACK, options: sackOf([L + 100, L + 200]) });
    d.send({ seq: R, ack: L, flags: TCP_ACK, options: sackOf([L + 300, L + 400], [L + 100, L + 200]) });
    expect(d.conn.stats().fastRetransmits).toBe(0);
    // The original of segment 0 arrives late, segment 2 with it: 3 segments SACKed above a late one.
    d.send({ seq: R, ack: L + 400, flags: TCP_ACK });
    expect(d.conn.stats().reordering).toBe(5);
  });
});

describe("D-SACKs and network duplication (RFC 3708 §3, RFC 2883 §4.1)", () => {
  const TS = (val: number, ecr: number): TcpOption => ({ kind: "timestamps", tsVal: val, tsEcr: ecr });

  test("a D-SACK after the ACK that echoed the retransmission's timestamp is a network copy: DupThresh stays", () => {
    const d = Dialogue.established({ ...SACK, noDelay: true, timestamps: true }, [{ kind: "mss", mss: 112 }, { kind: "sack-permitted" }, TS(1, 0)]);
    d.conn.write(new Uint8Array(1000).fill(0x30));
    const first = d.recv();
    const tsOf = (s: (typeof first)[number]) => (s.options.find((o) => o.kind === "timestamps") as { tsVal: number }).tsVal;
    d.at(50);
    d.send({ seq: R, ack: L, flags: TCP_ACK, options: [TS(2, tsOf(first[0]!)), ...sackOf([L + 100, L + 1000])] });
    const rxt = d.recv()[0]!;
    expect(rxt.seq).toBe(L);
    // The retransmission filled the hole (its timestamp echoed), then the network's copy of it is D-SACKed.
    d.at(60);
    d.send({ seq: R, ack: L + 1000, flags: TCP_ACK, options: [TS(3, tsOf(rxt))] });
    d.send({ seq: R, ack: L + 1000, flags: TCP_ACK, options: [TS(4, tsOf(rxt)), ...sackOf([L, L + 100])] });
    expect(d.conn.stats()).toMatchObject({ spuriousRetransmits: 0, reordering: 3 });
  });

  test("a D-SACK before any such ACK still marks the retransmission spurious (RFC 3708 §3)", () => {
    const d = inFlight(1000);
    d.at(10);
    d.send({ seq: R, ack: L, flags: TCP_ACK, options: sackOf([L + 100, L + 1000]) });
    expect(d.recv()[0]).toMatchObject({ seq: L });
    d.send({ seq: R, ack: L + 1000, flags: TCP_ACK, options: sackOf([L, L + 100]) });
    // Nine segments had arrived above it: reordering 10 is recorded (DupThresh uses at most 8).
    expect(d.conn.stats()).toMatchObject({ spuriousRetransmits: 1, reordering: 10 });
  });
});
