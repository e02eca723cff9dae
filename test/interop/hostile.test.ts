/**
 * Hostile traffic over TAP against the live `wirestack serve` (issue 8, item 5): scapy, inside this
 * file's own namespace, sends a SYN flood from forged sources, teardrop and ping-of-death fragments,
 * a tiny-fragment flood, an ARP spoof of the kernel's address, blind RSTs and an ACK storm, a UDP
 * flood at a closed port (ICMP errors) and random garbage frames. Afterwards the stack must still
 * answer ping, TCP echo and HTTP.
 *
 * Subnet: 10.87.0.0/24, inside this file's own namespace (deleted afterwards, even on failure).
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createNetns, deleteAllNetns, type Netns } from "./netns.ts";
import { execIn, interopSkipReason, killAllChildren, pingSummary, runIn, startServe } from "./helpers.ts";

const skipReason = interopSkipReason("test/interop/hostile.test.ts");
const OUR_MAC = "02:00:00:87:00:02";
const OUR_IP = "10.87.0.2";
const KERNEL_IP = "10.87.0.1";

/** The attack, as one scapy program (Debian's python3 has scapy). Every loop is bounded. */
const ATTACK = String.raw`
import random, sys
from scapy.all import Ether, IP, TCP, UDP, ICMP, ARP, Raw, sendp, conf
conf.verb = 0
iface, dst, mac, kernel = sys.argv[1:5]
random.seed(87)
e = Ether(dst=mac)
frames = []
for i in range(2000):  # SYN flood from forged on-link sources
    frames.append(e/IP(src="10.87.0.%d" % random.randint(20, 250), dst=dst)/TCP(sport=random.randint(1024, 65535), dport=80, flags="S", seq=random.getrandbits(32)))
for i in range(200):   # teardrop: overlapping fragments
    frames.append(e/IP(src=kernel, dst=dst, id=1000+i, flags="MF", frag=0, proto=17)/Raw(b"A"*64))
    frames.append(e/IP(src=kernel, dst=dst, id=1000+i, frag=3, proto=17)/Raw(b"B"*64))
for i in range(50):    # ping of death: the last fragment ends past 65535
    frames.append(e/IP(src=kernel, dst=dst, id=3000+i, flags="MF", frag=0, proto=1)/Raw(b"\x08\x00"+b"C"*1398))
    frames.append(e/IP(src=kernel, dst=dst, id=3000+i, frag=8191, proto=1)/Raw(b"D"*100))
for i in range(3000):  # tiny-fragment flood
    frames.append(e/IP(src=kernel, dst=dst, id=5000+i, flags="MF", frag=i % 50, proto=17)/Raw(b"E"*8))
frames.append(Ether(dst=mac)/ARP(op=2, hwsrc="02:66:66:66:66:66", psrc=kernel, pdst=dst, hwdst=mac))  # ARP spoof
for i in range(2000):  # blind RSTs and an ACK storm at guessed ports
    frames.append(e/IP(src=kernel, dst=dst)/TCP(sport=random.randint(1024, 65535), dport=random.choice([7, 80]), flags=random.choice(["R", "A", "RA"]), seq=random.getrandbits(32), ack=random.getrandbits(32)))
for i in range(2000):  # ICMP error flood: UDP at a closed port
    frames.append(e/IP(src=kernel, dst=dst)/UDP(sport=4000, dport=9999)/Raw(b"x"*16))
for i in range(500):   # garbage
    frames.append(Ether(dst=mac, type=random.choice([0x0800, 0x86dd, 0x0806]))/Raw(bytes(random.getrandbits(8) for _ in range(random.randint(0, 200)))))
sendp(frames, iface=iface)
print(len(frames))
`;

const ECHO_CHECK = String.raw`
import socket, sys
s = socket.create_connection((sys.argv[1], 7), timeout=10)
data = bytes(range(256)) * 64
s.sendall(data)
got = b""
while len(got) < len(data):
    chunk = s.recv(65536)
    if not chunk: break
    got += chunk
s.close()
print("ok" if got == data else "mismatch %d" % len(got))
`;

