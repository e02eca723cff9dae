/**
 * `TcpSocket`: a node:net-like socket, a real `stream.Duplex`, over one wirestack TCP connection
 * (src/transport/tcp/connection.ts). Good enough that Node's own `http.request({ createConnection })`,
 * an `http.Server` fed with `server.emit("connection", sock)` and `tls.connect({ socket })` run over it.
 *
 * What it owns: the Node stream state and nothing of TCP. The connection is sans-IO; the socket calls
 * it (write, read, shutdown, abort) and then `kick()`s the stack, which flushes what the connection
 * wants to send and re-arms its one timer. The stack hands the connection's events back through
 * `_deliver(events)` after each batch; the socket acts on them on the next tick, never inside a
 * transition and never re-entrantly inside one of its own calls (STYLE.md: finish, then notify).
 *
 * Flow control end to end. Writing: `_write` hands bytes to the connection's send buffer; what does
 * not fit stays here with its callback until a "writable" event, so the Duplex's own buffer fills,
 * `write()` returns false past `writableHighWaterMark`, and 'drain' follows as in Node. Reading:
 * data is pulled from the connection only when the stream asks (`_read`) and until `push` says
 * stop; bytes left in the connection keep its receive window closed, so a reader that stops reading
 * stops the peer (RFC 9293 §3.8.6).
 *
 * Where it differs from node:net, on purpose:
 * - `destroy()` closes as Linux's close(2) does: a FIN after the data already handed to TCP, or an
 *   RST when received data was never read (RFC 1122 §4.2.2.13, as Linux); `destroy(err)` and
 *   `resetAndDestroy()` always send an RST (RFC 9293 §3.10.5 ABORT).
 * - 'close' means the application is done with the socket, as in Node; the connection may still
 *   finish its FIN exchange or sit in TIME-WAIT inside the stack.
 * - Errors are `TcpSocketError`s (a WirestackError) whose `code`, `errno`, `syscall`, `address` and
 *   `port` are those Node would give (`code === "ECONNREFUSED"`, `errno === -111`, …).
 * - `bytesWritten` counts bytes handed to TCP (Node also counts what waits in the stream's buffer).
 * - `ref()`/`unref()` are no-ops: the stack's one timer decides whether the process stays alive.
 */
import { Duplex, type DuplexOptions } from "node:stream";
import { constants as osConstants } from "node:os";
import { WirestackError } from "../errors.ts";
import type { Clock, TimerId } from "../time/clock.ts";
import type { Endpoint, TcpConnection, TcpEvent, TcpState, TcpStats } from "../transport/tcp/connection.ts";
import type { TcpConnectionOwner, TcpLayer } from "../transport/tcp/layer.ts";
import { ipv4ToString, ipv6ToString } from "../wire/ip-address.ts";

/** The part of `TcpConnection` the socket uses (the contract's app side), so tests can fake it. */
export interface TcpSocketConnection {
  readonly local: Endpoint;
  readonly remote: Endpoint;
  readonly state: TcpState;
  /** Bytes accepted into the send buffer (0 when full); a "writable" event follows a short write. */
  write(data: Uint8Array): number;
  /** In-order received data, or undefined; reading opens the receive window. */
  read(maxBytes?: number): Uint8Array | undefined;
  readonly readableLength: number;
  readonly writableLength: number;
  shutdown(now: number): void;
  /** Shutdown for a socket the app is done with: an orphan, so FIN-WAIT-2 times out (Linux's tcp_fin_timeout). */
  close(now: number): void;
  abort(now: number): void;
  /** The connection's statistics: state, cwnd, ssthresh, srtt, rttvar, rto, bytes, retransmits, SACKed bytes, … */
  stats(): TcpStats;
  setNoDelay(on: boolean): void;
  setKeepAlive(on: boolean, idleMs?: number, now?: number): void;
}

/** Node's codes for the errors a TCP socket reports. */
export type TcpSocketErrorCode = "ECONNREFUSED" | "ECONNRESET" | "ETIMEDOUT" | "EPIPE" | "EADDRINUSE" | "EADDRNOTAVAIL";

