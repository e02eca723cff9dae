/**
 * SMTP against real programs over node:net on 127.0.0.1: swaks and curl as clients of our server
 * (messages stored byte-identical after unstuffing), our client against aiosmtpd and against our
 * server, and raw sockets for pipelining, over-long lines, size limits, timeouts and shutdown.
 * Every wait is bounded; the only processes killed are the ones started here, by PID.
 *
 * Tools: swaks, curl, python3-aiosmtpd (Debian). A missing tool skips its test with one line.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { readFileSync, readdirSync, writeFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { normalizeLineEndings } from "../../src/app/smtp/codec.ts";
import { SmtpClientError, sendMail } from "../../src/app/smtp/client.ts";
import { serveSmtp, type SmtpServeOptions } from "../../src/app/smtp/server.ts";
import type { AppServer } from "../../src/app/net-faces.ts";
import { DirectoryMailStore } from "../../src/host/mail-store.ts";
import { hostTimers, nodeNetFaces } from "../../src/host/node-net.ts";
import { SCAPY_PYTHON, skipUnless, tempDir } from "../helpers/tools.ts";

const HOST = "127.0.0.1";

function has(command: string, args: string[]): boolean {
  const r = spawnSync(command, args, { stdio: "ignore", timeout: 20_000 });
  return r.error === undefined && r.status === 0;
}
const HAS_SWAKS = has("swaks", ["--version"]);
const HAS_CURL = has("curl", ["--version"]);
const HAS_AIOSMTPD = has(SCAPY_PYTHON, ["-c", "import aiosmtpd"]);

/** Runs a program to completion (async: our server must keep answering), killed after `ms`. */
function run(command: string, args: string[], ms = 30_000): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString("latin1")));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString("latin1")));
    const timer = setTimeout(() => child.kill("SIGKILL"), ms);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (status) => {
      clearTimeout(timer);
      resolve({ status, stdout, stderr });
    });
  });
}

/** Opens a raw connection, writes `input` (all at once: RFC 2920 pipelining), returns all it reads until the server closes. */
function talk(port: number, input: (string | Uint8Array)[], ms = 10_000): Promise<{ replies: string; closedByServer: boolean }> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: HOST, port });
    let replies = "";
    const timer = setTimeout(() => {
      sock.destroy();
      resolve({ replies, closedByServer: false });
    }, ms);
    sock.on("data", (d) => (replies += d.toString("latin1")));
    sock.on("error", () => undefined);
    sock.on("close", () => {
      clearTimeout(timer);
      resolve({ replies, closedByServer: true });
    });
    sock.once("connect", () => {
      for (const chunk of input) sock.write(chunk);
    });
  });
}

/** Reply codes of the final lines of each reply. */
function codes(replies: string): number[] {
  return replies
    .split("\r\n")
    .filter((l) => /^\d{3} /.test(l))
    .map((l) => Number(l.slice(0, 3)));
}

/** The .eml files stored, read as latin1 and split into the Received line and the rest. */
function storedMail(dir: string): { received: string; content: Buffer }[] {
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch {
    return [];
  }
  return names.map((n) => {
    expect(n).toMatch(/\.eml$/);
    const b = readFileSync(join(dir, n));
    const eol = b.indexOf("\r\n");
    return { received: b.subarray(0, eol + 2).toString("latin1"), content: b.subarray(eol + 2) };
  });
}

const RECEIVED = /^Received: from \S+ \(\[127\.0\.0\.1\]\) by mx\.test \(wirestack\) with E?SMTP id [A-Z0-9-]+; \w{3}, \d{2} \w{3} \d{4} \d{2}:\d{2}:\d{2} \+0000\r\n$/;

/** A server on an ephemeral loopback port, storing into its own temp dir. */
async function startServer(opts: Partial<SmtpServeOptions> = {}): Promise<{ server: AppServer; dir: string; remove: () => void }> {
  const t = tempDir("wirestack-smtp-");
  const dir = join(t.dir, "mail");
  const server = await serveSmtp(nodeNetFaces(), { port: 0, host: HOST }, {
    hostname: "mx.test",
    date: () => Date.now(),
    store: new DirectoryMailStore(dir),
    timers: hostTimers(),
    ...opts,
  });
  return { server, dir, remove: t.remove };
}

/** A message file with the cases RFC 5321 §4.5.2 is about: lines ".", "..", ".x", and 8-bit text. */
const TRICKY = Buffer.from(
  "Subject: dots\r\nFrom: c@d\r\nTo: a@b\r\n\r\n" +
    ".starts with a dot\r\n..two dots\r\n.\r\nmiddle\r\n...\r\n. space\r\ncaf\u00e9 8-bit\r\n" +
    `${"long ".repeat(400)}\r\nlast line\r\n`,
  "latin1",
);

