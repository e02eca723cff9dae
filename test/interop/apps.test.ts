/**
 * `wirestack serve`'s applications against real Linux clients over TAP (issue 5, items 5 and 7):
 * curl for HTTP, curl and lftp for FTP, swaks and curl for SMTP, all running in a network namespace
 * this file creates and deletes, talking to the kernel's TCP, which talks to ours over the TAP.
 *
 * Set-up: `wirestack serve --www W --mail M --ftp-root F --ftp-user user:pass --pcap P` creates its
 * TAP inside the namespace and prints `ready`; only then does the kernel side come up (link up,
 * addresses with nodad), which is all DESIGN.md promises the stack needs. Files are checked by
 * SHA-256, stored mail byte for byte. At the end serve gets SIGTERM (exit 0) and tshark reads its
 * capture with checksum validation on.
 *
 * Subnet: 10.70.0.0/24 + fd70::/64; no other test uses it (and it lives in this file's namespace).
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createNetns, deleteAllNetns, type Netns } from "./netns.ts";
import {
  TSHARK_BROKEN_FILTER,
  execIn,
  interopSkipReason,
  killAllChildren,
  runIn,
  startServe,
  tshark,
  type Exit,
  type ServeProcess,
} from "./helpers.ts";
import { sha256, storedMail } from "./app-helpers.ts";

const skipReason = interopSkipReason("test/interop/apps.test.ts");

const SERVE_TAP = `wsa${process.pid}`.slice(0, 15);
const OUR_MAC = "02:00:00:70:00:02";
const OUR_IP = "10.70.0.2";
const OUR_IP6 = "fd70::2";
const KERNEL_IP = "10.70.0.1";
const KERNEL_IP6 = "fd70::1";

/** tshark's broken-frame filter plus bad TCP checksums (validation is on through TSHARK_CHECKSUM_PREFS). */
const BROKEN = TSHARK_BROKEN_FILTER;

const BIG = randomBytes(1 << 20);
const UPLOAD = randomBytes(1 << 20);
const SMALL = Buffer.from("hello from wirestack\n");

