/**
 * The SMTP server state machine as a dialogue: bytes in, exact replies out, in virtual time. Every
 * command in every state, the RFC 5321 reply codes, DATA transparency, SIZE, pipelining, timeouts.
 * swaks's real bytes: fixtures.ts.
 */
import { describe, expect, test } from "vitest";
import {
  SmtpServerConnection,
  addressLiteral,
  makeMessageIds,
  receivedHeader,
  rfc5322Date,
  storedMessage,
  type SmtpMessage,
  type SmtpServerEvent,
  type SmtpServerOptions,
  type SmtpServerState,
} from "../../../../src/app/smtp/server-core.ts";
import { SWAKS_COMMANDS, SWAKS_DATA, SWAKS_MESSAGE, SWAKS_QUIT, bytes, text } from "./fixtures.ts";

/** 2025-03-04T09:05:07Z, a Tuesday. */
const DATE = Date.UTC(2025, 2, 4, 9, 5, 7);
const OPTS: SmtpServerOptions = { hostname: "mx.test", date: () => DATE, newId: () => "ID1", maxSize: 1000 };

/** A server connection at t=0 and helpers that return its replies as text. */
function server(opts: Partial<SmtpServerOptions> = {}, remoteAddress: string | null = "192.0.2.7") {
  const c = new SmtpServerConnection({ ...OPTS, ...opts }, { remoteAddress: remoteAddress ?? undefined }, 0);
  const greeting = text(c.dataToSend());
  const events: SmtpServerEvent[] = [];
  return {
    c,
    greeting,
    events,
    /** Sends raw text; returns the replies it caused. */
    send(s: string | Uint8Array, now = 0): string {
      events.push(...c.receiveData(typeof s === "string" ? bytes(s) : s, now));
      return text(c.dataToSend());
    },
    /** Sends one command line; returns the reply code(s). */
    code(line: string): number[] {
      events.push(...c.receiveData(bytes(`${line}\r\n`), 0));
      return codes(text(c.dataToSend()));
    },
  };
}

function codes(replies: string): number[] {
  return replies
    .split("\r\n")
    .filter((l) => /^\d{3} /.test(l))
    .map((l) => Number(l.slice(0, 3)));
}

const PREAMBLE: Record<"connect" | "idle" | "mail" | "rcpt", string[]> = {
  connect: [],
  idle: ["EHLO client.example"],
  mail: ["EHLO client.example", "MAIL FROM:<c@d>"],
  rcpt: ["EHLO client.example", "MAIL FROM:<c@d>", "RCPT TO:<a@b>"],
};

describe("the greeting and EHLO (RFC 5321 §4.3.1, §4.1.1.1)", () => {
  test("220 with our name, then EHLO advertises PIPELINING, 8BITMIME, SIZE and HELP", () => {
    const s = server({ maxSize: 10 * 1024 * 1024 });
    expect(s.greeting).toBe("220 mx.test ESMTP wirestack\r\n");
    expect(s.c.state).toBe("connect");
    expect(s.send("EHLO client.example\r\n")).toBe(
      "250-mx.test Hello client.example\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SIZE 10485760\r\n250 HELP\r\n",
    );
    expect(s.c.state).toBe("idle");
  });

  test("HELO answers a single 250 line", () => {
    expect(server().send("HELO client.example\r\n")).toBe("250 mx.test\r\n");
  });

  test("a hostname that is not a domain is refused at construction (misuse)", () => {
    expect(() => new SmtpServerConnection({ ...OPTS, hostname: "a b" }, {}, 0)).toThrow(RangeError);
  });
});

