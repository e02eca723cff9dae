/**
 * Our FTP server against real clients (curl, lftp) and our client against a real server
 * (python3-pyftpdlib), over node:net on loopback, 127.0.0.1 and ::1. Every tool runs as a child
 * process with a timeout (the server lives in this process, so the tools must run asynchronously);
 * pyftpdlib is killed by the PID we started. Files are checked by SHA-256.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { ftpConnect } from "../../src/app/ftp/client.ts";
import { listenFtp } from "../../src/app/ftp/server.ts";
import type { AppServer } from "../../src/app/net-faces.ts";
import { directoryFtpFileSystem } from "../../src/host/ftp-files.ts";
import { hostTimers, nodeNetFaces } from "../../src/host/node-net.ts";
import { skipUnless } from "../helpers/tools.ts";

const sha256 = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");
const faces = nodeNetFaces();

interface Run {
  code: number | null;
  stdout: Buffer;
  stderr: string;
}

/** Runs a tool asynchronously (our server shares this event loop), killed after `ms`. */
function run(cmd: string, args: readonly string[], ms = 30_000): Promise<Run> {
  return new Promise((resolve) => {
    const p = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    const out: Buffer[] = [];
    let err = "";
    p.stdout.on("data", (b: Buffer) => out.push(b));
    p.stderr.on("data", (b: Buffer) => (err += b.toString()));
    const timer = setTimeout(() => p.kill("SIGKILL"), ms);
    p.on("error", (e) => {
      clearTimeout(timer);
      resolve({ code: -1, stdout: Buffer.alloc(0), stderr: String(e) });
    });
    p.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout: Buffer.concat(out), stderr: err });
    });
  });
}

function which(cmd: string): boolean {
  return ["/usr/bin", "/bin", "/usr/local/bin"].some((d) => existsSync(join(d, cmd)));
}

const HAVE_CURL = which("curl");
const HAVE_LFTP = which("lftp");
const HAVE_PYFTPDLIB = existsSync("/usr/lib/python3/dist-packages/pyftpdlib");

let base: string;
let root: string;
let work: string;
const BIG = randomBytes(1 << 20);

beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), "wirestack-ftptools-"));
  root = join(base, "root");
  work = join(base, "work");
  mkdirSync(join(root, "pub", "deep"), { recursive: true });
  mkdirSync(work);
  writeFileSync(join(root, "big.bin"), BIG);
  writeFileSync(join(root, "pub", "deep", "n.txt"), "nested\n");
  writeFileSync(join(base, "secret.txt"), "secret\n");
  writeFileSync(join(work, "upload.bin"), randomBytes(1 << 20));
});

afterAll(() => rmSync(base, { recursive: true, force: true }));

