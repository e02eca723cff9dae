/**
 * FTP control codec: commands and replies fed whole, one byte at a time and split at every index;
 * over-long lines; Telnet sequences; host-port arguments of PORT/PASV/EPRT/EPSV; TYPE A end-of-line.
 * The command bytes are those curl 7.88 and lftp 4.9 sent in the tools tests (captured with `curl -v`
 * and `lftp -d`), the ABOR with Telnet IP/DM as RFC 959 §4.1.3 describes it.
 */
import { describe, expect, test } from "vitest";
import {
  AsciiFromNetwork,
  AsciiToNetwork,
  canonicalAddress,
  FTP_MAX_LINE,
  FtpCommandDecoder,
  FtpReplyDecoder,
  formatCommand,
  formatEprtArg,
  formatHostPort,
  formatReply,
  parseEprtArg,
  parseEpsvReply,
  parseHostPort,
  parseIpv6Text,
  parsePasvReply,
  type FtpCommandEvent,
} from "../../../../src/app/ftp/codec.ts";

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array): string => new TextDecoder().decode(b);

// What curl sent for `curl -T f ftp://user:pass@127.0.0.1:P/up.bin` (curl -v), plus a lower-case verb.
const SESSION = "USER user\r\nPASS pass\r\nPWD\r\nEPSV\r\nTYPE I\r\nSTOR up.bin\r\nlist -la\r\nQUIT\r\n";
const EXPECTED: FtpCommandEvent[] = [
  { kind: "command", verb: "USER", arg: "user" },
  { kind: "command", verb: "PASS", arg: "pass" },
  { kind: "command", verb: "PWD", arg: undefined },
  { kind: "command", verb: "EPSV", arg: undefined },
  { kind: "command", verb: "TYPE", arg: "I" },
  { kind: "command", verb: "STOR", arg: "up.bin" },
  { kind: "command", verb: "LIST", arg: "-la" },
  { kind: "command", verb: "QUIT", arg: undefined },
];

describe("FtpCommandDecoder (RFC 959 §5.3)", () => {
  test("a whole session in one chunk", () => {
    expect(new FtpCommandDecoder().receiveData(enc(SESSION))).toEqual(EXPECTED);
  });

  test("one byte at a time", () => {
    const d = new FtpCommandDecoder();
    const out: FtpCommandEvent[] = [];
    for (const b of enc(SESSION)) out.push(...d.receiveData(Uint8Array.of(b)));
    expect(out).toEqual(EXPECTED);
  });

  test("split at every index", () => {
    const bytes = enc(SESSION);
    for (let i = 0; i <= bytes.length; i++) {
      const d = new FtpCommandDecoder();
      const out = [...d.receiveData(bytes.subarray(0, i)), ...d.receiveData(bytes.subarray(i))];
      expect(out, `split at ${i}`).toEqual(EXPECTED);
    }
  });

  test("bare LF ends a line too; an incomplete line waits", () => {
    const d = new FtpCommandDecoder();
    expect(d.receiveData(enc("NOOP\nCWD /a b"))).toEqual([{ kind: "command", verb: "NOOP", arg: undefined }]);
    expect(d.receiveData(enc("\r\n"))).toEqual([{ kind: "command", verb: "CWD", arg: "/a b" }]);
  });

  test("UTF-8 path names (RFC 2640)", () => {
    expect(new FtpCommandDecoder().receiveData(enc("RETR /données/ü.txt\r\n"))).toEqual([{ kind: "command", verb: "RETR", arg: "/données/ü.txt" }]);
  });

  test("RFC 959 §4.1.3: Telnet IP and Synch (IAC IP IAC DM) before ABOR are removed; IAC IAC is 0xFF", () => {
    const bytes = Uint8Array.of(0xff, 0xf4, 0xff, 0xf2, ...enc("ABOR\r\n"), 0xff, 0xfb, 0x01, ...enc("NOOP\r\n"));
    expect(new FtpCommandDecoder().receiveData(bytes)).toEqual([
      { kind: "command", verb: "ABOR", arg: undefined },
      { kind: "command", verb: "NOOP", arg: undefined },
    ]);
    const ff = new FtpCommandDecoder().receiveData(Uint8Array.of(...enc("CWD a"), 0xff, 0xff, ...enc("b\r\n")));
    expect(ff[0]?.kind === "command" && ff[0].arg?.length).toBe(3);
  });

  test("a line over FTP_MAX_LINE is reported once and skipped; the next line is read normally", () => {
    const d = new FtpCommandDecoder();
    const long = enc(`STOR ${"x".repeat(FTP_MAX_LINE * 3)}\r\nNOOP\r\n`);
    const out: FtpCommandEvent[] = [];
    for (let i = 0; i < long.length; i += 1000) out.push(...d.receiveData(long.subarray(i, i + 1000)));
    expect(out).toEqual([
      { kind: "too-long", length: FTP_MAX_LINE * 3 + 7 },
      { kind: "command", verb: "NOOP", arg: undefined },
    ]);
    // Exactly at the limit (CRLF included) is still accepted.
    const edge = `NOOP ${"y".repeat(FTP_MAX_LINE - 7)}\r\n`;
    expect(enc(edge).length).toBe(FTP_MAX_LINE);
    expect(new FtpCommandDecoder().receiveData(enc(edge))[0]?.kind).toBe("command");
    expect(new FtpCommandDecoder().receiveData(enc(`NOOP ${"y".repeat(FTP_MAX_LINE - 6)}\r\n`))[0]?.kind).toBe("too-long");
  });

  test("arbitrary bytes never throw", () => {
    let seed = 1;
    const d = new FtpCommandDecoder(64);
    for (let n = 0; n < 2000; n++) {
      const chunk = new Uint8Array(37);
      for (let i = 0; i < chunk.length; i++) chunk[i] = (seed = (seed * 1103515245 + 12345) >>> 0) >>> 24;
      expect(() => d.receiveData(chunk)).not.toThrow();
    }
  });
});

