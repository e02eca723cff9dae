/**
 * A streaming HTTP/1.1 message parser (RFC 9112): bytes in, one event at a time out. It reads
 * requests (server side) or responses (client side), heads and bodies framed by Content-Length,
 * chunked coding or (responses only) the end of the connection.
 *
 * Read before editing: RFC 9112 §2 (message format), §3 (request line), §4 (status line), §5 (fields),
 * §6 (body framing, the smuggling rules of §6.1 and §6.3), §7.1 (chunked); RFC 9110 §5 (fields).
 *
 * Guarantees: the events are the same however the input is split (one byte at a time included), the
 * parser never throws on input and never buffers more than the limits allow (a head larger than
 * `maxHeaderBytes` is refused before it is complete). Body data events are views of the bytes pushed
 * in (no copy when the body arrives whole), so callers must not modify a chunk after pushing it.
 * What it never does: decide what to answer, or hold state about the connection; connection.ts does.
 *
 * Theory of operation: unconsumed input sits in one buffer that only grows at its tail (a new buffer
 * is allocated rather than overwriting bytes already handed out as views). The head is scanned for
 * its empty line incrementally (`scanned` remembers how far), so feeding it byte by byte costs linear
 * time; limits are checked while scanning. After a message ends the parser starts on the next one,
 * which is how pipelined requests come out in order.
 */
import { HttpHeaders, TOKEN, isFieldValue, latin1Decode } from "./headers.ts";

/** Size limits; the defaults are documented on `DEFAULT_LIMITS`. */
export interface HttpLimits {
  /** Longest request line or status line, CRLF excluded. Over it: 414 (RFC 9112 §3). */
  readonly maxRequestLine: number;
  /** Longest header section (start line and fields) or trailer section. Over it: 431 (RFC 6585 §5). */
  readonly maxHeaderBytes: number;
  /** Most field lines in a header or trailer section. Over it: 431. */
  readonly maxHeaders: number;
  /** Largest body. Over it: 413 (RFC 9110 §15.5.14). */
  readonly maxBodyBytes: number;
}

/** Request line 8 KiB, header section 32 KiB and 100 fields, body 16 MiB. */
export const DEFAULT_LIMITS: HttpLimits = {
  maxRequestLine: 8 * 1024,
  maxHeaderBytes: 32 * 1024,
  maxHeaders: 100,
  maxBodyBytes: 16 * 1024 * 1024,
} as const;

/** The HTTP versions we speak; a 1.x minor other than 0 is treated as 1.1 (RFC 9110 §2.5). */
export type HttpVersion = "1.0" | "1.1";

/** A request's head. */
export interface RequestHead {
  readonly method: string;
  /** The request-target exactly as sent (RFC 9112 §3.2). */
  readonly target: string;
  readonly version: HttpVersion;
  readonly headers: HttpHeaders;
}

/** A response's head. */
export interface ResponseHead {
  readonly version: HttpVersion;
  readonly status: number;
  readonly reason: string;
  readonly headers: HttpHeaders;
}

/** How the body of the message being read is delimited (RFC 9112 §6.3). */
export type BodyFraming = "none" | "length" | "chunked" | "eof";

/** Status codes the parser reports for a request it refuses. */
export type HttpErrorStatus = 400 | 413 | 414 | 431 | 501 | 505;

/** What the parser found next. */
export type ParseEvent =
  | { readonly kind: "request"; readonly head: RequestHead }
  | { readonly kind: "response"; readonly head: ResponseHead }
  | { readonly kind: "data"; readonly data: Uint8Array }
  /** The message is complete; `trailers` holds a chunked body's trailer fields (empty otherwise). */
  | { readonly kind: "end"; readonly trailers: HttpHeaders }
  /** The input is not HTTP we accept; for a request, `status` is the answer RFC 9112 asks for. */
  | { readonly kind: "error"; readonly status: HttpErrorStatus; readonly reason: string }
  /** Nothing more until `push` or `finish`. */
  | { readonly kind: "need-data" }
  /** The peer closed between messages: a clean end. */
  | { readonly kind: "eof" };