describe("real clients against our server", () => {
  let srv: Awaited<ReturnType<typeof startServer>>;
  let files: ReturnType<typeof tempDir>;
  beforeAll(async () => {
    srv = await startServer();
    files = tempDir("wirestack-smtp-in-");
  });
  afterAll(async () => {
    await srv.server.close();
    srv.remove();
    files.remove();
  });

  test.skipIf(skipUnless("swaks", HAS_SWAKS))("swaks: a body with '.' lines is stored exactly as swaks sent it, unstuffed", async () => {
    const before = storedMail(srv.dir).length;
    const body = join(files.dir, "body.txt");
    writeFileSync(body, ".starts with a dot\n..two dots\n.\nend\n");
    // `--body @FILE` is swaks's non-deprecated spelling of `--body FILE`.
    const r = await run("swaks", ["--server", `${HOST}:${srv.server.port}`, "--to", "a@b", "--from", "c@d", "--body", `@${body}`, "--helo", "swaks.test"]);
    expect(r.status, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toMatch(/<- {2}250 OK: queued as /);
    // What swaks sent, from its own transcript: the " -> " lines between 354 and ".", unstuffed.
    // swaks prints the DATA block as sent, CRLFs included: split at LF, drop each CR.
    const lines = r.stdout.split("\n").map((l) => l.replace(/\r$/, ""));
    const start = lines.findIndex((l) => l.startsWith("<-  354"));
    const end = lines.findIndex((l, i) => i > start && l === " -> .");
    expect(start).toBeGreaterThan(0);
    const sent = lines.slice(start + 1, end).map((l) => l.slice(4).replace(/^\./, ""));
    const mail = storedMail(srv.dir);
    expect(mail).toHaveLength(before + 1);
    const m = mail.at(-1)!;
    expect(m.received).toMatch(RECEIVED);
    expect(m.received).toContain("from swaks.test ");
    expect(m.content.toString("latin1")).toBe(sent.map((l) => `${l}\r\n`).join(""));
    expect(m.content.toString("latin1")).toContain("\r\n\r\n.starts with a dot\r\n..two dots\r\n.\r\nend\r\n");
  });

  test.skipIf(skipUnless("curl", HAS_CURL))("curl: the uploaded file is stored byte-identical (RFC 5321 §4.5.2)", async () => {
    const before = storedMail(srv.dir).length;
    const file = join(files.dir, "tricky.eml");
    writeFileSync(file, TRICKY);
    const r = await run("curl", ["-sS", `smtp://${HOST}:${srv.server.port}`, "--mail-from", "c@d", "--mail-rcpt", "a@b", "--mail-rcpt", "e@f", "--upload-file", file]);
    expect(r.status, r.stderr).toBe(0);
    const mail = storedMail(srv.dir);
    expect(mail).toHaveLength(before + 1);
    expect(mail.at(-1)!.received).toMatch(RECEIVED);
    expect(mail.at(-1)!.content.equals(TRICKY)).toBe(true);
  });

  test.skipIf(skipUnless("curl", HAS_CURL))("curl: over the SIZE limit is refused with 552 and nothing is stored (RFC 1870)", async () => {
    const small = await startServer({ maxSize: 1000 });
    try {
      const file = join(files.dir, "big.eml");
      writeFileSync(file, `Subject: big\r\n\r\n${"x".repeat(5000)}\r\n`);
      const r = await run("curl", ["-sS", `smtp://${HOST}:${small.server.port}`, "--mail-from", "c@d", "--mail-rcpt", "a@b", "--upload-file", file]);
      expect(r.status).not.toBe(0);
      expect(r.stderr).toMatch(/552/);
      expect(storedMail(small.dir)).toEqual([]);
    } finally {
      await small.server.close();
      small.remove();
    }
  });

  test("our client against our server: stored content is the message with CRLF line ends", async () => {
    const before = storedMail(srv.dir).length;
    const data = "Subject: ours\n\n.dot\n..\n.\nbare LF lines\n";
    const res = await sendMail(nodeNetFaces(), { host: HOST, port: srv.server.port, from: "c@d", to: ["a@b"], data, helo: "client.test", timers: hostTimers(), timeoutMs: 10_000 });
    expect(res.code).toBe(250);
    expect(res.text).toMatch(/^OK: queued as /);
    const mail = storedMail(srv.dir);
    expect(mail).toHaveLength(before + 1);
    expect(mail.at(-1)!.received).toContain("from client.test ([127.0.0.1])");
    expect(new Uint8Array(mail.at(-1)!.content)).toEqual(normalizeLineEndings(new TextEncoder().encode(data)));
  });

  test("our client: a refusal rejects with the server's code and text", async () => {
    const small = await startServer({ maxSize: 10 });
    try {
      const e = await sendMail(nodeNetFaces(), { host: HOST, port: small.server.port, from: "c@d", to: ["a@b"], data: "x".repeat(20), timers: hostTimers(), timeoutMs: 10_000 }).catch((x: unknown) => x);
      expect(e).toBeInstanceOf(SmtpClientError);
      expect(e).toMatchObject({ code: "WIRESTACK_ERR_SMTP_REFUSED", replyCode: 552, stage: "mail" });
      expect((e as SmtpClientError).replyText).toMatch(/exceeds fixed maximum/);
    } finally {
      await small.server.close();
      small.remove();
    }
  });

  test("our client: nobody listening rejects with WIRESTACK_ERR_SMTP_CLOSED", async () => {
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, HOST, r));
    const port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    await expect(sendMail(nodeNetFaces(), { host: HOST, port, from: "c@d", to: ["a@b"], data: "x" })).rejects.toMatchObject({ code: "WIRESTACK_ERR_SMTP_CLOSED" });
  });
});

