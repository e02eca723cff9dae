/**
 * `TcpServer`: a node:net-like server over one wirestack TCP listener (src/transport/tcp/listener.ts).
 *
 * Owns the listener from `listen()` to `close()` and the set of sockets it handed out. The
 * listener's accept queue is drained when the layer says connections wait (`acceptable()`, after a
 * batch); each connection becomes a `TcpSocket` through the host (the stack), which also routes the
 * connection's events to it. Every event is emitted on a later tick, as net.Server does: 'listening'
 * after `listen()`, 'error' for a taken port, 'connection' per socket, 'close' once closed and the last
 * socket is gone.
 *
 * Where it differs from node:net, on purpose: host names are not resolved (IP literals only); a
 * port already taken is reported as in Node (`err.code === "EADDRINUSE"`, syscall "listen") by a
 * `TcpSocketError`, a WirestackError; `ref()`/`unref()` are no-ops.
 */
import { EventEmitter } from "node:events";
import { WirestackError } from "../errors.ts";
import type { TcpConnection } from "../transport/tcp/connection.ts";
import type { TcpListenerOwner, TcpListenLocal } from "../transport/tcp/listener.ts";
import { ipv4ToString, ipv6ToString } from "../wire/ip-address.ts";
import type { Clock } from "../time/clock.ts";
import type { Random } from "../time/random.ts";
import type { TcpLayer } from "../transport/tcp/layer.ts";
import type { TcpListener } from "../transport/tcp/listener.ts";
import { pickEphemeralPort } from "../transport/ports.ts";
import { TcpSocketError, attachTcpSocket, type TcpAddressInfo, type TcpSocket } from "./tcp-socket.ts";
import { parseIpLiteral } from "./udp-socket.ts";

/** The listener as the server uses it (TcpLayer's `TcpListener` fits). */
export interface TcpServerListener {
  readonly port: number;
  readonly local: TcpListenLocal;
  owner: TcpListenerOwner | undefined;
}

/** What the stack provides a server. */
export interface TcpServerHost {
  /**
   * Opens a listener (TcpLayer.listen): port 0 for an ephemeral one. Throws a WirestackError when
   * the port is taken (code "EADDRINUSE" or "WIRESTACK_ERR_ADDR_IN_USE") or the address is not ours.
   */
  listen(port: number, local: TcpListenLocal | undefined, backlog: number | undefined): TcpServerListener;
  /** Closes a listener: no new connections; half-open and unaccepted ones are reset. */
  unlisten(listener: TcpServerListener): void;
  /** The oldest established connection waiting on `listener` (TcpLayer.accept). */
  accept(listener: TcpServerListener): TcpConnection | undefined;
  /** Wraps an accepted connection in a socket that receives its events. */
  socketFor(conn: TcpConnection, opts: { readonly allowHalfOpen: boolean }): TcpSocket;
  /** True when the stack has addresses of this family (for "::" meaning both, as Node). */
  hasFamily(family: 4 | 6): boolean;
}

/** Options of `new TcpServer`, as net.createServer's. */
export interface TcpServerOptions {
  /** As net.Server: keep our side open after the peer's FIN (default false). */
  readonly allowHalfOpen?: boolean | undefined;
  /** Start each socket paused (default false). */
  readonly pauseOnConnect?: boolean | undefined;
  /** setNoDelay on each accepted socket. */
  readonly noDelay?: boolean | undefined;
  /** setKeepAlive on each accepted socket, with `keepAliveInitialDelay` ms. */
  readonly keepAlive?: boolean | undefined;
  readonly keepAliveInitialDelay?: number | undefined;
}

/** `listen`'s options form, as net.Server's. */
export interface TcpListenOptions {
  readonly port?: number | undefined;
  /** An IP literal; "0.0.0.0" every IPv4 address, "::" every address; absent: every address. */
  readonly host?: string | undefined;
  readonly backlog?: number | undefined;
  /** With host "::", IPv6 only. */
  readonly ipv6Only?: boolean | undefined;
}

/** Events of `TcpServer`, with their listener arguments. */
export interface TcpServerEvents {
  connection: [socket: TcpSocket];
  listening: [];
  close: [];
  error: [err: Error];
  drop: [info: { localAddress: string; localPort: number; remoteAddress: string; remotePort: number; remoteFamily: string }];
}

/** Node's code for a listen error the host threw, when Node reports it as an 'error' event. */
function listenErrno(err: unknown): "EADDRINUSE" | "EADDRNOTAVAIL" | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  if (code === "EADDRINUSE" || code === "WIRESTACK_ERR_ADDR_IN_USE") return "EADDRINUSE";
  if (code === "EADDRNOTAVAIL" || code === "WIRESTACK_ERR_ADDR_NOT_AVAILABLE") return "EADDRNOTAVAIL";
  return undefined;
}

