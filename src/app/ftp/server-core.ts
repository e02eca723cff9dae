/**
 * FTP server protocol core, sans-IO (RFC 959; RFC 2428 EPRT/EPSV; RFC 3659 SIZE/MDTM; RFC 2389 FEAT;
 * RFC 2577 bounce protection).
 *
 * Theory of operation. The core owns the session's protocol state — login, working directory,
 * TYPE, the pending RNFR, which data-connection mode is set up, whether a transfer runs — and every
 * reply code. It does no I/O: `handle(event)` takes one decoded command and returns an action. An
 * action is either a reply to send now, or work for the thin layer (a file-system call, opening a
 * passive listener, a transfer). When that work finishes the thin layer calls `complete(action,
 * outcome)`, and the core updates its state and returns the replies to send. Commands are handled one
 * at a time, in order; while a transfer runs only ABOR is handled at once (RFC 959 §4.1.3), and the
 * thin layer holds the others until the transfer's final reply.
 *
 *   state          commands accepted
 *   need-user      USER, PASS (503), QUIT, FEAT, NOOP, SYST — everything else known: 530
 *   need-pass      PASS, USER, QUIT, FEAT, NOOP, SYST — everything else known: 530
 *   logged-in      all; writes (STOR APPE DELE MKD RMD RNFR RNTO) refused with 550 when read-only
 *
 * Reply codes for what we refuse: 500 unknown verb or over-long line, 502 a known RFC verb we do not
 * implement, 501 bad or missing argument, 504 a TYPE/MODE/STRU/EPSV parameter we do not implement,
 * 503 bad sequence, 530 not logged in, 550 file unavailable or permission denied, 553 name not
 * allowed, 425 no data connection, 426 transfer aborted. PORT/EPRT naming an address other than the
 * client's own, or a privileged port, is refused with 500 "Illegal PORT command." as vsftpd does
 * (RFC 2577 §3: never connect anywhere the client is not).
 */
import {
  canonicalAddress,
  formatHostPort,
  isIpv4Canonical,
  parseEprtArg,
  parseHostPort,
  type FtpCommandEvent,
  type FtpHostPort,
  type FtpReply,
} from "./codec.ts";
import type { FtpFsErrorReason, FtpStat } from "./files.ts";
import { quoteFtpPath, resolveFtpPath } from "./path.ts";

/** Who may log in. */
export interface FtpAuthConfig {
  /** The configured user: reads and writes. */
  readonly user?: { readonly name: string; readonly password: string } | undefined;
  /** Whether USER anonymous / ftp (any password) may log in, read-only. */
  readonly anonymous: boolean;
  /** Text of the 220 greeting. */
  readonly greeting?: string | undefined;
}

/** What the session core needs to know about its control connection. */
export interface FtpSessionInfo {
  /** The client's address as its socket reports it; PORT/EPRT may only name this address. */
  readonly clientAddress: string | undefined;
}

/** Data transfers. */
export type FtpTransferOp = "retr" | "stor" | "appe" | "list" | "nlst";

/** Work the core hands to the thin layer, or a reply to send at once. */
export type FtpServerAction =
  | { readonly kind: "reply"; readonly replies: readonly FtpReply[]; readonly close: boolean }
  | { readonly kind: "passive"; readonly extended: boolean }
  | { readonly kind: "active"; readonly target: FtpHostPort; readonly replies: readonly FtpReply[] }
  | { readonly kind: "cwd"; readonly path: string; readonly cdup: boolean }
  | { readonly kind: "stat"; readonly op: "size" | "mdtm"; readonly path: string }
  | { readonly kind: "modify"; readonly op: "dele" | "mkd" | "rmd"; readonly path: string }
  | { readonly kind: "rnfr"; readonly path: string }
  | { readonly kind: "rnto"; readonly from: string; readonly to: string }
  | {
      readonly kind: "transfer";
      readonly op: FtpTransferOp;
      readonly path: string;
      /** TYPE A: translate end-of-line (RFC 959 §3.1.1.1). */
      readonly ascii: boolean;
      readonly data: "passive" | "active";
    }
  | { readonly kind: "abort"; readonly replies: readonly FtpReply[] };

