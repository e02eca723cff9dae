/**
 * `wirestack decode` checked against tools nobody here wrote.
 *
 * 1. tshark: every capture in captures/ plus frames crafted with scapy (bad checksums, 802.1Q, 802.3
 *    LLC+SNAP, truncated frames) is dissected by `tshark -T fields` and by us (`dissectFrame` +
 *    `frameJson`, what `decode --json` prints), and the fields are compared frame by frame. tshark's
 *    first occurrence of a field is the outermost header; inside an ICMP error tshark also dissects
 *    the quoted datagram, which we keep as bytes, so transport fields of an ICMP error frame are not
 *    compared. Where we stopped decoding (a truncated frame), only the layers we did decode are
 *    compared; otherwise a layer tshark found and we did not is a failure.
 * 2. tcpdump: `tcpdump -n -r FILE` (TZ=UTC) and ours (`--utc`), with and without -e, line by line.
 *    Rule for what we do not print: tcpdump's application summaries after a TCP segment's length
 *    (`: HTTP`, `: HTTP: GET …`, `: FTP: …`, `: SMTP: …`) are cut off, and an STP line keeps only
 *    `STP <version>` and its final `, length N` (the BPDU fields between them are cut). Nothing else
 *    is changed.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { dissectFrame } from "../../src/decode/dissect.ts";
import { LineFormatter } from "../../src/decode/format.ts";
import { frameJson } from "../../src/decode/json.ts";
import { CaptureReader } from "../../src/pcap/reader.ts";
import { WireError } from "../../src/wire/error.ts";
import {
  captureFiles,
  hasScapy,
  hasTcpdump,
  hasTshark,
  runScapy,
  runTool,
  skipUnless,
  tempDir,
} from "../helpers/tools.ts";

/**
 * Crafted frames, written as a classic pcap by hand so a record can say caplen < len. Frames 1–9
 * are whole; 10 and later are truncated and go to a second file (tcpdump prints its own markers
 * for those, so the line test uses only the first file).
 */
const CRAFT = String.raw`
import struct, sys
from scapy.all import Ether, IP, IPv6, TCP, UDP, ICMP, ICMPv6EchoRequest, Dot1Q, Dot3, LLC, SNAP, raw
A = dict(src="02:00:00:00:00:01", dst="02:00:00:00:00:02")
syn = Ether(**A)/IP(src="10.0.0.1", dst="10.0.0.2")/TCP(sport=1234, dport=80, flags="S", seq=1000,
      options=[("MSS", 1460), ("WScale", 7), ("Timestamp", (1, 0))])
udp = Ether(**A)/IP(src="10.0.0.1", dst="10.0.0.2")/UDP(sport=40000, dport=40001)/b"data"
whole = [
  Ether(**A)/IP(src="10.0.0.1", dst="10.0.0.2", chksum=0x1234)/ICMP(id=1, seq=1)/b"hello",       # bad IPv4 header checksum
  Ether(**A)/IP(src="10.0.0.1", dst="10.0.0.2")/TCP(sport=1234, dport=80, flags="S", seq=1000, chksum=0xbeef,
      options=[("MSS", 1460), ("WScale", 7), ("Timestamp", (1, 0))]),                              # bad TCP checksum
  Ether(**A)/IP(src="10.0.0.1", dst="10.0.0.2")/UDP(sport=40000, dport=40001, chksum=0x4321)/b"data",  # bad UDP checksum
  Ether(**A)/IPv6(src="fd00::1", dst="fd00::2")/ICMPv6EchoRequest(id=7, seq=9, cksum=0x1111)/b"ping",  # bad ICMPv6 checksum
  Ether(**A)/Dot1Q(vlan=10, prio=3)/IP(src="10.0.10.1", dst="10.0.10.2")/UDP(sport=7, dport=7)/b"vlan",
  Dot3(**A)/LLC(dsap=0xaa, ssap=0xaa, ctrl=3)/SNAP(OUI=0, code=0x0800)/IP(src="10.0.0.3", dst="10.0.0.4")/ICMP(id=2, seq=3)/b"snap",
  Ether(**A)/IP(src="10.0.0.1", dst="10.0.0.2")/TCP(sport=1234, dport=80, flags="PA", seq=5, ack=6)/(b"x"*40),
  Ether(**A)/IP(src="10.0.0.1", dst="10.0.0.2")/UDP(sport=40000, dport=40001, chksum=0)/b"nocsum",  # UDP checksum not present
  syn,
  # A handshake, then a duplicate ACK with SACK blocks: tcpdump prints the blocks relative to the
  # connection's base (print-tcp.c), as we must.
  Ether(**A)/IP(src="10.0.0.1", dst="10.0.0.2")/TCP(sport=5555, dport=80, flags="S", seq=70000),
  Ether(**A)/IP(src="10.0.0.2", dst="10.0.0.1")/TCP(sport=80, dport=5555, flags="SA", seq=900000, ack=70001),
  Ether(**A)/IP(src="10.0.0.1", dst="10.0.0.2")/TCP(sport=5555, dport=80, flags="A", seq=70001, ack=901001,
      options=[("NOP", None), ("NOP", None), ("SAck", (902449, 905345, 906793, 908241))]),
]
b_udp = raw(udp)
b_ip_short = bytearray(raw(udp)[:40]); b_ip_short[16:18] = struct.pack(">H", 100)  # IPv4 total length 100 in 26 bytes
truncated = [
  (raw(syn)[:54], len(raw(syn))),   # snap length cut the TCP options off
  (b_udp[:40], len(b_udp)),         # snap length cut inside the UDP header
  (b_udp[:38], len(b_udp)),         # only the UDP ports captured
  (bytes(b_ip_short), 40),          # IPv4 says 100 bytes, 26 are there
  (b_udp[:10], 10),                 # not even an Ethernet header
  (raw(syn)[:30], 30),              # IPv4 header cut in the middle
]
def write(path, frames):
  with open(path, "wb") as f:
    f.write(struct.pack("<IHHiIII", 0xa1b2c3d4, 2, 4, 0, 0, 65535, 1))
    for i, (data, orig) in enumerate(frames):
      f.write(struct.pack("<IIII", 1700000000 + i, 1000 * i, len(data), orig) + data)
write(sys.argv[1], [(raw(p), len(raw(p))) for p in whole])
write(sys.argv[2], truncated)
`;

