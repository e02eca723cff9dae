/**
 * The FTP server's thin layer and our client, over node:net on loopback (127.0.0.1 and ::1): login,
 * list, download and upload through `ftpConnect`; and, on a raw control connection, what a client
 * cannot make our client do: ABOR during a transfer, PORT bounce, an oversized command line, the
 * idle timeout (through injected timers, fired by hand), TYPE A end-of-line translation.
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ftpConnect, FtpClientError } from "../../../../src/app/ftp/client.ts";
import { FtpReplyDecoder, isBadReply, parseEpsvReply, type FtpReply } from "../../../../src/app/ftp/codec.ts";
import { listenFtp } from "../../../../src/app/ftp/server.ts";
import type { AppServer, Timers } from "../../../../src/app/net-faces.ts";
import { directoryFtpFileSystem } from "../../../../src/host/ftp-files.ts";
import { hostTimers, nodeNetFaces } from "../../../../src/host/node-net.ts";

const sha256 = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");

let base: string;
let root: string;
const BIG = randomBytes(1 << 20);
const HUGE = randomBytes(16 << 20);
const faces = nodeNetFaces();

/** Manual timers: nothing fires until the test says so. */
class ManualTimers implements Timers {
  readonly pending = new Map<number, { fn: () => void; ms: number }>();
  private next = 1;
  schedule(fn: () => void, ms: number): unknown {
    const id = this.next++;
    this.pending.set(id, { fn, ms });
    return id;
  }
  cancel(handle: unknown): void {
    this.pending.delete(handle as number);
  }
  now(): number {
    return 0;
  }
  /** Fires every pending timer of `ms`. */
  fire(ms: number): number {
    let n = 0;
    for (const [id, t] of [...this.pending]) {
      if (t.ms !== ms) continue;
      this.pending.delete(id);
      t.fn();
      n++;
    }
    return n;
  }
}

beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), "wirestack-ftpsrv-"));
  root = join(base, "root");
  mkdirSync(join(root, "pub"), { recursive: true });
  writeFileSync(join(root, "big.bin"), BIG);
  writeFileSync(join(root, "huge.bin"), HUGE);
  writeFileSync(join(root, "unix.txt"), "one\ntwo\n");
  writeFileSync(join(base, "secret.txt"), "secret\n");
});

afterAll(() => rmSync(base, { recursive: true, force: true }));

async function startServer(host: string, timers: Timers = hostTimers()): Promise<AppServer> {
  return listenFtp(faces, { port: 0, host }, {
    root: directoryFtpFileSystem(root),
    timers,
    anonymous: true,
    user: { name: "user", password: "pass" },
    idleTimeoutMs: 60_000,
    dataTimeoutMs: 5_000,
  });
}

/** A raw control connection that collects replies. */
class Control {
  private readonly decoder = new FtpReplyDecoder();
  private readonly replies: FtpReply[] = [];
  private waiters: ((r: FtpReply) => void)[] = [];
  closed = false;
  readonly sock: net.Socket;

  constructor(host: string, port: number) {
    this.sock = net.connect({ host, port });
    this.sock.on("data", (b) => {
      for (const r of this.decoder.receiveData(b)) {
        if (isBadReply(r)) throw new Error(`bad reply ${r.line}`);
        const w = this.waiters.shift();
        if (w) w(r);
        else this.replies.push(r);
      }
    });
    this.sock.on("close", () => (this.closed = true));
    this.sock.on("error", () => {});
  }

  reply(): Promise<FtpReply> {
    const r = this.replies.shift();
    if (r) return Promise.resolve(r);
    return new Promise((res, rej) => {
      this.waiters.push(res);
      setTimeout(() => rej(new Error("no reply within 5 s")), 5000).unref();
    });
  }

  async send(line: string | Uint8Array): Promise<FtpReply> {
    this.sock.write(typeof line === "string" ? `${line}\r\n` : line);
    return this.reply();
  }

  async login(user = "user", pass = "pass"): Promise<void> {
    expect((await this.reply()).code).toBe(220);
    expect((await this.send(`USER ${user}`)).code).toBe(331);
    expect((await this.send(`PASS ${pass}`)).code).toBe(230);
  }