describe("every command in every state: exact reply codes", () => {
  // [command, expected code in connect, idle, mail, rcpt, state after in each]
  const table: [string, [number, number, number, number], [SmtpServerState, SmtpServerState, SmtpServerState, SmtpServerState]][] = [
    ["EHLO x", [250, 250, 250, 250], ["idle", "idle", "idle", "idle"]], // §4.1.4: EHLO resets
    ["HELO x", [250, 250, 250, 250], ["idle", "idle", "idle", "idle"]],
    ["MAIL FROM:<e@f>", [503, 250, 503, 503], ["connect", "mail", "mail", "rcpt"]], // §4.1.4 / §3.3
    ["RCPT TO:<g@h>", [503, 503, 250, 250], ["connect", "idle", "rcpt", "rcpt"]],
    ["DATA", [503, 503, 503, 354], ["connect", "idle", "mail", "data"]], // §3.3
    ["RSET", [250, 250, 250, 250], ["connect", "idle", "idle", "idle"]], // §4.1.1.5
    ["NOOP", [250, 250, 250, 250], ["connect", "idle", "mail", "rcpt"]], // §4.1.1.9
    ["NOOP with words", [250, 250, 250, 250], ["connect", "idle", "mail", "rcpt"]],
    ["HELP", [214, 214, 214, 214], ["connect", "idle", "mail", "rcpt"]], // §4.1.1.8
    ["VRFY someone", [252, 252, 252, 252], ["connect", "idle", "mail", "rcpt"]], // §3.5.3
    ["EXPN list", [502, 502, 502, 502], ["connect", "idle", "mail", "rcpt"]], // §4.2.4
    ["QUIT", [221, 221, 221, 221], ["closed", "closed", "closed", "closed"]], // §4.1.1.10
    ["BOGUS", [500, 500, 500, 500], ["connect", "idle", "mail", "rcpt"]], // §4.2.4
    ["", [500, 500, 500, 500], ["connect", "idle", "mail", "rcpt"]],
    ["EHLO", [501, 501, 501, 501], ["connect", "idle", "mail", "rcpt"]], // §4.2.2
    ["MAIL FROM:nobracket@x", [501, 501, 501, 501], ["connect", "idle", "mail", "rcpt"]],
    ["RCPT TO:<>", [501, 501, 501, 501], ["connect", "idle", "mail", "rcpt"]],
    ["DATA now", [501, 501, 501, 501], ["connect", "idle", "mail", "rcpt"]],
    ["RSET x", [501, 501, 501, 501], ["connect", "idle", "mail", "rcpt"]],
    ["QUIT now", [501, 501, 501, 501], ["connect", "idle", "mail", "rcpt"]],
    ["VRFY", [501, 501, 501, 501], ["connect", "idle", "mail", "rcpt"]],
  ];
  const states = ["connect", "idle", "mail", "rcpt"] as const;
  for (const [cmd, want, after] of table) {
    states.forEach((state, i) => {
      test(`${state}: ${JSON.stringify(cmd)} → ${want[i]}, then ${after[i]}`, () => {
        const s = server();
        for (const line of PREAMBLE[state]) expect(s.code(line)[0]).toBeLessThan(300);
        expect(s.c.state).toBe(state);
        expect(s.code(cmd)).toEqual([want[i]]);
        expect(s.c.state).toBe(after[i]);
      });
    });
  }

  test("after QUIT, input is ignored and no reply is sent", () => {
    const s = server();
    s.code("QUIT");
    expect(s.events).toEqual([{ kind: "close", reason: "quit" }]);
    expect(s.send("NOOP\r\n")).toBe("");
    expect(s.c.receiveEof()).toEqual([]);
  });
});

describe("MAIL and RCPT parameters (RFC 1870, RFC 6152, RFC 5321 §4.1.1.11)", () => {
  test.each([
    ["MAIL FROM:<c@d> SIZE=1000", 250],
    ["MAIL FROM:<c@d> SIZE=1001", 552], // RFC 1870 §6.1
    ["MAIL FROM:<c@d> SIZE=99999999999999999999", 552],
    ["MAIL FROM:<c@d> SIZE=abc", 501],
    ["MAIL FROM:<c@d> SIZE", 501],
    ["MAIL FROM:<c@d> BODY=8BITMIME", 250],
    ["MAIL FROM:<c@d> BODY=7bit", 250],
    ["MAIL FROM:<c@d> BODY=BINARYMIME", 501],
    ["MAIL FROM:<c@d> SIZE=1 SIZE=2", 501],
    ["MAIL FROM:<c@d> SMTPUTF8", 555],
    ["MAIL FROM:<c@d> AUTH=<>", 555],
    ["MAIL FROM:<> SIZE=10", 250],
  ])("%j → %i", (line, code) => {
    const s = server();
    s.code("EHLO x");
    expect(s.code(line)).toEqual([code]);
    expect(s.c.state).toBe(code === 250 ? "mail" : "idle");
  });

  test("RCPT parameters are not recognized: 555", () => {
    const s = server();
    s.code("EHLO x");
    s.code("MAIL FROM:<c@d>");
    expect(s.code("RCPT TO:<a@b> NOTIFY=NEVER")).toEqual([555]);
    expect(s.c.state).toBe("mail");
  });

  test("RFC 5321 §4.5.3.1.10: recipients past the limit get 452, the others stay", () => {
    const s = server({ maxRecipients: 2 });
    s.code("EHLO x");
    s.code("MAIL FROM:<c@d>");
    expect([...s.code("RCPT TO:<a@b>"), ...s.code("RCPT TO:<c@b>"), ...s.code("RCPT TO:<d@b>")]).toEqual([250, 250, 452]);
    expect(s.code("DATA")).toEqual([354]);
    s.send("x\r\n.\r\n");
    const msg = s.events.find((e) => e.kind === "message");
    expect(msg?.kind === "message" && msg.message.recipients).toEqual(["a@b", "c@b"]);
  });
});

