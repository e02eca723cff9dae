/**
 * `wirestack decode` against `tcpdump -nr` (and tshark) on one large capture. The capture is the bulk
 * TCP trace scripts/record-bulk.sh records (iperf3 between two namespaces, snaplen 128, 1M frames),
 * kept in bench-results/bulk.pcap and reused; when it cannot be recorded (not root, a tool missing)
 * or in the quick configuration, a synthetic one is made from the TCP frames of captures/http.pcap
 * replayed with rising sequence numbers. Every external command is timed as a whole process
 * (startup included) with stdout to /dev/null, median of `config.runs` runs.
 */
import { spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { LineFormatter } from "../../src/decode/format.ts";
import { CaptureReader } from "../../src/pcap/reader.ts";
import { PcapWriter } from "../../src/pcap/writer.ts";
import { WireError } from "../../src/wire/error.ts";
import { parseEthernet } from "../../src/wire/ethernet.ts";
import { parseIpv4 } from "../../src/wire/ipv4.ts";
import { emitTcp, parseTcp } from "../../src/wire/tcp.ts";
import { compared, median, seconds, type BenchConfig, type BenchResult, type BenchSection } from "./common.ts";

const FULL_SYNTHETIC_FRAMES = 500_000;
const QUICK_SYNTHETIC_FRAMES = 5_000;
/** `decode --json` and tshark run on the first this-many frames: both are far slower than text. */
const SUBSET_FRAMES = 100_000;

interface Capture {
  readonly path: string;
  readonly source: "recorded" | "synthetic";
  readonly frames: number;
}

function openReader(bytes: Uint8Array, path: string): CaptureReader {
  const reader = CaptureReader.open(bytes);
  if (reader instanceof WireError) throw new Error(`${path}: ${reader.toString()}`);
  return reader;
}

function countFrames(path: string): number {
  const reader = openReader(readFileSync(path), path);
  let n = 0;
  while (reader.next() !== undefined) n++;
  return n;
}

/**
 * Writes `frames` frames cut from the TCP frames of captures/http.pcap: each pass over them adds
 * 1 000 000 to every sequence and acknowledgment number (both directions, so they stay consistent),
 * recomputes the checksum, and advances the clock by 10 µs per frame. Snaplen 128, as the bulk capture.
 */
export function writeSyntheticCapture(root: string, out: string, frames: number): void {
  const source = join(root, "captures/http.pcap");
  const reader = openReader(readFileSync(source), source);
  const tcpFrames: Uint8Array[] = [];
  for (let rec = reader.next(); rec !== undefined; rec = reader.next()) {
    const eth = parseEthernet(rec.data);
    if (eth instanceof WireError || eth.kind !== "ethernet-ii" || eth.etherType !== 0x0800) continue;
    const ip = parseIpv4(eth.payload);
    if (ip instanceof WireError || ip.protocol !== 6) continue;
    tcpFrames.push(rec.data);
  }
  if (tcpFrames.length === 0) throw new Error(`${source} holds no TCP frames`);
  const chunks: Uint8Array[] = [];
  const writer = new PcapWriter((c) => chunks.push(c), { snaplen: 128 });
  let sec = 1_700_000_000;
  let usec = 0;
  for (let i = 0; i < frames; i++) {
    const original = tcpFrames[i % tcpFrames.length] as Uint8Array;
    const delta = Math.floor(i / tcpFrames.length) * 1_000_000;
    const frame = original.slice();
    const eth = parseEthernet(frame);
    const ip = eth instanceof WireError ? eth : parseIpv4(eth.payload);
    const tcp = ip instanceof WireError ? ip : parseTcp(ip.payload);
    if (ip instanceof WireError || tcp instanceof WireError) throw new Error("a TCP frame of http.pcap stopped parsing");
    const at = ip.payload.byteOffset - frame.byteOffset;
    emitTcp({ ...tcp, seq: (tcp.seq + delta) >>> 0, ack: (tcp.ack + delta) >>> 0 }, frame, at, {
      family: 4,
      src: ip.src,
      dst: ip.dst,
    });
    writer.writePacket(frame, sec, usec * 1000);
    usec += 10;
    if (usec >= 1_000_000) {
      usec -= 1_000_000;
      sec++;
    }
  }
  writer.close();
  writeFileSync(out, Buffer.concat(chunks));
}

/** The first `frames` records of a capture, as a file of their own (the byte prefix of the original). */
function writeSubset(path: string, out: string, frames: number): number {
  const bytes = readFileSync(path);
  const reader = openReader(bytes, path);
  let n = 0;
  while (n < frames && reader.next() !== undefined) n++;
  writeFileSync(out, bytes.subarray(0, reader.offset));
  return n;
}

function haveTool(tool: string): boolean {
  return spawnSync(tool, ["--version"], { stdio: "ignore" }).status === 0;
}

function chooseCapture(config: BenchConfig, scratch: string): Capture {
  if (config.quick) {
    const path = join(scratch, "synthetic.pcap");
    writeSyntheticCapture(config.root, path, QUICK_SYNTHETIC_FRAMES);
    return { path, source: "synthetic", frames: QUICK_SYNTHETIC_FRAMES };
  }
  const bulk = join(config.outDir, "bulk.pcap");
  if (!existsSync(bulk)) {
    if (process.getuid?.() === 0) {
      config.log(`recording ${bulk} with scripts/record-bulk.sh (a few seconds of iperf3 in namespaces)`);
      const r = spawnSync("bash", [join(config.root, "scripts/record-bulk.sh"), bulk, "3"], { stdio: ["ignore", "inherit", "inherit"] });
      if (r.status !== 0) {
        config.log(`record-bulk.sh failed (exit ${r.status}); using a synthetic capture`);
        rmSync(bulk, { force: true });
      }
    } else {
      config.log("not root: cannot record the bulk capture; using a synthetic capture");
    }
  }
  if (existsSync(bulk) && statSync(bulk).size > 24) return { path: bulk, source: "recorded", frames: countFrames(bulk) };
  const path = join(config.outDir, "synthetic.pcap");
  writeSyntheticCapture(config.root, path, FULL_SYNTHETIC_FRAMES);
  return { path, source: "synthetic", frames: FULL_SYNTHETIC_FRAMES };
}

/** Median wall time of `runs` runs of a command with stdout to /dev/null; undefined if it fails. */
function timeCommand(config: BenchConfig, cmd: string, args: readonly string[]): number | undefined {
  const times: number[] = [];
  for (let i = 0; i < config.runs; i++) {
    const devNull = openSync("/dev/null", "w");
    try {
      const t0 = seconds();
      const r = spawnSync(cmd, args, { cwd: config.root, stdio: ["ignore", devNull, "pipe"], maxBuffer: 1 << 24 });
      const t = seconds() - t0;
      if (r.status !== 0) {
        config.log(`${cmd} ${args.join(" ")} failed (exit ${r.status}): ${String(r.stderr ?? r.error ?? "").trim().split("\n")[0]}`);
        return undefined;
      }
      times.push(t);
    } finally {
      closeSync(devNull);
    }
  }
  return median(times);
}

/**
 * The decode loop of `wirestack decode` (src/decode/command.ts) without the process around it: read,
 * dissect, format, gather into large strings, which are dropped instead of written. Frames/s.
 */
function inProcessRate(path: string, runs: number): number {
  const bytes = readFileSync(path);
  const rates: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = seconds();
    const reader = openReader(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), path);
    const formatter = new LineFormatter({});
    let out = "";
    let chars = 0;
    let n = 0;
    for (let rec = reader.next(); rec !== undefined; rec = reader.next()) {
      n++;
      out += `${formatter.formatFrame(rec.sec, rec.nsec, rec.data, rec.origLen)}\n`;
      if (out.length >= 1 << 16) {
        chars += Buffer.byteLength(out);
        out = "";
      }
    }
    chars += Buffer.byteLength(out);
    if (chars === 0) throw new Error("decode produced no output");
    rates.push(n / (seconds() - t0));
  }
  return median(rates);
}

