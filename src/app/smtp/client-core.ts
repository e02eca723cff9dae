/**
 * The SMTP client as a sans-IO state machine (RFC 5321 §3.3, §4.3.2): one message to one server.
 * Replies in through `receiveData`, commands out through `dataToSend`, and one "result" event when
 * the message was accepted or refused, then "close" when the dialogue is over.
 *
 *   stage      waits for   on success          on failure
 *   greeting   220         EHLO → ehlo         QUIT → quit (or close on 421/EOF)
 *   ehlo       250         MAIL → mail         5xx: HELO → helo (RFC 5321 §3.2); else QUIT
 *   helo       250         MAIL → mail         QUIT
 *   mail       250         RCPT[0] → rcpt      QUIT
 *   rcpt       250/251     next RCPT, or DATA  QUIT (one refused recipient fails the whole send)
 *   data       354         message → body      QUIT
 *   body       250         result; QUIT        result (refused); QUIT
 *   quit       221         close               close
 *
 * Commands go one at a time even to a PIPELINING server: a single message gains little from it,
 * and each reply then belongs to an unambiguous command. SIZE= and BODY=8BITMIME are declared when
 * the server advertises SIZE and 8BITMIME (RFC 1870 §4, RFC 6152 §3).
 *
 * Read before editing: RFC 5321 §3.2, §3.3, §4.1.1, §4.2, §4.5.2, §4.5.3.2 (client timeouts).
 */
import {
  ReplyReader,
  dotStuff,
  isSmtpSyntaxError,
  normalizeLineEndings,
  replyText,
  stringToOctets,
  type SmtpReply,
  joinBytes,
} from "./codec.ts";

/** What to send. */
export interface SmtpEnvelope {
  /** The reverse-path; "" sends the null path `<>` (RFC 5321 §4.5.5). */
  readonly from: string;
  readonly to: readonly string[];
  /** The message (headers and body). Bare LFs are sent as CRLF (see `dotStuff`). */
  readonly data: Uint8Array;
  /** Our name in EHLO/HELO. */
  readonly helo: string;
}

/** Where the dialogue is (see the table at the top of this file). */
export type SmtpClientStage = "greeting" | "ehlo" | "helo" | "mail" | "rcpt" | "data" | "body" | "quit" | "closed";

/** Why a send failed. */
export type SmtpFailure =
  /** The server refused: `reply` holds its code and text. */
  | { readonly kind: "refused"; readonly stage: SmtpClientStage; readonly reply: SmtpReply }
  /** The server sent something that is not an SMTP reply. */
  | { readonly kind: "protocol"; readonly stage: SmtpClientStage; readonly detail: string }
  /** The connection closed before the message was accepted. */
  | { readonly kind: "closed"; readonly stage: SmtpClientStage };

/** What the caller learns. */
export type SmtpClientEvent =
  /** Once: the message was accepted (`reply` is the answer to the final "."), or why not. */
  | { readonly kind: "result"; readonly ok: true; readonly reply: SmtpReply }
  | { readonly kind: "result"; readonly ok: false; readonly failure: SmtpFailure }
  /** The dialogue is over: close the connection. */
  | { readonly kind: "close" };

/**
 * RFC 5321 §4.5.3.2: how long a client waits for each reply — 5 minutes for the greeting, MAIL and
 * RCPT, 2 for the 354, 10 for the reply to the final "." (the server may be delivering).
 */
export function replyTimeoutMs(stage: SmtpClientStage): number | undefined {
  switch (stage) {
    case "data":
      return 2 * 60_000; // §4.5.3.2.4
    case "body":
      return 10 * 60_000; // §4.5.3.2.6
    case "closed":
      return undefined;
    case "greeting": // §4.5.3.2.1
    case "ehlo":
    case "helo":
    case "mail": // §4.5.3.2.2
    case "rcpt": // §4.5.3.2.3
    case "quit":
      return 5 * 60_000;
  }
}

const ADDRESS = /^[^\s<>]*$/;

/** One message's dialogue, client side. */
export class SmtpClientConnection {
  readonly #env: SmtpEnvelope;
  readonly #replies = new ReplyReader();
  #out: Uint8Array[] = [];
  #stage: SmtpClientStage = "greeting";
  #rcptIndex = 0;
  #extensions = new Map<string, string>();
  #resultSent = false;

  /** Throws when an address or the HELO name could not be sent as one command (misuse). */
  constructor(envelope: SmtpEnvelope) {
    for (const a of [envelope.from, ...envelope.to]) {
      if (!ADDRESS.test(a)) throw new RangeError(`address ${JSON.stringify(a)} holds a space, "<" or ">"`);
    }
    if (envelope.to.length === 0 || envelope.to.some((a) => a === "")) throw new RangeError("at least one non-empty recipient is needed");
    if (!/^[\x21-\x7e]+$/.test(envelope.helo)) throw new RangeError(`HELO name ${JSON.stringify(envelope.helo)} must be a domain`);
    this.#env = envelope;
  }

  get stage(): SmtpClientStage {
    return this.#stage;
  }

  /** Extensions from the EHLO reply, keyword (upper case) → parameters. */
  get extensions(): ReadonlyMap<string, string> {
    return this.#extensions;
  }