/** How the thin layer's work ended. */
export type FtpOutcome =
  | { readonly kind: "ok"; readonly stat?: FtpStat | undefined; readonly address?: FtpHostPort | undefined }
  | { readonly kind: "fs-error"; readonly reason: FtpFsErrorReason }
  /** The data connection could not be opened (or the passive listener not created). */
  | { readonly kind: "no-data" }
  /** The data connection broke during the transfer. */
  | { readonly kind: "data-lost" }
  /** ABOR ended the transfer; its replies were already sent. */
  | { readonly kind: "aborted" };

/** Login state. */
export type FtpLoginState =
  | { readonly kind: "need-user" }
  | { readonly kind: "need-pass"; readonly user: string; readonly anonymous: boolean }
  | { readonly kind: "logged-in"; readonly user: string; readonly access: "read-write" | "read-only" };

/** Verbs we implement. */
const IMPLEMENTED = new Set([
  "USER", "PASS", "QUIT", "SYST", "FEAT", "OPTS", "NOOP", "PWD", "XPWD", "CWD", "CDUP", "TYPE", "MODE", "STRU",
  "PASV", "EPSV", "PORT", "EPRT", "LIST", "NLST", "RETR", "STOR", "APPE", "DELE", "MKD", "RMD", "RNFR", "RNTO",
  "SIZE", "MDTM", "ABOR", "ALLO",
]);

/** Verbs of RFC 959 and its extensions that we know but do not implement: 502, not 500. */
const KNOWN_NOT_IMPLEMENTED = new Set([
  "ACCT", "SMNT", "REIN", "STOU", "REST", "SITE", "STAT", "HELP", "MLSD", "MLST", "AUTH", "PBSZ", "PROT", "CCC",
  "ADAT", "MIC", "CONF", "ENC", "LANG", "XMKD", "XRMD", "XCWD", "XCUP", "MFMT", "HOST", "CLNT",
]);

/** Usable before login (RFC 959 §5.4 lists no 530 for these). */
const BEFORE_LOGIN = new Set(["USER", "PASS", "QUIT", "FEAT", "NOOP", "SYST", "OPTS", "ABOR"]);

/** Writes: refused for read-only (anonymous) sessions. */
const WRITES = new Set(["STOR", "APPE", "DELE", "MKD", "RMD", "RNFR", "RNTO"]);

/** Verbs that take no argument (RFC 959 §5.3.1). */
const NO_ARG = new Set(["QUIT", "SYST", "FEAT", "NOOP", "PWD", "XPWD", "CDUP", "PASV", "ABOR"]);

/** Verbs whose argument is required. */
const NEED_ARG = new Set([
  "USER", "CWD", "TYPE", "MODE", "STRU", "PORT", "EPRT", "RETR", "STOR", "APPE", "DELE", "MKD", "RMD", "RNFR", "RNTO",
  "SIZE", "MDTM", "OPTS",
]);

const ANONYMOUS_NAMES = new Set(["anonymous", "ftp"]);

/** RFC 2389 §3.2 FEAT lines (each begins with a space). */
export const FTP_FEATURES: readonly string[] = [" EPRT", " EPSV", " MDTM", " PASV", " SIZE", " UTF8"];

function r(code: number, ...lines: string[]): FtpReply {
  return { code, lines };
}

function say(...replies: FtpReply[]): FtpServerAction {
  return { kind: "reply", replies, close: false };
}

/** The protocol state of one FTP control connection. */
/** The unspecified addresses in `canonicalAddress` form. */
const UNSPECIFIED_V4 = "0.0.0.0";
const UNSPECIFIED_V6 = "0:0:0:0:0:0:0:0";

export class FtpServerSession {
  private loginState: FtpLoginState = { kind: "need-user" };
  private cwd = "/";
  private ascii = true; // RFC 959 §3.1.1: TYPE A is the default
  private renameFrom: string | undefined;
  private dataMode: "none" | "passive" | "active" = "none";
  private epsvAll = false;
  private transferring = false;
  private readonly clientAddress: string | undefined;

  constructor(
    private readonly auth: FtpAuthConfig,
    info: FtpSessionInfo,
  ) {
    this.clientAddress = canonicalAddress(info.clientAddress);
  }

