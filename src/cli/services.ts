/**
 * The services `wirestack serve` and `wirestack replay` start on a stack, whatever device it is on.
 *
 * Byte services, on every IPv4 and IPv6 address of the stack: echo (RFC 862) on TCP and UDP port 7,
 * discard (RFC 863) on TCP and UDP port 9, chargen (RFC 864) on TCP port 19. Application services,
 * each over a host directory: http (80, files under --www), smtp (25, one .eml per message under
 * --mail), ftp (21, rooted at --ftp-root).
 *
 * `serviceOptionsFromArgs` checks the command-line flags (usage errors, exit 2); `startServices`
 * starts what they name and returns one handle that closes it all, bounded in time.
 */
import { existsSync, statSync } from "node:fs";
import type { Stack } from "../stack.ts";
import type { UdpSocket } from "../api/udp-socket.ts";
import type { TcpServer } from "../api/tcp-server.ts";
import type { TcpSocket } from "../api/tcp-socket.ts";
import { stackNetFaces } from "../host/stack-net.ts";
import { hostTimers } from "../host/node-net.ts";
import { fsFileSource, wallClock } from "../host/http-files.ts";
import { DirectoryMailStore } from "../host/mail-store.ts";
import { directoryFtpFileSystem } from "../host/ftp-files.ts";
import { HttpServer } from "../app/http/server.ts";
import { staticHandler } from "../app/http/static.ts";
import { serveSmtp } from "../app/smtp/server.ts";
import { listenFtp } from "../app/ftp/server.ts";
import type { AppServer, Timers } from "../app/net-faces.ts";
import { UsageError, type ParsedArgs } from "./args.ts";

/** The byte services (RFC 862, 863, 864): always on unless --services says otherwise. */
export const BYTE_SERVICES = ["echo", "discard", "chargen"] as const;
/** A byte service's name. */
export type ByteService = (typeof BYTE_SERVICES)[number];
/** Application services, each with the flag that names its directory. */
export const APP_SERVICES = { http: "--www", smtp: "--mail", ftp: "--ftp-root" } as const;
/** An application service's name. */
export type AppService = keyof typeof APP_SERVICES;
/** Every service name `--services` accepts. */
export const ALL_SERVICES: readonly string[] = [...BYTE_SERVICES, ...Object.keys(APP_SERVICES)];

/** The flags that configure services, for `parseArgs` tables. */
export const SERVICE_FLAGS = { "--services": true, "--www": true, "--mail": true, "--ftp-root": true, "--ftp-user": true } as const;

/** Well-known ports (RFC 862, 863, 864). */
const PORT: Record<ByteService, number> = { echo: 7, discard: 9, chargen: 19 };

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
    // Each burst is corked so TCP sees it at once and cuts full-sized segments, rather than sending
    // the first small write alone while nothing is in flight (as a whole-buffer writer would).
    sock.cork();
    // Bounded: write() turns false once the Duplex buffer passes its high-water mark.
    for (let i = 0; i < 64 && !sock.destroyed && sock.writable; i++) {
      const ok = sock.write(chargenLines(line, 14));
      line = (line + 14) % PRINTABLE.length;
      if (!ok) break;
    }
    process.nextTick(() => sock.uncork());
    if (!sock.destroyed && sock.writable && sock.writableLength < sock.writableHighWaterMark) setImmediate(pump);
  };
  sock.on("drain", pump);
  sock.resume();
  pump();
}

/** Starts the TCP side of a byte service. */
function tcpService(stack: Stack, s: ByteService): TcpServer {
  const handler = s === "echo" ? serveEcho : s === "discard" ? serveDiscard : serveChargen;
  return stack.tcp.listen(PORT[s], (sock) => {
    // A peer's reset is the peer's business: nothing to report, the socket just closes.
    sock.on("error", () => {});
    handler(sock);
  });
}

/** What to start. Directories must exist (`serviceOptionsFromArgs` checks them for the CLI). */
export interface ServiceOptions {
  /** Service names from `ALL_SERVICES`, e.g. ["echo", "discard", "chargen"]. */
  readonly services: readonly string[];
  /** http: the directory served. */
  readonly www?: string | undefined;
  /** smtp: the directory each message is stored in. */
  readonly mail?: string | undefined;
  /** ftp: the root directory. */
  readonly ftpRoot?: string | undefined;
  /** ftp: the one user who may read and write (anonymous may only read). */
  readonly ftpUser?: { readonly name: string; readonly password: string } | undefined;
  /** Timers for application timeouts; default real host timers. */
  readonly timers?: Timers | undefined;
}

