/**
 * `wirestack serve --tap NAME --mac MAC --ip A.B.C.D/N [--ip6 ADDR/N] [--gateway ADDR]
 *  [--services LIST] [--pcap FILE|-]` (DESIGN.md, the command-line contract).
 *
 * Attaches (or creates) TAP device NAME in the current network namespace, answers on it, and prints
 * one line beginning with `ready` once attached and listening. The line goes to stdout, except with
 * `--pcap -`, where stdout carries the capture and the line goes to stderr. SIGINT and SIGTERM flush
 * the capture, close everything and exit 0.
 *
 * Services (src/cli/services.ts, shared with `wirestack replay`), on every IPv4 and IPv6 address of
 * the stack: echo (RFC 862) on TCP and UDP port 7, discard (RFC 863) on TCP and UDP port 9, chargen
 * (RFC 864) on TCP port 19, and http, smtp, ftp over host directories.
 */
import { openTap } from "../device/tap.ts";
import { createStack, type Stack } from "../stack.ts";
import { UsageError, parseArgs } from "./args.ts";
import { traceTcp } from "../api/tcp-trace.ts";
import { SERVICE_FLAGS, serviceOptionsFromArgs, startServices } from "./services.ts";

export { chargenLines } from "./services.ts";

/** Flags shared by every command that puts a stack on a TAP device. */
export const TAP_FLAGS = {
  "--tap": true,
  "--mac": true,
  "--ip": true,
  "--ip6": true,
  "--gateway": true,
  "--pcap": true,
  "--seed": true,
} as const;

function listFlag(args: ReturnType<typeof parseArgs>, name: string): string[] {
  const v = args.flags.get(name);
  return typeof v === "string" ? v.split(",").filter((s) => s.length > 0) : [];
}

/** Opens the TAP device and builds a stack from the shared flags. */
export async function stackOnTap(args: ReturnType<typeof parseArgs>): Promise<Stack> {
  const tap = args.flags.get("--tap");
  if (typeof tap !== "string") throw new UsageError("--tap NAME is required (the TAP device to attach to)");
  const ip = listFlag(args, "--ip");
  const ip6 = listFlag(args, "--ip6");
  if (ip.length === 0 && ip6.length === 0) throw new UsageError("give --ip A.B.C.D/N (and/or --ip6 ADDR/N)");
  const seed = args.flags.get("--seed");
  const device = await openTap(tap);
  const mac = args.flags.get("--mac");
  const gateway = listFlag(args, "--gateway");
  const pcap = args.flags.get("--pcap");
  try {
    return createStack({
      device,
      ...(typeof mac === "string" ? { mac } : {}),
      ipv4: ip,
      ipv6: ip6,
      gateway,
      ...(typeof pcap === "string" ? { pcap } : {}),
      ...(typeof seed === "string" ? { seed: Number(seed) } : {}),
      // Addresses given on the command line are the user's to vouch for; DAD would delay `ready`
      // by a second and the kernel side is usually configured with nodad too.
      dad: false,
    });
  } catch (err) {
    device.close();
    throw err;
  }
}

export async function runServe(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, { ...TAP_FLAGS, ...SERVICE_FLAGS, "--trace": true });
  if (args.positional.length > 0) throw new UsageError(`unexpected argument '${args.positional[0]}'`);
  const trace = args.flags.get("--trace");
  if (trace !== undefined && trace !== "tcp") throw new UsageError(`--trace ${String(trace)}: only 'tcp' can be traced`);
  const serviceOptions = serviceOptionsFromArgs(args);
  const services = serviceOptions.services;
  const stack = await stackOnTap(args);
  if (trace === "tcp") traceTcp(stack, (line) => process.stderr.write(line));
  const running = await startServices(stack, serviceOptions);
  const toStderr = args.flags.get("--pcap") === "-";
  const addrs = [...listFlag(args, "--ip"), ...listFlag(args, "--ip6")].join(" ");
  const line = `ready ${stack.device.name} ${args.flags.get("--mac") ?? ""} ${addrs} services=${services.join(",")}\n`.replace(/  +/g, " ");
  (toStderr ? process.stderr : process.stdout).write(line);

  await new Promise<void>((resolve) => {
    const stop = () => resolve();
    process.once("SIGINT", stop);
    process.once("SIGTERM", stop);
    // The device holds the process open; nothing else to wait for.
  });
  await running.close();
  await stack.close();
  return 0;
}
