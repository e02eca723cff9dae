/**
 * Layer-by-layer comparison of one frame the stack sent with the recorded frame it stands for.
 *
 * Both frames are dissected (src/decode/dissect.ts) and each layer flattened to `layer.field` values
 * (the codecs' Repr fields; byte strings kept as bytes). Fields are compared under the treatments of
 * src/replay/rules.ts; each mismatch becomes one `Difference`. Never throws on any bytes: a frame that
 * does not dissect compares by its layer list and the error.
 */
import { dissectFrame, type Dissection, type Layer } from "../decode/dissect.ts";
import { ipv4ToString, ipv6ToString } from "../wire/ip-address.ts";
import { macToString } from "../wire/mac.ts";
import { WireError } from "../wire/error.ts";
import { TCP_PSH, type TcpOption } from "../wire/tcp.ts";
import { treatmentOf, type RuleOverrides } from "./rules.ts";

/** One way the stack's frame differs from the recorded one. */
export interface Difference {
  /** The recorded frame's number in the capture (1-based, as Wireshark numbers frames). */
  readonly frame: number;
  /** The stack's frame, numbered 1-based in the order it sent them; undefined when it sent none. */
  readonly gotFrame: number | undefined;
  /** "eth", "ipv4", "tcp", …, or "frame" for a missing or extra frame. */
  readonly layer: string;
  /** `layer.field` as in src/replay/rules.ts. */
  readonly field: string;
  readonly expected: string;
  readonly got: string;
}

/** What the comparison of one pair needs to know besides the bytes. */
export interface CompareContext {
  readonly overrides: RuleOverrides;
  /** The recorded endpoint's MAC and the stack's, for `mac` fields. */
  readonly recordedMac: Uint8Array;
  readonly stackMac: Uint8Array;
  /** Initial sequence numbers of this pair's TCP connection, when known (recorded side, stack side). */
  readonly recordedIss: number | undefined;
  readonly stackIss: number | undefined;
}

type Value = string | Uint8Array;

/** A frame taken apart and flattened: field → value, in layer order. */
export interface FlatFrame {
  readonly dissection: Dissection;
  readonly fields: Map<string, Value>;
}

function isMac(name: string, v: Uint8Array): boolean {
  return v.length === 6 && /mac|src|dst|hardware|address|linkLayer/i.test(name);
}

function flattenValue(layer: string, path: string, v: unknown, out: Map<string, Value>, depth: number): void {
  if (depth > 6) return;
  if (v === undefined || v === null) {
    out.set(path, "undefined");
  } else if (v instanceof Uint8Array) {
    if (isMac(path, v)) out.set(path, macToString(v));
    else if (v.length === 16 && (layer === "ipv6" || layer === "icmpv6") && !path.endsWith("payload") && !path.endsWith("data")) out.set(path, ipv6ToString(v));
    else out.set(path, v);
  } else if (v instanceof WireError) {
    out.set(path, `error ${v.layer} ${v.reason}`);
  } else if (Array.isArray(v)) {
    out.set(`${path}.length`, String(v.length));
    v.forEach((item, i) => flattenValue(layer, `${path}.${i}`, item, out, depth + 1));
  } else if (typeof v === "object") {
    for (const [k, x] of Object.entries(v as Record<string, unknown>)) flattenValue(layer, `${path}.${k}`, x, out, depth + 1);
  } else if (typeof v === "number" && (layer === "ipv4" || layer === "arp") && /(^|\.)(src|dst)$|Ip$|ProtocolAddr$/.test(path)) {
    out.set(path, ipv4ToString(v));
  } else {
    out.set(path, String(v));
  }
}

function flattenTcpOptions(options: readonly TcpOption[] | WireError, out: Map<string, Value>): void {
  if (options instanceof WireError) {
    out.set("tcp.options", `error ${options.reason}`);
    return;
  }
  // Kinds in wire order: option order is visible on the wire (and Linux's order is the usual one).
  out.set("tcp.options", options.map((o) => o.kind).join(","));
  for (const o of options) {
    switch (o.kind) {
      case "eol":
      case "nop":
      case "sack-permitted":
        break;
      case "mss":
        out.set("tcp.option.mss.mss", String(o.mss));
        break;
      case "window-scale":
        out.set("tcp.option.window-scale.shift", String(o.shift));
        break;
      case "timestamps":
        out.set("tcp.option.timestamps.tsVal", String(o.tsVal));
        out.set("tcp.option.timestamps.tsEcr", String(o.tsEcr));
        break;
      case "sack":
        out.set("tcp.option.sack.blocks", o.blocks.map((b) => `${b.left}-${b.right}`).join(" "));
        break;
      case "unknown":
        out.set(`tcp.option.unknown-${o.code}`, o.data);
        break;
    }
  }
}