type State =
  | { readonly s: "start"; readonly emptyLines: number }
  | { readonly s: "fixed"; readonly remaining: number }
  | { readonly s: "chunk-size" }
  | { readonly s: "chunk-data"; readonly remaining: number }
  | { readonly s: "chunk-crlf" }
  | { readonly s: "trailers" }
  | { readonly s: "until-eof" }
  | { readonly s: "error"; readonly event: ParseEvent & { kind: "error" } };

const EMPTY = new Uint8Array(0);
const LF = 0x0a;
const CR = 0x0d;
/** A chunk-size line longer than this (extensions included) is refused. */
const MAX_CHUNK_LINE = 4096;
/** RFC 9112 §2.2 asks to ignore at least one empty line before a request; we ignore a few. */
const MAX_LEADING_EMPTY_LINES = 8;
const REQUEST_LINE = /^([^ ]+) ([^ ]+) ([^ ]+)$/;
const VERSION = /^HTTP\/([0-9])\.([0-9])$/;
const STATUS_LINE = /^HTTP\/([0-9])\.([0-9]) ([0-9]{3})(?: (.*))?$/;
const TARGET = /^[\x21-\x7e]+$/;
const CHUNK_SIZE = /^([0-9A-Fa-f]+)[ \t]*(?:;.*)?$/;

/** A streaming parser for one direction of one connection. */
export class HttpParser {
  private readonly limits: HttpLimits;
  private buf: Uint8Array = EMPTY;
  private pos = 0;
  private end = 0;
  /** Whether `buf` is ours to append into (a pushed chunk is not). */
  private owned = false;
  /** Bytes of the current head (or trailer section, or chunk line) already scanned for a line end. */
  private scanned = 0;
  /** Offset (from `pos`) where the line being scanned starts. */
  private lineStart = 0;
  /** Set once the head's first line ended: its length is then known to be within limits. */
  private firstLineDone = false;
  private ended = false;
  private state: State = { s: "start", emptyLines: 0 };
  private bodyBytes = 0;
  /** For responses: the method of the request being answered (HEAD responses have no body). */
  private requestMethod = "GET";
  private framingNow: BodyFraming = "none";

  constructor(
    /** Which messages this parser reads. */
    readonly role: "request" | "response",
    limits: Partial<HttpLimits> = {},
  ) {
    this.limits = { ...DEFAULT_LIMITS, ...limits };
  }

  /** How the body of the last message whose head was read is delimited. */
  get framing(): BodyFraming {
    return this.framingNow;
  }

  /** Bytes received and not yet parsed. */
  get buffered(): number {
    return this.end - this.pos;
  }

  /** Whether the parser is between messages (nothing of the next one read yet). */
  get idle(): boolean {
    return this.state.s === "start" && this.scanned === 0 && this.end === this.pos;
  }

  /** For a response parser: the method of the request whose response comes next (RFC 9112 §6.3 ¶1). */
  expectResponseTo(method: string): void {
    this.requestMethod = method;
  }

  /** Appends received bytes. The parser may keep views of `chunk`: do not modify it afterwards. */
  push(chunk: Uint8Array): void {
    if (chunk.length === 0) return;
    if (this.pos === this.end) {
      this.buf = chunk;
      this.pos = 0;
      this.end = chunk.length;
      this.owned = false;
      return;
    }
    if (this.owned && this.end + chunk.length <= this.buf.length) {
      this.buf.set(chunk, this.end);
      this.end += chunk.length;
      return;
    }
    const live = this.end - this.pos;
    const next = new Uint8Array(Math.max(4096, (live + chunk.length) * 2));
    next.set(this.buf.subarray(this.pos, this.end));
    next.set(chunk, live);
    this.buf = next;
    this.pos = 0;
    this.end = live + chunk.length;
    this.owned = true;
  }

  /** The peer closed its sending side: no more bytes will come. */
  finish(): void {
    this.ended = true;
  }