/** A TCP server in the manner of net.Server (see the module comment). */
export class TcpServer extends EventEmitter<TcpServerEvents> implements TcpListenerOwner {
  /** New connections beyond this many open sockets are closed at once, as net.Server's. */
  maxConnections: number | undefined = undefined;

  private readonly host: TcpServerHost;
  private readonly opts: TcpServerOptions;
  private listener: TcpServerListener | undefined = undefined;
  private readonly sockets = new Set<TcpSocket>();
  private closing = false;
  /** Every socket's 'close' listener: one function per server, not a closure per connection. */
  private readonly onSocketClose: (this: TcpSocket) => void;

  constructor(host: TcpServerHost, options: TcpServerOptions = {}, connectionListener?: (socket: TcpSocket) => void) {
    super();
    this.host = host;
    this.opts = options;
    const server = this;
    this.onSocketClose = function (this: TcpSocket): void {
      server.sockets.delete(this);
      server.maybeClosed();
    };
    if (connectionListener !== undefined) this.on("connection", connectionListener);
  }

  /** True between a successful `listen` and `close`. */
  get listening(): boolean {
    return this.listener !== undefined;
  }

  /**
   * Listens as net.Server: `listen(port, host?, backlog?, cb?)`, `listen(port, cb)` or
   * `listen({ port, host, backlog }, cb)`. A taken port is emitted as 'error' (code EADDRINUSE); a
   * bad argument throws a WirestackError, as Node throws for one.
   */
  listen(port?: number, host?: string, backlog?: number, cb?: () => void): this;
  listen(port: number, host: string, cb?: () => void): this;
  listen(port: number, backlog: number, cb?: () => void): this;
  listen(port: number, cb?: () => void): this;
  listen(options: TcpListenOptions, cb?: () => void): this;
  listen(cb?: () => void): this;
  listen(...args: unknown[]): this {
    let cb: (() => void) | undefined;
    if (typeof args[args.length - 1] === "function") cb = args.pop() as () => void;
    let o: TcpListenOptions;
    if (typeof args[0] === "object" && args[0] !== null) o = args[0] as TcpListenOptions;
    else {
      const [port, second, third] = args;
      o = typeof second === "number" ? { port: port as number, backlog: second } : { port: port as number | undefined, host: second as string | undefined, backlog: third as number | undefined };
    }
    const port = o.port ?? 0;
    if (typeof port !== "number" || !Number.isInteger(port) || port < 0 || port > 0xffff) {
      throw new WirestackError("WIRESTACK_ERR_BAD_PORT", `listen: port ${String(port)} is not an integer in 0–65535`);
    }
    if (this.listener !== undefined) {
      throw new WirestackError("WIRESTACK_ERR_ALREADY_LISTENING", "listen: this server is already listening; close() it first");
    }
    const local = this.localFor(o.host, o.ipv6Only === true);
    if (cb !== undefined) this.once("listening", cb);
    this.closing = false;
    try {
      this.listener = this.host.listen(port, local, o.backlog);
    } catch (err) {
      if (cb !== undefined) this.removeListener("listening", cb);
      const code = listenErrno(err);
      if (code === undefined) throw err;
      const shown = o.host ?? (this.host.hasFamily(6) ? "::" : "0.0.0.0");
      const e = new TcpSocketError(code, "listen", shown, port, (err as Error).message);
      process.nextTick(() => this.emit("error", e));
      return this;
    }
    this.listener.owner = this;
    process.nextTick(() => {
      if (this.listener !== undefined) this.emit("listening");
    });
    return this;
  }

  /** The bound address, as net.Server's `address()`; null when not listening. */
  address(): TcpAddressInfo | null {
    const l = this.listener;
    if (l === undefined) return null;
    const local = l.local;
    switch (local.family) {
      case "dual":
        return { address: "::", family: "IPv6", port: l.port };
      case 4:
        return { address: ipv4ToString(local.address ?? 0), family: "IPv4", port: l.port };
      case 6:
        return { address: local.address === undefined ? "::" : ipv6ToString(local.address), family: "IPv6", port: l.port };
    }
  }

  /**
   * Stops accepting, as net.Server: 'close' (and `cb`) once every socket handed out has closed.
   * Connections waiting in the accept queue are dropped with the listener. `cb` gets an error when
   * the server was not listening.
   */
  close(cb?: (err?: Error) => void): this {
    if (this.listener === undefined) {
      if (cb !== undefined) {
        const err = new WirestackError("ERR_SERVER_NOT_RUNNING", "Server is not running.");
        process.nextTick(cb, err);
      }
      return this;
    }
    if (cb !== undefined) this.once("close", () => cb());
    const l = this.listener;
    this.listener = undefined;
    l.owner = undefined;
    this.host.unlisten(l);
    this.closing = true;
    this.maybeClosed();
    return this;
  }

