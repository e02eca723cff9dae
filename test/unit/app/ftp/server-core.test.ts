/**
 * The FTP server core per command, sans-IO: each command line in, the exact action and reply codes
 * out (RFC 959 §5.4 lists the replies each command may give). Virtual path resolution is tested
 * here too, since the core is its only user.
 */
import { describe, expect, test } from "vitest";
import { parseCommandLine, type FtpReply } from "../../../../src/app/ftp/codec.ts";
import { quoteFtpPath, resolveFtpPath } from "../../../../src/app/ftp/path.ts";
import { FtpServerSession, type FtpOutcome, type FtpServerAction } from "../../../../src/app/ftp/server-core.ts";

const AUTH = { user: { name: "user", password: "pass" }, anonymous: true };

function session(clientAddress = "127.0.0.1"): FtpServerSession {
  return new FtpServerSession(AUTH, { clientAddress });
}

function act(s: FtpServerSession, line: string): FtpServerAction {
  return s.handle(parseCommandLine(line));
}

/** The reply codes of an immediate action ([] for work handed to the thin layer). */
function codes(a: FtpServerAction): number[] {
  return a.kind === "reply" || a.kind === "abort" || a.kind === "active" ? a.replies.map((r) => r.code) : [];
}

function say(s: FtpServerSession, line: string): number[] {
  return codes(act(s, line));
}

function loggedIn(access: "user" | "anonymous" = "user", clientAddress = "127.0.0.1"): FtpServerSession {
  const s = session(clientAddress);
  expect(say(s, access === "user" ? "USER user" : "USER anonymous")).toEqual([331]);
  expect(say(s, access === "user" ? "PASS pass" : "PASS me@example.com")).toEqual([230]);
  return s;
}

function complete(s: FtpServerSession, a: FtpServerAction, o: FtpOutcome): FtpReply[] {
  return s.complete(a, o);
}

const FILE = { kind: "file" as const, size: 1234, mtimeMs: Date.UTC(2024, 0, 2, 3, 4, 5) };
const DIR = { kind: "dir" as const, size: 0, mtimeMs: 0 };

describe("virtual paths (the jail's first wall)", () => {
  test("relative, absolute and .. are resolved and clamped at /", () => {
    expect(resolveFtpPath("/a/b", "c")).toBe("/a/b/c");
    expect(resolveFtpPath("/a/b", "/x/./y/")).toBe("/x/y");
    expect(resolveFtpPath("/a/b", "../../../../etc/passwd")).toBe("/etc/passwd");
    expect(resolveFtpPath("/", "..")).toBe("/");
    expect(resolveFtpPath("/a", "//b//c")).toBe("/b/c");
    expect(resolveFtpPath("/a", undefined)).toBe("/a");
    expect(resolveFtpPath("/a", "x\0y")).toBeUndefined();
  });

  test("RFC 959 Appendix II: quotes in a 257 path are doubled", () => {
    expect(quoteFtpPath('/say "hi"')).toBe('"/say ""hi"""');
  });
});

describe("login (RFC 959 §4.1.1, §5.4)", () => {
  test("greeting 220; USER 331, PASS 230", () => {
    const s = session();
    expect(s.greeting().code).toBe(220);
    expect(say(s, "USER user")).toEqual([331]);
    expect(say(s, "PASS pass")).toEqual([230]);
    expect(s.login).toEqual({ kind: "logged-in", user: "user", access: "read-write" });
  });

  test("wrong password 530 and back to USER; PASS first 503; unknown user gets 331 then 530", () => {
    const s = session();
    expect(say(s, "PASS pass")).toEqual([503]);
    expect(say(s, "USER user")).toEqual([331]);
    expect(say(s, "PASS nope")).toEqual([530]);
    expect(say(s, "PASS pass")).toEqual([503]);
    expect(say(s, "USER mallory")).toEqual([331]);
    expect(say(s, "PASS pass")).toEqual([530]);
  });

  test("anonymous and ftp log in read-only with any password; not when anonymous is off", () => {
    expect(loggedIn("anonymous").login).toEqual({ kind: "logged-in", user: "anonymous", access: "read-only" });
    const s = session();
    expect(say(s, "USER ftp")).toEqual([331]);
    expect(say(s, "PASS")).toEqual([230]);
    const closed = new FtpServerSession({ user: AUTH.user, anonymous: false }, { clientAddress: "127.0.0.1" });
    expect(say(closed, "USER anonymous")).toEqual([331]);
    expect(say(closed, "PASS x")).toEqual([530]);
  });

  test("530 before login for everything but USER PASS QUIT FEAT NOOP SYST OPTS", () => {
    const s = session();
    for (const l of ["PWD", "CWD /", "LIST", "RETR a", "STOR a", "PASV", "EPSV", "PORT 127,0,0,1,4,1", "TYPE I", "SIZE a", "MKD x"]) {
      expect(say(s, l), l).toEqual([530]);
    }
    expect(say(s, "SYST")).toEqual([215]);
    expect(say(s, "NOOP")).toEqual([200]);
    expect(say(s, "FEAT")).toEqual([211]);
  });
});

