/**
 * FTP control-connection codec (RFC 959 §4, §5.3; RFC 2428 for EPRT/EPSV; RFC 2640 for UTF-8 paths).
 *
 *   command = verb [SP argument] CRLF        (RFC 959 §5.3.1; verbs are case-insensitive)
 *   reply   = code SP text CRLF              (RFC 959 §4.2)
 *           | code "-" text CRLF *(line CRLF) code SP text CRLF
 *
 * Both decoders are streaming and sans-IO: they take whatever bytes arrived, in any split, and return
 * the complete lines found so far, keeping the rest. They never throw on what a peer sent: a line
 * longer than `FTP_MAX_LINE` is reported once as `too-long` and skipped up to its end, and a reply
 * line that does not start with a code is reported as `bad-reply`. Telnet commands embedded in the
 * control stream (RFC 959 §4.1.3: clients send IAC IP / IAC DM before ABOR) are removed.
 *
 * Also here: the host-port arguments of PORT/PASV and EPRT/EPSV, address comparison for the bounce
 * check, and the TYPE A end-of-line translation (RFC 959 §3.1.1.1), all pure functions over bytes.
 */

/** Longest control line we accept, CRLF included; longer lines are refused with 500 and skipped. */
export const FTP_MAX_LINE = 4096;

/** One decoded command line. `verb` is upper-cased; `arg` is everything after the first space. */
export interface FtpCommand {
  readonly kind: "command";
  readonly verb: string;
  readonly arg: string | undefined;
}

/** A line that exceeded `FTP_MAX_LINE`; its bytes were discarded. */
export interface FtpLineTooLong {
  readonly kind: "too-long";
  readonly length: number;
}

/** What the command decoder yields. */
export type FtpCommandEvent = FtpCommand | FtpLineTooLong;

/** A complete reply: its code and its text lines (without the code prefixes). */
export interface FtpReply {
  readonly code: number;
  readonly lines: readonly string[];
}

/** A reply line the decoder could not make sense of. */
export interface FtpBadReply {
  readonly kind: "bad-reply";
  readonly line: string;
}

const CR = 0x0d;
const LF = 0x0a;
// RFC 854: Telnet IAC and the option-negotiation verbs that carry one more byte.
const IAC = 0xff;
const WILL = 0xfb;
const DONT = 0xfe;

const utf8 = new TextDecoder("utf-8", { fatal: false });
const utf8Encoder = new TextEncoder();

/**
 * Splits a byte stream into lines ending in LF (a CR before the LF is dropped), with Telnet
 * sequences removed and a length limit. Shared by the command and reply decoders.
 */
class LineSplitter {
  private buf = new Uint8Array(256);
  private len = 0;
  private overflow = 0; // >0: discarding an over-long line; counts its bytes
  private telnet: "none" | "iac" | "option" = "none";

  constructor(private readonly maxLine: number) {}

  /** Feeds bytes; calls `line` for each complete line and `tooLong` for each over-long one. */
  feed(bytes: Uint8Array, line: (text: string) => void, tooLong: (length: number) => void): void {
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i] as number;
      if (this.telnet === "iac") {
        this.telnet = b >= WILL && b <= DONT ? "option" : "none";
        // IAC IAC is a literal 0xFF data byte (RFC 854).
        if (b === IAC) this.push(b);
        continue;
      }
      if (this.telnet === "option") {
        this.telnet = "none";
        continue;
      }
      if (b === IAC) {
        this.telnet = "iac";
        continue;
      }
      if (b === LF) {
        if (this.overflow > 0) {
          tooLong(this.overflow + 1);
          this.overflow = 0;
        } else {
          let end = this.len;
          if (end > 0 && this.buf[end - 1] === CR) end--;
          line(utf8.decode(this.buf.subarray(0, end)));
        }
        this.len = 0;
        continue;
      }
      this.push(b);
    }
  }

  private push(b: number): void {
    if (this.overflow > 0) {
      this.overflow++;
      return;
    }
    // The LF still to come counts toward the limit.
    if (this.len + 1 >= this.maxLine) {
      this.overflow = this.len + 1;
      this.len = 0;
      return;
    }
    if (this.len === this.buf.length) {
      const bigger = new Uint8Array(Math.min(this.buf.length * 2, this.maxLine));
      bigger.set(this.buf);
      this.buf = bigger;
    }
    this.buf[this.len++] = b;
  }
}

/** Server side: decodes command lines (RFC 959 §5.3) from the control connection. */
export class FtpCommandDecoder {
  private readonly lines: LineSplitter;

