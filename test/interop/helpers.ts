/**
 * Running the `wirestack` command inside a test namespace: `serve` as a long-lived child (wait for
 * its `ready` line, stop it by PID with a signal, check how it exited), one-shot commands, and the
 * Linux tools the interop tests talk to it with (ping, arping, nc, a python UDP client, tshark).
 *
 * Everything is asynchronous on purpose: a serve child with `--pcap -` writes its capture into a
 * pipe this process must keep draining, so the test process never blocks in a synchronous spawn
 * while a serve child runs. Every wait is bounded; every child is killed by its own PID only.
 *
 * `ip netns exec NS CMD` execs CMD in place (no fork), so the PID of the spawned `ip` is the PID of
 * CMD itself and a signal sent to it reaches `wirestack` directly.
 */
import { randomBytes } from "node:crypto";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { tapAvailable } from "../../src/device/tap.ts";
import { netnsSupport, type Netns } from "./netns.ts";

/** bin/wirestack.mjs, the command as users run it. */
export const WIRESTACK_BIN = fileURLToPath(new URL("../../bin/wirestack.mjs", import.meta.url));

/** Debian's python3 (any python3 does for plain sockets; this one is always at the same place). */
const PYTHON = "/usr/bin/python3";

/**
 * Why the TAP interop tests of `file` cannot run here (printed once), or undefined when they can:
 * only a missing /dev/net/tun, missing CAP_NET_ADMIN/root, or an unbuilt addon skips them.
 */
export function interopSkipReason(file: string): string | undefined {
  const support = netnsSupport();
  const reason = !support.ok
    ? support.reason
    : !tapAvailable()
      ? "the TAP addon is not built (node scripts/build-native.mjs)"
      : undefined;
  if (reason !== undefined) console.warn(`${file} skipped: ${reason}`);
  return reason;
}

/** How a child process ended, with everything it printed. */
export interface Exit {
  readonly status: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: Buffer;
  readonly stderr: string;
  /** Milliseconds from start (or, for `stop`, from the signal) to exit. */
  readonly ms: number;
}

/** A child that collects its output; `done` resolves when it has exited and its pipes closed. */
interface Collected {
  readonly child: ChildProcess;
  readonly stdout: () => Buffer;
  readonly stderr: () => string;
  readonly done: Promise<Exit>;
}

const live = new Set<ChildProcess>();

function collect(argv: readonly string[], input: Buffer | undefined, timeoutMs: number): Collected {
  const started = performance.now();
  const [cmd, ...args] = argv as [string, ...string[]];
  const child = spawn(cmd, args, { stdio: [input === undefined ? "ignore" : "pipe", "pipe", "pipe"] });
  live.add(child);
  const out: Buffer[] = [];
  let err = "";
  child.stdout?.on("data", (b: Buffer) => out.push(b));
  child.stderr?.setEncoding("utf8").on("data", (s: string) => (err += s));
  if (input !== undefined) {
    child.stdin?.on("error", () => {}); // a child that exits early closes the pipe: not our failure
    child.stdin?.end(input);
  }
  const timer = setTimeout(() => {
    err += `\n[killed by the test after ${timeoutMs} ms]`;
    killPid(child, "SIGKILL");
  }, timeoutMs);
  const done = new Promise<Exit>((resolve) => {
    child.on("error", (e) => {
      err += String(e);
    });
    let settled = false;
    const finish = (status: number | null, signal: NodeJS.Signals | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      live.delete(child);
      resolve({ status, signal, stdout: Buffer.concat(out), stderr: err, ms: performance.now() - started });
    };
    child.on("close", finish);
    // A grandchild that inherited the pipes (e.g. under `timeout` or `sh -c`) can hold them open
    // after the child exited: give the output a moment to drain, then stop waiting for it.
    child.on("exit", (status, signal) => {
      setTimeout(() => {
        child.stdout?.destroy();
        child.stderr?.destroy();
        finish(status, signal);
      }, 1_000).unref();
    });
  });
  return { child, stdout: () => Buffer.concat(out), stderr: () => err, done };
}

function killPid(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
  try {
    process.kill(child.pid, signal);
  } catch {
    // Already exited between the check and the kill.
  }
}

/** The argv that runs `cmd args…` inside `ns` (or in this namespace when `ns` is undefined). */
function inNs(ns: Netns | undefined, cmd: string, args: readonly string[]): string[] {
  return ns === undefined ? [cmd, ...args] : ["ip", "netns", "exec", ns.name, cmd, ...args];
}

/** Runs `cmd args…` inside `ns` to completion (killed after `timeoutMs`); never rejects. */
export function runIn(
  ns: Netns | undefined,
  cmd: string,
  args: readonly string[],
  opts: { readonly input?: Buffer; readonly timeoutMs?: number } = {},
): Promise<Exit> {
  return collect(inNs(ns, cmd, args), opts.input, opts.timeoutMs ?? 20_000).done;
}

