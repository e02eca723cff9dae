/**
 * The HTTP server and client against programs nobody here wrote, on loopback over node:net:
 * curl (Debian's curl 7.88) against our server serving a temporary directory through the static
 * handler, and our client against Python's `http.server`. Skipped with one line when a tool is missing.
 */
import { execFile, spawn, spawnSync } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { HttpAgent, httpRequest } from "../../src/app/http/client.ts";
import { HttpServer } from "../../src/app/http/server.ts";
import { staticHandler } from "../../src/app/http/static.ts";
import type { AppServer } from "../../src/app/net-faces.ts";
import { fsFileSource, wallClock } from "../../src/host/http-files.ts";
import { hostTimers, nodeNetFaces } from "../../src/host/node-net.ts";
import { skipUnless, tempDir } from "../helpers/tools.ts";

const hasCurl = spawnSync("curl", ["--version"], { stdio: "ignore" }).status === 0;
const hasPython = spawnSync("python3", ["-c", "import http.server"], { stdio: "ignore" }).status === 0;
const sha256 = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");
const faces = nodeNetFaces();

/** Runs curl without blocking the event loop (our server answers in this process); bounded. */
function curl(args: readonly string[]): Promise<{ stdout: string; stderr: string; code: number }> {
  return new Promise((resolve) => {
    execFile("curl", ["-sS", "--max-time", "20", ...args], { encoding: "latin1", timeout: 30_000, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === "number" ? ((err as { code: number }).code) : -1;
      resolve({ stdout, stderr, code });
    });
  });
}