/** The tshark fields compared, in the order of the -e arguments. */
const FIELDS = [
  "frame.number", "frame.len", "frame.cap_len",
  "eth.src", "eth.dst", "eth.type", "eth.len", "vlan.id", "vlan.priority",
  "llc.dsap", "llc.ssap", "llc.oui", "llc.type",
  "arp.opcode", "arp.src.hw_mac", "arp.src.proto_ipv4", "arp.dst.hw_mac", "arp.dst.proto_ipv4",
  "ip.src", "ip.dst", "ip.proto", "ip.len", "ip.hdr_len", "ip.id", "ip.ttl", "ip.checksum.status", "ip.flags.mf", "ip.frag_offset",
  "ipv6.src", "ipv6.dst", "ipv6.nxt", "ipv6.plen", "ipv6.hlim", "ipv6.fraghdr.offset", "ipv6.fraghdr.more", "ipv6.fraghdr.ident",
  "tcp.srcport", "tcp.dstport", "tcp.seq_raw", "tcp.ack_raw", "tcp.flags", "tcp.window_size_value", "tcp.len", "tcp.hdr_len",
  "tcp.checksum.status", "tcp.options.mss_val", "tcp.options.wscale.shift", "tcp.options.timestamp.tsval", "tcp.options.timestamp.tsecr",
  "udp.srcport", "udp.dstport", "udp.length", "udp.checksum.status",
  "icmp.type", "icmp.code", "icmp.checksum.status", "icmp.ident", "icmp.seq",
  "icmpv6.type", "icmpv6.code", "icmpv6.checksum.status", "icmpv6.echo.identifier", "icmpv6.echo.sequence_number",
  "icmpv6.nd.ns.target_address", "icmpv6.nd.na.target_address",
] as const;
type Field = (typeof FIELDS)[number];

/** Wireshark's `*.checksum.status` numbers. */
const CHECKSUM_STATUS: Record<string, number> = { bad: 0, good: 1, unverified: 2, "not-present": 3 };
const ARP_OPCODES: Record<string, number> = { request: 1, reply: 2, "rarp-request": 3, "rarp-reply": 4 };