describe("simple commands", () => {
  test("SYST 215 'UNIX Type: L8'; FEAT 211 lists EPRT EPSV MDTM PASV SIZE UTF8 (RFC 2389 §3.2)", () => {
    const s = loggedIn();
    const syst = act(s, "SYST");
    expect(syst.kind === "reply" && syst.replies[0]).toEqual({ code: 215, lines: ["UNIX Type: L8"] });
    const feat = act(s, "FEAT");
    expect(feat.kind === "reply" && feat.replies[0]?.lines).toEqual(["Features:", " EPRT", " EPSV", " MDTM", " PASV", " SIZE", " UTF8", "End"]);
  });

  test("500 unknown, 502 known but not implemented, 501 bad arguments", () => {
    const s = loggedIn();
    expect(say(s, "XYZZY")).toEqual([500]);
    expect(say(s, "")).toEqual([500]);
    for (const v of ["REST 100", "SITE CHMOD 777 x", "STOU", "REIN", "ACCT x", "HELP", "AUTH TLS", "MLSD"]) expect(say(s, v), v).toEqual([502]);
    expect(say(s, "CWD")).toEqual([501]);
    expect(say(s, "PWD x")).toEqual([501]);
    expect(say(s, "RETR")).toEqual([501]);
    expect(say(s, "OPTS UTF8 ON")).toEqual([200]);
    expect(say(s, "OPTS MLST type")).toEqual([501]);
  });

  test("too-long line 500", () => {
    expect(codes(session().handle({ kind: "too-long", length: 10000 }))).toEqual([500]);
  });

  test("TYPE A/I/L 8 200, E and A T 504, garbage 501 (RFC 959 §3.1.1); MODE S and STRU F only", () => {
    const s = loggedIn();
    for (const t of ["A", "A N", "I", "L 8", "i", "a"]) expect(say(s, `TYPE ${t}`), t).toEqual([200]);
    for (const t of ["E", "A T", "A C", "L 7"]) expect(say(s, `TYPE ${t}`), t).toEqual([504]);
    for (const t of ["X", "A X", "I I I"]) expect(say(s, `TYPE ${t}`), t).toEqual([501]);
    expect(say(s, "MODE S")).toEqual([200]);
    expect(say(s, "MODE B")).toEqual([504]);
    expect(say(s, "MODE Q")).toEqual([501]);
    expect(say(s, "STRU F")).toEqual([200]);
    expect(say(s, "STRU R")).toEqual([504]);
    expect(say(s, "STRU x")).toEqual([501]);
  });

  test("NOOP 200, ALLO 202, QUIT 221 and close, PWD 257 quoted", () => {
    const s = loggedIn();
    expect(say(s, "NOOP")).toEqual([200]);
    expect(say(s, "ALLO 100")).toEqual([202]);
    const pwd = act(s, "PWD");
    expect(pwd.kind === "reply" && pwd.replies[0]).toEqual({ code: 257, lines: ['"/" is the current directory'] });
    const q = act(s, "QUIT");
    expect(q).toEqual({ kind: "reply", replies: [{ code: 221, lines: ["Goodbye."] }], close: true });
  });
});

