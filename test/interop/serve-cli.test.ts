/**
 * `wirestack serve` as DESIGN.md's command-line contract describes it, outside the protocol
 * details that stack.test.ts covers: the `ready` line, `--pcap -` (the capture on stdout, `ready`
 * on stderr), SIGINT and SIGTERM (exit 0 with the capture flushed), and the error contract (one
 * line on stderr, exit 2 for usage, 1 for runtime, no stack trace without --debug).
 *
 * Subnets: 10.83.0.0/24 and fd83::/64, inside this file's own namespace.
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createNetns, deleteAllNetns, type Netns } from "./netns.ts";
import {
  TSHARK_BROKEN_FILTER,
  execIn,
  interopSkipReason,
  killAllChildren,
  pingSummary,
  runIn,
  runWirestack,
  startServe,
  tshark,
  type Exit,
} from "./helpers.ts";

const skipReason = interopSkipReason("test/interop/serve-cli.test.ts");

const OUR_MAC = "02:00:00:83:00:02";
const OUR_IP = "10.83.0.2";
const OUR_IP6 = "fd83::2";
const KERNEL_IP = "10.83.0.1";
const KERNEL_IP6 = "fd83::1";

/** pcap (µs or ns, either byte order) and pcapng magic numbers, as the first four bytes. */
const CAPTURE_MAGICS = ["d4c3b2a1", "a1b2c3d4", "4d3cb2a1", "a1b23c4d", "0a0d0d0a"];

/** stderr holds exactly one line and no stack trace. */
function expectOneLine(r: Exit): void {
  const lines = r.stderr.split("\n").filter((l) => l.length > 0);
  expect(lines.length, r.stderr).toBe(1);
  expect(r.stderr).not.toMatch(/^\s+at /m);
  expect(lines[0]).toMatch(/^wirestack: /);
}

describe("serve usage errors (exit 2, one line; no TAP is opened)", () => {
  test.each([
    [["serve", "--mac", OUR_MAC, "--ip", `${OUR_IP}/24`], /--tap/],
    [["serve", "--tap"], /--tap needs a value/],
    [["serve", "--tap", "x", "--ip", `${OUR_IP}/24`, "--bogus"], /unknown option --bogus/],
    [["serve", "--tap", "x", "--ip", `${OUR_IP}/24`, "--services", "gopher"], /gopher/],
    [["serve", "--tap", "x", "--ip", `${OUR_IP}/24`, "extra"], /extra/],
  ])("%j", async (args, message) => {
    const r = await runWirestack(undefined, args, 30_000);
    expect(r.status, r.stderr).toBe(2);
    expectOneLine(r);
    expect(r.stderr).toMatch(message);
    expect(r.stdout.length).toBe(0);
  });
});