function tshark(file: string): Record<Field, string>[] {
  const args = [
    "-r", file,
    "-o", "ip.defragment:FALSE", "-o", "ipv6.defragment:FALSE",
    "-o", "ip.check_checksum:TRUE", "-o", "tcp.check_checksum:TRUE", "-o", "udp.check_checksum:TRUE",
    "-T", "fields", "-E", "separator=/t", "-E", "occurrence=f",
    ...FIELDS.flatMap((f) => ["-e", f]),
  ];
  const out = runTool("tshark", args);
  return out
    .split("\n")
    .filter((l) => l.length > 0)
    .map((line) => {
      const cells = line.split("\t");
      return Object.fromEntries(FIELDS.map((f, i) => [f, cells[i] ?? ""])) as Record<Field, string>;
    });
}

/** tshark prints numbers in decimal or 0x-hex and booleans as 1/0 or True/False: one number each. */
function tsharkValue(s: string): string {
  if (s === "True") return "1";
  if (s === "False") return "0";
  if (/^0x[0-9a-f]+$/i.test(s)) return String(Number.parseInt(s, 16));
  return s;
}

type Obj = Record<string, unknown>;
const num = (v: unknown): string | undefined => (typeof v === "number" ? String(v) : undefined);
const str = (v: unknown): string | undefined => (typeof v === "string" ? v : undefined);