/** Runs `node bin/wirestack.mjs args…` inside `ns` to completion. */
export function runWirestack(ns: Netns | undefined, args: readonly string[], timeoutMs = 30_000): Promise<Exit> {
  return runIn(ns, process.execPath, [WIRESTACK_BIN, ...args], { timeoutMs });
}

/** Runs `cmd args…` inside `ns`; resolves to its stdout, rejects with its stderr when it fails. */
export async function execIn(ns: Netns, cmd: string, args: readonly string[], timeoutMs = 20_000): Promise<string> {
  const r = await runIn(ns, cmd, args, { timeoutMs });
  if (r.status !== 0) {
    throw new Error(`${cmd} ${args.join(" ")} → status ${r.status} signal ${r.signal}: ${r.stderr.trim()}`);
  }
  return r.stdout.toString("utf8");
}

/** A running `wirestack serve`. */
export interface ServeProcess {
  readonly pid: number;
  /** The `ready …` line, without its newline. */
  readonly readyLine: string;
  /** Everything written so far (stdout is the capture with `--pcap -`). */
  stdout(): Buffer;
  stderr(): string;
  /** Whether the process is still running. */
  running(): boolean;
  /**
   * Sends `signal` to the process and waits up to `timeoutMs` for it to exit; past that it is killed
   * (SIGKILL) and the result says so through `signal`. `ms` is measured from the signal.
   */
  stop(signal?: NodeJS.Signals, timeoutMs?: number): Promise<Exit>;
}

/**
 * Starts `wirestack serve args…` inside `ns` and resolves once it prints a line beginning with
 * `ready` (on stdout, or on stderr when the capture goes to stdout with `--pcap -`). Rejects, with
 * the child's stderr, when it exits first or prints nothing within `readyTimeoutMs`; either way the
 * child is gone by then.
 */
