/**
 * HTTP/1.1 connection state machines, sans IO (h11's model): feed received bytes with `receiveData`,
 * pull events with `nextEvent`, and ask for the bytes of what you want to send (`respond`, `sendData`,
 * `endMessage`). No sockets, no clock: the thin layers (server.ts, client.ts) move the bytes.
 *
 * Read before editing: RFC 9112 §9 (connection management: persistence §9.3, pipelining §9.3.2,
 * closing §9.6), §6 (framing), RFC 9110 §7.6.1 (Connection), §15 (status codes).
 *
 * Theory of operation (h11's state table, narrowed to what we need). Each side of a connection has
 * a state:
 *
 *   "idle"  --head-->  "body"  --end-->  "done"  --startNextCycle (both done, keep-alive)--> "idle"
 *      \______________ error _______________/        \--(not keep-alive)--> "must-close" (no reuse)
 *
 * The server reads one request, then *pauses* (`nextEvent` returns "paused") until its response is
 * complete and `startNextCycle` is called: pipelined requests wait in the parser's buffer and come out
 * one at a time, in order, so responses are always in request order (RFC 9112 §9.3.2). Keep-alive is
 * decided from both messages: "Connection: close" from either side, an HTTP/1.0 peer that did not ask
 * for keep-alive, or a body delimited by closing, end the connection after this exchange.
 */
import { HttpHeaders, checkOutgoingField, latin1Encode } from "./headers.ts";
import { HttpParser } from "./parser.ts";
import type { HttpErrorStatus, HttpLimits, HttpVersion, RequestHead, ResponseHead } from "./parser.ts";

/** The state of one side of the connection (see the theory of operation above). */
export type SideState = "idle" | "body" | "done" | "must-close" | "closed" | "error";

/** What a server connection has for its user next. */
export type ServerEvent =
  | { readonly kind: "request"; readonly head: RequestHead }
  | { readonly kind: "data"; readonly data: Uint8Array }
  | { readonly kind: "end"; readonly trailers: HttpHeaders }
  /** The request is not acceptable: answer `status` (with `respondError`) and close. */
  | { readonly kind: "error"; readonly status: HttpErrorStatus; readonly reason: string }
  | { readonly kind: "need-data" }
  /** A request is complete and its response is not: send it, then `startNextCycle`. */
  | { readonly kind: "paused" }
  /** The client closed the connection between requests. */
  | { readonly kind: "closed" };

/** What a client connection has for its user next. */
export type ClientEvent =
  | { readonly kind: "response"; readonly head: ResponseHead }
  | { readonly kind: "data"; readonly data: Uint8Array }
  | { readonly kind: "end"; readonly trailers: HttpHeaders }
  | { readonly kind: "error"; readonly reason: string }
  | { readonly kind: "need-data" }
  | { readonly kind: "paused" }
  | { readonly kind: "closed" };

/** A response head to send. `reason` defaults to the RFC 9110 §15 phrase. */
export interface OutgoingResponse {
  readonly status: number;
  readonly reason?: string;
  readonly headers: HttpHeaders | Iterable<readonly [string, string]>;
}

/** A request head to send. */
export interface OutgoingRequest {
  readonly method: string;
  readonly target: string;
  readonly headers: HttpHeaders | Iterable<readonly [string, string]>;
}

/** How an outgoing body is delimited. */
type OutFraming =
  | { readonly kind: "none" }
  | { readonly kind: "length"; remaining: number }
  | { readonly kind: "chunked" }
  | { readonly kind: "close" };

/** RFC 9110 §15 reason phrases for the codes we send. */
export const REASON_PHRASES: Readonly<Record<number, string>> = {
  100: "Continue",
  200: "OK",
  201: "Created",
  204: "No Content",
  206: "Partial Content",
  301: "Moved Permanently",
  302: "Found",
  304: "Not Modified",
  400: "Bad Request",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  411: "Length Required",
  413: "Content Too Large",
  414: "URI Too Long",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  501: "Not Implemented",
  503: "Service Unavailable",
  505: "HTTP Version Not Supported",
};

const CRLF = "\r\n";
const LAST_CHUNK = latin1Encode("0\r\n\r\n");
const EMPTY = new Uint8Array(0);

function toHeaders(h: HttpHeaders | Iterable<readonly [string, string]>): HttpHeaders {
  return h instanceof HttpHeaders ? h.clone() : new HttpHeaders(h);
}

function serializeHead(startLine: string, headers: HttpHeaders): Uint8Array {
  let s = startLine + CRLF;
  for (const [n, v] of headers) {
    checkOutgoingField(n, v);
    s += `${n}: ${v}${CRLF}`;
  }
  return latin1Encode(s + CRLF);
}