/** What each field should be according to our JSON; undefined = we have no such layer. */
function ourFields(j: Obj): Partial<Record<Field, string>> {
  const L = j.layers as Record<string, Obj | undefined>;
  const f: Partial<Record<Field, string>> = { "frame.len": num(j.len), "frame.cap_len": num(j.caplen) };
  const eth = L.eth;
  if (eth) {
    f["eth.src"] = str(eth.src);
    f["eth.dst"] = str(eth.dst);
    const tag = (eth.outerTag ?? eth.tag) as Obj | null;
    if (tag) {
      f["eth.type"] = num(tag.tpid);
      f["vlan.id"] = num(tag.vid);
      f["vlan.priority"] = num(tag.pcp);
    } else if (eth.kind === "ethernet-ii") f["eth.type"] = num(eth.etherType);
    else f["eth.len"] = num(eth.length);
  }
  const llc = L.llc;
  if (llc) {
    f["llc.dsap"] = num(llc.dsap);
    f["llc.ssap"] = num(llc.ssap);
    const snap = llc.snap as Obj | null;
    if (snap) {
      f["llc.oui"] = num(snap.oui);
      f["llc.type"] = num(snap.protocolId);
    }
  }
  const arp = L.arp;
  if (arp) {
    const op = arp.op as Obj;
    f["arp.opcode"] = String(ARP_OPCODES[op.kind as string] ?? op.value);
    f["arp.src.hw_mac"] = str(arp.senderMac);
    f["arp.src.proto_ipv4"] = str(arp.senderIp);
    f["arp.dst.hw_mac"] = str(arp.targetMac);
    f["arp.dst.proto_ipv4"] = str(arp.targetIp);
  }
  const ip = L.ipv4;
  if (ip) {
    f["ip.src"] = str(ip.src);
    f["ip.dst"] = str(ip.dst);
    f["ip.proto"] = num(ip.protocol);
    f["ip.len"] = num(ip.length);
    f["ip.hdr_len"] = num((ip.length as number) - (ip.payloadLength as number));
    f["ip.id"] = num(ip.ident);
    f["ip.ttl"] = num(ip.ttl);
    f["ip.checksum.status"] = String(CHECKSUM_STATUS[ip.checksum as string]);
    f["ip.flags.mf"] = ip.moreFragments ? "1" : "0";
    // tshark 4.x counts the fragment offset in 8-octet units (RFC 791 §3.1), as the header does.
    f["ip.frag_offset"] = num((ip.fragmentOffset as number) / 8);
  }
  const ip6 = L.ipv6;
  if (ip6) {
    f["ipv6.src"] = str(ip6.src);
    f["ipv6.dst"] = str(ip6.dst);
    f["ipv6.nxt"] = num(ip6.nextHeader);
    f["ipv6.plen"] = num(ip6.payloadLength);
    f["ipv6.hlim"] = num(ip6.hopLimit);
    const frag = (ip6.extensionHeaders as Obj[]).find((h) => h.kind === "fragment");
    if (frag) {
      f["ipv6.fraghdr.offset"] = num((frag.fragmentOffset as number) / 8); // RFC 8200 §4.5: 8-octet units
      f["ipv6.fraghdr.more"] = frag.moreFragments ? "1" : "0";
      f["ipv6.fraghdr.ident"] = num(frag.identification);
    }
  }
  const tcp = L.tcp;
  if (tcp) {
    f["tcp.srcport"] = num(tcp.srcPort);
    f["tcp.dstport"] = num(tcp.dstPort);
    f["tcp.seq_raw"] = num(tcp.seq);
    f["tcp.ack_raw"] = num(tcp.ack);
    f["tcp.flags"] = num(tcp.flags);
    f["tcp.window_size_value"] = num(tcp.window);
    f["tcp.len"] = num(tcp.payloadLength);
    f["tcp.hdr_len"] = num(tcp.headerLength);
    f["tcp.checksum.status"] = String(CHECKSUM_STATUS[tcp.checksum as string]);
    const opts = Array.isArray(tcp.options) ? (tcp.options as Obj[]) : [];
    const opt = (kind: string): Obj | undefined => opts.find((o) => o.kind === kind);
    f["tcp.options.mss_val"] = num(opt("mss")?.mss) ?? "";
    f["tcp.options.wscale.shift"] = num(opt("window-scale")?.shift) ?? "";
    f["tcp.options.timestamp.tsval"] = num(opt("timestamps")?.tsVal) ?? "";
    f["tcp.options.timestamp.tsecr"] = num(opt("timestamps")?.tsEcr) ?? "";
  }
  const udp = L.udp;
  if (udp) {
    f["udp.srcport"] = num(udp.srcPort);
    f["udp.dstport"] = num(udp.dstPort);
    f["udp.length"] = num(udp.length);
    f["udp.checksum.status"] = String(CHECKSUM_STATUS[udp.checksum as string]);
  }
  const icmp = L.icmpv4;
  if (icmp) {
    f["icmp.type"] = num(icmp.type);
    f["icmp.code"] = num(icmp.code);
    f["icmp.checksum.status"] = String(CHECKSUM_STATUS[icmp.checksum as string]);
    if (icmp.kind === "echo-request" || icmp.kind === "echo-reply") {
      f["icmp.ident"] = num(icmp.identifier);
      f["icmp.seq"] = num(icmp.sequence);
    }
  }
  const icmp6 = L.icmpv6;
  if (icmp6) {
    f["icmpv6.type"] = num(icmp6.type);
    f["icmpv6.code"] = num(icmp6.code);
    f["icmpv6.checksum.status"] = String(CHECKSUM_STATUS[icmp6.checksum as string]);
    if (icmp6.kind === "echo-request" || icmp6.kind === "echo-reply") {
      f["icmpv6.echo.identifier"] = num(icmp6.identifier);
      f["icmpv6.echo.sequence_number"] = num(icmp6.sequence);
    }
    if (icmp6.kind === "neighbor-solicitation") f["icmpv6.nd.ns.target_address"] = str(icmp6.target);
    if (icmp6.kind === "neighbor-advertisement") f["icmpv6.nd.na.target_address"] = str(icmp6.target);
  }
  return f;
}

/** Fields that belong to a layer: the prefix before the first dot. */
const layerOf = (field: Field): string => field.slice(0, field.indexOf("."));
const OUR_LAYER: Record<string, string> = { ip: "ipv4", icmp: "icmpv4", vlan: "eth", frame: "frame" };

/** ICMP errors quote a datagram whose headers tshark dissects as if they were the frame's own. */
function isIcmpError(j: Obj): boolean {
  const L = j.layers as Record<string, Obj | undefined>;
  const t4 = L.icmpv4?.type as number | undefined;
  const t6 = L.icmpv6?.type as number | undefined;
  return (t4 !== undefined && [3, 4, 5, 11, 12].includes(t4)) || (t6 !== undefined && t6 >= 1 && t6 <= 4);
}

