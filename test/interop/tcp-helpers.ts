/**
 * Helpers of the TCP interop tests (tcp.test.ts): the namespace with a persistent TAP, our stack's
 * side (tcp-peer.ts) and the kernel's side (scripts/tcp-kernel-peer.py) as child processes that talk
 * in JSON lines, tcpdump on the TAP, and the kernel's own counters (nstat).
 *
 * Every child is started inside the test's namespace with `ip netns exec` (which execs in place, so
 * the PID we hold is the program's own), every wait is bounded, and `stopAll()` ends every child this
 * module started by its PID only: SIGTERM, then SIGKILL.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { Netns } from "./netns.ts";

/** The repository's root (tcp-peer.ts runs from there so that `--import tsx` resolves). */
export const REPO_ROOT = fileURLToPath(new URL("../../", import.meta.url));
/** The stack-side program. */
export const TCP_PEER = fileURLToPath(new URL("./tcp-peer.ts", import.meta.url));
/** The kernel-side source/sink. */
export const KERNEL_PEER = fileURLToPath(new URL("../../scripts/tcp-kernel-peer.py", import.meta.url));
/** The crafted-segment script. */
export const SCAPY_TCP = fileURLToPath(new URL("./scapy-tcp.py", import.meta.url));
/** Debian's python3, which has scapy (the pyenv one on PATH does not). */
export const DEBIAN_PYTHON = "/usr/bin/python3";

/** One JSON object a child printed on a line of its stdout. */
export type JsonEvent = Record<string, unknown> & { readonly event?: string; readonly step?: string };

const live = new Set<ChildProcess>();

function kill(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(child.pid, signal);
  } catch {
    // Exited between the check and the kill.
  }
}

/** A child process whose stdout is JSON lines. */
export class JsonChild {
  readonly child: ChildProcess;
  /** Every JSON line so far, in order. */
  readonly events: JsonEvent[] = [];
  /** Lines of stdout that were not JSON (kept for failure messages). */
  readonly otherLines: string[] = [];
  private stderrText = "";
  private partial = "";
  private waiters: (() => void)[] = [];
  readonly exited: Promise<{ status: number | null; signal: NodeJS.Signals | null }>;

  constructor(
    readonly label: string,
    argv: readonly string[],
    opts: { readonly cwd?: string; readonly stdin?: boolean } = {},
  ) {
    const [cmd, ...args] = argv as [string, ...string[]];
    this.child = spawn(cmd, args, { cwd: opts.cwd, stdio: [opts.stdin === true ? "pipe" : "ignore", "pipe", "pipe"] });
    live.add(this.child);
    this.child.stdin?.on("error", () => {}); // the child may exit first: not a test failure by itself
    this.child.stdout?.setEncoding("utf8").on("data", (s: string) => this.onData(s));
    this.child.stderr?.setEncoding("utf8").on("data", (s: string) => {
      this.stderrText += s;
      if (this.stderrText.length > 200_000) this.stderrText = this.stderrText.slice(-100_000);
    });
    this.exited = new Promise((resolve) => {
      this.child.on("error", (e) => {
        this.stderrText += String(e);
      });
      this.child.on("close", (status, signal) => {
        live.delete(this.child);
        this.wake();
        resolve({ status, signal });
      });
    });
  }

  get stderr(): string {
    return this.stderrText;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  private onData(s: string): void {
    this.partial += s;
    let nl: number;
    while ((nl = this.partial.indexOf("\n")) >= 0) {
      const line = this.partial.slice(0, nl);
      this.partial = this.partial.slice(nl + 1);
      try {
        this.events.push(JSON.parse(line) as JsonEvent);
      } catch {
        this.otherLines.push(line);
      }
    }
    this.wake();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  /** Writes one command line (JSON) to the child's stdin. */
  send(obj: Record<string, unknown>): void {
    this.child.stdin?.write(`${JSON.stringify(obj)}\n`);
  }

  /**
   * Resolves with the first event (from the start) that satisfies `pred`; rejects after `timeoutMs`
   * or when the child exits without printing one, with everything it printed.
   */
  async waitFor(pred: (e: JsonEvent) => boolean, timeoutMs: number, what = "event"): Promise<JsonEvent> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const hit = this.events.find(pred);
      if (hit !== undefined) return hit;
      const exited = !this.running && !this.child.stdout?.readable;
      const left = deadline - performance.now();
      if (exited || left <= 0) {
        throw new Error(
          `${this.label}: no ${what} ${exited ? "before it exited" : `within ${timeoutMs} ms`}\n` +
            `events: ${JSON.stringify(this.events).slice(-3000)}\nstderr: ${this.stderrText.slice(-3000)}`,
        );
      }
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 250));
        this.waiters.push(() => {
          clearTimeout(t);
          resolve();
        });
      });
    }
  }

  /** SIGTERM, then SIGKILL after `graceMs`; resolves when it has exited. */
  async stop(graceMs = 3_000): Promise<void> {
    kill(this.child, "SIGTERM");
    const t = setTimeout(() => kill(this.child, "SIGKILL"), graceMs);
    await this.exited;
    clearTimeout(t);
  }
}

