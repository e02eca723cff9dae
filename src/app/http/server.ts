/**
 * The HTTP/1.1 server's thin layer: an `HttpServerConnection` (connection.ts) driven over any Duplex
 * (a wirestack TcpSocket or a node:net socket), calling a handler once per request, in order.
 *
 * Read before editing: RFC 9112 §9 (persistence, pipelining, closing), RFC 9110 §6.6.1 (Date),
 * §10.1.1 (Expect), §15 (status codes).
 *
 * Guarantees: responses leave in request order; malformed requests get the status RFC 9112 asks
 * for (400, 413, 414, 431, 501, 505) and the connection is closed after it, never crashing the
 * server; every connection ends: a header timeout (slowloris, default 10 s) bounds how long a request
 * head may take, and an idle timeout (default 5 s) how long a kept-alive connection waits for the
 * next request, and a closed connection is destroyed after a short linger. Timers come from the
 * injected `Timers` and the Date header from an injected wall clock: without one no Date is sent, as
 * RFC 9110 §6.6.1 requires of a server without a clock. Request bodies are read whole (up to the body
 * limit) before the handler runs; response bodies stream, with the socket's backpressure honoured.
 */
import type { Duplex } from "node:stream";
import type { AppServer, AppSocket, NetFaces, Timers } from "../net-faces.ts";
import { HttpServerConnection, REASON_PHRASES } from "./connection.ts";
import { HttpHeaders } from "./headers.ts";
import type { HttpLimits, HttpVersion } from "./parser.ts";

/** A request as the handler sees it. */
export interface HttpRequest {
  readonly method: string;
  /** The request-target as sent (RFC 9112 §3.2), e.g. "/a/b?c". */
  readonly target: string;
  readonly version: HttpVersion;
  readonly headers: HttpHeaders;
  /** The whole body (empty when there is none). */
  readonly body: Uint8Array;
  /** Trailer fields of a chunked body. */
  readonly trailers: HttpHeaders;
  readonly remoteAddress: string | undefined;
  readonly remotePort: number | undefined;
}

/** A response body: bytes, text (sent as UTF-8), or a stream of either. */
export type ResponseBody = Uint8Array | string | AsyncIterable<Uint8Array | string>;

/**
 * The response a handler fills in. Either set `status`, `headers` and `body` and return (the server
 * sends them, with a Content-Length when the body's length is known), or stream with `write` and
 * `end` (the head goes out on the first write: chunked for HTTP/1.1 unless a Content-Length is set).
 */
export interface HttpResponse {
  status: number;
  /** The reason phrase; defaults to RFC 9110's. */
  reason: string | undefined;
  readonly headers: HttpHeaders;
  body: ResponseBody | undefined;
  /** Whether the head has gone out (then status and headers no longer matter). */
  readonly headersSent: boolean;
  /** Sends body bytes, the head first if it has not gone out; resolves once the socket takes them. */
  write(chunk: Uint8Array | string): Promise<void>;
  /** Ends the response, with a last chunk if given. */
  end(chunk?: Uint8Array | string): Promise<void>;
}

/** A request handler. It may return before the response is complete only if it calls `end` later. */
export type HttpHandler = (req: HttpRequest, res: HttpResponse) => void | Promise<void>;

/** Server settings. */
export interface HttpServerOptions {
  readonly handler: HttpHandler;
  /** Timers for the header, idle and linger timeouts (src/host/node-net.ts `hostTimers()`). */
  readonly timers: Timers;
  /** Wall-clock milliseconds since the epoch, for the Date header; omitted: no Date header. */
  readonly clock?: () => number;
  /** Size limits; defaults in parser.ts `DEFAULT_LIMITS`. */
  readonly limits?: Partial<HttpLimits>;
  /**
   * How long a request head may take to arrive, from its first byte (or the connection's start), and
   * the longest silence inside a request body. Default 10 s.
   */
  readonly headerTimeoutMs?: number;
  /** How long a persistent connection waits for the next request. Default 5 s. */
  readonly idleTimeoutMs?: number;
  /** How long after our FIN a closing connection is kept to let the response drain. Default 2 s. */
  readonly lingerMs?: number;
  /** The Server header's value; default "wirestack". */
  readonly serverName?: string;
  /** Told about handler failures (the client got a 500 or a cut connection). */
  readonly onError?: (err: unknown) => void;
}