  constructor(maxLine: number = FTP_MAX_LINE) {
    this.lines = new LineSplitter(maxLine);
  }

  /** Feeds received bytes; returns the commands (and refusals) completed by them, in order. */
  receiveData(bytes: Uint8Array): FtpCommandEvent[] {
    const out: FtpCommandEvent[] = [];
    this.lines.feed(
      bytes,
      (text) => out.push(parseCommandLine(text)),
      (length) => out.push({ kind: "too-long", length }),
    );
    return out;
  }
}

/** Splits one command line into an upper-cased verb and its argument (undefined when absent). */
export function parseCommandLine(text: string): FtpCommand {
  const sp = text.indexOf(" ");
  if (sp < 0) return { kind: "command", verb: text.toUpperCase(), arg: undefined };
  const arg = text.slice(sp + 1);
  return { kind: "command", verb: text.slice(0, sp).toUpperCase(), arg: arg === "" ? undefined : arg };
}

/** Client side: decodes replies, single- and multi-line (RFC 959 §4.2). */
export class FtpReplyDecoder {
  private readonly lines: LineSplitter;
  private pending: { code: number; lines: string[] } | undefined;

  constructor(maxLine: number = FTP_MAX_LINE) {
    this.lines = new LineSplitter(maxLine);
  }

  /** Feeds received bytes; returns the replies completed by them, in order. */
  receiveData(bytes: Uint8Array): (FtpReply | FtpBadReply)[] {
    const out: (FtpReply | FtpBadReply)[] = [];
    this.lines.feed(
      bytes,
      (text) => {
        const r = this.line(text);
        if (r !== undefined) out.push(r);
      },
      (length) => out.push({ kind: "bad-reply", line: `(line of ${length} bytes)` }),
    );
    return out;
  }

  private line(text: string): FtpReply | FtpBadReply | undefined {
    const m = /^([1-5]\d\d)([ -])?(.*)$/.exec(text);
    const code = m !== null ? Number(m[1]) : undefined;
    if (this.pending !== undefined) {
      // RFC 959 §4.2: a multi-line reply ends at the first line "code SP" with the same code.
      if (code === this.pending.code && m?.[2] !== "-") {
        this.pending.lines.push(m?.[3] ?? "");
        const done = { code: this.pending.code, lines: this.pending.lines };
        this.pending = undefined;
        return done;
      }
      this.pending.lines.push(text);
      return undefined;
    }
    if (m === null || code === undefined) return { kind: "bad-reply", line: text };
    if (m[2] === "-") {
      this.pending = { code, lines: [m[3] ?? ""] };
      return undefined;
    }
    return { code, lines: [m[3] ?? ""] };
  }
}

/** Whether a decoder result is a bad line rather than a reply. */
export function isBadReply(r: FtpReply | FtpBadReply): r is FtpBadReply {
  return "kind" in r;
}

/**
 * Formats a reply. One line: "code SP text CRLF". Several: "code-first", the middle lines, "code
 * SP last" (RFC 959 §4.2); a middle line that starts with a digit gets a leading space so it cannot
 * be taken for the end.
 */
export function formatReply(reply: FtpReply): Uint8Array {
  const { code, lines } = reply;
  if (code < 100 || code > 599 || !Number.isInteger(code)) throw new RangeError(`FTP reply code ${code} is not 100..599`);
  const clean = (s: string): string => s.replace(/[\r\n]/g, " ");
  let text: string;
  if (lines.length <= 1) {
    text = `${code} ${clean(lines[0] ?? "")}\r\n`;
  } else {
    const mid = lines.slice(1, -1).map((l) => {
      const c = clean(l);
      return /^\d/.test(c) ? ` ${c}` : c;
    });
    text = [`${code}-${clean(lines[0] ?? "")}`, ...mid, `${code} ${clean(lines[lines.length - 1] ?? "")}`].join("\r\n") + "\r\n";
  }
  return utf8Encoder.encode(text);
}

/** Formats a command line (client side). Throws on CR/LF in the argument: that would be a second command. */
export function formatCommand(verb: string, arg?: string): Uint8Array {
  if (/[\r\n]/.test(verb) || (arg !== undefined && /[\r\n]/.test(arg))) throw new RangeError("FTP command contains CR or LF");
  return utf8Encoder.encode(arg === undefined ? `${verb}\r\n` : `${verb} ${arg}\r\n`);
}

/** An address and port of a data connection. `host` is an IPv4 dotted quad or IPv6 text. */
export interface FtpHostPort {
  readonly host: string;
  readonly port: number;
}

