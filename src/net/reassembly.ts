/**
 * Fragment reassembly for IPv4 (RFC 791 §3.2 "Reassembly", RFC 815 hole descriptors) and IPv6
 * (RFC 8200 §4.5, RFC 5722 overlapping fragments), keyed by the caller (IPv4: src, dst, protocol,
 * identification; IPv6: src, dst, identification).
 *
 * Owns: the fragments of incomplete datagrams (copied: received frames are not kept alive), their
 * timeouts and the memory they hold. Sans-IO: `now` comes in, `nextDeadline()` goes out.
 *
 * Theory of operation. Each datagram keeps its fragments sorted by offset and never overlapping, plus
 * the count of bytes received; the total length is known once the last fragment (M = 0) arrives, and
 * the datagram is complete when the bytes received equal it. This is RFC 815's hole list turned
 * around: the holes are the gaps between held fragments.
 *
 * Overlaps (teardrop and its relatives):
 * - policy "ipv4": data already held is never overwritten; a new fragment is trimmed to the holes it
 *   fills (first arrival wins, consistently), and one that fills no hole is a duplicate, ignored.
 * - policy "ipv6": an exact duplicate is ignored; any other overlap discards the whole datagram
 *   (RFC 5722 §4).
 * Lengths: a fragment with M set whose length is not a multiple of 8 is refused ("bad-length"; for
 * IPv6 the caller answers with a Parameter Problem, RFC 8200 §4.5); an empty fragment with M set is
 * refused; a datagram whose end would pass `maxDatagramLen` (65535 by default; the IPv4 layer passes
 * 65535 minus its header: ping of death) is discarded whole; a second last fragment with another
 * total, or data past the total, discards the datagram ("inconsistent-length").
 *
 * Bounds (every one configurable, all refusals counted as `drop.frag-<reason>` in the given counters):
 * - `maxBytes`: bytes held, counting each fragment's data plus `FRAGMENT_OVERHEAD` and each datagram's
 *   `DATAGRAM_OVERHEAD` (so a flood of 1-byte fragments is bounded too). Past it a new datagram or
 *   fragment is refused ("memory"): what is held never grows past the bound, and held datagrams are
 *   never evicted by newcomers (an attacker's flood cannot push out a datagram about to complete; it
 *   can only delay new ones until its own entries time out).
 * - `maxDatagrams`: datagrams in progress; `maxFragmentsPerDatagram`: pieces held for one datagram.
 * - `timeoutMs`: from the first fragment of a datagram (RFC 791 suggests 15 s; Linux uses 30 s).
 *   Expired datagrams are returned by `poll` with the offset-0 fragment's bytes when it arrived, so
 *   the caller can send "fragment reassembly time exceeded" (RFC 792; RFC 8200 §4.5: only then).
 */
import type { Counters } from "../util/counters.ts";

/** Reassembler configuration; `maxDatagramLen` defaults to 65535. */
export interface ReassemblyConfig {
  readonly policy: "ipv4" | "ipv6";
  readonly timeoutMs: number;
  readonly maxDatagrams: number;
  readonly maxBytes: number;
  readonly maxFragmentsPerDatagram: number;
  readonly counters: Counters;
  /** Largest reassembled payload: a fragment ending past it discards its datagram. */
  readonly maxDatagramLen?: number;
}

/** What `add` did with a fragment. */
export type ReassemblyResult =
  | { readonly kind: "complete"; readonly data: Uint8Array; readonly first: Uint8Array | undefined }
  | { readonly kind: "pending" }
  | { readonly kind: "dropped"; readonly reason: string };

/** Bytes of bookkeeping charged to `maxBytes` for each fragment held. */
export const FRAGMENT_OVERHEAD = 64;
/** Bytes of bookkeeping charged to `maxBytes` for each datagram in progress. */
export const DATAGRAM_OVERHEAD = 128;

interface Piece {
  readonly start: number;
  readonly end: number;
  readonly data: Uint8Array;
}

interface Pending {
  readonly deadline: number;
  readonly pieces: Piece[];
  received: number;
  total: number | undefined;
  /** Bytes charged to `maxBytes`. */
  charged: number;
  first: Uint8Array | undefined;
}

const PENDING: ReassemblyResult = { kind: "pending" };

/** Reassembles fragmented datagrams within fixed memory and time bounds. */
export class Reassembler {
  private readonly datagrams = new Map<string, Pending>();
  private held = 0;
  private readonly maxLen: number;

  constructor(private readonly config: ReassemblyConfig) {
    this.maxLen = config.maxDatagramLen ?? 0xffff;
  }

  /** Bytes currently charged against `maxBytes`. */
  get bytesHeld(): number {
    return this.held;
  }

  /** Datagrams in progress. */
  get size(): number {
    return this.datagrams.size;
  }