describe("directories and files", () => {
  test("CWD 250 to a directory, 550 otherwise; CDUP 200 (RFC 959 §5.4); .. never leaves /", () => {
    const s = loggedIn();
    const cwd = act(s, "CWD sub/dir");
    expect(cwd).toEqual({ kind: "cwd", path: "/sub/dir", cdup: false });
    expect(complete(s, cwd, { kind: "ok", stat: DIR }).map((r) => r.code)).toEqual([250]);
    expect(s.workingDirectory).toBe("/sub/dir");
    const up = act(s, "CDUP");
    expect(up).toEqual({ kind: "cwd", path: "/sub", cdup: true });
    expect(complete(s, up, { kind: "ok", stat: DIR }).map((r) => r.code)).toEqual([200]);
    const bad = act(s, "CWD a.txt");
    expect(complete(s, bad, { kind: "ok", stat: FILE }).map((r) => r.code)).toEqual([550]);
    expect(complete(s, act(s, "CWD nope"), { kind: "fs-error", reason: "not-found" }).map((r) => r.code)).toEqual([550]);
    expect(s.workingDirectory).toBe("/sub");
    expect(act(s, "CWD ../../../../")).toEqual({ kind: "cwd", path: "/", cdup: false });
  });

  test("RFC 3659 SIZE and MDTM 213; SIZE refused in TYPE A; 550 for a directory or missing file", () => {
    const s = loggedIn();
    expect(say(s, "SIZE a.txt")).toEqual([550]); // TYPE A is the default (RFC 959 §3.1.1)
    expect(say(s, "TYPE I")).toEqual([200]);
    const size = act(s, "SIZE a.txt");
    expect(size).toEqual({ kind: "stat", op: "size", path: "/a.txt" });
    expect(complete(s, size, { kind: "ok", stat: FILE })).toEqual([{ code: 213, lines: ["1234"] }]);
    expect(complete(s, size, { kind: "ok", stat: DIR }).map((r) => r.code)).toEqual([550]);
    const mdtm = act(s, "MDTM a.txt");
    // RFC 3659 §2.3: YYYYMMDDHHMMSS, UTC.
    expect(complete(s, mdtm, { kind: "ok", stat: FILE })).toEqual([{ code: 213, lines: ["20240102030405"] }]);
    expect(complete(s, mdtm, { kind: "fs-error", reason: "not-found" }).map((r) => r.code)).toEqual([550]);
  });

  test("DELE 250, MKD 257, RMD 250; refusals 550, creation in a forbidden place 553", () => {
    const s = loggedIn();
    const mkd = act(s, "MKD new dir");
    expect(mkd).toEqual({ kind: "modify", op: "mkd", path: "/new dir" });
    expect(complete(s, mkd, { kind: "ok" })).toEqual([{ code: 257, lines: ['"/new dir" created'] }]);
    expect(complete(s, mkd, { kind: "fs-error", reason: "exists" }).map((r) => r.code)).toEqual([550]);
    expect(complete(s, mkd, { kind: "fs-error", reason: "denied" }).map((r) => r.code)).toEqual([553]);
    const dele = act(s, "DELE x");
    expect(complete(s, dele, { kind: "ok" }).map((r) => r.code)).toEqual([250]);
    expect(complete(s, dele, { kind: "fs-error", reason: "denied" }).map((r) => r.code)).toEqual([550]);
    const rmd = act(s, "RMD d");
    expect(complete(s, rmd, { kind: "ok" }).map((r) => r.code)).toEqual([250]);
    expect(complete(s, rmd, { kind: "fs-error", reason: "not-empty" }).map((r) => r.code)).toEqual([550]);
  });

  test("RNFR 350 then RNTO 250; RNTO alone 503; any command between forgets RNFR (RFC 959 §4.1.3)", () => {
    const s = loggedIn();
    expect(say(s, "RNTO b")).toEqual([503]);
    const rnfr = act(s, "RNFR a");
    expect(complete(s, rnfr, { kind: "ok", stat: FILE }).map((r) => r.code)).toEqual([350]);
    const rnto = act(s, "RNTO ../../b");
    expect(rnto).toEqual({ kind: "rnto", from: "/a", to: "/b" });
    expect(complete(s, rnto, { kind: "ok" }).map((r) => r.code)).toEqual([250]);
    expect(say(s, "RNTO c")).toEqual([503]);
    complete(s, act(s, "RNFR a"), { kind: "ok", stat: FILE });
    expect(say(s, "NOOP")).toEqual([200]);
    expect(say(s, "RNTO c")).toEqual([503]);
    expect(complete(s, act(s, "RNFR missing"), { kind: "fs-error", reason: "not-found" }).map((r) => r.code)).toEqual([550]);
    complete(s, act(s, "RNFR a"), { kind: "ok", stat: FILE });
    expect(complete(s, act(s, "RNTO x"), { kind: "fs-error", reason: "denied" }).map((r) => r.code)).toEqual([553]);
  });

  test("anonymous is read-only: STOR APPE DELE MKD RMD RNFR RNTO all 550", () => {
    const s = loggedIn("anonymous");
    for (const l of ["STOR a", "APPE a", "DELE a", "MKD a", "RMD a", "RNFR a", "RNTO a"]) expect(say(s, l), l).toEqual([550]);
    expect(act(s, "CWD /").kind).toBe("cwd");
  });
});

