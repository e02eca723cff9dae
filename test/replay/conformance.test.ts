/**
 * Conformance: every fixture in captures/conformance/ (recorded from the Linux kernel by
 * scripts/record-conformance.sh; see captures/conformance/README.md) replayed against wirestack playing
 * the kernel's side (10.77.0.1 / fd77::1, MAC 02:77:00:00:00:01) with the `serve` services.
 * Where wirestack differs from Linux by design the differences are asserted, not skipped.
 */
import { readFileSync } from "node:fs";
import { describe, expect, test } from "vitest";
import { replay, type ReplayOptions } from "../../src/replay/engine.ts";
import { formatReport } from "../../src/replay/report.ts";
import { startServices } from "../../src/cli/services.ts";
import { flattenFrame } from "../../src/replay/compare.ts";
import { treatmentOf } from "../../src/replay/rules.ts";

const DIR = new URL("../../captures/conformance/", import.meta.url);
const fixture = (name: string): Uint8Array => readFileSync(new URL(name, DIR));

function run(name: string, as: string, extra: Partial<ReplayOptions> = {}) {
  return replay({
    capture: fixture(name),
    as,
    setup: (stack) => startServices(stack, { services: ["echo", "discard", "chargen"] }),
    ...extra,
  });
}

describe("conformance fixtures replayed against wirestack (Linux 6.18 as the oracle)", () => {
  const matching: [string, string, string][] = [
    ["arp.pcap", "10.77.0.1", "RFC 826: who-has answered with is-at, broadcast and unicast"],
    ["ndp.pcap", "fd77::1", "RFC 4861 §7.2.4: solicited NA with target link-layer address, then echo replies"],
    ["ping4.pcap", "10.77.0.1", "RFC 792: ARP, then three echo replies"],
    ["frag4.pcap", "10.77.0.1", "RFC 791 §3.2: a fragmented echo reassembled and answered in three fragments"],
    ["frag6.pcap", "fd77::1", "RFC 8200 §4.5: the same over IPv6 with Fragment headers"],
    ["udp-closed.pcap", "10.77.0.1", "RFC 1122 §4.1.3.1 / RFC 4443 §3.1: port unreachable, IPv4 and IPv6"],
    ["tcp-closed.pcap", "10.77.0.1", "RFC 9293 §3.10.7.1: SYN to a closed port answered by RST|ACK, IPv4 and IPv6"],
    ["tcp-echo.pcap", "10.77.0.1", "RFC 9293 §3.5, §3.6: handshake, two echoes, FIN from each side"],
    ["tcp-rst.pcap", "10.77.0.1", "RFC 9293 §3.10.7.4: the peer's RST ends the connection, nothing answers it"],
    ["tcp-retrans.pcap", "10.77.0.1", "RFC 6298 §5: the lost echo is retransmitted"],
  ];
  test.each(matching)("%s as %s: %s", async (name, as) => {
    const r = await run(name, as);
    expect(formatReport(r)).toMatch(/^match:/);
    expect(r.differences).toEqual([]);
    expect(r.ok).toBe(true);
    expect(r.counters["stack.exception"] ?? 0).toBe(0);
    // Every recorded frame of the kernel's side has a counterpart, or is a bare ACK the rule excuses.
    const paired = r.pairs.filter((p) => p.frame !== 0 && p.gotFrame !== undefined).length;
    expect(paired + r.tolerated.filter((t) => t.frame !== 0).length).toBe(r.expectedFrames);
    expect(paired).toBeGreaterThan(0);
  });

  test("tcp-echo.pcap also matches as fast as the stack answers (timing: asap)", async () => {
    const r = await run("tcp-echo.pcap", "10.77.0.1", { timing: "asap" });
    expect(r.differences).toEqual([]);
  });

  test("tcp-retrans.pcap: the stack sends the lost segment twice, byte for byte", async () => {
    const r = await run("tcp-retrans.pcap", "10.77.0.1");
    const data = r.sent.map((f) => flattenFrame(f).fields.get("tcp.payload")).filter((p): p is Uint8Array => p instanceof Uint8Array && p.length > 0);
    expect(data.length).toBe(2);
    expect(Buffer.from(data[0] as Uint8Array).toString()).toBe("this echo is lost once on its way back\n");
    expect(data[1]).toEqual(data[0]);
  });

  test("tcp-zero-window.pcap: documented differences (echo timing, then segment sizes), no others", async () => {
    const r = await run("tcp-zero-window.pcap", "10.77.0.1");
    expect(r.ok).toBe(false);
    // Handshake and everything before the server's first data segment match.
    const first = r.differences[0];
    expect(first?.frame).toBe(23);
    expect(first?.layer).toBe("ipv4");
    // Only fields the README explains: payload sizes and contents, sequence and ack positions, PSH,
    // timestamp echoes, lengths, and frames left over once the two sessions have diverged.
    const allowed = new Set(["ipv4.length", "tcp.seq", "tcp.ack", "tcp.flags", "tcp.payload", "tcp.option.timestamps.tsEcr", "frame.missing", "frame.extra"]);
    expect(r.differences.filter((d) => !allowed.has(d.field))).toEqual([]);
    expect(r.counters["stack.exception"] ?? 0).toBe(0);
  });
});

