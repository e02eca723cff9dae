/**
 * wirestack's client commands (`get`, `put`, `mail`) against real servers on the Linux side of a
 * TAP (issue 5, items 5 and 7): Python's http.server, pyftpdlib and aiosmtpd from Debian, running in
 * a network namespace this file creates and deletes, stopped by their own PIDs.
 *
 * Set-up: a persistent TAP (`ip tuntap add`) with the kernel's addresses, and the servers listening
 * on them, before anything of ours runs; each command then attaches to that TAP as a fresh stack,
 * does its one job and exits. Files are checked by SHA-256; each command's capture is read back by
 * tshark with checksum validation on.
 *
 * Subnet: 10.71.0.0/24 + fd71::/64; no other test uses it (and it lives in this file's namespace).
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createNetns, deleteAllNetns, type Netns } from "./netns.ts";
import { TSHARK_BROKEN_FILTER, execIn, interopSkipReason, killAllChildren, runWirestack, tshark, type Exit } from "./helpers.ts";
import { DEBIAN_PYTHON, sha256, startKernelServer, type KernelServer } from "./app-helpers.ts";

const skipReason = interopSkipReason("test/interop/apps-clients.test.ts");

const CLIENT_TAP = `wsc${process.pid}`.slice(0, 15);
const CLIENT_MAC = "02:00:00:71:00:02";
const CLIENT_IP = "10.71.0.2";
const CLIENT_IP6 = "fd71::2";
const KERNEL_IP = "10.71.0.1";
const KERNEL_IP6 = "fd71::1";
const HTTP_PORT = 8080;
const FTP_PORT = 2121;
const SMTP_PORT = 2525;

/** tshark's broken-frame filter plus bad TCP checksums (validation is on through TSHARK_CHECKSUM_PREFS). */
const BROKEN = TSHARK_BROKEN_FILTER;

const BIG = randomBytes(1 << 20);
const UPLOAD = randomBytes(1 << 20);

