/**
 * The I/O edge: `openPcapFile` and `pcapToStdout` put every frame in the kernel before `writePacket`
 * returns, which is what a live reader (`wireshark -k -i -`) needs.
 */
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { openPcapFile, readCapture, type CaptureFile } from "../../../src/pcap/index.ts";
import { WireError } from "../../../src/wire/error.ts";
import { ARP_FRAME, concat } from "./helpers.ts";

const dir = mkdtempSync(join(tmpdir(), "wirestack-pcapfile-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const PCAP_INDEX = pathToFileURL(fileURLToPath(new URL("../../../src/pcap/index.ts", import.meta.url))).href;
const PROJECT = fileURLToPath(new URL("../../../", import.meta.url));

function readOk(bytes: Uint8Array): CaptureFile {
  const file = readCapture(bytes);
  if (file instanceof WireError) throw new Error(file.toString());
  return file;
}

describe("openPcapFile", () => {
  it("writes the header at once and each frame before writePacket returns", () => {
    const path = join(dir, "live.pcap");
    const sink = openPcapFile(path, { resolution: "ns" });
    expect(statSync(path).size).toBe(24);
    sink.writePacket(ARP_FRAME, 1_700_000_000, 1);
    expect(statSync(path).size).toBe(24 + 16 + 42);
    sink.writePacket(ARP_FRAME, 1_700_000_000, 2);
    expect(statSync(path).size).toBe(24 + 2 * (16 + 42));
    sink.close();
    sink.close();
    expect(() => sink.writePacket(ARP_FRAME, 0, 0)).toThrow(/closed/);
    expect(sink.failure).toBeUndefined();
    const file = readOk(new Uint8Array(readFileSync(path)));
    expect(file.format).toBe("pcap");
    expect(file.records.map((r) => r.nsec)).toEqual([1, 2]);
  });

  it("chooses pcapng for a .pcapng name unless the format is given", () => {
    const a = join(dir, "a.pcapng");
    const b = join(dir, "b.pcapng");
    openPcapFile(a).close();
    openPcapFile(b, { format: "pcap" }).close();
    expect(readOk(new Uint8Array(readFileSync(a))).format).toBe("pcapng");
    expect(readOk(new Uint8Array(readFileSync(b))).format).toBe("pcap");
  });

  it("throws the fs error when the file cannot be created, and RangeError for bad options", () => {
    expect(() => openPcapFile(join(dir, "no-such-dir", "x.pcap"))).toThrow(/ENOENT/);
    expect(() => openPcapFile(join(dir, "bad.pcap"), { snaplen: -1 })).toThrow(RangeError);
  });
});

/**
 * A child process that writes a ns pcap to stdout: one frame, then one more per line it reads on
 * stdin, then exits when stdin ends, reporting the sink's failure (if any) on stderr.
 */
function spawnStdoutWriter() {
  const script = join(dir, "to-stdout.ts");
  writeFileSync(
    script,
    `import { pcapToStdout } from ${JSON.stringify(PCAP_INDEX)};
const frame = Uint8Array.from({ length: 42 }, (_, i) => i);
const sink = pcapToStdout({ resolution: "ns" });
let n = 0;
sink.writePacket(frame, 1_700_000_000, n++);
process.stdin.on("data", (d) => { for (const _ of String(d).trim().split("\\n")) sink.writePacket(frame, 1_700_000_000, n++); });
process.stdin.on("end", () => { sink.close(); process.stderr.write(String(sink.failure?.code ?? "ok")); });
`,
  );
  return spawn(process.execPath, ["--import", "tsx", script], { cwd: PROJECT, stdio: ["pipe", "pipe", "pipe"] });
}

describe("pcapToStdout", () => {
  it("a live reader sees each frame while the writer is still running", async () => {
    const child = spawnStdoutWriter();
    const got: Uint8Array[] = [];
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += String(d)));
    const have = () => concat(got).length;
    const waitFor = (n: number) =>
      new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`only ${have()} of ${n} bytes; stderr: ${stderr}`)), 20_000);
        const check = () => {
          if (have() >= n) {
            clearTimeout(timer);
            child.stdout.off("data", onData);
            resolve();
          }
        };
        const onData = (d: Buffer) => {
          got.push(new Uint8Array(d));
          check();
        };
        child.stdout.on("data", onData);
        check();
      });
    try {
      await waitFor(24 + 16 + 42);
      // The child is waiting on stdin: the first frame arrived without any close or exit.
      expect(readOk(concat(got)).records).toHaveLength(1);
      child.stdin.write("more\n");
      await waitFor(24 + 2 * (16 + 42));
      const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
      child.stdout.on("data", (d: Buffer) => got.push(new Uint8Array(d)));
      child.stdin.end();
      expect(await exited).toBe(0);
      const file = readOk(concat(got));
      expect(file.error).toBeUndefined();
      expect(file.records.map((r) => [r.sec, r.nsec, r.data.length])).toEqual([
        [1_700_000_000, 0, 42],
        [1_700_000_000, 1, 42],
      ]);
      expect(stderr).toBe("ok");
      const tcpdump = spawnSync("tcpdump", ["-r", "-", "-nn", "-tt"], { input: concat(got), encoding: "utf8" });
      if (tcpdump.error) console.warn("pcap file.test: tcpdump not installed, skipping `tcpdump -r -`");
      else {
        const stamps = tcpdump.stdout.split("\n").filter((l) => /^\d+\.\d+ /.test(l));
        expect([tcpdump.status, stamps.length]).toEqual([0, 2]);
      }
    } finally {
      if (child.exitCode === null) child.kill();
    }
  });

  it("a reader that goes away (EPIPE) stops the capture, not the writer", async () => {
    const child = spawnStdoutWriter();
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += String(d)));
    try {
      await new Promise<void>((resolve) => child.stdout.once("data", () => resolve()));
      child.stdout.destroy();
      const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
      child.stdin.end("one\ntwo\n");
      expect(await exited).toBe(0);
      expect(stderr).toBe("EPIPE");
    } finally {
      if (child.exitCode === null) child.kill();
    }
  });
});