  /** Parses and returns the next event. */
  next(): ParseEvent {
    const st = this.state;
    switch (st.s) {
      case "error":
        return st.event;
      case "start":
        return this.nextHead(st.emptyLines);
      case "fixed": {
        const avail = this.end - this.pos;
        if (st.remaining === 0) return this.endMessage(new HttpHeaders());
        if (avail === 0) return this.ended ? this.fail(400, "connection closed inside the body") : NEED_DATA;
        const n = Math.min(avail, st.remaining);
        const data = this.take(n);
        this.state = { s: "fixed", remaining: st.remaining - n };
        return { kind: "data", data };
      }
      case "chunk-size":
        return this.nextChunkSize();
      case "chunk-data": {
        const avail = this.end - this.pos;
        if (avail === 0) return this.ended ? this.fail(400, "connection closed inside a chunk") : NEED_DATA;
        const n = Math.min(avail, st.remaining);
        const data = this.take(n);
        this.state = st.remaining - n === 0 ? { s: "chunk-crlf" } : { s: "chunk-data", remaining: st.remaining - n };
        return { kind: "data", data };
      }
      case "chunk-crlf": {
        // RFC 9112 §7.1: chunk-data is followed by CRLF (a bare LF accepted, §2.2).
        const avail = this.end - this.pos;
        if (avail === 0) return this.ended ? this.fail(400, "connection closed inside a chunk") : NEED_DATA;
        const b0 = this.buf[this.pos] as number;
        if (b0 === LF) {
          this.pos += 1;
        } else if (b0 === CR) {
          if (avail < 2) return this.ended ? this.fail(400, "connection closed inside a chunk") : NEED_DATA;
          if (this.buf[this.pos + 1] !== LF) return this.fail(400, "chunk data not followed by CRLF");
          this.pos += 2;
        } else {
          return this.fail(400, "chunk data longer than its size");
        }
        this.state = { s: "chunk-size" };
        return this.next();
      }
      case "trailers":
        return this.nextTrailers();
      case "until-eof": {
        const avail = this.end - this.pos;
        if (avail > 0) {
          if (this.bodyBytes + avail > this.limits.maxBodyBytes) return this.fail(413, "body larger than the limit");
          return { kind: "data", data: this.take(avail) };
        }
        return this.ended ? this.endMessage(new HttpHeaders()) : NEED_DATA;
      }
    }
  }

  private take(n: number): Uint8Array {
    const out = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    this.bodyBytes += n;
    return out;
  }

  private fail(status: HttpErrorStatus, reason: string): ParseEvent & { kind: "error" } {
    const event = { kind: "error", status, reason } as const;
    this.state = { s: "error", event };
    return event;
  }

  private endMessage(trailers: HttpHeaders): ParseEvent {
    this.state = { s: "start", emptyLines: 0 };
    this.resetScan();
    return { kind: "end", trailers };
  }

  private resetScan(): void {
    this.scanned = 0;
    this.lineStart = 0;
    this.firstLineDone = false;
  }

  /**
   * Scans for the empty line that ends a field section. Returns its length (the empty line included)
   * when found, "need" when more bytes are needed, or an error event for a limit crossed.
   */
  private scanSection(maxBytes: number, firstLineMax: number | undefined): number | "need" | ParseEvent {
    const base = this.pos;
    const avail = this.end - base;
    while (this.scanned < avail) {
      const i = this.scanned;
      this.scanned += 1;
      if (this.buf[base + i] !== LF) continue;
      const lineLen = i - this.lineStart;
      const content = lineLen > 0 && this.buf[base + i - 1] === CR ? lineLen - 1 : lineLen;
      if (!this.firstLineDone && firstLineMax !== undefined) {
        this.firstLineDone = true;
        if (content > firstLineMax) return this.fail(this.role === "request" ? 414 : 400, "start line too long");
      }
      this.lineStart = i + 1;
      // The head's first line is never empty (leading empty lines were skipped), so an empty line ends it.
      if (content === 0) return i + 1;
    }
    if (firstLineMax !== undefined && !this.firstLineDone && this.scanned - this.lineStart > firstLineMax + 1) {
      return this.fail(this.role === "request" ? 414 : 400, "start line too long");
    }
    if (this.scanned > maxBytes) return this.fail(431, "header section too large");
    return "need";
  }

