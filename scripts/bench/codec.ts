/**
 * Parse and emit rates of the header codecs, one header at a time and Ethernet+IPv4+TCP together, on
 * real frames: captures/http.pcap frame 5 (a pure ACK from the Linux kernel with the NOP NOP
 * timestamps option, 66 bytes) and, since that capture holds no UDP, captures/udp.pcap frame 3.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { CaptureReader } from "../../src/pcap/reader.ts";
import type { PseudoHeader } from "../../src/wire/checksum.ts";
import { WireError } from "../../src/wire/error.ts";
import { emitEthernet, parseEthernet, type EthernetRepr } from "../../src/wire/ethernet.ts";
import { emitIpv4Header, parseIpv4, type Ipv4Repr } from "../../src/wire/ipv4.ts";
import { emitTcp, parseTcp, type TcpRepr } from "../../src/wire/tcp.ts";
import { emitUdp, parseUdp, type UdpRepr } from "../../src/wire/udp.ts";
import { opsRate, type BenchConfig, type BenchResult, type BenchSection } from "./common.ts";

/** Frame `n` (1-based) of a capture file. */
function frameOf(path: string, n: number): Uint8Array {
  const reader = CaptureReader.open(readFileSync(path));
  if (reader instanceof WireError) throw new Error(`${path}: ${reader.toString()}`);
  let i = 0;
  for (let rec = reader.next(); rec !== undefined; rec = reader.next()) if (++i === n) return rec.data;
  throw new Error(`${path} has no frame ${n}`);
}

function ok<T>(x: T | WireError, what: string): T {
  if (x instanceof WireError) throw new Error(`${what}: ${x.toString()}`);
  return x;
}

interface Layers {
  readonly frame: Uint8Array;
  readonly eth: EthernetRepr;
  readonly ip: Ipv4Repr;
  readonly ipBytes: Uint8Array;
  readonly ph: PseudoHeader;
}

function ipLayers(frame: Uint8Array, what: string): Layers {
  const eth = ok(parseEthernet(frame), what);
  const ip = ok(parseIpv4(eth.payload), what);
  return { frame, eth, ip, ipBytes: eth.payload, ph: { family: 4, src: ip.src, dst: ip.dst } };
}

/** The codec section of the benchmark. */
export const codecSection: BenchSection = {
  name: "codecs",
  run(config: BenchConfig): BenchResult[] {
    const n = config.codecIterations;
    const t = ipLayers(frameOf(join(config.root, "captures/http.pcap"), 5), "http.pcap frame 5");
    const u = ipLayers(frameOf(join(config.root, "captures/udp.pcap"), 3), "udp.pcap frame 3");
    const tcp: TcpRepr = ok(parseTcp(t.ip.payload), "http.pcap frame 5 TCP");
    const udp: UdpRepr = ok(parseUdp(u.ip.payload), "udp.pcap frame 3 UDP");
    if (tcp.options instanceof WireError || !tcp.options.some((o) => o.kind === "timestamps")) {
      throw new Error("http.pcap frame 5 should carry the timestamps option");
    }
    const ethHeaderLen = t.frame.length - t.eth.payload.length;
    const ipHeaderLen = t.ipBytes.length - t.ip.payload.length;
    const tcpBytes = t.ip.payload;
    const udpBytes = u.ip.payload;
    const out = new Uint8Array(2048).fill(0xaa);
    const ethHeader = { kind: "ethernet-ii" as const, dst: t.eth.dst, src: t.eth.src, etherType: 0x0800 };
    const tcpLen = tcpBytes.length;

    const rates: [string, string, () => number][] = [
      ["parse.ethernet", "parseEthernet", () => (parseEthernet(t.frame) as EthernetRepr).payload.length],
      ["parse.ipv4", "parseIpv4", () => (parseIpv4(t.ipBytes) as Ipv4Repr).ttl],
      ["parse.tcp", "parseTcp (timestamps option)", () => (parseTcp(tcpBytes) as TcpRepr).window],
      ["parse.udp", "parseUdp", () => (parseUdp(udpBytes) as UdpRepr).srcPort],
      [
        "parse.eth-ipv4-tcp",
        "Ethernet+IPv4+TCP parse",
        () => {
          const e = parseEthernet(t.frame);
          if (e instanceof WireError) return 0;
          const i = parseIpv4(e.payload);
          if (i instanceof WireError) return 0;
          const s = parseTcp(i.payload);
          return s instanceof WireError ? 0 : s.window;
        },
      ],
      ["emit.ethernet", "emitEthernet (header)", () => emitEthernet(ethHeader, out, 0)],
      ["emit.ipv4", "emitIpv4Header", () => emitIpv4Header(t.ip, tcpLen, out, ethHeaderLen)],
      ["emit.tcp", "emitTcp (timestamps option, checksum)", () => emitTcp(tcp, out, ethHeaderLen + ipHeaderLen, t.ph)],
      ["emit.udp", "emitUdp (checksum)", () => emitUdp(udp, out, 34, u.ph)],
      [
        "emit.eth-ipv4-tcp",
        "Ethernet+IPv4+TCP emit",
        () => {
          const at = emitIpv4Header(t.ip, tcpLen, out, emitEthernet(ethHeader, out, 0));
          return emitTcp(tcp, out, at, t.ph);
        },
      ],
    ];
    const results: BenchResult[] = [];
    for (const [name, what, body] of rates) {
      const value = opsRate(n, body);
      config.log(`${name}: ${value.toFixed(2)} M ops/s`);
      results.push({ name, value, unit: "M ops/s", note: `${what}, ${n} iterations after ${Math.floor(n / 10)} warm-up` });
    }
    return results;
  },
};