/** Runs swaks's recorded session against a server; returns its replies, events and the stored message. */
function swaksSession(chunks: Uint8Array[]) {
  const s = server();
  let replies = s.greeting;
  for (const c of chunks) {
    replies += s.send(c);
    const m = s.events.find((e) => e.kind === "message");
    if (m && s.c.state === "storing") {
      s.events.push(...s.c.messageStored({ ok: true }, 0));
      replies += text(s.c.dataToSend());
    }
  }
  return { s, replies, message: (s.events.find((e) => e.kind === "message") as { message: SmtpMessage } | undefined)?.message };
}

describe("a whole transaction with swaks's bytes", () => {
  const all = new Uint8Array([...SWAKS_COMMANDS, ...SWAKS_DATA, ...SWAKS_QUIT]);
  const wantReplies =
    "220 mx.test ESMTP wirestack\r\n" +
    "250-mx.test Hello client.example\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SIZE 1000\r\n250 HELP\r\n" +
    "250 OK\r\n250 OK\r\n354 End data with <CR><LF>.<CR><LF>\r\n250 OK: queued as ID1\r\n" +
    "221 mx.test Service closing transmission channel\r\n";

  test("recorded segments: the message unstuffed, the Received header, the replies in order", () => {
    const { s, replies, message } = swaksSession([SWAKS_COMMANDS, SWAKS_DATA, SWAKS_QUIT]);
    expect(replies).toBe(wantReplies);
    expect(message).toEqual({
      id: "ID1",
      reversePath: "c@d",
      recipients: ["a@b"],
      heloName: "client.example",
      remoteAddress: "192.0.2.7",
      receivedAt: DATE,
      receivedHeader: "Received: from client.example ([192.0.2.7]) by mx.test (wirestack) with ESMTP id ID1; Tue, 04 Mar 2025 09:05:07 +0000\r\n",
      content: SWAKS_MESSAGE,
    });
    expect(s.events.at(-1)).toEqual({ kind: "close", reason: "quit" });
    expect(s.c.state).toBe("closed");
  });

  test("RFC 2920: the whole session in one chunk, split at every index, or byte by byte: same replies, same message", () => {
    const cuts: Uint8Array[][] = [[all], Array.from(all, (_, i) => all.subarray(i, i + 1))];
    for (let i = 1; i < all.length; i++) cuts.push([all.subarray(0, i), all.subarray(i)]);
    for (const chunks of cuts) {
      const { replies, message } = swaksSession(chunks);
      expect(replies).toBe(wantReplies);
      expect(message?.content).toEqual(SWAKS_MESSAGE);
    }
  });

  test("storedMessage is the Received header followed by the content, byte for byte", () => {
    const { message } = swaksSession([all]);
    const stored = storedMessage(message as SmtpMessage);
    const header = bytes((message as SmtpMessage).receivedHeader);
    expect(stored.subarray(0, header.length)).toEqual(header);
    expect(stored.subarray(header.length)).toEqual(SWAKS_MESSAGE);
  });
});