/** The decode section of the benchmark. */
export const decodeSection: BenchSection = {
  name: "decode",
  run(config: BenchConfig): BenchResult[] {
    const scratch = mkdtempSync(join(tmpdir(), "wirestack-bench-"));
    try {
      const cap = chooseCapture(config, scratch);
      const about = `${cap.source} capture ${cap.path} (${cap.frames} frames), median of ${config.runs}`;
      config.log(`decode: ${about}`);
      const rate = (t: number | undefined, frames: number) => (t === undefined ? undefined : frames / t);
      const bin = join(config.root, "bin/wirestack.mjs");

      const ours = rate(timeCommand(config, process.execPath, [bin, "decode", cap.path]), cap.frames);
      if (ours === undefined) throw new Error("wirestack decode failed");
      const tcpdump = haveTool("tcpdump") ? rate(timeCommand(config, "tcpdump", ["-nr", cap.path]), cap.frames) : undefined;
      const results: BenchResult[] = [
        compared("decode.process", ours, "frames/s", "tcpdump -nr", tcpdump, `node bin/wirestack.mjs decode, whole process; ${about}`),
      ];
      if (tcpdump !== undefined) results.push({ name: "decode.tcpdump", value: tcpdump, unit: "frames/s", note: `tcpdump -nr; ${about}` });
      const inProc = inProcessRate(cap.path, config.runs);
      results.push(compared("decode.in-process", inProc, "frames/s", "tcpdump -nr", tcpdump, `decode loop without startup or writes; ${about}`));

      const subset = join(scratch, "subset.pcap");
      const subsetFrames = writeSubset(cap.path, subset, SUBSET_FRAMES);
      const subsetAbout = `first ${subsetFrames} frames of the ${cap.source} capture, median of ${config.runs}`;
      const tsharkOk = haveTool("tshark");
      const tshark = tsharkOk ? rate(timeCommand(config, "tshark", ["-n", "-r", subset]), subsetFrames) : undefined;
      const json = rate(timeCommand(config, process.execPath, [bin, "decode", "--json", subset]), subsetFrames);
      if (json === undefined) throw new Error("wirestack decode --json failed");
      results.push({ name: "decode.json", value: json, unit: "frames/s", note: `decode --json, whole process; ${subsetAbout}` });
      if (tshark !== undefined) results.push({ name: "decode.tshark", value: tshark, unit: "frames/s", note: `tshark -n -r; ${subsetAbout}` });
      else config.log("tshark not installed: no tshark row");
      return results;
    } finally {
      rmSync(scratch, { recursive: true, force: true });
    }
  },
};
