/**
 * Network namespaces for interop tests: create one, run commands inside it, delete it.
 *
 * Every namespace is named `<prefix>-<pid>-<n>` so parallel runs never collide and a leftover is
 * traceable to its process; `deleteAll()` (call it from afterAll) removes every namespace this
 * process created, even if a test failed halfway. Traffic never leaves the namespaces: the Linux
 * side of each test lives inside one, and devices moved into it die with it.
 *
 * Commands run with execFileSync and a timeout (they block the event loop: use `spawn` when the
 * test process must keep receiving frames while the command runs).
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { accessSync, constants } from "node:fs";

/** Whether this process can create namespaces and TAP devices; `reason` says why not. */
export function netnsSupport(): { readonly ok: true } | { readonly ok: false; readonly reason: string } {
  if (process.platform !== "linux") return { ok: false, reason: `not Linux (${process.platform})` };
  if (process.getuid?.() !== 0) return { ok: false, reason: "not root (interop tests need CAP_NET_ADMIN)" };
  try {
    accessSync("/dev/net/tun", constants.R_OK | constants.W_OK);
  } catch {
    return { ok: false, reason: "/dev/net/tun is missing (modprobe tun)" };
  }
  try {
    execFileSync("ip", ["-V"], { stdio: "ignore", timeout: 5_000 });
  } catch {
    return { ok: false, reason: "the ip command (iproute2) is missing" };
  }
  return { ok: true };
}

/** Result of a command run to completion. */
export interface RunResult {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** One namespace created by `createNetns`. */
export interface Netns {
  readonly name: string;
  /** Runs `cmd args…` inside the namespace; throws (with stderr) if it exits non-zero. */
  exec(cmd: string, args?: readonly string[], timeoutMs?: number): string;
  /** Runs `cmd args…` inside the namespace and returns the result whatever the exit status. */
  run(cmd: string, args?: readonly string[], timeoutMs?: number): RunResult;
  /** Starts `cmd args…` inside the namespace without blocking; resolves when it exits. */
  spawn(cmd: string, args?: readonly string[], timeoutMs?: number): { child: ChildProcess; done: Promise<RunResult> };
  /** Deletes the namespace (and every virtual device in it). Idempotent. */
  delete(): void;
}

const created = new Set<string>();
// A crashed test still removes its namespaces when the process exits normally or by exception.
process.once("exit", () => deleteAllNetns());
let counter = 0;

function nsArgs(name: string, cmd: string, args: readonly string[]): string[] {
  return ["netns", "exec", name, cmd, ...args];
}

/** Creates a namespace named `<prefix>-<pid>-<n>` with its loopback up. */
export function createNetns(prefix = "ws"): Netns {
  const name = `${prefix}-${process.pid}-${counter++}`;
  execFileSync("ip", ["netns", "add", name], { stdio: "pipe", timeout: 10_000 });
  created.add(name);
  const ns: Netns = {
    name,
    exec(cmd, args = [], timeoutMs = 10_000) {
      return execFileSync("ip", nsArgs(name, cmd, args), { encoding: "utf8", stdio: "pipe", timeout: timeoutMs });
    },
    run(cmd, args = [], timeoutMs = 10_000) {
      try {
        const stdout = execFileSync("ip", nsArgs(name, cmd, args), {
          encoding: "utf8",
          stdio: "pipe",
          timeout: timeoutMs,
        });
        return { status: 0, stdout, stderr: "" };
      } catch (e) {
        const err = e as { status?: number | null; stdout?: string; stderr?: string };
        return { status: err.status ?? null, stdout: err.stdout ?? "", stderr: err.stderr ?? "" };
      }
    },
    spawn(cmd, args = [], timeoutMs = 10_000) {
      const child = spawn("ip", nsArgs(name, cmd, args), { stdio: ["ignore", "pipe", "pipe"], timeout: timeoutMs });
      let stdout = "";
      let stderr = "";
      child.stdout?.setEncoding("utf8").on("data", (s: string) => (stdout += s));
      child.stderr?.setEncoding("utf8").on("data", (s: string) => (stderr += s));
      const done = new Promise<RunResult>((resolve) => {
        child.on("close", (status) => resolve({ status, stdout, stderr }));
        child.on("error", (e) => resolve({ status: null, stdout, stderr: stderr + String(e) }));
      });
      return { child, done };
    },
    delete() {
      deleteNetns(name);
    },
  };
  ns.exec("ip", ["link", "set", "lo", "up"]);
  return ns;
}

function deleteNetns(name: string): void {
  if (!created.has(name)) return;
  try {
    execFileSync("ip", ["netns", "del", name], { stdio: "pipe", timeout: 10_000 });
  } catch {
    // Already gone (deleted by hand); nothing left to clean.
  }
  created.delete(name);
}

/** Deletes every namespace this process created. Call from afterAll. */
export function deleteAllNetns(): void {
  for (const name of [...created]) deleteNetns(name);
}

/** Runs `ip args…` in the current (root) namespace; throws with stderr on failure. */
export function ip(...args: string[]): string {
  return execFileSync("ip", args, { encoding: "utf8", stdio: "pipe", timeout: 10_000 });
}
