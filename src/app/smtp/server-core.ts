/**
 * The SMTP server as a sans-IO state machine (RFC 5321; RFC 1870 SIZE, RFC 2920 PIPELINING,
 * RFC 6152 8BITMIME): bytes in through `receiveData`, replies out through `dataToSend`, events
 * (a message to store, the end of the session) returned. It owns the dialogue and nothing else: no
 * socket, no clock (time comes in as `now`, the Received date through the injected `date`), no
 * storage (the caller stores a "message" event and reports back with `messageStored`).
 *
 * Theory of operation — states and what each command does in them:
 *
 *   state     EHLO/HELO  MAIL      RCPT      DATA      RSET NOOP HELP VRFY  QUIT
 *   connect   250→idle   503       503       503       250 (stays)          221→closed
 *   idle      250        250→mail  503       503       250 …
 *   mail      250→idle   503       250→rcpt  503       250→idle …
 *   rcpt      250→idle   503       250       354→data  250→idle …
 *   data      (bytes until "." are the message; then "message" event →storing, or 552 →idle)
 *   storing   (input waits; `messageStored` answers 250 or 451 →idle)
 *   closed    (input ignored)
 *
 * EHLO and HELO reset any transaction (RFC 5321 §4.1.4), RSET clears it (§4.1.1.5). Unknown
 * verbs and over-long lines get 500, bad arguments 501, unknown MAIL/RCPT parameters 555
 * (§4.1.1.11), commands out of order 503 (§4.1.4), VRFY 252 (§3.5.3), EXPN 502. Replies are queued
 * strictly in command order, so pipelined commands (RFC 2920 §3.1) need nothing special.
 *
 * Read before editing: RFC 5321 §3.3, §4.1, §4.2, §4.3.2 (the reply table), §4.4 (Received),
 * §4.5.2, §4.5.3; RFC 1870 §6; RFC 2920 §3; RFC 5322 §3.3 (the date).
 */
import {
  DotUnstuffer,
  LineReader,
  SMTP_COMMAND_LINE_MAX,
  formatReply,
  isSmtpSyntaxError,
  parseCommand,
  stringToOctets,
  type EsmtpParam,
  type SmtpCommand,
  joinBytes,
} from "./codec.ts";

/** RFC 5321 §4.5.3.2.7: the server waits at least 5 minutes for the next command. */
export const SMTP_DEFAULT_COMMAND_TIMEOUT_MS = 5 * 60_000;
/** The SIZE limit advertised by default (RFC 1870): 10 MiB. */
export const SMTP_DEFAULT_MAX_SIZE = 10 * 1024 * 1024;
/** RFC 5321 §4.5.3.1.8: at least 100 recipients must be accepted. */
export const SMTP_DEFAULT_MAX_RECIPIENTS = 100;

/** Where the session is (see the table at the top of this file). */
export type SmtpServerState = "connect" | "idle" | "mail" | "rcpt" | "data" | "storing" | "closed";

/** Settings shared by every connection of a server. */
export interface SmtpServerOptions {
  /** Our name, in the greeting, EHLO reply and Received header. */
  readonly hostname: string;
  /** Milliseconds since the Unix epoch, for the Received header's date (RFC 5322 §3.3). */
  readonly date: () => number;
  /** The largest message accepted, in octets, advertised with SIZE (RFC 1870). Default 10 MiB. */
  readonly maxSize?: number;
  /** Idle time allowed between commands (and between DATA chunks), ms. Default 5 minutes. */
  readonly commandTimeoutMs?: number;
  /** Recipients per transaction; more get 452 (RFC 5321 §4.5.3.1.10). Default 100. */
  readonly maxRecipients?: number;
  /** Message ids for the Received header and the 250 reply; an RFC 5322 atom. Default: see `makeMessageIds`. */
  readonly newId?: () => string;
}