/** Stops every child this module started that still runs (for afterAll). */
export async function stopAll(): Promise<void> {
  const children = [...live];
  for (const c of children) kill(c, "SIGTERM");
  const gone = Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r(undefined) : c.once("close", r)))));
  const bounded = (ms: number): Promise<unknown> => Promise.race([gone, new Promise((r) => setTimeout(r, ms))]);
  await bounded(2_000);
  for (const c of children) kill(c, "SIGKILL");
  await bounded(2_000);
}

/** Impairments of both directions, as tcp-peer.ts takes them. */
export interface PeerImpairments {
  readonly loss?: number;
  readonly reorder?: number;
  readonly reorderDelayMs?: number;
  readonly duplicate?: number;
  readonly corrupt?: number;
}

/** Where our stack sits on the TAP. */
export interface PeerAddress {
  readonly tap: string;
  readonly mac: string;
  readonly ip: string;
  readonly ip6?: string;
}

/** Starts tcp-peer.ts in `ns` and waits for its `ready` line. */
export async function startPeer(
  ns: Netns,
  at: PeerAddress,
  opts: { readonly impair?: PeerImpairments; readonly seed?: number; readonly pcap?: string; readonly maxSeconds?: number } = {},
): Promise<JsonChild> {
  const args = ["--tap", at.tap, "--mac", at.mac, "--ip", at.ip, "--seed", String(opts.seed ?? 1)];
  if (at.ip6 !== undefined) args.push("--ip6", at.ip6);
  if (opts.pcap !== undefined) args.push("--pcap", opts.pcap);
  args.push("--max-seconds", String(opts.maxSeconds ?? 300));
  const i = opts.impair ?? {};
  if (i.loss !== undefined) args.push("--loss", String(i.loss));
  if (i.reorder !== undefined) args.push("--reorder", String(i.reorder));
  if (i.reorderDelayMs !== undefined) args.push("--reorder-delay-ms", String(i.reorderDelayMs));
  if (i.duplicate !== undefined) args.push("--duplicate", String(i.duplicate));
  if (i.corrupt !== undefined) args.push("--corrupt", String(i.corrupt));
  const peer = new JsonChild("tcp-peer", ["ip", "netns", "exec", ns.name, process.execPath, "--import", "tsx", TCP_PEER, ...args], {
    cwd: REPO_ROOT,
    stdin: true,
  });
  await peer.waitFor((e) => e.event === "ready", 30_000, "ready line");
  return peer;
}

/** Starts scripts/tcp-kernel-peer.py in `ns` with `args` (see its usage). */
export function startKernelPeer(ns: Netns, args: readonly string[]): JsonChild {
  return new JsonChild("kernel-peer", ["ip", "netns", "exec", ns.name, DEBIAN_PYTHON, KERNEL_PEER, ...args]);
}

/** A running tcpdump writing `file`. */
export interface Capture {
  stop(): Promise<void>;
  readonly stderr: () => string;
}

/** Starts tcpdump on `iface` in `ns` and resolves once it listens (its "listening on" line). */
export async function startCapture(ns: Netns, iface: string, file: string, filter: readonly string[] = []): Promise<Capture> {
  const c = new JsonChild("tcpdump", ["ip", "netns", "exec", ns.name, "tcpdump", "-i", iface, "-n", "-U", "-s", "128", "-w", file, ...filter]);
  const deadline = performance.now() + 10_000;
  while (!/listening on/.test(c.stderr)) {
    if (!c.running || performance.now() > deadline) {
      await c.stop();
      throw new Error(`tcpdump did not start: ${c.stderr}`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    stderr: () => c.stderr,
    async stop() {
      kill(c.child, "SIGINT"); // SIGINT: tcpdump flushes and closes the file
      const t = setTimeout(() => kill(c.child, "SIGKILL"), 5_000);
      await c.exited;
      clearTimeout(t);
    },
  };
}

/** The kernel's SNMP/netstat counters inside `ns` (nstat, absolute values, history untouched). */
export function kernelCounters(ns: Netns): Record<string, number> {
  const text = ns.exec("nstat", ["-asz", "--json"]);
  const parsed = JSON.parse(text) as { kernel?: Record<string, number> };
  return parsed.kernel ?? {};
}

/** `ss -tan` inside `ns`, one entry per socket: state, local, peer. */
export function kernelSockets(ns: Netns): { state: string; local: string; peer: string }[] {
  const text = ns.exec("ss", ["-tanH"]);
  return text
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => {
      const [state = "", , , local = "", peer = ""] = l.trim().split(/\s+/);
      return { state, local, peer };
    });
}

/**
 * The RFC 864 chargen line `n` (0-based), CRLF included. RFC 864, "Data Syntax": number the 95
 * printing ASCII characters (32 space … 126 '~') 0 to 94 as a ring; line N holds characters
 * N mod 95 through 71 + N mod 95.
 */
export function chargenLine(n: number): string {
  let s = "";
  for (let k = 0; k < 72; k++) s += String.fromCharCode(32 + ((n + k) % 95));
  return `${s}\r\n`;
}
