/**
 * FTP client: logs in, lists, downloads and uploads in passive mode (RFC 959; RFC 2428 EPSV).
 *
 * The protocol part is the reply decoder and the PASV/EPSV reply parsers of codec.ts; this file is
 * the thin layer that drives them over a control Duplex from `NetFaces.connect`. One command at a
 * time: each command waits for its reply before the next is sent. Data connections are passive:
 * EPSV first, PASV when the server refuses EPSV (RFC 2428 §3), and in both cases the data connection
 * goes to the control connection's host — the address inside a 227 reply is ignored, as curl's
 * --ftp-skip-pasv-ip does, so a server cannot point us at a third host.
 */
import type { AppSocket, NetFaces, Timers } from "../../app/net-faces.ts";
import { formatCommand, FtpReplyDecoder, isBadReply, parseEpsvReply, parsePasvReply, type FtpReply } from "./codec.ts";

/** A reply the client did not expect, or a broken control connection. */
export class FtpClientError extends Error {
  override readonly name = "FtpClientError";
  readonly code = "WIRESTACK_ERR_FTP";
  constructor(
    message: string,
    /** The reply that failed the operation, when there was one. */
    readonly reply?: FtpReply | undefined,
  ) {
    super(message);
  }
}

/** Where and as whom to log in. */
export interface FtpConnectOptions {
  readonly host: string;
  readonly port?: number | undefined;
  /** Default "anonymous". */
  readonly user?: string | undefined;
  /** Default "anonymous@". */
  readonly password?: string | undefined;
  /** Bounds every wait for a reply or a data connection (with `timeoutMs`, default 30 s). */
  readonly timers?: Timers | undefined;
  readonly timeoutMs?: number | undefined;
}

/** Connects and logs in; resolves with a client ready for commands. */
export async function ftpConnect(faces: NetFaces, opts: FtpConnectOptions): Promise<FtpClient> {
  const sock = await faces.connect({ host: opts.host, port: opts.port ?? 21 });
  const client = new FtpClient(faces, sock, opts);
  try {
    await client.login(opts.user ?? "anonymous", opts.password ?? "anonymous@");
  } catch (err) {
    sock.destroy();
    throw err;
  }
  return client;
}

/** A logged-in FTP session. */
export class FtpClient {
  private readonly decoder = new FtpReplyDecoder();
  private readonly replies: FtpReply[] = [];
  private waiter: ((r: FtpReply | FtpClientError) => void) | undefined;
  private failure: FtpClientError | undefined;
  private noEpsv = false;

  /** The 220 greeting, once read. */
  greeting: FtpReply | undefined;

  constructor(
    private readonly faces: NetFaces,
    private readonly sock: AppSocket,
    private readonly opts: FtpConnectOptions,
  ) {
    sock.on("data", (b: Uint8Array) => {
      for (const r of this.decoder.receiveData(b)) {
        if (isBadReply(r)) this.fail(new FtpClientError(`malformed reply line: ${r.line}`));
        else this.deliver(r);
      }
    });
    sock.on("error", (e: Error) => this.fail(new FtpClientError(`control connection: ${e.message}`)));
    sock.on("close", () => this.fail(new FtpClientError("control connection closed")));
  }

  /** Reads the greeting and logs in (RFC 959 §5.4: USER → 331 → PASS → 230, or USER → 230). */
  async login(user: string, password: string): Promise<void> {
    this.greeting = await this.finalReply();
    expectCode(this.greeting, [220], "greeting");
    const u = await this.command("USER", user);
    if (u.code === 230) return;
    expectCode(u, [331], "USER");
    expectCode(await this.command("PASS", password), [230, 202], "PASS");
  }

  /** LIST (long) or NLST of a path, as text with the server's line ends. */
  async list(path?: string, names = false): Promise<string> {
    expectCode(await this.command("TYPE", "A"), [200], "TYPE A");
    const bytes = await this.download(names ? "NLST" : "LIST", path);
    return new TextDecoder().decode(bytes);
  }

  /** Downloads a file in TYPE I. */
  async retrieve(path: string): Promise<Uint8Array> {
    expectCode(await this.command("TYPE", "I"), [200], "TYPE I");
    return this.download("RETR", path);
  }

  /** Uploads a file in TYPE I (STOR, or APPE with `append`). */
  async store(path: string, data: Uint8Array, append = false): Promise<void> {
    expectCode(await this.command("TYPE", "I"), [200], "TYPE I");
    const dataSock = await this.openPassive();
    try {
      const start = await this.command(append ? "APPE" : "STOR", path);
      expectCode(start, [125, 150], append ? "APPE" : "STOR");
      await new Promise<void>((resolve, reject) => {
        dataSock.once("error", reject);
        dataSock.end(data, () => resolve());
      });
      expectCode(await this.finalReply(), [226, 250], "transfer");
    } finally {
      dataSock.destroy();
    }
  }