/**
 * Hostile clients of the applications (issue 8, item 3 over TAP): HTTP slowloris (one header byte a
 * second: the 10 s header timeout must cut it off with 408), an oversized SMTP command line (RFC 5321
 * §4.5.3.1.4: 512 octets; 500), an oversized FTP command line (500) and an FTP bounce (PORT naming
 * another host; 500). Prints one verdict per line.
 */
const APP_ATTACK = String.raw`
import socket, sys, time
host = sys.argv[1]
def reply(s):
    buf = b""
    while not buf.endswith(b"\r\n"):
        c = s.recv(4096)
        if not c: break
        buf += c
    return buf.decode("latin1")
# HTTP slowloris: a request head that never ends.
s = socket.create_connection((host, 80), timeout=5)
s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n")
got, t0 = b"", time.time()
s.settimeout(1.0)
while time.time() - t0 < 20:
    try:
        s.sendall(b"X")
        c = s.recv(4096)
        if not c: break
        got += c
    except socket.timeout:
        continue
    except OSError:
        break
print("slowloris", "cut" if time.time() - t0 < 20 else "still-open", got.split(b"\r\n")[0].decode("latin1"))
s.close()
# SMTP: a command line of 600 octets.
s = socket.create_connection((host, 25), timeout=10)
reply(s)
s.sendall(b"NOOP " + b"A" * 600 + b"\r\n")
print("smtp-long", reply(s)[:3])
s.sendall(b"QUIT\r\n")
print("smtp-quit", reply(s)[:3])
s.close()
# FTP: a command line of 5000 octets, then a bounce attempt.
s = socket.create_connection((host, 21), timeout=10)
reply(s)
s.sendall(b"USER " + b"A" * 5000 + b"\r\n")
print("ftp-long", reply(s)[:3])
s.sendall(b"USER anonymous\r\n"); reply(s)
s.sendall(b"PASS x@y\r\n"); reply(s)
s.sendall(b"PORT 10,87,0,99,4,1\r\n")
print("ftp-bounce", reply(s)[:3])
s.sendall(b"QUIT\r\n"); reply(s)
s.close()
`;