  close(): void {
    this.sock.destroy();
  }
}

function connectData(host: string, port: number): Promise<net.Socket> {
  return new Promise((res, rej) => {
    const s = net.connect({ host, port }, () => res(s));
    s.once("error", rej);
  });
}

for (const host of ["127.0.0.1", "::1"]) {
  describe(`our server and our client over node:net on ${host}`, () => {
    let server: AppServer;
    beforeAll(async () => {
      server = await startServer(host);
    });
    afterAll(() => server.close());

    test("login, list, download 1 MB (SHA-256), upload (SHA-256), mkdir, quit", async () => {
      const c = await ftpConnect(faces, { host, port: server.port, user: "user", password: "pass", timers: hostTimers(), timeoutMs: 10_000 });
      expect(c.greeting?.code).toBe(220);
      const listing = await c.list("/");
      expect(listing).toMatch(/^-.* big\.bin\r$/m);
      expect(listing).toMatch(/^d.* pub\r$/m);
      expect(await c.list("/", true)).toBe("big.bin\r\nhuge.bin\r\npub\r\nunix.txt\r\n");
      expect(sha256(await c.retrieve("/big.bin"))).toBe(sha256(BIG));
      const up = randomBytes(300_000);
      await c.store(`/pub/up-${host === "::1" ? 6 : 4}.bin`, up);
      expect(sha256(readFileSync(join(root, "pub", `up-${host === "::1" ? 6 : 4}.bin`)))).toBe(sha256(up));
      expect((await c.command("MKD", `/pub/d${host.length}`)).code).toBe(257);
      await c.quit();
    });

    test("anonymous reads but cannot STOR (550); a wrong password fails login with 530", async () => {
      const c = await ftpConnect(faces, { host, port: server.port });
      expect(sha256(await c.retrieve("big.bin"))).toBe(sha256(BIG));
      const err = await c.store("/pub/anon.bin", Uint8Array.of(1)).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(FtpClientError);
      expect((err as FtpClientError).reply?.code).toBe(550);
      expect((await c.command("DELE", "/big.bin")).code).toBe(550);
      expect((await c.command("MKD", "/x")).code).toBe(550);
      await c.quit();
      const bad = await ftpConnect(faces, { host, port: server.port, user: "user", password: "wrong" }).catch((e: unknown) => e);
      expect((bad as FtpClientError).reply?.code).toBe(530);
    });

    test("traversal: RETR ../secret.txt, CWD ../../ stay inside the root", async () => {
      const c = await ftpConnect(faces, { host, port: server.port, user: "user", password: "pass" });
      expect((await c.command("CWD", "../../../..")).code).toBe(250);
      expect((await c.command("PWD")).lines[0]).toBe('"/" is the current directory');
      const err = await c.retrieve("../secret.txt").catch((e: unknown) => e);
      expect((err as FtpClientError).reply?.code).toBe(550);
      await c.quit();
    });
  });
}

