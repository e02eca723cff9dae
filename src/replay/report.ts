/**
 * The difference report of a replay, one line per difference:
 * `frame 8 (sent #4) tcp tcp.seq: expected ISN+1, got ISN+18`, then a one-line summary.
 */
import type { ReplayResult } from "./engine.ts";

/** The report `wirestack replay` prints; empty lines are never produced. */
export function formatReport(result: ReplayResult): string {
  const lines: string[] = [];
  for (const d of result.differences) {
    const where = d.frame === 0 ? "extra frame" : `frame ${d.frame}`;
    const sent = d.gotFrame === undefined ? "" : ` (sent #${d.gotFrame})`;
    lines.push(`${where}${sent} ${d.layer} ${d.field}: expected ${d.expected}, got ${d.got}`);
  }
  const paired = result.pairs.filter((p) => p.frame !== 0 && p.gotFrame !== undefined).length;
  lines.push(
    `${result.ok ? "match" : "differ"}: ${result.expectedFrames} recorded frames of the played endpoint, ${result.sentFrames} sent by the stack, ` +
      `${paired} paired, ${result.tolerated.length} bare ACKs without counterpart (rule frame.pure-ack), ${result.differences.length} differences`,
  );
  return lines.join("\n") + "\n";
}
