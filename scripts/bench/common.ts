/**
 * What every benchmark returns, and the timing helpers they share. A benchmark is a script, not a
 * test: it reads the wall clock (process.hrtime.bigint) and the host's tools, and nothing it measures
 * is asserted.
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { fileURLToPath } from "node:url";


/** One measured number. `reference`/`refValue` name what it is compared with; `ratio` = value / refValue. */
export interface BenchResult {
  /** Stable identifier, e.g. "parse.tcp" or "decode.process"; tests and later runs key on it. */
  readonly name: string;
  readonly value: number;
  /** "M ops/s", "frames/s", … — higher is better unless the unit says "(lower is better)". */
  readonly unit: string;
  readonly reference?: string | undefined;
  readonly refValue?: number | undefined;
  readonly ratio?: number | undefined;
  /** One line on what was measured (capture used, runs taken). */
  readonly note?: string | undefined;
}

/** A named group of benchmarks; later issues append sections (TCP throughput, …) to the list in bench.ts. */
export interface BenchSection {
  readonly name: string;
  run(config: BenchConfig): BenchResult[] | Promise<BenchResult[]>;
}

/** The two configurations: full (`npm run bench`) and `--quick` (a smoke run of a few seconds). */
export interface BenchConfig {
  readonly quick: boolean;
  /** Iterations measured per codec benchmark (after a warm-up of a tenth as many). */
  readonly codecIterations: number;
  /** Timed runs per external command; the median is reported. */
  readonly runs: number;
  /** Where captures and results go. */
  readonly outDir: string;
  /** The project root (for bin/wirestack.mjs and captures/). */
  readonly root: string;
  /** Progress lines go here (stderr), so stdout keeps only the table. */
  readonly log: (line: string) => void;
}

/** Seconds since an arbitrary origin, from the monotonic clock. */
export function seconds(): number {
  return Number(process.hrtime.bigint()) / 1e9;
}

/** The median of a non-empty list. */
export function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 === 1 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

/**
 * Runs `body` `iterations / 10` times to warm up, then `iterations` times under the clock, and
 * returns millions of calls per second. `body` returns a number that is folded into a sink so the
 * compiler cannot drop the work.
 */
export function opsRate(iterations: number, body: () => number): number {
  let sink = 0;
  const warm = Math.max(1, Math.floor(iterations / 10));
  for (let i = 0; i < warm; i++) sink += body();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) sink += body();
  const ns = Number(process.hrtime.bigint() - t0);
  if (Number.isNaN(sink)) throw new Error("benchmark sink became NaN");
  return iterations / (ns / 1e9) / 1e6;
}

/** A result compared with a reference; `ratio` = value / refValue. */
export function compared(
  name: string,
  value: number,
  unit: string,
  reference: string,
  refValue: number | undefined,
  note?: string,
): BenchResult {
  return {
    name,
    value,
    unit,
    reference,
    refValue,
    ratio: refValue !== undefined && refValue > 0 ? value / refValue : undefined,
    note,
  };
}

/**
 * Compiles the C helper `scripts/bench/<name>.c` with `cc -O2` into `dir` and returns the binary's
 * path; `section` names the benchmark in the one-line error when there is no C compiler.
 */
export function buildCHelper(name: string, dir: string, section: string): string {
  const source = fileURLToPath(new URL(`./${name}.c`, import.meta.url));
  const bin = join(dir, name);
  const r = spawnSync("cc", ["-O2", "-o", bin, source], { encoding: "utf8", timeout: 60_000 });
  if (r.error !== undefined && (r.error as NodeJS.ErrnoException).code === "ENOENT") {
    throw new Error(`${section}: no C compiler (cc) to build scripts/bench/${name}.c; install gcc, or run without the TAP part (not as root)`);
  }
  if (r.status !== 0) throw new Error(`${section}: cc failed on scripts/bench/${name}.c: ${(r.stderr ?? String(r.error)).trim().split("\n")[0] ?? ""}`);
  return bin;
}
