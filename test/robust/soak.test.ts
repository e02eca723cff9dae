/**
 * The soak in CI (issue 8, item 4): scripts/soak.ts for 20 s of wall time — many concurrent echo
 * connections per round over a seeded impaired wire, every byte verified, no stuck connection, empty
 * tables after TIME-WAIT, the heap flat. Hours on demand: `npx tsx scripts/soak.ts --minutes 120`.
 */
import { expect, test } from "vitest";
import { heapGrowth, runSoak } from "../../scripts/soak.ts";

test("20 s soak: every byte echoed, every connection closed, heap not growing", () => {
  const res = runSoak({ seed: 8, wallMs: 20_000, connections: 32 });
  expect(res.rounds.length).toBeGreaterThanOrEqual(3);
  expect(res.bytes).toBeGreaterThan(10 * 1024 * 1024);
  // The impairments were really there: the run recovered from losses, duplicates and corruption.
  expect(res.wireCounters.lost).toBeGreaterThan(0);
  expect(heapGrowth(res.rounds)).toBeLessThan(1.5);
}, 90_000);

test("a round that cannot complete fails, naming the seed and the round", () => {
  // Every frame lost: the SYNs time out (RFC 9293 §3.8.1) and the round reports it rather than hanging.
  expect(() => runSoak({ seed: 1, wallMs: 0, maxRounds: 1, connections: 2, impairments: { loss: 1 } })).toThrow(/seed 1, round 1: a connection failed \(ETIMEDOUT/);
});
