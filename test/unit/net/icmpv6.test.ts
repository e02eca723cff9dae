import { describe, expect, it } from "vitest";
import { ICMPV6_MAX_QUOTE } from "../../../src/net/icmpv6.ts";
import { ipv6ToString } from "../../../src/wire/ip-address.ts";
import {
  ECHO,
  ECHO_FROM_UNSPECIFIED,
  ECHO_MCAST,
  ECHO_REPLY,
  ECHO_REPLY_IN,
  ECHO_REQUEST_OUT,
  ERR_NOT_OURS,
  ERR_WITH_BAD_OPTION,
  ICMP_ERR,
  OPT_ICMP,
  PEER_ADDR,
  UDP_CLOSED,
  UNKNOWN_NH,
  makeNet,
  parseSent,
  toHex,
} from "./ipv6-fixtures.ts";

describe("echo (RFC 4443 §4)", () => {
  it("§4.2: an echo request is answered byte for byte as scapy builds the reply", () => {
    const net = makeNet();
    expect(net.receive(ECHO, 0).event).toBeUndefined();
    const [reply] = net.link.take();
    expect(toHex(reply?.packet as Uint8Array)).toBe(toHex(ECHO_REPLY));
    expect(ipv6ToString(reply?.nextHop as Uint8Array)).toBe("fd00::2");
  });

  it("§4.2: an echo request to a multicast group is answered from a unicast address", () => {
    const net = makeNet();
    net.receive(ECHO_MCAST, 0, true);
    const { ip, icmp } = parseSent(net.link.take()[0]?.packet as Uint8Array);
    expect(ipv6ToString(ip.src)).toBe("fd00::1");
    expect(icmp).toMatchObject({ kind: "echo-reply", identifier: 0x1234, sequence: 8 });
  });

  it("an echo request from :: is not answered", () => {
    const net = makeNet();
    net.receive(ECHO_FROM_UNSPECIFIED, 0);
    expect(net.link.sent).toHaveLength(0);
  });

  it("an echo reply becomes an event for the ping API; sendEcho builds the request", () => {
    const net = makeNet();
    expect(net.icmp.sendEcho(PEER_ADDR, 0x99, 3, new TextEncoder().encode("ping"), 0)).toBe(true);
    expect(toHex(net.link.take()[0]?.packet as Uint8Array)).toBe(toHex(ECHO_REQUEST_OUT));
    const { event } = net.receive(ECHO_REPLY_IN, 5);
    expect(event).toMatchObject({ kind: "echo-reply", family: 6, id: 0x99, seq: 3, now: 5 });
    if (event?.kind !== "echo-reply") throw new Error();
    expect(new TextDecoder().decode(event.data)).toBe("pong");
  });
});

describe("received errors (RFC 4443 §2.4 (a), §3)", () => {
  it("§3.1: destination unreachable becomes an error event with the quoted ports", () => {
    const net = makeNet();
    const { event } = net.receive(ICMP_ERR, 0);
    expect(event).toMatchObject({
      kind: "error",
      type: "destination-unreachable",
      code: 4,
      reason: "port-unreachable",
      quoted: { protocol: 17, srcPort: 5000, dstPort: 9 },
    });
    if (event?.kind !== "error") throw new Error();
    expect(ipv6ToString(event.quoted.dst)).toBe("fd00::2");
    expect(ipv6ToString(event.from)).toBe("fd00::2");
    // The quoted transport header onwards, for TCP's RFC 5927 §4.1 SEQ check: UDP 5000 → 9 here.
    expect(Array.from(event.quoted.upperLayer?.subarray(0, 4) ?? [])).toEqual([0x13, 0x88, 0x00, 0x09]);
  });

  it("an error quoting a packet we did not send is dropped (RFC 5927 §4.1)", () => {
    const net = makeNet();
    expect(net.receive(ERR_NOT_OURS, 0).event).toBeUndefined();
    expect(net.icmp.counters.get("drop.error-not-ours")).toBe(1);
  });
});