/**
 * A socket error as Node reports it (`code`, negative `errno`, `syscall`, peer `address` and
 * `port`), with the connection's own explanation after Node's usual "syscall CODE address:port".
 */
export class TcpSocketError extends WirestackError<TcpSocketErrorCode> {
  override readonly name = "TcpSocketError";
  /** Negative errno as in Node (`-os.constants.errno[code]`, e.g. −111 for ECONNREFUSED on Linux). */
  readonly errno: number;

  constructor(
    code: TcpSocketErrorCode,
    /** The call that failed, as in Node: "connect", "read", "write", "listen". */
    readonly syscall: string,
    readonly address: string | undefined,
    readonly port: number | undefined,
    detail: string,
  ) {
    const where = address === undefined ? "" : port === undefined ? ` ${address}` : ` ${address}:${port}`;
    super(code, `${syscall} ${code}${where}${detail === "" ? "" : ` (${detail})`}`);
    this.errno = -(osConstants.errno[code] ?? 0);
  }
}

/** The socket's or the peer's address, as `net.Socket.address()`. */
export interface TcpAddressInfo {
  readonly address: string;
  readonly family: "IPv4" | "IPv6";
  readonly port: number;
}

/** How the stack (or the server) builds a socket around a connection. */
export interface TcpSocketOptions {
  readonly connection: TcpSocketConnection;
  /** The stack's clock: `now` for the connection's calls, `schedule` for `setTimeout`. */
  readonly clock: Clock;
  /** Called after every call into the connection: the stack flushes it and re-arms its timer. */
  readonly kick?: (() => void) | undefined;
  /** As net.Socket: false (default) ends our side when the peer's FIN has been read. */
  readonly allowHalfOpen?: boolean | undefined;
  /** The Duplex's buffer sizes; default Node's (16 KiB each way). */
  readonly readableHighWaterMark?: number | undefined;
  readonly writableHighWaterMark?: number | undefined;
}

/** `readyState` values, as net.Socket. */
export type TcpReadyState = "opening" | "open" | "readOnly" | "writeOnly" | "closed";

/** Text of an endpoint's address, and its family as Node names it. */
export function endpointInfo(e: Endpoint): TcpAddressInfo {
  if (e.family === 4) return { address: ipv4ToString(e.address as number), family: "IPv4", port: e.port };
  return { address: ipv6ToString(e.address as Uint8Array), family: "IPv6", port: e.port };
}

/** The most one `_read` turn takes from the connection per read, as Node's 64 KiB socket reads. */
const READ_CHUNK = 65536;

const SYSCALL_OF: Record<Exclude<TcpSocketErrorCode, "EADDRINUSE" | "EADDRNOTAVAIL">, string> = {
  ECONNREFUSED: "connect",
  ECONNRESET: "read",
  ETIMEDOUT: "read",
  EPIPE: "write",
};

function assertNever(x: never): never {
  throw new Error(`unexpected TCP event ${JSON.stringify(x)}`);
}

/**
 * The Duplex options of a socket without its own buffer sizes: shared, so a busy server builds no
 * options object per connection.
 */
const DUPLEX_OPTIONS_CLOSE_ON_END = { allowHalfOpen: false, emitClose: false, decodeStrings: true } as const;
const DUPLEX_OPTIONS_HALF_OPEN = { allowHalfOpen: true, emitClose: false, decodeStrings: true } as const;

function duplexOptions(opts: TcpSocketOptions): DuplexOptions {
  const allowHalfOpen = opts.allowHalfOpen ?? false;
  if (opts.readableHighWaterMark === undefined && opts.writableHighWaterMark === undefined) {
    return allowHalfOpen ? DUPLEX_OPTIONS_HALF_OPEN : DUPLEX_OPTIONS_CLOSE_ON_END;
  }
  return {
    allowHalfOpen,
    emitClose: false, // 'close' carries hadError, as net.Socket's
    decodeStrings: true,
    ...(opts.readableHighWaterMark !== undefined ? { readableHighWaterMark: opts.readableHighWaterMark } : {}),
    ...(opts.writableHighWaterMark !== undefined ? { writableHighWaterMark: opts.writableHighWaterMark } : {}),
  };
}