describe("data connections", () => {
  test("a transfer before PASV/PORT is 425", () => {
    const s = loggedIn();
    for (const l of ["LIST", "NLST", "RETR a", "STOR a", "APPE a"]) expect(say(s, l), l).toEqual([425]);
  });

  test("PASV 227 with h1..p2; EPSV 229 (|||port|) (RFC 2428 §3); PASV over IPv6 425", () => {
    const s = loggedIn();
    const pasv = act(s, "PASV");
    expect(pasv).toEqual({ kind: "passive", extended: false });
    expect(complete(s, pasv, { kind: "ok", address: { host: "127.0.0.1", port: 50000 } })).toEqual([
      { code: 227, lines: ["Entering Passive Mode (127,0,0,1,195,80)."] },
    ]);
    const epsv = act(s, "EPSV");
    expect(complete(s, epsv, { kind: "ok", address: { host: "127.0.0.1", port: 50001 } })).toEqual([
      { code: 229, lines: ["Entering Extended Passive Mode (|||50001|)"] },
    ]);
    expect(complete(s, epsv, { kind: "no-data" }).map((r) => r.code)).toEqual([425]);
    expect(act(s, "EPSV 1").kind).toBe("passive");
    expect(say(s, "EPSV 2")).toEqual([522]);
    expect(say(s, "EPSV 7")).toEqual([522]);
    expect(say(s, "EPSV x")).toEqual([501]);
    const v6 = loggedIn("user", "::1");
    expect(say(v6, "PASV")).toEqual([425]);
    expect(act(v6, "EPSV 2").kind).toBe("passive");
  });

  test("RFC 2428 §4: after EPSV ALL, PASV PORT EPRT are refused", () => {
    const s = loggedIn();
    expect(say(s, "EPSV ALL")).toEqual([200]);
    expect(say(s, "PASV")).toEqual([503]);
    expect(say(s, "PORT 127,0,0,1,200,1")).toEqual([503]);
    expect(say(s, "EPRT |1|127.0.0.1|51201|")).toEqual([503]);
    expect(act(s, "EPSV").kind).toBe("passive");
  });

  test("PORT/EPRT to the client 200; RFC 2577 bounce: another address or a privileged port 500", () => {
    const s = loggedIn("user", "::ffff:127.0.0.1");
    expect(act(s, "PORT 127,0,0,1,200,1")).toEqual({
      kind: "active",
      target: { host: "127.0.0.1", port: 51201 },
      replies: [{ code: 200, lines: ["PORT command successful. Consider using EPSV."] }],
    });
    expect(say(s, "EPRT |1|127.0.0.1|51201|")).toEqual([200]);
    const refused = act(s, "PORT 10,0,0,99,0,25");
    expect(refused.kind === "reply" && refused.replies[0]).toEqual({ code: 500, lines: ["Illegal PORT command."] });
    expect(say(s, "PORT 127,0,0,1,0,25")).toEqual([500]);
    expect(say(s, "EPRT |1|192.0.2.1|51201|")).toEqual([500]);
    expect(say(s, "EPRT |2|::1|51201|")).toEqual([500]);
    expect(say(s, "PORT 127,0,0,1,200")).toEqual([501]);
    expect(say(s, "EPRT |3|x|1|")).toEqual([522]);
    expect(say(s, "EPRT garbage")).toEqual([501]);
    const v6 = loggedIn("user", "::1");
    expect(say(v6, "EPRT |2|0:0:0:0:0:0:0:1|51201|")).toEqual([200]);
    // lftp's "EPRT |2|::|port|" (data socket on the wildcard): the client itself, not another host.
    expect(act(v6, "EPRT |2|::|51201|")).toEqual({
      kind: "active",
      target: { host: "0:0:0:0:0:0:0:1", port: 51201 },
      replies: [{ code: 200, lines: ["EPRT command successful. Consider using EPSV."] }],
    });
    expect(say(v6, "EPRT |1|0.0.0.0|51201|")).toEqual([500]); // the other family's wildcard: no
    expect(say(v6, "EPRT |2|::|21|")).toEqual([500]); // still never a privileged port
    expect(act(s, "PORT 0,0,0,0,200,1")).toMatchObject({ kind: "active", target: { host: "127.0.0.1", port: 51201 } });
    expect(say(s, "EPRT |2|::|51201|")).toEqual([500]);
  });

  test("a transfer: action, 150, 226; TYPE A marks ascii; LIST options dropped", () => {
    const s = loggedIn();
    complete(s, act(s, "PASV"), { kind: "ok", address: { host: "127.0.0.1", port: 50000 } });
    const list = act(s, "LIST -la sub");
    expect(list).toEqual({ kind: "transfer", op: "list", path: "/sub", ascii: true, data: "passive" });
    if (list.kind !== "transfer") throw new Error("unreachable");
    expect(s.transferOpening(list).code).toBe(150);
    expect(s.transferInProgress).toBe(true);
    expect(complete(s, list, { kind: "ok" }).map((r) => r.code)).toEqual([226]);
    expect(s.transferInProgress).toBe(false);
    // Each PASV serves one transfer.
    expect(say(s, "RETR a")).toEqual([425]);
  });

  test("transfer failures: 550 before 150, 553 for a refused STOR name, 425 no data, 426 broken, 451 after 150", () => {
    const s = loggedIn();
    const setup = (): void => void complete(s, act(s, "EPSV"), { kind: "ok", address: { host: "127.0.0.1", port: 1 } });
    setup();
    const retr = act(s, "RETR missing");
    expect(complete(s, retr, { kind: "fs-error", reason: "not-found" }).map((r) => r.code)).toEqual([550]);
    setup();
    const stor = act(s, "STOR ../../x");
    expect(stor.kind === "transfer" && stor.path).toBe("/x");
    expect(complete(s, stor, { kind: "fs-error", reason: "denied" }).map((r) => r.code)).toEqual([553]);
    setup();
    expect(complete(s, act(s, "RETR a"), { kind: "no-data" }).map((r) => r.code)).toEqual([425]);
    setup();
    const r2 = act(s, "RETR a");
    if (r2.kind !== "transfer") throw new Error("unreachable");
    s.transferOpening(r2);
    expect(complete(s, r2, { kind: "data-lost" }).map((r) => r.code)).toEqual([426]);
    setup();
    const s2 = act(s, "STOR b");
    if (s2.kind !== "transfer") throw new Error("unreachable");
    s.transferOpening(s2);
    expect(complete(s, s2, { kind: "fs-error", reason: "io" }).map((r) => r.code)).toEqual([451]);
  });

  test("RFC 959 §4.1.3 ABOR: during a transfer 426 then 226; without one 226", () => {
    const s = loggedIn();
    expect(say(s, "ABOR")).toEqual([226]);
    complete(s, act(s, "EPSV"), { kind: "ok", address: { host: "127.0.0.1", port: 1 } });
    const retr = act(s, "RETR big");
    if (retr.kind !== "transfer") throw new Error("unreachable");
    s.transferOpening(retr);
    expect(say(s, "ABOR")).toEqual([426, 226]);
    expect(complete(s, retr, { kind: "aborted" })).toEqual([]);
  });

  test("idle timeout reply 421", () => {
    expect(session().idleTimeoutReply().code).toBe(421);
  });
});