function flattenLayer(l: Layer, hasUpper: boolean, out: Map<string, Value>): void {
  const name = l.name;
  const { repr, ...meta } = l as Layer & { repr: Record<string, unknown> };
  if (name === "tcp") {
    const t = l.repr;
    out.set("tcp.srcPort", String(t.srcPort));
    out.set("tcp.dstPort", String(t.dstPort));
    out.set("tcp.seq", String(t.seq));
    out.set("tcp.ack", String(t.ack));
    // PSH apart (rule tcp.flags.psh): the sender's choice, unlike the other flags.
    out.set("tcp.flags", String(t.flags & ~TCP_PSH));
    out.set("tcp.flags.psh", String((t.flags & TCP_PSH) !== 0));
    out.set("tcp.window", String(t.window));
    out.set("tcp.urgentPointer", String(t.urgentPointer));
    flattenTcpOptions(t.options, out);
    out.set("tcp.payload", t.payload);
  } else {
    for (const [k, v] of Object.entries(repr)) {
      // Lower layers' payloads are what the upper layers compare, unless nothing above parsed them.
      if (k === "payload" && hasUpper) continue;
      if (k === "checksumOk" || k === "checksum") continue;
      flattenValue(name, `${name}.${k}`, v, out, 0);
    }
  }
  for (const [k, v] of Object.entries(meta)) {
    if (k === "name" || k === "chain") continue;
    flattenValue(name, `${name}.${k}`, v, out, 0);
  }
  if (name === "ipv4") out.set("ipv4.checksumOk", String(l.repr.checksumOk));
  if (name === "ipv6") {
    flattenValue(name, "ipv6.chain", l.chain.map(({ offset: _o, ...h }) => h), out, 0);
    if (!hasUpper) {
      // A later fragment: compare what follows the extension headers (they are compared field by field).
      const last = l.chain[l.chain.length - 1];
      out.set("ipv6.payload", l.repr.payload.subarray(last === undefined ? 0 : last.offset + last.length));
    }
  }
}

/** Dissects and flattens a frame. */
export function flattenFrame(bytes: Uint8Array): FlatFrame {
  const d = dissectFrame(bytes);
  const fields = new Map<string, Value>();
  fields.set("frame.layers", d.layers.map((l) => l.name).join("/"));
  d.layers.forEach((l, i) => flattenLayer(l, i < d.layers.length - 1, fields));
  if (d.error !== undefined) fields.set("frame.error", `${d.error.layer} ${d.error.reason}`);
  return { dissection: d, fields };
}

function show(v: Value | undefined): string {
  if (v === undefined) return "(absent)";
  if (typeof v === "string") return v;
  if (v.length <= 16) return `${v.length} bytes ${Buffer.from(v).toString("hex")}`;
  return `${v.length} bytes ${Buffer.from(v.subarray(0, 8)).toString("hex")}…`;
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Where two byte strings of equal length first differ, shown as the two sides. */
function showByteDiff(e: Uint8Array, g: Uint8Array): [string, string] {
  let i = 0;
  while (i < e.length && e[i] === g[i]) i++;
  const hex = (b: Uint8Array) => Buffer.from(b.subarray(i, i + 8)).toString("hex");
  return [`${e.length} bytes, at byte ${i}: ${hex(e)}`, `${g.length} bytes, at byte ${i}: ${hex(g)}`];
}

function lengthOf(v: Value): number {
  return typeof v === "string" ? v.length : v.length;
}

/**
 * The differences between the recorded frame `expected` (number `frame` in the capture) and the
 * stack's frame `got` (its `gotFrame`-th), under the context's rules.
 */
export function compareFrames(expected: FlatFrame, got: FlatFrame, frame: number, gotFrame: number, ctx: CompareContext): Difference[] {
  const out: Difference[] = [];
  const recordedMac = macToString(ctx.recordedMac);
  const stackMac = macToString(ctx.stackMac);
  const diff = (field: string, e: string, g: string) => {
    const layer = field.slice(0, field.indexOf("."));
    out.push({ frame, gotFrame, layer, field, expected: e, got: g });
  };
  const el = expected.fields.get("frame.layers");
  const gl = got.fields.get("frame.layers");
  if (el !== gl) {
    diff("frame.layers", show(el), show(gl));
    return out;
  }
  const names = new Set([...expected.fields.keys(), ...got.fields.keys()]);
  for (const field of names) {
    if (field === "frame.layers") continue;
    const e = expected.fields.get(field);
    const g = got.fields.get(field);
    const t = treatmentOf(field, ctx.overrides);
    switch (t) {
      case "ignore":
        continue;
      case "checksum":
        // The stack's checksum must verify; the recorded one says only what the recorded bytes held.
        if (g !== "good" && g !== "true" && g !== "not-present" && g !== e) diff(field, show(e), show(g));
        continue;
      case "length":
        if (e === undefined || g === undefined || lengthOf(e) !== lengthOf(g)) diff(field, show(e), show(g));
        continue;
      case "isn-relative": {
        if (ctx.recordedIss !== undefined && ctx.stackIss !== undefined && typeof e === "string" && typeof g === "string") {
          const er = (Number(e) - ctx.recordedIss) >>> 0;
          const gr = (Number(g) - ctx.stackIss) >>> 0;
          if (er !== gr) diff(field, `ISN+${er} (${e})`, `ISN+${gr} (${g})`);
        } else if (e !== g) diff(field, show(e), show(g));
        continue;
      }
      case "mac": {
        const e2 = typeof e === "string" ? e.split(recordedMac).join(stackMac) : e;
        if (!valuesEqual(e2, g)) diff(field, show(e2), show(g));
        continue;
      }
      case "exact":
        if (!valuesEqual(e, g)) {
          if (e instanceof Uint8Array && g instanceof Uint8Array && e.length === g.length) diff(field, ...showByteDiff(e, g));
          else diff(field, show(e), show(g));
        }
        continue;
    }
  }
  return out;
}

function valuesEqual(a: Value | undefined, b: Value | undefined): boolean {
  if (a instanceof Uint8Array && b instanceof Uint8Array) return bytesEqual(a, b);
  return a === b;
}