  /** The current login state. */
  get login(): FtpLoginState {
    return this.loginState;
  }

  /** The working directory (a virtual path). */
  get workingDirectory(): string {
    return this.cwd;
  }

  /** Whether a transfer is between its 150 and its final reply. */
  get transferInProgress(): boolean {
    return this.transferring;
  }

  /** The 220 greeting (RFC 959 §5.4: connection establishment). */
  greeting(): FtpReply {
    return r(220, this.auth.greeting ?? "wirestack FTP ready.");
  }

  /** The reply before closing an idle session (RFC 959 §4.2: 421 service closing control connection). */
  idleTimeoutReply(): FtpReply {
    return r(421, "Timeout.");
  }

  /** Handles one decoded command line. */
  handle(event: FtpCommandEvent): FtpServerAction {
    if (event.kind === "too-long") return say(r(500, "Command line too long."));
    const { verb, arg } = event;
    if (!IMPLEMENTED.has(verb)) {
      this.renameFrom = undefined;
      if (KNOWN_NOT_IMPLEMENTED.has(verb)) return say(r(502, `${verb} not implemented.`));
      return say(r(500, "Unknown command."));
    }
    if (this.loginState.kind !== "logged-in" && !BEFORE_LOGIN.has(verb)) return say(r(530, "Please login with USER and PASS."));
    if (NO_ARG.has(verb) && arg !== undefined) return say(r(501, `${verb} takes no argument.`));
    if (NEED_ARG.has(verb) && arg === undefined) return say(r(501, `${verb} needs an argument.`));
    // RFC 959 §4.1.3: RNTO must immediately follow RNFR; any other command forgets the RNFR.
    const from = this.renameFrom;
    this.renameFrom = undefined;
    if (WRITES.has(verb) && this.loginState.kind === "logged-in" && this.loginState.access === "read-only") {
      return say(r(550, "Permission denied."));
    }
    const a = arg ?? "";
    switch (verb) {
      case "USER":
        return this.user(a);
      case "PASS":
        return this.pass(a);
      case "QUIT":
        return { kind: "reply", replies: [r(221, "Goodbye.")], close: true };
      case "SYST":
        return say(r(215, "UNIX Type: L8"));
      case "FEAT":
        return say(r(211, "Features:", ...FTP_FEATURES, "End"));
      case "OPTS":
        // RFC 2640 §3.1: "OPTS UTF8 ON"; paths are UTF-8 always.
        return /^utf8(\s+on)?$/i.test(a.trim()) ? say(r(200, "Always in UTF8 mode.")) : say(r(501, "Option not understood."));
      case "NOOP":
        return say(r(200, "NOOP ok."));
      case "ALLO":
        // RFC 959 §4.1.3: servers that need no reservation treat ALLO as NOOP (202).
        return say(r(202, "ALLO command ignored."));
      case "PWD":
      case "XPWD":
        return say(r(257, `${quoteFtpPath(this.cwd)} is the current directory`));
      case "CWD":
        return this.pathAction(a, (path) => ({ kind: "cwd", path, cdup: false }));
      case "CDUP":
        return { kind: "cwd", path: resolveFtpPath(this.cwd, "..") as string, cdup: true };
      case "TYPE":
        return this.type(a);
      case "MODE":
        return this.oneOf(a, "S", "Mode set to S.", "BC");
      case "STRU":
        return this.oneOf(a, "F", "Structure set to F.", "RP");
      case "PASV":
        if (this.epsvAll) return say(r(503, "PASV not allowed after EPSV ALL."));
        // PASV can only carry an IPv4 address (RFC 2428 §1); over IPv6 clients must use EPSV.
        if (this.clientAddress !== undefined && !isIpv4Canonical(this.clientAddress)) return say(r(425, "PASV needs IPv4; use EPSV."));
        return { kind: "passive", extended: false };
      case "EPSV":
        return this.epsv(arg);
      case "PORT":
        return this.port(a);
      case "EPRT":
        return this.eprt(a);
      case "LIST":
      case "NLST":
        // "LIST -la": options are an ls habit that RFC 959 does not define; they are dropped.
        return this.transfer(verb === "LIST" ? "list" : "nlst", (arg ?? "").replace(/^(-\S*\s*)+/, ""));
      case "RETR":
        return this.transfer("retr", a);
      case "STOR":
        return this.transfer("stor", a);
      case "APPE":
        return this.transfer("appe", a);
      case "DELE":
        return this.pathAction(a, (path) => ({ kind: "modify", op: "dele", path }));
      case "MKD":
        return this.pathAction(a, (path) => ({ kind: "modify", op: "mkd", path }));
      case "RMD":
        return this.pathAction(a, (path) => ({ kind: "modify", op: "rmd", path }));
      case "RNFR":
        return this.pathAction(a, (path) => ({ kind: "rnfr", path }));
      case "RNTO":
        if (from === undefined) return say(r(503, "RNFR required first."));
        return this.pathAction(a, (to) => ({ kind: "rnto", from, to }));
      case "SIZE":
        // RFC 3659 §4: the size must be that of a transfer in the current TYPE; in TYPE A that would
        // mean reading the whole file, so, as proftpd does, we answer only in TYPE I.
        if (this.ascii) return say(r(550, "SIZE not allowed in ASCII mode."));
        return this.pathAction(a, (path) => ({ kind: "stat", op: "size", path }));
      case "MDTM":
        return this.pathAction(a, (path) => ({ kind: "stat", op: "mdtm", path }));
      case "ABOR":
        if (this.transferring) {
          this.transferring = false;
          this.dataMode = "none";
          // RFC 959 §4.1.3 ABOR: 426 for the aborted transfer, then 226 for the ABOR.
          return { kind: "abort", replies: [r(426, "Connection closed; transfer aborted."), r(226, "Abort successful.")] };
        }
        return { kind: "abort", replies: [r(226, "No transfer to abort.")] };
      default:
        throw new Error(`FTP verb ${verb} listed as implemented but not handled`);
    }
  }

