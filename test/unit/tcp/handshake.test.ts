/**
 * Dialogue tests, opening states: CLOSED → SYN-SENT → ESTABLISHED (RFC 9293 §3.5 Figure 6),
 * simultaneous open (Figure 8), passive open into SYN-RECEIVED, and the options negotiated on the
 * SYNs: MSS (RFC 9293 §3.7.1), window scale and timestamps (RFC 7323 §2.2, §3.2), SACK-permitted
 * (RFC 2018 §2). Our ISS is LOCAL_ISS = 10000, the peer's REMOTE_ISS = 5000.
 */
import { describe, expect, test } from "vitest";
import { TCP_ACK, TCP_RST, TCP_SYN, type TcpOption } from "../../../src/wire/tcp.ts";
import { Dialogue, LOCAL_ISS, PLAIN, REMOTE_ISS, tsOffset } from "./helpers.ts";

const FULL = { congestion: "newreno" as const }; // every option offered, 256 KiB buffers (shift 3)

describe("CLOSED → SYN-SENT (RFC 9293 §3.10.1)", () => {
  test("connect sends a SYN with our MSS and nothing else when options are off", () => {
    const d = new Dialogue(PLAIN);
    d.conn.connect(0);
    expect(d.conn.state).toBe("SYN-SENT");
    d.expectRecv([{ seq: LOCAL_ISS, ack: 0, flags: "S", options: [{ kind: "mss", mss: 1460 }] }]);
    d.expectRecv([]);
  });

  test("the SYN offers mss, sackOK, TS, wscale in Linux's layout (RFC 7323 §2.2, §3.2; RFC 2018 §2)", () => {
    const d = new Dialogue(FULL);
    d.window = 65535; // RFC 7323 §2.2: a SYN's window is never scaled
    d.now = 7;
    d.conn.connect(7);
    const expected: TcpOption[] = [
      { kind: "mss", mss: 1460 },
      { kind: "sack-permitted" },
      { kind: "timestamps", tsVal: (tsOffset() + 7) >>> 0, tsEcr: 0 },
      { kind: "nop" },
      { kind: "window-scale", shift: 3 },
    ];
    d.expectRecv([{ seq: LOCAL_ISS, ack: 0, flags: "S", options: expected }]);
  });

  test("IPv6: the default MSS is 1440 (MTU 1500 − 60)", () => {
    const d = new Dialogue(PLAIN);
    const c6 = new (d.conn.constructor as typeof import("../../../src/transport/tcp/connection.ts").TcpConnection)({
      local: { family: 6, address: new Uint8Array(16), port: 1 },
      remote: { family: 6, address: new Uint8Array(16), port: 2 },
      iss: 1,
      config: PLAIN,
      random: { nextU32: () => 0, nextFloat: () => 0, nextInt: () => 0, bytes: (n) => new Uint8Array(n), fork: () => { throw new Error("unused"); } },
      now: 0,
    });
    c6.connect(0);
    const segs: TcpOption[][] = [];
    c6.dispatch(0, (s) => segs.push([...s.options]));
    expect(segs).toEqual([[{ kind: "mss", mss: 1440 }]]);
  });

  test("SYN-ACK → ESTABLISHED, ACK <SEQ=SND.NXT><ACK=RCV.NXT>, one 'connected' event", () => {
    const d = new Dialogue(PLAIN);
    d.conn.connect(0);
    d.recv();
    d.at(30);
    d.send({ seq: REMOTE_ISS, ack: LOCAL_ISS + 1, flags: TCP_SYN | TCP_ACK, options: [{ kind: "mss", mss: 1460 }] });
    expect(d.conn.state).toBe("ESTABLISHED");
    d.expectRecv([{ seq: LOCAL_ISS + 1, ack: REMOTE_ISS + 1 }]);
    expect(d.events()).toEqual([{ kind: "connected" }]);
    // RFC 6298 §2.2: the SYN's RTT (30 ms) is the first sample; the RTO is then floored at 200 ms.
    expect(d.conn.stats().srtt).toBe(30);
    expect(d.conn.stats().rto).toBe(200);
    expect(d.conn.nextDeadline()).toBeUndefined();
  });

  test("SYN retransmission with exponential backoff (RFC 6298 §5.5), ETIMEDOUT after synRetries", () => {
    const d = new Dialogue({ ...PLAIN, synRetries: 2 });
    d.conn.connect(0);
    const syn = { seq: LOCAL_ISS, ack: 0, flags: "S", options: [{ kind: "mss", mss: 1460 } as TcpOption] };
    d.expectRecv([syn]);
    d.expectNothingUntil(1000); // RFC 6298 §2.1: initial RTO 1 s
    d.expectRecv([syn]);
    d.expectNothingUntil(3000);
    d.expectRecv([syn]);
    d.expectNothingUntil(7000);
    d.expectRecv([]);
    expect(d.conn.state).toBe("CLOSED");
    expect(d.events().map((e) => e.kind)).toEqual(["error", "closed"]);
  });

  test("Karn: a SYN-ACK after a retransmitted SYN gives no RTT sample (RFC 6298 §3)", () => {
    const d = new Dialogue(PLAIN);
    d.conn.connect(0);
    d.recv();
    d.at(1000);
    d.recv();
    d.at(1010);
    d.send({ seq: REMOTE_ISS, ack: LOCAL_ISS + 1, flags: TCP_SYN | TCP_ACK });
    expect(d.conn.stats().srtt).toBeUndefined();
  });

  test("RST with an acceptable ACK in SYN-SENT: ECONNREFUSED (§3.10.7.3)", () => {
    const d = new Dialogue(PLAIN);
    d.conn.connect(0);
    d.recv();
    d.send({ seq: 0, ack: LOCAL_ISS + 1, flags: TCP_RST | TCP_ACK, window: 0 });
    expect(d.conn.state).toBe("CLOSED");
    const ev = d.events();
    expect(ev[0]).toMatchObject({ kind: "error", code: "ECONNREFUSED" });
    expect(ev[1]).toEqual({ kind: "closed" });
    d.expectRecv([]);
  });

  test("RST without ACK in SYN-SENT is ignored (§3.10.7.3 second)", () => {
    const d = new Dialogue(PLAIN);
    d.conn.connect(0);
    d.recv();
    d.send({ seq: 0, flags: TCP_RST });
    expect(d.conn.state).toBe("SYN-SENT");
  });

  test("unacceptable ACK in SYN-SENT: <SEQ=SEG.ACK><CTL=RST> (§3.10.7.3 first)", () => {
    const d = new Dialogue(PLAIN);
    d.conn.connect(0);
    d.recv();
    d.send({ seq: REMOTE_ISS, ack: LOCAL_ISS + 5, flags: TCP_SYN | TCP_ACK });
    expect(d.conn.state).toBe("SYN-SENT");
    d.expectRecv([{ seq: LOCAL_ISS + 5, ack: 0, flags: "R", window: 0 }]);
  });

  test("simultaneous open (RFC 9293 §3.5 Figure 8): SYN → SYN-RECEIVED + SYN,ACK; SYN,ACK → ESTABLISHED", () => {
    const d = new Dialogue(PLAIN);
    d.conn.connect(0);
    d.recv();
    d.send({ seq: REMOTE_ISS, flags: TCP_SYN, options: [{ kind: "mss", mss: 1000 }] });
    expect(d.conn.state).toBe("SYN-RECEIVED");
    d.expectRecv([{ seq: LOCAL_ISS, ack: REMOTE_ISS + 1, flags: "S.", options: [{ kind: "mss", mss: 1460 }] }]);
    d.send({ seq: REMOTE_ISS, ack: LOCAL_ISS + 1, flags: TCP_SYN | TCP_ACK, options: [{ kind: "mss", mss: 1000 }] });
    expect(d.conn.state).toBe("ESTABLISHED");
    expect(d.events()).toEqual([{ kind: "connected" }]);
    d.expectRecv([]);
    expect(d.conn.stats().mss).toBe(1000);
  });
});

