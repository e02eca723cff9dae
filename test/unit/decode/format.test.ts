/**
 * `wirestack decode` line format and command line: tcpdump's relative/absolute sequence numbers
 * (-S), the link-level header (-e), the marker of a malformed frame, a link type we do not decode,
 * and the command's exit codes (DESIGN.md "The command line": 2 usage, 1 runtime, one line on stderr).
 * Frames come from captures/ (recorded by scripts/record-captures.sh; see captures/README.md).
 */
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterAll, describe, expect, test } from "vitest";
import { dissectFrame } from "../../../src/decode/dissect.ts";
import { LineFormatter } from "../../../src/decode/format.ts";
import { frameJson } from "../../../src/decode/json.ts";
import { readCapture, type CaptureRecord } from "../../../src/pcap/reader.ts";
import { WireError } from "../../../src/wire/error.ts";
import { CAPTURES_DIR, tempDir } from "../../helpers/tools.ts";

const BIN = resolve(import.meta.dirname, "../../../bin/wirestack.mjs");

function records(name: string): CaptureRecord[] {
  const cap = readCapture(new Uint8Array(readFileSync(join(CAPTURES_DIR, name))));
  if (cap instanceof WireError) throw new Error(`${name}: ${cap.toString()}`);
  return cap.records;
}

function lines(name: string, opts: ConstructorParameters<typeof LineFormatter>[0]): string[] {
  const f = new LineFormatter({ utcOffsetMinutes: 0, ...opts });
  return records(name).map((r) => f.formatFrame(r.sec, r.nsec, r.data, r.origLen));
}

/** The TCP fields of frame `i` (0-based) of a capture, as `decode --json` gives them. */
function tcpOf(name: string, i: number): { seq: number; ack: number } {
  const r = records(name)[i] as CaptureRecord;
  const j = frameJson(i + 1, r.sec, r.nsec, dissectFrame(r.data, r.origLen)) as { layers: { tcp: { seq: number; ack: number } } };
  return j.layers.tcp;
}

describe("TCP sequence numbers (tcpdump print-tcp.c, -S)", () => {
  // http.pcap: frame 3 SYN (client), 4 SYN-ACK (server), 5 ACK (client), 6 the GET (82 bytes).
  const syn = tcpOf("http.pcap", 2);
  const synAck = tcpOf("http.pcap", 3);

  test("relative after the handshake: the ACK says ack 1, the request seq 1:83", () => {
    const l = lines("http.pcap", {});
    expect(l[2]).toContain(`Flags [S], seq ${syn.seq}, win`);
    expect(l[3]).toContain(`Flags [S.], seq ${synAck.seq}, ack ${syn.seq + 1}, win`);
    expect(l[4]).toContain("Flags [.], ack 1, win");
    expect(l[5]).toContain("Flags [P.], seq 1:83, ack 1, win");
  });

  test("-S prints the numbers from the header", () => {
    const l = lines("http.pcap", { absoluteSeq: true });
    expect(l[4]).toContain(`Flags [.], ack ${(synAck.seq + 1) >>> 0}, win`);
    expect(l[5]).toContain(`Flags [P.], seq ${syn.seq + 1}:${syn.seq + 83}, ack ${(synAck.seq + 1) >>> 0}, win`);
  });
});

describe("-e: the link-level header", () => {
  test("Ethernet II: MACs, EtherType and frame length, then the packet without its protocol name", () => {
    const l = lines("arp.pcap", { link: true });
    expect(l[0]).toMatch(
      /^\d\d:\d\d:\d\d\.\d{6} 02:77:00:00:00:01 > ff:ff:ff:ff:ff:ff, ethertype ARP \(0x0806\), length 42: Request who-has 10\.77\.0\.2 \(ff:ff:ff:ff:ff:ff\) tell 10\.77\.0\.1, length 28$/,
    );
    expect(lines("arp.pcap", {})[0]).toContain(" ARP, Request who-has 10.77.0.2 ");
  });

  test("802.3: the length field, the LLC header spelled out, STP version and length", () => {
    const l = lines("stp.pcap", { link: true });
    expect(l[0]).toMatch(
      / 02:77:00:00:00:01 > 01:80:c2:00:00:00, 802\.3, length 38: LLC, dsap STP \(0x42\) Individual, ssap STP \(0x42\) Command, ctrl 0x03: STP 802\.1d, length 35$/,
    );
    expect(lines("stp.pcap", {})[0]).toMatch(/^\S+ STP 802\.1d, length 35$/);
  });
});

