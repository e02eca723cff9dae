/**
 * The decoder against bad bytes: every truncation of every frame of every fixture in captures/ (cut
 * short for real, and cut by a snap length with the wire length kept), and seeded random byte flips,
 * go through `dissectFrame`, `LineFormatter` and `frameJson` without throwing. The JSON serializes,
 * and a frame whose decoding stopped early says so with a `[|layer: reason]` marker in its line.
 */
import { readFileSync } from "node:fs";
import { describe, expect, test } from "vitest";
import { dissectFrame, type Dissection } from "../../../src/decode/dissect.ts";
import { LineFormatter } from "../../../src/decode/format.ts";
import { frameJson } from "../../../src/decode/json.ts";
import { readCapture, type CaptureRecord } from "../../../src/pcap/reader.ts";
import { seededRandom } from "../../../src/time/random.ts";
import { WireError } from "../../../src/wire/error.ts";
import { captureFiles } from "../../helpers/tools.ts";

function records(file: string): CaptureRecord[] {
  const cap = readCapture(new Uint8Array(readFileSync(file)));
  if (cap instanceof WireError) throw new Error(`${file}: ${cap.toString()}`);
  return cap.records;
}

/** Decodes one frame every way `decode` prints it; returns the dissection for further checks. */
function decodeAll(f: LineFormatter, data: Uint8Array, origLen: number): { d: Dissection; line: string } {
  const d = dissectFrame(data, origLen);
  const line = f.format(0, 0, d);
  const json = JSON.stringify(frameJson(1, 0, 0, d));
  expect(typeof JSON.parse(json)).toBe("object");
  if (d.error) expect(line).toContain("[|");
  else expect(line).not.toContain("[|");
  expect(line).not.toContain("undefined");
  expect(line).not.toContain("NaN");
  return { d, line };
}

const files = captureFiles();

describe("decode never throws on truncated fixture frames", () => {
  test("the fixtures are there", () => {
    expect(files.length).toBeGreaterThanOrEqual(10);
  });

  for (const file of files) {
    test(`every truncation of every frame of captures/${file.split("/").pop()}`, () => {
      const f = new LineFormatter({ utcOffsetMinutes: 0 });
      const fe = new LineFormatter({ link: true, absoluteSeq: true, utcOffsetMinutes: 0 });
      let stopped = 0;
      for (const rec of records(file)) {
        const whole = decodeAll(f, rec.data, rec.origLen);
        expect(whole.d.error).toBeUndefined(); // the fixtures themselves are clean
        for (let n = 0; n < rec.data.length; n++) {
          const cut = rec.data.subarray(0, n);
          // Truly short: the bytes are all there was.
          const short = decodeAll(f, cut, n);
          if (short.d.error) stopped++;
          // Snap-length cut: the wire length says more was sent.
          decodeAll(fe, cut, rec.origLen);
        }
        // Cutting inside the Ethernet header always stops decoding.
        expect(decodeAll(f, rec.data.subarray(0, 13), 13).d.error).toBeInstanceOf(WireError);
      }
      expect(stopped).toBeGreaterThan(0);
    });
  }
});

describe("decode never throws on fixture frames with random byte flips", () => {
  for (const file of files) {
    test(`20 corruptions of 1–4 bytes per frame of captures/${file.split("/").pop()} (seeded)`, () => {
      const rnd = seededRandom(0x5eed ^ file.length);
      const f = new LineFormatter({ utcOffsetMinutes: 0 });
      let changed = 0;
      for (const rec of records(file)) {
        const base = decodeAll(f, rec.data, rec.origLen).line;
        for (let k = 0; k < 20; k++) {
          const bytes = Uint8Array.from(rec.data);
          const flips = 1 + rnd.nextInt(4);
          for (let i = 0; i < flips; i++) {
            const at = rnd.nextInt(bytes.length);
            bytes[at] = (bytes[at] as number) ^ (1 + rnd.nextInt(255));
          }
          const { line } = decodeAll(f, bytes, rec.origLen);
          if (line !== base) changed++;
        }
      }
      // Flips that never change a line would mean the test is not reaching the decoder.
      expect(changed).toBeGreaterThan(0);
    });
  }
});
