/**
 * Interoperability with the reference tools: tcpdump and tshark read what we write (exit 0, the right
 * frame count and timestamps), and we read what tcpdump, tshark, editcap and mergecap write. Each
 * sub-test is skipped, saying so, when its tool is not installed; CI installs them.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readCapture, type CaptureFile, type CaptureRecord } from "../../../src/pcap/index.ts";
import { WireError } from "../../../src/wire/error.ts";
import { ARP_FRAME, hex, memoryWriter } from "./helpers.ts";

function installed(tool: string): boolean {
  const r = spawnSync(tool, ["--version"], { encoding: "utf8" });
  const ok = r.status === 0;
  if (!ok) console.warn(`pcap tools.test: ${tool} not installed, skipping the tests that need it`);
  return ok;
}
const HAVE = {
  tcpdump: installed("tcpdump"),
  tshark: installed("tshark"),
  editcap: installed("editcap"),
  mergecap: installed("mergecap"),
};

const dir = mkdtempSync(join(tmpdir(), "wirestack-pcap-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Runs a tool; fails the test with its stderr unless it exits 0. Returns stdout. */
function run(tool: string, args: string[]): string {
  const r = spawnSync(tool, args, { encoding: "utf8", timeout: 30_000 });
  const stderr = (r.stderr ?? "")
    .split("\n")
    // tshark warns when run as root; tcpdump announces the file it reads. Neither is an error.
    .filter((l) => l && !l.startsWith("Running as user") && !l.startsWith("reading from file"))
    .join("\n");
  expect({ status: r.status, stderr }, `${tool} ${args.join(" ")}`).toEqual({ status: 0, stderr: "" });
  return r.stdout;
}

function readFile(path: string): CaptureFile {
  const buf = readFileSync(path);
  const file = readCapture(new Uint8Array(buf.buffer, buf.byteOffset, buf.length));
  if (file instanceof WireError) throw new Error(`${path}: ${file.toString()}`);
  expect(file.error?.toString()).toBeUndefined();
  return file;
}

// An IPv4/UDP datagram to 10.0.0.2:7 carrying "hi" (scapy: `IP(src="10.0.0.1", dst="10.0.0.2")/
// UDP(sport=7, dport=7)/b"hi"`), behind an Ethernet header from 02:00:00:00:00:01.
const UDP_FRAME = hex(
  "020000000002 020000000001 0800 4500001e00010000401166cc0a0000010a00000200070007000a83606869",
);
const STAMPS: readonly [number, number][] = [
  [1_700_000_000, 0],
  [1_700_000_000, 123_456_789],
  [1_700_000_001, 999_999_999],
  [1_800_000_000, 1],
  // tcpdump 4.99.3 prints "[Error converting time]" from 2^31 s (2038) on; the file format itself is
  // unsigned (draft-ietf-opsawg-pcap §5) and tshark shows later times, so stay just below it here.
  [2_147_483_647, 500_000_000],
];
const FRAMES = STAMPS.map((_, i) => (i % 2 === 0 ? ARP_FRAME : UDP_FRAME));

/** Writes our capture of FRAMES at STAMPS; the last frame is cut by a snaplen of 40. */
function writeOurs(format: "pcap" | "pcapng", resolution: "us" | "ns"): string {
  const { sink, bytes } = memoryWriter({ format, resolution, snaplen: 40, interfaceName: "wire0" });
  STAMPS.forEach(([s, ns], i) => sink.writePacket(FRAMES[i] as Uint8Array, s, ns));
  sink.close();
  const path = join(dir, `ours-${resolution}.${format}`);
  writeFileSync(path, bytes());
  return path;
}

function stampText(sec: number, nsec: number, resolution: "us" | "ns"): string {
  const ns = resolution === "ns" ? nsec : Math.floor(nsec / 1000) * 1000;
  return `${sec}.${String(ns).padStart(9, "0")}`;
}

function expectOurRecords(records: readonly CaptureRecord[], resolution: "us" | "ns"): void {
  expect(records.map((r) => stampText(r.sec, r.nsec, "ns"))).toEqual(STAMPS.map(([s, ns]) => stampText(s, ns, resolution)));
  records.forEach((r, i) => {
    const frame = FRAMES[i] as Uint8Array;
    expect(r.data).toEqual(frame.subarray(0, 40));
    expect(r.origLen).toBe(frame.length);
    expect(r.linkType).toBe(1);
  });
}

const VARIANTS = [
  ["pcap", "us"],
  ["pcap", "ns"],
  ["pcapng", "us"],
  ["pcapng", "ns"],
] as const;