/** One accepted message, as the server hands it over for storage. */
export interface SmtpMessage {
  /** The id in the Received header and the final 250 reply. */
  readonly id: string;
  /** The reverse-path of MAIL FROM, "" for the null path `<>`. */
  readonly reversePath: string;
  readonly recipients: readonly string[];
  /** The name given in EHLO/HELO. */
  readonly heloName: string;
  readonly remoteAddress: string | undefined;
  /** When the final "." arrived, ms since the Unix epoch. */
  readonly receivedAt: number;
  /** `Received: …\r\n` (RFC 5321 §4.4), to prepend to the content. */
  readonly receivedHeader: string;
  /** The message as the client sent it, dot-unstuffed, CRLFs kept (RFC 5321 §4.5.2). */
  readonly content: Uint8Array;
}

/** What the caller must act on. */
export type SmtpServerEvent =
  /** Store the message, then call `messageStored`; until then further input waits. */
  | { readonly kind: "message"; readonly message: SmtpMessage }
  /** The session is over (QUIT, timeout, peer closed): send what `dataToSend` holds, then close. */
  | { readonly kind: "close"; readonly reason: "quit" | "timeout" | "peer-closed" };

/** The result of storing a message. */
export type StoreResult = { readonly ok: true } | { readonly ok: false; readonly detail?: string };

/**
 * A message id generator: the start time in base 36 and a counter, unique per server (and across
 * restarts while the clock moves forward). Every char is RFC 5322 atext.
 */
export function makeMessageIds(startMs: number): () => string {
  const base = Math.max(0, Math.floor(startMs)).toString(36).toUpperCase();
  let n = 0;
  return () => `${base}-${(++n).toString(36).toUpperCase()}`;
}

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"] as const;
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"] as const;

/** RFC 5322 §3.3 date-time in UTC, e.g. "Tue, 04 Mar 2025 09:05:07 +0000". */
export function rfc5322Date(ms: number): string {
  const d = new Date(ms);
  const two = (n: number) => String(n).padStart(2, "0");
  return (
    `${DAYS[d.getUTCDay()]}, ${two(d.getUTCDate())} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} ` +
    `${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} +0000`
  );
}

/** A remote address as an RFC 5321 §4.1.3 address literal: "[192.0.2.1]" or "[IPv6:2001:db8::1]". */
export function addressLiteral(address: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address);
  if (mapped) return `[${mapped[1]}]`;
  return address.includes(":") ? `[IPv6:${address}]` : `[${address}]`;
}

/**
 * The trace line of RFC 5321 §4.4:
 * `Received: from HELO (ADDR-LITERAL) by US (wirestack) with ESMTP id ID; DATE`. The HELO name is
 * the client's word, so chars that could break out of the clause ("(", ";", …) become "?".
 */
export function receivedHeader(p: {
  heloName: string;
  remoteAddress: string | undefined;
  hostname: string;
  protocol: "ESMTP" | "SMTP";
  id: string;
  date: number;
}): string {
  const helo = p.heloName.replace(/[^A-Za-z0-9.:\-[\]_]/g, "?");
  const tcpInfo = p.remoteAddress === undefined ? "" : ` (${addressLiteral(p.remoteAddress)})`;
  return `Received: from ${helo}${tcpInfo} by ${p.hostname} (wirestack) with ${p.protocol} id ${p.id}; ${rfc5322Date(p.date)}\r\n`;
}

/** The HELP text (RFC 5321 §4.1.1.8: 214). */
const HELP_LINES = ["Commands: EHLO HELO MAIL RCPT DATA RSET NOOP QUIT HELP VRFY", "See RFC 5321"];

/** One SMTP session, server side. */
export class SmtpServerConnection {
  readonly #opts: Required<Omit<SmtpServerOptions, "newId">> & { newId: () => string };
  readonly #remoteAddress: string | undefined;
  readonly #lines = new LineReader(SMTP_COMMAND_LINE_MAX);
  #out: Uint8Array[] = [];
  #state: SmtpServerState = "connect";
  #deadline: number | undefined;
  #eofWhileStoring = false;
  #storingId = "";