describe("LISTEN → SYN-RECEIVED (passive open, §3.10.7.2)", () => {
  const peerSyn = {
    seq: REMOTE_ISS,
    flags: TCP_SYN,
    window: 64240,
    options: [
      { kind: "mss", mss: 1400 },
      { kind: "sack-permitted" },
      { kind: "timestamps", tsVal: 777, tsEcr: 0 },
      { kind: "nop" },
      { kind: "window-scale", shift: 7 },
    ] as TcpOption[],
  };

  test("SYN-ACK echoes the options the SYN offered, then the ACK makes ESTABLISHED", async () => {
    const { repr } = await import("./helpers.ts");
    const d = new Dialogue(FULL);
    d.window = 65535;
    d.conn.acceptSyn(repr(peerSyn), 0);
    expect(d.conn.state).toBe("SYN-RECEIVED");
    d.expectRecv([
      {
        seq: LOCAL_ISS,
        ack: REMOTE_ISS + 1,
        flags: "S.",
        options: [
          { kind: "mss", mss: 1460 },
          { kind: "sack-permitted" },
          { kind: "timestamps", tsVal: tsOffset() >>> 0, tsEcr: 777 },
          { kind: "nop" },
          { kind: "window-scale", shift: 3 },
        ],
      },
    ]);
    d.at(5);
    d.send({ seq: REMOTE_ISS + 1, ack: LOCAL_ISS + 1, flags: TCP_ACK, window: 502, options: [{ kind: "timestamps", tsVal: 780, tsEcr: tsOffset() }] });
    expect(d.conn.state).toBe("ESTABLISHED");
    expect(d.events()).toEqual([{ kind: "connected" }]);
    const tcb = d.conn.tcb();
    expect(tcb).toMatchObject({ sndWs: 7, rcvWs: 3, tsOk: true, sackOk: true, sndWnd: 502 << 7 });
    // RFC 7323 §4.1: the echoed timestamp gives the RTT; RFC 9293 §3.7.1: MSS 1400 − 12 for timestamps.
    expect(d.conn.stats().srtt).toBe(5);
    expect(d.conn.stats().mss).toBe(1388);
  });

  test("a SYN-ACK offers only what the SYN offered (RFC 7323 §2.2, §3.2; RFC 2018 §2)", async () => {
    const { repr } = await import("./helpers.ts");
    const d = new Dialogue(FULL);
    d.window = 65535;
    d.conn.acceptSyn(repr({ seq: REMOTE_ISS, flags: TCP_SYN }), 0);
    d.expectRecv([{ seq: LOCAL_ISS, ack: REMOTE_ISS + 1, flags: "S.", options: [{ kind: "mss", mss: 1460 }] }]);
    // RFC 9293 §3.7.1: no MSS option → 536.
    expect(d.conn.stats().mss).toBe(536);
  });

  test("a retransmitted SYN gets the SYN-ACK again; the RTO retransmits it too", async () => {
    const { repr } = await import("./helpers.ts");
    const d = new Dialogue(PLAIN);
    d.conn.acceptSyn(repr({ seq: REMOTE_ISS, flags: TCP_SYN }), 0);
    const synAck = { seq: LOCAL_ISS, ack: REMOTE_ISS + 1, flags: "S.", options: [{ kind: "mss", mss: 1460 } as TcpOption] };
    d.expectRecv([synAck]);
    d.at(300);
    d.send({ seq: REMOTE_ISS, flags: TCP_SYN });
    d.expectRecv([synAck]);
    d.expectNothingUntil(1000);
    d.expectRecv([synAck]);
  });

  test("RST in SYN-RECEIVED after a passive open closes quietly (§3.10.7.4 second)", async () => {
    const { repr } = await import("./helpers.ts");
    const d = new Dialogue(PLAIN);
    d.conn.acceptSyn(repr({ seq: REMOTE_ISS, flags: TCP_SYN }), 0);
    d.recv();
    d.send({ seq: REMOTE_ISS + 1, flags: TCP_RST });
    expect(d.conn.state).toBe("CLOSED");
    expect(d.events()).toEqual([{ kind: "closed" }]);
  });

  test("an unacceptable ACK in SYN-RECEIVED draws <SEQ=SEG.ACK><CTL=RST> (§3.10.7.4 fifth)", async () => {
    const { repr } = await import("./helpers.ts");
    const d = new Dialogue(PLAIN);
    d.conn.acceptSyn(repr({ seq: REMOTE_ISS, flags: TCP_SYN }), 0);
    d.recv();
    d.send({ seq: REMOTE_ISS + 1, ack: LOCAL_ISS + 77, flags: TCP_ACK });
    expect(d.conn.state).toBe("SYN-RECEIVED");
    d.expectRecv([{ seq: LOCAL_ISS + 77, ack: 0, flags: "R", window: 0 }]);
  });

  test("a SYN cookie's ACK completes the open directly, data included", async () => {
    const { repr } = await import("./helpers.ts");
    const d = new Dialogue(PLAIN);
    d.conn.acceptCookie(
      { irs: REMOTE_ISS, peerMss: 1220, sackPermitted: false, timestamps: false },
      repr({ seq: REMOTE_ISS + 1, ack: LOCAL_ISS + 1, flags: TCP_ACK, payload: "GET /" }),
      0,
    );
    expect(d.conn.state).toBe("ESTABLISHED");
    expect(d.events()).toEqual([{ kind: "connected" }, { kind: "readable" }]);
    expect(Buffer.from(d.conn.read()!).toString()).toBe("GET /");
    expect(d.conn.stats().mss).toBe(1220);
  });
});

