/**
 * The HTTP server and client thin layers over node:net on 127.0.0.1 (src/host/node-net.ts): our
 * client against our server with keep-alive reuse and chunked bodies both ways, raw-socket
 * pipelining answered in order, malformed requests answered and closed, header (slowloris) and idle
 * timeouts, and the realpath jail of src/host/http-files.ts.
 */
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import net from "node:net";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { HttpAgent, httpRequest } from "../../../../src/app/http/client.ts";
import { HttpServer } from "../../../../src/app/http/server.ts";
import type { HttpHandler, HttpServerOptions } from "../../../../src/app/http/server.ts";
import { staticHandler } from "../../../../src/app/http/static.ts";
import type { AppServer } from "../../../../src/app/net-faces.ts";
import { fsFileSource } from "../../../../src/host/http-files.ts";
import { hostTimers, nodeNetFaces } from "../../../../src/host/node-net.ts";
import { tempDir } from "../../../helpers/tools.ts";

const faces = nodeNetFaces();
const dec = (b: Uint8Array): string => new TextDecoder().decode(b);
const opened: { server: HttpServer; app: AppServer }[] = [];

async function start(handler: HttpHandler, extra: Partial<HttpServerOptions> = {}): Promise<{ server: HttpServer; port: number }> {
  const server = new HttpServer({ handler, timers: hostTimers(), clock: () => Date.UTC(2025, 0, 1), ...extra });
  const app = await server.listen(faces, { port: 0, host: "127.0.0.1" });
  opened.push({ server, app });
  return { server, port: app.port };
}

afterEach(async () => {
  for (const { app } of opened.splice(0)) await app.close();
});

/** Sends `text` on a raw connection and collects everything until the server closes (bounded). */
function raw(port: number, chunks: readonly string[], opts: { gapMs?: number; limitMs?: number } = {}): Promise<{ text: string; closedAfterMs: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const sock = net.connect({ host: "127.0.0.1", port });
    let text = "";
    let i = 0;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const next = (): void => {
      if (i >= chunks.length || sock.destroyed) return;
      sock.write(chunks[i++] as string);
      timer = setTimeout(next, opts.gapMs ?? 0);
    };
    const guard = setTimeout(() => {
      sock.destroy();
      reject(new Error(`server did not close within ${opts.limitMs ?? 5000} ms; got ${JSON.stringify(text)}`));
    }, opts.limitMs ?? 5000);
    sock.on("connect", next);
    sock.on("data", (d) => (text += d.toString("latin1")));
    sock.on("error", () => {});
    sock.on("close", () => {
      clearTimeout(guard);
      if (timer !== undefined) clearTimeout(timer);
      resolve({ text, closedAfterMs: performance.now() - t0 });
    });
  });
}

const echo: HttpHandler = (req, res) => {
  res.headers.set("Content-Type", "text/plain");
  res.body = `${req.method} ${req.target} ${dec(req.body)}`;
};

