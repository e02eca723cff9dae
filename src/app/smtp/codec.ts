/**
 * SMTP's line-oriented wire format (RFC 5321 §2.3.8, §4.1, §4.2, §4.5.2, §4.5.3.1): a bounded line
 * reader, command parsing, reply formatting and parsing, and the DATA transparency procedure in
 * both directions (dot-stuffing for the client, dot-unstuffing for the server).
 *
 *   command  = verb [ SP arguments ] CRLF                       (at most 512 octets, §4.5.3.1.4)
 *   reply    = *( code "-" [ text ] CRLF ) code [ SP text ] CRLF                       (§4.2)
 *   DATA     = *( line CRLF ) "." CRLF      a line beginning with "." is sent as ".." (§4.5.2)
 *
 * Everything here is pure: bytes in, values out. Nothing throws on what a peer sent — bad input comes
 * back as an `SmtpSyntaxError` value or a "too-long" line — and memory stays bounded: a command or
 * reply line longer than its limit is discarded as it arrives, not buffered.
 *
 * Read before editing: RFC 5321 §2.3.8 (lines), §4.1.1–§4.1.2 (command syntax), §4.2 (replies),
 * §4.5.2 (transparency), §4.5.3.1 (size limits); RFC 1870 (SIZE); RFC 6152 (8BITMIME).
 */

const CR = 0x0d;
const LF = 0x0a;
const DOT = 0x2e;

/** RFC 5321 §4.5.3.1.4: a command line is at most 512 octets, CRLF included. */
export const SMTP_COMMAND_LINE_MAX = 512;
/** RFC 5321 §4.5.3.1.5: a reply line is at most 512 octets, CRLF included. */
export const SMTP_REPLY_LINE_MAX = 512;
/** RFC 5321 §4.5.3.1.6: a text line in DATA is at most 1000 octets, CRLF included (see DotUnstuffer). */
export const SMTP_TEXT_LINE_MAX = 1000;

/** A malformed command, reply or parameter, as a value (never thrown). */
export class SmtpSyntaxError {
  constructor(
    /** Stable reason strings; the server maps them to reply codes. */
    readonly reason: "bad-syntax" | "bad-reply",
    /** A short human note, used as the reply text. */
    readonly detail: string,
  ) {}

  toString(): string {
    return `smtp: ${this.reason} (${this.detail})`;
  }
}

/** Narrowing helper for `X | SmtpSyntaxError` results. */
export function isSmtpSyntaxError(value: unknown): value is SmtpSyntaxError {
  return value instanceof SmtpSyntaxError;
}

/** One line out of a `LineReader`: its text without the terminator, or the news that it was too long. */
export type LineResult =
  | { readonly kind: "line"; readonly text: string }
  /** The line exceeded the limit and was discarded; `length` counts the octets dropped, terminator included. */
  | { readonly kind: "too-long"; readonly length: number };

/** Octets as a string, one char per octet (latin1), so no input can fail to decode. */
export function octetsToString(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 4096) {
    s += String.fromCharCode(...bytes.subarray(i, i + 4096));
  }
  return s;
}

/** A string whose chars are all below 256 as octets; throws on wider chars (misuse). */
export function stringToOctets(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff) throw new RangeError(`SMTP text must be octets; char ${c} at ${i} in ${JSON.stringify(s)}`);
    out[i] = c;
  }
  return out;
}

/**
 * Splits a byte stream into lines of at most `maxLine` octets (terminator included), holding at most
 * `maxLine` octets of an unfinished line. A line ends at LF; one CR before it is removed. Accepting a
 * bare LF as the end of a command is lenient (RFC 5321 §2.3.8 asks clients for CRLF) but harmless,
 * and it is what Postfix and Exim do; inside DATA only CRLF counts (DotUnstuffer).
 *
 * The reader also lends its unread bytes out (`takeBuffered`) so a protocol can switch to a byte
 * mode (DATA) mid-buffer and hand back what it did not consume (`push`).
 */