// Replies as our server, vsftpd (FEAT) and pyftpdlib send them.
const REPLIES =
  "220 wirestack FTP ready.\r\n211-Features:\r\n EPRT\r\n EPSV\r\n MDTM\r\n PASV\r\n REST STREAM\r\n SIZE\r\n TVFS\r\n211 End\r\n" +
  "230-Welcome\r\n230-more\r\n230 Login successful.\r\n150 Ok to send data.\r\n226 Transfer complete.\r\n";
const REPLIES_EXPECTED = [
  { code: 220, lines: ["wirestack FTP ready."] },
  { code: 211, lines: ["Features:", " EPRT", " EPSV", " MDTM", " PASV", " REST STREAM", " SIZE", " TVFS", "End"] },
  { code: 230, lines: ["Welcome", "230-more", "Login successful."] },
  { code: 150, lines: ["Ok to send data."] },
  { code: 226, lines: ["Transfer complete."] },
];

describe("FtpReplyDecoder (RFC 959 §4.2)", () => {
  test("single and multi-line replies, split at every index", () => {
    const bytes = enc(REPLIES);
    for (let i = 0; i <= bytes.length; i++) {
      const d = new FtpReplyDecoder();
      expect([...d.receiveData(bytes.subarray(0, i)), ...d.receiveData(bytes.subarray(i))], `split at ${i}`).toEqual(REPLIES_EXPECTED);
    }
  });

  test("one byte at a time", () => {
    const d = new FtpReplyDecoder();
    const out = [];
    for (const b of enc(REPLIES)) out.push(...d.receiveData(Uint8Array.of(b)));
    expect(out).toEqual(REPLIES_EXPECTED);
  });

  test("a line without a code is a bad reply, not an exception", () => {
    expect(new FtpReplyDecoder().receiveData(enc("hello\r\n999 x\r\n"))).toEqual([
      { kind: "bad-reply", line: "hello" },
      { kind: "bad-reply", line: "999 x" },
    ]);
  });

  test("formatReply: multi-line framing round-trips; a middle line starting with a digit is indented", () => {
    const bytes = formatReply({ code: 211, lines: ["Features:", " EPSV", "250 looks like an end", "End"] });
    expect(dec(bytes)).toBe("211-Features:\r\n EPSV\r\n 250 looks like an end\r\n211 End\r\n");
    expect(new FtpReplyDecoder().receiveData(bytes)).toEqual([{ code: 211, lines: ["Features:", " EPSV", " 250 looks like an end", "End"] }]);
    expect(dec(formatReply({ code: 200, lines: ["a\r\nb"] }))).toBe("200 a  b\r\n");
    expect(() => formatReply({ code: 99, lines: [] })).toThrow(RangeError);
  });

  test("formatCommand refuses CR/LF inside an argument (no command injection)", () => {
    expect(dec(formatCommand("RETR", "a b"))).toBe("RETR a b\r\n");
    expect(() => formatCommand("RETR", "x\r\nDELE y")).toThrow(RangeError);
  });
});

