/**
 * FTP server: the thin layer that runs `FtpServerSession` (server-core.ts) over a control Duplex.
 *
 * It owns what the core cannot: the control socket, the data connections (a passive listener from
 * `NetFaces.listen` at the control connection's local address, or an active connection from
 * `NetFaces.connect` back to the client), the file-system calls, and the idle timer — all through
 * interfaces given by the caller (NetFaces, FtpFileSystem, Timers), so it runs over node:net and over
 * wirestack's TCP alike and holds no host timer itself.
 *
 * Commands run one at a time in arrival order; a command that arrives during a transfer waits for the
 * transfer's final reply, except ABOR, which is handled at once (RFC 959 §4.1.3). A passive listener
 * accepts one connection, and only from the client's own address (so nobody else can steal the data
 * connection); it is closed after the transfer or when the next PASV/EPSV/PORT replaces it.
 */
import { Transform, type Readable, type Writable } from "node:stream";
import { finished, pipeline } from "node:stream/promises";
import type { AppServer, AppSocket, NetFaces, Timers } from "../../app/net-faces.ts";
import { AsciiFromNetwork, AsciiToNetwork, canonicalAddress, FtpCommandDecoder, formatReply, type FtpCommandEvent, type FtpHostPort, type FtpReply } from "./codec.ts";
import { fsErrorReason, type FtpFileSystem } from "./files.ts";
import { FtpServerSession, type FtpAuthConfig, type FtpOutcome, type FtpServerAction } from "./server-core.ts";

/** Configuration of an FTP server. */
export interface FtpServerConfig extends FtpAuthConfig {
  /** The file system served (a jail: src/host/ftp-files.ts). */
  readonly root: FtpFileSystem;
  /** The network for data connections. */
  readonly faces: NetFaces;
  /** Idle timeout and data-connection timeouts run on these. */
  readonly timers: Timers;
  /** The IPv4 address put in 227 replies; default: the control connection's local address. */
  readonly passiveAddress?: string | undefined;
  /** Closes a control connection idle this long (421). Default 300 s, vsftpd's default. */
  readonly idleTimeoutMs?: number | undefined;
  /** How long to wait for a data connection to open (425 after). Default 30 s. */
  readonly dataTimeoutMs?: number | undefined;
}

/** More commands than this waiting behind a transfer pause reading the control connection. */
const MAX_QUEUED = 32;

/** Starts an FTP server on `faces`; `close()` also ends every open session. */
export async function listenFtp(faces: NetFaces, opts: { port: number; host?: string }, config: Omit<FtpServerConfig, "faces">): Promise<AppServer> {
  const sessions = new Set<FtpServerConnection>();
  const full: FtpServerConfig = { ...config, faces };
  const server = await faces.listen(opts, (sock) => {
    const c = new FtpServerConnection(sock, full);
    sessions.add(c);
    c.closed.then(() => sessions.delete(c), () => sessions.delete(c));
  });
  return {
    port: server.port,
    address: server.address,
    async close() {
      for (const c of sessions) c.close();
      await server.close();
    },
  };
}

/** Serves one FTP control connection. */
export function serveFtpConnection(sock: AppSocket, config: FtpServerConfig): FtpServerConnection {
  return new FtpServerConnection(sock, config);
}

interface PassiveData {
  readonly server: AppServer;
  readonly connection: Promise<AppSocket>;
}

interface RunningTransfer {
  aborted: boolean;
  /** Ends a wait for the data connection early (ABOR, or the control connection closed). */
  cancelWait: () => void;
  data: AppSocket | undefined;
  file: Readable | Writable | undefined;
}

/** One control connection and its data connections. */
export class FtpServerConnection {
  private readonly session: FtpServerSession;
  private readonly decoder = new FtpCommandDecoder();
  private readonly queue: FtpCommandEvent[] = [];
  private running = false;
  private ended = false;
  private passive: PassiveData | undefined;
  private active: FtpHostPort | undefined;
  private transfer: RunningTransfer | undefined;
  private idle: unknown;
  private readonly localAddress: string | undefined;
  private readonly clientAddress: string | undefined;
  private resolveClosed: () => void = () => {};
  /** Resolves once the control connection is closed and everything is released. */
  readonly closed: Promise<void> = new Promise((res) => (this.resolveClosed = res));

  constructor(
    private readonly sock: AppSocket,
    private readonly config: FtpServerConfig,
  ) {
    this.session = new FtpServerSession(config, { clientAddress: sock.remoteAddress });
    this.localAddress = canonicalAddress(sock.localAddress);
    this.clientAddress = canonicalAddress(sock.remoteAddress);
    sock.on("data", (b: Uint8Array) => this.onData(b));
    sock.on("end", () => this.close());
    sock.on("error", () => this.close());
    sock.on("close", () => this.close());
    this.send([this.session.greeting()]);
    this.armIdle();
  }

