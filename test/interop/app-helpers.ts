/**
 * What the application interop tests (apps.test.ts, apps-clients.test.ts) add to helpers.ts: a
 * long-lived kernel-side server (python's http.server, pyftpdlib, aiosmtpd) started inside a test
 * namespace and stopped by its own PID, a bounded wait until a TCP port listens there, SHA-256,
 * and the newest `.eml` file `serve --mail` stored, split at its Received header.
 *
 * `ip netns exec NS CMD` execs CMD in place, so the spawned PID is the server's own PID and a
 * signal sent to it reaches the server directly (as helpers.ts relies on for serve).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { runIn } from "./helpers.ts";
import type { Netns } from "./netns.ts";

/** Debian's python3: the one with pyftpdlib and aiosmtpd. */
export const DEBIAN_PYTHON = "/usr/bin/python3";

/** Lower-case hex SHA-256 of `data`. */
export function sha256(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** A server process running inside a test namespace. */
export interface KernelServer {
  readonly pid: number;
  /** Everything it printed so far, stdout and stderr interleaved. */
  output(): string;
  /** SIGTERM, then SIGKILL after `timeoutMs`; resolves once it has exited. Idempotent. */
  stop(timeoutMs?: number): Promise<void>;
}

/**
 * Starts `cmd args…` inside `ns` and waits (at most `readyTimeoutMs`) until something listens on
 * TCP `port` there. Rejects, with the child's output, if it exits first or never listens; the child
 * is stopped either way. `lifetimeMs` bounds the child's whole life (SIGKILL past it).
 */
export async function startKernelServer(
  ns: Netns,
  cmd: string,
  args: readonly string[],
  port: number,
  { readyTimeoutMs = 15_000, lifetimeMs = 5 * 60_000 } = {},
): Promise<KernelServer> {
  const child: ChildProcess = spawn("ip", ["netns", "exec", ns.name, cmd, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let out = "";
  child.stdout?.setEncoding("latin1").on("data", (s: string) => (out += s));
  child.stderr?.setEncoding("latin1").on("data", (s: string) => (out += s));
  const exited = new Promise<void>((resolve) => {
    child.on("exit", () => resolve());
    child.on("error", (e) => {
      out += String(e);
      resolve();
    });
  });
  let gone = false;
  void exited.then(() => (gone = true));
  const lifetime = setTimeout(() => kill("SIGKILL"), lifetimeMs);
  lifetime.unref();
  function kill(signal: NodeJS.Signals): void {
    if (gone || child.pid === undefined) return;
    try {
      process.kill(child.pid, signal);
    } catch {
      // Exited between the check and the kill.
    }
  }
  const server: KernelServer = {
    pid: child.pid ?? -1,
    output: () => out,
    async stop(timeoutMs = 3_000) {
      clearTimeout(lifetime);
      kill("SIGTERM");
      const timer = setTimeout(() => kill("SIGKILL"), timeoutMs);
      await exited;
      clearTimeout(timer);
    },
  };
  const deadline = performance.now() + readyTimeoutMs;
  while (!(await listening(ns, port))) {
    if (gone || performance.now() > deadline) {
      await server.stop();
      throw new Error(`${cmd} ${args.join(" ")} did not listen on port ${port} within ${readyTimeoutMs} ms: ${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return server;
}

/** Whether a TCP socket listens on `port` (any address) inside `ns`. */
async function listening(ns: Netns, port: number): Promise<boolean> {
  const r = await runIn(ns, "ss", ["-Hltn", `sport = :${port}`], { timeoutMs: 5_000 });
  return r.status === 0 && r.stdout.toString("utf8").trim() !== "";
}

/** One message as `serve --mail` stores it: our Received header line, then the client's bytes. */
export interface StoredMail {
  readonly name: string;
  /** `Received: …\r\n` (RFC 5321 §4.4), which our server prepends. */
  readonly received: string;
  /** Everything after it: the message as the client sent it, dot-unstuffed. */
  readonly content: Buffer;
}

/** The `.eml` files under `dir`, oldest first (hidden temporary files ignored). */
export function storedMail(dir: string): StoredMail[] {
  return readdirSync(dir)
    .filter((n) => n.endsWith(".eml") && !n.startsWith("."))
    .map((name) => ({ name, mtime: statSync(join(dir, name)).mtimeMs }))
    .sort((a, b) => a.mtime - b.mtime || a.name.localeCompare(b.name))
    .map(({ name }) => {
      const bytes = readFileSync(join(dir, name));
      const eol = bytes.indexOf("\r\n");
      const cut = eol < 0 ? 0 : eol + 2;
      return { name, received: bytes.subarray(0, cut).toString("latin1"), content: bytes.subarray(cut) };
    });
}