/** Frames body bytes for the chosen framing; throws when they do not fit it (our misuse). */
function frameData(framing: OutFraming, data: Uint8Array): Uint8Array {
  if (data.length === 0) return EMPTY;
  switch (framing.kind) {
    case "none":
      throw new Error("this message has no body (HEAD, 1xx, 204 or 304)");
    case "length":
      if (data.length > framing.remaining) throw new Error(`body longer than its Content-Length (${data.length} > ${framing.remaining} left)`);
      framing.remaining -= data.length;
      return data;
    case "chunked": {
      // RFC 9112 §7.1: chunk-size in hex, CRLF, data, CRLF.
      const size = latin1Encode(data.length.toString(16) + CRLF);
      const out = new Uint8Array(size.length + data.length + 2);
      out.set(size, 0);
      out.set(data, size.length);
      out[out.length - 2] = 0x0d;
      out[out.length - 1] = 0x0a;
      return out;
    }
    case "close":
      return data;
  }
}

function frameEnd(framing: OutFraming): Uint8Array {
  switch (framing.kind) {
    case "length":
      if (framing.remaining !== 0) throw new Error(`body ended ${framing.remaining} bytes short of its Content-Length`);
      return EMPTY;
    case "chunked":
      return LAST_CHUNK;
    case "none":
    case "close":
      return EMPTY;
  }
}

/** The Content-Length the user set, checked (a wrong one is our API misused). */
function outgoingLength(headers: HttpHeaders): number | undefined {
  const v = headers.get("content-length");
  if (v === undefined) return undefined;
  if (!/^[0-9]{1,15}$/.test(v)) throw new TypeError(`invalid Content-Length ${JSON.stringify(v)}`);
  return Number(v);
}

/** Whether the message's own fields let the connection persist (RFC 9112 §9.3). */
function messageKeepsAlive(version: HttpVersion, headers: HttpHeaders): boolean {
  const conn = headers.tokens("connection");
  if (conn.includes("close")) return false;
  return version === "1.1" || conn.includes("keep-alive");
}

/** The server side of one HTTP/1.1 connection. */
export class HttpServerConnection {
  private readonly parser: HttpParser;
  private their: SideState = "idle";
  private ours: SideState = "idle";
  private request: RequestHead | undefined;
  private framing: OutFraming = { kind: "none" };
  private keepAliveNow = true;

  constructor(limits: Partial<HttpLimits> = {}) {
    this.parser = new HttpParser("request", limits);
  }

  /** The client's side. */
  get theirState(): SideState {
    return this.their;
  }

  /** Our side. */
  get ourState(): SideState {
    return this.ours;
  }

  /** Whether the connection will carry another request after this exchange. */
  get keepAlive(): boolean {
    return this.keepAliveNow;
  }

  /** The request being answered, once its head has arrived. */
  get currentRequest(): RequestHead | undefined {
    return this.request;
  }

  /** Received bytes not yet parsed (pipelined requests wait here). */
  get buffered(): number {
    return this.parser.buffered;
  }

  /** Whether some bytes of the next request (past the one being answered) have arrived. */
  get requestStarted(): boolean {
    return this.their !== "idle" || !this.parser.idle;
  }

  /** Bytes received from the client. The connection may keep views of them. */
  receiveData(bytes: Uint8Array): void {
    this.parser.push(bytes);
  }

  /** The client closed its sending side. */
  receiveEof(): void {
    this.parser.finish();
  }

  /** The next event; "need-data" when more bytes are needed, "paused" while a response is due. */
  nextEvent(): ServerEvent {
    if (this.their === "done" || this.their === "must-close" || this.their === "error" || this.their === "closed") {
      return this.their === "closed" ? { kind: "closed" } : { kind: "paused" };
    }
    const e = this.parser.next();
    switch (e.kind) {
      case "request":
        this.request = e.head;
        this.their = "body";
        this.keepAliveNow = messageKeepsAlive(e.head.version, e.head.headers);
        return e;
      case "data":
        return e;
      case "end":
        this.their = this.keepAliveNow ? "done" : "must-close";
        return e;
      case "error":
        this.their = "error";
        this.keepAliveNow = false;
        return e;
      case "eof":
        this.their = "closed";
        this.keepAliveNow = false;
        return { kind: "closed" };
      case "need-data":
        return e;
      case "response":
        throw new Error("unreachable: a request parser returned a response");
    }
  }

  /** Whether the request asked for 100-continue (RFC 9110 §10.1.1) and its body has not come yet. */
  get expectsContinue(): boolean {
    const r = this.request;
    return r !== undefined && r.version === "1.1" && this.their === "body" && r.headers.tokens("expect").includes("100-continue");
  }

  /** The bytes of an interim "100 Continue" (RFC 9110 §15.2.1); changes no state. */
  sendContinue(): Uint8Array {
    return latin1Encode("HTTP/1.1 100 Continue\r\n\r\n");
  }

