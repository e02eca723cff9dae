/**
 * The stack against the Linux kernel, through `wirestack serve` and `wirestack ping` on TAP devices
 * inside a network namespace this file creates and deletes (issue 3, item 8).
 *
 * Set-up: before anything of ours runs, the namespace gets a persistent TAP (`ip tuntap add`) with
 * the kernel's addresses for the ping-client tests. Then `wirestack serve` is started inside the
 * namespace; it creates its own TAP there and prints `ready`; only then does the kernel side come
 * up (link up, addresses with nodad), which is all DESIGN.md promises the stack needs. The kernel
 * then pings, arpings and sends UDP to the stack; the stack pings the kernel; serve is stopped with
 * SIGTERM and its capture is read back by tshark with checksum validation on, and by `wirestack decode`.
 *
 * Subnets: 10.81.0.0/24 + fd81::/64 (serve), 10.82.0.0/24 + fd82::/64 (ping client); no other
 * test uses them (and each lives in this file's own namespace anyway).
 */
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { createNetns, deleteAllNetns, type Netns } from "./netns.ts";
import {
  TSHARK_BROKEN_FILTER,
  testPayload,
  execIn,
  interopSkipReason,
  killAllChildren,
  pingSummary,
  runIn,
  runWirestack,
  startServe,
  tshark,
  udpRequest,
  type Exit,
  type ServeProcess,
} from "./helpers.ts";

const skipReason = interopSkipReason("test/interop/stack.test.ts");

const SERVE_TAP = `wss${process.pid}`.slice(0, 15);
const PING_TAP = `wsp${process.pid}`.slice(0, 15);
const OUR_MAC = "02:00:00:81:00:02";
const OUR_IP = "10.81.0.2";
const OUR_IP6 = "fd81::2";
const KERNEL_IP = "10.81.0.1";
const KERNEL_IP6 = "fd81::1";
const CLIENT_MAC = "02:00:00:82:00:02";
const CLIENT_IP = "10.82.0.2";
const CLIENT_IP6 = "fd82::2";
const PEER_IP = "10.82.0.1";
const PEER_IP6 = "fd82::1";

const ECHO_PORT = 7;
const DISCARD_PORT = 9;
const CLOSED_PORT = 4444;

