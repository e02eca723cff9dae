import { describe, expect, it } from "vitest";
import type { Ipv4Delivery } from "../../../src/net/ipv4.ts";
import { TokenBucket } from "../../../src/net/rate-limit.ts";
import { checksumOf } from "../../../src/wire/checksum.ts";
import { parseIcmpv4 } from "../../../src/wire/icmpv4.ts";
import { WireError } from "../../../src/wire/error.ts";
import { IP_A, IP_B, MAC_B, captureFrame, ip, makeHost, toHex, type TestHost } from "./ipv4-helpers.ts";

/** Hex of a frame with the IPv4 Identification (bytes 18-19) and header checksum (24-25) blanked. */
function masked(frame: Uint8Array): string {
  const f = frame.slice();
  f.fill(0, 18, 20);
  f.fill(0, 24, 26);
  return toHex(f);
}

function deliver(host: TestHost, frame: Uint8Array, now = 0): Ipv4Delivery {
  const ing = host.link.processFrame(frame, now);
  const d = ing && host.ipv4.processPacket(ing, now);
  if (!d) throw new Error("not delivered");
  return d;
}

/** Host wsrec-a (10.77.0.1) after B's ARP request `arpFrame` (which enters B in its cache). */
function hostA(arpFrame: Uint8Array, opts: Parameters<typeof makeHost>[0] = {}): TestHost {
  const host = makeHost(opts);
  host.link.processFrame(arpFrame, 0);
  host.sent.length = 0;
  return host;
}

describe("ICMP echo (RFC 792, RFC 1122 §3.2.2.6)", () => {
  it("answers Linux's echo request with the bytes Linux answers with (captures/ping4.pcap frames 3 → 4)", () => {
    const host = hostA(captureFrame("ping4.pcap", 1));
    expect(host.receive(captureFrame("ping4.pcap", 3), 10)).toBeUndefined();
    expect(host.sent).toHaveLength(1);
    const ours = host.sent[0] as Uint8Array;
    // Identical id/seq/data, TTL 64, no DF; only the IP identification (and so the checksum) differ.
    expect(masked(ours)).toBe(masked(captureFrame("ping4.pcap", 4)));
    expect(checksumOf(ours, 14, 34)).toBe(0);
  });

  it("answers the fragmented 4008-byte request with the 3 fragments Linux sends (captures/frag4.pcap 3-5 → 6-8)", () => {
    const host = hostA(captureFrame("frag4.pcap", 1));
    for (const n of [3, 4, 5]) host.receive(captureFrame("frag4.pcap", n), 5);
    expect(host.sent.map(masked)).toEqual([6, 7, 8].map((n) => masked(captureFrame("frag4.pcap", n))));
  });

  it("ignores echo requests to broadcast addresses (RFC 1122 §3.2.2.6; no smurf amplification)", () => {
    const host = hostA(captureFrame("ping4.pcap", 1));
    const f = captureFrame("ping4.pcap", 3);
    f.fill(0xff, 0, 6);
    f.set([10, 77, 0, 255], 30);
    f.fill(0, 24, 26);
    const c = checksumOf(f, 14, 34);
    f.set([c >> 8, c & 0xff], 24);
    expect(host.receive(f, 0)).toBeUndefined();
    expect(host.icmp.counters.get("drop.broadcast-echo")).toBe(1);
    expect(host.sent).toHaveLength(0);
  });

  it("sends echo requests and reports echo replies with id, seq and data (ping API)", () => {
    const b = makeHost({ mac: MAC_B, address: IP_B });
    const data = captureFrame("ping4.pcap", 3).subarray(42);
    expect(b.icmp.sendEcho(IP_A, 20312, 1, data, 0)).toBe(true);
    b.link.processFrame(captureFrame("ping4.pcap", 2), 1); // the ARP reply resolves 10.77.0.1
    expect(b.sent).toHaveLength(2); // the ARP request, then the queued echo request
    // Linux's ping sets DF (flags 0x4000); we do not by default. Everything else matches frame 3.
    expect(masked(b.sent[1] as Uint8Array)).toBe(masked(captureFrame("ping4.pcap", 3)).replace(/^(.{40})4000/, "$10000"));
    const ev = b.receive(captureFrame("ping4.pcap", 4), 2);
    expect(ev).toEqual({ kind: "echo-reply", id: 20312, seq: 1, data, src: IP_A, now: 2 });
  });
});