  /**
   * Starts the response and returns its head's bytes. Framing (RFC 9112 §6.3): a Content-Length the
   * caller set is kept; otherwise HTTP/1.1 gets chunked and HTTP/1.0 a body delimited by closing.
   * HEAD, 204 and 304 get no body (a HEAD response keeps the Content-Length a GET would have).
   * Adds "Connection: close" when the connection ends after this response, and "Connection:
   * keep-alive" for an HTTP/1.0 client that asked for it.
   */
  respond(res: OutgoingResponse): Uint8Array {
    if (this.ours !== "idle") throw new Error(`cannot start a response in state ${this.ours}`);
    if (this.their === "idle" || this.their === "closed") throw new Error("no request to answer");
    if (res.status < 200 || res.status > 999) throw new Error("use sendContinue for interim responses");
    const headers = toHeaders(res.headers);
    const req = this.request;
    const length = outgoingLength(headers);
    if (headers.has("transfer-encoding")) {
      const te = headers.tokens("transfer-encoding");
      if (te.length !== 1 || te[0] !== "chunked") throw new Error("only Transfer-Encoding: chunked can be sent");
      headers.delete("transfer-encoding");
    }
    if (headers.tokens("connection").includes("close")) this.keepAliveNow = false;
    // A request refused before its body was read leaves unread bytes: the connection cannot go on.
    if (this.their === "body" || this.their === "error") this.keepAliveNow = false;
    const noBody = req?.method === "HEAD" || res.status === 204 || res.status === 304;
    if (noBody) {
      // RFC 9110 §8.6: a 204 carries no Content-Length; HEAD and 304 may carry the GET one.
      if (res.status === 204) headers.delete("content-length");
      this.framing = { kind: "none" };
    } else if (length !== undefined) {
      this.framing = { kind: "length", remaining: length };
    } else if (req !== undefined && req.version === "1.1") {
      headers.append("Transfer-Encoding", "chunked");
      this.framing = { kind: "chunked" };
    } else {
      // RFC 9112 §6.3 ¶8: an HTTP/1.0 client can only see the end of an unknown-length body by the close.
      this.framing = { kind: "close" };
      this.keepAliveNow = false;
    }
    headers.delete("connection");
    if (!this.keepAliveNow) headers.append("Connection", "close");
    else if (req?.version === "1.0") headers.append("Connection", "keep-alive");
    this.ours = "body";
    const reason = res.reason ?? REASON_PHRASES[res.status] ?? "";
    // RFC 9110 §2.5: a server sends its own highest conformant version, whatever the request's.
    return serializeHead(`HTTP/1.1 ${res.status} ${reason}`, headers);
  }

  /** Whether the response being sent has a body at all (false for HEAD, 204, 304). */
  get responseHasBody(): boolean {
    return this.framing.kind !== "none";
  }

  /** Frames response body bytes. Throws when they exceed the Content-Length or the response has no body. */
  sendData(data: Uint8Array): Uint8Array {
    if (this.ours !== "body") throw new Error(`cannot send body data in state ${this.ours}`);
    return frameData(this.framing, data);
  }

  /** Ends the response; returns the closing bytes (the last chunk), possibly none. */
  endMessage(): Uint8Array {
    if (this.ours !== "body") throw new Error(`cannot end a response in state ${this.ours}`);
    const out = frameEnd(this.framing);
    this.ours = this.keepAliveNow ? "done" : "must-close";
    return out;
  }

  /** Whether the response is complete and the connection must now be closed. */
  get mustClose(): boolean {
    return this.ours === "must-close" || (this.ours === "done" && !this.keepAliveNow);
  }

  /** After a complete exchange on a persistent connection, gets ready for the next request. */
  startNextCycle(): void {
    if (this.ours !== "done" || this.their !== "done") throw new Error(`cannot start a new cycle (ours ${this.ours}, theirs ${this.their})`);
    this.ours = "idle";
    this.their = "idle";
    this.request = undefined;
    this.framing = { kind: "none" };
    this.keepAliveNow = true;
  }
}

/** The client side of one HTTP/1.1 connection. */
export class HttpClientConnection {
  private readonly parser: HttpParser;
  private their: SideState = "idle";
  private ours: SideState = "idle";
  private framing: OutFraming = { kind: "none" };
  private keepAliveNow = true;
  private method = "GET";

  constructor(limits: Partial<HttpLimits> = {}) {
    this.parser = new HttpParser("response", limits);
  }

  /** The server's side. */
  get theirState(): SideState {
    return this.their;
  }

  /** Our side. */
  get ourState(): SideState {
    return this.ours;
  }

  /** Whether the connection may carry another request after this exchange. */
  get keepAlive(): boolean {
    return this.keepAliveNow;
  }