for (const host of ["127.0.0.1", "::1"]) {
  const url = (port: number, path: string, cred = "user:pass@"): string => `ftp://${cred}${host.includes(":") ? `[${host}]` : host}:${port}${path}`;
  const tag = host === "::1" ? "6" : "4";

  describe.skipIf(skipUnless("curl", HAVE_CURL))(`curl against our server on ${host}`, () => {
    let server: AppServer;
    beforeAll(async () => {
      server = await listenFtp(faces, { port: 0, host }, { root: directoryFtpFileSystem(root), timers: hostTimers(), anonymous: true, user: { name: "user", password: "pass" } });
    });
    afterAll(() => server.close());

    test("listing of /", async () => {
      const r = await run("curl", ["-sS", "-g", url(server.port, "/")]);
      expect(r.stderr).toBe("");
      expect(r.stdout.toString()).toMatch(/^-rw.* 1048576 .* big\.bin\r?$/m);
      expect(r.stdout.toString()).toMatch(/^d.* pub\r?$/m);
    });

    test("download 1 MB, SHA-256: EPSV (curl's default), PASV (--disable-epsv, IPv4), active (--ftp-port)", async () => {
      const variants: string[][] = [[], ["--ftp-port", host]];
      if (host === "127.0.0.1") variants.push(["--disable-epsv"]);
      for (const extra of variants) {
        const r = await run("curl", ["-sS", "-g", ...extra, url(server.port, "/big.bin")]);
        expect(r.stderr, extra.join(" ")).toBe("");
        expect(sha256(r.stdout), extra.join(" ")).toBe(sha256(BIG));
      }
    });

    test("upload with -T (passive and active), SHA-256", async () => {
      const src = readFileSync(join(work, "upload.bin"));
      for (const [name, extra] of [[`up${tag}.bin`, []], [`up${tag}-active.bin`, ["--ftp-port", host]]] as const) {
        const r = await run("curl", ["-sS", "-g", ...extra, "-T", join(work, "upload.bin"), url(server.port, `/pub/${name}`)]);
        expect(r.stderr).toBe("");
        expect(sha256(readFileSync(join(root, "pub", name)))).toBe(sha256(src));
      }
    });

    test("anonymous cannot upload (550: curl exit 25)", async () => {
      const r = await run("curl", ["-sS", "-g", "-T", join(work, "upload.bin"), url(server.port, "/pub/anon.bin", "")]);
      expect(r.code).toBe(25);
      expect(r.stderr).toMatch(/550/);
      expect(existsSync(join(root, "pub", "anon.bin"))).toBe(false);
      const get = await run("curl", ["-sS", "-g", url(server.port, "/big.bin", "")]);
      expect(sha256(get.stdout)).toBe(sha256(BIG));
    });

    test("traversal with --path-as-is: /../secret.txt and /%2e%2e/secret.txt do not leave the root", async () => {
      for (const p of ["/../secret.txt", "/pub/../../secret.txt", "/%2e%2e/secret.txt", "/%2F..%2F..%2Fsecret.txt"]) {
        const r = await run("curl", ["-sS", "-g", "--path-as-is", url(server.port, p)]);
        expect(r.code, p).not.toBe(0);
        expect(r.stdout.toString(), p).not.toMatch(/secret/);
      }
    });
  });

  describe.skipIf(skipUnless("lftp", HAVE_LFTP))(`lftp against our server on ${host}`, () => {
    let server: AppServer;
    beforeAll(async () => {
      server = await listenFtp(faces, { port: 0, host }, { root: directoryFtpFileSystem(root), timers: hostTimers(), anonymous: true, user: { name: "user", password: "pass" } });
    });
    afterAll(() => server.close());

    const lftp = (port: number, script: string): Promise<Run> =>
      run("lftp", ["-e", `set cmd:fail-exit yes; set net:max-retries 1; set net:timeout 5; set ftp:ssl-allow no; ${script}; quit`, "-u", "user,pass", "-p", String(port), host.includes(":") ? `ftp://[${host}]` : `ftp://${host}`]);

    test("ls, get (SHA-256), put (SHA-256), mirror", async () => {
      const dl = join(work, `lftp${tag}`);
      mkdirSync(dl, { recursive: true });
      const r = await lftp(server.port, `ls; get big.bin -o ${dl}/big.bin; put ${work}/upload.bin -o pub/lftp${tag}.bin; mirror pub/deep ${dl}/mirror`);
      expect(r.stderr).toBe("");
      expect(r.stdout.toString()).toMatch(/big\.bin/);
      expect(sha256(readFileSync(join(dl, "big.bin")))).toBe(sha256(BIG));
      expect(sha256(readFileSync(join(root, "pub", `lftp${tag}.bin`)))).toBe(sha256(readFileSync(join(work, "upload.bin"))));
      expect(readFileSync(join(dl, "mirror", "n.txt"), "utf8")).toBe("nested\n");
    });

    // Over IPv6 lftp 4.9 sends "EPRT |2|::|port|" (the unspecified address): read as the client itself.
    test("active mode (ftp:passive-mode off): get", async () => {
      const r = await lftp(server.port, `set ftp:passive-mode off; get big.bin -o ${work}/lftp-active${tag}.bin`);
      expect(r.stderr).toBe("");
      expect(sha256(readFileSync(join(work, `lftp-active${tag}.bin`)))).toBe(sha256(BIG));
    });

    test("traversal: get ../secret.txt and cd ../../ stay inside", async () => {
      const r = await lftp(server.port, `cd ../../; get ../secret.txt -o ${work}/stolen${tag}.txt`);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/550/);
      expect(existsSync(join(work, `stolen${tag}.txt`)) && readFileSync(join(work, `stolen${tag}.txt`), "utf8").includes("secret")).toBe(false);
    });
  });
}

/** A free TCP port on 127.0.0.1 (closed again before pyftpdlib binds it). */
function freePort(): Promise<number> {
  return new Promise((res) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => res(port));
    });
  });
}

describe.skipIf(skipUnless("python3-pyftpdlib", HAVE_PYFTPDLIB))("our client against pyftpdlib", () => {
  let proc: ChildProcess | undefined;
  let port = 0;
  let dir: string;

  beforeAll(async () => {
    dir = join(base, "pyftpd");
    mkdirSync(dir);
    writeFileSync(join(dir, "big.bin"), BIG);
    port = await freePort();
    proc = spawn("/usr/bin/python3", ["-m", "pyftpdlib", "-p", String(port), "-i", "127.0.0.1", "-d", dir, "-w", "-u", "user", "-P", "pass"], { stdio: "ignore" });
    // Bounded wait until it accepts connections.
    for (let i = 0; i < 100; i++) {
      const ok = await new Promise<boolean>((res) => {
        const s = net.connect({ host: "127.0.0.1", port }, () => {
          s.destroy();
          res(true);
        });
        s.on("error", () => res(false));
      });
      if (ok) return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error("pyftpdlib did not start within 10 s");
  });

  afterAll(() => {
    if (proc?.pid !== undefined && proc.exitCode === null) proc.kill("SIGTERM");
  });

  test("login, list, retrieve (SHA-256), store (SHA-256), quit", async () => {
    const c = await ftpConnect(faces, { host: "127.0.0.1", port, user: "user", password: "pass", timers: hostTimers(), timeoutMs: 10_000 });
    expect(await c.list("/")).toMatch(/big\.bin/);
    expect(sha256(await c.retrieve("/big.bin"))).toBe(sha256(BIG));
    const up = randomBytes(500_000);
    await c.store("/ours.bin", up);
    expect(sha256(readFileSync(join(dir, "ours.bin")))).toBe(sha256(up));
    await c.quit();
  });
});