export class LineReader {
  #buf = new Uint8Array(256);
  #start = 0;
  #end = 0;
  /** Bytes of the current line already searched for LF. */
  #scanned = 0;
  /** Octets of an over-long line dropped so far, while waiting for its end. */
  #discarded = 0;
  #discarding = false;

  constructor(readonly maxLine: number) {
    if (!(maxLine >= 2)) throw new RangeError(`maxLine ${maxLine} < 2`);
  }

  /** Octets held, not yet returned. */
  get buffered(): number {
    return this.#end - this.#start;
  }

  /** Appends bytes (copied: the caller may reuse its buffer). */
  push(bytes: Uint8Array): void {
    if (bytes.length === 0) return;
    if (this.#end + bytes.length > this.#buf.length) {
      const live = this.#end - this.#start;
      const need = live + bytes.length;
      if (need > this.#buf.length) {
        let size = this.#buf.length * 2;
        while (size < need) size *= 2;
        const next = new Uint8Array(size);
        next.set(this.#buf.subarray(this.#start, this.#end));
        this.#buf = next;
      } else {
        this.#buf.copyWithin(0, this.#start, this.#end);
      }
      this.#start = 0;
      this.#end = live;
    }
    this.#buf.set(bytes, this.#end);
    this.#end += bytes.length;
  }

  /** The next complete line, or undefined until more bytes arrive. */
  read(): LineResult | undefined {
    const from = this.#start + this.#scanned;
    const lf = this.#buf.subarray(0, this.#end).indexOf(LF, from);
    if (lf < 0) {
      const pending = this.#end - this.#start;
      // Without its LF the line is already `pending + 1` octets long.
      if (this.#discarding || pending >= this.maxLine) {
        this.#discarding = true;
        this.#discarded += pending;
        this.#start = this.#end = 0;
        this.#scanned = 0;
      } else {
        this.#scanned = pending;
      }
      return undefined;
    }
    const lineStart = this.#start;
    const total = lf + 1 - lineStart;
    this.#start = lf + 1;
    this.#scanned = 0;
    if (this.#start === this.#end) this.#start = this.#end = 0;
    if (this.#discarding || total > this.maxLine) {
      const length = this.#discarded + total;
      this.#discarding = false;
      this.#discarded = 0;
      return { kind: "too-long", length };
    }
    let stop = lf;
    if (stop > lineStart && this.#buf[stop - 1] === CR) stop--;
    return { kind: "line", text: octetsToString(this.#buf.subarray(lineStart, stop)) };
  }

  /** Removes and returns every unread byte (a copy). Not meaningful while an over-long line is being dropped. */
  takeBuffered(): Uint8Array {
    const out = this.#buf.slice(this.#start, this.#end);
    this.#start = this.#end = 0;
    this.#scanned = 0;
    return out;
  }
}

// ---------------------------------------------------------------------------------------------
// Commands (RFC 5321 §4.1.1, §4.1.2)

/** An ESMTP parameter of MAIL or RCPT: `keyword[=value]` (RFC 5321 §4.1.2 esmtp-param). */
export interface EsmtpParam {
  /** Upper-cased: keywords are case-insensitive (§2.4). */
  readonly keyword: string;
  readonly value: string | undefined;
}

/** A parsed command line. Unknown verbs are kept whole so they can be logged and answered with 500. */
export type SmtpCommand =
  | { readonly verb: "EHLO" | "HELO"; readonly domain: string }
  /** `reversePath` is "" for the null path `<>` (§4.5.5). */
  | { readonly verb: "MAIL"; readonly reversePath: string; readonly params: readonly EsmtpParam[] }
  | { readonly verb: "RCPT"; readonly forwardPath: string; readonly params: readonly EsmtpParam[] }
  | { readonly verb: "DATA" | "RSET" | "QUIT" }
  | { readonly verb: "NOOP"; readonly arg: string | undefined }
  | { readonly verb: "HELP"; readonly topic: string | undefined }
  | { readonly verb: "VRFY" | "EXPN"; readonly arg: string }
  | { readonly verb: "unknown"; readonly text: string };

/** The verbs `parseCommand` recognises. */
export type SmtpVerb = Exclude<SmtpCommand["verb"], "unknown">;

// RFC 5321 §4.1.2: esmtp-keyword = (ALPHA / DIGIT) *(ALPHA / DIGIT / "-"),
// esmtp-value = 1*(%d33-60 / %d62-126).
const ESMTP_KEYWORD = /^[A-Za-z0-9][A-Za-z0-9-]*$/;
const ESMTP_VALUE = /^[\x21-\x3c\x3e-\x7e]+$/;
// Printable US-ASCII without SP: what a domain, an address literal or a path may hold here.
const TOKEN = /^[\x21-\x7e]+$/;
// RFC 5321 §4.1.2 Mailbox = Local-part "@" ( Domain / address-literal ); Local-part a dot-string or
// a quoted string. Checked loosely: a non-empty local part (quoted or without SP, "<" or ">") and a
// non-empty domain or bracketed literal.
const MAILBOX = /^(?:"(?:[\x20\x21\x23-\x5b\x5d-\x7e]|\\[\x20-\x7e])*"|[^\s"<>@\\]+)@(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?|\[[\x21-\x5a\x5e-\x7e]+\])$/;

/**
 * Parses one command line (without CRLF). Verbs are case-insensitive (RFC 5321 §2.4). Returns a
 * command, or an `SmtpSyntaxError` for a known verb with bad arguments (the server answers 501).
 * Parameters are parsed but not judged: which are known is the server's business. A line that is not ASCII or not a known verb is
 * `{ verb: "unknown" }` (the server answers 500).
 */
export function parseCommand(line: string): SmtpCommand | SmtpSyntaxError {
  if (!/^[\x20-\x7e\t]*$/.test(line)) return { verb: "unknown", text: line };
  const sp = line.indexOf(" ");
  const word = (sp < 0 ? line : line.slice(0, sp)).toUpperCase();
  const rest = sp < 0 ? undefined : line.slice(sp + 1);
  const arg = rest?.trim() === "" ? undefined : rest?.trim();
  switch (word) {
    case "EHLO":
    case "HELO":
      // RFC 5321 §4.1.1.1: "EHLO" SP ( Domain / address-literal ).
      if (arg === undefined || !TOKEN.test(arg)) return new SmtpSyntaxError("bad-syntax", `${word} needs a domain or address literal`);
      return { verb: word, domain: arg };
    case "MAIL": {
      const p = parsePathArgument(rest, "FROM:", true);
      if (isSmtpSyntaxError(p)) return p;
      return { verb: "MAIL", reversePath: p.path, params: p.params };
    }
    case "RCPT": {
      const p = parsePathArgument(rest, "TO:", false);
      if (isSmtpSyntaxError(p)) return p;
      return { verb: "RCPT", forwardPath: p.path, params: p.params };
    }
    case "DATA":
    case "RSET":
    case "QUIT":
      // RFC 5321 §4.1.1.4, §4.1.1.5, §4.1.1.10: these take no argument.
      if (arg !== undefined) return new SmtpSyntaxError("bad-syntax", `${word} takes no argument`);
      return { verb: word };
    case "NOOP":
      // RFC 5321 §4.1.1.9: a parameter string is allowed and ignored.
      return { verb: "NOOP", arg };
    case "HELP":
      return { verb: "HELP", topic: arg };
    case "VRFY":
    case "EXPN":
      if (arg === undefined) return new SmtpSyntaxError("bad-syntax", `${word} needs an argument`);
      return { verb: word, arg };
    default:
      return { verb: "unknown", text: line };
  }
}

/** `FROM:<path> params` / `TO:<path> params` (RFC 5321 §4.1.1.2, §4.1.1.3). */
function parsePathArgument(
  rest: string | undefined,
  prefix: "FROM:" | "TO:",
  nullPathAllowed: boolean,
): { path: string; params: EsmtpParam[] } | SmtpSyntaxError {
  const what = prefix === "FROM:" ? "MAIL FROM:<address>" : "RCPT TO:<address>";
  if (rest === undefined || rest.slice(0, prefix.length).toUpperCase() !== prefix) {
    return new SmtpSyntaxError("bad-syntax", `syntax: ${what}`);
  }
  // A space after the colon is not in the grammar, but common enough (older clients) to accept.
  const after = rest.slice(prefix.length).replace(/^ +/, "");
  if (!after.startsWith("<")) return new SmtpSyntaxError("bad-syntax", `syntax: ${what}`);
  const close = after.indexOf(">");
  if (close < 0) return new SmtpSyntaxError("bad-syntax", `syntax: ${what}`);
  let path = after.slice(1, close);
  // RFC 5321 §4.1.2 / Appendix C: a source route "@a,@b:" MUST be accepted and SHOULD be ignored.
  const route = /^@[^:,]+(?:,@[^:,]+)*:/.exec(path);
  if (route) path = path.slice(route[0].length);
  if (path === "") {
    if (!nullPathAllowed) return new SmtpSyntaxError("bad-syntax", "an empty forward-path is not allowed");
  } else if (!MAILBOX.test(path) && !(prefix === "TO:" && path.toLowerCase() === "postmaster")) {
    // RFC 5321 §4.1.1.3: RCPT TO:<Postmaster> without a domain is valid.
    return new SmtpSyntaxError("bad-syntax", `bad address <${path}>`);
  }
  const params: EsmtpParam[] = [];
  const tail = after.slice(close + 1);
  if (tail !== "") {
    if (!tail.startsWith(" ")) return new SmtpSyntaxError("bad-syntax", `syntax: ${what}`);
    for (const p of tail.slice(1).split(" ")) {
      if (p === "") continue;
      const eq = p.indexOf("=");
      const keyword = eq < 0 ? p : p.slice(0, eq);
      const value = eq < 0 ? undefined : p.slice(eq + 1);
      if (!ESMTP_KEYWORD.test(keyword) || (value !== undefined && !ESMTP_VALUE.test(value))) {
        return new SmtpSyntaxError("bad-syntax", `bad parameter ${p}`);
      }
      params.push({ keyword: keyword.toUpperCase(), value });
    }
  }
  return { path, params };
}

// ---------------------------------------------------------------------------------------------
// Replies (RFC 5321 §4.2)

/** A complete reply: its code and the text of each line (without the code and separator). */
export interface SmtpReply {
  readonly code: number;
  readonly lines: readonly string[];
}

/** The reply's text lines joined by a space, for messages and errors. */
export function replyText(reply: SmtpReply): string {
  return reply.lines.join(" ");
}

/**
 * Formats a reply: every line but the last as `code-text`, the last as `code text` (RFC 5321 §4.2.1).
 * Throws when `code` is not 200–599 or a line holds CR or LF (that would be a reply injection).
 */
export function formatReply(code: number, text: string | readonly string[]): Uint8Array {
  if (!Number.isInteger(code) || code < 200 || code > 599) throw new RangeError(`reply code ${code} outside 200-599`);
  const lines = typeof text === "string" ? [text] : text.length > 0 ? text : [""];
  let s = "";
  lines.forEach((line, i) => {
    if (/[\r\n]/.test(line)) throw new RangeError(`reply text holds CR or LF: ${JSON.stringify(line)}`);
    s += `${code}${i === lines.length - 1 ? " " : "-"}${line}\r\n`;
  });
  return stringToOctets(s);
}

/**
 * Reads replies from a byte stream (the client side). Lines of one multi-line reply must share
 * the code (RFC 5321 §4.2.1); a mismatch, a line that is not `ddd[ -]text` or a first digit outside
 * 2–5 is an `SmtpSyntaxError`. Lines up to `maxLine` octets are read; RFC 5321 §4.5.3.1.5 caps
 * replies at 512, but a lenient limit costs nothing and some servers send longer help text.
 */
export class ReplyReader {
  readonly #lines: LineReader;
  #code: number | undefined;
  #text: string[] = [];

  constructor(maxLine = 4096) {
    this.#lines = new LineReader(maxLine);
  }

  /** Appends received bytes. */
  push(bytes: Uint8Array): void {
    this.#lines.push(bytes);
  }

  /** The next complete reply, an error, or undefined until more bytes arrive. */
  read(): SmtpReply | SmtpSyntaxError | undefined {
    for (;;) {
      const line = this.#lines.read();
      if (line === undefined) return undefined;
      if (line.kind === "too-long") return this.#fail(`reply line of ${line.length} octets`);
      const m = /^([2-5][0-9][0-9])(?:([ -])(.*))?$/s.exec(line.text);
      if (!m) return this.#fail(`not a reply line: ${JSON.stringify(line.text.slice(0, 80))}`);
      const code = Number(m[1]);
      if (this.#code !== undefined && code !== this.#code) return this.#fail(`code ${code} inside a ${this.#code} reply`);
      this.#code = code;
      this.#text.push(m[3] ?? "");
      if (m[2] !== "-") {
        const reply: SmtpReply = { code, lines: this.#text };
        this.#code = undefined;
        this.#text = [];
        return reply;
      }
    }
  }

  #fail(detail: string): SmtpSyntaxError {
    this.#code = undefined;
    this.#text = [];
    return new SmtpSyntaxError("bad-reply", detail);
  }
}

// ---------------------------------------------------------------------------------------------
// DATA transparency (RFC 5321 §4.5.2)

type UnstuffState =
  | "line-start" // at the first octet of a line
  | "text" // inside a line
  | "cr" // just after a CR inside a line
  | "dot" // a line began with ".", which was dropped
  | "dot-cr"; // a line began with ".\r"

const CR_ONLY = new Uint8Array([CR]);

/**
 * The server side of RFC 5321 §4.5.2: reads mail data up to the line "." and removes the first "."
 * of every other line that begins with one. Lines are CRLF-delimited: a bare LF or CR is an
 * ordinary octet (§2.3.8), so the content comes out exactly as the client meant it, CRLFs and all.
 * The CRLF before the final "." belongs to the content (§4.1.1.4).
 *
 * Text lines longer than 1000 octets (§4.5.3.1.6) are accepted: §4.5.3.1 asks receivers to impose
 * no limit where they can, and the content is stored unchanged. Memory is bounded by `maxSize`
 * instead: past it, content is counted and discarded (`oversize`), and the server answers 552 after
 * the final dot (RFC 1870 §6.3).
 */
export class DotUnstuffer {
  #state: UnstuffState = "line-start";
  #chunks: Uint8Array[] = [];
  #size = 0;
  #done = false;

  constructor(readonly maxSize: number) {}

  /** True once the final "." line has been read. */
  get done(): boolean {
    return this.#done;
  }
  /** Octets of unstuffed content so far (counted past `maxSize` too). */
  get size(): number {
    return this.#size;
  }
  /** True when the content exceeded `maxSize` and was discarded. */
  get oversize(): boolean {
    return this.#size > this.maxSize;
  }

  /**
   * Consumes mail data; returns how many octets of `bytes` belonged to it. When that is less than
   * `bytes.length`, the final "." line ended inside `bytes` and the rest is the next command.
   */
  push(bytes: Uint8Array): number {
    if (this.#done) return 0;
    const n = bytes.length;
    let i = 0;
    let runStart = 0;
    while (i < n) {
      switch (this.#state) {
        case "line-start":
          if (bytes[i] === DOT) {
            this.#emit(bytes, runStart, i);
            i++;
            runStart = i;
            this.#state = "dot";
          } else {
            this.#state = "text";
          }
          break;
        case "text": {
          const cr = bytes.indexOf(CR, i);
          if (cr < 0) {
            i = n;
          } else {
            i = cr + 1;
            this.#state = "cr";
          }
          break;
        }
        case "cr": {
          const c = bytes[i];
          i++;
          this.#state = c === LF ? "line-start" : c === CR ? "cr" : "text";
          break;
        }
        case "dot":
          if (bytes[i] === CR) {
            // Held back: ".\r\n" ends the data and is not content.
            i++;
            runStart = i;
            this.#state = "dot-cr";
          } else {
            // RFC 5321 §4.5.2: a line starting with "." and holding more: the first "." is deleted.
            this.#state = "text";
          }
          break;
        case "dot-cr":
          if (bytes[i] === LF) {
            this.#done = true;
            return i + 1;
          }
          // ".\r" followed by more: a stuffed line whose CR is content after all.
          this.#emit(CR_ONLY, 0, 1);
          this.#state = "cr";
          break;
      }
    }
    this.#emit(bytes, runStart, n);
    return n;
  }

  /** The unstuffed content (empty when `oversize`). */
  content(): Uint8Array {
    if (this.#chunks.length === 1) return this.#chunks[0] as Uint8Array;
    const out = new Uint8Array(this.oversize ? 0 : this.#size);
    let at = 0;
    for (const c of this.#chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }

  #emit(bytes: Uint8Array, from: number, to: number): void {
    if (to <= from) return;
    this.#size += to - from;
    if (this.#size > this.maxSize) {
      this.#chunks = [];
      return;
    }
    this.#chunks.push(bytes.slice(from, to));
  }
}

/**
 * The client side of RFC 5321 §4.5.2, for a whole message: returns the octets to send after the
 * 354 reply, terminator included. A bare LF becomes CRLF (RFC 5321 §2.3.8 forbids sending bare LF,
 * and Unix text has them); a bare CR is left as it is. A message not ending in CRLF gets one, so
 * the terminating "." stands on its own line. Every line beginning with "." gets one more.
 */
export function dotStuff(message: Uint8Array): Uint8Array {
  const text = normalizeLineEndings(message);
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === DOT && (i === 0 || text[i - 1] === LF)) dots++;
  }
  const out = new Uint8Array(text.length + dots + 3);
  let o = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as number;
    if (c === DOT && (i === 0 || text[i - 1] === LF)) out[o++] = DOT;
    out[o++] = c;
  }
  out[o++] = DOT;
  out[o++] = CR;
  out[o++] = LF;
  return out;
}

/**
 * What `dotStuff` sends, before stuffing: bare LFs made CRLF and a final CRLF added. This is the
 * content a conforming server stores, and the SIZE the client declares (RFC 1870 §4).
 */
export function normalizeLineEndings(message: Uint8Array): Uint8Array {
  let extra = 2;
  for (let i = 0; i < message.length; i++) {
    if (message[i] === LF && (i === 0 || message[i - 1] !== CR)) extra++;
  }
  const out = new Uint8Array(message.length + extra);
  let o = 0;
  for (let i = 0; i < message.length; i++) {
    const c = message[i] as number;
    if (c === LF && (i === 0 || message[i - 1] !== CR)) out[o++] = CR;
    out[o++] = c;
  }
  if (o > 0 && !(out[o - 2] === CR && out[o - 1] === LF)) {
    out[o++] = CR;
    out[o++] = LF;
  }
  return out.subarray(0, o);
}

/** The parts as one buffer (the part itself when there is only one). */
export function joinBytes(parts: readonly Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0] as Uint8Array;
  let len = 0;
  for (const p of parts) len += p.length;
  const out = new Uint8Array(len);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