  private nextHead(emptyLines: number): ParseEvent {
    // RFC 9112 §2.2: ignore empty lines received before the start line.
    if (this.scanned === 0) {
      let skipped = emptyLines;
      for (;;) {
        const avail = this.end - this.pos;
        if (avail === 0) {
          this.state = { s: "start", emptyLines: skipped };
          if (this.ended) return { kind: "eof" };
          return NEED_DATA;
        }
        const b0 = this.buf[this.pos] as number;
        if (b0 === LF) {
          this.pos += 1;
        } else if (b0 === CR) {
          if (avail < 2) {
            if (this.ended) return this.fail(400, "bare CR");
            this.state = { s: "start", emptyLines: skipped };
            return NEED_DATA;
          }
          if (this.buf[this.pos + 1] !== LF) return this.fail(400, "bare CR");
          this.pos += 2;
        } else {
          break;
        }
        skipped += 1;
        if (skipped > MAX_LEADING_EMPTY_LINES) return this.fail(400, "too many empty lines before the request");
      }
      this.state = { s: "start", emptyLines: 0 };
    }
    const found = this.scanSection(this.limits.maxHeaderBytes, this.limits.maxRequestLine);
    if (typeof found !== "number") {
      if (found === "need") return this.ended ? this.fail(400, "connection closed inside the head") : NEED_DATA;
      return found;
    }
    if (found > this.limits.maxHeaderBytes) return this.fail(431, "header section too large");
    const text = latin1Decode(this.buf.subarray(this.pos, this.pos + found));
    this.pos += found;
    this.resetScan();
    const lines = splitLines(text);
    if (lines === undefined) return this.fail(400, "bare CR in the head");
    return this.role === "request" ? this.parseRequestHead(lines) : this.parseResponseHead(lines);
  }