describe.skipIf(skipReason !== undefined)("hostile traffic against wirestack serve over TAP", () => {
  let ns: Netns;
  let dir: string;

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "wshostile-"));
    writeFileSync(join(dir, "index.html"), "still here\n");
    writeFileSync(join(dir, "attack.py"), ATTACK);
    writeFileSync(join(dir, "echo.py"), ECHO_CHECK);
    writeFileSync(join(dir, "apps.py"), APP_ATTACK);
    ns = createNetns("wshs");
  });

  afterAll(async () => {
    try {
      await killAllChildren();
    } finally {
      deleteAllNetns();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("after floods, fragments, spoofing, storms and garbage it still answers ping, TCP echo and HTTP", async () => {
    const tap = `wsh${process.pid}`.slice(0, 15);
    const serve = await startServe(ns, ["--tap", tap, "--mac", OUR_MAC, "--ip", `${OUR_IP}/24`, "--services", "echo,http", "--www", dir]);
    await execIn(ns, "ip", ["link", "set", tap, "up"]);
    await execIn(ns, "ip", ["addr", "add", `${KERNEL_IP}/24`, "dev", tap]);
    const first = await runIn(ns, "ping", ["-c", "1", "-W", "3", OUR_IP], { timeoutMs: 10_000 });
    expect(pingSummary(first.stdout.toString("utf8")), serve.stderr()).toEqual({ transmitted: 1, received: 1 });

    const attack = await runIn(ns, "/usr/bin/python3", [join(dir, "attack.py"), tap, OUR_IP, OUR_MAC, KERNEL_IP], { timeoutMs: 240_000 });
    expect(attack.status, attack.stderr.toString()).toBe(0);
    // The spoofed ARP reply names a MAC other than its frame's source, so it is refused outright
    // (drop.arp-sender-mismatch). A forger who also fakes the Ethernet source gets, by our policy
    // (README, "Limits"), a STALE entry that NUD drops within about 8 s: allow for that here too
    // (bounded: 20 tries), so this test checks survival, not the spoofing policy (see test/robust).
    for (let i = 0; i < 20; i++) {
      const one = await runIn(ns, "ping", ["-c", "1", "-W", "1", OUR_IP], { timeoutMs: 5_000 });
      if (pingSummary(one.stdout.toString("utf8"))?.received === 1) break;
    }

    expect(serve.running(), serve.stderr()).toBe(true);
    const p = await runIn(ns, "ping", ["-c", "3", "-i", "0.2", "-W", "3", OUR_IP], { timeoutMs: 15_000 });
    expect(pingSummary(p.stdout.toString("utf8")), serve.stderr()).toEqual({ transmitted: 3, received: 3 });
    const echo = await runIn(ns, "/usr/bin/python3", [join(dir, "echo.py"), OUR_IP], { timeoutMs: 20_000 });
    expect(echo.stdout.toString().trim(), echo.stderr.toString()).toBe("ok");
    const http = await runIn(ns, "curl", ["-sS", "--max-time", "10", `http://${OUR_IP}/index.html`], { timeoutMs: 15_000 });
    expect(http.stdout.toString(), http.stderr.toString()).toBe("still here\n");
    expect(serve.stderr()).not.toMatch(/exception|Error/);
    const exit = await serve.stop("SIGTERM", 5_000);
    expect(exit.status, exit.stderr).toBe(0);
  }, 300_000);

  test("slowloris, oversized SMTP and FTP command lines and an FTP bounce are refused; the services still answer", async () => {
    const tap = `wsa${process.pid}`.slice(0, 15);
    const ip = "10.87.1.2";
    for (const d of ["mail", "ftp"]) mkdirSync(join(dir, d), { recursive: true });
    const serve = await startServe(ns, [
      "--tap", tap, "--mac", "02:00:00:87:01:02", "--ip", `${ip}/24`,
      "--services", "echo,http,smtp,ftp", "--www", dir, "--mail", join(dir, "mail"), "--ftp-root", join(dir, "ftp"),
    ]);
    await execIn(ns, "ip", ["link", "set", tap, "up"]);
    await execIn(ns, "ip", ["addr", "add", "10.87.1.1/24", "dev", tap]);
    const apps = await runIn(ns, "/usr/bin/python3", [join(dir, "apps.py"), ip], { timeoutMs: 60_000 });
    const out = apps.stdout.toString();
    expect(apps.status, apps.stderr.toString()).toBe(0);
    expect(out).toMatch(/^slowloris cut HTTP\/1\.1 408/m); // RFC 9110 §15.5.9, after the header timeout
    expect(out).toMatch(/^smtp-long 500$/m);
    expect(out).toMatch(/^smtp-quit 221$/m); // the session survives the refusal
    expect(out).toMatch(/^ftp-long 500$/m);
    expect(out).toMatch(/^ftp-bounce 500$/m);
    const p = await runIn(ns, "ping", ["-c", "3", "-i", "0.2", "-W", "3", ip], { timeoutMs: 15_000 });
    expect(pingSummary(p.stdout.toString("utf8")), serve.stderr()).toEqual({ transmitted: 3, received: 3 });
    const echo = await runIn(ns, "/usr/bin/python3", [join(dir, "echo.py"), ip], { timeoutMs: 20_000 });
    expect(echo.stdout.toString().trim(), echo.stderr.toString()).toBe("ok");
    const http = await runIn(ns, "curl", ["-sS", "--max-time", "10", `http://${ip}/index.html`], { timeoutMs: 15_000 });
    expect(http.stdout.toString(), http.stderr.toString()).toBe("still here\n");
    const exit = await serve.stop("SIGTERM", 5_000);
    expect(exit.status, exit.stderr).toBe(0);
  }, 120_000);
});
