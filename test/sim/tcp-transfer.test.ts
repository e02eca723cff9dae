/**
 * Bulk TCP transfers between two stacks on the memory wire (issue 4, item 8): 20 MiB each way at the
 * same time on one connection, under each seeded impairment alone and all together, for CUBIC and
 * NewReno. What arrives must hash (SHA-256) to what was sent; the connection must then close cleanly
 * — FIN both ways (RFC 9293 §3.6), TIME-WAIT for 2 MSL on the side that closed first (§3.10.7.4),
 * CLOSED — and leave nothing in either stack's connection table.
 *
 * Everything runs in virtual time; the impairments are the MemoryWire's (src/device/fault.ts), drawn
 * from the seed, so a failure replays exactly: rerun the test with the same seed.
 */
import { describe, expect, test } from "vitest";
import type { Impairments } from "../../src/device/fault.ts";
import type { CongestionAlgorithm } from "../../src/transport/tcp/congestion.ts";
import { traceTcp } from "../../src/api/tcp-trace.ts";
import { Driver, describePair, lossEvents, patternBytes, sha256, tcpSim, traceCsv, type Pair, type SimEnd } from "./tcp-helpers.ts";

const SIZE = 20 * 1024 * 1024;
/** 2 MSL as Linux keeps it (connection.ts DEFAULT_TCP_CONFIG.timeWaitMs). */
const TIME_WAIT_MS = 60_000;

interface Scenario {
  readonly name: string;
  readonly seed: number;
  readonly impairments: Impairments;
  readonly cc: CongestionAlgorithm;
  /** Which FaultCounters field must be non-zero: proof that the impairment was exercised. */
  readonly exercised: readonly ("lost" | "reordered" | "duplicated" | "corrupted" | "queueDropped")[];
}

const BOTTLENECK: Impairments = { rateBitsPerSecond: 10e6, queueLimit: 50, delayMs: 10 };
const ALL: Impairments = { loss: 0.02, reorder: 0.25, duplicate: 0.05, corrupt: 0.01, ...BOTTLENECK };

// A 1 ms one-way delay under the single impairments keeps the RTT above zero, as on any real link.
const SCENARIOS: readonly Scenario[] = [
  { name: "2% loss", seed: 11, impairments: { loss: 0.02, delayMs: 1 }, cc: "cubic", exercised: ["lost"] },
  { name: "25% reordering", seed: 12, impairments: { reorder: 0.25, delayMs: 1 }, cc: "cubic", exercised: ["reordered"] },
  { name: "5% duplication", seed: 13, impairments: { duplicate: 0.05, delayMs: 1 }, cc: "cubic", exercised: ["duplicated"] },
  { name: "1% corruption", seed: 14, impairments: { corrupt: 0.01, delayMs: 1 }, cc: "cubic", exercised: ["corrupted"] },
  { name: "10 Mbit/s bottleneck, 50-packet queue, 10 ms delay", seed: 15, impairments: BOTTLENECK, cc: "cubic", exercised: ["queueDropped"] },
  { name: "all impairments together", seed: 16, impairments: ALL, cc: "cubic", exercised: ["lost", "reordered", "duplicated", "corrupted"] },
  { name: "all impairments together", seed: 17, impairments: ALL, cc: "newreno", exercised: ["lost", "reordered", "duplicated", "corrupted"] },
  { name: "2% loss", seed: 18, impairments: { loss: 0.02, delayMs: 1 }, cc: "newreno", exercised: ["lost"] },
];

function closedCleanly(e: SimEnd): boolean {
  return e.conn.state === "CLOSED" && e.received === SIZE && e.endAt !== undefined;
}