  /** Bytes received from the server. */
  receiveData(bytes: Uint8Array): void {
    this.parser.push(bytes);
  }

  /** The server closed its sending side. */
  receiveEof(): void {
    this.parser.finish();
  }

  /**
   * Starts a request; returns its head's bytes. With a Content-Length the body must match it; with
   * neither Content-Length nor Transfer-Encoding, `chunked: true` asks for chunked framing, and
   * otherwise the request has no body.
   */
  sendRequest(req: OutgoingRequest, opts: { chunked?: boolean } = {}): Uint8Array {
    if (this.ours !== "idle") throw new Error(`cannot start a request in state ${this.ours}`);
    const headers = toHeaders(req.headers);
    const length = outgoingLength(headers);
    const te = headers.tokens("transfer-encoding");
    if (te.length > 0 && (te.length !== 1 || te[0] !== "chunked")) throw new Error("only Transfer-Encoding: chunked can be sent");
    if (length !== undefined && te.length > 0) throw new Error("a request cannot carry both Content-Length and Transfer-Encoding");
    if (length !== undefined) this.framing = { kind: "length", remaining: length };
    else if (te.length > 0) this.framing = { kind: "chunked" };
    else if (opts.chunked === true) {
      headers.append("Transfer-Encoding", "chunked");
      this.framing = { kind: "chunked" };
    } else this.framing = { kind: "none" };
    if (headers.tokens("connection").includes("close")) this.keepAliveNow = false;
    if (!TOKEN_METHOD.test(req.method)) throw new TypeError(`invalid method ${JSON.stringify(req.method)}`);
    if (!/^[\x21-\x7e]+$/.test(req.target)) throw new TypeError(`invalid request target ${JSON.stringify(req.target)}`);
    this.method = req.method;
    this.parser.expectResponseTo(req.method);
    this.ours = "body";
    return serializeHead(`${req.method} ${req.target} HTTP/1.1`, headers);
  }

  /** Frames request body bytes. */
  sendData(data: Uint8Array): Uint8Array {
    if (this.ours !== "body") throw new Error(`cannot send body data in state ${this.ours}`);
    return frameData(this.framing, data);
  }

  /** Ends the request; returns the closing bytes, possibly none. */
  endMessage(): Uint8Array {
    if (this.ours !== "body") throw new Error(`cannot end a request in state ${this.ours}`);
    const out = frameEnd(this.framing);
    this.ours = "done";
    return out;
  }

  /** The next event about the response. Interim 1xx responses are skipped (RFC 9110 §15.2). */
  nextEvent(): ClientEvent {
    for (;;) {
      if (this.their === "done" || this.their === "must-close" || this.their === "error") return { kind: "paused" };
      if (this.their === "closed") return { kind: "closed" };
      if (this.ours === "idle") {
        // Bytes with no request outstanding are a protocol error; a close is just the end.
        const e = this.parser.next();
        if (e.kind === "eof") {
          this.their = "closed";
          this.keepAliveNow = false;
          return { kind: "closed" };
        }
        if (e.kind === "need-data") return e;
        this.their = "error";
        this.keepAliveNow = false;
        return { kind: "error", reason: "response without a request" };
      }
      const e = this.parser.next();
      switch (e.kind) {
        case "response":
          if (e.head.status >= 100 && e.head.status < 200) {
            if (e.head.status === 101) {
              this.their = "error";
              this.keepAliveNow = false;
              return { kind: "error", reason: "protocol upgrades are not supported" };
            }
            // Its (empty) end comes next; the real response follows, for the same method.
            const end = this.parser.next();
            if (end.kind !== "end") return { kind: "error", reason: "interim response with a body" };
            this.parser.expectResponseTo(this.method);
            continue;
          }
          this.their = "body";
          if (!messageKeepsAlive(e.head.version, e.head.headers) || this.parser.framing === "eof") this.keepAliveNow = false;
          return e;
        case "data":
          return e;
        case "end":
          this.their = this.keepAliveNow ? "done" : "must-close";
          return e;
        case "error":
          this.their = "error";
          this.keepAliveNow = false;
          return { kind: "error", reason: e.reason };
        case "eof":
          this.their = "error";
          this.keepAliveNow = false;
          return { kind: "error", reason: "connection closed before the response" };
        case "need-data":
          return e;
        case "request":
          throw new Error("unreachable: a response parser returned a request");
      }
    }
  }

  /** After a complete exchange on a persistent connection, gets ready for the next request. */
  startNextCycle(): void {
    if (this.ours !== "done" || this.their !== "done") throw new Error(`cannot start a new cycle (ours ${this.ours}, theirs ${this.their})`);
    this.ours = "idle";
    this.their = "idle";
    this.framing = { kind: "none" };
    this.keepAliveNow = true;
  }
}

const TOKEN_METHOD = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