/** Our JSON objects for every frame of `file`, as `decode --json` prints them. */
function ours(file: string): Obj[] {
  const reader = CaptureReader.open(readFileSync(file));
  if (reader instanceof WireError) throw new Error(`${file}: ${reader.toString()}`);
  const out: Obj[] = [];
  let n = 0;
  for (let rec = reader.next(); rec !== undefined; rec = reader.next()) {
    n++;
    out.push(JSON.parse(JSON.stringify(frameJson(n, rec.sec, rec.nsec, dissectFrame(rec.data, rec.origLen)))) as Obj);
  }
  expect(reader.error).toBeUndefined();
  return out;
}

/** Every difference between tshark's fields and ours for one file, as readable strings. */
function compareFile(file: string): { frames: number; compared: number; diffs: string[] } {
  const theirs = tshark(file);
  const mine = ours(file);
  const diffs: string[] = [];
  if (theirs.length !== mine.length) diffs.push(`frame count: tshark ${theirs.length}, ours ${mine.length}`);
  let compared = 0;
  for (let i = 0; i < Math.min(theirs.length, mine.length); i++) {
    const t = theirs[i] as Record<Field, string>;
    const j = mine[i] as Obj;
    const expected = ourFields(j);
    const stopped = j.error !== null;
    const quoted = isIcmpError(j);
    const layers = j.layers as Obj;
    for (const field of FIELDS) {
      if (field === "frame.number") continue;
      const theirValue = tsharkValue(t[field]);
      const ourValue = expected[field];
      const layer = layerOf(field);
      const ourLayer = OUR_LAYER[layer] ?? layer;
      if (ourValue === undefined) {
        if (theirValue === "") continue;
        if (ourLayer !== "frame" && ourLayer in layers) continue; // a field we do not print for this kind
        if (stopped) continue; // we stopped before this layer: only what we decoded is compared
        if (quoted && ["tcp", "udp", "icmp", "icmpv6"].includes(layer)) continue;
        diffs.push(`${file} frame ${i + 1}: ${field}: tshark ${t[field]}, ours has no ${ourLayer} layer`);
        continue;
      }
      // tshark gives no verdict for a checksum field the capture cut off; ours says "unverified".
      if (theirValue === "" && field.endsWith(".checksum.status") && ourValue === "2" && j.caplen !== j.len) continue;
      compared++;
      if (theirValue !== ourValue) diffs.push(`${file} frame ${i + 1}: ${field}: tshark ${t[field]} (${theirValue}), ours ${ourValue}`);
    }
  }
  return { frames: mine.length, compared, diffs };
}

describe.skipIf(skipUnless("tshark", hasTshark()))("decode --json against tshark -T fields", () => {
  for (const file of captureFiles()) {
    test(`every frame and field of captures/${file.split("/").pop()} agrees with tshark`, () => {
      const r = compareFile(file);
      expect(r.diffs).toEqual([]);
      expect(r.frames).toBeGreaterThan(0);
      expect(r.compared).toBeGreaterThan(r.frames * 3);
    });
  }

  describe.skipIf(skipUnless("scapy", hasScapy()))("crafted frames", () => {
    const tmp = tempDir();
    let whole = "";
    let truncated = "";
    beforeAll(() => {
      whole = join(tmp.dir, "whole.pcap");
      truncated = join(tmp.dir, "truncated.pcap");
      runScapy(tmp.dir, CRAFT, [whole, truncated]);
    });
    afterAll(() => tmp.remove());

    test("bad IPv4, TCP, UDP and ICMPv6 checksums, 802.1Q, 802.3 LLC+SNAP agree with tshark", () => {
      const r = compareFile(whole);
      expect(r.diffs).toEqual([]);
      const j = ours(whole);
      const L = (n: number) => (j[n - 1] as Obj).layers as Record<string, Obj>;
      // The comparison covers verdicts both ways: these are bad according to tshark and to us.
      expect(L(1).ipv4?.checksum).toBe("bad");
      expect(L(2).tcp?.checksum).toBe("bad");
      expect(L(3).udp?.checksum).toBe("bad");
      expect(L(4).icmpv6?.checksum).toBe("bad");
      expect(L(8).udp?.checksum).toBe("not-present");
      expect(L(9).tcp?.checksum).toBe("good");
    });

    test("the comparison fails when our checksum verdict is wrong", () => {
      const theirs = tshark(whole);
      const j = ours(whole)[1] as Obj;
      ((j.layers as Record<string, Obj>).tcp as Obj).checksum = "good";
      expect(ourFields(j)["tcp.checksum.status"]).not.toBe(tsharkValue((theirs[1] as Record<Field, string>)["tcp.checksum.status"]));
    });

    test("truncated frames: the layers we decode agree with tshark, and the frame is marked", () => {
      const r = compareFile(truncated);
      expect(r.diffs).toEqual([]);
      const j = ours(truncated);
      expect(j.length).toBe(6);
      // Snap-length cuts keep header fields and make checksums unverifiable.
      const L1 = (j[0] as Obj).layers as Record<string, Obj>;
      expect(L1.tcp?.checksum).toBe("unverified");
      const L2 = (j[1] as Obj).layers as Record<string, Obj>;
      expect(L2.udp?.checksum).toBe("unverified");
      for (const n of [4, 5, 6]) expect((j[n - 1] as Obj).error).not.toBeNull();
    });
  });
});

