/** `wirestack replay` exit statuses and report, run as the installed command (bin/wirestack.mjs). */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, test } from "vitest";

const BIN = new URL("../../bin/wirestack.mjs", import.meta.url).pathname;
const FIX = new URL("../../captures/conformance/", import.meta.url).pathname;
const tmp = mkdtempSync(join(tmpdir(), "wirestack-replay-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stdout, stderr });
    });
  });
}

describe("wirestack replay", () => {
  test("exit 0 and a one-line 'match' report when the stack's frames match", async () => {
    const out = join(tmp, "stack.pcap");
    const r = await cli(["replay", join(FIX, "tcp-echo.pcap"), "--as", "10.77.0.1", "--ip", "10.77.0.1/24", "--services", "echo", "--pcap", out]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^match: 6 recorded frames of the played endpoint, 6 sent by the stack, 5 paired/);
    // The capture holds what the stack received (the peer's 9 frames) and sent (6): 15 records.
    expect(readFileSync(out).length).toBeGreaterThan(24 + 15 * 16);
  });

  test("exit 1 and the precise difference for a modified fixture", async () => {
    const bytes = Buffer.from(readFileSync(join(FIX, "tcp-echo.pcap")));
    const text = Buffer.from("hello, wirestack\n");
    bytes[bytes.indexOf(text, bytes.indexOf(text) + 1)] = "j".charCodeAt(0);
    const file = join(tmp, "tampered.pcap");
    writeFileSync(file, bytes);
    const r = await cli(["replay", file, "--as", "10.77.0.1", "--ip", "10.77.0.1/24", "--services", "echo"]);
    expect(r.code).toBe(1);
    expect(r.stdout).toContain("frame 8 (sent #3) tcp tcp.payload: expected 17 bytes, at byte 0: 6a656c6c6f2c2077, got 17 bytes, at byte 0: 68656c6c6f2c2077");
    expect(r.stdout).toMatch(/differ: .* 1 differences\n$/);
  });

  test("exit 2 for usage errors: no --as, an unknown service", async () => {
    expect((await cli(["replay", join(FIX, "arp.pcap")])).code).toBe(2);
    const r = await cli(["replay", join(FIX, "arp.pcap"), "--as", "10.77.0.1", "--services", "gopher"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("unknown service 'gopher'");
  });

  test("exit 1 for an address that sent nothing in the capture", async () => {
    const r = await cli(["replay", join(FIX, "arp.pcap"), "--as", "10.9.9.9", "--ip", "10.9.9.9/24"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("no frame in the capture comes from 10.9.9.9");
  });
});