  /** The 150 reply as the data connection opens; marks the transfer as running. */
  transferOpening(action: Extract<FtpServerAction, { kind: "transfer" }>, size?: number): FtpReply {
    this.transferring = true;
    switch (action.op) {
      case "list":
      case "nlst":
        return r(150, "Here comes the directory listing.");
      case "retr":
        return r(150, `Opening ${action.ascii ? "ASCII" : "BINARY"} mode data connection for ${action.path}${size !== undefined ? ` (${size} bytes)` : ""}.`);
      case "stor":
      case "appe":
        return r(150, "Ok to send data.");
    }
  }

  /** Finishes an action handed to the thin layer; returns the replies to send. */
  complete(action: FtpServerAction, outcome: FtpOutcome): FtpReply[] {
    switch (action.kind) {
      case "reply":
      case "active":
      case "abort":
        return [];
      case "passive":
        if (outcome.kind !== "ok" || outcome.address === undefined) return [r(425, "Can't open passive connection.")];
        this.dataMode = "passive";
        if (action.extended) return [r(229, `Entering Extended Passive Mode (|||${outcome.address.port}|)`)];
        return [r(227, `Entering Passive Mode (${formatHostPort(outcome.address)}).`)];
      case "cwd":
        if (outcome.kind === "ok" && outcome.stat?.kind === "dir") {
          this.cwd = action.path;
          // RFC 959 §5.4: CWD answers 250, CDUP 200.
          return [action.cdup ? r(200, "Directory successfully changed.") : r(250, "Directory successfully changed.")];
        }
        return [r(550, "Failed to change directory.")];
      case "stat": {
        const st = outcome.kind === "ok" ? outcome.stat : undefined;
        if (st === undefined || st.kind !== "file") return [r(550, action.op === "size" ? "Could not get file size." : "Could not get file modification time.")];
        // RFC 3659 §2.3: time-val is YYYYMMDDHHMMSS in UTC.
        if (action.op === "mdtm") return [r(213, new Date(st.mtimeMs).toISOString().replace(/[-T:]/g, "").slice(0, 14))];
        return [r(213, String(st.size))];
      }
      case "modify":
        if (outcome.kind === "ok") {
          if (action.op === "mkd") return [r(257, `${quoteFtpPath(action.path)} created`)];
          return [r(250, action.op === "dele" ? "Delete operation successful." : "Remove directory operation successful.")];
        }
        return [this.fsRefusal(outcome, action.op === "mkd")];
      case "rnfr":
        if (outcome.kind === "ok" && outcome.stat !== undefined) {
          this.renameFrom = action.path;
          return [r(350, "Ready for RNTO.")];
        }
        return [r(550, "RNFR command failed.")];
      case "rnto":
        if (outcome.kind === "ok") return [r(250, "Rename successful.")];
        return [this.fsRefusal(outcome, true)];
      case "transfer": {
        const wasRunning = this.transferring;
        this.transferring = false;
        this.dataMode = "none";
        switch (outcome.kind) {
          case "ok":
            return [r(226, action.op === "list" || action.op === "nlst" ? "Directory send OK." : "Transfer complete.")];
          case "aborted":
            return [];
          case "no-data":
            return [r(425, "Can't open data connection.")];
          case "data-lost":
            return [r(426, "Connection closed; transfer aborted.")];
          case "fs-error":
            // Failed before 150 (the file could not be opened) or while writing it.
            if (wasRunning) return [r(451, "Requested action aborted: local error in processing.")];
            return [this.fsRefusal(outcome, action.op === "stor" || action.op === "appe")];
        }
      }
    }
  }