describe("raw control connection on 127.0.0.1", () => {
  let server: AppServer;
  beforeAll(async () => {
    server = await startServer("127.0.0.1");
  });
  afterAll(() => server.close());

  test("RFC 959 §4.1.3 ABOR during a transfer: 426 then 226, and the session goes on", async () => {
    const c = new Control("127.0.0.1", server.port);
    await c.login();
    expect((await c.send("TYPE I")).code).toBe(200);
    const epsv = await c.send("EPSV");
    const data = await connectData("127.0.0.1", parseEpsvReply(epsv.lines[0] ?? "") as number);
    data.pause(); // never read: the 16 MB transfer stalls on backpressure
    expect((await c.send("RETR huge.bin")).code).toBe(150);
    // Telnet IP and Synch before ABOR, as RFC 959 §4.1.3 says a client should send them.
    c.sock.write(Uint8Array.of(0xff, 0xf4, 0xff, 0xf2));
    expect((await c.send("ABOR")).code).toBe(426);
    expect((await c.reply()).code).toBe(226);
    expect((await c.send("NOOP")).code).toBe(200);
    data.destroy();
    c.close();
  });

  test("RFC 2577 FTP bounce: PORT and EPRT to another address are refused with 500", async () => {
    const c = new Control("127.0.0.1", server.port);
    await c.login();
    expect(await c.send("PORT 192,0,2,1,0,25")).toEqual({ code: 500, lines: ["Illegal PORT command."] });
    expect((await c.send("EPRT |1|192.0.2.1|25|")).code).toBe(500);
    expect((await c.send("EPRT |2|::1|2000|")).code).toBe(500);
    expect((await c.send("LIST")).code).toBe(425);
    c.close();
  });

  test("active mode: PORT to the client itself, then LIST arrives on our listener", async () => {
    const c = new Control("127.0.0.1", server.port);
    await c.login();
    let got = "";
    const done = new Promise<void>((res) => {
      const l = net.createServer((s) => {
        s.on("data", (b) => (got += b.toString()));
        s.on("end", () => {
          l.close();
          res();
        });
      });
      l.listen(0, "127.0.0.1", async () => {
        const port = (l.address() as net.AddressInfo).port;
        expect((await c.send(`PORT 127,0,0,1,${port >> 8},${port & 255}`)).code).toBe(200);
        expect((await c.send("NLST")).code).toBe(150);
      });
    });
    await done;
    expect((await c.reply()).code).toBe(226);
    expect(got).toBe("big.bin\r\nhuge.bin\r\npub\r\nunix.txt\r\n");
    c.close();
  });

  test("RFC 959 §3.1.1.1: TYPE A sends LF as CRLF and stores CRLF as LF", async () => {
    const c = new Control("127.0.0.1", server.port);
    await c.login();
    expect((await c.send("TYPE A")).code).toBe(200);
    let data = await connectData("127.0.0.1", parseEpsvReply((await c.send("EPSV")).lines[0] ?? "") as number);
    let got = "";
    data.on("data", (b) => (got += b.toString()));
    const ended = new Promise((r) => data.on("end", r));
    expect((await c.send("RETR unix.txt")).code).toBe(150);
    await ended;
    expect((await c.reply()).code).toBe(226);
    expect(got).toBe("one\r\ntwo\r\n");
    data = await connectData("127.0.0.1", parseEpsvReply((await c.send("EPSV")).lines[0] ?? "") as number);
    expect((await c.send("STOR pub/dos.txt")).code).toBe(150);
    data.end("a\r\nb\r\n");
    expect((await c.reply()).code).toBe(226);
    expect(readFileSync(join(root, "pub", "dos.txt"), "utf8")).toBe("a\nb\n");
    c.close();
  });

  test("an oversized command line (64 KiB) gets 500 and the connection keeps working", async () => {
    const c = new Control("127.0.0.1", server.port);
    await c.login();
    expect((await c.send(`CWD ${"a".repeat(65536)}`)).code).toBe(500);
    expect((await c.send("PWD")).code).toBe(257);
    c.close();
  });

  test("commands sent together (pipelined) are answered in order", async () => {
    const c = new Control("127.0.0.1", server.port);
    expect((await c.reply()).code).toBe(220);
    c.sock.write("USER user\r\nPASS pass\r\nSYST\r\nXYZ\r\nQUIT\r\n");
    const codes = [];
    for (let i = 0; i < 5; i++) codes.push((await c.reply()).code);
    expect(codes).toEqual([331, 230, 215, 500, 221]);
  });
});

test("idle timeout through the injected timers: 421 and the control connection closes", async () => {
  const timers = new ManualTimers();
  const server = await startServer("127.0.0.1", timers);
  try {
    const c = new Control("127.0.0.1", server.port);
    await c.login();
    expect(timers.fire(60_000)).toBe(1);
    expect((await c.reply()).code).toBe(421);
    for (let i = 0; i < 50 && !c.closed; i++) await new Promise((r) => setTimeout(r, 20));
    expect(c.closed).toBe(true);
  } finally {
    await server.close();
  }
});