  private parseFields(lines: readonly string[]): HttpHeaders | ParseEvent {
    const headers = new HttpHeaders();
    if (lines.length > this.limits.maxHeaders) return this.fail(431, "too many header fields");
    for (const line of lines) {
      // RFC 9112 §5.2: obs-fold is refused with 400 (a server MAY do so; we always do).
      // RFC 9112 §2.2: whitespace between the start line and the first field is refused too.
      if (line.startsWith(" ") || line.startsWith("\t")) return this.fail(400, "obsolete line folding");
      const colon = line.indexOf(":");
      if (colon <= 0) return this.fail(400, "field line without a name and colon");
      const name = line.slice(0, colon);
      // RFC 9112 §5.1: no whitespace between the field name and the colon.
      if (!TOKEN.test(name)) return this.fail(400, "invalid field name");
      const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, "");
      if (!isFieldValue(value)) return this.fail(400, "invalid character in a field value");
      headers.append(name, value);
    }
    return headers;
  }

  private parseRequestHead(lines: string[]): ParseEvent {
    const first = lines[0] as string;
    const m = REQUEST_LINE.exec(first);
    if (m === null) return this.fail(400, "malformed request line");
    const [, method, target, versionText] = m as unknown as [string, string, string, string];
    if (!TOKEN.test(method)) return this.fail(400, "invalid method");
    if (!TARGET.test(target)) return this.fail(400, "invalid request target");
    const v = VERSION.exec(versionText);
    if (v === null) return this.fail(400, "malformed HTTP version");
    // RFC 9110 §2.5 / §15.6.6: a major version we do not implement gets 505.
    if (v[1] !== "1") return this.fail(505, "HTTP major version not supported");
    const version: HttpVersion = v[2] === "0" ? "1.0" : "1.1";
    const headers = this.parseFields(lines.slice(1));
    if (!(headers instanceof HttpHeaders)) return headers;
    // RFC 9112 §3.2: an HTTP/1.1 request without exactly one Host field gets 400.
    const hosts = headers.getAll("host").length;
    if ((version === "1.1" && hosts === 0) || hosts > 1) return this.fail(400, "missing or repeated Host");
    const framing = this.requestFraming(version, headers);
    if (framing !== undefined) return framing;
    return { kind: "request", head: { method, target, version, headers } };
  }

  /** RFC 9112 §6.3 for requests. Sets the body state; returns an error event, or undefined. */
  private requestFraming(version: HttpVersion, headers: HttpHeaders): ParseEvent | undefined {
    this.bodyBytes = 0;
    if (headers.has("transfer-encoding")) {
      // RFC 9112 §6.1: Transfer-Encoding in an HTTP/1.0 message means faulty framing.
      if (version === "1.0") return this.fail(400, "Transfer-Encoding in an HTTP/1.0 request");
      // RFC 9112 §6.3 ¶3: both Transfer-Encoding and Content-Length is how requests are smuggled.
      if (headers.has("content-length")) return this.fail(400, "both Transfer-Encoding and Content-Length");
      const codings = headers.tokens("transfer-encoding");
      // RFC 9112 §6.3 ¶4: chunked must be the final coding of a request, applied once (§6.1).
      if (codings[codings.length - 1] !== "chunked" || codings.indexOf("chunked") !== codings.length - 1) {
        return this.fail(400, "chunked is not the final transfer coding");
      }
      // RFC 9112 §6.1: a transfer coding we do not understand gets 501.
      if (codings.length > 1) return this.fail(501, `transfer coding ${codings[0]} not implemented`);
      this.framingNow = "chunked";
      this.state = { s: "chunk-size" };
      return undefined;
    }
    const length = contentLength(headers);
    if (length === "invalid") return this.fail(400, "invalid Content-Length");
    if (length === undefined) {
      // RFC 9112 §6.3 ¶7: a request with neither has no body.
      this.framingNow = "none";
      this.state = { s: "fixed", remaining: 0 };
      return undefined;
    }
    if (length > this.limits.maxBodyBytes) return this.fail(413, "body larger than the limit");
    this.framingNow = length === 0 ? "none" : "length";
    this.state = { s: "fixed", remaining: length };
    return undefined;
  }

  private parseResponseHead(lines: string[]): ParseEvent {
    const m = STATUS_LINE.exec(lines[0] as string);
    if (m === null) return this.fail(400, "malformed status line");
    if (m[1] !== "1") return this.fail(505, "HTTP major version not supported");
    const version: HttpVersion = m[2] === "0" ? "1.0" : "1.1";
    const status = Number(m[3]);
    const reason = m[4] ?? "";
    const headers = this.parseFields(lines.slice(1));
    if (!(headers instanceof HttpHeaders)) return headers;
    this.bodyBytes = 0;
    // RFC 9112 §6.3 ¶1: no body after HEAD, and none in 1xx, 204 and 304 responses.
    if (this.requestMethod === "HEAD" || (status >= 100 && status < 200) || status === 204 || status === 304) {
      this.framingNow = "none";
      this.state = { s: "fixed", remaining: 0 };
    } else if (headers.has("transfer-encoding")) {
      // RFC 9112 §6.3 ¶3/¶4: Transfer-Encoding overrides Content-Length; not ending in chunked,
      // the body runs to the end of the connection.
      const codings = headers.tokens("transfer-encoding");
      if (codings[codings.length - 1] === "chunked") {
        if (codings.length > 1) return this.fail(501, `transfer coding ${codings[0]} not implemented`);
        this.framingNow = "chunked";
        this.state = { s: "chunk-size" };
      } else {
        this.framingNow = "eof";
        this.state = { s: "until-eof" };
      }
    } else {
      const length = contentLength(headers);
      // RFC 9112 §6.3 ¶5: an invalid Content-Length in a response is an unrecoverable error.
      if (length === "invalid") return this.fail(400, "invalid Content-Length");
      if (length === undefined) {
        this.framingNow = "eof";
        this.state = { s: "until-eof" };
      } else {
        if (length > this.limits.maxBodyBytes) return this.fail(413, "body larger than the limit");
        this.framingNow = length === 0 ? "none" : "length";
        this.state = { s: "fixed", remaining: length };
      }
    }
    return { kind: "response", head: { version, status, reason, headers } };
  }

  private nextChunkSize(): ParseEvent {
    const base = this.pos;
    const avail = this.end - base;
    let lf = -1;
    for (let i = this.scanned; i < avail; i++) {
      if (this.buf[base + i] === LF) {
        lf = i;
        break;
      }
    }
    if (lf < 0) {
      this.scanned = avail;
      if (avail > MAX_CHUNK_LINE) return this.fail(400, "chunk size line too long");
      return this.ended ? this.fail(400, "connection closed inside a chunk size") : NEED_DATA;
    }
    this.scanned = 0;
    let lineEnd = lf;
    if (lineEnd > 0 && this.buf[base + lineEnd - 1] === CR) lineEnd -= 1;
    const line = latin1Decode(this.buf.subarray(base, base + lineEnd));
    this.pos += lf + 1;
    // RFC 9112 §7.1: chunk-size [ chunk-ext ] CRLF; extensions are ignored (§7.1.1).
    const m = CHUNK_SIZE.exec(line);
    if (m === null || line.includes("\r")) return this.fail(400, "malformed chunk size");
    const digits = (m[1] as string).replace(/^0+(?=.)/, "");
    if (digits.length > 12) return this.fail(413, "chunk larger than the limit");
    const size = parseInt(digits, 16);
    if (size === 0) {
      this.state = { s: "trailers" };
      this.resetScan();
      return this.next();
    }
    if (this.bodyBytes + size > this.limits.maxBodyBytes) return this.fail(413, "body larger than the limit");
    this.state = { s: "chunk-data", remaining: size };
    return this.next();
  }

  private nextTrailers(): ParseEvent {
    // RFC 9112 §7.1.2: the trailer section ends with an empty line, like a header section.
    const found = this.scanSection(this.limits.maxHeaderBytes, undefined);
    if (typeof found !== "number") {
      if (found === "need") return this.ended ? this.fail(400, "connection closed inside the trailers") : NEED_DATA;
      return found;
    }
    const text = latin1Decode(this.buf.subarray(this.pos, this.pos + found));
    this.pos += found;
    this.resetScan();
    const lines = splitLines(text);
    if (lines === undefined) return this.fail(400, "bare CR in the trailers");
    const trailers = this.parseFields(lines);
    if (!(trailers instanceof HttpHeaders)) return trailers;
    return this.endMessage(trailers);
  }
}

