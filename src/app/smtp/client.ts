/**
 * `sendMail`: the SMTP client over a Duplex. Connects through `NetFaces`, runs
 * `SmtpClientConnection`, and resolves with the server's reply to the final "." — or rejects with an
 * `SmtpClientError` carrying the server's reply code and text. With `timers`, each wait for a reply
 * is bounded (RFC 5321 §4.5.3.2, or `timeoutMs`); the socket is always destroyed at the end.
 */
import type { AppSocket, NetFaces, Timers } from "../net-faces.ts";
import { replyText, type SmtpReply } from "./codec.ts";
import { SmtpClientConnection, describeFailure, replyTimeoutMs, type SmtpClientEvent, type SmtpClientStage, type SmtpFailure } from "./client-core.ts";

/** Stable codes of `SmtpClientError`. */
export type SmtpClientErrorCode =
  | "WIRESTACK_ERR_SMTP_REFUSED" // the server answered with a negative reply
  | "WIRESTACK_ERR_SMTP_PROTOCOL" // the server's bytes were not SMTP replies
  | "WIRESTACK_ERR_SMTP_CLOSED" // the connection closed or failed before the message was accepted
  | "WIRESTACK_ERR_SMTP_TIMEOUT"; // no reply in time

/** Why `sendMail` failed. For a refusal, `replyCode` and `replyText` are the server's. */
export class SmtpClientError extends Error {
  override readonly name = "SmtpClientError";

  constructor(
    readonly code: SmtpClientErrorCode,
    message: string,
    /** The stage the dialogue was in (`SmtpClientStage`). */
    readonly stage: SmtpClientStage,
    readonly replyCode?: number,
    readonly replyText?: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }

  /** Builds the error for a failure the client core reported. */
  static fromFailure(f: SmtpFailure): SmtpClientError {
    switch (f.kind) {
      case "refused":
        return new SmtpClientError("WIRESTACK_ERR_SMTP_REFUSED", `SMTP server refused: ${describeFailure(f)}`, f.stage, f.reply.code, replyText(f.reply));
      case "protocol":
        return new SmtpClientError("WIRESTACK_ERR_SMTP_PROTOCOL", `SMTP server sent ${describeFailure(f)}`, f.stage);
      case "closed":
        return new SmtpClientError("WIRESTACK_ERR_SMTP_CLOSED", `SMTP ${describeFailure(f)}; check that the server is up and retry`, f.stage);
    }
  }
}

/** What `sendMail` needs. */
export interface SendMailOptions {
  readonly host: string;
  readonly port: number;
  readonly from: string;
  readonly to: readonly string[];
  /** The message, headers included. A string is sent as UTF-8; bare LFs go out as CRLF. */
  readonly data: Uint8Array | string;
  /** Our name in EHLO/HELO; default "localhost". */
  readonly helo?: string;
  /** With timers, every wait for a reply is bounded. */
  readonly timers?: Timers;
  /** One bound for every reply, ms, instead of RFC 5321 §4.5.3.2's per-stage minutes. */
  readonly timeoutMs?: number;
}

/** The accepted message: the server's reply to the final "." (RFC 5321 §4.1.1.4). */
export interface SendMailResult {
  readonly code: number;
  readonly text: string;
  readonly reply: SmtpReply;
}

/**
 * Sends one message: EHLO (HELO if refused), MAIL, RCPT per recipient, DATA with dot-stuffing,
 * QUIT. Resolves once the server accepted the message and the dialogue ended; rejects with an
 * `SmtpClientError` otherwise. Throws a RangeError at once for addresses that cannot be sent.
 */
export async function sendMail(faces: NetFaces, opts: SendMailOptions): Promise<SendMailResult> {
  const data = typeof opts.data === "string" ? new TextEncoder().encode(opts.data) : opts.data;
  const core = new SmtpClientConnection({ from: opts.from, to: opts.to, data, helo: opts.helo ?? "localhost" });
  let sock: AppSocket;
  try {
    sock = await faces.connect({ host: opts.host, port: opts.port });
  } catch (err) {
    throw new SmtpClientError("WIRESTACK_ERR_SMTP_CLOSED", `cannot connect to ${opts.host}:${opts.port}: ${(err as Error).message}`, "greeting", undefined, undefined, { cause: err });
  }
  return new Promise<SendMailResult>((resolve, reject) => {
    const { timers } = opts;
    let timer: unknown;
    let result: SendMailResult | SmtpClientError | undefined;
    let done = false;

    const settle = (): void => {
      if (done) return;
      done = true;
      if (timer !== undefined) timers?.cancel(timer);
      sock.destroy();
      if (result instanceof SmtpClientError || result === undefined) reject(result ?? SmtpClientError.fromFailure({ kind: "closed", stage: core.stage }));
      else resolve(result);
    };
    const arm = (): void => {
      if (timers === undefined || done) return;
      if (timer !== undefined) timers.cancel(timer);
      const ms = opts.timeoutMs ?? replyTimeoutMs(core.stage);
      if (ms === undefined) return;
      const stage = core.stage;
      timer = timers.schedule(() => {
        timer = undefined;
        result ??= new SmtpClientError("WIRESTACK_ERR_SMTP_TIMEOUT", `no SMTP reply within ${ms} ms at ${stage}`, stage);
        settle();
      }, ms);
    };
    const handle = (events: SmtpClientEvent[]): void => {
      const out = core.dataToSend();
      if (out !== undefined && !sock.destroyed) sock.write(out);
      for (const ev of events) {
        if (ev.kind === "result") {
          result ??= ev.ok ? { code: ev.reply.code, text: replyText(ev.reply), reply: ev.reply } : SmtpClientError.fromFailure(ev.failure);
        } else {
          sock.end();
          settle();
        }
      }
      arm();
    };

    sock.on("data", (chunk: Uint8Array) => handle(core.receiveData(chunk)));
    sock.on("end", () => handle(core.receiveEof()));
    sock.on("error", (err) => {
      result ??= new SmtpClientError("WIRESTACK_ERR_SMTP_CLOSED", `SMTP connection failed at ${core.stage}: ${err.message}`, core.stage, undefined, undefined, { cause: err });
      settle();
    });
    sock.on("close", () => {
      if (!done) handle(core.receiveEof());
      settle();
    });
    arm();
  });
}