  private fsRefusal(outcome: FtpOutcome, creating: boolean): FtpReply {
    const reason = outcome.kind === "fs-error" ? outcome.reason : "io";
    switch (reason) {
      case "denied":
      case "bad-name":
        // RFC 959 §4.2: 553 "File name not allowed" when creating; 550 otherwise.
        return creating ? r(553, "Could not create file: name not allowed.") : r(550, "Permission denied.");
      case "not-found":
        return r(550, "No such file or directory.");
      case "exists":
        return r(550, "File exists.");
      case "not-empty":
        return r(550, "Directory not empty.");
      case "is-dir":
        return r(550, "Is a directory.");
      case "not-dir":
        return r(550, "Not a directory.");
      case "io":
        return r(451, "Requested action aborted: local error in processing.");
    }
  }

  private user(name: string): FtpServerAction {
    const anonymous = this.auth.anonymous && ANONYMOUS_NAMES.has(name.toLowerCase());
    this.loginState = { kind: "need-pass", user: anonymous ? "anonymous" : name, anonymous };
    // The same 331 for unknown names: the reply does not tell which users exist.
    return say(r(331, anonymous ? "Anonymous login ok, send your email as password." : "Please specify the password."));
  }

  private pass(password: string): FtpServerAction {
    const st = this.loginState;
    if (st.kind === "logged-in") return say(r(503, "Already logged in."));
    if (st.kind === "need-user") return say(r(503, "Login with USER first."));
    if (st.anonymous) {
      this.loginState = { kind: "logged-in", user: "anonymous", access: "read-only" };
      return say(r(230, "Login successful (read-only)."));
    }
    const u = this.auth.user;
    if (u !== undefined && st.user === u.name && password === u.password) {
      this.loginState = { kind: "logged-in", user: u.name, access: "read-write" };
      return say(r(230, "Login successful."));
    }
    this.loginState = { kind: "need-user" };
    return say(r(530, "Login incorrect."));
  }

  private type(arg: string): FtpServerAction {
    // RFC 959 §3.1.1: A [N], I, L 8 (L 8 is image on 8-bit hosts); E, A T/C and other L sizes not here.
    const t = arg.trim().toUpperCase().split(/\s+/);
    const [code, form] = t;
    if (t.length > 2) return say(r(501, "Bad TYPE parameter."));
    if (code === "A" && (form === undefined || form === "N")) {
      this.ascii = true;
      return say(r(200, "Switching to ASCII mode."));
    }
    if ((code === "I" && form === undefined) || (code === "L" && form === "8")) {
      this.ascii = false;
      return say(r(200, "Switching to Binary mode."));
    }
    if ((code === "A" && (form === "T" || form === "C")) || (code === "E" && t.length <= 2) || (code === "L" && form !== undefined && /^\d+$/.test(form))) {
      return say(r(504, "TYPE parameter not implemented."));
    }
    return say(r(501, "Bad TYPE parameter."));
  }

