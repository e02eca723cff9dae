/**
 * `wirestack decode FILE [--json] [-e] [-S]`: reads a pcap or pcapng file and prints one line (or one
 * JSON object) per frame. Output is gathered into large chunks and written synchronously, so decoding
 * a million frames costs a few hundred writes, not a million.
 */
import { readFileSync, writeSync } from "node:fs";
import { CaptureReader } from "../pcap/reader.ts";
import { LINKTYPE } from "../pcap/pcap.ts";
import { WireError } from "../wire/error.ts";
import { UsageError, parseArgs } from "../cli/args.ts";
import { dissectFrame } from "./dissect.ts";
import { LineFormatter } from "./format.ts";
import { frameJson } from "./json.ts";

const FLUSH_AT = 1 << 16;

/** Writes all of `text` to fd 1, waiting out EAGAIN on a non-blocking pipe. */
function writeAll(text: string): void {
  let buf = Buffer.from(text);
  while (buf.length > 0) {
    try {
      const n = writeSync(1, buf);
      buf = buf.subarray(n);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === "EAGAIN") continue;
      if (code === "EPIPE") process.exit(0); // `decode big.pcap | head`: the reader left, we are done.
      throw err;
    }
  }
}

export async function runDecode(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, { "--json": false, "-e": false, "-S": false, "--utc": false });
  const file = args.positional[0];
  if (file === undefined || args.positional.length > 1) throw new UsageError("usage: wirestack decode FILE [--json] [-e] [-S]");
  let bytes: Uint8Array;
  try {
    const buf = readFileSync(file);
    // A plain Uint8Array over the same memory: its subarrays (one or more per frame) skip Buffer's
    // subarray wrapper, which costs more than the view itself.
    bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  } catch (err) {
    throw new Error(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const reader = CaptureReader.open(bytes);
  if (reader instanceof WireError) throw new Error(`${file} is not a pcap or pcapng file (${reader.toString()})`);
  const json = args.flags.has("--json");
  const formatter = new LineFormatter({
    link: args.flags.has("-e"),
    absoluteSeq: args.flags.has("-S"),
    ...(args.flags.has("--utc") ? { utcOffsetMinutes: 0 } : {}),
  });
  let out = "";
  let n = 0;
  for (let rec = reader.next(); rec !== undefined; rec = reader.next()) {
    n++;
    if (rec.linkType !== LINKTYPE.ethernet) {
      out += json
        ? `${JSON.stringify({ frame: n, linkType: rec.linkType, caplen: rec.data.length, len: rec.origLen, error: "unsupported link type" })}\n`
        : `[link type ${rec.linkType} not decoded], length ${rec.origLen}\n`;
    } else if (json) {
      out += `${JSON.stringify(frameJson(n, rec.sec, rec.nsec, dissectFrame(rec.data, rec.origLen)))}\n`;
    } else {
      out += `${formatter.formatFrame(rec.sec, rec.nsec, rec.data, rec.origLen)}\n`;
    }
    if (out.length >= FLUSH_AT) {
      writeAll(out);
      out = "";
    }
  }
  if (out.length > 0) writeAll(out);
  if (reader.error) {
    process.stderr.write(`wirestack: ${file}: stopped after ${n} frames: ${reader.error.toString()}\n`);
    return 1;
  }
  return 0;
}