describe("options negotiated on the SYNs", () => {
  test("window scaling only when both SYNs carry it (RFC 7323 §2.2)", () => {
    const d = Dialogue.established(FULL, [{ kind: "mss", mss: 1460 }]);
    expect(d.conn.tcb()).toMatchObject({ sndWs: 0, rcvWs: 0 });
    const e = Dialogue.established(FULL, [{ kind: "mss", mss: 1460 }, { kind: "nop" }, { kind: "window-scale", shift: 7 }]);
    expect(e.conn.tcb()).toMatchObject({ sndWs: 7, rcvWs: 3 });
    e.send({ seq: REMOTE_ISS + 1, ack: LOCAL_ISS + 1, flags: TCP_ACK, window: 100 });
    expect(e.conn.tcb().sndWnd).toBe(12800);
  });

  test("a shift above 14 is used as 14 (RFC 7323 §2.3)", () => {
    const d = Dialogue.established(FULL, [{ kind: "window-scale", shift: 15 }]);
    expect(d.conn.tcb().sndWs).toBe(14);
  });

  test("our advertised window is scaled down by our shift once scaling is on", () => {
    const d = Dialogue.established(FULL, [{ kind: "window-scale", shift: 2 }]);
    d.window = (256 * 1024) >>> 3;
    d.send({ seq: REMOTE_ISS + 1, ack: LOCAL_ISS + 1, flags: TCP_ACK, payload: "x".repeat(10) });
    d.at(40);
    d.expectRecv([{ seq: LOCAL_ISS + 1, ack: REMOTE_ISS + 11, window: (256 * 1024 - 16) >>> 3 }]);
  });

  test("the peer's MSS bounds our segments (RFC 9293 §3.7.1)", () => {
    const d = Dialogue.established({ ...PLAIN, noDelay: true }, [{ kind: "mss", mss: 500 }]);
    d.conn.write(new Uint8Array(1200));
    expect(d.recv().map((s) => s.payload.length)).toEqual([500, 500, 200]);
  });

  test("SACK-permitted negotiated only when both offer it (RFC 2018 §2)", () => {
    const on = Dialogue.established({ ...PLAIN, sack: true }, [{ kind: "sack-permitted" }]);
    expect(on.conn.tcb().sackOk).toBe(true);
    const off = Dialogue.established({ ...PLAIN, sack: true }, []);
    expect(off.conn.tcb().sackOk).toBe(false);
    const notOffered = Dialogue.established(PLAIN, [{ kind: "sack-permitted" }]);
    expect(notOffered.conn.tcb().sackOk).toBe(false);
  });
});
