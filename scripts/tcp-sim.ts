/**
 * `tsx scripts/tcp-sim.ts [--cc cubic|newreno] [--bytes N] [--flows N] [--seed N] [--loss P]
 *  [--reorder P] [--duplicate P] [--corrupt P] [--delay MS] [--rate BITS/S] [--queue PACKETS]
 *  [--out DIR] [--svg-only]`: a seeded bulk transfer between two stacks on the memory wire, in virtual time, that
 * writes each sender's cwnd/RTT trace as CSV (`t,cwnd,ssthresh,srtt,inflight`) and draws it as an
 * SVG with scripts/plot-cwnd.ts.
 *
 * Files: DIR/cwnd-<cc>.csv and DIR/cwnd-<cc>.svg (one flow), or DIR/cwnd-<cc>-<i>.csv per flow and
 * one SVG with every flow's cwnd (`--svg-only`: no CSV). Prints a summary line: bytes, virtual time, throughput,
 * retransmissions, and the SHA-256 check.
 *
 * The README's plots are made with:
 *   tsx scripts/tcp-sim.ts --cc cubic   --rate 10e6 --queue 50 --delay 10 --bytes 20e6 --out docs/ --svg-only
 *   tsx scripts/tcp-sim.ts --cc newreno --rate 10e6 --queue 50 --delay 10 --bytes 20e6 --out docs/ --svg-only
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import type { Impairments } from "../src/device/fault.ts";
import type { CongestionAlgorithm } from "../src/transport/tcp/congestion.ts";
import { renderCwndSvg, type TraceRow } from "./plot-cwnd.ts";
import { Driver, describePair, patternBytes, sha256, tcpSim, traceCsv, type Pair, type TraceSample } from "../test/sim/tcp-helpers.ts";

/** What one run does. */
export interface TcpSimRun {
  readonly cc: CongestionAlgorithm;
  readonly bytes: number;
  readonly flows: number;
  readonly seed: number;
  readonly impairments: Impairments;
}

/** What one run gives back. */
export interface TcpSimResult {
  readonly traces: TraceSample[][];
  /** Virtual ms until the last byte of every flow arrived. */
  readonly elapsedMs: number;
  readonly intact: boolean;
  readonly retransmits: number;
  readonly timeouts: number;
  readonly summary: string;
}

/** Runs the transfer(s) to completion (bounded: one virtual hour). */
export function runTcpSim(run: TcpSimRun): TcpSimResult {
  const sim = tcpSim({ seed: run.seed, impairments: run.impairments, config: { congestion: run.cc } });
  const drv = new Driver(sim);
  const data = Array.from({ length: run.flows }, (_, i) => patternBytes(run.bytes, run.seed * 1000 + i));
  const pairs: Pair[] = data.map((d) => drv.open({ port: 5001, upload: d }));
  const start = sim.clock.now();
  const done = drv.runUntil(() => pairs.every((p) => p.server !== undefined && p.server.endAt !== undefined), 3_600_000);
  if (!done) throw new Error(`tcp-sim: the transfer did not finish within an hour of virtual time: ${pairs.map(describePair).join("; ")}`);
  const elapsedMs = Math.max(...pairs.map((p) => p.server?.lastByteAt ?? 0)) - start;
  const intact = pairs.every((p, i) => p.server?.receivedSha256() === sha256(data[i]!));
  let retransmits = 0;
  let timeouts = 0;
  for (const p of pairs) {
    const s = p.client.conn.stats();
    retransmits += s.retransmits;
    timeouts += s.timeouts;
  }
  const total = run.bytes * run.flows;
  const summary =
    `${run.cc}: ${run.flows} flow(s) × ${run.bytes} bytes in ${(elapsedMs / 1000).toFixed(2)} s virtual ` +
    `(${((total * 8) / (elapsedMs / 1000) / 1e6).toFixed(2)} Mbit/s), retransmits ${retransmits}, timeouts ${timeouts}, ` +
    `SHA-256 ${intact ? "identical" : "DIFFERENT"}`;
  return { traces: pairs.map((p) => p.client.trace), elapsedMs, intact, retransmits, timeouts, summary };
}

function rows(trace: readonly TraceSample[]): TraceRow[] {
  return trace.map((s) => ({
    t: s.t,
    cwnd: s.cwnd,
    ssthresh: Number.isFinite(s.ssthresh) ? s.ssthresh : undefined,
    srtt: s.srtt > 0 ? s.srtt : undefined,
    inflight: s.inFlight,
  }));
}

