/**
 * The SMTP client state machine: aiosmtpd's recorded replies in, exact commands out (fixtures.ts),
 * the failure paths with the server's code and text, and the client against our server core in
 * memory, with the stored content checked byte for byte.
 */
import { describe, expect, test } from "vitest";
import { normalizeLineEndings } from "../../../../src/app/smtp/codec.ts";
import { SmtpClientConnection, describeFailure, replyTimeoutMs, type SmtpClientEvent, type SmtpEnvelope } from "../../../../src/app/smtp/client-core.ts";
import { SmtpServerConnection, type SmtpMessage } from "../../../../src/app/smtp/server-core.ts";
import { AIOSMTPD_REPLIES, SWAKS_COMMANDS, SWAKS_DATA, SWAKS_MESSAGE, SWAKS_QUIT, bytes, text } from "./fixtures.ts";

const ENV: SmtpEnvelope = { from: "c@d", to: ["a@b"], data: SWAKS_MESSAGE, helo: "client.example" };

function client(env: Partial<SmtpEnvelope> = {}) {
  const c = new SmtpClientConnection({ ...ENV, ...env });
  const events: SmtpClientEvent[] = [];
  return {
    c,
    events,
    /** Feeds a reply; returns what the client sends in answer. */
    reply(r: string | Uint8Array): string {
      events.push(...c.receiveData(typeof r === "string" ? bytes(r) : r));
      return text(c.dataToSend());
    },
  };
}

describe("a successful send", () => {
  test("against aiosmtpd's replies, the client sends exactly what swaks sent", () => {
    const s = client();
    let sent = "";
    sent += s.reply(AIOSMTPD_REPLIES.greeting);
    sent += s.reply(AIOSMTPD_REPLIES.ehlo);
    sent += s.reply(AIOSMTPD_REPLIES.ok);
    sent += s.reply(AIOSMTPD_REPLIES.ok);
    expect(sent).toBe(text(SWAKS_COMMANDS));
    expect(s.reply(AIOSMTPD_REPLIES.data)).toBe(text(SWAKS_DATA));
    expect(s.reply(AIOSMTPD_REPLIES.ok)).toBe(text(SWAKS_QUIT));
    expect(s.events).toEqual([{ kind: "result", ok: true, reply: { code: 250, lines: ["OK"] } }]);
    expect(s.reply(AIOSMTPD_REPLIES.bye)).toBe("");
    expect(s.events.at(-1)).toEqual({ kind: "close" });
    expect(s.c.stage).toBe("closed");
    expect(s.c.extensions).toEqual(new Map([["8BITMIME", ""], ["HELP", ""]]));
  });

  test("all replies in one chunk, and byte by byte, give the same commands", () => {
    const all = [AIOSMTPD_REPLIES.greeting, AIOSMTPD_REPLIES.ehlo, AIOSMTPD_REPLIES.ok, AIOSMTPD_REPLIES.ok, AIOSMTPD_REPLIES.data, AIOSMTPD_REPLIES.ok, AIOSMTPD_REPLIES.bye].flatMap((b) => [...b]);
    const want = text(SWAKS_COMMANDS) + text(SWAKS_DATA) + text(SWAKS_QUIT);
    const whole = client();
    expect(whole.reply(new Uint8Array(all))).toBe(want);
    const drip = client();
    expect(all.map((b) => drip.reply(new Uint8Array([b]))).join("")).toBe(want);
    expect(drip.events.map((e) => e.kind)).toEqual(["result", "close"]);
  });

  test("several recipients, SIZE and BODY=8BITMIME when the server advertises them (RFC 1870 §4, RFC 6152)", () => {
    const s = client({ to: ["a@b", "c@e"], data: bytes("Subject: \u00e9\n\nx\n") });
    s.reply("220 x\r\n");
    expect(s.reply("250-x\r\n250-SIZE 100\r\n250 8BITMIME\r\n")).toBe("MAIL FROM:<c@d> SIZE=17 BODY=8BITMIME\r\n");
    expect(s.reply("250 ok\r\n")).toBe("RCPT TO:<a@b>\r\n");
    expect(s.reply("250 ok\r\n")).toBe("RCPT TO:<c@e>\r\n");
    expect(s.reply("251 forwarding\r\n")).toBe("DATA\r\n");
    expect(s.reply("354 go\r\n")).toBe("Subject: \u00e9\r\n\r\nx\r\n.\r\n");
  });

  test("RFC 5321 §3.2: EHLO refused with 5xx falls back to HELO", () => {
    const s = client({ from: "" });
    s.reply("220 old\r\n");
    expect(s.reply("500 what?\r\n")).toBe("HELO client.example\r\n");
    expect(s.reply("250 old\r\n")).toBe("MAIL FROM:<>\r\n");
  });
});