  /** Removes and returns the queued command bytes, or undefined. */
  dataToSend(): Uint8Array | undefined {
    if (this.#out.length === 0) return undefined;
    const parts = this.#out;
    this.#out = [];
    return joinBytes(parts);
  }

  /** Feeds received bytes; returns the events they caused. */
  receiveData(bytes: Uint8Array): SmtpClientEvent[] {
    const events: SmtpClientEvent[] = [];
    if (this.#stage === "closed") return events;
    this.#replies.push(bytes);
    for (;;) {
      const reply = this.#replies.read();
      if (reply === undefined) return events;
      if (isSmtpSyntaxError(reply)) {
        this.#fail({ kind: "protocol", stage: this.#stage, detail: reply.detail }, events);
        this.#close(events);
        return events;
      }
      this.#onReply(reply, events);
      if (this.#isClosed()) return events;
    }
  }

  /** The server closed the connection. */
  receiveEof(): SmtpClientEvent[] {
    const events: SmtpClientEvent[] = [];
    if (this.#stage === "closed") return events;
    this.#fail({ kind: "closed", stage: this.#stage }, events);
    this.#close(events);
    return events;
  }

  #onReply(reply: SmtpReply, events: SmtpClientEvent[]): void {
    const ok = reply.code >= 200 && reply.code < 300;
    if (reply.code === 421 && this.#stage !== "quit") {
      // RFC 5321 §3.8: 421 means the server is closing now; no QUIT.
      this.#fail({ kind: "refused", stage: this.#stage, reply }, events);
      this.#close(events);
      return;
    }
    switch (this.#stage) {
      case "greeting":
        if (reply.code !== 220) return this.#refused(reply, events);
        this.#send(`EHLO ${this.#env.helo}`);
        this.#stage = "ehlo";
        return;
      case "ehlo":
        if (ok) {
          for (const line of reply.lines.slice(1)) {
            const [kw, ...params] = line.split(" ");
            if (kw) this.#extensions.set(kw.toUpperCase(), params.join(" "));
          }
          return this.#sendMail();
        }
        // RFC 5321 §3.2: a server that does not know EHLO answers 5xx (500, 502…); fall back to HELO.
        if (reply.code >= 500) {
          this.#send(`HELO ${this.#env.helo}`);
          this.#stage = "helo";
          return;
        }
        return this.#refused(reply, events);
      case "helo":
        if (!ok) return this.#refused(reply, events);
        return this.#sendMail();
      case "mail":
        if (!ok) return this.#refused(reply, events);
        this.#send(`RCPT TO:<${this.#env.to[0]}>`);
        this.#stage = "rcpt";
        return;
      case "rcpt":
        if (!ok) return this.#refused(reply, events);
        this.#rcptIndex++;
        if (this.#rcptIndex < this.#env.to.length) {
          this.#send(`RCPT TO:<${this.#env.to[this.#rcptIndex]}>`);
          return;
        }
        this.#send("DATA");
        this.#stage = "data";
        return;
      case "data":
        // RFC 5321 §4.1.1.4: 354, then the message.
        if (reply.code !== 354) return this.#refused(reply, events);
        this.#out.push(dotStuff(this.#env.data));
        this.#stage = "body";
        return;
      case "body":
        if (!ok) return this.#refused(reply, events);
        this.#resultSent = true;
        events.push({ kind: "result", ok: true, reply });
        this.#send("QUIT");
        this.#stage = "quit";
        return;
      case "quit":
        this.#close(events);
        return;
      case "closed":
        return;
    }
  }

  #isClosed(): boolean {
    return this.#stage === "closed";
  }

  #sendMail(): void {
    let params = "";
    if (this.#extensions.has("SIZE")) params += ` SIZE=${normalizeLineEndings(this.#env.data).length}`;
    if (this.#extensions.has("8BITMIME") && this.#env.data.some((b) => b >= 0x80)) params += " BODY=8BITMIME";
    this.#send(`MAIL FROM:<${this.#env.from}>${params}`);
    this.#stage = "mail";
  }

  /** A negative reply: report it, and leave politely (RFC 5321 §4.1.1.10). */
  #refused(reply: SmtpReply, events: SmtpClientEvent[]): void {
    this.#fail({ kind: "refused", stage: this.#stage, reply }, events);
    this.#send("QUIT");
    this.#stage = "quit";
  }

  #fail(failure: SmtpFailure, events: SmtpClientEvent[]): void {
    if (this.#resultSent) return;
    this.#resultSent = true;
    events.push({ kind: "result", ok: false, failure });
  }

  #close(events: SmtpClientEvent[]): void {
    this.#stage = "closed";
    events.push({ kind: "close" });
  }

  #send(line: string): void {
    this.#out.push(stringToOctets(`${line}\r\n`));
  }
}

/** A failure as one line of text: "550 No such user (RCPT)". */
export function describeFailure(f: SmtpFailure): string {
  switch (f.kind) {
    case "refused":
      return `${f.reply.code} ${replyText(f.reply)} (at ${f.stage})`;
    case "protocol":
      return `not an SMTP reply at ${f.stage}: ${f.detail}`;
    case "closed":
      return `connection closed at ${f.stage}`;
  }
}
