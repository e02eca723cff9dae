/**
 * `npm run bench` (tsx scripts/bench.ts [--quick] [--json FILE] [--only NAME[,NAME…]]): runs every
 * benchmark section (or only the named ones, e.g. `--only tcp-memory,handshakes`), prints
 * one table on stdout (progress goes to stderr) and writes the results as JSON, by default to
 * bench-results/bench.json (git-ignored), with the date, Node version and CPU model.
 *
 * `--quick` is the smoke configuration the test suite runs: a few thousand iterations per codec, a
 * synthetic 5 000-frame capture in a temporary directory, one run per command, 1 MiB transfers, a
 * few hundred connections, and the TAP sections (tcp-tap, ping, the kernel half of handshakes) at a
 * tiny size when root, skipped with a line on stderr otherwise. Namespaces the TAP sections create
 * are deleted before the section returns, even when it fails.
 * Sections are a list: later issues append theirs with the same result shape.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { cpus } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { codecSection } from "./bench/codec.ts";
import type { BenchConfig, BenchResult, BenchSection } from "./bench/common.ts";
import { cpuSection } from "./bench/cpu.ts";
import { decodeSection } from "./bench/decode.ts";
import { handshakeSection } from "./bench/handshakes.ts";
import { heapSection } from "./bench/heap.ts";
import { pingSection } from "./bench/ping.ts";
import { tcpMemorySection } from "./bench/tcp-memory.ts";
import { tcpTapSection } from "./bench/tcp-tap.ts";

const SECTIONS: readonly BenchSection[] = [
  codecSection,
  decodeSection,
  tcpMemorySection,
  tcpTapSection,
  pingSection,
  handshakeSection,
  heapSection,
  cpuSection,
];

const USAGE = `usage: tsx scripts/bench.ts [--quick] [--json FILE] [--only NAME[,NAME...]] (sections: ${SECTIONS.map((s) => s.name).join(", ")})`;

interface CommandLine {
  readonly quick: boolean;
  readonly json: string | undefined;
  /** Section names to run; undefined runs them all. */
  readonly only: ReadonlySet<string> | undefined;
}

function parseCommandLine(argv: readonly string[]): CommandLine {
  let quick = false;
  let json: string | undefined;
  let only: Set<string> | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--quick") quick = true;
    else if (a === "--json" && argv[i + 1] !== undefined) json = argv[++i];
    else if (a === "--only" && argv[i + 1] !== undefined) {
      only ??= new Set();
      for (const name of argv[++i]!.split(",")) {
        if (!SECTIONS.some((s) => s.name === name)) throw new Error(`unknown section ${name}; ${USAGE}`);
        only.add(name);
      }
    } else throw new Error(USAGE);
  }
  return { quick, json, only };
}

function formatValue(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return "-";
  if (v >= 1000) return Math.round(v).toLocaleString("en-US");
  return v.toFixed(2);
}

function table(results: readonly BenchResult[]): string {
  const rows = [
    ["benchmark", "value", "unit", "reference", "ref value", "ratio"],
    ...results.map((r) => [
      r.name,
      formatValue(r.value),
      r.unit,
      r.reference ?? "",
      formatValue(r.refValue),
      r.ratio === undefined ? "" : `${r.ratio.toFixed(2)}x`,
    ]),
  ];
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((row) => (row[c] as string).length)));
  const line = (row: string[]) =>
    row.map((cell, c) => (c === 1 || c === 4 ? cell.padStart(widths[c]!) : cell.padEnd(widths[c]!))).join("  ").trimEnd();
  return [line(rows[0]!), widths.map((w) => "-".repeat(w)).join("  "), ...rows.slice(1).map(line)].join("\n");
}

async function main(): Promise<number> {
  let args: CommandLine;
  try {
    args = parseCommandLine(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    return 2;
  }
  const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
  const outDir = join(root, "bench-results");
  mkdirSync(outDir, { recursive: true });
  const config: BenchConfig = {
    quick: args.quick,
    codecIterations: args.quick ? 5_000 : 2_000_000,
    runs: args.quick ? 1 : 3,
    outDir,
    root,
    log: (line) => process.stderr.write(`bench: ${line}\n`),
  };
  const results: BenchResult[] = [];
  for (const section of SECTIONS) {
    if (args.only !== undefined && !args.only.has(section.name)) continue;
    config.log(`section ${section.name}`);
    results.push(...(await section.run(config)));
  }
  const report = {
    date: new Date().toISOString(),
    node: process.version,
    cpu: cpus()[0]?.model ?? "unknown",
    cpus: cpus().length,
    configuration: args.quick ? "quick" : "full",
    results,
  };
  const jsonPath = resolve(args.json ?? join(outDir, "bench.json"));
  mkdirSync(dirname(jsonPath), { recursive: true });
  writeFileSync(jsonPath, `${JSON.stringify(report, null, 2)}\n`);
  process.stdout.write(`wirestack bench (${report.configuration}) ${report.date}, Node ${report.node}, ${report.cpu} x${report.cpus}\n\n`);
  process.stdout.write(`${table(results)}\n\n`);
  for (const r of results) if (r.note) process.stdout.write(`${r.name}: ${r.note}\n`);
  const ours = results.find((r) => r.name === "decode.process");
  if (ours?.ratio !== undefined) {
    process.stdout.write(`\ndecode vs tcpdump -nr: ${ours.ratio.toFixed(2)}x (ours / tcpdump, frames/s; above 1 is faster)\n`);
  }
  process.stdout.write(`results written to ${jsonPath}\n`);
  return 0;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  },
);