function noKick(): void {}

/** A TCP socket in the manner of net.Socket (see the module comment for the differences). */
export class TcpSocket extends Duplex implements TcpConnectionOwner {
  /** True until the three-way handshake completes (as net.Socket). */
  connecting: boolean;
  /** Bytes pushed to the reader. */
  bytesRead = 0;
  /** Bytes handed to TCP's send buffer. */
  bytesWritten = 0;
  /** The idle timeout set by `setTimeout`, in ms (undefined: none). */
  timeout: number | undefined = undefined;

  private readonly conn: TcpSocketConnection;
  private readonly clock: Clock;
  private readonly kickStack: () => void;
  /**
   * Set by `attachTcpSocket`: the layer to mark the connection dirty in before the stack's kick. Kept
   * as fields rather than a closure per socket (a server makes one socket per connection).
   */
  private readonly host: TcpSocketHost | undefined;
  private readonly layerConn: TcpConnection | undefined;
  /** Address texts, built on first use: most sockets of a busy server are never asked. */
  private localInfoCache: TcpAddressInfo | undefined = undefined;
  private remoteInfoCache: TcpAddressInfo | undefined = undefined;
  /** Chunks `_write`/`_writev` handed us that TCP has not taken yet (created by the first write), and their callback. */
  private pendingChunks: Uint8Array[] | undefined = undefined;
  private pendingCb: ((err?: Error | null) => void) | undefined = undefined;
  /** The stream asked for data and has not been told to stop (`push` returned false). */
  private wantData = false;
  /** The peer's FIN was reported; `push(null)` once the connection's data is all pulled. */
  private peerEnded = false;
  private pushedEnd = false;
  /** `_final` arrived while connecting: the FIN waits for the handshake (RFC 9293 §3.10.4). */
  private finalWaiting: ((err?: Error | null) => void) | undefined = undefined;
  private shutDown = false;
  /** The connection reached CLOSED. */
  private connClosed = false;
  /** Destroyed: events about the connection no longer concern the application. */
  private detached = false;
  /** Events waiting for the next tick; undefined when none (most sockets see a few batches in all). */
  private inbox: TcpEvent[] | undefined = undefined;
  private inboxScheduled = false;
  private idleTimer: TimerId | undefined = undefined;
  private lastActive: number;

  /**
   * `host` and `layerConn` are `attachTcpSocket`'s: with them, every call into the connection marks
   * it in the layer and kicks the stack (`opts.kick` is then unused).
   */
  constructor(opts: TcpSocketOptions, host?: TcpSocketHost, layerConn?: TcpConnection) {
    super(duplexOptions(opts));
    this.conn = opts.connection;
    this.clock = opts.clock;
    this.kickStack = opts.kick ?? noKick;
    this.host = host;
    this.layerConn = layerConn;
    const st = this.conn.state;
    this.connecting = st === "SYN-SENT" || st === "SYN-RECEIVED";
    this.lastActive = this.clock.now();
    // As net.Socket: start reading at once, so data fills the stream's buffer up to its high-water mark.
    if (!this.connecting) this.read(0);
  }

  // ---------------------------------------------------------------------------------------------
  // net.Socket's surface

  private get localInfo(): TcpAddressInfo {
    return (this.localInfoCache ??= endpointInfo(this.conn.local));
  }
  private get remoteInfo(): TcpAddressInfo {
    return (this.remoteInfoCache ??= endpointInfo(this.conn.remote));
  }

  get remoteAddress(): string {
    return this.remoteInfo.address;
  }
  get remotePort(): number {
    return this.remoteInfo.port;
  }
  get remoteFamily(): "IPv4" | "IPv6" {
    return this.remoteInfo.family;
  }
  get localAddress(): string {
    return this.localInfo.address;
  }
  get localPort(): number {
    return this.localInfo.port;
  }
  get localFamily(): "IPv4" | "IPv6" {
    return this.localInfo.family;
  }

  /** True until connected, as net.Socket's `pending`. */
  get pending(): boolean {
    return this.connecting || this.destroyed;
  }