describe("our client against our server", () => {
  test("keep-alive: three requests over one connection (RFC 9112 §9.3), Date and Server present", async () => {
    const { port } = await start(echo);
    const agent = new HttpAgent();
    try {
      const a = await httpRequest(faces, { url: `http://127.0.0.1:${port}/a`, agent });
      const b = await httpRequest(faces, { method: "POST", url: `http://127.0.0.1:${port}/b`, body: "xyz", agent });
      const c = await httpRequest(faces, { host: "127.0.0.1", port, path: "/c", agent });
      expect([a, b, c].map((r) => dec(r.body))).toEqual(["GET /a ", "POST /b xyz", "GET /c "]);
      expect([a.reused, b.reused, c.reused]).toEqual([false, true, true]);
      expect(a.headers.get("date")).toBe("Wed, 01 Jan 2025 00:00:00 GMT");
      expect(a.headers.get("server")).toBe("wirestack");
      expect(a.headers.get("content-length")).toBe("7");
    } finally {
      agent.close();
    }
  });

  test("streamed bodies both ways are chunked (RFC 9112 §7.1)", async () => {
    const { port } = await start(async (req, res) => {
      expect(req.headers.get("transfer-encoding")).toBe("chunked");
      for (const part of ["one,", "two,", dec(req.body)]) await res.write(part);
      await res.end();
    });
    async function* parts(): AsyncGenerator<string> {
      yield "up";
      yield "load";
    }
    const r = await httpRequest(faces, { method: "POST", url: `http://127.0.0.1:${port}/`, body: parts() });
    expect(r.headers.get("transfer-encoding")).toBe("chunked");
    expect(dec(r.body)).toBe("one,two,upload");
  });

  test("a pooled connection the server closed (idle timeout) is replaced transparently", async () => {
    const { server, port } = await start(echo, { idleTimeoutMs: 100 });
    const agent = new HttpAgent();
    try {
      await httpRequest(faces, { url: `http://127.0.0.1:${port}/1`, agent });
      await new Promise((r) => setTimeout(r, 400));
      expect(server.connectionCount).toBe(0);
      expect(agent.idleCount).toBe(0);
      const r = await httpRequest(faces, { url: `http://127.0.0.1:${port}/2`, agent });
      expect(dec(r.body)).toBe("GET /2 ");
      expect(r.reused).toBe(false);
    } finally {
      agent.close();
    }
  });

  test("a handler that throws gets a 500 and the server goes on", async () => {
    const errors: unknown[] = [];
    const { port } = await start(
      (req) => {
        if (req.target === "/boom") throw new Error("boom");
      },
      { onError: (e) => errors.push(e) },
    );
    expect((await httpRequest(faces, { url: `http://127.0.0.1:${port}/boom` })).status).toBe(500);
    expect((await httpRequest(faces, { url: `http://127.0.0.1:${port}/ok` })).status).toBe(200);
    expect(errors).toHaveLength(1);
  });
});