describe.skipIf(skipReason !== undefined)("wirestack serve on a TAP in a namespace", () => {
  let ns: Netns;
  let dir: string;
  let n = 0;
  const tapName = (): string => `wsc${process.pid}n${n++}`.slice(0, 15);

  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "wsserve-"));
    ns = createNetns("wssv");
  });

  afterAll(async () => {
    try {
      await killAllChildren();
    } finally {
      deleteAllNetns();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  /** Brings the kernel side of `tap` up with addresses on our subnets. */
  async function kernelSide(tap: string): Promise<void> {
    await execIn(ns, "ip", ["link", "set", tap, "up"]);
    await execIn(ns, "ip", ["addr", "add", `${KERNEL_IP}/24`, "dev", tap]);
    await execIn(ns, "ip", ["-6", "addr", "add", `${KERNEL_IP6}/64`, "dev", tap, "nodad"]);
  }

  /** One kernel ping to `host`; every serve's TAP (and the kernel's addresses on it) dies with it. */
  async function pingOnce(host: string): Promise<Exit> {
    return runIn(ns, "ping", ["-c", "1", "-W", "3", host], { timeoutMs: 10_000 });
  }

  test.each(["SIGTERM", "SIGINT"] as const)(
    "%s: exit 0 within a few seconds, the capture flushed to the last frame",
    async (signal) => {
      const tap = tapName();
      const pcap = join(dir, `${signal}.pcap`);
      const serve = await startServe(ns, ["--tap", tap, "--mac", OUR_MAC, "--ip", `${OUR_IP}/24`, "--ip6", `${OUR_IP6}/64`, "--pcap", pcap]);
      expect(serve.readyLine).toMatch(/^ready\b/);
      await kernelSide(tap);
      const p4 = await pingOnce(OUR_IP);
      expect(pingSummary(p4.stdout.toString("utf8")), serve.stderr()).toEqual({ transmitted: 1, received: 1 });
      const p6 = await pingOnce(OUR_IP6);
      expect(pingSummary(p6.stdout.toString("utf8")), serve.stderr()).toEqual({ transmitted: 1, received: 1 });

      const exit = await serve.stop(signal, 5_000);
      expect(exit.signal, exit.stderr).toBeNull();
      expect(exit.status, exit.stderr).toBe(0);
      expect(exit.ms).toBeLessThan(5_000);
      // Both echo replies, the last frames we sent, are in the file.
      const replies = await tshark(["-r", pcap, "-Y", `(ip.src == ${OUR_IP} && icmp.type == 0) || (ipv6.src == ${OUR_IP6} && icmpv6.type == 129)`]);
      expect(replies.trim().split("\n").length).toBe(2);
      expect(await tshark(["-r", pcap, "-Y", TSHARK_BROKEN_FILTER])).toBe("");
    },
  );

  test("--pcap -: the capture streams on stdout (tshark -r - reads it), ready goes to stderr", async () => {
    const tap = tapName();
    const serve = await startServe(ns, ["--tap", tap, "--mac", OUR_MAC, "--ip", `${OUR_IP}/24`, "--pcap", "-"]);
    expect(serve.readyLine).toMatch(/^ready\b/);
    await kernelSide(tap);
    const p = await runIn(ns, "ping", ["-c", "3", "-i", "0.2", "-W", "3", OUR_IP], { timeoutMs: 15_000 });
    expect(pingSummary(p.stdout.toString("utf8")), serve.stderr()).toEqual({ transmitted: 3, received: 3 });
    const exit = await serve.stop("SIGTERM", 5_000);
    expect(exit.status, exit.stderr).toBe(0);

    const capture = exit.stdout;
    expect(CAPTURE_MAGICS).toContain(capture.subarray(0, 4).toString("hex"));
    expect(capture.includes(Buffer.from("ready"))).toBe(false);
    const frames = (await tshark(["-r", "-"], capture)).trim().split("\n");
    expect(frames.length).toBeGreaterThanOrEqual(6 + 2); // 3 requests + 3 replies + ARP
    expect(await tshark(["-r", "-", "-Y", TSHARK_BROKEN_FILTER], capture)).toBe("");
    expect(await tshark(["-r", "-", "-Y", `ip.src == ${OUR_IP} && icmp.type == 0`], capture)).toMatch(/(.*\n){3}/);
  });

  test("wirestack decode reads serve's capture", async () => {
    const tap = tapName();
    const pcap = join(dir, "decode.pcap");
    const serve = await startServe(ns, ["--tap", tap, "--mac", OUR_MAC, "--ip", `${OUR_IP}/24`, "--pcap", pcap]);
    await kernelSide(tap);
    const p = await pingOnce(OUR_IP);
    expect(pingSummary(p.stdout.toString("utf8")), serve.stderr()).toEqual({ transmitted: 1, received: 1 });
    expect((await serve.stop()).status).toBe(0);
    const r = await runWirestack(undefined, ["decode", pcap]);
    expect(r.status, r.stderr).toBe(0);
    const text = r.stdout.toString("utf8");
    expect(text).toMatch(new RegExp(`ARP, Reply ${OUR_IP.replace(/\./g, "\\.")} is-at ${OUR_MAC}`));
    expect(text).toMatch(new RegExp(`IP ${OUR_IP.replace(/\./g, "\\.")} > ${KERNEL_IP.replace(/\./g, "\\.")}: ICMP echo reply`));
    expect(readFileSync(pcap).length).toBeGreaterThan(24);
  });

  test("a bad --ip: one line naming the address, exit 1 or 2, no stack trace", async () => {
    const r = await runWirestack(ns, ["serve", "--tap", tapName(), "--mac", OUR_MAC, "--ip", "10.83.0.300/24"]);
    expect([1, 2]).toContain(r.status);
    expectOneLine(r);
    expect(r.stderr).toContain("10.83.0.300/24");
  });

  test("a bad --mac: one line, exit 1 or 2, no stack trace", async () => {
    const r = await runWirestack(ns, ["serve", "--tap", tapName(), "--mac", "02:00:00:83:00", "--ip", `${OUR_IP}/24`]);
    expect([1, 2]).toContain(r.status);
    expectOneLine(r);
    expect(r.stderr).toContain("02:00:00:83:00");
  });

  test("--debug adds the stack trace to the error", async () => {
    const r = await runWirestack(ns, ["serve", "--debug", "--tap", tapName(), "--mac", OUR_MAC, "--ip", "10.83.0.300/24"]);
    expect([1, 2]).toContain(r.status);
    expect(r.stderr).toMatch(/^\s+at /m);
  });

  test("a TAP another serve holds: one line saying it is busy, exit 1; the first keeps serving", async () => {
    const tap = tapName();
    const first = await startServe(ns, ["--tap", tap, "--mac", OUR_MAC, "--ip", `${OUR_IP}/24`]);
    try {
      const r = await runWirestack(ns, ["serve", "--tap", tap, "--mac", "02:00:00:83:00:03", "--ip", "10.83.0.3/24"]);
      expect(r.status, r.stderr).toBe(1);
      expectOneLine(r);
      expect(r.stderr).toMatch(/busy/i);
      expect(r.stderr).toContain(tap);
      await kernelSide(tap);
      const p = await pingOnce(OUR_IP);
      expect(pingSummary(p.stdout.toString("utf8")), first.stderr()).toEqual({ transmitted: 1, received: 1 });
    } finally {
      const exit = await first.stop();
      expect(exit.status, exit.stderr).toBe(0);
    }
  });
});