describe("DATA and storage", () => {
  function inData(opts: Partial<SmtpServerOptions> = {}) {
    const s = server(opts);
    for (const line of PREAMBLE.rcpt) s.code(line);
    expect(s.code("DATA")).toEqual([354]);
    return s;
  }

  test("commands pipelined after the final '.' wait until the message is stored; replies stay in order", () => {
    const s = inData();
    expect(s.send("Subject: x\r\n\r\nhi\r\n.\r\nNOOP\r\nQUIT\r\n")).toBe("");
    expect(s.c.state).toBe("storing");
    expect(s.c.nextDeadline()).toBeUndefined();
    const ev = s.c.messageStored({ ok: true }, 0);
    expect(codes(text(s.c.dataToSend()))).toEqual([250, 250, 221]);
    expect(ev).toEqual([{ kind: "close", reason: "quit" }]);
  });

  test("a failed store is 451 (RFC 5321 §4.2.3) and the session goes on", () => {
    const s = inData();
    s.send("x\r\n.\r\n");
    s.c.messageStored({ ok: false, detail: "disk full" }, 0);
    expect(text(s.c.dataToSend())).toBe("451 Requested action aborted: local error in processing (disk full)\r\n");
    expect(s.c.state).toBe("idle");
    expect(s.code("MAIL FROM:<c@d>")).toEqual([250]);
  });

  test("RFC 1870 §6.3: data over the limit is read to the end, then 552; the next transaction works", () => {
    const s = inData({ maxSize: 100 });
    let replies = "";
    for (let i = 0; i < 50; i++) replies += s.send(`${"z".repeat(78)}\r\n`);
    expect(replies).toBe("");
    expect(s.c.state).toBe("data");
    expect(codes(s.send(".\r\nRSET\r\n"))).toEqual([552, 250]);
    expect(s.events.filter((e) => e.kind === "message")).toEqual([]);
    expect(s.c.state).toBe("idle");
  });

  test("the peer closing inside DATA abandons the message (RFC 5321 §3.8)", () => {
    const s = inData();
    s.send("half a message\r\n");
    expect(s.c.receiveEof()).toEqual([{ kind: "close", reason: "peer-closed" }]);
    expect(s.events.filter((e) => e.kind === "message")).toEqual([]);
    expect(s.c.state).toBe("closed");
  });

  test("the peer closing while its message is stored: stored, then closed, no reply", () => {
    const s = inData();
    s.send("x\r\n.\r\n");
    expect(s.c.receiveEof()).toEqual([]);
    expect(s.c.messageStored({ ok: true }, 0)).toEqual([{ kind: "close", reason: "peer-closed" }]);
    expect(s.c.state).toBe("closed");
  });

  test("messageStored outside 'storing' is misuse", () => {
    expect(() => server().c.messageStored({ ok: true }, 0)).toThrow();
  });

  test("two messages on one session get one id each (RFC 5321 §4.4)", () => {
    const s = server({ newId: makeMessageIds(DATE) });
    const ids: string[] = [];
    for (let i = 0; i < 2; i++) {
      s.send("HELO x\r\nMAIL FROM:<c@d>\r\nRCPT TO:<a@b>\r\nDATA\r\nbody\r\n.\r\n");
      const m = s.events.filter((e) => e.kind === "message").at(-1) as { message: SmtpMessage };
      ids.push(m.message.id);
      s.c.messageStored({ ok: true }, 0);
      expect(s.c.dataToSend()).toBeDefined();
    }
    expect(ids[0]).not.toBe(ids[1]);
    for (const id of ids) expect(id).toMatch(/^[A-Z0-9]+-[A-Z0-9]+$/);
  });
});

