/**
 * STYLE.md §4: protocol code (src/wire, link, net, transport, app) never reaches for the wall clock,
 * host timers, randomness or I/O. Time and randomness come in as parameters, so every protocol runs
 * deterministically in virtual time. This test is the grep that keeps it so.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import { describe, expect, test } from "vitest";

const ROOT = new URL("../../../src/", import.meta.url).pathname;
const PROTOCOL_DIRS = ["wire", "link", "net", "transport", "app"];
const FORBIDDEN =
  /Date\.now\(|performance\.now\(|process\.hrtime|setTimeout\(|setInterval\(|setImmediate\(|Math\.random\(|from "node:(fs|net|dgram|child_process)"|require\("(fs|net|dgram)"\)/;

function filesUnder(dir: string): string[] {
  let out: string[] = [];
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return out;
  }
  for (const name of names) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out = out.concat(filesUnder(p));
    else if (p.endsWith(".ts")) out.push(p);
  }
  return out;
}

describe("sans-IO protocol code (STYLE.md §4)", () => {
  test("no clock, timer, randomness or I/O under src/{wire,link,net,transport,app}", () => {
    const hits: string[] = [];
    for (const d of PROTOCOL_DIRS) {
      for (const f of filesUnder(join(ROOT, d))) {
        readFileSync(f, "utf8")
          .split("\n")
          .forEach((line, i) => {
            if (FORBIDDEN.test(line) && !/^\s*(\/\/|\*)/.test(line)) hits.push(`${f.slice(ROOT.length)}:${i + 1}: ${line.trim()}`);
          });
      }
    }
    expect(hits).toEqual([]);
  });

  test("the check itself catches a forbidden call", () => {
    expect(FORBIDDEN.test("const t = Date.now();")).toBe(true);
    expect(FORBIDDEN.test('import { readFileSync } from "node:fs";')).toBe(true);
    expect(FORBIDDEN.test("const t = now;")).toBe(false);
  });

  test("imports go down, never up (DESIGN.md, Layout)", () => {
    // Which of our top-level folders each layer may import from.
    const allowed: Record<string, readonly string[]> = {
      wire: ["wire"],
      link: ["wire", "link", "util", "time"],
      net: ["wire", "link", "net", "util", "time"],
      transport: ["wire", "net", "transport", "util", "time", "errors.ts"],
      // device/gso.ts (the opt-in TAP offload) reads TCP/IP headers and checksums: wire is its codec.
      device: ["device", "time", "errors.ts", "wire"],
      pcap: ["pcap", "wire"],
      time: ["time"],
      app: ["app"],
    };
    const bad: string[] = [];
    for (const [layer, ok] of Object.entries(allowed)) {
      for (const f of filesUnder(join(ROOT, layer))) {
        for (const m of readFileSync(f, "utf8").matchAll(/from "(\.\.?\/[^"]+)"/g)) {
          // The imported file's first path component below src/: its layer folder (or a file such as errors.ts).
          const target = relative(ROOT, resolve(dirname(f), m[1] as string)).split(sep)[0] as string;
          if (!ok.includes(target)) bad.push(`${f.slice(ROOT.length)} imports ${m[1]}`);
        }
      }
    }
    expect(bad).toEqual([]);
  });
});