describe.skipIf(skipUnless("curl", hasCurl))("curl against our server", () => {
  const tmp = tempDir("wirestack-curl-");
  const www = join(tmp.dir, "www");
  const big = randomBytes(1 << 20);
  let app: AppServer;
  let server: HttpServer;
  let base = "";
  let base6 = "";

  beforeAll(async () => {
    mkdirSync(join(www, "dir"), { recursive: true });
    writeFileSync(join(www, "big.bin"), big);
    writeFileSync(join(www, "hello.txt"), "hello\n");
    writeFileSync(join(www, "dir", "a.txt"), "a\n");
    const files = staticHandler(fsFileSource(www));
    server = new HttpServer({
      timers: hostTimers(),
      clock: wallClock(),
      handler: async (req, res) => {
        if (req.target === "/upload" && req.method === "POST") {
          res.headers.set("Content-Type", "text/plain");
          res.body = `${req.body.length} ${sha256(req.body)}`;
          return;
        }
        if (req.target === "/stream") {
          for (let i = 0; i < 5; i++) await res.write(`part ${i}\n`);
          await res.end();
          return;
        }
        await files(req, res);
      },
    });
    // "::" takes IPv4 and IPv6 on Linux (dual stack), so one server answers both URLs.
    app = await server.listen(faces, { port: 0, host: "::" });
    base = `http://127.0.0.1:${app.port}`;
    base6 = `http://[::1]:${app.port}`;
  });
  afterAll(async () => {
    await app?.close();
    tmp.remove();
  });

  test("GET of a 1 MB file, verified by SHA-256", async () => {
    const out = join(tmp.dir, "got.bin");
    const r = await curl(["-o", out, "-w", "%{http_code} %{size_download}", `${base}/big.bin`]);
    expect(r.stdout).toBe(`200 ${1 << 20}`);
    expect(sha256(readFileSync(out))).toBe(sha256(big));
  });

  test("404 for a missing file", async () => {
    const r = await curl(["-o", "/dev/null", "-w", "%{http_code}", `${base}/missing.txt`]);
    expect(r.stdout).toBe("404");
  });

  test("HEAD: right Content-Length, no body (RFC 9110 §9.3.2)", async () => {
    const r = await curl(["-I", "-w", "%{size_download}", `${base}/big.bin`]);
    expect(r.stdout).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(r.stdout).toContain(`Content-Length: ${1 << 20}\r\n`);
    expect(r.stdout).toContain("Content-Type: application/octet-stream\r\n");
    expect(r.stdout).toContain("Server: wirestack\r\n");
    expect(r.stdout).toMatch(/\r\nDate: \w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT\r\n/);
    expect(r.stdout.endsWith("\r\n\r\n0")).toBe(true);
  });

  test("two URLs over one connection (RFC 9112 §9.3): curl re-uses it", async () => {
    const r = await curl(["-v", `${base}/hello.txt`, `${base}/dir/a.txt`]);
    expect(r.stdout).toBe("hello\na\n");
    expect(r.stderr).toMatch(/Re-using existing connection/);
  });

  test("an IPv6 URL: http://[::1]:PORT/", async () => {
    const r = await curl(["-g", `${base6}/hello.txt`]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe("hello\n");
  });

  test("POST with a chunked body (RFC 9112 §7.1), 100-continue answered", async () => {
    const file = join(tmp.dir, "up.bin");
    writeFileSync(file, big);
    const t0 = performance.now();
    // curl 7.88 sends no Expect for chunked uploads by itself; asked to, it waits up to 1 s for the 100.
    const r = await curl(["-v", "-H", "Transfer-Encoding: chunked", "-H", "Expect: 100-continue", "--data-binary", `@${file}`, `${base}/upload`]);
    expect(r.stdout).toBe(`${big.length} ${sha256(big)}`);
    expect(r.stderr).toContain("< HTTP/1.1 100 Continue");
    // curl waits 1 s for a 100 Continue that does not come; ours comes.
    expect(performance.now() - t0).toBeLessThan(900);
  });

  test("a chunked response is decoded by curl", async () => {
    const r = await curl(["-D", "-", `${base}/stream`]);
    expect(r.stdout).toContain("Transfer-Encoding: chunked\r\n");
    expect(r.stdout.endsWith("part 0\npart 1\npart 2\npart 3\npart 4\n")).toBe(true);
  });

  test("directory listing and redirect to the slash", async () => {
    const r = await curl(["-L", `${base}/dir`]);
    expect(r.stdout).toContain('<a href="a.txt">a.txt</a>');
  });

  test("POST to a file is 405 with Allow (RFC 9110 §15.5.6)", async () => {
    const r = await curl(["-D", "-", "-o", "/dev/null", "-d", "x", `${base}/hello.txt`]);
    expect(r.stdout).toMatch(/^HTTP\/1\.1 405 Method Not Allowed\r\n/);
    expect(r.stdout).toContain("Allow: GET, HEAD\r\n");
  });

  for (const path of ["/../../etc/passwd", "/%2e%2e/%2e%2e/etc/passwd", "/dir/..%2f..%2f..%2fetc%2fpasswd", "/..%5c..%5cetc%5cpasswd", "/hello.txt%00.html", "/dir/../../../../etc/passwd"]) {
    test(`path traversal refused: ${path}`, async () => {
      const r = await curl(["--path-as-is", "-w", "\n%{http_code}", `${base}${path}`]);
      expect(r.stdout).not.toContain("root:");
      // resolveTargetPath refuses dot segments, encoded separators and NUL with 403.
      expect(r.stdout.slice(-3)).toBe("403");
    });
  }
});

describe.skipIf(skipUnless("python3", hasPython))("our client against Python's http.server", () => {
  const tmp = tempDir("wirestack-pyhttp-");
  const big = randomBytes(300_000);
  let proc: ChildProcess | undefined;
  let port = 0;

  beforeAll(async () => {
    writeFileSync(join(tmp.dir, "a.txt"), "alpha\n");
    writeFileSync(join(tmp.dir, "big.bin"), big);
    // --protocol HTTP/1.1 (Python ≥ 3.11) makes it keep connections alive.
    const p = spawn("python3", ["-u", "-m", "http.server", "0", "--bind", "127.0.0.1", "--protocol", "HTTP/1.1", "--directory", tmp.dir], { stdio: ["ignore", "pipe", "ignore"] });
    proc = p;
    port = await new Promise<number>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error("python http.server did not start within 10 s")), 10_000);
      let seen = "";
      p.stdout?.on("data", (d: Buffer) => {
        seen += d.toString();
        const m = /port (\d+)/.exec(seen);
        if (m !== null) {
          clearTimeout(t);
          resolve(Number(m[1]));
        }
      });
      p.on("exit", () => reject(new Error(`python exited: ${seen}`)));
    });
  });
  afterAll(() => {
    if (proc?.pid !== undefined && proc.exitCode === null) proc.kill("SIGTERM");
    tmp.remove();
  });

  test("GET twice over one kept-alive connection, then a 300 kB file by SHA-256", async () => {
    const agent = new HttpAgent();
    try {
      const a = await httpRequest(faces, { url: `http://127.0.0.1:${port}/a.txt`, agent });
      expect(a.status).toBe(200);
      expect(new TextDecoder().decode(a.body)).toBe("alpha\n");
      expect(a.headers.get("server")).toMatch(/SimpleHTTP/);
      const b = await httpRequest(faces, { url: `http://127.0.0.1:${port}/big.bin`, agent });
      expect(b.reused).toBe(true);
      expect(sha256(b.body)).toBe(sha256(big));
      const c = await httpRequest(faces, { url: `http://127.0.0.1:${port}/nope`, agent });
      expect(c.status).toBe(404);
      expect(c.reused).toBe(true);
    } finally {
      agent.close();
    }
  });
});
