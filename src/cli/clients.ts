/**
 * The stack as a client (DESIGN.md, the command-line contract):
 *   wirestack get  --tap NAME --ip A/N [--ip6 A/N] URL [-o FILE]          http:// and ftp://
 *   wirestack put  --tap NAME --ip A/N [--ip6 A/N] FILE ftp://[user:pass@]HOST/PATH
 *   wirestack mail --tap NAME --ip A/N [--ip6 A/N] --server HOST[:PORT] --from A --to B [FILE]
 * Hosts are IP literals (no name resolution); IPv6 ones in brackets in URLs. Exit 0 on success,
 * 1 with one line on failure.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { UsageError, parseArgs, type ParsedArgs } from "./args.ts";
import { TAP_FLAGS, stackOnTap } from "./serve.ts";
import { stackNetFaces } from "../host/stack-net.ts";
import { hostTimers } from "../host/node-net.ts";
import { httpRequest } from "../app/http/client.ts";
import { ftpConnect } from "../app/ftp/client.ts";
import { sendMail } from "../app/smtp/client.ts";
import type { Stack } from "../stack.ts";

/** Host text from a URL's host part: brackets removed from IPv6 literals. */
function bareHost(hostname: string): string {
  return hostname.startsWith("[") && hostname.endsWith("]") ? hostname.slice(1, -1) : hostname;
}

function parseUrl(text: string, schemes: readonly string[]): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`'${text}' is not a URL (write e.g. http://10.0.0.2/file or ftp://user:pass@10.0.0.2/file)`);
  }
  if (!schemes.includes(url.protocol.slice(0, -1))) throw new UsageError(`'${url.protocol}' URLs are not supported here (use ${schemes.join(":// or ")}://)`);
  return url;
}

/** Where and as whom an ftp:// URL logs in (anonymous when it names no user). */
function ftpLogin(url: URL): Parameters<typeof ftpConnect>[1] {
  return {
    host: bareHost(url.hostname),
    port: url.port === "" ? 21 : Number(url.port),
    user: url.username === "" ? "anonymous" : decodeURIComponent(url.username),
    password: url.password === "" ? "anonymous@" : decodeURIComponent(url.password),
    timers: hostTimers(),
  };
}

async function withStack<T>(args: ParsedArgs, fn: (stack: Stack) => Promise<T>): Promise<T> {
  const stack = await stackOnTap(args);
  try {
    return await fn(stack);
  } finally {
    await stack.close();
  }
}

function output(args: ParsedArgs, data: Uint8Array): void {
  const out = args.flags.get("-o");
  if (typeof out === "string" && out !== "-") writeFileSync(out, data);
  else process.stdout.write(data);
}

export async function runGet(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, { ...TAP_FLAGS, "-o": true });
  const target = args.positional[0];
  if (target === undefined || args.positional.length > 1) throw new UsageError("usage: wirestack get --tap NAME --ip A/N URL [-o FILE]");
  const url = parseUrl(target, ["http", "ftp"]);
  return withStack(args, async (stack) => {
    const faces = stackNetFaces(stack);
    if (url.protocol === "http:") {
      const res = await httpRequest(faces, { method: "GET", url: url.href });
      if (res.status < 200 || res.status > 299) {
        process.stderr.write(`wirestack: ${url.href}: HTTP ${res.status} ${res.reason}\n`);
        return 1;
      }
      output(args, res.body);
      return 0;
    }
    const client = await ftpConnect(faces, ftpLogin(url));
    try {
      const path = decodeURIComponent(url.pathname);
      const data = path.endsWith("/") ? new TextEncoder().encode(await client.list(path)) : await client.retrieve(path);
      output(args, data);
    } finally {
      await client.quit().catch(() => {});
    }
    return 0;
  });
}

export async function runPut(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, TAP_FLAGS);
  const [file, target] = args.positional;
  if (file === undefined || target === undefined || args.positional.length > 2) {
    throw new UsageError("usage: wirestack put --tap NAME --ip A/N FILE ftp://[user:pass@]HOST/PATH");
  }
  const url = parseUrl(target, ["ftp"]);
  let data: Uint8Array;
  try {
    data = readFileSync(file);
  } catch (err) {
    throw new Error(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return withStack(args, async (stack) => {
    const client = await ftpConnect(stackNetFaces(stack), ftpLogin(url));
    try {
      let path = decodeURIComponent(url.pathname);
      if (path === "" || path.endsWith("/")) path += file.split("/").pop();
      await client.store(path, data);
    } finally {
      await client.quit().catch(() => {});
    }
    return 0;
  });
}

export async function runMail(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, { ...TAP_FLAGS, "--server": true, "--from": true, "--to": true, "--helo": true });
  const server = args.flags.get("--server");
  const from = args.flags.get("--from");
  const to = args.flags.get("--to");
  if (typeof server !== "string" || typeof from !== "string" || typeof to !== "string" || args.positional.length > 1) {
    throw new UsageError("usage: wirestack mail --tap NAME --ip A/N --server HOST[:PORT] --from A --to B [FILE]");
  }
  // HOST, HOST:PORT, [V6], [V6]:PORT, or a bare IPv6 literal.
  const m = /^\[([^\]]+)\](?::(\d+))?$/.exec(server) ?? /^([^:]+)(?::(\d+))?$/.exec(server);
  const host = m ? (m[1] as string) : server;
  const port = m?.[2] !== undefined ? Number(m[2]) : 25;
  const file = args.positional[0];
  let data: Uint8Array;
  try {
    data = file === undefined || file === "-" ? readFileSync(0) : readFileSync(file);
  } catch (err) {
    throw new Error(`cannot read ${file ?? "standard input"}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const helo = args.flags.get("--helo");
  return withStack(args, async (stack) => {
    const res = await sendMail(stackNetFaces(stack), {
      host,
      port,
      from,
      to: to.split(","),
      data,
      ...(typeof helo === "string" ? { helo } : {}),
      timers: hostTimers(),
      timeoutMs: 30_000,
    });
    process.stderr.write(`wirestack: mail accepted: ${res.code} ${res.text}\n`);
    return 0;
  });
}