describe("raw dialogues over node:net", () => {
  let srv: Awaited<ReturnType<typeof startServer>>;
  beforeAll(async () => {
    srv = await startServer({ maxSize: 2000 });
  });
  afterAll(async () => {
    await srv.server.close();
    srv.remove();
  });

  test("RFC 2920: a whole session in one write gets every reply, in order", async () => {
    const before = storedMail(srv.dir).length;
    const { replies, closedByServer } = await talk(srv.server.port, [
      "EHLO pipe.test\r\nMAIL FROM:<c@d>\r\nRCPT TO:<a@b>\r\nRCPT TO:<x@y>\r\nDATA\r\nSubject: p\r\n\r\n..dot\r\n.\r\nNOOP\r\nVRFY bob\r\nHELP\r\nQUIT\r\n",
    ]);
    expect(codes(replies)).toEqual([220, 250, 250, 250, 250, 354, 250, 250, 252, 214, 221]);
    expect(replies).toContain("250-PIPELINING\r\n250-8BITMIME\r\n250-SIZE 2000\r\n");
    expect(closedByServer).toBe(true);
    const mail = storedMail(srv.dir);
    expect(mail).toHaveLength(before + 1);
    expect(mail.at(-1)!.content.toString("latin1")).toBe("Subject: p\r\n\r\n.dot\r\n");
  });

  test("RFC 5321 §4.5.3.1.4: an over-long command line is 500 and the session goes on; a megabyte of junk too", async () => {
    const { replies, closedByServer } = await talk(srv.server.port, [
      `NOOP ${"x".repeat(600)}\r\n`,
      "NOOP\r\n",
      Buffer.alloc(1 << 20, 0x41),
      "\r\nBOGUS\r\nMAIL FROM:<c@d>\r\nEHLO x\r\nDATA\r\nQUIT\r\n",
    ]);
    expect(codes(replies)).toEqual([220, 500, 250, 500, 500, 503, 250, 503, 221]);
    expect(replies).toContain("500 Line too long\r\n");
    expect(closedByServer).toBe(true);
  });

  test("RFC 1870 §6.3: data over the limit gets 552 after the final dot, then the session goes on", async () => {
    const before = storedMail(srv.dir).length;
    const { replies } = await talk(srv.server.port, [`EHLO x\r\nMAIL FROM:<c@d>\r\nRCPT TO:<a@b>\r\nDATA\r\n${"y".repeat(100)}\r\n`.repeat(1), `${"z".repeat(98)}\r\n`.repeat(40), ".\r\nRSET\r\nQUIT\r\n"]);
    expect(codes(replies)).toEqual([220, 250, 250, 250, 354, 552, 250, 221]);
    expect(storedMail(srv.dir)).toHaveLength(before);
  });

  test("binary garbage gets replies, never a crash, and the server still serves", async () => {
    const junk = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 131 + 7) % 256));
    const { replies } = await talk(srv.server.port, [junk, "\r\nQUIT\r\n"]);
    expect(replies.startsWith("220 ")).toBe(true);
    expect(codes(replies).at(-1)).toBe(221);
    for (const line of replies.split("\r\n").slice(0, -1)) expect(line).toMatch(/^[2-5]\d\d[ -]/);
    const again = await talk(srv.server.port, ["QUIT\r\n"]);
    expect(codes(again.replies)).toEqual([220, 221]);
  });
});