describe("tcpdump and tshark read our files", () => {
  for (const [format, resolution] of VARIANTS) {
    it.skipIf(!HAVE.tcpdump)(`tcpdump -r: ${format} ${resolution}, 5 frames with their timestamps`, () => {
      const path = writeOurs(format, resolution);
      const out = run("tcpdump", ["-r", path, "-nn", "-tt", "--time-stamp-precision=nano"]);
      const lines = out.trim().split("\n");
      expect(lines).toHaveLength(5);
      expect(lines.map((l) => l.split(" ")[0])).toEqual(STAMPS.map(([s, ns]) => stampText(s, ns, resolution)));
    });

    it.skipIf(!HAVE.tshark)(`tshark -r: ${format} ${resolution}, 5 frames, times, lengths`, () => {
      const path = writeOurs(format, resolution);
      const out = run("tshark", ["-r", path, "-T", "fields", "-e", "frame.time_epoch", "-e", "frame.len", "-e", "frame.cap_len"]);
      expect(out.trim().split("\n")).toEqual(
        STAMPS.map(([s, ns], i) => {
          const len = (FRAMES[i] as Uint8Array).length;
          return `${stampText(s, ns, resolution)}\t${len}\t${Math.min(len, 40)}`;
        }),
      );
    });
  }

  it.skipIf(!HAVE.tshark)("tshark sees the pcapng interface name (if_name) and our shb_userappl", () => {
    const path = writeOurs("pcapng", "ns");
    const out = run("tshark", ["-r", path, "-c", "1", "-T", "fields", "-e", "frame.interface_name"]);
    expect(out.trim()).toBe("wire0");
    if (HAVE.editcap) {
      const info = spawnSync("capinfos", ["-k", path], { encoding: "utf8" });
      if (info.status === 0) expect(info.stdout).toMatch(/wirestack/);
    }
  });

  for (const resolution of ["us", "ns"] as const) {
    it.skipIf(!HAVE.tcpdump)(`tcpdump -r ours.pcap -w copy.pcap gives our ${resolution} file back byte for byte`, () => {
      const path = writeOurs("pcap", resolution);
      const copy = join(dir, `tcpdump-copy-${resolution}.pcap`);
      run("tcpdump", ["-r", path, "-w", copy, ...(resolution === "ns" ? ["--time-stamp-precision=nano"] : [])]);
      expect(readFileSync(copy)).toEqual(readFileSync(path));
    });
  }
});

describe("we read what the tools write", () => {
  it.skipIf(!HAVE.tcpdump)("tcpdump -w from a big-endian file: both read the same", () => {
    const be = join(dir, "be.pcap");
    // The header and one record of the scapy big-endian fixture in reader.test.ts.
    writeFileSync(
      be,
      hex(
        "a1b2c3d4 0002 0004 00000000 00000000 0000ffff 00000001 6553f100 0007a120 0000002a 0000002a" +
          "ffffffffffff020000000001080600010800060400010200000000010a0000010000000000000a000002",
      ),
    );
    const le = join(dir, "tcpdump-le.pcap");
    run("tcpdump", ["-r", be, "-w", le]);
    const a = readFile(be);
    const b = readFile(le);
    expect(b.records).toEqual(a.records);
    expect(b.records[0]).toMatchObject({ sec: 1_700_000_000, nsec: 500_000_000, data: ARP_FRAME });
  });

  const conversions = [
    ["pcapng", "us"],
    ["nsecpcap", "ns"],
    ["pcap", "us"],
    ["modpcap", "us"],
  ] as const;
  for (const [type, resolution] of conversions) {
    it.skipIf(!HAVE.editcap)(`editcap -F ${type} of our ${resolution} pcap`, () => {
      const out = join(dir, `editcap.${type}`);
      run("editcap", ["-F", type, writeOurs("pcap", resolution), out]);
      expectOurRecords(readFile(out).records, resolution);
    });
  }

  it.skipIf(!HAVE.editcap)("editcap: our ns pcapng to classic pcap (µs) and back", () => {
    const pcap = join(dir, "from-ng.pcap");
    run("editcap", ["-F", "pcap", writeOurs("pcapng", "ns"), pcap]);
    expectOurRecords(readFile(pcap).records, "us");
  });

  it.skipIf(!HAVE.tshark)("tshark -F pcapng (as Wireshark saves by default) of our ns pcap", () => {
    const out = join(dir, "tshark.pcapng");
    run("tshark", ["-r", writeOurs("pcap", "ns"), "-w", out, "-F", "pcapng"]);
    const file = readFile(out);
    expectOurRecords(file.records, "ns");
    expect(file.interfaces).toHaveLength(1);
  });

  it.skipIf(!HAVE.editcap)("editcap with a packet comment and a capture comment (EPB and SHB options)", () => {
    const out = join(dir, "comments.pcapng");
    run("editcap", ["-a", "2:a packet comment", "--capture-comment", "a capture comment", writeOurs("pcapng", "ns"), out]);
    expectOurRecords(readFile(out).records, "ns");
  });

  it.skipIf(!HAVE.mergecap || !HAVE.editcap)("mergecap: two interfaces, Ethernet µs and raw IP ns", () => {
    const raw = join(dir, "raw.pcap");
    run("editcap", ["-T", "rawip", writeOurs("pcap", "ns"), raw]);
    const merged = join(dir, "merged.pcapng");
    run("mergecap", ["-F", "pcapng", "-w", merged, writeOurs("pcap", "us"), raw]);
    const file = readFile(merged);
    expect(file.interfaces.map((i) => [i.linkType, i.tsresol.exponent])).toEqual([
      [1, 6],
      [101, 9],
    ]);
    expect(file.records).toHaveLength(10);
    const byIf = (id: number) => file.records.filter((r) => r.interfaceId === id);
    expectOurRecords(byIf(0), "us");
    expect(byIf(1).map((r) => [r.sec, r.nsec, r.linkType])).toEqual(STAMPS.map(([s, ns]) => [s, ns, 101]));
  });
});