describe.skipIf(skipReason !== undefined)("wirestack get/put/mail against Linux servers over TAP", () => {
  let ns: Netns;
  let dir: string;
  let www: string;
  let ftp: string;
  let work: string;
  const servers: KernelServer[] = [];
  let http: KernelServer;
  let ftpd: KernelServer;
  let smtpd: KernelServer;
  const pcaps: string[] = [];

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "wsappc-"));
    www = join(dir, "www");
    ftp = join(dir, "ftp");
    work = join(dir, "work");
    for (const d of [www, ftp, work]) mkdirSync(d, { recursive: true });
    writeFileSync(join(www, "big.bin"), BIG);
    writeFileSync(join(ftp, "big.bin"), BIG);
    writeFileSync(join(work, "upload.bin"), UPLOAD);

    ns = createNetns("wsac");
    await execIn(ns, "ip", ["tuntap", "add", "dev", CLIENT_TAP, "mode", "tap"]);
    await execIn(ns, "ip", ["link", "set", CLIENT_TAP, "up"]);
    await execIn(ns, "ip", ["addr", "add", `${KERNEL_IP}/24`, "dev", CLIENT_TAP]);
    await execIn(ns, "ip", ["-6", "addr", "add", `${KERNEL_IP6}/64`, "dev", CLIENT_TAP, "nodad"]);

    // -u: unbuffered, so aiosmtpd's printed messages reach the pipe as they arrive. http.server
    // bound to "::" is dual-stack (it clears IPV6_V6ONLY), serving both families.
    [http, ftpd, smtpd] = await Promise.all([
      startKernelServer(ns, DEBIAN_PYTHON, ["-u", "-m", "http.server", String(HTTP_PORT), "--bind", "::", "--directory", www], HTTP_PORT),
      startKernelServer(ns, DEBIAN_PYTHON, ["-u", "-m", "pyftpdlib", "-i", KERNEL_IP, "-p", String(FTP_PORT), "-d", ftp, "-u", "user", "-P", "pass", "-w"], FTP_PORT),
      startKernelServer(ns, DEBIAN_PYTHON, ["-u", "-m", "aiosmtpd", "-n", "-l", `${KERNEL_IP}:${SMTP_PORT}`], SMTP_PORT),
    ]);
    servers.push(http, ftpd, smtpd);
  });

  afterAll(async () => {
    try {
      await Promise.all(servers.map((s) => s.stop()));
      await killAllChildren();
    } finally {
      deleteAllNetns();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  /** Runs `wirestack CMD --tap … ARGS` on the client TAP, recording its capture for the last test. */
  const wirestack = (cmd: string, args: readonly string[]): Promise<Exit> => {
    const pcap = join(dir, `${cmd}-${pcaps.length}.pcap`);
    pcaps.push(pcap);
    return runWirestack(
      ns,
      [cmd, "--tap", CLIENT_TAP, "--mac", CLIENT_MAC, "--ip", `${CLIENT_IP}/24`, "--ip6", `${CLIENT_IP6}/64`, "--pcap", pcap, ...args],
      30_000,
    );
  };

  const explain = (r: Exit, server?: KernelServer): string =>
    `status ${r.status} signal ${r.signal}\nstdout: ${r.stdout.toString("latin1").slice(0, 2000)}\nstderr: ${r.stderr}\nserver: ${server?.output().slice(-3000) ?? ""}`;

  describe("get http:// from python3 -m http.server", () => {
    test("1 MB over IPv4: exit 0, SHA-256 matches", async () => {
      const out = join(work, "http4.bin");
      const r = await wirestack("get", [`http://${KERNEL_IP}:${HTTP_PORT}/big.bin`, "-o", out]);
      expect(r.status, explain(r, http)).toBe(0);
      expect(sha256(readFileSync(out))).toBe(sha256(BIG));
    });

    test("1 MB over IPv6 (http://[fd71::1]:8080/): exit 0, SHA-256 matches", async () => {
      const out = join(work, "http6.bin");
      const r = await wirestack("get", [`http://[${KERNEL_IP6}]:${HTTP_PORT}/big.bin`, "-o", out]);
      expect(r.status, explain(r, http)).toBe(0);
      expect(sha256(readFileSync(out))).toBe(sha256(BIG));
    });

    test("a missing file: exit 1, one line naming the 404, nothing written", async () => {
      const out = join(work, "missing.bin");
      const r = await wirestack("get", [`http://${KERNEL_IP}:${HTTP_PORT}/missing.bin`, "-o", out]);
      expect(r.status, explain(r, http)).toBe(1);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(r.stderr).toMatch(/HTTP 404/);
      expect(readdirSync(work)).not.toContain("missing.bin");
    });
  });

  describe("get and put ftp:// against pyftpdlib (RFC 959)", () => {
    test("get 1 MB: exit 0, SHA-256 matches", async () => {
      const out = join(work, "ftp.bin");
      const r = await wirestack("get", [`ftp://user:pass@${KERNEL_IP}:${FTP_PORT}/big.bin`, "-o", out]);
      expect(r.status, explain(r, ftpd)).toBe(0);
      expect(sha256(readFileSync(out))).toBe(sha256(BIG));
    });

    test("get of a directory URL lists it", async () => {
      const r = await wirestack("get", [`ftp://user:pass@${KERNEL_IP}:${FTP_PORT}/`]);
      expect(r.status, explain(r, ftpd)).toBe(0);
      expect(r.stdout.toString("utf8")).toMatch(/ big\.bin\r?$/m);
    });

    test("put 1 MB: exit 0, the file on the server's disk has the SHA-256 sent", async () => {
      const r = await wirestack("put", [join(work, "upload.bin"), `ftp://user:pass@${KERNEL_IP}:${FTP_PORT}/up.bin`]);
      expect(r.status, explain(r, ftpd)).toBe(0);
      expect(sha256(readFileSync(join(ftp, "up.bin")))).toBe(sha256(UPLOAD));
    });

    test("a wrong password: exit 1, nothing stored", async () => {
      const r = await wirestack("put", [join(work, "upload.bin"), `ftp://user:wrong@${KERNEL_IP}:${FTP_PORT}/bad.bin`]);
      expect(r.status, explain(r, ftpd)).toBe(1);
      expect(r.stderr.trim().split("\n")).toHaveLength(1);
      expect(readdirSync(ftp)).not.toContain("bad.bin");
    });
  });

  test("mail to aiosmtpd: the message arrives with its '.' lines intact (RFC 5321 §4.5.2)", async () => {
    const file = join(work, "msg.txt");
    const marker = `marker-${randomBytes(6).toString("hex")}`;
    writeFileSync(file, `Subject: ${marker}\nFrom: a@b\n\n.starts with a dot\n..two dots\n.\nlast\n`);
    const r = await wirestack("mail", ["--server", `${KERNEL_IP}:${SMTP_PORT}`, "--from", "a@b", "--to", "c@d", file]);
    expect(r.status, explain(r, smtpd)).toBe(0);
    expect(r.stderr).toMatch(/mail accepted: 250/);
    // aiosmtpd's Debugging handler prints the message between these markers (bounded wait).
    for (let i = 0; i < 50 && !smtpd.output().includes("END MESSAGE"); i++) await new Promise((res) => setTimeout(res, 100));
    const out = smtpd.output();
    const body = out.slice(out.indexOf("MESSAGE FOLLOWS"), out.indexOf("END MESSAGE"));
    expect(body, out).toContain(`Subject: ${marker}\n`);
    expect(body).toContain("\n\n.starts with a dot\n..two dots\n.\nlast\n");
  });

  test("every command's capture: no malformed frame, no bad IPv4/IPv6/TCP checksum", async () => {
    expect(pcaps.length).toBeGreaterThanOrEqual(8);
    for (const p of pcaps) {
      expect(await tshark(["-r", p, "-Y", BROKEN]), p).toBe("");
      expect((await tshark(["-r", p, "-Y", "tcp"])).trim(), p).not.toBe("");
    }
  });
});