describe("frames that stop decoding early", () => {
  const echo = records("ping4.pcap")[2] as CaptureRecord; // ICMP echo request, 98 bytes

  test("an IPv4 total length past the frame (RFC 791 §3.1) prints the marker", () => {
    const bad = Uint8Array.from(echo.data);
    bad[16] = 0x0f; // Total Length 4095 in an 84-byte packet
    bad[17] = 0xff;
    const line = new LineFormatter({ utcOffsetMinutes: 0 }).formatFrame(0, 0, bad, bad.length);
    expect(line).toBe("00:00:00.000000 [|ipv4: truncated total length 4095 > 84 bytes]");
  });

  test("a frame cut inside the Ethernet header prints only the marker", () => {
    const line = new LineFormatter({ utcOffsetMinutes: 0 }).formatFrame(0, 0, echo.data.subarray(0, 9), 9);
    expect(line).toMatch(/^00:00:00\.000000 \[\|ether(net)?: truncated/);
  });

  test("a snap-length cut keeps the header fields and prints no marker", () => {
    const line = new LineFormatter({ utcOffsetMinutes: 0 }).formatFrame(0, 0, echo.data.subarray(0, 42), echo.origLen);
    expect(line).toMatch(/IP 10\.77\.0\.2 > 10\.77\.0\.1: ICMP echo request, id \d+, seq 1, length 64$/);
  });

  test("--json names the layer and reason where decoding stopped", () => {
    const j = frameJson(1, 0, 0, dissectFrame(echo.data.subarray(0, 30), 30));
    expect(j.error).toMatchObject({ layer: "ipv4", reason: "truncated" });
    expect(Object.keys(j.layers as object)).toEqual(["eth"]);
  });
});

/** Runs the command; never through a shell. */
function cli(args: string[], input?: string): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { encoding: "utf8", timeout: 30_000, input });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("wirestack decode: exit codes and errors (DESIGN.md, The command line)", () => {
  const tmp = tempDir();
  afterAll(() => tmp.remove());

  test("a pcap of a link type we do not decode prints one line per frame saying so", () => {
    // Classic pcap, LINKTYPE_RAW (101): one 20-byte record.
    const file = join(tmp.dir, "raw.pcap");
    const b = Buffer.alloc(24 + 16 + 20);
    b.writeUInt32LE(0xa1b2c3d4, 0);
    b.writeUInt16LE(2, 4);
    b.writeUInt16LE(4, 6);
    b.writeUInt32LE(65535, 16);
    b.writeUInt32LE(101, 20);
    b.writeUInt32LE(1, 24);
    b.writeUInt32LE(20, 32);
    b.writeUInt32LE(20, 36);
    b[40] = 0x45;
    writeFileSync(file, b);
    const r = cli(["decode", file, "--utc"]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);
    expect(r.stdout).toBe("[link type 101 not decoded], length 20\n");
  });

  test("a missing file: exit 1, one line on stderr, no stack trace", () => {
    const r = cli(["decode", join(tmp.dir, "absent.pcap")]);
    expect(r.status).toBe(1);
    expect(r.stdout).toBe("");
    expect(r.stderr).toMatch(/^wirestack: .*absent\.pcap.*\n$/);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  test("a file that is not a capture: exit 1, one line", () => {
    const file = join(tmp.dir, "text.pcap");
    writeFileSync(file, "this is not a capture file\n");
    const r = cli(["decode", file]);
    expect(r.status).toBe(1);
    expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(r.stderr).toContain("not a pcap or pcapng file");
  });

  test("an unknown flag is a usage error: exit 2", () => {
    const r = cli(["decode", join(CAPTURES_DIR, "arp.pcap"), "--bogus"]);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe("");
    expect(r.stderr.trimEnd().split("\n")).toHaveLength(1);
  });

  test("the whole file decodes with exit 0, one line per frame", () => {
    const r = cli(["decode", join(CAPTURES_DIR, "arp.pcap"), "--utc"]);
    expect(r.status).toBe(0);
    expect(r.stdout.trimEnd().split("\n")).toEqual(lines("arp.pcap", {}));
  });

  test("`decode file | head -1` ends quietly: no EPIPE error", () => {
    // The reader closes after one line; ftp.pcap's 53 lines are enough to hit the closed pipe.
    const r = spawnSync("/bin/sh", ["-c", `"${process.execPath}" "${BIN}" decode "${join(CAPTURES_DIR, "ftp.pcap")}" | head -1`], {
      encoding: "utf8",
      timeout: 30_000,
    });
    expect(r.stdout.split("\n").filter((l) => l.length > 0)).toHaveLength(1);
    expect(r.stderr).toBe("");
  });
});