describe("ICMP errors sent (RFC 1122 §3.2.2, RFC 1812 §4.3.2.7)", () => {
  // captures/udp.pcap: frame 1 B's ARP request, frame 9 a UDP datagram to closed port 9, frame 10 Linux's
  // port unreachable for it.
  const toPort9 = captureFrame("udp.pcap", 9);
  const linuxUnreachable = captureFrame("udp.pcap", 10);

  it("port unreachable quotes the datagram exactly as Linux does (type 3 code 3, TOS 0xc0)", () => {
    const host = hostA(captureFrame("udp.pcap", 1));
    host.icmp.sendError(deliver(host, toPort9), "port-unreachable", 0);
    expect(host.sent).toHaveLength(1);
    expect(masked(host.sent[0] as Uint8Array)).toBe(masked(linuxUnreachable));
  });

  it("protocol unreachable has code 2 and quotes header + data", () => {
    const host = hostA(captureFrame("udp.pcap", 1));
    const d = deliver(host, toPort9);
    host.icmp.sendError(d, "protocol-unreachable", 0);
    const msg = parseIcmpv4((host.sent[0] as Uint8Array).subarray(34));
    expect(msg instanceof WireError ? msg : msg.kind === "destination-unreachable" && msg.code.kind).toBe("protocol-unreachable");
    if (msg instanceof WireError || msg.kind !== "destination-unreachable") return;
    expect(toHex(msg.invoking)).toBe(toHex(d.packet));
  });

  it("never sends an error about an ICMP error, a broadcast, a non-first fragment or a non-unicast source", () => {
    const b = makeHost({ mac: MAC_B, address: IP_B });
    b.link.processFrame(captureFrame("udp.pcap", 2), 0);
    const err = deliver(b, linuxUnreachable);
    b.icmp.sendError(err, "protocol-unreachable", 0);
    expect(b.icmp.counters.get("drop.error-about-error")).toBe(1);

    const host = hostA(captureFrame("udp.pcap", 1));
    const d = deliver(host, toPort9);
    host.icmp.sendError({ ...d, dstKind: "broadcast" }, "port-unreachable", 0);
    host.icmp.sendError({ ...d, dstKind: "multicast" }, "port-unreachable", 0);
    expect(host.icmp.counters.get("drop.error-to-broadcast")).toBe(2);
    const frag = d.header.slice();
    frag[7] = 0xb9; // fragment offset 185 × 8
    host.icmp.sendError({ ...d, header: frag }, "port-unreachable", 0);
    expect(host.icmp.counters.get("drop.error-non-first-fragment")).toBe(1);
    for (const src of ["0.0.0.0", "255.255.255.255", "10.77.0.255", "224.0.0.1", "127.0.0.1"]) {
      host.icmp.sendError({ ...d, src: ip(src) }, "port-unreachable", 0);
    }
    expect(host.icmp.counters.get("drop.error-bad-source")).toBe(5);
    expect(host.sent).toHaveLength(0);
  });

  it("holds the rate limit under a flood: 50 at once, then 100 per second (token bucket)", () => {
    const host = hostA(captureFrame("udp.pcap", 1));
    const d = deliver(host, toPort9);
    for (let i = 0; i < 10_000; i++) host.icmp.sendError(d, "port-unreachable", 0);
    expect(host.sent).toHaveLength(50);
    for (let i = 0; i < 10_000; i++) host.icmp.sendError(d, "port-unreachable", i / 10); // 0 .. 1000 ms
    expect(host.sent.length).toBeLessThanOrEqual(50 + 100);
    expect(host.sent.length).toBeGreaterThanOrEqual(50 + 99);
    expect(host.icmp.counters.get("drop.rate-limited")).toBe(20_000 - host.sent.length);
  });
});

describe("ICMP errors received (RFC 1122 §3.2.2: passed to the transport layer)", () => {
  it("reports Linux's port unreachable with the quoted protocol, addresses and ports", () => {
    const b = makeHost({ mac: MAC_B, address: IP_B });
    b.link.processFrame(captureFrame("udp.pcap", 2), 0);
    const ev = b.receive(captureFrame("udp.pcap", 10), 7);
    expect(ev).toMatchObject({
      kind: "error",
      error: { type: "destination-unreachable", code: { kind: "port-unreachable" } },
      reporter: IP_A,
      protocol: 17,
      src: IP_B,
      dst: IP_A,
      srcPort: 37328,
      dstPort: 9,
      now: 7,
    });
  });

  it("drops an error quoting a datagram we did not send", () => {
    const c = makeHost({ mac: MAC_B, address: ip("10.77.0.3") });
    const f = captureFrame("udp.pcap", 10);
    f.set([10, 77, 0, 3], 30);
    f.fill(0, 24, 26);
    const sum = checksumOf(f, 14, 34);
    f.set([sum >> 8, sum & 0xff], 24);
    expect(c.receive(f, 0)).toBeUndefined();
    expect(c.icmp.counters.get("drop.error-not-ours")).toBe(1);
  });

  it("never throws on truncated ICMP messages", () => {
    const b = makeHost({ mac: MAC_B, address: IP_B });
    const full = deliver(b, captureFrame("udp.pcap", 10));
    for (let n = 0; n <= full.payload.length; n++) {
      const d: Ipv4Delivery = { ...full, payload: full.payload.subarray(0, n) };
      expect(() => b.icmp.processIcmp(d, 0)).not.toThrow();
    }
  });
});

describe("TokenBucket (rate-limit.ts)", () => {
  it("allows a burst, then ratePerSec, and refills nothing when time steps back", () => {
    const t = new TokenBucket({ ratePerSec: 10, burst: 3 });
    expect([t.take(0), t.take(0), t.take(0), t.take(0)]).toEqual([true, true, true, false]);
    expect(t.take(99)).toBe(false);
    expect(t.take(100)).toBe(true);
    expect(t.take(50)).toBe(false);
    expect(t.available(10_000)).toBe(3);
  });
});