describe("sending errors (RFC 4443 §2.4)", () => {
  it("§2.4 (c): port unreachable quotes as much as fits in 1280 bytes", () => {
    const net = makeNet();
    const { d } = net.receive(UDP_CLOSED, 0);
    expect(d?.protocol).toBe(17);
    expect(net.icmp.sendError(d!, "port-unreachable", 0)).toBe(true);
    const [sent] = net.link.take();
    expect(sent?.packet.length).toBe(1280);
    const { ip, icmp } = parseSent(sent?.packet as Uint8Array);
    expect(ipv6ToString(ip.src)).toBe("fd00::1");
    expect(ipv6ToString(ip.dst)).toBe("fd00::2");
    if (icmp?.kind !== "destination-unreachable") throw new Error(String(icmp?.kind));
    expect(icmp.code.kind).toBe("port-unreachable");
    expect(icmp.invoking.length).toBe(ICMPV6_MAX_QUOTE);
    expect(toHex(icmp.invoking)).toBe(toHex(UDP_CLOSED.subarray(0, ICMPV6_MAX_QUOTE)));
  });

  it("§2.4 (e.1): no error about an ICMPv6 error, even one carrying an option that asks for it", () => {
    const net = makeNet();
    const { d } = net.receive(ICMP_ERR, 0);
    expect(net.icmp.sendError(d!, "port-unreachable", 0)).toBe(false);
    // RFC 8200 §4.2 would answer option type 10xxxxxx with a Parameter Problem; the packet is an error.
    net.receive(ERR_WITH_BAD_OPTION, 0);
    expect(net.link.sent).toHaveLength(0);
    expect(net.icmp.counters.get("drop.error-about-error")).toBe(2);
  });

  it("§2.4 (e.3): not for a multicast destination, except Packet Too Big", () => {
    const net = makeNet();
    const { d } = net.receive(ECHO_MCAST, 0, true);
    net.link.take();
    expect(net.icmp.sendError(d!, "port-unreachable", 0)).toBe(false);
    expect(net.icmp.sendError(d!, "packet-too-big", 0, 1280)).toBe(true);
    const { icmp } = parseSent(net.link.take()[0]?.packet as Uint8Array);
    expect(icmp).toMatchObject({ kind: "packet-too-big", mtu: 1280 });
  });

  it("§2.4 (e.4): not for a packet that came in a link-layer multicast frame", () => {
    const net = makeNet();
    const { d } = net.receive(ECHO, 0, true);
    net.link.take();
    expect(net.icmp.sendError(d!, "port-unreachable", 0)).toBe(false);
    expect(net.icmp.counters.get("drop.error-multicast")).toBe(1);
  });

  it("§2.4 (e.6): not to the unspecified source", () => {
    const net = makeNet();
    const { d } = net.receive(ECHO_FROM_UNSPECIFIED, 0);
    expect(net.icmp.sendError(d!, "port-unreachable", 0)).toBe(false);
    expect(net.icmp.counters.get("drop.error-bad-source")).toBe(1);
  });

  it("§2.4 (f): a flood of bad packets gets at most burst + rate × time errors", () => {
    const net = makeNet({ rate: { ratePerSec: 10, burst: 5 } });
    for (let i = 0; i < 1000; i++) net.receive(UNKNOWN_NH, 0);
    expect(net.link.take()).toHaveLength(5);
    // 300 ms later the bucket holds 3 tokens.
    for (let i = 0; i < 1000; i++) net.receive(OPT_ICMP, 300);
    expect(net.link.take()).toHaveLength(3);
    expect(net.icmp.counters.get("drop.rate-limited")).toBe(1992);
  });

  it("the default limit holds under a flood too (100/s, burst 50)", () => {
    const net = makeNet();
    for (let t = 0; t < 10_000; t += 10) for (let i = 0; i < 10; i++) net.receive(UNKNOWN_NH, t);
    const sent = net.link.take().length;
    expect(sent).toBeLessThanOrEqual(50 + 100 * 10);
    expect(sent).toBeGreaterThan(900);
  });
});