describe.skipIf(skipReason !== undefined)("the stack against the Linux kernel (wirestack serve / ping over TAP)", () => {
  let ns: Netns;
  let dir: string;
  let pcap: string;
  let serve: ServeProcess | undefined;
  let stopped: Exit | undefined;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "wsstack-"));
    pcap = join(dir, "serve.pcap");
    ns = createNetns("wsst");
    // The ping client's TAP: persistent, configured by the kernel side before the stack attaches.
    await execIn(ns, "ip", ["tuntap", "add", "dev", PING_TAP, "mode", "tap"]);
    await execIn(ns, "ip", ["link", "set", PING_TAP, "up"]);
    await execIn(ns, "ip", ["addr", "add", `${PEER_IP}/24`, "dev", PING_TAP]);
    await execIn(ns, "ip", ["-6", "addr", "add", `${PEER_IP6}/64`, "dev", PING_TAP, "nodad"]);

    serve = await startServe(ns, [
      "--tap", SERVE_TAP, "--mac", OUR_MAC, "--ip", `${OUR_IP}/24`, "--ip6", `${OUR_IP6}/64`, "--pcap", pcap,
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
    `status ${r.status}\nstdout: ${r.stdout.toString("utf8")}\nstderr: ${r.stderr}\nserve stderr: ${serve?.stderr() ?? ""}`;

  test("serve prints one ready line naming its device and addresses", () => {
    expect(serve?.readyLine).toMatch(/^ready\b/);
    expect(serve?.readyLine).toContain(SERVE_TAP);
    expect(serve?.readyLine).toContain(OUR_IP);
  });

  describe("the kernel pings the stack; every reply is complete and matches (RFC 792, RFC 4443 §4.2)", () => {
    // 4000 bytes travel as fragments both ways (MTU 1500): RFC 791 §3.2 / RFC 8200 §4.5 reassembly
    // on our side, our own fragmentation on the way back. 1472 fills an IPv4 frame exactly and is
    // fragmented over IPv6 (40-byte header).
    test.each([
      [4, 0],
      [4, 56],
      [4, 1472],
      [4, 4000],
      [6, 0],
      [6, 56],
      [6, 1472],
      [6, 4000],
    ] as const)("IPv%i, %i data bytes", async (family, size) => {
      const host = family === 4 ? OUR_IP : OUR_IP6;
      // -p: a fill pattern, so ping compares every returned byte ("wrong data byte" otherwise).
      const r = await runIn(ns, "ping", [`-${family}`, "-c", "3", "-i", "0.2", "-W", "3", "-s", String(size), "-p", "a5c3", host], {
        timeoutMs: 20_000,
      });
      const out = r.stdout.toString("utf8");
      expect(pingSummary(out), explain(r)).toEqual({ transmitted: 3, received: 3 });
      expect(out).not.toMatch(/wrong data byte|DUP!|truncated/);
      // Every reply carries ICMP header + all the data: "<size + 8> bytes from <host>".
      const lines = out.split("\n").filter((l) => l.includes(" bytes from "));
      expect(lines.length).toBe(3);
      for (const l of lines) expect(l).toMatch(new RegExp(`^${size + 8} bytes from ${host.replace(/\./g, "\\.")}`));
      expect(r.status).toBe(0);
    });
  });

  test("arping gets replies from our MAC (RFC 826)", async () => {
    const r = await runIn(ns, "arping", ["-c", "2", "-w", "5", "-I", SERVE_TAP, OUR_IP], { timeoutMs: 15_000 });
    const out = r.stdout.toString("utf8");
    const replies = out.split("\n").filter((l) => l.startsWith("Unicast reply from"));
    expect(replies.length, explain(r)).toBe(2);
    for (const l of replies) expect(l).toContain(`${OUR_IP} [${OUR_MAC.toUpperCase()}]`);
    expect(r.status).toBe(0);
  });

  test("the kernel resolved us by neighbor discovery: our MAC in its IPv6 neighbor table (RFC 4861 §7.2)", async () => {
    // A fresh solicitation: forget what the pings above learned, then ping once.
    await execIn(ns, "ip", ["-6", "neigh", "flush", "dev", SERVE_TAP]);
    const r = await runIn(ns, "ping", ["-6", "-c", "1", "-W", "3", OUR_IP6], { timeoutMs: 10_000 });
    expect(pingSummary(r.stdout.toString("utf8")), explain(r)).toEqual({ transmitted: 1, received: 1 });
    const neigh = await execIn(ns, "ip", ["-6", "neigh", "show", OUR_IP6, "dev", SERVE_TAP]);
    expect(neigh).toMatch(new RegExp(`^${OUR_IP6} lladdr ${OUR_MAC} `, "m"));
  });

  describe("nc -u: the UDP echo service returns each datagram unchanged (RFC 862)", () => {
    test.concurrent.each([
      [4, 1],
      [4, 1400],
      [4, 8000],
      [6, 1],
      [6, 1400],
      [6, 8000],
    ] as const)("IPv%i, %i bytes", async (family, size) => {
      // concurrent: each nc waits out its 2 s idle timeout.
      const data = testPayload(size);
      const file = join(dir, `udp-${family}-${size}.bin`);
      writeFileSync(file, data);
      const host = family === 4 ? OUR_IP : OUR_IP6;
      // nc reads the file in one read() (its buffer is 16 KiB) and sends it as one datagram; -w 2:
      // give up 2 s after the last activity.
      const r = await runIn(ns, "sh", ["-c", `nc -u -${family} -w 2 ${host} ${ECHO_PORT} < ${file}`], { timeoutMs: 15_000 });
      expect(r.stdout.length, explain(r)).toBe(size);
      expect(r.stdout.equals(data)).toBe(true);
    });

    test.each([4, 6] as const)("IPv%i, 8000 bytes: exactly one datagram back, from the address asked", async (family) => {
      const data = testPayload(8000);
      const host = family === 4 ? OUR_IP : OUR_IP6;
      const got = await udpRequest(ns, family, host, ECHO_PORT, data);
      expect(got.kind).toBe("reply");
      if (got.kind !== "reply") return;
      expect(got.from).toBe(host);
      expect(got.data.equals(data)).toBe(true);
    });
  });

  test.each([4, 6] as const)("IPv%i: discard (RFC 863) answers nothing, not even an ICMP error", async (family) => {
    const got = await udpRequest(ns, family, family === 4 ? OUR_IP : OUR_IP6, DISCARD_PORT, testPayload(100), 1_500);
    expect(got).toEqual({ kind: "timeout" });
  });

  test.each([4, 6] as const)(
    "IPv%i: a closed port answers ICMP port unreachable (RFC 1122 §4.1.3.1, RFC 4443 §3.1)",
    async (family) => {
      const got = await udpRequest(ns, family, family === 4 ? OUR_IP : OUR_IP6, CLOSED_PORT, testPayload(20), 3_000);
      expect(got).toEqual({ kind: "refused" });
    },
  );

  describe("wirestack ping: the stack pings the kernel", () => {
    test.each([
      ["IPv4", PEER_IP],
      ["IPv6", PEER_IP6],
    ] as const)("%s: 3 requests, 3 replies, exit 0; its own capture is clean", async (name, host) => {
      const clientPcap = join(dir, `ping-${name}.pcap`);
      // -W 3: the kernel sometimes ignores the very first frame after the TAP gains carrier (seen:
      // the first NS unanswered, the retransmit 1 s later answered), so the first request may wait
      // one ARP/NS retransmission before it leaves.
      const r = await runWirestack(
        ns,
        ["ping", "--tap", PING_TAP, "--mac", CLIENT_MAC, "--ip", `${CLIENT_IP}/24`, "--ip6", `${CLIENT_IP6}/64`, "--pcap", clientPcap, "-c", "3", "-W", "3", host],
        30_000,
      );
      const out = r.stdout.toString("utf8");
      expect(pingSummary(out), explain(r)).toEqual({ transmitted: 3, received: 3 });
      expect(out.split("\n").filter((l) => l.includes(" bytes from ")).length).toBe(3);
      expect(r.status).toBe(0);
      // The requests as the kernel saw them: well-formed, checksums right, each answered.
      expect(await tshark(["-r", clientPcap, "-Y", TSHARK_BROKEN_FILTER])).toBe("");
      const requests = name === "IPv4" ? `ip.src == ${CLIENT_IP} && icmp.type == 8` : `ipv6.src == ${CLIENT_IP6} && icmpv6.type == 128`;
      const replies = name === "IPv4" ? `ip.src == ${PEER_IP} && icmp.type == 0` : `ipv6.src == ${PEER_IP6} && icmpv6.type == 129`;
      expect((await tshark(["-r", clientPcap, "-Y", requests])).trim().split("\n").length).toBe(3);
      expect((await tshark(["-r", clientPcap, "-Y", replies])).trim().split("\n").length).toBe(3);
    });

    test("no reply (an address nobody has): exit 1, still the summary line", async () => {
      const r = await runWirestack(
        ns,
        ["ping", "--tap", PING_TAP, "--mac", CLIENT_MAC, "--ip", `${CLIENT_IP}/24`, "-c", "1", "-W", "1", "10.82.0.99"],
        30_000,
      );
      expect(pingSummary(r.stdout.toString("utf8")), explain(r)).toEqual({ transmitted: 1, received: 0 });
      expect(r.status).toBe(1);
    });
  });

  describe("shutdown and the capture", () => {
    test("SIGTERM: serve exits 0 within a few seconds", async () => {
      expect(serve?.running()).toBe(true);
      stopped = await (serve as ServeProcess).stop("SIGTERM", 5_000);
      expect(stopped.signal, stopped.stderr).toBeNull();
      expect(stopped.status, stopped.stderr).toBe(0);
      expect(stopped.ms).toBeLessThan(5_000);
      // Its TAP was not persistent: it went away with the process.
      const links = await execIn(ns, "ip", ["-o", "link", "show"]);
      expect(links).not.toContain(SERVE_TAP);
    });

    test("tshark reads the capture with checksum validation on: no malformed frame, no bad checksum", async () => {
      expect(stopped?.status).toBe(0);
      expect(statSync(pcap).size).toBeGreaterThan(24);
      const frames = (await tshark(["-r", pcap])).trim().split("\n");
      // 8 ping rounds × 3 at least, fragments, ARP, NDP, UDP: hundreds of frames.
      expect(frames.length).toBeGreaterThan(50);
      expect(await tshark(["-r", pcap, "-Y", TSHARK_BROKEN_FILTER])).toBe("");
    });

    test("the capture holds what the tests above exchanged, both ways", async () => {
      const count = async (filter: string): Promise<number> => {
        const out = (await tshark(["-r", pcap, "-Y", filter])).trim();
        return out === "" ? 0 : out.split("\n").length;
      };
      // Our echo replies, reassembled by tshark: ICMP header + the full 4000 data bytes.
      expect(await count(`ip.src == ${OUR_IP} && icmp.type == 0 && ip.reassembled.length == 4008`)).toBe(3);
      expect(await count(`ipv6.src == ${OUR_IP6} && icmpv6.type == 129 && ipv6.reassembled.length == 4008`)).toBe(3);
      // Our fragments: more than one per 4000-byte reply.
      expect(await count(`ip.src == ${OUR_IP} && ip.flags.mf == 1`)).toBeGreaterThanOrEqual(3);
      expect(await count(`ipv6.src == ${OUR_IP6} && ipv6.fraghdr`)).toBeGreaterThanOrEqual(3);
      // ARP replies and neighbor advertisements from us.
      expect(await count(`arp.opcode == 2 && arp.src.hw_mac == ${OUR_MAC}`)).toBeGreaterThan(0);
      expect(await count(`icmpv6.type == 136 && icmpv6.nd.na.target_address == ${OUR_IP6}`)).toBeGreaterThan(0);
      // The port unreachables, and none about discard.
      expect(await count(`icmp.type == 3 && icmp.code == 3 && udp.dstport == ${CLOSED_PORT}`)).toBe(1);
      expect(await count(`icmpv6.type == 1 && icmpv6.code == 4 && udp.dstport == ${CLOSED_PORT}`)).toBe(1);
      expect(await count(`(icmp.type == 3 || icmpv6.type == 1) && udp.dstport == ${DISCARD_PORT}`)).toBe(0);
    });

    test("wirestack decode prints one line per frame of the capture", async () => {
      const r = await runWirestack(undefined, ["decode", pcap], 60_000);
      expect(r.status, r.stderr).toBe(0);
      const lines = r.stdout.toString("utf8").trimEnd().split("\n");
      const frames = (await tshark(["-r", pcap])).trim().split("\n");
      expect(lines.length).toBe(frames.length);
      expect(lines.some((l) => l.includes(OUR_IP) && /ICMP echo reply/i.test(l))).toBe(true);
    });
  });
});
