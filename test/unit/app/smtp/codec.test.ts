/**
 * The SMTP codec: lines, commands, replies and DATA transparency, fed whole, one byte at a time and
 * split at every index (STYLE.md §10). Real bytes from swaks and aiosmtpd: see fixtures.ts.
 */
import { describe, expect, test } from "vitest";
import {
  DotUnstuffer,
  LineReader,
  ReplyReader,
  SMTP_COMMAND_LINE_MAX,
  SmtpSyntaxError,
  dotStuff,
  formatReply,
  normalizeLineEndings,
  parseCommand,
  type LineResult,
  type SmtpReply,
} from "../../../../src/app/smtp/codec.ts";
import { AIOSMTPD_REPLIES, SWAKS_COMMANDS, SWAKS_DATA, SWAKS_MESSAGE, bytes, text } from "./fixtures.ts";

/** Every way to cut `b` in two, plus byte-by-byte. */
function splits(b: Uint8Array): Uint8Array[][] {
  const out: Uint8Array[][] = [];
  for (let i = 0; i <= b.length; i++) out.push([b.subarray(0, i), b.subarray(i)]);
  out.push(Array.from(b, (_, i) => b.subarray(i, i + 1)));
  return out;
}

function readAllLines(reader: LineReader, chunks: Uint8Array[]): LineResult[] {
  const out: LineResult[] = [];
  for (const c of chunks) {
    reader.push(c);
    for (let r = reader.read(); r !== undefined; r = reader.read()) out.push(r);
  }
  return out;
}

describe("LineReader", () => {
  test("swaks's commands come out as four lines, however the bytes are cut", () => {
    const want = ["EHLO client.example", "MAIL FROM:<c@d>", "RCPT TO:<a@b>", "DATA"].map((t) => ({ kind: "line", text: t }));
    for (const chunks of splits(SWAKS_COMMANDS)) {
      expect(readAllLines(new LineReader(SMTP_COMMAND_LINE_MAX), chunks)).toEqual(want);
    }
  });

  test("RFC 5321 §4.5.3.1.4: 512 octets with CRLF is a line; 513 is too long", () => {
    const ok = `NOOP ${"x".repeat(SMTP_COMMAND_LINE_MAX - 7)}\r\n`;
    const long = `NOOP ${"x".repeat(SMTP_COMMAND_LINE_MAX - 6)}\r\n`;
    expect(ok.length).toBe(512);
    for (const chunks of splits(bytes(ok + long + "QUIT\r\n"))) {
      const got = readAllLines(new LineReader(SMTP_COMMAND_LINE_MAX), chunks);
      expect(got.map((r) => r.kind)).toEqual(["line", "too-long", "line"]);
      expect(got[1]).toEqual({ kind: "too-long", length: 513 });
      expect(got[2]).toEqual({ kind: "line", text: "QUIT" });
    }
  });

  test("an endless line is dropped as it arrives: memory stays under the limit", () => {
    const r = new LineReader(SMTP_COMMAND_LINE_MAX);
    const junk = new Uint8Array(4096).fill(0x41);
    for (let i = 0; i < 256; i++) {
      r.push(junk);
      expect(r.read()).toBeUndefined();
      expect(r.buffered).toBeLessThan(SMTP_COMMAND_LINE_MAX);
    }
    r.push(bytes("\r\nNOOP\r\n"));
    expect(r.read()).toEqual({ kind: "too-long", length: 256 * 4096 + 2 });
    expect(r.read()).toEqual({ kind: "line", text: "NOOP" });
  });

  test("a bare LF ends a command line; one CR before it is removed, others stay", () => {
    const got = readAllLines(new LineReader(64), [bytes("NOOP\nRSET\r\r\n\r\n")]);
    expect(got).toEqual([
      { kind: "line", text: "NOOP" },
      { kind: "line", text: "RSET\r" },
      { kind: "line", text: "" },
    ]);
  });

  test("takeBuffered hands out the unread bytes and leaves the reader empty", () => {
    const r = new LineReader(64);
    r.push(bytes("DATA\r\nSubject: x\r\n"));
    expect(r.read()).toEqual({ kind: "line", text: "DATA" });
    expect(text(r.takeBuffered())).toBe("Subject: x\r\n");
    expect(r.buffered).toBe(0);
    expect(r.read()).toBeUndefined();
  });
});