const encoder = new TextEncoder();

function toBytes(chunk: Uint8Array | string): Uint8Array {
  return typeof chunk === "string" ? encoder.encode(chunk) : chunk;
}

function isAsyncIterable(x: unknown): x is AsyncIterable<Uint8Array | string> {
  return typeof x === "object" && x !== null && Symbol.asyncIterator in x;
}

/** An HTTP/1.1 server: give it connections, or let it listen on a `NetFaces`. */
export class HttpServer {
  private readonly sessions = new Set<Session>();
  readonly options: Required<Omit<HttpServerOptions, "clock" | "onError" | "limits">> & Pick<HttpServerOptions, "clock" | "onError" | "limits">;

  constructor(options: HttpServerOptions) {
    this.options = {
      headerTimeoutMs: 10_000,
      idleTimeoutMs: 5_000,
      lingerMs: 2_000,
      serverName: "wirestack",
      ...options,
    };
  }

  /** Open connections. */
  get connectionCount(): number {
    return this.sessions.size;
  }

  /** Serves HTTP on one connected stream until either side closes it. */
  handleConnection(sock: AppSocket | Duplex): void {
    const s = new Session(this, sock as AppSocket);
    this.sessions.add(s);
    s.start(() => this.sessions.delete(s));
  }

  /** Listens through `faces`; the returned server's `close` also ends every open connection. */
  async listen(faces: NetFaces, opts: { port: number; host?: string }): Promise<AppServer> {
    const server = await faces.listen(opts, (sock) => this.handleConnection(sock));
    return {
      port: server.port,
      address: server.address,
      close: async () => {
        const closing = server.close();
        this.closeAll();
        await closing;
      },
    };
  }

  /** Destroys every open connection. */
  closeAll(): void {
    for (const s of this.sessions) s.destroy();
  }
}

type TimerKind = "header" | "idle" | "body" | "linger";

/** One connection being served. */
class Session {
  private readonly conn: HttpServerConnection;
  private readonly opts: HttpServer["options"];
  private timer: unknown;
  private timerKind: TimerKind | undefined;
  private busy = false;
  private closed = false;
  private closing = false;
  private onDone: () => void = () => {};
  private head: { method: string; target: string; version: HttpVersion; headers: HttpHeaders } | undefined;
  private bodyParts: Uint8Array[] = [];
  private bodyLength = 0;
  private lastDataAt = 0;

  constructor(
    server: HttpServer,
    private readonly sock: AppSocket,
  ) {
    this.opts = server.options;
    this.conn = new HttpServerConnection(this.opts.limits ?? {});
  }

  start(onDone: () => void): void {
    this.onDone = onDone;
    this.sock.on("data", (chunk: Uint8Array) => this.onData(chunk));
    this.sock.on("end", () => {
      this.conn.receiveEof();
      this.pump();
    });
    this.sock.on("error", () => this.destroy());
    this.sock.on("close", () => this.finish());
    this.arm("header");
  }

  private onData(chunk: Uint8Array): void {
    if (this.closing) return;
    this.conn.receiveData(chunk);
    if (this.timerKind === "idle") this.arm("header");
    // The body timer is not re-armed per chunk: it checks, when it fires, how long ago data last came.
    this.lastDataAt = this.opts.timers.now();
    // Pipelined requests wait in the parser while a response is being produced; bound that wait.
    if (this.busy && this.conn.buffered > (this.opts.limits?.maxHeaderBytes ?? 32 * 1024) + 65_536) this.sock.pause();
    this.pump();
  }

  private arm(kind: TimerKind): void {
    this.disarm();
    const ms =
      kind === "header" ? this.opts.headerTimeoutMs : kind === "idle" ? this.opts.idleTimeoutMs : kind === "body" ? this.opts.headerTimeoutMs : this.opts.lingerMs;
    this.timerKind = kind;
    this.timer = this.opts.timers.schedule(() => this.onTimeout(kind), ms);
  }

  private disarm(): void {
    if (this.timerKind !== undefined) this.opts.timers.cancel(this.timer);
    this.timerKind = undefined;
    this.timer = undefined;
  }

