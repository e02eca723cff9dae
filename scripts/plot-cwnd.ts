/**
 * `tsx scripts/plot-cwnd.ts TRACE.csv [MORE.csv …] [-o OUT.svg] [--title TEXT]`: draws a TCP
 * congestion-window trace as a hand-written SVG line plot (no dependencies), for the README and for
 * looking at simulation runs.
 *
 * Input: CSV rows `t,cwnd,ssthresh,srtt,inflight` — t in ms, windows in bytes, srtt in ms — as the
 * connection's `onTrace` samples them. A header line is optional; when present, columns are found by
 * name and may come in any order. An empty, `inf` or `Infinity` ssthresh (before the first loss) and
 * an empty srtt are gaps, not zeros.
 *
 * One file: cwnd, ssthresh, bytes in flight (left axis, bytes) and srtt (right axis, ms). Several
 * files (flows sharing a bottleneck): one cwnd line per file, labelled with the file name. Without
 * `-o` the SVG goes to stdout. Long traces are thinned per pixel column (first, min, max, last kept),
 * so the shape — sawtooth peaks included — survives while the file stays small.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { basename } from "node:path";
import { pathToFileURL } from "node:url";

/** One trace sample; undefined where the CSV had no value. */
export interface TraceRow {
  t: number;
  cwnd: number;
  ssthresh: number | undefined;
  srtt: number | undefined;
  inflight: number | undefined;
}

/** One line set to draw: a label and its samples. */
export interface TraceSeries {
  label: string;
  rows: readonly TraceRow[];
}

/** Plot options. */
export interface PlotOptions {
  title?: string;
  width?: number;
  height?: number;
}

const COLUMNS = ["t", "cwnd", "ssthresh", "srtt", "inflight"] as const;
type Column = (typeof COLUMNS)[number];

/** Parses the trace CSV; throws Error naming the line for a row it cannot read. */
export function parseTraceCsv(text: string): TraceRow[] {
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== "" && !l.startsWith("#"));
  let index: Record<Column, number> = { t: 0, cwnd: 1, ssthresh: 2, srtt: 3, inflight: 4 };
  let start = 0;
  const first = lines[0]?.split(",").map((c) => c.trim().toLowerCase());
  if (first !== undefined && first.some((c) => c !== "" && Number.isNaN(Number(c)) && !isInfinite(c))) {
    const found = {} as Record<Column, number>;
    for (const col of COLUMNS) found[col] = first.indexOf(col);
    if (found.inflight < 0) found.inflight = first.indexOf("in_flight"); // `inFlight` lower-cases to "inflight"
    if (found.t < 0 || found.cwnd < 0) throw new Error(`plot-cwnd: header needs columns t and cwnd, got "${lines[0]}"`);
    index = found;
    start = 1;
  }
  const rows: TraceRow[] = [];
  for (let n = start; n < lines.length; n++) {
    const cells = lines[n]!.split(",");
    const get = (col: Column): number | undefined => {
      const i = index[col];
      const raw = i < 0 ? undefined : cells[i]?.trim();
      if (raw === undefined || raw === "" || isInfinite(raw.toLowerCase())) return undefined;
      const v = Number(raw);
      if (Number.isNaN(v)) throw new Error(`plot-cwnd: line ${n + 1}: ${col} "${raw}" is not a number`);
      return v;
    };
    const t = get("t");
    const cwnd = get("cwnd");
    if (t === undefined || cwnd === undefined) throw new Error(`plot-cwnd: line ${n + 1}: t and cwnd are required`);
    rows.push({ t, cwnd, ssthresh: get("ssthresh"), srtt: get("srtt"), inflight: get("inflight") });
  }
  return rows;
}

function isInfinite(s: string): boolean {
  return s === "inf" || s === "infinity" || s === "+inf";
}

/** Round tick values from lo upward, the last one ≥ hi; about `count` of them (steps of 1, 2 or 5 × 10^n). */
export function niceTicks(lo: number, hi: number, count = 6): number[] {
  if (!(hi > lo)) hi = lo + 1;
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw) ?? 10 * mag;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9 && out.length < 100; v += step) out.push(Number(v.toPrecision(12)));
  const last = out[out.length - 1];
  if (last === undefined || last < hi - step * 1e-9) out.push(Number(((last ?? lo) + step).toPrecision(12)));
  return out;
}