  /** Ends the session now: aborts a transfer, closes data connections and the control connection. */
  close(): void {
    if (this.ended) return;
    this.ended = true;
    this.config.timers.cancel(this.idle);
    this.abortTransfer();
    this.closePassive();
    this.sock.destroy();
    this.resolveClosed();
  }

  private onData(bytes: Uint8Array): void {
    for (const ev of this.decoder.receiveData(bytes)) {
      if (ev.kind === "command" && ev.verb === "ABOR" && this.transfer !== undefined) {
        const action = this.session.handle(ev);
        this.abortTransfer();
        if (action.kind === "abort") this.send(action.replies);
      } else {
        this.queue.push(ev);
      }
    }
    if (this.queue.length > MAX_QUEUED) this.sock.pause();
    this.armIdle();
    void this.pump();
  }

  private async pump(): Promise<void> {
    if (this.running) return;
    this.running = true;
    try {
      while (!this.ended) {
        const ev = this.queue.shift();
        if (ev === undefined) break;
        await this.execute(ev);
        if (this.queue.length <= MAX_QUEUED / 2 && this.sock.isPaused()) this.sock.resume();
      }
    } finally {
      this.running = false;
    }
  }

  private armIdle(): void {
    const ms = this.config.idleTimeoutMs ?? 300_000;
    this.config.timers.cancel(this.idle);
    this.idle = this.config.timers.schedule(() => {
      if (this.ended) return;
      // A transfer in progress is not idleness.
      if (this.transfer !== undefined) return this.armIdle();
      this.send([this.session.idleTimeoutReply()]);
      this.sock.end();
      this.ended = true;
      this.closePassive();
      this.resolveClosed();
    }, ms);
  }

  private send(replies: readonly FtpReply[]): void {
    if (this.sock.destroyed || this.sock.writableEnded) return;
    for (const reply of replies) this.sock.write(formatReply(reply));
  }

  private async execute(ev: FtpCommandEvent): Promise<void> {
    const action = this.session.handle(ev);
    const fs = this.config.root;
    const done = (outcome: FtpOutcome): void => this.send(this.session.complete(action, outcome));
    const fsCall = async (work: () => Promise<FtpOutcome>): Promise<void> => {
      let outcome: FtpOutcome;
      try {
        outcome = await work();
      } catch (err) {
        outcome = { kind: "fs-error", reason: fsErrorReason(err) };
      }
      done(outcome);
    };
    switch (action.kind) {
      case "reply":
        this.send(action.replies);
        if (action.close) {
          this.sock.end();
          this.ended = true;
          this.config.timers.cancel(this.idle);
          this.closePassive();
          this.resolveClosed();
        }
        return;
      case "abort":
        this.send(action.replies);
        return;
      case "active":
        this.closePassive();
        this.active = action.target;
        this.send(action.replies);
        return;
      case "passive": {
        this.closePassive();
        this.active = undefined;
        try {
          this.passive = await this.openPassive();
          const host = this.config.passiveAddress ?? this.localAddress ?? "0.0.0.0";
          done({ kind: "ok", address: { host, port: this.passive.server.port } });
        } catch {
          done({ kind: "no-data" });
        }
        return;
      }
      case "cwd":
      case "stat":
      case "rnfr":
        return fsCall(async () => {
          const stat = await fs.stat(action.path);
          return stat === undefined ? { kind: "fs-error", reason: "not-found" } : { kind: "ok", stat };
        });
      case "modify":
        return fsCall(async () => {
          if (action.op === "dele") await fs.remove(action.path);
          else if (action.op === "mkd") await fs.mkdir(action.path);
          else await fs.rmdir(action.path);
          return { kind: "ok" };
        });
      case "rnto":
        return fsCall(async () => {
          await fs.rename(action.from, action.to);
          return { kind: "ok" };
        });
      case "transfer":
        return this.runTransfer(action);
    }
  }

  private async openPassive(): Promise<PassiveData> {
    let accept: (s: AppSocket) => void = () => {};
    const connection = new Promise<AppSocket>((res) => (accept = res));
    let taken = false;
    const server = await this.config.faces.listen({ port: 0, ...(this.localAddress !== undefined ? { host: this.localAddress } : {}) }, (s) => {
      // Only the client itself may connect, and only once.
      if (taken || canonicalAddress(s.remoteAddress) !== this.clientAddress) {
        s.destroy();
        return;
      }
      taken = true;
      accept(s);
    });
    return { server, connection };
  }