  // Session and transaction (RFC 5321 §3.3: MAIL, RCPT…, DATA).
  #heloName = "";
  #protocol: "ESMTP" | "SMTP" = "SMTP";
  #reversePath = "";
  #recipients: string[] = [];
  #data: DotUnstuffer | undefined;

  /** Queues the 220 greeting (RFC 5321 §4.3.1) and starts the command timer at `now`. */
  constructor(options: SmtpServerOptions, peer: { readonly remoteAddress?: string | undefined }, now: number) {
    this.#opts = {
      hostname: options.hostname,
      date: options.date,
      maxSize: options.maxSize ?? SMTP_DEFAULT_MAX_SIZE,
      commandTimeoutMs: options.commandTimeoutMs ?? SMTP_DEFAULT_COMMAND_TIMEOUT_MS,
      maxRecipients: options.maxRecipients ?? SMTP_DEFAULT_MAX_RECIPIENTS,
      newId: options.newId ?? makeMessageIds(options.date()),
    };
    if (/[\s()]/.test(this.#opts.hostname) || this.#opts.hostname === "") {
      throw new RangeError(`hostname ${JSON.stringify(this.#opts.hostname)} must be a domain`);
    }
    this.#remoteAddress = peer.remoteAddress;
    this.#reply(220, `${this.#opts.hostname} ESMTP wirestack`);
    this.#deadline = now + this.#opts.commandTimeoutMs;
  }

  get state(): SmtpServerState {
    return this.#state;
  }

  /** When `processTimeout` should next be called, or undefined when no timer runs. */
  nextDeadline(): number | undefined {
    return this.#state === "closed" || this.#state === "storing" ? undefined : this.#deadline;
  }