/** Started services; `close` stops them all. */
export interface RunningServices {
  readonly servers: readonly TcpServer[];
  readonly sockets: readonly UdpSocket[];
  readonly apps: readonly AppServer[];
  /** Stops listening and closes sessions; applications get at most 1 s (a stuck peer cannot hold it). */
  close(): Promise<void>;
}

function listFlag(args: ParsedArgs, name: string): string[] {
  const v = args.flags.get(name);
  return typeof v === "string" ? v.split(",").filter((s) => s.length > 0) : [];
}

/**
 * The service options the flags in `SERVICE_FLAGS` describe. Without --services: the byte services,
 * plus each application whose directory flag was given. Throws UsageError for an unknown service, a
 * missing or absent directory, or a malformed --ftp-user.
 */
export function serviceOptionsFromArgs(args: ParsedArgs): ServiceOptions {
  const services = args.flags.has("--services")
    ? listFlag(args, "--services")
    : [...BYTE_SERVICES, ...(Object.keys(APP_SERVICES) as AppService[]).filter((a) => args.flags.has(APP_SERVICES[a]))];
  for (const s of services) {
    if (!ALL_SERVICES.includes(s)) throw new UsageError(`unknown service '${s}' (available: ${ALL_SERVICES.join(", ")})`);
    if (s in APP_SERVICES) {
      const flag = APP_SERVICES[s as AppService];
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
  const dir = (flag: string): string | undefined => {
    const v = args.flags.get(flag);
    return typeof v === "string" ? v : undefined;
  };
  return { services, www: dir("--www"), mail: dir("--mail"), ftpRoot: dir("--ftp-root"), ftpUser: ftpCreds };
}

/** Starts the named services on `stack`. Throws for an unknown name or a missing directory option. */
export async function startServices(stack: Stack, opts: ServiceOptions): Promise<RunningServices> {
  const sockets: UdpSocket[] = [];
  const servers: TcpServer[] = [];
  const apps: AppServer[] = [];
  const faces = stackNetFaces(stack);
  const timers = opts.timers ?? hostTimers();
  const need = (value: string | undefined, what: string): string => {
    if (value === undefined) throw new Error(`startServices: service '${what}' needs its directory option`);
    return value;
  };
  for (const s of opts.services) {
    if (!ALL_SERVICES.includes(s)) throw new Error(`startServices: unknown service '${s}' (available: ${ALL_SERVICES.join(", ")})`);
  }
  for (const s of opts.services) {
    if (s === "http") {
      const http = new HttpServer({ handler: staticHandler(fsFileSource(need(opts.www, s))), timers, clock: wallClock() });
      apps.push(await http.listen(faces, { port: 80 }));
    } else if (s === "smtp") {
      apps.push(
        await serveSmtp(faces, { port: 25 }, {
          hostname: "wirestack",
          date: () => Date.now(),
          store: new DirectoryMailStore(need(opts.mail, s)),
          timers,
        }),
      );
    } else if (s === "ftp") {
      apps.push(await listenFtp(faces, { port: 21 }, { root: directoryFtpFileSystem(need(opts.ftpRoot, s)), timers, user: opts.ftpUser, anonymous: true }));
    }
  }
  for (const s of opts.services.filter((x): x is ByteService => (BYTE_SERVICES as readonly string[]).includes(x))) {
    servers.push(tcpService(stack, s));
    // Echo and discard are TCP and UDP; chargen only TCP (DESIGN.md, the command-line contract).
    if (s === "chargen") continue;
    const sock = stack.udp.bind(PORT[s]);
    if (s === "echo") sock.on("message", (msg, rinfo) => sock.send(msg, rinfo.port, rinfo.address));
    sockets.push(sock);
  }
  return {
    servers,
    sockets,
    apps,
    async close() {
      for (const s of sockets) s.close();
      for (const s of servers) s.close();
      // Applications close their sessions (SMTP answers 421); bounded, so a stuck peer cannot hold exit.
      await Promise.race([Promise.allSettled(apps.map((a) => a.close())), new Promise((r) => setTimeout(r, 1000).unref())]);
    },
  };
}