/** Runs one full-duplex transfer and checks everything the module comment promises. */
function runScenario(s: Scenario): void {
  const sim = tcpSim({ seed: s.seed, impairments: s.impairments, config: { congestion: s.cc } });
  const up = patternBytes(SIZE, s.seed * 2 + 1);
  const down = patternBytes(SIZE, s.seed * 2 + 2);
  const drv = new Driver(sim);
  const pair: Pair = drv.open({ port: 5001, upload: up, download: down });
  const start = sim.clock.now();
  // Data, FINs, then TIME-WAIT: bounded at 30 virtual minutes.
  const done = drv.runUntil(() => pair.server !== undefined && closedCleanly(pair.client) && closedCleanly(pair.server), 1_800_000);
  const elapsed = sim.clock.now() - start;
  const server = pair.server;
  expect(done, `seed ${s.seed} ${s.name} ${s.cc}: stuck after ${elapsed} ms: ${describePair(pair)}`).toBe(true);
  if (server === undefined) throw new Error("unreachable: checked by `done`");

  // Every byte, in order, each way.
  expect(pair.server?.received).toBe(SIZE);
  expect(server.receivedSha256()).toBe(sha256(up));
  expect(pair.client.received).toBe(SIZE);
  expect(pair.client.receivedSha256()).toBe(sha256(down));

  // No errors; FIN both ways ("end" on each side); TIME-WAIT on at least one side, then CLOSED.
  for (const e of [pair.client, server]) {
    expect(e.events.filter((ev) => ev.kind === "error")).toEqual([]);
    expect(e.events.some((ev) => ev.kind === "end")).toBe(true);
    expect(e.stateNames()).toContain("ESTABLISHED");
    expect(e.stateNames()[e.stateNames().length - 1]).toBe("CLOSED");
  }
  const timeWaiters = [pair.client, server].filter((e) => e.stateNames().includes("TIME-WAIT"));
  expect(timeWaiters.length).toBeGreaterThan(0);
  // RFC 9293 §3.10.7.4 / §3.6: TIME-WAIT lasts 2 MSL before CLOSED — unless an RST ends it: when
  // the peer, already CLOSED, answers our re-ACK of its retransmitted FIN with an RST, §3.10.7.4
  // (and Linux, tcp_rfc1337 = 0) close at once ("TIME-WAIT assassination", RFC 1337).
  for (const e of timeWaiters) {
    const i = e.states.findIndex((st) => st.state === "TIME-WAIT");
    const closedAt = e.states[e.states.length - 1]!.t;
    const peerLayer = e === pair.client ? sim.tcpB : sim.tcpA;
    // (Times are fractional with a rate limit: allow float rounding.)
    if (closedAt - e.states[i]!.t < TIME_WAIT_MS - 1e-6) expect(peerLayer.counters.get("tx.rst"), "TIME-WAIT cut short without an RST").toBeGreaterThan(0);
    else expect(closedAt - e.states[i]!.t).toBeGreaterThanOrEqual(TIME_WAIT_MS - 1e-6);
  }
  // Nothing leaked: both tables empty.
  expect(sim.tcpA.connections()).toEqual([]);
  expect(sim.tcpB.connections()).toEqual([]);

  // RFC 9293 §3.7.1: a segment's data plus its options (timestamps, SACK blocks) fits the MSS, so
  // no TCP segment needs IP fragmentation (on our MTU-sized wire every fragment is a TCP bug).
  expect(sim.a.counters()["ipv4.tx.fragments"] ?? 0, "IPv4 fragments sent by A").toBe(0);
  expect(sim.b.counters()["ipv4.tx.fragments"] ?? 0, "IPv4 fragments sent by B").toBe(0);

  // The impairment really happened, and TCP had to work around it.
  const c = sim.wire.counters;
  for (const k of s.exercised) expect(c[k], `${k} on the wire`).toBeGreaterThan(0);
  const stats = [pair.client.conn.stats(), server.conn.stats()];
  if (s.exercised.includes("lost") || s.exercised.includes("queueDropped") || s.exercised.includes("corrupted")) {
    expect(stats[0]!.retransmits + stats[1]!.retransmits).toBeGreaterThan(0);
  }
  // Both senders' traces are usable for the CSV/SVG plots.
  for (const e of [pair.client, server]) {
    expect(e.trace.length).toBeGreaterThan(10);
    expect(traceCsv(e.trace).split("\n")[0]).toBe("t,cwnd,ssthresh,srtt,inflight");
  }
  if (s.exercised.includes("lost")) expect(lossEvents(pair.client.trace, stats[0]!.mss).length).toBeGreaterThan(0);
}

describe("20 MiB each way on the memory wire, SHA-256 compared, clean close (RFC 9293 §3.6)", () => {
  for (const s of SCENARIOS) {
    test(`${s.name} (${s.cc}, seed ${s.seed})`, () => runScenario(s), 120_000);
  }
});

describe("--trace tcp: one line per connection event (src/api/tcp-trace.ts)", () => {
  test("new connection, every state change, loss responses, retransmits, and a closing summary", () => {
    const sim = tcpSim({ seed: 50, impairments: { loss: 0.02, delayMs: 5 } });
    const lines: string[] = [];
    traceTcp(sim.a, (l) => lines.push(l));
    const drv = new Driver(sim);
    const pair = drv.open({ port: 5001, upload: patternBytes(2_000_000, 3) });
    const ok = drv.runUntil(() => pair.client.conn.state === "CLOSED" && pair.server?.conn.state === "CLOSED", 600_000);
    expect(ok, describePair(pair)).toBe(true);
    const name = String.raw`10\.0\.0\.1:\d+>10\.0\.0\.2:5001`;
    expect(lines[0]).toMatch(new RegExp(`^tcp 0\\.000 ${name} new SYN-SENT\n$`));
    expect(lines.every((l) => l.endsWith("\n") && l.startsWith("tcp "))).toBe(true);
    // Every state the connection passed through, in order (the client closes first: FIN-WAIT, TIME-WAIT).
    const states = lines.filter((l) => l.includes(" state ")).map((l) => l.trim().split(" state ")[1]);
    const passed = pair.client.stateNames();
    expect(states).toEqual(passed.slice(1).map((st, i) => `${passed[i]} > ${st}`));
    expect(passed).toContain("TIME-WAIT");
    // One line per congestion response, as the connection counted them (RFC 5681 §3.1, §3.2).
    const stats = pair.client.conn.stats();
    const fast = lines.filter((l) => / fast-retransmit cwnd \d+ > \d+ ssthresh \d+ /.test(l));
    const rto = lines.filter((l) => / rto #\d+ /.test(l));
    expect(stats.fastRetransmits).toBeGreaterThan(0);
    expect(fast.length).toBe(stats.fastRetransmits);
    expect(rto.length).toBe(stats.timeouts);
    for (const l of fast) {
      const [, before, after] = / cwnd (\d+) > (\d+) /.exec(l)!;
      expect(Number(after)).toBeLessThan(Number(before));
    }
    const retx = lines.filter((l) => l.includes(" retransmit +"));
    expect(retx.length).toBeGreaterThan(0);
    expect(retx[retx.length - 1]).toContain(`(total ${stats.retransmits})`);
    // The summary when the connection leaves the table, after TIME-WAIT.
    const last = lines[lines.length - 1]!;
    expect(last).toMatch(new RegExp(`^tcp [\\d.]+ ${name} closed in \\d+ out 2000000 `));
    expect(lines.filter((l) => l.includes(" closed "))).toHaveLength(1);
  });
});
