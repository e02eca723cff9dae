/**
 * Finding and running the tools nobody here wrote — tshark, tcpdump, Debian's python3 with scapy —
 * for cross-check tests. A test that needs a missing tool is skipped with one printed line naming the
 * tool, never failed: CI installs them, a developer's machine may not have them.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

/** Debian's python3, the one with scapy (the `python3` on PATH may be another). */
export const SCAPY_PYTHON = "/usr/bin/python3";

/** The fixtures directory, captures/ at the project root. */
export const CAPTURES_DIR = resolve(import.meta.dirname, "../../captures");

const found = new Map<string, boolean>();

/** Whether `command args` runs and exits 0 (cached per command line). */
function runs(command: string, args: readonly string[]): boolean {
  const key = [command, ...args].join(" ");
  let ok = found.get(key);
  if (ok === undefined) {
    const r = spawnSync(command, args, { stdio: "ignore", timeout: 20_000 });
    ok = r.error === undefined && r.status === 0;
    found.set(key, ok);
  }
  return ok;
}

/** tshark is on PATH and runs. */
export function hasTshark(): boolean {
  return runs("tshark", ["--version"]);
}

/** tcpdump is on PATH and runs. */
export function hasTcpdump(): boolean {
  return runs("tcpdump", ["--version"]);
}

/** SCAPY_PYTHON exists and imports scapy. */
export function hasScapy(): boolean {
  return runs(SCAPY_PYTHON, ["-c", "import scapy.all"]);
}

/**
 * Prints why a test file is skipped and returns true when `tool` is missing, for
 * `describe.skipIf(skipUnless("tshark", hasTshark()))`.
 */
export function skipUnless(tool: string, available: boolean): boolean {
  if (!available) console.warn(`skipped: ${tool} is not installed (CI installs it)`);
  return !available;
}

/** Runs a tool to completion; throws with its stderr when it fails, so a test names the cause. */
export function runTool(command: string, args: readonly string[], env: Record<string, string> = {}): string {
  const r = spawnSync(command, args, {
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
    timeout: 60_000,
    env: { ...process.env, ...env },
  });
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${command} ${args.join(" ")} exited ${r.status}: ${r.stderr}`);
  return r.stdout;
}

/** Every pcap and pcapng file in captures/, sorted, as absolute paths. */
export function captureFiles(): string[] {
  return readdirSync(CAPTURES_DIR)
    .filter((f) => f.endsWith(".pcap") || f.endsWith(".pcapng"))
    .sort()
    .map((f) => join(CAPTURES_DIR, f));
}

/** A fresh temporary directory and a function that removes it. */
export function tempDir(prefix = "wirestack-test-"): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** Runs a Python program with SCAPY_PYTHON (written to a file in `dir`, so no shell quoting). */
export function runScapy(dir: string, program: string, args: readonly string[] = []): string {
  const script = join(dir, "program.py");
  writeFileSync(script, program);
  return runTool(SCAPY_PYTHON, [script, ...args]);
}