function formatBytes(v: number): string {
  if (v >= 1e6) return `${+(v / 1e6).toPrecision(3)} MB`;
  if (v >= 1e3) return `${+(v / 1e3).toPrecision(3)} kB`;
  return `${v} B`;
}

function escapeXml(s: string): string {
  return s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"];

/**
 * Path data for (x, y) points in pixels, thinned to first/min/max/last per pixel column; a gap
 * (y undefined) lifts the pen.
 */
function pathData(points: readonly (readonly [number, number | undefined])[]): string {
  let d = "";
  let pen = false;
  let col: [number, number][] = [];
  let colX = Number.NaN;
  const flush = (): void => {
    if (col.length === 0) return;
    let min = col[0]!;
    let max = col[0]!;
    for (const p of col) {
      if (p[1] < min[1]) min = p;
      if (p[1] > max[1]) max = p;
    }
    const keep = [col[0]!, ...(min[0] <= max[0] ? [min, max] : [max, min]), col[col.length - 1]!];
    let last: [number, number] | undefined;
    for (const p of keep) {
      if (last !== undefined && last[0] === p[0] && last[1] === p[1]) continue;
      d += `${pen ? "L" : "M"}${p[0].toFixed(1)},${p[1].toFixed(1)}`;
      pen = true;
      last = p;
    }
    col = [];
  };
  for (const [x, y] of points) {
    if (y === undefined || !Number.isFinite(y)) {
      flush();
      pen = false;
      continue;
    }
    const px = Math.round(x);
    if (px !== colX) {
      flush();
      colX = px;
    }
    col.push([x, y]);
  }
  flush();
  return d;
}

/** Renders the SVG document for one or more traces. */
export function renderCwndSvg(series: readonly TraceSeries[], opts: PlotOptions = {}): string {
  const W = opts.width ?? 900;
  const H = opts.height ?? 460;
  const single = series.length === 1;
  const m = { left: 80, right: single ? 70 : 20, top: opts.title !== undefined ? 40 : 20, bottom: 70 };
  const pw = W - m.left - m.right;
  const ph = H - m.top - m.bottom;
  const all = series.flatMap((s) => s.rows);
  const tMin = all.length > 0 ? Math.min(...all.map((r) => r.t)) : 0;
  const tMax = all.length > 0 ? Math.max(...all.map((r) => r.t)) : 1;
  let yMax = 0;
  let rttMax = 0;
  for (const r of all) {
    yMax = Math.max(yMax, r.cwnd, single ? (r.inflight ?? 0) : 0);
    if (single && r.ssthresh !== undefined) yMax = Math.max(yMax, Math.min(r.ssthresh, 2 * Math.max(r.cwnd, 1)));
    if (r.srtt !== undefined) rttMax = Math.max(rttMax, r.srtt);
  }
  const xEnd = Math.max(tMax, tMin + 1) / 1000;
  const xTicks = niceTicks(tMin / 1000, xEnd).filter((v) => v <= xEnd * (1 + 1e-9));
  const yTicks = niceTicks(0, Math.max(yMax, 1));
  const yTop = yTicks[yTicks.length - 1]!;
  const rTicks = niceTicks(0, Math.max(rttMax, 1), 5);
  const rTop = rTicks[rTicks.length - 1]!;
  const xLo = tMin / 1000;
  const xHi = xEnd;
  const sx = (tMs: number): number => m.left + ((tMs / 1000 - xLo) / (xHi - xLo || 1)) * pw;
  const sy = (v: number): number => m.top + ph - (Math.min(v, yTop * 1.05) / yTop) * ph;
  const sr = (v: number): number => m.top + ph - (v / rTop) * ph;

  const out: string[] = [];
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`);
  out.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  if (opts.title !== undefined) out.push(`<text x="${W / 2}" y="24" text-anchor="middle" font-size="15">${escapeXml(opts.title)}</text>`);
  out.push(`<g stroke="#e5e5e5">`);
  for (const v of yTicks) out.push(`<line x1="${m.left}" x2="${m.left + pw}" y1="${sy(v).toFixed(1)}" y2="${sy(v).toFixed(1)}"/>`);
  for (const v of xTicks) out.push(`<line x1="${sx(v * 1000).toFixed(1)}" x2="${sx(v * 1000).toFixed(1)}" y1="${m.top}" y2="${m.top + ph}"/>`);
  out.push(`</g>`);
  out.push(`<rect x="${m.left}" y="${m.top}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  for (const v of yTicks) out.push(`<text x="${m.left - 6}" y="${(sy(v) + 4).toFixed(1)}" text-anchor="end">${formatBytes(v)}</text>`);
  for (const v of xTicks) out.push(`<text x="${sx(v * 1000).toFixed(1)}" y="${m.top + ph + 18}" text-anchor="middle">${v}</text>`);
  out.push(`<text x="${m.left + pw / 2}" y="${m.top + ph + 36}" text-anchor="middle">time (s)</text>`);
  out.push(`<text transform="translate(18 ${m.top + ph / 2}) rotate(-90)" text-anchor="middle">window (bytes)</text>`);

  const legend: { label: string; color: string; dash?: string }[] = [];
  const line = (d: string, color: string, width: number, dash?: string): void => {
    if (d !== "") out.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="${width}"${dash ? ` stroke-dasharray="${dash}"` : ""}/>`);
  };
  if (single) {
    const rows = series[0]!.rows;
    if (rttMax > 0) {
      for (const v of rTicks) out.push(`<text x="${m.left + pw + 6}" y="${(sr(v) + 4).toFixed(1)}" fill="#777">${v}</text>`);
      out.push(`<text transform="translate(${W - 14} ${m.top + ph / 2}) rotate(90)" text-anchor="middle" fill="#777">srtt (ms)</text>`);
      line(pathData(rows.map((r) => [sx(r.t), r.srtt === undefined ? undefined : sr(r.srtt)])), "#999", 1);
      legend.push({ label: "srtt", color: "#999" });
    }
    line(pathData(rows.map((r) => [sx(r.t), r.inflight === undefined ? undefined : sy(r.inflight)])), "#2ca02c", 1);
    line(pathData(rows.map((r) => [sx(r.t), r.ssthresh === undefined ? undefined : sy(r.ssthresh)])), "#ff7f0e", 1.5, "6 4");
    line(pathData(rows.map((r) => [sx(r.t), sy(r.cwnd)])), "#1f77b4", 2);
    legend.unshift({ label: "cwnd", color: "#1f77b4" }, { label: "ssthresh", color: "#ff7f0e", dash: "6 4" }, { label: "in flight", color: "#2ca02c" });
  } else {
    series.forEach((s, i) => {
      const color = PALETTE[i % PALETTE.length]!;
      line(pathData(s.rows.map((r) => [sx(r.t), sy(r.cwnd)])), color, 1.5);
      legend.push({ label: `cwnd ${s.label}`, color });
    });
  }
  let lx = m.left;
  const ly = H - 14;
  for (const l of legend) {
    out.push(`<line x1="${lx}" x2="${lx + 24}" y1="${ly - 4}" y2="${ly - 4}" stroke="${l.color}" stroke-width="2"${l.dash ? ` stroke-dasharray="${l.dash}"` : ""}/>`);
    out.push(`<text x="${lx + 30}" y="${ly}">${escapeXml(l.label)}</text>`);
    lx += 40 + 7 * l.label.length;
  }
  out.push(`</svg>`);
  return out.join("\n") + "\n";
}

const USAGE = "usage: tsx scripts/plot-cwnd.ts TRACE.csv [MORE.csv ...] [-o OUT.svg] [--title TEXT]";

function main(argv: readonly string[]): void {
  const files: string[] = [];
  let output: string | undefined;
  let title: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    if ((a === "-o" || a === "--output") && argv[i + 1] !== undefined) output = argv[++i];
    else if (a === "--title" && argv[i + 1] !== undefined) title = argv[++i];
    else if (a === "-h" || a === "--help") {
      process.stdout.write(USAGE + "\n");
      return;
    } else if (a.startsWith("-")) throw new Error(USAGE);
    else files.push(a);
  }
  if (files.length === 0) throw new Error(USAGE);
  const series = files.map((f) => ({ label: basename(f).replace(/\.csv$/, ""), rows: parseTraceCsv(readFileSync(f, "utf8")) }));
  const svg = renderCwndSvg(series, title === undefined ? {} : { title });
  if (output === undefined) process.stdout.write(svg);
  else writeFileSync(output, svg);
}

if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  try {
    main(process.argv.slice(2));
  } catch (e) {
    process.stderr.write(`${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(2);
  }
}
