/**
 * The TAP device against the Linux kernel, inside a network namespace this file creates.
 *
 * Set-up: the test process opens a TAP in the root namespace (TUNSETIFF needs the device in the
 * opener's namespace), then moves the link into the test namespace with `ip link set NAME netns NS`;
 * the fd stays attached to the device across the move. Linux's side (address, ping, neighbour
 * table) then lives entirely in the namespace, and deleting the namespace deletes the device.
 *
 * Frames are built by hand (Ethernet, ARP per RFC 826, IPv4 per RFC 791, ICMP per RFC 792) so this
 * test depends only on the device, not on the codecs under test elsewhere.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { isWirestackError } from "../../src/errors.ts";
import { openTapSync, tapAvailable, TapError, type TapDevice } from "../../src/device/tap.ts";
import { checksumOf } from "../../src/wire/checksum.ts";
import { createNetns, deleteAllNetns, ip, netnsSupport, type Netns } from "./netns.ts";

const support = netnsSupport();
const skipReason = !support.ok
  ? support.reason
  : !tapAvailable()
    ? "the TAP addon is not built (node scripts/build-native.mjs)"
    : undefined;
if (skipReason !== undefined) console.warn(`test/interop/tap.test.ts skipped: ${skipReason}`);

const KERNEL_IP = [10, 77, 0, 1] as const;
const OUR_IP = [10, 77, 0, 2] as const;
const SILENT_IP = [10, 77, 0, 3] as const; // a static neighbour: the kernel sends to it without ARP
const OUR_MAC = [0x02, 0x00, 0x00, 0x77, 0x00, 0x02] as const;
const SILENT_MAC = "02:00:00:77:00:03";
const TAP_ROOT = new URL("../../src/device/tap.ts", import.meta.url);

const macText = (b: ArrayLike<number>): string =>
  Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(":");
const ipAt = (f: Uint8Array, at: number): string => Array.from(f.subarray(at, at + 4)).join(".");

/** An Ethernet frame carrying ARP (RFC 826): htype 1 (Ethernet), ptype 0x0800, hlen 6, plen 4. */
function arpFrame(
  oper: 1 | 2,
  ethDst: ArrayLike<number>,
  sha: ArrayLike<number>,
  spa: ArrayLike<number>,
  tha: ArrayLike<number>,
  tpa: ArrayLike<number>,
): Uint8Array {
  const f = new Uint8Array(42);
  f.set(ethDst, 0);
  f.set(sha, 6);
  f.set([0x08, 0x06, 0x00, 0x01, 0x08, 0x00, 6, 4, 0x00, oper], 12);
  f.set(sha, 22);
  f.set(spa, 28);
  f.set(tha, 32);
  f.set(tpa, 38);
  return f;
}

type Arp = { oper: number; sha: string; spa: string; tha: string; tpa: string };
function readArp(f: Uint8Array): Arp | undefined {
  if (f.length < 42 || f[12] !== 0x08 || f[13] !== 0x06) return undefined;
  return {
    oper: ((f[20] as number) << 8) | (f[21] as number),
    sha: macText(f.subarray(22, 28)),
    spa: ipAt(f, 28),
    tha: macText(f.subarray(32, 38)),
    tpa: ipAt(f, 38),
  };
}

/** True for an IPv4 ICMP echo request (RFC 792 type 8) addressed to `dstMac`. */
function isEchoRequest(f: Uint8Array, dstMac: ArrayLike<number>): boolean {
  if (f.length < 14 + 20 + 8 || f[12] !== 0x08 || f[13] !== 0x00) return false;
  if (macText(f.subarray(0, 6)) !== macText(dstMac)) return false;
  const ihl = ((f[14] as number) & 0x0f) * 4;
  return f[14 + 9] === 1 && f[14 + ihl] === 8;
}

/** The echo reply to an echo request frame: addresses swapped, type 0, both checksums redone. */
function echoReply(req: Uint8Array): Uint8Array {
  const f = new Uint8Array(req);
  f.set(req.subarray(6, 12), 0);
  f.set(req.subarray(0, 6), 6);
  const ihl = ((f[14] as number) & 0x0f) * 4;
  const totalLength = ((f[16] as number) << 8) | (f[17] as number);
  f.set(req.subarray(14 + 16, 14 + 20), 14 + 12);
  f.set(req.subarray(14 + 12, 14 + 16), 14 + 16);
  f[14 + 8] = 64;
  f[14 + 10] = 0;
  f[14 + 11] = 0;
  const ipSum = checksumOf(f, 14, 14 + ihl); // RFC 791 §3.1: header checksum over the header only
  f[14 + 10] = ipSum >>> 8;
  f[14 + 11] = ipSum & 0xff;
  const icmp = 14 + ihl;
  f[icmp] = 0; // RFC 792: echo reply
  f[icmp + 2] = 0;
  f[icmp + 3] = 0;
  const icmpSum = checksumOf(f, icmp, 14 + totalLength);
  f[icmp + 2] = icmpSum >>> 8;
  f[icmp + 3] = icmpSum & 0xff;
  return f;
}