  /** The TCP state (RFC spelling), for inspection. */
  get tcpState(): TcpState {
    return this.conn.state;
  }

  /** As net.Socket's `readyState`. */
  get readyState(): TcpReadyState {
    if (this.connecting) return "opening";
    if (this.readable && this.writable) return "open";
    if (this.readable) return "readOnly";
    if (this.writable) return "writeOnly";
    return "closed";
  }

  /** The local address, as net.Socket's `address()`. */
  address(): TcpAddressInfo {
    return { ...this.localInfo };
  }

  /**
   * The connection's statistics (issue 4): state, cwnd, ssthresh, srtt, rttvar, rto, bytes in and
   * out, retransmits, SACKed bytes and the loss-recovery counters. Readable after close too.
   */
  stats(): TcpStats {
    return this.conn.stats();
  }

  /** Nagle off (`true`, the default argument as in Node) or on (RFC 896). */
  setNoDelay(noDelay = true): this {
    this.conn.setNoDelay(noDelay);
    this.kick();
    return this;
  }

  /**
   * Keepalive probes after `initialDelay` ms idle (0: the connection's default, 2 h as Linux), as
   * net.Socket; a connection that stops answering them fails with ETIMEDOUT (RFC 1122 §4.2.3.6).
   */
  setKeepAlive(enable = false, initialDelay = 0): this {
    if (enable && initialDelay > 0) this.conn.setKeepAlive(true, initialDelay, this.clock.now());
    else if (enable) this.conn.setKeepAlive(true, undefined, this.clock.now());
    else this.conn.setKeepAlive(false);
    this.kick();
    return this;
  }

  /**
   * Emits 'timeout' after `ms` without data read or written (0 turns it off), as net.Socket; the
   * socket stays open: the listener decides (usually `destroy()`).
   */
  setTimeout(ms: number, callback?: () => void): this {
    if (!Number.isFinite(ms) || ms < 0) {
      throw new WirestackError("WIRESTACK_ERR_BAD_ARGUMENT", `setTimeout: give a timeout in ms ≥ 0, not ${String(ms)}`);
    }
    if (callback !== undefined) {
      if (ms === 0) this.removeListener("timeout", callback);
      else this.once("timeout", callback);
    }
    this.timeout = ms === 0 ? undefined : ms;
    this.disarmIdle();
    if (this.timeout !== undefined) this.touch();
    return this;
  }

  /** Ends our side, then destroys once the end is written, as net.Socket's `destroySoon`. */
  destroySoon(): void {
    if (this.writable) this.end();
    if (this.writableFinished) this.destroy();
    else this.once("finish", () => this.destroy());
  }

  /** Sends an RST and destroys (net.Socket's `resetAndDestroy`, RFC 9293 §3.10.5 ABORT). */
  resetAndDestroy(): this {
    this.abortConnection();
    return this.destroy();
  }

  /** No-op (see the module comment); for net.Socket compatibility. */
  ref(): this {
    return this;
  }

  /** No-op; for net.Socket compatibility. */
  unref(): this {
    return this;
  }

  /**
   * The connection's events, from the stack after a batch (contract: `takeEvents()` then
   * `_deliver`). Handled on the next tick, in order.
   */
  _deliver(events: readonly TcpEvent[]): void {
    if (events.length === 0) return;
    // The first batch is copied at its size (a growing [] reserves room for 16 and more).
    if (this.inbox === undefined) this.inbox = events.slice();
    else for (const e of events) this.inbox.push(e);
    if (this.inboxScheduled) return;
    this.inboxScheduled = true;
    process.nextTick(TcpSocket.drainInboxOf, this);
  }

  /**
   * The layer's owner callback (`TcpConnectionOwner`, set by `attachTcpSocket`): the socket itself
   * hears its connection, with no callback object per connection. Same as `_deliver`.
   * @internal
   */
  deliver(events: readonly TcpEvent[]): void {
    this._deliver(events);
  }