export async function startServe(ns: Netns, args: readonly string[], readyTimeoutMs = 30_000): Promise<ServeProcess> {
  const onStderr = args.includes("-") && args[args.indexOf("-") - 1] === "--pcap";
  const c = collect(inNs(ns, process.execPath, [WIRESTACK_BIN, "serve", ...args]), undefined, 10 * 60_000);
  const firstReady = (): string | undefined => {
    const text = onStderr ? c.stderr() : c.stdout().toString("latin1");
    return text.split("\n").find((l, i, all) => l.startsWith("ready") && i < all.length - 1);
  };
  const deadline = performance.now() + readyTimeoutMs;
  let exited: Exit | undefined;
  void c.done.then((e) => (exited = e));
  for (;;) {
    const line = firstReady();
    if (line !== undefined) {
      return {
        pid: c.child.pid as number,
        readyLine: line,
        stdout: c.stdout,
        stderr: c.stderr,
        running: () => exited === undefined,
        async stop(signal = "SIGTERM", timeoutMs = 5_000) {
          const sentAt = performance.now();
          killPid(c.child, signal);
          const timer = setTimeout(() => killPid(c.child, "SIGKILL"), timeoutMs);
          const e = await c.done;
          clearTimeout(timer);
          return { ...e, ms: performance.now() - sentAt };
        },
      };
    }
    if (exited !== undefined) {
      throw new Error(`wirestack serve exited (status ${exited.status}, signal ${exited.signal}) before ready: ${exited.stderr.trim()}`);
    }
    if (performance.now() > deadline) {
      killPid(c.child, "SIGKILL");
      const e = await c.done;
      throw new Error(`wirestack serve printed no ready line within ${readyTimeoutMs} ms; stderr: ${e.stderr.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * Stops every child this module started that is still running, by PID: SIGTERM (which `timeout`
 * and shells pass on), then SIGKILL after 2 s. For afterAll.
 */
export async function killAllChildren(): Promise<void> {
  const children = [...live];
  const closed = Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r(undefined) : c.once("exit", r)))));
  for (const c of children) killPid(c, "SIGTERM");
  const bounded = (ms: number): Promise<unknown> => Promise.race([closed, new Promise((r) => setTimeout(r, ms))]);
  await bounded(2_000);
  for (const c of children) killPid(c, "SIGKILL");
  await bounded(3_000);
}

/** ping's summary line, parsed: `3 packets transmitted, 3 received, …`. */
export function pingSummary(output: string): { transmitted: number; received: number } | undefined {
  const m = /(\d+) packets transmitted, (\d+) received/.exec(output);
  return m === null ? undefined : { transmitted: Number(m[1]), received: Number(m[2]) };
}

/** What one UDP request got back. */
export type UdpOutcome =
  | { readonly kind: "reply"; readonly data: Buffer; readonly from: string }
  | { readonly kind: "timeout" }
  | { readonly kind: "refused" };

const UDP_CLIENT = `
import socket, sys, binascii
family, host, port, wait, payload = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), binascii.unhexlify(sys.argv[5])
s = socket.socket(socket.AF_INET6 if family == "6" else socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(wait)
s.connect((host, port))  # connected: an ICMP port unreachable comes back as ECONNREFUSED
s.send(payload)
try:
    data, addr = s.recvfrom(65535)
    print("reply", addr[0], binascii.hexlify(data).decode())
except socket.timeout:
    print("timeout")
except ConnectionRefusedError:
    print("refused")
`;

/**
 * Sends one datagram from a connected kernel UDP socket inside `ns` and reports the first thing
 * that comes back within `waitMs`: a reply (exactly one datagram), an ICMP error (refused), or nothing.
 */
export async function udpRequest(
  ns: Netns,
  family: 4 | 6,
  host: string,
  port: number,
  payload: Uint8Array,
  waitMs = 2_000,
): Promise<UdpOutcome> {
  const hex = Buffer.from(payload).toString("hex");
  const r = await runIn(ns, PYTHON, ["-c", UDP_CLIENT, String(family), host, String(port), String(waitMs / 1000), hex], {
    timeoutMs: waitMs + 10_000,
  });
  const out = r.stdout.toString("utf8").trim().split(" ");
  if (r.status !== 0) throw new Error(`UDP client failed (status ${r.status}): ${r.stderr.trim()}`);
  switch (out[0]) {
    case "reply":
      return { kind: "reply", from: out[1] ?? "", data: Buffer.from(out[2] ?? "", "hex") };
    case "timeout":
      return { kind: "timeout" };
    case "refused":
      return { kind: "refused" };
    default:
      throw new Error(`UDP client printed ${JSON.stringify(r.stdout.toString("utf8"))}`);
  }
}

/**
 * Random test data that starts with ASCII text, so that no tshark heuristic dissector (RTCP, STUN,
 * QUIC, …) takes a datagram to an unregistered port for its protocol and reports it malformed: one
 * random 20-byte datagram in ~16 000 starts like an RTCP sender report.
 */
export function testPayload(size: number): Buffer {
  const data = randomBytes(size);
  data.write("wirestack test: ".slice(0, size), 0, "latin1");
  return data;
}

/**
 * Display filter for frames tshark finds broken: malformed, any expert item of error severity, or
 * a bad IPv4/UDP/ICMP/ICMPv6/TCP checksum (a bad checksum is only a warning in Wireshark's expert
 * system, hence the explicit status fields; TCP's needs tcp.check_checksum, TSHARK_CHECKSUM_PREFS).
 *
 * One "Bad" TCP status is not ours to fix: "TCP checksum 0xFFFF instead of 0x0000" (tcp.checksum.ffff).
 * Linux builds TCP segments with a partial checksum and, for a device without checksum offload (a
 * plain TAP), completes it in skb_checksum_help, which stores a sum of 0 as 0xFFFF (CSUM_MANGLED_0):
 * one kernel segment in 65 536 carries it, and it verifies (0xFFFF and 0 are both zero in one's
 * complement, RFC 1624 §3). Our stack's own TCP checksums are never 0xFFFF (the complement of a
 * folded sum is 0xFFFF only for an all-zero sum, which the pseudo-header's protocol 6 excludes), and
 * the offload path stores 0 (test/unit/device/gso.test.ts).
 */
export const TSHARK_BROKEN_FILTER =
  '_ws.malformed || _ws.expert.severity >= "Error" || ip.checksum.status == "Bad" || udp.checksum.status == "Bad" || ' +
  'icmp.checksum.status == "Bad" || icmpv6.checksum.status == "Bad" || (tcp.checksum.status == "Bad" && !tcp.checksum.ffff)';

/** tshark with checksum validation on for every protocol that has the preference. */
export const TSHARK_CHECKSUM_PREFS = [
  "-o",
  "ip.check_checksum:TRUE",
  "-o",
  "udp.check_checksum:TRUE",
  "-o",
  "tcp.check_checksum:TRUE",
] as const;

/**
 * Runs tshark (in this namespace: it only reads files) and returns its stdout; throws on failure.
 * With `input`, tshark reads it from a real pipe (`cat FILE | tshark -r - …`), as a live reader of
 * `serve --pcap -` would: Node's own stdio "pipes" are socketpairs, which tshark refuses.
 */
export async function tshark(args: readonly string[], input?: Buffer): Promise<string> {
  let argv: string[] = ["tshark", ...TSHARK_CHECKSUM_PREFS, ...args];
  let tmp: string | undefined;
  if (input !== undefined) {
    tmp = mkdtempSync(join(tmpdir(), "wstshark-"));
    const file = join(tmp, "stdin.pcap");
    writeFileSync(file, input);
    argv = ["sh", "-c", 'f="$1"; shift; cat "$f" | exec "$@"', "sh", file, ...argv];
  }
  try {
    const r = await runIn(undefined, argv[0] as string, argv.slice(1), { timeoutMs: 60_000 });
    if (r.status !== 0) throw new Error(`tshark ${args.join(" ")} → status ${r.status}: ${r.stderr.trim()}`);
    return r.stdout.toString("utf8");
  } finally {
    if (tmp !== undefined) rmSync(tmp, { recursive: true, force: true });
  }
}