describe("parseCommand (RFC 5321 §4.1.1)", () => {
  test.each([
    ["EHLO client.example", { verb: "EHLO", domain: "client.example" }],
    ["ehlo [127.0.0.1]", { verb: "EHLO", domain: "[127.0.0.1]" }],
    ["HELO x", { verb: "HELO", domain: "x" }],
    ["MAIL FROM:<c@d>", { verb: "MAIL", reversePath: "c@d", params: [] }],
    ["mail from:<>", { verb: "MAIL", reversePath: "", params: [] }],
    ["MAIL FROM: <c@d>", { verb: "MAIL", reversePath: "c@d", params: [] }],
    ["MAIL FROM:<c@d> SIZE=100 body=8bitmime", { verb: "MAIL", reversePath: "c@d", params: [{ keyword: "SIZE", value: "100" }, { keyword: "BODY", value: "8bitmime" }] }],
    ["MAIL FROM:<@relay.example,@r2.example:c@d>", { verb: "MAIL", reversePath: "c@d", params: [] }],
    ['MAIL FROM:<"a b"@d>', { verb: "MAIL", reversePath: '"a b"@d', params: [] }],
    ["RCPT TO:<a@[192.0.2.1]>", { verb: "RCPT", forwardPath: "a@[192.0.2.1]", params: [] }],
    ["RCPT TO:<Postmaster>", { verb: "RCPT", forwardPath: "Postmaster", params: [] }],
    ["RCPT TO:<a@b> NOTIFY", { verb: "RCPT", forwardPath: "a@b", params: [{ keyword: "NOTIFY", value: undefined }] }],
    ["DATA", { verb: "DATA" }],
    ["rset", { verb: "RSET" }],
    ["QUIT", { verb: "QUIT" }],
    ["NOOP", { verb: "NOOP", arg: undefined }],
    ["NOOP anything at all", { verb: "NOOP", arg: "anything at all" }],
    ["HELP", { verb: "HELP", topic: undefined }],
    ["HELP MAIL", { verb: "HELP", topic: "MAIL" }],
    ["VRFY user", { verb: "VRFY", arg: "user" }],
    ["EXPN list", { verb: "EXPN", arg: "list" }],
    ["BDAT 10 LAST", { verb: "unknown", text: "BDAT 10 LAST" }],
    ["", { verb: "unknown", text: "" }],
    ["MAIL\u00e9 FROM:<c@d>", { verb: "unknown", text: "MAIL\u00e9 FROM:<c@d>" }],
  ])("%j", (line, want) => {
    expect(parseCommand(line)).toEqual(want);
  });

  test.each([
    "EHLO",
    "EHLO ",
    "EHLO a b",
    "HELO",
    "MAIL",
    "MAIL TO:<c@d>",
    "MAIL FROM:c@d",
    "MAIL FROM:<c@d",
    "MAIL FROM:<c d@e>",
    "MAIL FROM:<c@>",
    "MAIL FROM:<c@d>SIZE=1",
    "MAIL FROM:<c@d> SI_ZE=1",
    "MAIL FROM:<c@d> SIZE=a=b",
    "RCPT TO:<>",
    "RCPT TO:<nobody>",
    "RCPT FROM:<a@b>",
    "DATA now",
    "RSET x",
    "QUIT now",
    "VRFY",
  ])("%j is a syntax error (RFC 5321 §4.2.2: 501)", (line) => {
    const got = parseCommand(line);
    expect(got).toBeInstanceOf(SmtpSyntaxError);
    expect((got as SmtpSyntaxError).reason).toBe("bad-syntax");
  });
});

