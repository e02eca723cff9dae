/**
 * `wirestack serve --tap NAME --mac MAC --ip A.B.C.D/N [--ip6 ADDR/N] [--gateway ADDR]
 *  [--services LIST] [--pcap FILE|-]` (DESIGN.md, the command-line contract).
 *
 * Attaches (or creates) TAP device NAME in the current network namespace, answers on it, and prints
 * one line beginning with `ready` once attached and listening. The line goes to stdout, except with
 * `--pcap -`, where stdout carries the capture and the line goes to stderr. SIGINT and SIGTERM flush
 * the capture, close everything and exit 0.
 */
import { openTap } from "../device/tap.ts";
import { createStack, type Stack } from "../stack.ts";
import { UsageError, parseArgs } from "./args.ts";
import type { UdpSocket } from "../api/udp-socket.ts";

/** Services this build offers, and what each needs. */
const SERVICES = ["echo", "discard"] as const;
type Service = (typeof SERVICES)[number];
/** Services in DESIGN.md's contract that arrive with later layers (TCP, applications). */
const LATER = new Set(["chargen", "http", "smtp", "ftp"]);

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
  const args = parseArgs(argv, { ...TAP_FLAGS, "--services": true, "--www": true, "--mail": true, "--ftp-root": true, "--ftp-user": true });
  if (args.positional.length > 0) throw new UsageError(`unexpected argument '${args.positional[0]}'`);
  const services = args.flags.has("--services") ? listFlag(args, "--services") : [...SERVICES];
  for (const s of services) {
    if (LATER.has(s)) throw new UsageError(`service '${s}' is not available in this build yet (available: ${SERVICES.join(", ")})`);
    if (!(SERVICES as readonly string[]).includes(s)) throw new UsageError(`unknown service '${s}' (available: ${SERVICES.join(", ")})`);
  }
  const stack = await stackOnTap(args);
  const sockets: UdpSocket[] = [];
  for (const s of services as Service[]) {
    const port = s === "echo" ? 7 : 9;
    const sock = stack.udp.bind(port);
    if (s === "echo") sock.on("message", (msg, rinfo) => sock.send(msg, rinfo.port, rinfo.address));
    sockets.push(sock);
  }
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
  for (const s of sockets) s.close();
  await stack.close();
  return 0;
}