  /** Sends any command and returns its final reply (1xx preliminary replies are skipped). */
  async command(verb: string, arg?: string): Promise<FtpReply> {
    if (this.failure !== undefined) throw this.failure;
    this.sock.write(formatCommand(verb, arg));
    return this.nextReply();
  }

  /** QUIT (221) and close. */
  async quit(): Promise<void> {
    try {
      expectCode(await this.command("QUIT"), [221], "QUIT");
    } finally {
      this.sock.end();
    }
  }

  /** Closes the control connection without QUIT. */
  destroy(): void {
    this.sock.destroy();
  }

  private async download(verb: "LIST" | "NLST" | "RETR", path: string | undefined): Promise<Uint8Array> {
    const dataSock = await this.openPassive();
    try {
      const chunks: Uint8Array[] = [];
      const ended = new Promise<void>((resolve, reject) => {
        dataSock.on("data", (c: Uint8Array) => chunks.push(c));
        dataSock.once("end", resolve);
        dataSock.once("error", reject);
      });
      ended.catch(() => {});
      const start = await this.command(verb, path);
      expectCode(start, [125, 150], verb);
      await this.bounded(ended, "data connection");
      expectCode(await this.finalReply(), [226, 250], "transfer");
      const total = chunks.reduce((n, c) => n + c.length, 0);
      const out = new Uint8Array(total);
      let at = 0;
      for (const c of chunks) {
        out.set(c, at);
        at += c.length;
      }
      return out;
    } finally {
      dataSock.destroy();
    }
  }

  private async openPassive(): Promise<AppSocket> {
    let port: number | undefined;
    if (!this.noEpsv) {
      const r = await this.command("EPSV");
      if (r.code === 229) port = parseEpsvReply(r.lines.join(" "));
      // RFC 2428 §3: a server that does not know EPSV answers 500/502; fall back to PASV for good.
      else if (r.code >= 500) this.noEpsv = true;
      else throw new FtpClientError(`EPSV: unexpected reply ${r.code}`, r);
      if (r.code === 229 && port === undefined) throw new FtpClientError("EPSV: no port in 229 reply", r);
    }
    if (port === undefined) {
      const r = await this.command("PASV");
      expectCode(r, [227], "PASV");
      const hp = parsePasvReply(r.lines.join(" "));
      if (hp === undefined) throw new FtpClientError("PASV: no address in 227 reply", r);
      port = hp.port;
    }
    const s = await this.bounded(this.faces.connect({ host: this.opts.host, port }), "data connection");
    s.on("error", () => {});
    return s;
  }

  /** The next reply that is not preliminary (1xx are returned too, for commands that expect them). */
  private nextReply(): Promise<FtpReply> {
    const r = this.replies.shift();
    if (r !== undefined) return Promise.resolve(r);
    if (this.failure !== undefined) return Promise.reject(this.failure);
    return this.bounded(
      new Promise<FtpReply>((resolve, reject) => {
        this.waiter = (x) => (x instanceof FtpClientError ? reject(x) : resolve(x));
      }),
      "reply",
    );
  }

  private async finalReply(): Promise<FtpReply> {
    for (;;) {
      const r = await this.nextReply();
      if (r.code >= 200) return r;
    }
  }

  private deliver(r: FtpReply): void {
    const w = this.waiter;
    this.waiter = undefined;
    if (w !== undefined) w(r);
    else this.replies.push(r);
  }

  private fail(err: FtpClientError): void {
    this.failure ??= err;
    const w = this.waiter;
    this.waiter = undefined;
    w?.(err);
  }

  private async bounded<T>(p: Promise<T>, what: string): Promise<T> {
    const timers = this.opts.timers;
    if (timers === undefined) return p;
    let handle: unknown;
    const timeout = new Promise<never>((_, reject) => {
      handle = timers.schedule(() => reject(new FtpClientError(`timed out waiting for ${what}`)), this.opts.timeoutMs ?? 30_000);
    });
    try {
      return await Promise.race([p, timeout]);
    } finally {
      timers.cancel(handle);
    }
  }
}

function expectCode(r: FtpReply, codes: readonly number[], what: string): void {
  if (!codes.includes(r.code)) throw new FtpClientError(`${what}: ${r.code} ${r.lines.join(" ")}`, r);
}