describe.skipIf(skipReason !== undefined)("Linux clients against wirestack serve's HTTP, FTP and SMTP over TAP", () => {
  let ns: Netns;
  let dir: string;
  let www: string;
  let mail: string;
  let ftp: string;
  let work: string;
  let pcap: string;
  let serve: ServeProcess | undefined;
  let stopped: Exit | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "wsapps-"));
    www = join(dir, "www");
    mail = join(dir, "mail");
    ftp = join(dir, "ftp");
    work = join(dir, "work");
    pcap = join(dir, "serve.pcap");
    for (const d of [www, mail, join(ftp, "pub"), work]) mkdirSync(d, { recursive: true });
    writeFileSync(join(www, "big.bin"), BIG);
    writeFileSync(join(www, "index.html"), "<p>wirestack</p>\n");
    writeFileSync(join(www, "small.txt"), SMALL);
    writeFileSync(join(ftp, "big.bin"), BIG);
    writeFileSync(join(ftp, "pub", "small.txt"), SMALL);
    // Outside the FTP root: what traversal attempts aim at.
    writeFileSync(join(dir, "secret.txt"), "secret outside the root\n");
    writeFileSync(join(work, "upload.bin"), UPLOAD);

    ns = createNetns("wsap");
    serve = await startServe(ns, [
      "--tap", SERVE_TAP, "--mac", OUR_MAC, "--ip", `${OUR_IP}/24`, "--ip6", `${OUR_IP6}/64`,
      "--www", www, "--mail", mail, "--ftp-root", ftp, "--ftp-user", "user:pass", "--pcap", pcap,
    ]);
    await execIn(ns, "ip", ["link", "set", SERVE_TAP, "up"]);
    await execIn(ns, "ip", ["addr", "add", `${KERNEL_IP}/24`, "dev", SERVE_TAP]);
    await execIn(ns, "ip", ["-6", "addr", "add", `${KERNEL_IP6}/64`, "dev", SERVE_TAP, "nodad"]);
  });

  afterAll(async () => {
    try {
      if (serve?.running()) await serve.stop("SIGKILL", 2_000);
      await killAllChildren();
    } finally {
      deleteAllNetns();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  /** The failure message for an unexpected result: the command's output and serve's stderr. */
  const explain = (r: Exit): string =>
    `status ${r.status} signal ${r.signal}\nstdout: ${r.stdout.toString("latin1").slice(0, 2000)}\nstderr: ${r.stderr}\nserve stderr: ${serve?.stderr() ?? ""}`;

  /** curl inside the namespace; -sS: no progress meter, errors still printed. */
  const curl = (args: readonly string[], timeoutMs = 30_000): Promise<Exit> => runIn(ns, "curl", ["-sS", "--max-time", "25", ...args], { timeoutMs });

  test("serve's ready line lists http, smtp and ftp", () => {
    expect(serve?.readyLine).toMatch(/^ready\b/);
    expect(serve?.readyLine).toMatch(/services=\S*http/);
    expect(serve?.readyLine).toMatch(/services=\S*smtp/);
    expect(serve?.readyLine).toMatch(/services=\S*ftp/);
  });

  describe("HTTP/1.1 with curl (RFC 9110, RFC 9112)", () => {
    test("GET of 1 MB: SHA-256 matches, status 200", async () => {
      const out = join(work, "http-big.bin");
      const r = await curl(["-o", out, "-w", "%{http_code} %{size_download}", `http://${OUR_IP}/big.bin`]);
      expect(r.status, explain(r)).toBe(0);
      expect(r.stdout.toString()).toBe(`200 ${BIG.length}`);
      expect(sha256(readFileSync(out))).toBe(sha256(BIG));
    });

    test("a missing file: 404 (RFC 9110 §15.5.5); curl --fail exits 22", async () => {
      const r = await curl(["-o", "/dev/null", "-w", "%{http_code}", `http://${OUR_IP}/nope.txt`]);
      expect(r.status, explain(r)).toBe(0);
      expect(r.stdout.toString()).toBe("404");
      const f = await curl(["--fail", "-o", "/dev/null", `http://${OUR_IP}/nope.txt`]);
      expect(f.status).toBe(22);
    });

    test("HEAD: the GET's headers, Content-Length of the file, and no body on the wire (RFC 9110 §9.3.2)", async () => {
      const r = await curl(["-I", `http://${OUR_IP}/big.bin`]);
      expect(r.status, explain(r)).toBe(0);
      expect(r.stdout.toString("latin1")).toMatch(/^HTTP\/1\.1 200 /);
      expect(r.stdout.toString("latin1")).toMatch(new RegExp(`^content-length: ${BIG.length}\\r$`, "im"));
      // curl never reads a body after HEAD; nc reads everything the server sends until it closes.
      const raw = await runIn(ns, "sh", [
        "-c",
        `printf 'HEAD /big.bin HTTP/1.1\\r\\nHost: ${OUR_IP}\\r\\nConnection: close\\r\\n\\r\\n' | nc -N -w 5 ${OUR_IP} 80`,
      ]);
      const text = raw.stdout.toString("latin1");
      expect(text, explain(raw)).toMatch(/^HTTP\/1\.1 200 /);
      expect(text.indexOf("\r\n\r\n")).toBe(text.length - 4);
    });

    test("two URLs in one curl run share one connection (RFC 9112 §9.3 persistence)", async () => {
      const r = await curl([
        "-w", "%{http_code} %{num_connects}\\n", "-o", "/dev/null", "-o", "/dev/null",
        `http://${OUR_IP}/small.txt`, `http://${OUR_IP}/index.html`,
      ]);
      expect(r.status, explain(r)).toBe(0);
      // num_connects: new connections made for that transfer; the second reuses the first's.
      expect(r.stdout.toString()).toBe("200 1\n200 0\n");
    });

    test("an IPv6 URL: http://[fd70::2]/ serves the same bytes", async () => {
      const out = join(work, "http6-big.bin");
      const r = await curl(["-g", "-o", out, "-w", "%{http_code} %{remote_ip}", `http://[${OUR_IP6}]/big.bin`]);
      expect(r.status, explain(r)).toBe(0);
      expect(r.stdout.toString()).toBe(`200 ${OUR_IP6}`);
      expect(sha256(readFileSync(out))).toBe(sha256(BIG));
    });
  });

  describe("FTP with curl (RFC 959, RFC 2428)", () => {
    const url = (path: string, cred = "user:pass@"): string => `ftp://${cred}${OUR_IP}${path}`;

    test("LIST of the root names its files", async () => {
      const r = await curl([url("/")]);
      expect(r.status, explain(r)).toBe(0);
      const list = r.stdout.toString("utf8");
      expect(list).toMatch(/ big\.bin\r?$/m);
      expect(list).toMatch(/ pub\r?$/m);
    });

    test.each([
      ["EPSV (RFC 2428 §3, curl's default)", []],
      ["PASV (RFC 959 §4.1.2, --disable-epsv)", ["--disable-epsv"]],
      ["active PORT (RFC 959 §4.1.2, -P)", ["-P", KERNEL_IP]],
    ] as const)("download 1 MB, %s: SHA-256 matches", async (name, extra) => {
      const out = join(work, `ftp-${name.slice(0, 4)}.bin`);
      const r = await curl([...extra, "-o", out, url("/big.bin")]);
      expect(r.status, explain(r)).toBe(0);
      expect(sha256(readFileSync(out))).toBe(sha256(BIG));
    });

    test("an IPv6 download over EPSV (RFC 2428 §3): SHA-256 matches", async () => {
      const out = join(work, "ftp6.bin");
      const r = await curl(["-g", "-o", out, `ftp://user:pass@[${OUR_IP6}]/big.bin`]);
      expect(r.status, explain(r)).toBe(0);
      expect(sha256(readFileSync(out))).toBe(sha256(BIG));
    });

    test.each([
      ["passive", []],
      ["active", ["-P", KERNEL_IP]],
    ] as const)("upload 1 MB as the configured user (%s): the file on disk has the SHA-256 sent", async (mode, extra) => {
      const r = await curl([...extra, "-T", join(work, "upload.bin"), url(`/pub/up-${mode}.bin`)]);
      expect(r.status, explain(r)).toBe(0);
      expect(sha256(readFileSync(join(ftp, "pub", `up-${mode}.bin`)))).toBe(sha256(UPLOAD));
    });

    test("anonymous may read but not write (STOR refused with 550: curl exit 25)", async () => {
      const get = await curl([url("/pub/small.txt", "")]);
      expect(get.status, explain(get)).toBe(0);
      expect(get.stdout.equals(SMALL)).toBe(true);
      const put = await curl(["-T", join(work, "upload.bin"), url("/pub/anon.bin", "")]);
      expect(put.status, explain(put)).toBe(25);
      expect(put.stderr).toMatch(/550/);
      expect(readdirSync(join(ftp, "pub"))).not.toContain("anon.bin");
    });

    test.each(["/../secret.txt", "/../../../etc/passwd", "/pub/../../secret.txt"])(
      "traversal %s is refused: nothing outside the root comes back",
      async (path) => {
        const r = await curl(["--path-as-is", url(path)]);
        // 9: a CWD refused (550); 78: RETR refused (550). ".." at the root stays at the root, as
        // in a chroot, so "/../secret.txt" asks for a secret.txt the root does not have.
        expect([9, 78], explain(r)).toContain(r.status);
        expect(r.stderr).toMatch(/denied you to change|does not exist/);
        expect(r.stdout.toString("latin1")).not.toMatch(/secret outside|root:/);
      },
    );
  });

  describe("FTP with lftp", () => {
    const lftp = (script: string, host = OUR_IP): Promise<Exit> =>
      runIn(
        ns,
        "lftp",
        ["-e", `set cmd:fail-exit yes; set net:max-retries 1; set net:timeout 5; set ftp:ssl-allow no; ${script}; quit`, "-u", "user,pass", `ftp://${host}`],
        { timeoutMs: 30_000 },
      );

    test("ls, get and put (passive): listing right, both files' SHA-256 match", async () => {
      const r = await lftp(`ls; get big.bin -o ${work}/lftp-get.bin; put ${work}/upload.bin -o pub/lftp-put.bin`);
      expect(r.status, explain(r)).toBe(0);
      expect(r.stdout.toString("utf8")).toMatch(/ big\.bin$/m);
      expect(sha256(readFileSync(join(work, "lftp-get.bin")))).toBe(sha256(BIG));
      expect(sha256(readFileSync(join(ftp, "pub", "lftp-put.bin")))).toBe(sha256(UPLOAD));
    });

    test("active mode (ftp:passive-mode off): get's SHA-256 matches", async () => {
      const r = await lftp(`set ftp:passive-mode off; get big.bin -o ${work}/lftp-active.bin`);
      expect(r.status, explain(r)).toBe(0);
      expect(sha256(readFileSync(join(work, "lftp-active.bin")))).toBe(sha256(BIG));
    });

    test("IPv6 active mode (lftp's EPRT |2|::|port|, RFC 2428 §2): get's SHA-256 matches", async () => {
      const r = await lftp(`set ftp:passive-mode off; get big.bin -o ${work}/lftp-active6.bin`, `[${OUR_IP6}]`);
      expect(r.status, explain(r)).toBe(0);
      expect(sha256(readFileSync(join(work, "lftp-active6.bin")))).toBe(sha256(BIG));
    });

    test("cd ../.. stays at the root (its listing, not the parent's); get ../secret.txt is refused with 550", async () => {
      const r = await lftp(`cd ../..; ls; get ../secret.txt -o ${work}/stolen.txt`);
      expect(r.status, explain(r)).toBe(1);
      const list = r.stdout.toString("utf8");
      expect(list).toMatch(/ big\.bin$/m);
      expect(list).not.toMatch(/ (secret\.txt|www|mail)$/m);
      expect(r.stderr).toMatch(/get: Access failed: 550 /);
      expect(() => statSync(join(work, "stolen.txt"))).toThrow();
    });
  });

  describe("SMTP: stored byte-identical after unstuffing (RFC 5321 §4.5.2)", () => {
    test("swaks: a body with lines starting with '.' is stored as swaks sent it", async () => {
      const before = storedMail(mail).length;
      const body = join(work, "body.txt");
      writeFileSync(body, ".starts with a dot\n..two dots\n.\nend\n");
      const r = await runIn(
        ns,
        "swaks",
        ["--server", OUR_IP, "--to", "a@b", "--from", "c@d", "--body", `@${body}`, "--helo", "swaks.test", "--timeout", "20"],
        { timeoutMs: 30_000 },
      );
      const transcript = r.stdout.toString("latin1");
      expect(r.status, explain(r)).toBe(0);
      // What swaks sent, from its own transcript: the " -> " lines between 354 and ".", unstuffed.
      const lines = transcript.split("\n").map((l) => l.replace(/\r$/, ""));
      const start = lines.findIndex((l) => l.startsWith("<-  354"));
      const end = lines.findIndex((l, i) => i > start && l === " -> .");
      expect(start).toBeGreaterThan(0);
      expect(end).toBeGreaterThan(start);
      const sent = lines.slice(start + 1, end).map((l) => `${l.slice(4).replace(/^\./, "")}\r\n`).join("");
      const stored = storedMail(mail);
      expect(stored).toHaveLength(before + 1);
      const m = stored.at(-1)!;
      expect(m.received).toMatch(/^Received: from swaks\.test \(\[10\.70\.0\.1\]\) by wirestack /);
      expect(m.content.toString("latin1")).toBe(sent);
      expect(m.content.toString("latin1")).toContain("\r\n\r\n.starts with a dot\r\n..two dots\r\n.\r\nend\r\n");
    });

    test("curl smtp:// uploads a file with '.' lines; stored byte for byte", async () => {
      const before = storedMail(mail).length;
      const msg = Buffer.from(
        "From: c@d\r\nTo: a@b\r\nSubject: dots\r\n\r\n.\r\n..\r\n.leading\r\n...three\r\nmiddle . line\r\n" +
          "x".repeat(3000) + "\r\n.\r\nlast\r\n",
        "latin1",
      );
      const file = join(work, "dots.eml");
      writeFileSync(file, msg);
      const r = await curl([`smtp://${OUR_IP}`, "--mail-from", "c@d", "--mail-rcpt", "a@b", "--upload-file", file]);
      expect(r.status, explain(r)).toBe(0);
      const stored = storedMail(mail);
      expect(stored).toHaveLength(before + 1);
      expect(stored.at(-1)!.content.equals(msg)).toBe(true);
    });

    test("over IPv6: curl smtp://[fd70::2] is stored byte for byte", async () => {
      const before = storedMail(mail).length;
      const msg = Buffer.from("Subject: six\r\n\r\n.dot over IPv6\r\n", "latin1");
      const file = join(work, "six.eml");
      writeFileSync(file, msg);
      const r = await curl(["-g", `smtp://[${OUR_IP6}]`, "--mail-from", "c@d", "--mail-rcpt", "a@b", "--upload-file", file]);
      expect(r.status, explain(r)).toBe(0);
      const stored = storedMail(mail);
      expect(stored).toHaveLength(before + 1);
      expect(stored.at(-1)!.content.equals(msg)).toBe(true);
    });
  });

  describe("shutdown and the capture", () => {
    test("SIGTERM: serve exits 0 within a few seconds", async () => {
      expect(serve?.running()).toBe(true);
      stopped = await (serve as ServeProcess).stop("SIGTERM", 5_000);
      expect(stopped.signal, stopped.stderr).toBeNull();
      expect(stopped.status, stopped.stderr).toBe(0);
      expect(stopped.ms).toBeLessThan(5_000);
    });

    test("tshark: no malformed frame, no bad IPv4/TCP checksum; HTTP, FTP and SMTP all seen", async () => {
      expect(stopped?.status).toBe(0);
      expect(statSync(pcap).size).toBeGreaterThan(24);
      expect(await tshark(["-r", pcap, "-Y", BROKEN])).toBe("");
      const count = async (filter: string): Promise<number> => {
        const out = (await tshark(["-r", pcap, "-Y", filter])).trim();
        return out === "" ? 0 : out.split("\n").length;
      };
      expect(await count(`ip.src == ${OUR_IP} && http.response.code == 404`)).toBeGreaterThanOrEqual(1);
      expect(await count(`ipv6.src == ${OUR_IP6} && http.response.code == 200`)).toBeGreaterThanOrEqual(1);
      expect(await count(`ftp.request.command == "EPSV"`)).toBeGreaterThanOrEqual(1);
      expect(await count(`ftp.request.command == "PASV"`)).toBeGreaterThanOrEqual(1);
      expect(await count(`ftp.request.command == "PORT"`)).toBeGreaterThanOrEqual(1);
      expect(await count(`smtp.req.command == "DATA"`)).toBeGreaterThanOrEqual(3);
    });
  });
});