  private closePassive(): void {
    const p = this.passive;
    this.passive = undefined;
    if (p === undefined) return;
    void p.server.close().catch(() => {});
  }

  /** Waits for the data connection, bounded by `dataTimeoutMs`; undefined when none came. */
  private async dataConnection(t: RunningTransfer, mode: "passive" | "active"): Promise<AppSocket | undefined> {
    let pending: Promise<AppSocket>;
    if (mode === "passive") {
      if (this.passive === undefined) return undefined;
      pending = this.passive.connection;
    } else {
      const target = this.active;
      if (target === undefined) return undefined;
      pending = this.config.faces.connect({ host: target.host, port: target.port, ...(this.localAddress !== undefined ? { localAddress: this.localAddress } : {}) });
    }
    const timers = this.config.timers;
    let handle: unknown;
    const timeout = new Promise<undefined>((res) => (handle = timers.schedule(() => res(undefined), this.config.dataTimeoutMs ?? 30_000)));
    const cancelled = new Promise<undefined>((res) => (t.cancelWait = () => res(undefined)));
    const sock = await Promise.race([pending.catch(() => undefined), timeout, cancelled]);
    timers.cancel(handle);
    if (sock === undefined) {
      // A connection that completes after we gave up is closed at once.
      pending.then((s) => s.destroy(), () => {});
      return undefined;
    }
    sock.on("error", () => {});
    if (t.aborted) {
      sock.destroy();
      return undefined;
    }
    return sock;
  }

  private abortTransfer(): void {
    const t = this.transfer;
    if (t === undefined) return;
    t.aborted = true;
    t.cancelWait();
    t.data?.destroy();
    t.file?.destroy();
  }

  private async runTransfer(action: Extract<FtpServerAction, { kind: "transfer" }>): Promise<void> {
    const t: RunningTransfer = { aborted: false, cancelWait: () => {}, data: undefined, file: undefined };
    this.transfer = t;
    let outcome: FtpOutcome;
    try {
      outcome = await this.transferBytes(action, t);
    } finally {
      this.transfer = undefined;
      this.closePassive();
      this.active = undefined;
      t.data?.destroy();
      t.file?.destroy();
    }
    this.send(this.session.complete(action, t.aborted ? { kind: "aborted" } : outcome));
  }

  private async transferBytes(action: Extract<FtpServerAction, { kind: "transfer" }>, t: RunningTransfer): Promise<FtpOutcome> {
    const fs = this.config.root;
    // Open the file (or read the listing) before the data connection, so a bad name costs no connection.
    let listing: Uint8Array | undefined;
    let size: number | undefined;
    try {
      switch (action.op) {
        case "list":
        case "nlst": {
          const lines = await fs.list(action.path, action.op === "list");
          listing = new TextEncoder().encode(lines.map((l) => `${l}\r\n`).join(""));
          break;
        }
        case "retr": {
          const st = await fs.stat(action.path);
          if (st === undefined) return { kind: "fs-error", reason: "not-found" };
          if (st.kind !== "file") return { kind: "fs-error", reason: "is-dir" };
          size = st.size;
          t.file = await fs.openRead(action.path);
          break;
        }
        case "stor":
        case "appe":
          t.file = await fs.openWrite(action.path, action.op === "appe");
          break;
      }
    } catch (err) {
      return { kind: "fs-error", reason: fsErrorReason(err) };
    }
    t.file?.on("error", () => {});
    const data = await this.dataConnection(t, action.data);
    if (data === undefined) return { kind: "no-data" };
    t.data = data;
    this.send([this.session.transferOpening(action, action.ascii ? undefined : size)]);
    try {
      if (listing !== undefined) {
        data.end(listing);
        await finished(data, { readable: false });
      } else if (action.op === "retr") {
        const file = t.file as Readable;
        if (action.ascii) {
          const enc = new AsciiToNetwork();
          await pipeline(file, new Transform({ transform: (c: Uint8Array, _e, cb) => cb(null, enc.encode(c)) }), data);
        } else {
          await pipeline(file, data);
        }
      } else {
        const file = t.file as Writable;
        try {
          if (action.ascii) {
            const dec = new AsciiFromNetwork();
            await pipeline(data, new Transform({ transform: (c: Uint8Array, _e, cb) => cb(null, dec.decode(c)), flush: (cb) => cb(null, dec.flush()) }), file);
          } else {
            await pipeline(data, file);
          }
        } catch (err) {
          if (file.errored !== null && !t.aborted) return { kind: "fs-error", reason: fsErrorReason(err) };
          throw err;
        }
      }
    } catch {
      return { kind: "data-lost" };
    }
    return { kind: "ok" };
  }
}