/** Resolves when `pred` holds, polling every 20 ms; rejects after `ms`. */
async function until(pred: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe.skipIf(skipReason !== undefined)("TAP device (Linux kernel in a namespace)", () => {
  let ns: Netns;
  let tap: TapDevice | undefined;
  let tapName: string;
  let kernelMac: Uint8Array;
  const batches: Uint8Array[][] = [];
  const frames = (): Uint8Array[] => batches.flat();

  beforeAll(() => {
    ns = createNetns("wstap");
    tapName = `wst${process.pid}`.slice(0, 15);
    tap = openTapSync(tapName);
    if (tap.kernelMac === undefined) throw new Error("SIOCGIFHWADDR gave no MAC");
    kernelMac = tap.kernelMac;
    ip("link", "set", tapName, "netns", ns.name);
    ns.exec("sysctl", ["-qw", `net.ipv6.conf.all.disable_ipv6=1`]);
    ns.exec("ip", ["link", "set", tapName, "up"]);
    ns.exec("ip", ["addr", "add", `${KERNEL_IP.join(".")}/24`, "dev", tapName]);
    ns.exec("ip", ["neigh", "add", SILENT_IP.join("."), "lladdr", SILENT_MAC, "dev", tapName]);
    tap.setReceiver((batch) => batches.push([...batch]));
  });

  afterAll(() => {
    try {
      tap?.close();
    } finally {
      deleteAllNetns();
    }
  });

  test("reports the kernel's name, MTU and MAC (SIOCGIFMTU, SIOCGIFHWADDR)", () => {
    expect(tap?.name).toBe(tapName);
    expect(tap?.mtu).toBe(1500);
    expect(macText(kernelMac)).toBe(ns.exec("cat", [`/sys/class/net/${tapName}/address`]).trim());
  });

  test("reads the kernel's ARP requests and answers them; ping gets its echo replies (RFC 826, RFC 792)", async () => {
    const device = tap as TapDevice;
    let answered = 0;
    device.setReceiver((batch) => {
      batches.push([...batch]);
      for (const f of batch) {
        const arp = readArp(f);
        if (arp?.oper === 1 && arp.tpa === OUR_IP.join(".")) {
          // RFC 826 "Packet Reception": the reply goes to the requester with our address filled in.
          device.send(arpFrame(2, kernelMac, OUR_MAC, OUR_IP, kernelMac, KERNEL_IP));
        } else if (isEchoRequest(f, OUR_MAC)) {
          answered += device.sendBatch([echoReply(f)]);
        }
      }
    });
    const ping = ns.spawn("ping", ["-c", "3", "-i", "0.2", "-W", "2", OUR_IP.join(".")], 15_000);
    const result = await ping.done;

    const request = frames().map(readArp).find((a) => a?.oper === 1 && a.tpa === OUR_IP.join("."));
    expect(request).toEqual({
      oper: 1,
      sha: macText(kernelMac),
      spa: KERNEL_IP.join("."),
      tha: expect.stringMatching(/^(00:){5}00$|^(ff:){5}ff$/),
      tpa: OUR_IP.join("."),
    });
    expect(answered).toBe(3);
    expect(result.stdout).toMatch(/3 packets transmitted, 3 received/);
    expect(result.status).toBe(0);
    // The kernel learned our MAC from the frame we wrote.
    expect(ns.exec("ip", ["neigh", "show", OUR_IP.join("."), "dev", tapName])).toContain(macText(OUR_MAC));
  });

  test("busy-polling (setBusyPoll) still answers every ping while timers keep running; bad values are refused", async () => {
    const device = tap as TapDevice;
    expect(() => device.setBusyPoll(-1)).toThrow(RangeError);
    expect(() => device.setBusyPoll(2_000_000)).toThrow(RangeError);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 2);
    device.setBusyPoll(50_000);
    try {
      // The receiver of the previous test still answers echo requests.
      const result = await ns.spawn("ping", ["-c", "5", "-i", "0.01", "-W", "2", OUR_IP.join(".")], 15_000).done;
      expect(result.stdout).toMatch(/5 packets transmitted, 5 received/);
    } finally {
      device.setBusyPoll(0);
      clearInterval(timer);
    }
    // The spinning loop is libuv's own (zero-timeout polls), so timers still fire during it.
    expect(ticks).toBeGreaterThan(5);
  });

  test("a gratuitous ARP we write updates the kernel's neighbour table (RFC 5227 §3)", async () => {
    const device = tap as TapDevice;
    const newMac = [0x02, 0x00, 0x00, 0x77, 0x00, 0x99];
    const before = device.stats().txFrames;
    // An ARP reply with spa == tpa: the kernel updates an existing entry for 10.77.0.2.
    expect(device.send(arpFrame(2, [0xff, 0xff, 0xff, 0xff, 0xff, 0xff], newMac, OUR_IP, newMac, OUR_IP))).toBe(
      true,
    );
    expect(device.stats().txFrames).toBe(before + 1);
    const neigh = (): string => ns.exec("ip", ["neigh", "show", OUR_IP.join("."), "dev", tapName]);
    await until(() => neigh().includes(macText(newMac)), 2_000, `${macText(newMac)} in ${neigh()}`);
  });

  test("frames queued while the loop was busy arrive in order, several per batch", async () => {
    batches.length = 0;
    (tap as TapDevice).setReceiver((batch) => batches.push([...batch]));
    const count = 50;
    // Blocks this process's event loop while the kernel queues the frames on the TAP.
    ns.exec("/usr/bin/python3", [
      "-c",
      `import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n` +
        `for i in range(${count}): s.sendto(b"seq%03d" % i, ("${SILENT_IP.join(".")}", 9))`,
    ]);
    const seqs = (): number[] =>
      frames()
        .filter((f) => f.length >= 42 && f[23] === 17 && ipAt(f, 30) === SILENT_IP.join("."))
        .map((f) => Number(new TextDecoder().decode(f.subarray(45, 48))));
    await until(() => seqs().length >= count, 5_000, `${count} UDP frames`);
    expect(seqs()).toEqual(Array.from({ length: count }, (_, i) => i));
    expect(Math.max(...batches.map((b) => b.length))).toBeGreaterThan(1);
    // Frames of one batch are separate views, each exactly one frame (destination MAC first).
    for (const f of frames().filter((f) => ipAt(f, 30) === SILENT_IP.join("."))) {
      expect(macText(f.subarray(0, 6))).toBe(SILENT_MAC);
      expect(f.length).toBe(14 + 20 + 8 + 6);
    }
  });

  test("writing while the link is down counts an error instead of throwing", () => {
    const device = tap as TapDevice;
    ns.exec("ip", ["link", "set", tapName, "down"]);
    try {
      const before = device.stats();
      expect(device.send(arpFrame(1, kernelMac, OUR_MAC, OUR_IP, [0, 0, 0, 0, 0, 0], KERNEL_IP))).toBe(false);
      const after = device.stats();
      expect(after.txErrors).toBe(before.txErrors + 1);
      expect(after.lastErrno).toBe(5); // EIO: tun refuses frames for an interface that is down
    } finally {
      ns.exec("ip", ["link", "set", tapName, "up"]);
    }
  });

  test("deleting the device while open stops receiving and reports the error once", async () => {
    const name = `wsd${process.pid}`.slice(0, 15);
    const errors: TapError[] = [];
    const doomed = openTapSync(name, { onError: (e) => errors.push(e) });
    try {
      doomed.setReceiver(() => {});
      ip("link", "set", name, "netns", ns.name);
      ns.exec("ip", ["link", "del", name]);
      await until(() => errors.length > 0, 3_000, "the device error");
      expect(errors[0]?.code).toBe("WIRESTACK_ERR_TAP_OPEN");
      expect(doomed.stats().rxErrors).toBe(1);
      expect(doomed.send(new Uint8Array(60))).toBe(false);
    } finally {
      doomed.close();
    }
    await new Promise((r) => setTimeout(r, 100));
    expect(errors.length).toBe(1);
  });

  describe("user errors", () => {
    test.each([
      ["", "empty"],
      ["x".repeat(16), "16 bytes: over IFNAMSIZ - 1"],
      ["a/b", "a slash"],
      ["tap 0", "a space"],
      ["tap:0", "a colon"],
      ["tap\u00000", "a NUL"],
    ])("name %j (%s) → WIRESTACK_ERR_TAP_NAME", (name) => {
      let caught: unknown;
      try {
        openTapSync(name);
      } catch (e) {
        caught = e;
      }
      expect(caught).toBeInstanceOf(TapError);
      expect(isWirestackError(caught, "WIRESTACK_ERR_TAP_NAME")).toBe(true);
      expect((caught as TapError).name).toBe("TapError");
    });

    test("a 15-byte name is accepted (IFNAMSIZ - 1)", () => {
      const name = `w${process.pid}`.padEnd(15, "x");
      const t = openTapSync(name);
      try {
        expect(t.name).toBe(name);
      } finally {
        t.close();
      }
    });

    test("attaching to a device that is not a TAP (lo) → WIRESTACK_ERR_TAP_OPEN (EINVAL)", () => {
      expect(() => openTapSync("lo")).toThrow(expect.objectContaining({ code: "WIRESTACK_ERR_TAP_OPEN", errno: 22 }));
    });

    test("attaching to a TAP another fd holds → WIRESTACK_ERR_TAP_OPEN (EBUSY)", () => {
      const name = `wsb${process.pid}`.slice(0, 15);
      const first = openTapSync(name);
      try {
        expect(() => openTapSync(name)).toThrow(
          expect.objectContaining({ code: "WIRESTACK_ERR_TAP_OPEN", errno: 16, message: expect.stringMatching(/busy/i) }),
        );
      } finally {
        first.close();
      }
      // Closing detached it: the name is free again (a non-persistent TAP dies with its fd).
      openTapSync(name).close();
    });
  });

  describe("process lifetime", () => {
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), "wstap-"));
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    /** Runs a child (inside the namespace) that opens a TAP and then does `body`. */
    async function child(body: string, timeoutMs: number): Promise<{ status: number | null; ms: number }> {
      const script = join(dir, `child-${Math.floor(performance.now() * 1000)}.mts`);
      writeFileSync(
        script,
        `import { openTapSync } from ${JSON.stringify(pathToFileURL(TAP_ROOT.pathname).href)};\n` +
          `const name = "wsc" + process.pid;\n${body}\n`,
      );
      const start = performance.now();
      const run = ns.spawn(process.execPath, ["--import", "tsx", script], timeoutMs);
      const result = await run.done;
      return { status: result.status, ms: performance.now() - start };
    }

    test("exits by itself after close()", async () => {
      const r = await child(
        `const t = openTapSync(name); t.setReceiver(() => {}); setTimeout(() => t.close(), 50);`,
        8_000,
      );
      expect(r.status).toBe(0);
    });

    test("an open device keeps the process alive (so the test above can fail)", async () => {
      const r = await child(`const t = openTapSync(name); t.setReceiver(() => {});`, 2_500);
      expect(r.status).toBeNull(); // killed by the spawn timeout
    });

    test("process.exit() with the device open and reading does not hang", async () => {
      const r = await child(
        `const t = openTapSync(name); t.setReceiver(() => {}); setTimeout(() => process.exit(3), 50);`,
        8_000,
      );
      expect(r.status).toBe(3);
    });

    test("an exception thrown by the receiver reaches process 'uncaughtException'", async () => {
      const r = await child(
        `import { execFileSync } from "node:child_process";\n` +
          `process.on("uncaughtException", (e) => process.exit(e.message === "boom" ? 7 : 8));\n` +
          `const t = openTapSync(name); t.setReceiver(() => { throw new Error("boom"); });\n` +
          `execFileSync("ip", ["link", "set", name, "up"]);\n` +
          `execFileSync("ip", ["addr", "add", "10.78.0.1/24", "dev", name]);\n` +
          // Blocks the loop while the kernel queues an ARP request for 10.78.0.2 on the TAP.
          `try { execFileSync("ping", ["-c", "1", "-W", "1", "10.78.0.2"], { stdio: "ignore" }); } catch {}\n` +
          `setTimeout(() => process.exit(9), 3000);`,
        10_000,
      );
      expect(r.status).toBe(7);
    });

    test("unref: an open device does not keep the process alive", async () => {
      const r = await child(`const t = openTapSync(name, { ref: false }); t.setReceiver(() => {});`, 8_000);
      expect(r.status).toBe(0);
    });
  });
});