function describeImpairments(imp: Impairments): string {
  const parts: string[] = [];
  if (imp.rateBitsPerSecond !== undefined) parts.push(`${imp.rateBitsPerSecond / 1e6} Mbit/s`);
  if (imp.queueLimit !== undefined) parts.push(`queue ${imp.queueLimit}`);
  if (imp.delayMs !== undefined) parts.push(`${imp.delayMs} ms one way`);
  if (imp.loss) parts.push(`${imp.loss * 100}% loss`);
  if (imp.reorder) parts.push(`${imp.reorder * 100}% reordering`);
  if (imp.duplicate) parts.push(`${imp.duplicate * 100}% duplication`);
  if (imp.corrupt) parts.push(`${imp.corrupt * 100}% corruption`);
  return parts.length > 0 ? parts.join(", ") : "no impairments";
}

/** Writes the CSV(s) and the SVG of a run; returns the paths written. */
export function writeTrace(run: TcpSimRun, result: TcpSimResult, outDir: string, csv = true): string[] {
  mkdirSync(outDir, { recursive: true });
  const written: string[] = [];
  const base = `cwnd-${run.cc}`;
  const series = result.traces.map((t, i) => {
    const name = result.traces.length === 1 ? base : `${base}-${i + 1}`;
    if (csv) {
      const file = join(outDir, `${name}.csv`);
      writeFileSync(file, traceCsv(t));
      written.push(file);
    }
    return { label: result.traces.length === 1 ? run.cc : `flow ${i + 1}`, rows: rows(t) };
  });
  const title = `${run.cc === "cubic" ? "CUBIC" : "NewReno"}: ${describeImpairments(run.impairments)}, seed ${run.seed}`;
  const svg = join(outDir, `${base}.svg`);
  writeFileSync(svg, renderCwndSvg(series, { title }));
  written.push(svg);
  return written;
}

const USAGE =
  "usage: tsx scripts/tcp-sim.ts [--cc cubic|newreno] [--bytes N] [--flows N] [--seed N] [--loss P] [--reorder P] " +
  "[--duplicate P] [--corrupt P] [--delay MS] [--rate BITS/S] [--queue PACKETS] [--out DIR] [--svg-only]";

/** Parses the command line (numbers may be written 20e6). */
export function parseSimArgs(argv: readonly string[]): { run: TcpSimRun; out: string; csv: boolean } {
  const num = (flag: string, v: string | undefined): number => {
    const n = Number(v);
    if (v === undefined || !Number.isFinite(n) || n < 0) throw new Error(`${flag} needs a non-negative number\n${USAGE}`);
    return n;
  };
  let cc: CongestionAlgorithm = "cubic";
  let bytes = 20e6;
  let flows = 1;
  let seed = 1;
  let out = "docs";
  let csv = true;
  const imp: { -readonly [K in keyof Impairments]: Impairments[K] } = {};
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!;
    const v = argv[i + 1];
    if (flag === "--svg-only") {
      csv = false;
      continue;
    }
    switch (flag) {
      case "--cc":
        if (v !== "cubic" && v !== "newreno") throw new Error(`--cc is cubic or newreno\n${USAGE}`);
        cc = v;
        break;
      case "--bytes":
        bytes = Math.round(num(flag, v));
        break;
      case "--flows":
        flows = Math.max(1, Math.round(num(flag, v)));
        break;
      case "--seed":
        seed = Math.round(num(flag, v));
        break;
      case "--loss":
        imp.loss = num(flag, v);
        break;
      case "--reorder":
        imp.reorder = num(flag, v);
        break;
      case "--duplicate":
        imp.duplicate = num(flag, v);
        break;
      case "--corrupt":
        imp.corrupt = num(flag, v);
        break;
      case "--delay":
        imp.delayMs = num(flag, v);
        break;
      case "--rate":
        imp.rateBitsPerSecond = num(flag, v);
        break;
      case "--queue":
        imp.queueLimit = Math.round(num(flag, v));
        break;
      case "--out":
        if (v === undefined) throw new Error(`--out needs a directory\n${USAGE}`);
        out = v;
        break;
      default:
        throw new Error(USAGE);
    }
    i++;
  }
  return { run: { cc, bytes, flows, seed, impairments: imp }, out, csv };
}

function main(argv: readonly string[]): void {
  if (argv.includes("-h") || argv.includes("--help")) {
    process.stdout.write(USAGE + "\n");
    return;
  }
  const { run, out, csv } = parseSimArgs(argv);
  const result = runTcpSim(run);
  const files = writeTrace(run, result, out, csv);
  process.stdout.write(`${result.summary}\nwrote ${files.join(", ")}\n`);
  if (!result.intact) process.exitCode = 1;
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    main(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(2);
  }
}