  /** Removes and returns the queued reply bytes, or undefined when there are none. */
  dataToSend(): Uint8Array | undefined {
    if (this.#out.length === 0) return undefined;
    const parts = this.#out;
    this.#out = [];
    return joinBytes(parts);
  }

  /** Feeds received bytes; returns the events they caused, in order. */
  receiveData(bytes: Uint8Array, now: number): SmtpServerEvent[] {
    if (this.#state === "closed") return [];
    if (this.#state === "data" && this.#lines.buffered === 0) {
      this.#deadline = now + this.#opts.commandTimeoutMs;
      const events: SmtpServerEvent[] = [];
      const used = this.#feedData(bytes, events);
      if (used < bytes.length) this.#lines.push(bytes.subarray(used));
      return this.#run(events, now);
    }
    this.#lines.push(bytes);
    return this.#run([], now);
  }

  /** The peer closed its side: any transaction is abandoned (RFC 5321 §3.8), the session ends. */
  receiveEof(): SmtpServerEvent[] {
    if (this.#state === "closed") return [];
    if (this.#state === "storing") {
      // The final "." arrived, so the message is ours (§4.1.1.4); finish storing, then close.
      this.#eofWhileStoring = true;
      return [];
    }
    this.#state = "closed";
    return [{ kind: "close", reason: "peer-closed" }];
  }

  /** Call at `nextDeadline()`: past it, 421 and the session ends (RFC 5321 §4.5.3.2.7, §3.8). */
  processTimeout(now: number): SmtpServerEvent[] {
    const deadline = this.nextDeadline();
    if (deadline === undefined || now < deadline) return [];
    this.#reply(421, `${this.#opts.hostname} Timeout waiting for client input, closing connection`);
    this.#state = "closed";
    return [{ kind: "close", reason: "timeout" }];
  }

  /** Reports how storing the last "message" event went: 250 or 451 (RFC 5321 §4.2.3), then goes on. */
  messageStored(result: StoreResult, now: number): SmtpServerEvent[] {
    if (this.#state !== "storing") throw new Error(`messageStored in state ${this.#state}`);
    if (result.ok) this.#reply(250, `OK: queued as ${this.#storingId}`);
    else this.#reply(451, `Requested action aborted: local error in processing${result.detail ? ` (${result.detail})` : ""}`);
    this.#resetTransaction("idle");
    this.#deadline = now + this.#opts.commandTimeoutMs;
    if (this.#eofWhileStoring) {
      this.#state = "closed";
      return [{ kind: "close", reason: "peer-closed" }];
    }
    return this.#run([], now);
  }

  /** Handles buffered input until it runs out or the state stops reading. */
  #run(events: SmtpServerEvent[], now: number): SmtpServerEvent[] {
    for (;;) {
      switch (this.#state) {
        case "closed":
        case "storing":
          return events;
        case "data": {
          if (this.#lines.buffered === 0) return events;
          const bytes = this.#lines.takeBuffered();
          const used = this.#feedData(bytes, events);
          if (used < bytes.length) this.#lines.push(bytes.subarray(used));
          break;
        }
        case "connect":
        case "idle":
        case "mail":
        case "rcpt": {
          const line = this.#lines.read();
          if (line === undefined) return events;
          this.#deadline = now + this.#opts.commandTimeoutMs;
          if (line.kind === "too-long") {
            // RFC 5321 §4.5.3.1.4 (512 octets) and §4.2.2: "500 … command line too long".
            this.#reply(500, "Line too long");
          } else {
            this.#command(line.text, events);
          }
          break;
        }
      }
    }
  }

  /** Feeds DATA bytes; on the final ".", answers or hands the message over. Returns octets used. */
  #feedData(bytes: Uint8Array, events: SmtpServerEvent[]): number {
    const data = this.#data as DotUnstuffer;
    const used = data.push(bytes);
    if (!data.done) return used;
    if (data.oversize) {
      // RFC 1870 §6.3: too big is 552 after the data, and the transaction is cleared.
      this.#reply(552, `Message size exceeds fixed maximum message size (${this.#opts.maxSize})`);
      this.#resetTransaction("idle");
      return used;
    }
    const id = this.#opts.newId();
    const receivedAt = this.#opts.date();
    const message: SmtpMessage = {
      id,
      reversePath: this.#reversePath,
      recipients: this.#recipients,
      heloName: this.#heloName,
      remoteAddress: this.#remoteAddress,
      receivedAt,
      receivedHeader: receivedHeader({
        heloName: this.#heloName,
        remoteAddress: this.#remoteAddress,
        hostname: this.#opts.hostname,
        protocol: this.#protocol,
        id,
        date: receivedAt,
      }),
      content: data.content(),
    };
    this.#state = "storing";
    this.#storingId = id;
    this.#data = undefined;
    events.push({ kind: "message", message });
    return used;
  }

  #command(line: string, events: SmtpServerEvent[]): void {
    const cmd = parseCommand(line);
    if (isSmtpSyntaxError(cmd)) {
      // RFC 5321 §4.2.2: 501, syntax error in parameters or arguments.
      this.#reply(501, cmd.detail);
      return;
    }
    this.#dispatchCommand(cmd, events);
  }

  #dispatchCommand(cmd: SmtpCommand, events: SmtpServerEvent[]): void {
    const greeted = this.#state !== "connect";
    switch (cmd.verb) {
      case "EHLO":
        // RFC 5321 §4.1.4: EHLO in mid-session resets the transaction, like RSET.
        this.#heloName = cmd.domain;
        this.#protocol = "ESMTP";
        this.#resetTransaction("idle");
        this.#reply(250, [
          `${this.#opts.hostname} Hello ${cmd.domain}`,
          "PIPELINING", // RFC 2920
          "8BITMIME", // RFC 6152
          `SIZE ${this.#opts.maxSize}`, // RFC 1870 §4
          "HELP",
        ]);
        return;
      case "HELO":
        this.#heloName = cmd.domain;
        this.#protocol = "SMTP";
        this.#resetTransaction("idle");
        this.#reply(250, this.#opts.hostname);
        return;
      case "MAIL": {
        if (!greeted) return this.#reply(503, "Bad sequence of commands: send EHLO or HELO first");
        if (this.#state !== "idle") return this.#reply(503, "Bad sequence of commands: nested MAIL command");
        const err = this.#checkMailParams(cmd.params);
        if (err !== undefined) return this.#reply(err.code, err.text);
        this.#reversePath = cmd.reversePath;
        this.#recipients = [];
        this.#state = "mail";
        this.#reply(250, "OK");
        return;
      }
      case "RCPT":
        if (this.#state !== "mail" && this.#state !== "rcpt") return this.#reply(503, "Bad sequence of commands: need MAIL before RCPT");
        if (cmd.params.length > 0) return this.#reply(555, `RCPT TO parameter not recognized: ${cmd.params[0]?.keyword}`);
        if (this.#recipients.length >= this.#opts.maxRecipients) return this.#reply(452, "Too many recipients");
        this.#recipients.push(cmd.forwardPath);
        this.#state = "rcpt";
        this.#reply(250, "OK");
        return;
      case "DATA":
        // RFC 5321 §3.3: DATA with no MAIL or no accepted RCPT may be answered 503.
        if (this.#state !== "rcpt") return this.#reply(503, this.#state === "mail" ? "Bad sequence of commands: need RCPT before DATA" : "Bad sequence of commands: need MAIL before DATA");
        this.#data = new DotUnstuffer(this.#opts.maxSize);
        this.#state = "data";
        this.#reply(354, "End data with <CR><LF>.<CR><LF>");
        return;
      case "RSET":
        this.#resetTransaction(greeted ? "idle" : "connect");
        this.#reply(250, "OK");
        return;
      case "NOOP":
        this.#reply(250, "OK");
        return;
      case "HELP":
        this.#reply(214, HELP_LINES);
        return;
      case "VRFY":
        // RFC 5321 §3.5.3: 252 when we will not verify but will accept mail for the address.
        this.#reply(252, "Cannot VRFY user, but will accept message and attempt delivery");
        return;
      case "EXPN":
        this.#reply(502, "Command not implemented");
        return;
      case "QUIT":
        // RFC 5321 §4.1.1.10: 221, then close; an unfinished transaction is abandoned.
        this.#reply(221, `${this.#opts.hostname} Service closing transmission channel`);
        this.#resetTransaction(this.#state);
        this.#state = "closed";
        events.push({ kind: "close", reason: "quit" });
        return;
      case "unknown":
        this.#reply(500, "Syntax error, command unrecognized");
        return;
    }
  }

  /** MAIL parameters: SIZE (RFC 1870 §6.1) and BODY (RFC 6152 §3); any other gets 555. */
  #checkMailParams(params: readonly EsmtpParam[]): { code: number; text: string } | undefined {
    const seen = new Set<string>();
    for (const p of params) {
      if (seen.has(p.keyword)) return { code: 501, text: `duplicate parameter ${p.keyword}` };
      seen.add(p.keyword);
      switch (p.keyword) {
        case "SIZE": {
          if (p.value === undefined || !/^[0-9]{1,20}$/.test(p.value)) return { code: 501, text: "SIZE needs a number" };
          // RFC 1870 §6.1: a declared size over the fixed maximum is refused with 552.
          if (Number(p.value) > this.#opts.maxSize) {
            return { code: 552, text: `Message size exceeds fixed maximum message size (${this.#opts.maxSize})` };
          }
          break;
        }
        case "BODY": {
          const v = p.value?.toUpperCase();
          if (v !== "7BIT" && v !== "8BITMIME") return { code: 501, text: "BODY is 7BIT or 8BITMIME" };
          break;
        }
        default:
          return { code: 555, text: `MAIL FROM parameter not recognized: ${p.keyword}` };
      }
    }
    return undefined;
  }

  #resetTransaction(state: SmtpServerState): void {
    this.#reversePath = "";
    this.#recipients = [];
    this.#data = undefined;
    this.#state = state;
  }

  #reply(code: number, text: string | readonly string[]): void {
    this.#out.push(formatReply(code, text));
  }
}

/** Message bytes as stored: the Received header, then the content unchanged. */
export function storedMessage(message: SmtpMessage): Uint8Array {
  const header = stringToOctets(message.receivedHeader);
  const out = new Uint8Array(header.length + message.content.length);
  out.set(header);
  out.set(message.content, header.length);
  return out;
}
