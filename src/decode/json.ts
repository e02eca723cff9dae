/**
 * `decode --json`: one plain object per frame with every decoded field. Addresses print in their
 * text forms, byte fields as lower-case hex, numbers as numbers; each layer is a key of `layers`
 * in wire order, and `error` says where decoding stopped. The object is meant for `jq` and for tests.
 */
import { WireError } from "../wire/error.ts";
import { ipv4ToString, ipv6ToString } from "../wire/ip-address.ts";
import { macToString } from "../wire/mac.ts";
import type { Dissection, Layer } from "./dissect.ts";

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");
}

/**
 * Turns a codec repr into JSON by field meaning: `payload`/`data`/`invoking`/`rest` become a length
 * and hex, MAC and IP fields their text form. `v6` says how 16-byte fields print.
 */
function plain(value: unknown, key: string, family: 4 | 6 | 0): Json {
  if (value === undefined || value === null) return null;
  if (value instanceof WireError) return { layer: value.layer, reason: value.reason, detail: value.detail };
  if (value instanceof Uint8Array) {
    if (value.length === 6 && /mac|^src$|^dst$|address$|sha|tha/i.test(key) && family === 0) return macToString(value);
    if (value.length === 16 && /src|dst|target|destination|prefix|address|servers/i.test(key)) return ipv6ToString(value);
    if (value.length === 6 && /address|mac/i.test(key)) return macToString(value);
    return hex(value);
  }
  if (typeof value === "number") {
    if (family === 4 && /^(src|dst|senderIp|targetIp|gateway)$/.test(key)) return ipv4ToString(value);
    if (family === 0 && /Ip$/.test(key)) return ipv4ToString(value);
    return value;
  }
  if (typeof value === "boolean" || typeof value === "string") return value;
  if (Array.isArray(value)) return value.map((v) => plain(v, key, family));
  if (typeof value === "object") {
    const out: { [k: string]: Json } = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (k === "payload" || k === "invoking" || k === "rest" || k === "data" || k === "packet") {
        const bytes = v as Uint8Array;
        out[`${k}Length`] = bytes.length;
        out[k] = hex(bytes);
        continue;
      }
      out[k] = plain(v, k, family);
    }
    return out;
  }
  return String(value);
}

function layerJson(layer: Layer): Json {
  switch (layer.name) {
    case "eth":
    case "llc":
    case "arp":
      return plain(layer.repr, layer.name, 0);
    case "ipv4": {
      const { payload, ...fields } = layer.repr;
      return { ...(plain(fields, "", 4) as object), length: layer.length, checksum: layer.checksum, payloadLength: payload.length };
    }
    case "ipv6": {
      const { payload, ...fields } = layer.repr;
      return {
        ...(plain(fields, "", 6) as object),
        payloadLength: payload.length,
        extensionHeaders: plain(layer.chain, "chain", 6),
        upperLayer: layer.upperLayer,
      };
    }
    case "icmpv4":
      return { type: layer.type, code: layer.code, ...(plain(layer.repr, "", 4) as object), checksum: layer.checksum, length: layer.length };
    case "icmpv6":
      return { type: layer.type, code: layer.code, ...(plain(layer.repr, "", 6) as object), checksum: layer.checksum, length: layer.length };
    case "udp":
      return { ...(plain(layer.repr, "", 0) as object), length: layer.length, checksum: layer.checksum };
    case "tcp":
      return { ...(plain(layer.repr, "", 0) as object), headerLength: layer.headerLen, checksum: layer.checksum };
  }
}

/** The JSON object for frame number `n` (1-based, as tshark counts). */
export function frameJson(n: number, sec: number, nsec: number, d: Dissection): { [key: string]: Json } {
  const layers: { [key: string]: Json } = {};
  for (const layer of d.layers) layers[layer.name] = layerJson(layer);
  return {
    frame: n,
    time: `${sec}.${String(nsec).padStart(9, "0")}`,
    caplen: d.caplen,
    len: d.len,
    layers,
    fragment: d.fragment ? (plain(d.fragment, "fragment", 0) as Json) : null,
    error: d.error ? (plain(d.error, "error", 0) as Json) : null,
  };
}
