/**
 * The SMTP server over a Duplex: moves bytes between a socket and `SmtpServerConnection`, stores
 * each accepted message through the injected `MailStore`, and runs the command timeout on the
 * injected `Timers`. It works the same over wirestack's TcpSocket and node:net (`NetFaces`).
 *
 * Flow control: reading pauses while a message is being stored (so pipelined input waits in the
 * socket, not in memory) and while the socket's write buffer is full. Every session ends by
 * destroying its socket — after QUIT, a timeout, an error or the peer's FIN — with a short linger
 * for our last reply, so no connection outlives its session.
 */
import type { AppServer, AppSocket, NetFaces, Timers } from "../net-faces.ts";
import { makeMessageIds, SmtpServerConnection, type SmtpMessage, type SmtpServerEvent, type SmtpServerOptions } from "./server-core.ts";

/**
 * Where accepted messages go. Implemented outside src/app (src/host/mail-store.ts writes one .eml
 * file per message). Resolves with a name for logs once the message is safely stored; a rejection
 * makes the server answer 451 (RFC 5321 §4.2.3) and the client may retry.
 */
export interface MailStore {
  store(message: SmtpMessage): Promise<string>;
}

/** Everything a server needs besides the network. */
export interface SmtpServeOptions extends SmtpServerOptions {
  readonly store: MailStore;
  readonly timers: Timers;
  /** How long our last reply may take to leave before the socket is destroyed, ms. Default 5000. */
  readonly lingerMs?: number;
  /** Told of each stored message (for logs). */
  readonly onMessage?: (message: SmtpMessage, name: string) => void;
  /** Told of store failures and socket errors; the session answers or ends on its own. */
  readonly onError?: (error: unknown) => void;
}

/** A running session, as `handleSmtpConnection` returns it. */
export interface SmtpSession {
  /** Resolves when the socket is closed. */
  readonly closed: Promise<void>;
  /** Ends the session now (server shutdown): 421 if possible, then the socket is destroyed. */
  shutdown(): void;
}

/** Serves one SMTP session on a connected socket. */
export function handleSmtpConnection(sock: AppSocket, options: SmtpServeOptions): SmtpSession {
  const { timers, store } = options;
  const lingerMs = options.lingerMs ?? 5000;
  const core = new SmtpServerConnection(options, { remoteAddress: sock.remoteAddress }, timers.now());
  let timer: unknown;
  let linger: unknown;
  let storing = false;
  let draining = false;
  let finished = false;
  let resolveClosed!: () => void;
  const closed = new Promise<void>((resolve) => (resolveClosed = resolve));

  const flow = (): void => {
    if (finished) return;
    if (storing || draining) sock.pause();
    else sock.resume();
  };
  const flush = (): void => {
    const out = core.dataToSend();
    if (out === undefined || finished || sock.destroyed) return;
    if (!sock.write(out) && !draining) {
      draining = true;
      sock.once("drain", () => {
        draining = false;
        flow();
      });
    }
  };
  const arm = (): void => {
    if (timer !== undefined) timers.cancel(timer);
    timer = undefined;
    const deadline = core.nextDeadline();
    if (deadline === undefined || finished) return;
    timer = timers.schedule(() => {
      timer = undefined;
      handle(core.processTimeout(timers.now()));
    }, Math.max(0, deadline - timers.now()));
  };
  const finish = (): void => {
    if (finished) return;
    finished = true;
    if (timer !== undefined) timers.cancel(timer);
    timer = undefined;
    sock.end();
    // The peer may never read or close: our reply gets `lingerMs`, then the socket goes.
    linger = timers.schedule(() => sock.destroy(), lingerMs);
  };
  const handle = (events: SmtpServerEvent[]): void => {
    flush();
    for (const ev of events) {
      switch (ev.kind) {
        case "message":
          storing = true;
          store.store(ev.message).then(
            (name) => {
              storing = false;
              options.onMessage?.(ev.message, name);
              handle(core.messageStored({ ok: true }, timers.now()));
            },
            (err: unknown) => {
              storing = false;
              options.onError?.(err);
              handle(core.messageStored({ ok: false }, timers.now()));
            },
          );
          break;
        case "close":
          finish();
          break;
      }
    }
    flow();
    arm();
  };

  sock.on("data", (chunk: Uint8Array) => handle(core.receiveData(chunk, timers.now())));
  sock.on("end", () => handle(core.receiveEof()));
  sock.on("error", (err) => {
    options.onError?.(err);
    sock.destroy();
  });
  sock.on("close", () => {
    finished = true;
    if (timer !== undefined) timers.cancel(timer);
    if (linger !== undefined) timers.cancel(linger);
    timer = linger = undefined;
    resolveClosed();
  });
  handle([]);

  return {
    closed,
    shutdown() {
      if (!finished && !sock.destroyed) sock.write("421 Service not available, closing transmission channel\r\n");
      finished = true;
      sock.destroy();
    },
  };
}

/** Listens and serves SMTP on every connection; `close()` ends open sessions too. */
export async function serveSmtp(
  faces: NetFaces,
  listen: { readonly port: number; readonly host?: string },
  options: SmtpServeOptions,
): Promise<AppServer> {
  const shared: SmtpServeOptions = { ...options, newId: options.newId ?? makeMessageIds(options.date()) };
  const sessions = new Set<SmtpSession>();
  const server = await faces.listen(listen, (sock) => {
    const session = handleSmtpConnection(sock, shared);
    sessions.add(session);
    void session.closed.then(() => sessions.delete(session));
  });
  return {
    port: server.port,
    address: server.address,
    async close() {
      const done = server.close();
      for (const s of sessions) s.shutdown();
      await Promise.all([done, ...[...sessions].map((s) => s.closed)]);
    },
  };
}