describe("raw sockets", () => {
  test("pipelined requests answered in order (RFC 9112 §9.3.2), split across writes", async () => {
    const { port } = await start(async (req, res) => {
      // The first answer is the slowest: order must still hold.
      if (req.target === "/1") await new Promise((r) => setTimeout(r, 50));
      res.body = req.target;
    });
    const all = "GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\nPOST /3 HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nConnection: close\r\n\r\nx";
    const { text } = await raw(port, [all.slice(0, 20), all.slice(20, 41), all.slice(41)]);
    const bodies = text.split("\r\n\r\n").slice(1).map((s) => s.slice(0, 2));
    expect(bodies).toEqual(["/1", "/2", "/3"]);
    expect(text.match(/HTTP\/1\.1 200 OK/g)).toHaveLength(3);
    expect(text).toContain("Connection: close");
  });

  const malformed: [string, string, number][] = [
    ["missing Host (RFC 9112 §3.2)", "GET / HTTP/1.1\r\n\r\n", 400],
    ["smuggling: CL and TE (RFC 9112 §6.3)", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400],
    ["unknown transfer coding (RFC 9112 §6.1)", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501],
    ["body too large (RFC 9110 §15.5.14)", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2000\r\n\r\n", 413],
    ["header section too large (RFC 6585 §5)", `GET / HTTP/1.1\r\nHost: h\r\nX: ${"a".repeat(3000)}\r\n\r\n`, 431],
    ["request line too long (RFC 9112 §3)", `GET /${"a".repeat(3000)} HTTP/1.1\r\nHost: h\r\n\r\n`, 414],
    ["not HTTP at all", "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", 400],
  ];
  for (const [name, request, status] of malformed) {
    test(`${name} → ${status} and the connection is closed`, async () => {
      const { server, port } = await start(echo, { limits: { maxBodyBytes: 1000, maxHeaderBytes: 2048, maxRequestLine: 1024 } });
      const { text } = await raw(port, [request]);
      expect(text.startsWith(`HTTP/1.1 ${status} `)).toBe(true);
      expect(text).toContain("Connection: close");
      await new Promise((r) => setTimeout(r, 20));
      expect(server.connectionCount).toBe(0);
    });
  }

  test("HTTP/1.0 request: answered and closed", async () => {
    const { port } = await start(echo);
    const { text } = await raw(port, ["GET /old HTTP/1.0\r\n\r\n"]);
    expect(text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(text).toContain("Connection: close");
    expect(text.endsWith("GET /old ")).toBe(true);
  });

  test("slowloris: one header byte at a time is cut off at the header timeout with 408", async () => {
    const { server, port } = await start(echo, { headerTimeoutMs: 300 });
    const slow = "GET / HTTP/1.1\r\nHost: h\r\nX-Slow: " + "a".repeat(100);
    const { text, closedAfterMs } = await raw(port, Array.from(slow), { gapMs: 50, limitMs: 3000 });
    expect(text).toMatch(/^HTTP\/1\.1 408 /);
    expect(closedAfterMs).toBeGreaterThanOrEqual(250);
    expect(closedAfterMs).toBeLessThan(2000);
    await new Promise((r) => setTimeout(r, 20));
    expect(server.connectionCount).toBe(0);
  });

  test("a body that stalls gets 408; one that trickles steadily is served", async () => {
    const { port } = await start(echo, { headerTimeoutMs: 300 });
    const head = "POST /s HTTP/1.1\r\nHost: h\r\nContent-Length: 8\r\nConnection: close\r\n\r\n";
    const stalled = await raw(port, [head, "abc"], { limitMs: 3000 });
    expect(stalled.text).toMatch(/^HTTP\/1\.1 408 /);
    const steady = await raw(port, [head, ..."12345678"], { gapMs: 100, limitMs: 3000 });
    expect(steady.text).toMatch(/^HTTP\/1\.1 200 /);
    expect(steady.text.endsWith("POST /s 12345678")).toBe(true);
  });

  test("an idle keep-alive connection is closed at the idle timeout, silently", async () => {
    const { port } = await start(echo, { idleTimeoutMs: 200 });
    const { text, closedAfterMs } = await raw(port, ["GET / HTTP/1.1\r\nHost: h\r\n\r\n"], { limitMs: 3000 });
    expect(text.match(/HTTP\/1\.1/g)).toHaveLength(1);
    expect(closedAfterMs).toBeGreaterThanOrEqual(150);
    expect(closedAfterMs).toBeLessThan(2000);
  });

  test("a connection that never sends anything is closed at the header timeout", async () => {
    const { port } = await start(echo, { headerTimeoutMs: 200 });
    const { text } = await raw(port, [], { limitMs: 3000 });
    expect(text).toBe("");
  });
});

describe("static files through src/host/http-files.ts (realpath jail)", () => {
  const tmp = tempDir("wirestack-http-");
  const root = join(tmp.dir, "www");
  beforeAll(() => {
    mkdirSync(join(root, "sub"), { recursive: true });
    writeFileSync(join(root, "hello.txt"), "hello\n");
    writeFileSync(join(tmp.dir, "secret.txt"), "secret\n");
    mkdirSync(join(tmp.dir, "outside"));
    writeFileSync(join(tmp.dir, "outside", "x.txt"), "x\n");
    symlinkSync(join(tmp.dir, "secret.txt"), join(root, "leak.txt"));
    symlinkSync(join(tmp.dir, "outside"), join(root, "sub", "out"));
    symlinkSync(join(root, "hello.txt"), join(root, "inside-link.txt"));
  });
  afterAll(() => tmp.remove());

  test("symlinks pointing outside are 404 and left out of listings; inside ones are served", async () => {
    const { port } = await start(staticHandler(fsFileSource(root)));
    const get = async (path: string): Promise<{ status: number; body: string }> => {
      const r = await httpRequest(faces, { url: `http://127.0.0.1:${port}${path}` });
      return { status: r.status, body: dec(r.body) };
    };
    expect(await get("/hello.txt")).toEqual({ status: 200, body: "hello\n" });
    expect(await get("/inside-link.txt")).toEqual({ status: 200, body: "hello\n" });
    expect((await get("/leak.txt")).status).toBe(404);
    expect((await get("/sub/out/x.txt")).status).toBe(404);
    expect((await get("/sub/out/")).status).toBe(404);
    const listing = await get("/");
    expect(listing.body).toContain("hello.txt");
    expect(listing.body).not.toContain("leak.txt");
    expect((await get("/sub/")).body).not.toContain("out");
  });
});