describe("replies (RFC 5321 §4.2)", () => {
  test("formatReply builds aiosmtpd's EHLO reply byte for byte", () => {
    expect(formatReply(250, ["localhost", "8BITMIME", "HELP"])).toEqual(AIOSMTPD_REPLIES.ehlo);
    expect(formatReply(220, "localhost Python SMTP 1.4.3")).toEqual(AIOSMTPD_REPLIES.greeting);
    expect(text(formatReply(250, []))).toBe("250 \r\n");
  });

  test("formatReply refuses CR, LF and impossible codes (misuse)", () => {
    expect(() => formatReply(250, "a\r\n250 injected")).toThrow(RangeError);
    expect(() => formatReply(199, "x")).toThrow(RangeError);
    expect(() => formatReply(600, "x")).toThrow(RangeError);
  });

  test("ReplyReader reads aiosmtpd's replies, however they are cut", () => {
    const all = new Uint8Array([...AIOSMTPD_REPLIES.greeting, ...AIOSMTPD_REPLIES.ehlo, ...AIOSMTPD_REPLIES.data, ...AIOSMTPD_REPLIES.bye]);
    const want: SmtpReply[] = [
      { code: 220, lines: ["localhost Python SMTP 1.4.3"] },
      { code: 250, lines: ["localhost", "8BITMIME", "HELP"] },
      { code: 354, lines: ["End data with <CR><LF>.<CR><LF>"] },
      { code: 221, lines: ["Bye"] },
    ];
    for (const chunks of splits(all)) {
      const r = new ReplyReader();
      const got: unknown[] = [];
      for (const c of chunks) {
        r.push(c);
        for (let x = r.read(); x !== undefined; x = r.read()) got.push(x);
      }
      expect(got).toEqual(want);
    }
  });

  test.each([
    ["hello\r\n", /not a reply line/],
    ["25\r\n", /not a reply line/],
    ["650 x\r\n", /not a reply line/],
    ["250x\r\n", /not a reply line/],
    ["250-a\r\n251 b\r\n", /code 251 inside a 250 reply/],
    [`250 ${"x".repeat(5000)}\r\n`, /reply line of/],
  ])("%j is a bad reply", (input, detail) => {
    const r = new ReplyReader();
    r.push(bytes(input));
    const got = r.read();
    expect(got).toBeInstanceOf(SmtpSyntaxError);
    expect((got as SmtpSyntaxError).detail).toMatch(detail);
  });

  test("a code alone is a reply with empty text", () => {
    const r = new ReplyReader();
    r.push(bytes("250\r\n"));
    expect(r.read()).toEqual({ code: 250, lines: [""] });
  });
});

/** Unstuffs `chunks`; returns the content and what followed the final ".". */
function unstuff(chunks: Uint8Array[], max = 1 << 20): { content: string; rest: string; done: boolean; oversize: boolean } {
  const u = new DotUnstuffer(max);
  let rest = "";
  for (const c of chunks) {
    if (u.done) {
      rest += text(c);
      continue;
    }
    const used = u.push(c);
    rest += text(c.subarray(used));
  }
  return { content: text(u.content()), rest, done: u.done, oversize: u.oversize };
}