describe("line limits (RFC 5321 §4.5.3.1.4)", () => {
  test("a 513-octet command is 500 Line too long; 512 is fine; the session goes on", () => {
    const s = server();
    expect(s.send(`NOOP ${"x".repeat(505)}\r\n`)).toBe("250 OK\r\n");
    expect(s.send(`NOOP ${"x".repeat(506)}\r\n`)).toBe("500 Line too long\r\n");
    expect(s.code("EHLO x")).toEqual([250]);
  });

  test("a megabyte without a line end: one 500 when it ends, nothing held meanwhile", () => {
    const s = server();
    const junk = bytes("A".repeat(65536));
    for (let i = 0; i < 16; i++) expect(s.send(junk)).toBe("");
    expect(s.send("\r\nQUIT\r\n")).toBe("500 Line too long\r\n221 mx.test Service closing transmission channel\r\n");
  });

  test("non-ASCII bytes in a command are 500, never a crash", () => {
    const s = server();
    expect(codes(s.send(new Uint8Array([0xff, 0xfe, 0x00, 0x0d, 0x0a])))).toEqual([500]);
    expect(codes(s.send("MAIL FROM:<\u00e9@x>\r\n"))).toEqual([500]);
  });

  test("random bytes never throw and every reply is a well-formed reply line", () => {
    let seed = 12345;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff;
    for (let round = 0; round < 200; round++) {
      const s = server();
      const junk = new Uint8Array(1 + (rand() * 4));
      for (let i = 0; i < junk.length; i++) junk[i] = [0x0d, 0x0a, 0x2e, 0x3c, 0x3e, 0x20][rand() % 6] ?? rand();
      const out = s.send(new Uint8Array([...bytes("EHLO x\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n"), ...junk, ...bytes("\r\n")]));
      for (const line of out.split("\r\n").slice(0, -1)) expect(line).toMatch(/^[2-5]\d\d[ -]/);
    }
  });
});

describe("timeouts (RFC 5321 §4.5.3.2.7)", () => {
  test("5 minutes by default; a command pushes the deadline; past it, 421 and close", () => {
    const s = server({ commandTimeoutMs: undefined });
    expect(s.c.nextDeadline()).toBe(300_000);
    s.send("NOOP\r\n", 1000);
    expect(s.c.nextDeadline()).toBe(301_000);
    expect(s.c.processTimeout(300_999)).toEqual([]);
    expect(s.c.dataToSend()).toBeUndefined();
    expect(s.c.processTimeout(301_000)).toEqual([{ kind: "close", reason: "timeout" }]);
    expect(text(s.c.dataToSend())).toBe("421 mx.test Timeout waiting for client input, closing connection\r\n");
    expect(s.c.nextDeadline()).toBeUndefined();
  });

  test("an unfinished line does not push the deadline (slow drip)", () => {
    const s = server({ commandTimeoutMs: 1000 });
    s.send("NO", 900);
    expect(s.c.nextDeadline()).toBe(1000);
  });

  test("DATA chunks push the deadline", () => {
    const s = server({ commandTimeoutMs: 1000 });
    for (const line of PREAMBLE.rcpt) s.code(line);
    s.code("DATA");
    s.send("part\r\n", 5000);
    expect(s.c.nextDeadline()).toBe(6000);
  });
});

describe("the Received header (RFC 5321 §4.4, RFC 5322 §3.3)", () => {
  test.each([
    [0, "Thu, 01 Jan 1970 00:00:00 +0000"],
    [DATE, "Tue, 04 Mar 2025 09:05:07 +0000"],
    [Date.UTC(2024, 11, 31, 23, 59, 59), "Tue, 31 Dec 2024 23:59:59 +0000"],
  ])("rfc5322Date(%i) = %s", (ms, want) => {
    expect(rfc5322Date(ms)).toBe(want);
  });

  test.each([
    ["127.0.0.1", "[127.0.0.1]"],
    ["::ffff:127.0.0.1", "[127.0.0.1]"],
    ["::1", "[IPv6:::1]"],
    ["2001:db8::5", "[IPv6:2001:db8::5]"],
  ])("address literal of %s is %s (RFC 5321 §4.1.3)", (a, want) => {
    expect(addressLiteral(a)).toBe(want);
  });

  test("HELO via HELO says SMTP; hostile HELO names cannot break the clause; no address, no parentheses", () => {
    const s = server({}, null);
    s.send("HELO evil(x);y\r\nMAIL FROM:<c@d>\r\nRCPT TO:<a@b>\r\nDATA\r\n.\r\n");
    const m = s.events.find((e) => e.kind === "message") as { message: SmtpMessage };
    expect(m.message.receivedHeader).toBe("Received: from evil?x??y by mx.test (wirestack) with SMTP id ID1; Tue, 04 Mar 2025 09:05:07 +0000\r\n");
    expect(m.message.content.length).toBe(0);
    expect(
      receivedHeader({ heloName: "h", remoteAddress: "::1", hostname: "us", protocol: "ESMTP", id: "X", date: 0 }),
    ).toBe("Received: from h ([IPv6:::1]) by us (wirestack) with ESMTP id X; Thu, 01 Jan 1970 00:00:00 +0000\r\n");
  });
});