describe("timeouts and shutdown", () => {
  test("RFC 5321 §4.5.3.2.7: a silent client gets 421 and is disconnected", async () => {
    const srv = await startServer({ commandTimeoutMs: 300 });
    try {
      const t0 = performance.now();
      const { replies, closedByServer } = await talk(srv.server.port, ["NOOP\r\n"], 10_000);
      expect(codes(replies)).toEqual([220, 250, 421]);
      expect(closedByServer).toBe(true);
      expect(performance.now() - t0).toBeLessThan(5000);
    } finally {
      await srv.server.close();
      srv.remove();
    }
  });

  test("a client that never reads or closes after QUIT is dropped after the linger time", async () => {
    const srv = await startServer({ lingerMs: 200 });
    try {
      // Half-open: the client never ends its side, so only the server's linger can free the socket.
      const sock = net.connect({ host: HOST, port: srv.server.port, allowHalfOpen: true });
      let replies = "";
      sock.on("data", (d) => (replies += d.toString("latin1")));
      const closed = new Promise<boolean>((resolve) => {
        const timer = setTimeout(() => resolve(false), 10_000);
        sock.on("close", () => {
          clearTimeout(timer);
          resolve(true);
        });
      });
      sock.on("error", () => undefined);
      const ended = new Promise<void>((resolve) => sock.on("end", resolve));
      sock.write("QUIT\r\n");
      await ended;
      expect(codes(replies)).toEqual([220, 221]);
      // Past the linger the server's socket is gone: what we write now is answered by a reset.
      await new Promise((r) => setTimeout(r, 600));
      sock.write("NOOP\r\n");
      await new Promise((r) => setTimeout(r, 100));
      sock.write("NOOP\r\n");
      expect(await closed).toBe(true);
    } finally {
      await srv.server.close();
      srv.remove();
    }
  });

  test("close() ends open sessions with 421 and resolves", async () => {
    const srv = await startServer();
    const pending = talk(srv.server.port, ["EHLO x\r\n"], 10_000);
    await new Promise((r) => setTimeout(r, 200));
    const t0 = performance.now();
    await srv.server.close();
    expect(performance.now() - t0).toBeLessThan(5000);
    const { replies, closedByServer } = await pending;
    expect(codes(replies)).toEqual([220, 250, 421]);
    expect(closedByServer).toBe(true);
    srv.remove();
  });
});

describe.skipIf(skipUnless("python3-aiosmtpd", HAS_AIOSMTPD))("our client against aiosmtpd", () => {
  let child: ChildProcess | undefined;
  let port = 0;
  let out = "";

  beforeAll(async () => {
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, HOST, r));
    port = (probe.address() as net.AddressInfo).port;
    await new Promise<void>((r) => probe.close(() => r()));
    child = spawn(SCAPY_PYTHON, ["-m", "aiosmtpd", "-n", "-l", `${HOST}:${port}`], { stdio: ["ignore", "pipe", "pipe"] });
    child.stdout?.on("data", (d: Buffer) => (out += d.toString("latin1")));
    child.stderr?.on("data", (d: Buffer) => (out += d.toString("latin1")));
    // Bounded wait until it accepts connections.
    for (let i = 0; i < 100; i++) {
      const ok = await new Promise<boolean>((resolve) => {
        const s = net.connect({ host: HOST, port });
        s.on("connect", () => {
          s.destroy();
          resolve(true);
        });
        s.on("error", () => resolve(false));
      });
      if (ok) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error(`aiosmtpd did not listen on ${port}: ${out}`);
  });

  afterAll(async () => {
    if (child?.pid !== undefined && child.exitCode === null) {
      const exited = new Promise((r) => child?.once("exit", r));
      child.kill("SIGTERM");
      const timer = setTimeout(() => child?.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    }
  });

  test("aiosmtpd receives the message unstuffed, every '.' line intact", async () => {
    const data = "Subject: to aiosmtpd\nFrom: c@d\n\n.starts with a dot\n..two dots\n.\nlast\n";
    const res = await sendMail(nodeNetFaces(), { host: HOST, port, from: "c@d", to: ["a@b", "x@y"], data, helo: "client.test", timers: hostTimers(), timeoutMs: 10_000 });
    expect(res.code).toBe(250);
    for (let i = 0; i < 100 && !out.includes("END MESSAGE"); i++) await new Promise((r) => setTimeout(r, 50));
    const body = out.slice(out.indexOf("MESSAGE FOLLOWS"), out.indexOf("END MESSAGE"));
    expect(body).toContain("Subject: to aiosmtpd\n");
    expect(body).toContain("\n\n.starts with a dot\n..two dots\n.\nlast\n");
  });
});
