/**
 * `wirestack serve --tap NAME --mac MAC --ip A.B.C.D/N [--ip6 ADDR/N] [--gateway ADDR]
 *  [--services LIST] [--pcap FILE|-]` (DESIGN.md, the command-line contract).
 *
 * Attaches (or creates) TAP device NAME in the current network namespace, answers on it, and prints
 * one line beginning with `ready` once attached and listening. The line goes to stdout, except with
 * `--pcap -`, where stdout carries the capture and the line goes to stderr. SIGINT and SIGTERM flush
 * the capture, close everything and exit 0.
 *
 * Services, on every IPv4 and IPv6 address of the stack: echo (RFC 862) on TCP and UDP port 7,
 * discard (RFC 863) on TCP and UDP port 9, chargen (RFC 864) on TCP port 19.
 */
import { openTap } from "../device/tap.ts";
import { createStack, type Stack } from "../stack.ts";
import { UsageError, parseArgs } from "./args.ts";
import type { UdpSocket } from "../api/udp-socket.ts";
import type { TcpServer } from "../api/tcp-server.ts";
import type { TcpSocket } from "../api/tcp-socket.ts";
import { traceTcp } from "../api/tcp-trace.ts";
import { existsSync, statSync } from "node:fs";
import { stackNetFaces } from "../host/stack-net.ts";
import { hostTimers } from "../host/node-net.ts";
import { fsFileSource, wallClock } from "../host/http-files.ts";
import { DirectoryMailStore } from "../host/mail-store.ts";
import { directoryFtpFileSystem } from "../host/ftp-files.ts";
import { HttpServer } from "../app/http/server.ts";
import { staticHandler } from "../app/http/static.ts";
import { serveSmtp } from "../app/smtp/server.ts";
import { listenFtp } from "../app/ftp/server.ts";
import type { AppServer } from "../app/net-faces.ts";

/** The byte services (RFC 862, 863, 864): always on unless --services says otherwise. */
const SERVICES = ["echo", "discard", "chargen"] as const;
type Service = (typeof SERVICES)[number];
/** Application services, each needing its directory flag. */
const APPS = { http: "--www", smtp: "--mail", ftp: "--ftp-root" } as const;
type AppService = keyof typeof APPS;
const ALL_SERVICES = [...SERVICES, ...Object.keys(APPS)];

/** Well-known ports (RFC 862, 863, 864). */
const PORT: Record<Service, number> = { echo: 7, discard: 9, chargen: 19 };

/** RFC 864: lines of 72 characters from the 95 printable ASCII characters, each starting one further. */
const CHARGEN_LINE = 72;
const PRINTABLE = Array.from({ length: 95 }, (_, i) => String.fromCharCode(32 + i)).join("");

/** Lines `first` … `first + count − 1` of the RFC 864 pattern, each ending CR LF. */
export function chargenLines(first: number, count: number): Buffer {
  let text = "";
  for (let i = 0; i < count; i++) {
    const start = (first + i) % PRINTABLE.length;
    text += (PRINTABLE + PRINTABLE).slice(start, start + CHARGEN_LINE) + "\r\n";
  }
  return Buffer.from(text, "latin1");
}

/** RFC 862: whatever arrives goes back; the peer's FIN ends our side too (net's allowHalfOpen off). */
function serveEcho(sock: TcpSocket): void {
  sock.pipe(sock);
}

/** RFC 863: read and throw away. */
function serveDiscard(sock: TcpSocket): void {
  sock.resume();
}

/**
 * RFC 864: send lines until the peer closes, input thrown away. Writes until the socket's buffer is
 * full and waits for 'drain', so the stream follows the peer's window instead of filling memory.
 */
function serveChargen(sock: TcpSocket): void {
  let line = 0;
  const pump = (): void => {
    // Bounded: write() turns false once the Duplex buffer passes its high-water mark.
    for (let i = 0; i < 64 && !sock.destroyed && sock.writable; i++) {
      const ok = sock.write(chargenLines(line, 14));
      line = (line + 14) % PRINTABLE.length;
      if (!ok) return;
    }
    if (!sock.destroyed && sock.writable) setImmediate(pump);
  };
  sock.on("drain", pump);
  sock.resume();
  pump();
}