/**
 * Parses the PORT argument and the numbers of a 227 reply: "h1,h2,h3,h4,p1,p2", decimal bytes
 * (RFC 959 §4.1.2). Undefined when malformed.
 */
export function parseHostPort(arg: string): FtpHostPort | undefined {
  const parts = arg.trim().split(",");
  if (parts.length !== 6) return undefined;
  const n: number[] = [];
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p)) return undefined;
    const v = Number(p);
    if (v > 255) return undefined;
    n.push(v);
  }
  return { host: n.slice(0, 4).join("."), port: (n[4] as number) * 256 + (n[5] as number) };
}

/** Formats "h1,h2,h3,h4,p1,p2" for PORT and 227 (RFC 959 §4.1.2). Throws unless `host` is IPv4. */
export function formatHostPort(hp: FtpHostPort): string {
  const v4 = parseIpv4Text(hp.host);
  if (v4 === undefined) throw new RangeError(`PORT/PASV need an IPv4 address, not ${hp.host}`);
  if (!Number.isInteger(hp.port) || hp.port < 0 || hp.port > 65535) throw new RangeError(`port ${hp.port}`);
  return [...v4, hp.port >> 8, hp.port & 0xff].join(",");
}

/** Finds the host-port numbers inside a 227 reply text ("Entering Passive Mode (h1,...,p2)"). */
export function parsePasvReply(text: string): FtpHostPort | undefined {
  const m = /(\d{1,3},\d{1,3},\d{1,3},\d{1,3},\d{1,3},\d{1,3})/.exec(text);
  return m === null ? undefined : parseHostPort(m[1] as string);
}

/** RFC 2428 §2 network protocol numbers: 1 IPv4, 2 IPv6; others kept as numbers. */
export type FtpNetProtocol = 1 | 2 | { readonly kind: "unknown"; readonly value: number };

/** A parsed EPRT argument. */
export interface FtpExtendedAddress {
  readonly protocol: FtpNetProtocol;
  readonly host: string;
  readonly port: number;
}

/**
 * Parses the EPRT argument "<d><net-prt><d><net-addr><d><tcp-port><d>" (RFC 2428 §2): the delimiter
 * is any printable ASCII character (33..126). The address is checked for protocols 1 and 2 only.
 */
export function parseEprtArg(arg: string): FtpExtendedAddress | undefined {
  const d = arg.charCodeAt(0);
  if (!(d >= 33 && d <= 126)) return undefined;
  const parts = arg.split(arg[0] as string);
  if (parts.length !== 5 || parts[0] !== "" || parts[4] !== "") return undefined;
  const [, prt, addr, port] = parts as [string, string, string, string, string];
  if (!/^\d{1,5}$/.test(prt) || !/^\d{1,5}$/.test(port)) return undefined;
  const portNum = Number(port);
  if (portNum > 65535) return undefined;
  const p = Number(prt);
  if (p === 1) return parseIpv4Text(addr) === undefined ? undefined : { protocol: 1, host: addr, port: portNum };
  if (p === 2) return parseIpv6Text(addr) === undefined ? undefined : { protocol: 2, host: addr, port: portNum };
  return { protocol: { kind: "unknown", value: p }, host: addr, port: portNum };
}

/** Formats an EPRT argument "|1|a.b.c.d|port|" or "|2|v6|port|" (RFC 2428 §2). */
export function formatEprtArg(hp: FtpHostPort): string {
  const proto = parseIpv4Text(hp.host) !== undefined ? 1 : parseIpv6Text(hp.host) !== undefined ? 2 : undefined;
  if (proto === undefined) throw new RangeError(`not an IP address: ${hp.host}`);
  return `|${proto}|${hp.host}|${hp.port}|`;
}

/** Finds the port in a 229 reply text ("(|||port|)", RFC 2428 §3). */
export function parseEpsvReply(text: string): number | undefined {
  const m = /\(([\x21-\x7e])\1\1(\d{1,5})\1\)/.exec(text);
  if (m === null) return undefined;
  const port = Number(m[2]);
  return port > 0 && port <= 65535 ? port : undefined;
}

/** Parses dotted-quad IPv4 text into its four bytes. */
export function parseIpv4Text(s: string): [number, number, number, number] | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(s);
  if (m === null) return undefined;
  const b = [Number(m[1]), Number(m[2]), Number(m[3]), Number(m[4])] as [number, number, number, number];
  return b.every((x) => x <= 255) ? b : undefined;
}