const NEED_DATA: ParseEvent = { kind: "need-data" };

/**
 * The lines of a section that ends with an empty line, CR before LF removed (RFC 9112 §2.2 lets us
 * accept a bare LF). Undefined when a CR appears anywhere else (RFC 9112 §2.2: bare CR is invalid).
 */
function splitLines(text: string): string[] | undefined {
  const lines = text.split("\n").map((l) => (l.endsWith("\r") ? l.slice(0, -1) : l));
  // Drop the empty line that ended the section and the empty string after its LF.
  lines.length -= 2;
  if (lines.some((l) => l.includes("\r"))) return undefined;
  return lines;
}

/**
 * RFC 9112 §6.3 ¶5 / RFC 9110 §8.6: Content-Length as a number; several equal values (one list or
 * repeated lines) count as one; anything else is invalid. Undefined when absent.
 */
function contentLength(headers: HttpHeaders): number | "invalid" | undefined {
  const values = headers.getAll("content-length");
  if (values.length === 0) return undefined;
  let length: string | undefined;
  for (const v of values) {
    for (const part of v.split(",")) {
      const t = part.trim();
      // 15 digits stay exact in a double and are far beyond any limit.
      if (!/^[0-9]{1,15}$/.test(t)) return "invalid";
      const norm = t.replace(/^0+(?=.)/, "");
      if (length !== undefined && length !== norm) return "invalid";
      length = norm;
    }
  }
  return length === undefined ? "invalid" : Number(length);
}
