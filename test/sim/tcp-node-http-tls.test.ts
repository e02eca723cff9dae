/**
 * Node's own http and tls over wirestack TcpSockets (DESIGN.md: "A TcpSocket must be good enough
 * that Node's own http.request({ createConnection }), an http.Server fed with
 * server.emit("connection", sock), and tls.connect({ socket }) work over it").
 *
 * Two stacks on a MemoryWire in virtual time (test/sim/helpers.ts); Node's http and tls run on the
 * real event loop and `settle` advances the virtual clock between turns.
 */
import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import tls from "node:tls";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import type { TcpSocket } from "../../src/api/tcp-socket.ts";
import { settle } from "../../src/time/drive.ts";
import { seededRandom } from "../../src/time/random.ts";
import { ADDR, twoStacks, type TwoStacks } from "./helpers.ts";

let current: TwoStacks | undefined;
afterEach(async () => {
  await current?.close();
  current?.dispose();
  current = undefined;
});

function stacks(seed: number): TwoStacks {
  current = twoStacks({ seed });
  return current;
}

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

function body(size: number, seed: number): Buffer {
  return Buffer.from(seededRandom(seed).bytes(size));
}

describe("Node's http over TcpSockets", () => {
  it("GET: http.request({ createConnection }) against an http.Server fed with emit('connection')", async () => {
    const { clock, a, b } = stacks(1);
    const server = http.createServer((req, res) => {
      res.setHeader("content-type", "text/plain");
      res.end(`hello ${req.method} ${req.url} from ${req.socket.remoteAddress}`);
    });
    b.tcp.listen(80, (sock) => server.emit("connection", sock));
    let clientSock: TcpSocket | undefined;
    const result = new Promise<{ status: number; text: string; type: string | undefined }>((resolve, reject) => {
      const req = http.request(
        {
          method: "GET",
          path: "/index.html",
          host: ADDR.ipB,
          createConnection: () => (clientSock = a.tcp.connect({ host: ADDR.ipB, port: 80 })) as never,
        },
        (res) => {
          const parts: Buffer[] = [];
          res.on("data", (d: Buffer) => parts.push(d));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(parts).toString(), type: res.headers["content-type"] }));
          res.on("error", reject);
        },
      );
      req.on("error", reject);
      req.end();
    });
    const r = await settle(clock, result, { limitMs: 60_000 });
    expect(r).toEqual({ status: 200, text: `hello GET /index.html from ${ADDR.ipA}`, type: "text/plain" });
    expect(clientSock?.bytesWritten).toBeGreaterThan(0);
    expect(clientSock?.bytesRead).toBeGreaterThan(r.text.length);
  });

  it("POST with a 1 MB body: the server hashes what it received and the client checks it", async () => {
    const { clock, a, b } = stacks(2);
    const payload = body(1 << 20, 42);
    const server = http.createServer((req, res) => {
      const h = createHash("sha256");
      let n = 0;
      req.on("data", (d: Buffer) => {
        h.update(d);
        n += d.length;
      });
      req.on("end", () => res.end(`${n} ${h.digest("hex")}`));
    });
    b.tcp.listen(8080, (sock) => server.emit("connection", sock));
    const result = new Promise<string>((resolve, reject) => {
      const req = http.request(
        {
          method: "POST",
          path: "/upload",
          headers: { "content-length": payload.length },
          createConnection: () => a.tcp.connect({ host: ADDR.ipB, port: 8080 }) as never,
        },
        (res) => {
          const parts: Buffer[] = [];
          res.on("data", (d: Buffer) => parts.push(d));
          res.on("end", () => resolve(Buffer.concat(parts).toString()));
        },
      );
      req.on("error", reject);
      req.end(payload);
    });
    expect(await settle(clock, result, { limitMs: 120_000 })).toBe(`${payload.length} ${sha(payload)}`);
  });
});

describe("Node's tls over TcpSockets", () => {
  let dir: string | undefined;
  let key: Buffer | undefined;
  let cert: Buffer | undefined;
  beforeAll(() => {
    if (!existsSync("/usr/bin/openssl")) return;
    dir = mkdtempSync(join(tmpdir(), "wirestack-tls-"));
    // A throwaway self-signed certificate for the test's server, as the shell command
    //   openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    //     -subj /CN=wirestack.test -keyout key.pem -out cert.pem
    execFileSync("/usr/bin/openssl", [
      "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
      "-subj", "/CN=wirestack.test", "-keyout", join(dir, "key.pem"), "-out", join(dir, "cert.pem"),
    ], { stdio: "ignore" });
    key = readFileSync(join(dir, "key.pem"));
    cert = readFileSync(join(dir, "cert.pem"));
  });
  afterAll(() => {
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it("tls.connect({ socket }) completes a handshake with a TLS server on the other socket; 1 MB both ways intact", async (ctx) => {
    if (key === undefined || cert === undefined) {
      ctx.skip(); // no /usr/bin/openssl to make a certificate
      return;
    }
    const { clock, a, b } = stacks(3);
    const up = body(1 << 20, 7);
    const down = body(1 << 20, 8);
    const tlsServer = tls.createServer({ key, cert }, (s) => {
      const h = createHash("sha256");
      let n = 0;
      s.on("data", (d: Buffer) => {
        h.update(d);
        n += d.length;
        // Only an intact upload earns the download.
        if (n === up.length) s.end(h.digest("hex") === sha(up) ? down : "upload corrupted");
      });
    });
    b.tcp.listen(443, (sock) => tlsServer.emit("connection", sock));
    const result = new Promise<{ protocol: string | null; got: string }>((resolve, reject) => {
      const socket = a.tcp.connect({ host: ADDR.ipB, port: 443 });
      const c = tls.connect({ socket: socket as never, rejectUnauthorized: false, servername: "wirestack.test" }, () => c.write(up));
      const parts: Buffer[] = [];
      c.on("data", (d: Buffer) => parts.push(d));
      c.on("end", () => resolve({ protocol: c.getProtocol(), got: sha(Buffer.concat(parts)) }));
      c.on("error", reject);
    });
    const r = await settle(clock, result, { limitMs: 120_000 });
    expect(r.protocol).toBe("TLSv1.3");
    expect(r.got).toBe(sha(down));
  });
});
