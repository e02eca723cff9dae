/**
 * The comparison rules of a replay: for each field that may legitimately differ between the recorded
 * endpoint (usually the Linux kernel) and wirestack playing it, how it is compared and why. Every
 * field not named here is compared exactly. The table is data: `replay` takes overrides
 * (`rules: { "tcp.window": "exact" }`) and captures/conformance/README.md explains each entry.
 *
 * Field names are `layer.field` as `src/replay/compare.ts` flattens a dissected frame: the codec's
 * Repr field names (RFC names), with TCP options spelled `tcp.options` (the kinds in wire order) and
 * `tcp.option.KIND.FIELD` (one option's value).
 */

/**
 * How one field is compared.
 * - `exact`: the values must be equal.
 * - `ignore`: not compared.
 * - `checksum`: the stack's checksum must verify (the recorded one is a property of the recorded bytes).
 * - `mac`: equal after the recorded endpoint's MAC is replaced by the stack's.
 * - `isn-relative`: equal as offsets from each side's initial sequence number.
 * - `length`: only the lengths (or counts) must be equal.
 * - `tolerance`: a time, equal within a bound the rule's entry states (src/replay/engine.ts).
 */
export type Treatment = "exact" | "ignore" | "checksum" | "mac" | "isn-relative" | "length" | "tolerance";

/** One rule: a field (`*` stands for one name or index, a final `*` for any rest), its treatment, and why. */
export interface Rule {
  readonly field: string;
  readonly treatment: Treatment;
  readonly why: string;
}

/** Per-field overrides of the table: `{ "tcp.window": "exact", "ipv4.ttl": "ignore" }`. */
export type RuleOverrides = Readonly<Record<string, Treatment>>;

/** The rules wirestack is replayed under. Order matters only among overlapping prefixes: first wins. */
export const RULES: readonly Rule[] = [
  {
    field: "frame.pure-ack",
    treatment: "ignore",
    why: "RFC 9293 §3.8.6.3 / RFC 1122 §4.2.3.2: when to acknowledge is the receiver's choice; Linux acks at once in quick-ACK mode, wirestack delays (40 ms) and merges ACKs into the data it sends; a bare ACK (no data, SYN, FIN or RST) on either side may have no counterpart. \"exact\" pairs every bare ACK",
  },
  {
    field: "ipv4.dontFragment",
    treatment: "ignore",
    why: "Linux sets DF on everything it sends (path MTU discovery, RFC 1191, ip_no_pmtu_disc=0); wirestack does no PMTU discovery and leaves DF clear, so routers may fragment (RFC 791 §3.2)",
  },
  { field: "eth.src", treatment: "mac", why: "the stack may be given another MAC (--mac) than the recorded host had" },
  { field: "arp.senderMac", treatment: "mac", why: "the stack's own MAC, as eth.src" },
  { field: "icmpv6.options.*", treatment: "mac", why: "NDP link-layer address options carry the stack's own MAC (RFC 4861 §4.6.1)" },
  { field: "ipv4.checksumOk", treatment: "checksum", why: "recomputed over our own header (RFC 791 §3.1)" },
  {
    field: "ipv4.ident",
    treatment: "ignore",
    why: "RFC 6864 §4.1: the ID only has to be unique per source, destination and protocol while fragments may be in flight; Linux derives it from a hashed per-destination counter, wirestack from its own seeded counter",
  },
  {
    field: "ipv6.flowLabel",
    treatment: "ignore",
    why: "RFC 6437 §3: a source may choose any flow label (Linux hashes the flow, auto_flowlabels); wirestack sends 0 or its own",
  },
  {
    field: "ipv6.chain.*.identification",
    treatment: "ignore",
    why: "RFC 8200 §4.5 / RFC 7739: the Fragment header's Identification is the source's choice (Linux hashes it per destination)",
  },
  { field: "icmpv4.checksum", treatment: "checksum", why: "recomputed over our own message (RFC 792)" },
  { field: "icmpv6.checksum", treatment: "checksum", why: "recomputed over our own message and pseudo-header (RFC 4443 §2.3)" },
  { field: "udp.checksum", treatment: "checksum", why: "recomputed (RFC 768)" },
  { field: "tcp.checksum", treatment: "checksum", why: "recomputed (RFC 9293 §3.1)" },
  {
    field: "tcp.seq",
    treatment: "isn-relative",
    why: "RFC 9293 §3.4.1 / RFC 6528: each side picks its ISN at random; every sequence number is compared relative to it",
  },
  {
    field: "tcp.window",
    treatment: "ignore",
    why: "RFC 9293 §3.8.6: the offered window is the receiver's buffer policy; Linux sizes it from tcp_rmem and autotuning, wirestack from its fixed 256 KiB buffer",
  },
  {
    field: "tcp.option.window-scale.shift",
    treatment: "ignore",
    why: "RFC 7323 §2.3: the shift follows from the receive buffer size, a local choice (Linux 7 for ~6 MB, wirestack for 256 KiB)",
  },
  {
    field: "tcp.flags.psh",
    treatment: "ignore",
    why: "RFC 9293 §3.9.1 / RFC 1122 §4.2.2.2: where PSH goes is the sender's choice and a receiver may not rely on it; Linux marks a segment when a write ends or every half window (forced_push), wirestack when a segment empties its send buffer. The other flags are compared exactly",
  },
  {
    field: "tcp.probe.time",
    treatment: "tolerance",
    why: "RFC 1122 §4.2.2.17 / RFC 6298 §5.5: zero-window probes start one RTO after the window closes and back off exponentially, in Linux (tcp_probe0_when: max(RTO, 200 ms) doubled per probe) as in wirestack (the same rule over its own RTO); each side's RTO follows its own RTT samples, so a probe's time (ms from the first frame) may be off by 15 % of the recorded time, at least 50 ms. Probes are never excused as bare ACKs (frame.pure-ack)",
  },
  {
    field: "tcp.option.timestamps.tsVal",
    treatment: "ignore",
    why: "RFC 7323 §5.4: the timestamp clock's origin (and Linux's per-connection random offset) is the sender's own",
  },
];

/**
 * The treatment of `field` under `RULES` and `overrides`: an override for the exact field first, then
 * the first table entry that names it (exactly or by pattern), else `exact`.
 */
export function treatmentOf(field: string, overrides: RuleOverrides = {}): Treatment {
  const o = overrides[field];
  if (o !== undefined) return o;
  for (const r of RULES) if (r.field === field || matches(r.field, field)) return r.treatment;
  return "exact";
}

function matches(pattern: string, field: string): boolean {
  if (!pattern.includes("*")) return false;
  const p = pattern.split(".");
  const f = field.split(".");
  for (let i = 0; i < p.length; i++) {
    if (p[i] === "*" && i === p.length - 1) return f.length >= p.length;
    if (p[i] !== "*" && p[i] !== f[i]) return false;
    if (f[i] === undefined) return false;
  }
  return p.length === f.length;
}