describe("data-connection addresses", () => {
  test("RFC 959 §4.1.2 PORT h1,h2,h3,h4,p1,p2", () => {
    // curl --ftp-port 127.0.0.1 sent "PORT 127,0,0,1,156,43".
    expect(parseHostPort("127,0,0,1,156,43")).toEqual({ host: "127.0.0.1", port: 156 * 256 + 43 });
    expect(formatHostPort({ host: "10.0.0.2", port: 40000 })).toBe("10,0,0,2,156,64");
    for (const bad of ["127,0,0,1,156", "127,0,0,1,156,43,1", "256,0,0,1,1,1", "a,0,0,1,1,1", "1,2,3,4,5,-6", "1,2,3,4,5,1000", ""]) {
      expect(parseHostPort(bad), bad).toBeUndefined();
    }
    expect(() => formatHostPort({ host: "::1", port: 1 })).toThrow(RangeError);
  });

  test("227 and 229 reply texts", () => {
    expect(parsePasvReply("Entering Passive Mode (127,0,0,1,195,80).")).toEqual({ host: "127.0.0.1", port: 50000 });
    expect(parsePasvReply("Entering Passive Mode")).toBeUndefined();
    expect(parseEpsvReply("Entering Extended Passive Mode (|||37887|)")).toBe(37887);
    expect(parseEpsvReply("Entering Extended Passive Mode (!!!37887!)")).toBe(37887);
    expect(parseEpsvReply("Entering Extended Passive Mode (|||0|)")).toBeUndefined();
    expect(parseEpsvReply("(||37887|)")).toBeUndefined();
  });

  test("RFC 2428 §2 EPRT", () => {
    // RFC 2428 §2's own examples.
    expect(parseEprtArg("|1|132.235.1.2|6275|")).toEqual({ protocol: 1, host: "132.235.1.2", port: 6275 });
    expect(parseEprtArg("|2|1080::8:800:200C:417A|5282|")).toEqual({ protocol: 2, host: "1080::8:800:200C:417A", port: 5282 });
    expect(parseEprtArg("|3|x|1|")).toEqual({ protocol: { kind: "unknown", value: 3 }, host: "x", port: 1 });
    for (const bad of ["|1|132.235.1.2|6275", "|1|300.1.1.1|1|", "|2|::g|1|", "|1|1.2.3.4|70000|", " 1 1.2.3.4 1 ", "", "|1||1|"]) {
      expect(parseEprtArg(bad), bad).toBeUndefined();
    }
    expect(formatEprtArg({ host: "::1", port: 2121 })).toBe("|2|::1|2121|");
    expect(formatEprtArg({ host: "127.0.0.1", port: 2121 })).toBe("|1|127.0.0.1|2121|");
  });

  test("IPv6 text (RFC 4291 §2.2) and canonical addresses for the bounce check", () => {
    expect(Array.from(parseIpv6Text("::1") ?? [])).toEqual([...new Array(15).fill(0), 1]);
    expect(Array.from(parseIpv6Text("::ffff:1.2.3.4") ?? []).slice(10)).toEqual([0xff, 0xff, 1, 2, 3, 4]);
    expect(Array.from(parseIpv6Text("1:2:3:4:5:6:1.2.3.4") ?? []).slice(12)).toEqual([1, 2, 3, 4]);
    for (const bad of ["", ":", ":::", "1::2::3", "1:2:3:4:5:6:7:8:9", "12345::", "::1.2.3", "g::"]) expect(parseIpv6Text(bad), bad).toBeUndefined();
    expect(canonicalAddress("::ffff:127.0.0.1")).toBe("127.0.0.1");
    expect(canonicalAddress("0:0:0:0:0:0:0:1")).toBe(canonicalAddress("::1"));
    expect(canonicalAddress("fe80::1%eth0")).toBe("fe80:0:0:0:0:0:0:1");
    expect(canonicalAddress("example.com")).toBeUndefined();
  });
});

describe("TYPE A end-of-line (RFC 959 §3.1.1.1)", () => {
  const local = "line one\nline two\r\nthree\n\nend\r";
  const network = "line one\r\nline two\r\nthree\r\n\r\nend\r";

  test("LF becomes CRLF on send, split at every index", () => {
    const bytes = enc(local);
    for (let i = 0; i <= bytes.length; i++) {
      const e = new AsciiToNetwork();
      expect(dec(Uint8Array.of(...e.encode(bytes.subarray(0, i)), ...e.encode(bytes.subarray(i)))), `split at ${i}`).toBe(network);
    }
  });

  test("CRLF becomes LF on receive, split at every index; a lone CR survives", () => {
    const bytes = enc("a\r\nb\rc\r\n\r\nend\r");
    for (let i = 0; i <= bytes.length; i++) {
      const d = new AsciiFromNetwork();
      const out = Uint8Array.of(...d.decode(bytes.subarray(0, i)), ...d.decode(bytes.subarray(i)), ...d.flush());
      expect(dec(out), `split at ${i}`).toBe("a\nb\rc\n\nend\r");
    }
  });
});