describe("failures carry the server's reply", () => {
  test.each([
    ["greeting", ["554 go away\r\n"], 554],
    ["ehlo", ["220 x\r\n", "451 busy\r\n"], 451],
    ["helo", ["220 x\r\n", "502 no\r\n", "550 no HELO either\r\n"], 550],
    ["mail", ["220 x\r\n", "250 x\r\n", "552 too big\r\n"], 552],
    ["rcpt", ["220 x\r\n", "250 x\r\n", "250 ok\r\n", "550 No such user\r\n"], 550],
    ["data", ["220 x\r\n", "250 x\r\n", "250 ok\r\n", "250 ok\r\n", "503 bad sequence\r\n"], 503],
    ["body", ["220 x\r\n", "250 x\r\n", "250 ok\r\n", "250 ok\r\n", "354 go\r\n", "552 Message size exceeds\r\n"], 552],
  ])("refused at %s: result with the code, then QUIT", (stage, replies, code) => {
    const s = client();
    let last = "";
    for (const r of replies) last = s.reply(r);
    expect(last).toBe("QUIT\r\n");
    expect(s.events).toHaveLength(1);
    const ev = s.events[0];
    expect(ev?.kind === "result" && !ev.ok && ev.failure).toMatchObject({ kind: "refused", stage, reply: { code } });
    s.reply("221 bye\r\n");
    expect(s.events.at(-1)).toEqual({ kind: "close" });
  });

  test("421 closes at once, without QUIT (RFC 5321 §3.8)", () => {
    const s = client();
    s.reply("220 x\r\n");
    expect(s.reply("421 shutting down\r\n")).toBe("");
    expect(s.events.map((e) => e.kind)).toEqual(["result", "close"]);
    const f = s.events[0];
    expect(f?.kind === "result" && !f.ok && describeFailure(f.failure)).toBe("421 shutting down (at ehlo)");
  });

  test("garbage instead of a reply is a protocol failure", () => {
    const s = client();
    s.reply("HTTP/1.1 400 Bad Request\r\n");
    expect(s.events).toMatchObject([{ kind: "result", ok: false, failure: { kind: "protocol", stage: "greeting" } }, { kind: "close" }]);
  });

  test("EOF before the message is accepted fails; EOF after it does not", () => {
    const early = client();
    early.reply("220 x\r\n");
    expect(early.c.receiveEof()).toEqual([{ kind: "result", ok: false, failure: { kind: "closed", stage: "ehlo" } }, { kind: "close" }]);
    const late = client();
    for (const r of ["220 x\r\n", "250 x\r\n", "250 ok\r\n", "250 ok\r\n", "354 go\r\n", "250 queued\r\n"]) late.reply(r);
    expect(late.c.receiveEof()).toEqual([{ kind: "close" }]);
    expect(late.events[0]).toMatchObject({ kind: "result", ok: true });
  });

  test("addresses that cannot be one command are refused at construction (misuse)", () => {
    expect(() => client({ from: "a@b>\r\nRCPT TO:<x@y" })).toThrow(RangeError);
    expect(() => client({ to: [] })).toThrow(RangeError);
    expect(() => client({ to: ["a b@c"] })).toThrow(RangeError);
    expect(() => client({ helo: "" })).toThrow(RangeError);
  });

  test("RFC 5321 §4.5.3.2 timeouts per stage", () => {
    expect(replyTimeoutMs("greeting")).toBe(300_000);
    expect(replyTimeoutMs("data")).toBe(120_000);
    expect(replyTimeoutMs("body")).toBe(600_000);
    expect(replyTimeoutMs("closed")).toBeUndefined();
  });
});

describe("our client against our server core, in memory", () => {
  /** Pumps bytes both ways until both are quiet; `cut` splits every transfer into pieces of that size. */
  function converse(data: Uint8Array, cut: number, maxSize = 1 << 20): { stored: SmtpMessage[]; events: SmtpClientEvent[] } {
    const srv = new SmtpServerConnection({ hostname: "mx.test", date: () => 0, maxSize }, { remoteAddress: "127.0.0.1" }, 0);
    const cli = new SmtpClientConnection({ from: "c@d", to: ["a@b"], data, helo: "me" });
    const stored: SmtpMessage[] = [];
    const events: SmtpClientEvent[] = [];
    for (let round = 0; round < 1000; round++) {
      const toClient = srv.dataToSend();
      const toServer = cli.dataToSend();
      if (toClient === undefined && toServer === undefined) break;
      for (let i = 0; toClient && i < toClient.length; i += cut) events.push(...cli.receiveData(toClient.subarray(i, i + cut)));
      for (let i = 0; toServer && i < toServer.length; i += cut) {
        for (const ev of srv.receiveData(toServer.subarray(i, i + cut), 0)) {
          if (ev.kind === "message") {
            stored.push(ev.message);
            srv.messageStored({ ok: true }, 0);
          }
        }
      }
    }
    return { stored, events };
  }

  const messages: [string, Uint8Array][] = [
    ["swaks's message", SWAKS_MESSAGE],
    ["dots everywhere, bare LFs", bytes(".\n..\n...x\n.\r\nend.\n.")],
    ["empty", new Uint8Array(0)],
    ["8-bit and a long line", new Uint8Array([...bytes("Subject: bin\r\n\r\n"), ...Array.from({ length: 3000 }, (_, i) => (i * 7) % 256 === 10 ? 32 : (i * 7) % 256), 13, 10])],
  ];
  for (const [name, data] of messages) {
    test(`${name}: stored content equals the CRLF-normalized message, whatever the segment size`, () => {
      for (const cut of [1, 2, 3, 7, 64, 100000]) {
        const { stored, events } = converse(data, cut);
        expect(events.map((e) => e.kind)).toEqual(["result", "close"]);
        expect(events[0]).toMatchObject({ ok: true, reply: { code: 250 } });
        expect(stored).toHaveLength(1);
        expect(stored[0]?.content).toEqual(normalizeLineEndings(data));
      }
    });
  }

  test("over the server's SIZE: refused at MAIL with 552 (RFC 1870 §6.1)", () => {
    const { stored, events } = converse(bytes("x".repeat(200)), 1000, 100);
    expect(stored).toEqual([]);
    expect(events[0]).toMatchObject({ ok: false, failure: { kind: "refused", stage: "mail", reply: { code: 552 } } });
  });
});