  private onTimeout(kind: TimerKind): void {
    this.timerKind = undefined;
    if (this.closed) return;
    if (kind === "body") {
      const quiet = this.opts.timers.now() - this.lastDataAt;
      if (quiet < this.opts.headerTimeoutMs) {
        this.timerKind = "body";
        this.timer = this.opts.timers.schedule(() => this.onTimeout("body"), this.opts.headerTimeoutMs - quiet);
        return;
      }
    }
    switch (kind) {
      case "header":
      case "body":
        // Slowloris: a request that trickles in is cut off; RFC 9110 §15.5.9 says 408 to one that began.
        if (!this.busy && this.conn.requestStarted && this.conn.ourState === "idle" && this.conn.theirState !== "done") {
          void this.sendError(408, "request timeout");
        } else if (!this.busy) {
          this.destroy();
        }
        return;
      case "idle":
        if (!this.busy) this.closeGracefully();
        return;
      case "linger":
        this.destroy();
        return;
    }
  }

  private pump(): void {
    while (!this.busy && !this.closed && !this.closing) {
      const e = this.conn.nextEvent();
      switch (e.kind) {
        case "request":
          this.head = e.head;
          this.bodyParts = [];
          this.bodyLength = 0;
          this.lastDataAt = this.opts.timers.now();
          this.arm("body");
          // RFC 9110 §10.1.1: tell a client waiting on 100-continue to send its body.
          if (this.conn.expectsContinue && (e.head.headers.has("content-length") || e.head.headers.has("transfer-encoding"))) {
            void this.out(this.conn.sendContinue());
          }
          break;
        case "data":
          this.bodyParts.push(e.data);
          this.bodyLength += e.data.length;
          break;
        case "end":
          this.disarm();
          this.busy = true;
          void this.serve(e.trailers);
          return;
        case "error":
          this.disarm();
          void this.sendError(e.status, e.reason);
          return;
        case "closed":
          // The client finished between requests: finish our side too.
          this.closeGracefully();
          return;
        case "need-data":
        case "paused":
          return;
      }
    }
  }

  private async serve(trailers: HttpHeaders): Promise<void> {
    const head = this.head;
    if (head === undefined) throw new Error("unreachable: a request ended without a head");
    let body: Uint8Array;
    if (this.bodyParts.length === 1) body = this.bodyParts[0] as Uint8Array;
    else {
      body = new Uint8Array(this.bodyLength);
      let at = 0;
      for (const p of this.bodyParts) {
        body.set(p, at);
        at += p.length;
      }
    }
    this.bodyParts = [];
    const req: HttpRequest = { ...head, body, trailers, remoteAddress: this.sock.remoteAddress, remotePort: this.sock.remotePort };
    const res = new Response(this);
    try {
      await this.opts.handler(req, res);
      if (!res.ended) await res.finish();
    } catch (err) {
      this.opts.onError?.(err);
      if (!res.headersSent && !this.closed) {
        await this.sendError(500, "handler failed");
        return;
      }
      this.destroy();
      return;
    }
    this.afterResponse();
  }

  private afterResponse(): void {
    this.busy = false;
    if (this.closed) return;
    if (this.conn.mustClose) {
      this.closeGracefully();
      return;
    }
    this.conn.startNextCycle();
    this.sock.resume();
    this.arm(this.conn.requestStarted ? "header" : "idle");
    this.pump();
  }

  /** Starts the response: the head, with Date, Server and (when known) Content-Length added. */
  async sendHead(res: Response, knownLength: number | undefined): Promise<void> {
    const headers = res.headers.clone();
    if (this.opts.clock !== undefined && !headers.has("date")) headers.set("Date", new Date(this.opts.clock()).toUTCString());
    if (!headers.has("server")) headers.set("Server", this.opts.serverName);
    // RFC 9110 §8.6: no Content-Length in a 204, and a 304's would have to be the 200's.
    const lengthAllowed = res.status !== 204 && res.status !== 304;
    if (knownLength !== undefined && lengthAllowed && !headers.has("content-length") && !headers.has("transfer-encoding")) {
      headers.set("Content-Length", String(knownLength));
    }
    await this.out(this.conn.respond({ status: res.status, ...(res.reason !== undefined ? { reason: res.reason } : {}), headers }));
  }