describe("DotUnstuffer (RFC 5321 §4.5.2)", () => {
  test("swaks's DATA unstuffs to the message it meant, however it is cut", () => {
    for (const chunks of splits(SWAKS_DATA)) {
      const got = unstuff(chunks);
      expect(got).toEqual({ content: text(SWAKS_MESSAGE), rest: "", done: true, oversize: false });
    }
  });

  test.each([
    ["a lone '.' line ends the data; what follows is the next command", "x\r\n.\r\nQUIT\r\n", "x\r\n", "QUIT\r\n"],
    ["an empty message", ".\r\n", "", ""],
    ["'..' at a line start becomes '.'", "..\r\n.\r\n", ".\r\n", ""],
    ["'..x' becomes '.x'; only the first dot goes", "...x\r\n.\r\n", "..x\r\n", ""],
    ["a dot inside a line stays", "a.\r\nb.c.\r\n.\r\n", "a.\r\nb.c.\r\n", ""],
    ["'.\\r' then more is a stuffed line whose CR is content", ".\rx\r\n.\r\n", "\rx\r\n", ""],
    ["'.\\r\\r\\n' keeps the second CR's line", ".\r\r\n.\r\n", "\r\r\n", ""],
    ["a bare LF does not start a line (no SMTP smuggling)", "a\n.\nb\n.\r\nc\r\n.\r\n", "a\n.\nb\n.\r\nc\r\n", ""],
    ["'\\n.\\r\\n' after a bare LF is content, not the end", "a\n.\r\nz\r\n.\r\n", "a\n.\r\nz\r\n", ""],
    ["a bare CR before '.' does not start a line", "a\r.\r\n.\r\n", "a\r.\r\n", ""],
    ["text lines over 1000 octets are accepted (RFC 5321 §4.5.3.1)", `${"y".repeat(3000)}\r\n.\r\n`, `${"y".repeat(3000)}\r\n`, ""],
  ])("%s", (_name, input, content, rest) => {
    for (const chunks of splits(bytes(input))) {
      expect(unstuff(chunks)).toEqual({ content, rest, done: true, oversize: false });
    }
  });

  test("'\\r\\n.\\r\\n' split across three chunks still ends the data", () => {
    expect(unstuff([bytes("body\r"), bytes("\n."), bytes("\r"), bytes("\nNOOP\r\n")])).toEqual({
      content: "body\r\n",
      rest: "NOOP\r\n",
      done: true,
      oversize: false,
    });
  });

  test("without the final '.', the data is not done", () => {
    for (const input of ["", "abc", "abc\r\n", "abc\r\n.", "abc\r\n.\r", "abc\r\n..\r\n"]) {
      expect(unstuff([bytes(input)]).done).toBe(false);
    }
  });

  test("over maxSize the content is discarded but the data is still read to its end (RFC 1870 §6.3)", () => {
    const u = new DotUnstuffer(10);
    expect(u.push(bytes("0123456789\r\n"))).toBe(12);
    expect(u.oversize).toBe(true);
    expect(u.push(bytes("more\r\n.\r\nQUIT\r\n"))).toBe(9);
    expect(u.done).toBe(true);
    expect(u.size).toBe(18);
    expect(u.content().length).toBe(0);
  });

  test("exactly maxSize is not over it", () => {
    const u = new DotUnstuffer(5);
    u.push(bytes("abc\r\n.\r\n"));
    expect(u.oversize).toBe(false);
    expect(text(u.content())).toBe("abc\r\n");
  });
});

describe("dotStuff (RFC 5321 §4.5.2, client side)", () => {
  test("rebuilds swaks's DATA segment from the message", () => {
    expect(dotStuff(SWAKS_MESSAGE)).toEqual(SWAKS_DATA);
  });

  test.each([
    ["", ".\r\n"],
    ["a", "a\r\n.\r\n"],
    [".", "..\r\n.\r\n"],
    ["a\n.b\n", "a\r\n..b\r\n.\r\n"],
    ["a\r\n.\r\n", "a\r\n..\r\n.\r\n"],
    ["x\ry\n", "x\ry\r\n.\r\n"],
    ["a.\n", "a.\r\n.\r\n"],
  ])("%j → %j", (input, want) => {
    expect(text(dotStuff(bytes(input)))).toBe(want);
  });

  test("stuffing then unstuffing gives the message with CRLF line ends", () => {
    const inputs = ["", ".", "..\n.\n", "a\nb\r\n.\r\n..\n", "\n\n.\n", "x\r.\ry", SWAKS_MESSAGE].map((s) => (typeof s === "string" ? bytes(s) : s));
    for (const m of inputs) {
      const got = unstuff([dotStuff(m)]);
      expect(got.done).toBe(true);
      expect(got.rest).toBe("");
      expect(got.content).toBe(text(normalizeLineEndings(m)));
    }
  });
});
