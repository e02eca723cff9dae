/**
 * The benchmark script runs: `scripts/bench.ts --quick` (a few thousand codec iterations, a synthetic
 * 5 000-frame capture, 1 MiB transfers, a few hundred connections; as root also the TAP sections at a
 * tiny size in namespaces it creates and deletes) exits 0 and writes JSON holding every expected
 * benchmark with a finite positive value. No timing is asserted: speed is the script's business, not
 * the suite's. Not root: the TAP sections must say on stderr that they were skipped, and why.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../..", import.meta.url));
const dir = mkdtempSync(join(tmpdir(), "wirestack-bench-smoke-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const EXPECTED = [
  "parse.ethernet",
  "parse.ipv4",
  "parse.tcp",
  "parse.udp",
  "parse.eth-ipv4-tcp",
  "emit.ethernet",
  "emit.ipv4",
  "emit.tcp",
  "emit.udp",
  "emit.eth-ipv4-tcp",
  "decode.process",
  "decode.in-process",
  "decode.json",
  "tcp.memory.mtu1500.flows1",
  "tcp.memory.mtu1500.flows8",
  "tcp.memory.mtu9000.flows1",
  "tcp.memory.mtu9000.flows8",
  "handshakes.memory",
  "heap.per-connection",
  "cpu.memory",
];

/** Rows the TAP sections add when they can run (root, /dev/net/tun, iproute2). */
const EXPECTED_TAP = ["tcp.tap.rx", "tcp.tap.tx", "cpu.tap.rx", "cpu.tap.tx", "ping.tap", "handshakes.tap"];
const isRoot = process.getuid?.() === 0;

interface Report {
  date: string;
  node: string;
  cpu: string;
  configuration: string;
  results: { name: string; value: number; unit: string; refValue?: number; ratio?: number }[];
}

describe("scripts/bench.ts --quick", () => {
  const jsonPath = join(dir, "bench.json");
  const run = spawnSync(process.execPath, ["--import", "tsx", join(root, "scripts/bench.ts"), "--quick", "--json", jsonPath], {
    cwd: root,
    encoding: "utf8",
    timeout: 90_000,
  });

  it("exits 0 and prints the table", () => {
    expect(run.stderr).not.toMatch(/bench: .*failed/);
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/^benchmark\s+value\s+unit/m);
    expect(run.stdout).toContain("decode.process");
  });

  it("writes JSON with the run's metadata and every expected benchmark, each finite and positive", () => {
    const report = JSON.parse(readFileSync(jsonPath, "utf8")) as Report;
    expect(report.configuration).toBe("quick");
    expect(report.node).toBe(process.version);
    expect(Number.isNaN(Date.parse(report.date))).toBe(false);
    expect(report.cpu.length).toBeGreaterThan(0);
    const names = report.results.map((r) => r.name);
    for (const name of EXPECTED) expect(names).toContain(name);
    for (const r of report.results) {
      expect(Number.isFinite(r.value) && r.value > 0, `${r.name} = ${r.value}`).toBe(true);
      expect(r.unit.length).toBeGreaterThan(0);
      if (r.refValue !== undefined) expect(Number.isFinite(r.refValue) && r.refValue > 0).toBe(true);
      if (r.ratio !== undefined) expect(Number.isFinite(r.ratio) && r.ratio > 0).toBe(true);
    }
  });

  it("runs the TAP sections against a kernel reference as root, or says why they were skipped", () => {
    const report = JSON.parse(readFileSync(jsonPath, "utf8")) as Report;
    const names = report.results.map((r) => r.name);
    if (!isRoot) {
      console.warn("bench-smoke: not root, the TAP sections only print why they skipped");
      for (const section of ["tcp-tap", "ping"]) expect(run.stderr).toMatch(new RegExp(`bench: ${section}: skipped: not root`));
      for (const name of EXPECTED_TAP) expect(names).not.toContain(name);
      return;
    }
    for (const name of EXPECTED_TAP) {
      const r = report.results.find((x) => x.name === name);
      expect(r, name).toBeDefined();
      // Each TAP figure stands next to a kernel figure measured in the same run.
      expect(r?.refValue, `${name} reference`).toBeGreaterThan(0);
    }
  });

  it("leaves no benchmark namespace behind", () => {
    const left = spawnSync("ip", ["netns", "list"], { encoding: "utf8" });
    if (left.status !== 0) return;
    expect(left.stdout).not.toMatch(new RegExp(`^wsbench-${run.pid}-`, "m"));
  });

  it("compares decode with tcpdump when tcpdump is installed", () => {
    const haveTcpdump = spawnSync("tcpdump", ["--version"], { stdio: "ignore" }).status === 0;
    const report = JSON.parse(readFileSync(jsonPath, "utf8")) as Report;
    const ours = report.results.find((r) => r.name === "decode.process");
    if (!haveTcpdump) {
      console.warn("bench-smoke: tcpdump not installed, no ratio to check");
      return;
    }
    expect(ours?.refValue).toBeGreaterThan(0);
    expect(ours?.ratio).toBeCloseTo((ours?.value ?? 0) / (ours?.refValue ?? 1), 6);
    expect(report.results.map((r) => r.name)).toContain("decode.tcpdump");
  });
});