  private oneOf(arg: string, ok: string, text: string, known: string): FtpServerAction {
    const v = arg.trim().toUpperCase();
    if (v === ok) return say(r(200, text));
    if (v.length === 1 && known.includes(v)) return say(r(504, "Parameter not implemented."));
    return say(r(501, "Bad parameter."));
  }

  private epsv(arg: string | undefined): FtpServerAction {
    if (arg === undefined) return { kind: "passive", extended: true };
    const a = arg.trim().toUpperCase();
    if (a === "ALL") {
      // RFC 2428 §4: after EPSV ALL, refuse every other data-connection setup command.
      this.epsvAll = true;
      return say(r(200, "EPSV ALL ok."));
    }
    if (a === "1" || a === "2") {
      const v4 = this.clientAddress === undefined || isIpv4Canonical(this.clientAddress);
      if ((a === "1") === v4) return { kind: "passive", extended: true };
      return say(r(522, `Network protocol not supported, use (${v4 ? 1 : 2})`));
    }
    if (/^\d+$/.test(a)) return say(r(522, `Network protocol not supported, use (${this.clientAddress === undefined || isIpv4Canonical(this.clientAddress) ? 1 : 2})`));
    return say(r(501, "Bad EPSV parameter."));
  }

  private port(arg: string): FtpServerAction {
    if (this.epsvAll) return say(r(503, "PORT not allowed after EPSV ALL."));
    const hp = parseHostPort(arg);
    if (hp === undefined) return say(r(501, "Bad PORT parameter."));
    return this.activeTo(hp, "PORT");
  }

  private eprt(arg: string): FtpServerAction {
    if (this.epsvAll) return say(r(503, "EPRT not allowed after EPSV ALL."));
    const ea = parseEprtArg(arg);
    if (ea === undefined) return say(r(501, "Bad EPRT parameter."));
    // RFC 2428 §2: an unsupported network protocol gets 522 with the ones we support.
    if (typeof ea.protocol !== "number") return say(r(522, "Network protocol not supported, use (1,2)"));
    return this.activeTo(ea, "EPRT");
  }

  private activeTo(hp: FtpHostPort, verb: "PORT" | "EPRT"): FtpServerAction {
    let target = canonicalAddress(hp.host);
    // The unspecified address of the client's own family names no other host: lftp sends
    // "EPRT |2|::|port|" when its data socket is bound to the wildcard. Read it as the client itself
    // (the only address the bounce rule below would allow anyway).
    if (target === UNSPECIFIED_V6 || target === UNSPECIFIED_V4) {
      const v4 = this.clientAddress !== undefined && isIpv4Canonical(this.clientAddress);
      if ((target === UNSPECIFIED_V4) === v4) target = this.clientAddress;
    }
    // RFC 2577 §3: connect only back to the client, and never to a privileged port (FTP bounce).
    if (target === undefined || this.clientAddress === undefined || target !== this.clientAddress || hp.port < 1024) {
      return say(r(500, `Illegal ${verb} command.`));
    }
    this.dataMode = "active";
    return { kind: "active", target: { host: target, port: hp.port }, replies: [r(200, `${verb} command successful. Consider using EPSV.`)] };
  }

  private transfer(op: FtpTransferOp, arg: string): FtpServerAction {
    if ((op === "retr" || op === "stor" || op === "appe") && arg === "") return say(r(501, `${op.toUpperCase()} needs an argument.`));
    const path = resolveFtpPath(this.cwd, arg === "" ? undefined : arg);
    if (path === undefined) return say(r(op === "stor" || op === "appe" ? 553 : 550, "File name not allowed."));
    if (this.dataMode === "none") return say(r(425, "Use PORT, PASV, EPRT or EPSV first."));
    return { kind: "transfer", op, path, ascii: this.ascii, data: this.dataMode };
  }

  private pathAction(arg: string, make: (path: string) => FtpServerAction): FtpServerAction {
    const path = resolveFtpPath(this.cwd, arg);
    if (path === undefined) return say(r(553, "File name not allowed."));
    return make(path);
  }
}