  /** The number of open sockets, as net.Server's (callback form). */
  getConnections(cb: (err: Error | null, count: number) => void): this {
    const n = this.sockets.size;
    process.nextTick(cb, null, n);
    return this;
  }

  /** No-op (the stack's timer decides whether the process stays alive); for net compatibility. */
  ref(): this {
    return this;
  }

  /** No-op; for net compatibility. */
  unref(): this {
    return this;
  }

  /** From the layer, after a batch: connections wait in the accept queue. */
  acceptable(): void {
    const l = this.listener;
    if (l === undefined) return;
    // Bounded by the accept queue (its backlog): each turn removes one.
    for (let conn = this.host.accept(l); conn !== undefined; conn = this.host.accept(l)) this.adopt(conn);
  }

  private adopt(conn: TcpConnection): void {
    const sock = this.host.socketFor(conn, { allowHalfOpen: this.opts.allowHalfOpen === true });
    if (this.maxConnections !== undefined && this.sockets.size >= this.maxConnections) {
      const info = {
        localAddress: sock.localAddress,
        localPort: sock.localPort,
        remoteAddress: sock.remoteAddress,
        remotePort: sock.remotePort,
        remoteFamily: sock.remoteFamily,
      };
      sock.destroy();
      process.nextTick(() => this.emit("drop", info));
      return;
    }
    this.sockets.add(sock);
    // 'on', not 'once': a socket emits 'close' once (no once-wrapper per connection).
    sock.on("close", this.onSocketClose);
    if (this.opts.noDelay === true) sock.setNoDelay(true);
    if (this.opts.keepAlive === true) sock.setKeepAlive(true, this.opts.keepAliveInitialDelay ?? 0);
    if (this.opts.pauseOnConnect === true) sock.pause();
    process.nextTick(emitConnection, this, sock);
  }

  private maybeClosed(): void {
    if (!this.closing || this.sockets.size > 0) return;
    this.closing = false;
    process.nextTick(() => this.emit("close"));
  }

  private localFor(host: string | undefined, ipv6Only: boolean): TcpListenLocal | undefined {
    if (host === undefined) return undefined;
    const parsed = parseIpLiteral(host);
    if (parsed === undefined) {
      throw new WirestackError("WIRESTACK_ERR_BAD_ADDRESS", `listen: '${host}' is not an IPv4 or IPv6 address (host names are not resolved)`);
    }
    if (parsed.family === 4) return { family: 4, address: parsed.address === 0 ? undefined : parsed.address };
    if (parsed.address.every((b) => b === 0)) {
      return !ipv6Only && this.host.hasFamily(4) ? { family: "dual" } : { family: 6 };
    }
    return { family: 6, address: parsed.address };
  }
}

function emitConnection(server: TcpServer, sock: TcpSocket): void {
  server.emit("connection", sock);
}

/**
 * The `TcpServerHost` of a stack's TCP layer: listeners from `layer.listen` (port 0 picks a free
 * ephemeral port, RFC 6056, with `random`), sockets through `attachTcpSocket`.
 */
export function tcpServerHost(opts: { readonly layer: TcpLayer; readonly clock: Clock; readonly kick: () => void; readonly random: Random }): TcpServerHost {
  const { layer, clock, kick, random } = opts;
  const socketHost = { layer, clock, kick };
  const closeOnEnd = { allowHalfOpen: false };
  const halfOpen = { allowHalfOpen: true };
  return {
    listen(port, local, backlog) {
      let p = port;
      if (p === 0) {
        const taken = new Set(layer.listeners().map((l) => l.port));
        for (const c of layer.connections()) taken.add(c.local.port);
        const picked = pickEphemeralPort(random, (x) => taken.has(x));
        if (picked === undefined) throw new WirestackError("WIRESTACK_ERR_ADDR_IN_USE", "every ephemeral TCP port is in use; close some servers or connections");
        p = picked;
      }
      return layer.listen(p, local, backlog !== undefined ? { backlog } : {});
    },
    unlisten(listener) {
      layer.closeListener(listener as TcpListener, clock.now());
      kick();
    },
    accept(listener) {
      return layer.accept(listener as TcpListener);
    },
    socketFor(conn, o) {
      return attachTcpSocket(socketHost, conn, o.allowHalfOpen ? halfOpen : closeOnEnd);
    },
    hasFamily(family) {
      return layer.hasFamily(family);
    },
  };
}