  /** Response body bytes (dropped for HEAD, 204 and 304). */
  async sendBody(chunk: Uint8Array): Promise<void> {
    if (!this.conn.responseHasBody || chunk.length === 0) return;
    await this.out(this.conn.sendData(chunk));
  }

  /** Whether the response being sent carries a body (not for HEAD, 204 or 304). */
  get responseHasBody(): boolean {
    return this.conn.responseHasBody;
  }

  async sendEnd(): Promise<void> {
    await this.out(this.conn.endMessage());
  }

  /** Answers a refused request with `status` and closes (RFC 9112 §9.6: after a protocol error). */
  private async sendError(status: number, reason: string): Promise<void> {
    this.busy = true;
    if (this.conn.ourState !== "idle" || this.closed) {
      this.destroy();
      return;
    }
    const text = `${status} ${REASON_PHRASES[status] ?? ""}: ${reason}\n`;
    const res = new Response(this);
    res.status = status;
    res.headers.set("Content-Type", "text/plain; charset=utf-8");
    res.headers.set("Connection", "close");
    try {
      if (this.conn.theirState === "idle") {
        // A timeout before any head: nothing to answer in HTTP terms but the bytes themselves.
        const head = `HTTP/1.1 ${status} ${REASON_PHRASES[status] ?? ""}\r\nConnection: close\r\nContent-Length: ${text.length}\r\n\r\n${text}`;
        await this.out(encoder.encode(head));
      } else {
        await res.end(text);
      }
    } catch {
      this.destroy();
      return;
    }
    this.closeGracefully();
  }

  /** Writes bytes, waiting while the socket's buffer is full. */
  async out(bytes: Uint8Array): Promise<void> {
    if (bytes.length === 0 || this.closed) return;
    if (this.sock.write(bytes)) return;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        this.sock.off("drain", done);
        this.sock.off("close", done);
        resolve();
      };
      this.sock.on("drain", done);
      this.sock.on("close", done);
    });
  }

  /** Sends FIN after what is queued, then waits a little for the peer's before destroying. */
  private closeGracefully(): void {
    if (this.closed || this.closing) return;
    this.closing = true;
    this.sock.end();
    this.arm("linger");
  }

  destroy(): void {
    if (this.closed) return;
    this.sock.destroy();
    this.finish();
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    this.disarm();
    this.onDone();
  }
}

/** The `HttpResponse` given to handlers. */
class Response implements HttpResponse {
  status = 200;
  reason: string | undefined = undefined;
  readonly headers = new HttpHeaders();
  body: ResponseBody | undefined = undefined;
  private sent = false;
  ended = false;

  constructor(private readonly session: Session) {}

  get headersSent(): boolean {
    return this.sent;
  }

  async write(chunk: Uint8Array | string): Promise<void> {
    if (this.ended) throw new Error("write after end");
    if (!this.sent) {
      this.sent = true;
      await this.session.sendHead(this, undefined);
    }
    await this.session.sendBody(toBytes(chunk));
  }

  async end(chunk?: Uint8Array | string): Promise<void> {
    if (this.ended) throw new Error("end called twice");
    const bytes = chunk === undefined ? undefined : toBytes(chunk);
    if (!this.sent) {
      this.sent = true;
      await this.session.sendHead(this, bytes?.length ?? 0);
    }
    this.ended = true;
    if (bytes !== undefined) await this.session.sendBody(bytes);
    await this.session.sendEnd();
  }

  /** Sends `body` when the handler returned without ending the response. */
  async finish(): Promise<void> {
    const body = this.body;
    if (body === undefined || typeof body === "string" || body instanceof Uint8Array) {
      await this.end(body ?? new Uint8Array(0));
      return;
    }
    if (!isAsyncIterable(body)) throw new TypeError("response body must be bytes, a string or an async iterable");
    if (!this.sent) {
      this.sent = true;
      await this.session.sendHead(this, undefined);
    }
    // A HEAD response never reads the body it describes (a file stays unopened).
    if (this.session.responseHasBody) for await (const chunk of body) await this.session.sendBody(toBytes(chunk));
    this.ended = true;
    await this.session.sendEnd();
  }
}