  // ---------------------------------------------------------------------------------------------
  // Duplex implementation

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    if (this.connClosed) {
      callback(this.epipe());
      return;
    }
    (this.pendingChunks ??= []).push(chunk);
    this.pendingCb = callback;
    this.pushPending();
  }

  override _writev(chunks: { chunk: Buffer; encoding: BufferEncoding }[], callback: (err?: Error | null) => void): void {
    if (this.connClosed) {
      callback(this.epipe());
      return;
    }
    const pending = (this.pendingChunks ??= []);
    for (const c of chunks) pending.push(c.chunk);
    this.pendingCb = callback;
    this.pushPending();
  }

  override _final(callback: (err?: Error | null) => void): void {
    if (this.connecting) {
      // Node's net.Socket also waits for 'connect' before shutdown(2); a FIN from SYN-SENT would drop the data.
      this.finalWaiting = callback;
      return;
    }
    this.shutdownConnection();
    callback();
  }

  override _read(_size: number): void {
    this.wantData = true;
    this.pull();
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.disarmIdle();
    if (!this.connClosed) {
      if (err !== null || this.conn.readableLength > 0) this.abortConnection();
      else {
        // The app is done with the socket: FIN (if not sent yet) and orphan the connection.
        this.shutDown = true;
        this.conn.close(this.clock.now());
        this.kickNow();
      }
    }
    this.detached = true;
    this.pendingChunks = undefined;
    this.pendingCb = undefined;
    this.finalWaiting = undefined;
    callback(err);
    const hadError = err !== null;
    process.nextTick(() => this.emit("close", hadError));
  }

  // ---------------------------------------------------------------------------------------------
  // Internals

  /** Writing to a connection that has closed (Node's EPIPE). */
  private epipe(): TcpSocketError {
    return new TcpSocketError("EPIPE", "write", this.remoteInfo.address, this.remoteInfo.port, "the connection is closed");
  }

  private kick(): void {
    if (!this.connClosed) this.kickNow();
  }

  /** Marks the connection for the layer's flush (attached sockets), then the stack's kick. */
  private kickNow(): void {
    const host = this.host;
    if (host !== undefined) {
      host.layer.kick(this.layerConn as TcpConnection);
      host.kick();
    } else this.kickStack();
  }

  /** Hands pending chunks to TCP; the write callback runs once all of them are taken. */
  private pushPending(): void {
    let accepted = 0;
    const pending = this.pendingChunks;
    while (pending !== undefined && pending.length > 0) {
      const chunk = pending[0] as Uint8Array;
      const n = chunk.length === 0 ? 0 : this.conn.write(chunk);
      accepted += n;
      if (n < chunk.length) {
        pending[0] = chunk.subarray(n);
        break;
      }
      pending.shift();
    }
    if (accepted > 0) {
      this.bytesWritten += accepted;
      this.touch();
      this.kick();
    }
    if ((pending === undefined || pending.length === 0) && this.pendingCb !== undefined) {
      const cb = this.pendingCb;
      this.pendingCb = undefined;
      cb();
    }
  }

  /** Pushes what the connection holds while the stream wants it; the FIN after the last byte. */
  private pull(): void {
    if (this.detached || this.pushedEnd) return;
    let pulled = false;
    while (this.wantData) {
      // At most 64 KiB at a time, as Node reads a socket: the rest keeps the window closed until asked for.
      const data = this.conn.read(READ_CHUNK);
      if (data === undefined) break;
      pulled = true;
      this.bytesRead += data.length;
      // The bytes view the received frame, which the stack gave up for good: no copy.
      if (!this.push(Buffer.from(data.buffer, data.byteOffset, data.byteLength))) this.wantData = false;
    }
    if (pulled) {
      this.touch();
      this.kick(); // reading may have opened the window enough for an update (RFC 9293 §3.8.6.2.2)
    }
    if (this.peerEnded && this.conn.readableLength === 0) {
      this.pushedEnd = true;
      this.push(null);
    }
  }

  /** The tick callback of `_deliver`: one function for every socket, no closure per batch. */
  private static drainInboxOf(sock: TcpSocket): void {
    sock.drainInbox();
  }

  private drainInbox(): void {
    this.inboxScheduled = false;
    const events = this.inbox;
    this.inbox = undefined;
    if (events !== undefined) for (const e of events) this.handle(e);
  }

  private handle(e: TcpEvent): void {
    if (this.detached) {
      // Closed by the application before the peer finished: data nobody will read is refused as
      // Linux refuses it for an orphaned socket (an RST).
      if (e.kind === "readable" && this.conn.readableLength > 0 && !this.connClosed) this.abortConnection();
      if (e.kind === "closed") this.connClosed = true;
      return;
    }
    switch (e.kind) {
      case "connected": {
        if (!this.connecting) return;
        this.connecting = false;
        this.touch();
        const waiting = this.finalWaiting;
        this.finalWaiting = undefined;
        this.emit("connect");
        this.emit("ready");
        this.read(0);
        if (waiting !== undefined && !this.destroyed) {
          this.shutdownConnection();
          waiting();
        }
        return;
      }
      case "readable":
        this.pull();
        return;
      case "writable":
        this.pushPending();
        return;
      case "end":
        this.peerEnded = true;
        this.pull();
        return;
      case "closed":
        this.connClosed = true;
        this.onConnectionClosed();
        return;
      case "error": {
        const info = this.remoteInfo;
        const syscall = this.connecting ? "connect" : SYSCALL_OF[e.code];
        this.connClosed = true;
        this.destroy(new TcpSocketError(e.code, syscall, info.address, info.port, e.message));
        return;
      }
      default:
        assertNever(e);
    }
  }

  /** CLOSED without an error event: a clean end of both directions, or a quiet close. */
  private onConnectionClosed(): void {
    if (this.destroyed) return;
    if (this.peerEnded && !this.pushedEnd) {
      // The reader has not consumed everything yet; the stream ends (and auto-destroys) when it does.
      return;
    }
    if (!this.pushedEnd) {
      this.pushedEnd = true;
      this.push(null);
    }
    if (!this.writableFinished) this.destroy();
  }

  private shutdownConnection(): void {
    if (this.shutDown || this.connClosed) return;
    this.shutDown = true;
    this.conn.shutdown(this.clock.now());
    this.kickNow();
  }

  private abortConnection(): void {
    if (this.connClosed) return;
    this.conn.abort(this.clock.now());
    this.kickNow();
    this.connClosed = this.conn.state === "CLOSED";
  }

  /** Records activity for `setTimeout` and arms the idle timer if needed. */
  private touch(): void {
    this.lastActive = this.clock.now();
    if (this.timeout !== undefined && this.idleTimer === undefined && !this.destroyed) this.armIdle(this.lastActive + this.timeout);
  }

  private armIdle(at: number): void {
    this.idleTimer = this.clock.schedule(at, () => {
      this.idleTimer = undefined;
      if (this.timeout === undefined || this.destroyed) return;
      const due = this.lastActive + this.timeout;
      if (due > this.clock.now()) this.armIdle(due);
      else this.emit("timeout");
    });
  }

  private disarmIdle(): void {
    if (this.idleTimer !== undefined) this.clock.cancel(this.idleTimer);
    this.idleTimer = undefined;
  }
}

/** What `attachTcpSocket` needs of the stack. */
export interface TcpSocketHost {
  readonly layer: TcpLayer;
  readonly clock: Clock;
  /** The stack's kick: flush the TCP layer and re-arm the timer. */
  readonly kick: () => void;
}

/**
 * Wraps a connection of `host.layer` (from `connect` or `accept`) in a socket and makes the socket
 * its owner, so the layer's flush delivers the connection's events to it (layer.ts's contract).
 */
export function attachTcpSocket(
  host: TcpSocketHost,
  conn: TcpConnection,
  opts: Omit<TcpSocketOptions, "connection" | "clock" | "kick"> = {},
): TcpSocket {
  const sock = new TcpSocket(
    {
      connection: conn,
      clock: host.clock,
      allowHalfOpen: opts.allowHalfOpen,
      readableHighWaterMark: opts.readableHighWaterMark,
      writableHighWaterMark: opts.writableHighWaterMark,
    },
    host,
    conn,
  );
  host.layer.setOwner(conn, sock);
  return sock;
}