/** Starts the TCP side of a service. */
function tcpService(stack: Stack, s: Service): TcpServer {
  const handler = s === "echo" ? serveEcho : s === "discard" ? serveDiscard : serveChargen;
  return stack.tcp.listen(PORT[s], (sock) => {
    // A peer's reset is the peer's business: nothing to report, the socket just closes.
    sock.on("error", () => {});
    handler(sock);
  });
}

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
  const args = parseArgs(argv, { ...TAP_FLAGS, "--services": true, "--www": true, "--mail": true, "--ftp-root": true, "--ftp-user": true, "--trace": true });
  if (args.positional.length > 0) throw new UsageError(`unexpected argument '${args.positional[0]}'`);
  const trace = args.flags.get("--trace");
  if (trace !== undefined && trace !== "tcp") throw new UsageError(`--trace ${String(trace)}: only 'tcp' can be traced`);
  // Default: the byte services, plus each application whose directory was given.
  const services = args.flags.has("--services")
    ? listFlag(args, "--services")
    : [...SERVICES, ...(Object.keys(APPS) as AppService[]).filter((a) => args.flags.has(APPS[a]))];
  for (const s of services) {
    if (!ALL_SERVICES.includes(s)) throw new UsageError(`unknown service '${s}' (available: ${ALL_SERVICES.join(", ")})`);
    if (s in APPS) {
      const flag = APPS[s as AppService];
      const dir = args.flags.get(flag);
      if (typeof dir !== "string") throw new UsageError(`service '${s}' needs ${flag} DIR`);
      if (!existsSync(dir) || !statSync(dir).isDirectory()) throw new UsageError(`${flag} ${dir}: not a directory (create it first)`);
    }
  }
  const ftpUser = args.flags.get("--ftp-user");
  let ftpCreds: { name: string; password: string } | undefined;
  if (typeof ftpUser === "string") {
    const colon = ftpUser.indexOf(":");
    if (colon <= 0) throw new UsageError("--ftp-user takes USER:PASS");
    ftpCreds = { name: ftpUser.slice(0, colon), password: ftpUser.slice(colon + 1) };
  }
  const stack = await stackOnTap(args);
  if (trace === "tcp") traceTcp(stack, (line) => process.stderr.write(line));
  const sockets: UdpSocket[] = [];
  const servers: TcpServer[] = [];
  const apps: AppServer[] = [];
  const faces = stackNetFaces(stack);
  const timers = hostTimers();
  for (const s of services) {
    if (s === "http") {
      const http = new HttpServer({ handler: staticHandler(fsFileSource(args.flags.get("--www") as string)), timers, clock: wallClock() });
      apps.push(await http.listen(faces, { port: 80 }));
    } else if (s === "smtp") {
      apps.push(
        await serveSmtp(faces, { port: 25 }, {
          hostname: "wirestack",
          date: () => Date.now(),
          store: new DirectoryMailStore(args.flags.get("--mail") as string),
          timers,
        }),
      );
    } else if (s === "ftp") {
      apps.push(await listenFtp(faces, { port: 21 }, { root: directoryFtpFileSystem(args.flags.get("--ftp-root") as string), timers, user: ftpCreds, anonymous: true }));
    }
  }
  for (const s of services.filter((x): x is Service => (SERVICES as readonly string[]).includes(x))) {
    servers.push(tcpService(stack, s));
    // Echo and discard are TCP and UDP; chargen only TCP (DESIGN.md, the command-line contract).
    if (s === "chargen") continue;
    const sock = stack.udp.bind(PORT[s]);
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
  for (const s of servers) s.close();
  // Applications close their sessions (SMTP answers 421); bounded, so a stuck peer cannot hold exit.
  await Promise.race([Promise.allSettled(apps.map((a) => a.close())), new Promise((r) => setTimeout(r, 1000).unref())]);
  await stack.close();
  return 0;
}