  /**
   * Adds the fragment at byte `offset` of datagram `key`, with `more` its M flag. `first` (offset 0
   * only) is kept for ICMP quoting and returned with the completed datagram. `data` is copied.
   */
  add(key: string, offset: number, more: boolean, data: Uint8Array, now: number, first?: Uint8Array): ReassemblyResult {
    const c = this.config;
    const len = data.length;
    const end = offset + len;
    if (end > this.maxLen) return this.discard(key, "too-big");
    if (more && len % 8 !== 0) return this.refuse("bad-length"); // RFC 791 §3.2, RFC 8200 §4.5
    if (more && len === 0) return this.refuse("empty");
    let p = this.datagrams.get(key);
    if (p === undefined) {
      if (this.datagrams.size >= c.maxDatagrams) return this.refuse("too-many-datagrams");
      if (this.held + DATAGRAM_OVERHEAD + FRAGMENT_OVERHEAD + len + (first?.length ?? 0) > c.maxBytes) {
        return this.refuse("memory");
      }
      p = { deadline: now + c.timeoutMs, pieces: [], received: 0, total: undefined, charged: DATAGRAM_OVERHEAD, first: undefined };
      this.datagrams.set(key, p);
      this.held += DATAGRAM_OVERHEAD;
    }
    if (!more) {
      const maxEnd = p.pieces.length === 0 ? 0 : (p.pieces[p.pieces.length - 1] as Piece).end;
      if ((p.total !== undefined && p.total !== end) || maxEnd > end) return this.discard(key, "inconsistent-length");
      p.total = end;
    } else if (p.total !== undefined && end > p.total) {
      return this.discard(key, "inconsistent-length");
    }

    const gaps = holesWithin(p.pieces, offset, end);
    const fresh = gaps.reduce((n, [s, e]) => n + e - s, 0);
    if (fresh !== len) {
      const exactDuplicate = p.pieces.some((q) => q.start === offset && q.end === end);
      if (c.policy === "ipv6" && !exactDuplicate) return this.discard(key, "overlap"); // RFC 5722 §4
      c.counters.inc(exactDuplicate || fresh === 0 ? "frag-duplicate" : "frag-overlap-trimmed");
      if (fresh === 0 || c.policy === "ipv6") return this.emptyResult(key, p);
    }
    if (p.pieces.length + gaps.length > c.maxFragmentsPerDatagram) return this.discard(key, "too-many-fragments");
    const keepFirst = offset === 0 && first !== undefined && p.first === undefined;
    const cost = fresh + gaps.length * FRAGMENT_OVERHEAD + (keepFirst ? first.length : 0);
    if (this.held + cost > c.maxBytes) {
      const r = this.refuse("memory");
      this.emptyResult(key, p);
      return r;
    }
    for (const [s, e] of gaps) p.pieces.push({ start: s, end: e, data: data.slice(s - offset, e - offset) });
    p.pieces.sort((a, b) => a.start - b.start);
    if (keepFirst) p.first = first.slice();
    p.received += fresh;
    p.charged += cost;
    this.held += cost;

    if (p.total !== undefined && p.received === p.total) {
      this.release(key, p);
      const out = new Uint8Array(p.total);
      for (const q of p.pieces) out.set(q.data, q.start);
      c.counters.inc("frag-reassembled");
      return { kind: "complete", data: out, first: p.first };
    }
    return PENDING;
  }

  /** Removes expired datagrams; each is returned with its offset-0 fragment when that arrived. */
  poll(now: number): Array<{ key: string; first: Uint8Array | undefined }> {
    const out: Array<{ key: string; first: Uint8Array | undefined }> = [];
    // Deadlines are creation time + a constant, and the Map iterates in creation order.
    for (const [key, p] of this.datagrams) {
      if (p.deadline > now) break;
      this.release(key, p);
      this.config.counters.inc("drop.frag-timeout");
      out.push({ key, first: p.first });
    }
    return out;
  }

  /** When the oldest datagram in progress expires. */
  nextDeadline(): number | undefined {
    for (const p of this.datagrams.values()) return p.deadline;
    return undefined;
  }

  /** A datagram left empty by a refused first fragment is not kept. */
  private emptyResult(key: string, p: Pending): ReassemblyResult {
    if (p.pieces.length === 0 && p.total === undefined) this.release(key, p);
    return PENDING;
  }

  private refuse(reason: string): ReassemblyResult {
    this.config.counters.inc(`drop.frag-${reason}`);
    return { kind: "dropped", reason };
  }

  /** Discards datagram `key` (if held) and counts `drop.frag-<reason>`: for checks only the caller can make. */
  discard(key: string, reason: string): ReassemblyResult {
    const p = this.datagrams.get(key);
    if (p !== undefined) this.release(key, p);
    return this.refuse(reason);
  }

  private release(key: string, p: Pending): void {
    this.datagrams.delete(key);
    this.held -= p.charged;
  }
}

/** The parts of [start, end) not covered by `pieces` (sorted, disjoint). */
function holesWithin(pieces: readonly Piece[], start: number, end: number): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  let cursor = start;
  for (const q of pieces) {
    if (q.end <= cursor) continue;
    if (q.start >= end) break;
    if (q.start > cursor) out.push([cursor, q.start]);
    cursor = Math.max(cursor, q.end);
    if (cursor >= end) break;
  }
  if (cursor < end) out.push([cursor, end]);
  return out;
}