/** The tcpdump line with what we do not print cut off (the rule in the module comment). */
function stripTcpdump(line: string): string {
  return line
    .replace(/: (HTTP|FTP|SMTP)(: .*)?$/, "")
    .replace(/(STP 802\.1[dws]), .*(, length \d+)$/, "$1$2");
}

function ourLines(file: string, link: boolean): string[] {
  const reader = CaptureReader.open(readFileSync(file));
  if (reader instanceof WireError) throw new Error(`${file}: ${reader.toString()}`);
  const f = new LineFormatter({ link, utcOffsetMinutes: 0 });
  const lines: string[] = [];
  for (let rec = reader.next(); rec !== undefined; rec = reader.next()) lines.push(f.formatFrame(rec.sec, rec.nsec, rec.data, rec.origLen));
  return lines;
}

function tcpdumpLines(file: string, link: boolean): string[] {
  const out = runTool("tcpdump", ["-n", ...(link ? ["-e"] : []), "-r", file], { TZ: "UTC" });
  return out.split("\n").filter((l) => l.length > 0).map(stripTcpdump);
}

describe.skipIf(skipUnless("tcpdump", hasTcpdump()))("decode lines against tcpdump -n", () => {
  for (const file of captureFiles()) {
    for (const link of [false, true]) {
      test(`captures/${file.split("/").pop()}${link ? " with -e" : ""}: every line equals tcpdump's`, () => {
        const expected = tcpdumpLines(file, link);
        expect(expected.length).toBeGreaterThan(0);
        expect(ourLines(file, link)).toEqual(expected);
      });
    }
  }

  test("the strip rule cuts only application summaries and STP details", () => {
    expect(stripTcpdump("IP 1.2.3.4.80 > 5.6.7.8.1: Flags [P.], seq 1:5, ack 1, win 5, length 4: HTTP: GET / HTTP/1.1")).toBe(
      "IP 1.2.3.4.80 > 5.6.7.8.1: Flags [P.], seq 1:5, ack 1, win 5, length 4",
    );
    expect(stripTcpdump("x length 1448: HTTP")).toBe("x length 1448");
    expect(stripTcpdump("STP 802.1d, Config, Flags [none], bridge-id 8000.02:77:00:00:00:b0.8001, length 35")).toBe(
      "STP 802.1d, length 35",
    );
    expect(stripTcpdump("IP 1.2.3.4.53 > 5.6.7.8.1: domain [length 4 < 12] (invalid)")).toBe(
      "IP 1.2.3.4.53 > 5.6.7.8.1: domain [length 4 < 12] (invalid)",
    );
  });

  describe.skipIf(skipUnless("scapy", hasScapy()))("crafted frames", () => {
    const tmp = tempDir();
    let whole = "";
    beforeAll(() => {
      whole = join(tmp.dir, "whole.pcap");
      runScapy(tmp.dir, CRAFT, [whole, join(tmp.dir, "truncated.pcap")]);
    });
    afterAll(() => tmp.remove());
    for (const link of [false, true]) {
      test(`802.1Q, 802.3 LLC+SNAP and bad checksums${link ? " with -e" : ""}: lines equal tcpdump's`, () => {
        expect(ourLines(whole, link)).toEqual(tcpdumpLines(whole, link));
      });
    }
  });
});