/** Parses IPv6 text (RFC 4291 §2.2, with "::" and a trailing dotted quad; no zone) into 16 bytes. */
export function parseIpv6Text(s: string): Uint8Array | undefined {
  if (s.length === 0 || s.length > 45) return undefined;
  let text = s;
  const tail: number[] = [];
  const lastColon = text.lastIndexOf(":");
  if (lastColon >= 0 && text.includes(".", lastColon)) {
    const v4 = parseIpv4Text(text.slice(lastColon + 1));
    if (v4 === undefined) return undefined;
    tail.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
    text = text.slice(0, lastColon + 1);
    if (!text.endsWith("::")) text = text.slice(0, -1);
  }
  const halves = text.split("::");
  if (halves.length > 2) return undefined;
  const groups = (h: string): number[] | undefined => {
    if (h === "") return [];
    const out: number[] = [];
    for (const g of h.split(":")) {
      if (!/^[0-9a-fA-F]{1,4}$/.test(g)) return undefined;
      out.push(parseInt(g, 16));
    }
    return out;
  };
  const head = groups(halves[0] as string);
  const rest = halves.length === 2 ? groups(halves[1] as string) : [];
  if (head === undefined || rest === undefined) return undefined;
  const given = head.length + rest.length + tail.length;
  let all: number[];
  if (halves.length === 2) {
    if (given > 7) return undefined;
    all = [...head, ...new Array<number>(8 - given).fill(0), ...rest, ...tail];
  } else {
    if (given !== 8) return undefined;
    all = [...head, ...tail];
  }
  const bytes = new Uint8Array(16);
  all.forEach((g, i) => {
    bytes[2 * i] = g >> 8;
    bytes[2 * i + 1] = g & 0xff;
  });
  return bytes;
}

/**
 * A comparable form of an address as sockets report it: IPv4 as a dotted quad (also when carried
 * as an IPv4-mapped IPv6 address, "::ffff:a.b.c.d", as a dual-stack listener reports it), IPv6 as
 * eight full hex groups. Undefined when `s` is neither.
 */
export function canonicalAddress(s: string | undefined): string | undefined {
  if (s === undefined) return undefined;
  const v4 = parseIpv4Text(s);
  if (v4 !== undefined) return v4.join(".");
  const v6 = parseIpv6Text(s.replace(/%.*$/, ""));
  if (v6 === undefined) return undefined;
  const mapped = v6.subarray(0, 10).every((b) => b === 0) && v6[10] === 0xff && v6[11] === 0xff;
  if (mapped) return Array.from(v6.subarray(12)).join(".");
  const g: string[] = [];
  for (let i = 0; i < 16; i += 2) g.push((((v6[i] as number) << 8) | (v6[i + 1] as number)).toString(16));
  return g.join(":");
}

/** Whether a canonical address is IPv4. */
export function isIpv4Canonical(s: string): boolean {
  return parseIpv4Text(s) !== undefined;
}

/**
 * TYPE A sending side (RFC 959 §3.1.1.1): end-of-line in NVT-ASCII is CRLF, so each LF not already
 * preceded by CR becomes CRLF. Keeps the last byte across chunks so a CRLF split between two chunks
 * is not doubled.
 */
export class AsciiToNetwork {
  private lastWasCr = false;

  /** Translates one chunk. */
  encode(chunk: Uint8Array): Uint8Array {
    let extra = 0;
    let prevCr = this.lastWasCr;
    for (const b of chunk) {
      if (b === LF && !prevCr) extra++;
      prevCr = b === CR;
    }
    const out = new Uint8Array(chunk.length + extra);
    let j = 0;
    prevCr = this.lastWasCr;
    for (const b of chunk) {
      if (b === LF && !prevCr) out[j++] = CR;
      out[j++] = b;
      prevCr = b === CR;
    }
    this.lastWasCr = prevCr;
    return out;
  }
}

/**
 * TYPE A receiving side (RFC 959 §3.1.1.1): CRLF becomes the local end-of-line, LF. A CR at the end
 * of a chunk is held until the next byte shows whether it starts a CRLF; `flush` releases it.
 */
export class AsciiFromNetwork {
  private heldCr = false;

  /** Translates one chunk. */
  decode(chunk: Uint8Array): Uint8Array {
    const out = new Uint8Array(chunk.length + 1);
    let j = 0;
    let held = this.heldCr;
    for (const b of chunk) {
      if (held && b !== LF) out[j++] = CR;
      held = false;
      if (b === CR) held = true;
      else out[j++] = b;
    }
    this.heldCr = held;
    return out.subarray(0, j);
  }

  /** The bytes still held at end of data (a final lone CR). */
  flush(): Uint8Array {
    const out = this.heldCr ? Uint8Array.of(CR) : new Uint8Array(0);
    this.heldCr = false;
    return out;
  }
}