describe("replay can fail: a deliberately wrong expectation", () => {
  /** tcp-echo.pcap with one byte of the kernel's first echo (frame 8) changed. */
  function tampered(): Uint8Array {
    const bytes = new Uint8Array(fixture("tcp-echo.pcap"));
    const text = Buffer.from("hello, wirestack\n");
    // The payload occurs twice (frame 6 from the client, frame 8 echoed): change the second.
    const at = Buffer.from(bytes).indexOf(text, Buffer.from(bytes).indexOf(text) + 1);
    expect(at).toBeGreaterThan(0);
    bytes[at] = "j".charCodeAt(0);
    return bytes;
  }

  test("frame, layer, field, expected and got name the changed byte", async () => {
    const r = await replay({ capture: tampered(), as: "10.77.0.1", setup: (s) => startServices(s, { services: ["echo"] }) });
    expect(r.ok).toBe(false);
    expect(r.differences).toEqual([
      {
        frame: 8,
        gotFrame: 3,
        layer: "tcp",
        field: "tcp.payload",
        expected: `17 bytes, at byte 0: ${Buffer.from("jello, w").toString("hex")}`,
        got: `17 bytes, at byte 0: ${Buffer.from("hello, w").toString("hex")}`,
      },
    ]);
    expect(formatReport(r)).toContain("frame 8 (sent #3) tcp tcp.payload: expected 17 bytes, at byte 0: 6a656c6c6f2c2077");
  });

  test("a service that is not running: the SYN|ACK is missing and a RST is extra", async () => {
    const r = await replay({ capture: fixture("tcp-echo.pcap"), as: "10.77.0.1" });
    expect(r.ok).toBe(false);
    expect(r.differences.find((d) => d.frame === 4 && d.field === "tcp.flags")).toMatchObject({ layer: "tcp", gotFrame: 2, expected: "18", got: "20" });
  });

  test("a rule override turns an ignored field into a difference (tcp.window)", async () => {
    expect(treatmentOf("tcp.window")).toBe("ignore");
    const r = await run("tcp-echo.pcap", "10.77.0.1", { rules: { "tcp.window": "exact" } });
    expect(r.differences.some((d) => d.field === "tcp.window" && d.frame === 4 && d.expected === "65160")).toBe(true);
  });

  test("the stack given another MAC: Ethernet and ARP fields follow it (rule mac)", async () => {
    const r = await run("arp.pcap", "10.77.0.1", { mac: "02:00:00:00:00:99" });
    expect(r.differences).toEqual([]);
    expect(flattenFrame(r.sent[0] as Uint8Array).fields.get("arp.senderMac")).toBe("02:00:00:00:00:99");
  });
});
