/**
 * Selective acknowledgment, both ends. Read first: RFC 2018 (the SACK option; §4 which blocks a
 * receiver reports, §8 reneging), RFC 6675 (the sender's scoreboard, IsLost, SetPipe, NextSeg),
 * RFC 2883 (D-SACK: a block below the cumulative ACK reports a duplicate).
 *
 * Receiver side, `OutOfOrderQueue`: segments that arrived above RCV.NXT, held as copies (the
 * received frame is not retained), kept sorted and non-overlapping. Bounded both in bytes and in
 * entries: what does not fit is refused, never evicted, so data already reported in a SACK block is
 * never reneged. `take` hands back in-order data once the hole below it is filled; `sackBlocks`
 * reports contiguous ranges in RFC 2018 §4 order (the block holding the latest segment first, then
 * the most recently reported others).
 *
 * Sender side, `Scoreboard`: the SACKed ranges above SND.UNA, sorted and merged. Holes are the gaps
 * between SND.UNA and the highest SACKed byte. All queries walk the ranges once (O(ranges)), which
 * the receiver bounds (a peer reports at most a few blocks per ACK and we keep at most
 * `MAX_SCOREBOARD_RANGES`); nothing here runs outside loss recovery on the fast path.
 *
 * All sequence arithmetic goes through seq.ts.
 */
import type { SackBlock } from "../../wire/tcp.ts";
import { seqAdd, seqGe, seqGt, seqLe, seqLt, seqMax, seqMin, seqSub } from "./seq.ts";

/** RFC 6675 §2: DupThresh, the number of duplicate ACKs (or SACKed segments) that signal a loss. */
export const DUP_THRESH = 3;

/** Most ranges the sender keeps: blocks beyond this are ignored (less information, never wrong). */
export const MAX_SCOREBOARD_RANGES = 256;

interface Held {
  seq: number;
  data: Uint8Array;
}

/** Segments received above RCV.NXT, waiting for the hole below them (RFC 9293 §3.10.7.4, seventh). */
export class OutOfOrderQueue {
  /** Sorted by `seq`, non-overlapping (adjacent entries are allowed: merging would copy). */
  private held: Held[] = [];
  private heldBytes = 0;
  /** A sequence number inside each recently received or reported block, most recent first. */
  private recent: number[] = [];

  /**
   * `maxBytes` bounds the bytes held; `maxSegments` bounds the entries (a flood of one-byte
   * segments must not cost unbounded bookkeeping).
   */
  constructor(
    readonly maxBytes: number,
    readonly maxSegments: number = 4096,
  ) {}

  /** Bytes held. */
  get bytes(): number {
    return this.heldBytes;
  }

  /** True when nothing is held. */
  get isEmpty(): boolean {
    return this.held.length === 0;
  }

  /** The sequence number after the highest byte held, or undefined when empty. */
  get highestEnd(): number | undefined {
    const last = this.held[this.held.length - 1];
    return last === undefined ? undefined : seqAdd(last.seq, last.data.length);
  }

  /**
   * Copies the part of `data` (starting at `seq`) that lies above `rcvNxt` and is not held yet.
   * Returns true when every byte of it is now held (new or already there), false when some were
   * refused for lack of room. The segment is remembered as the most recent for `sackBlocks`.
   */
  insert(seq: number, data: Uint8Array, rcvNxt: number): boolean {
    let start = seq;
    let end = seqAdd(seq, data.length);
    if (seqLt(start, rcvNxt)) start = rcvNxt;
    if (!seqLt(start, end)) return true;
    this.noteRecent(start);
    // Fill the gaps of [start, end) between held entries, left to right.
    let i = this.firstEndingAfter(start);
    let complete = true;
    let cursor = start;
    while (seqLt(cursor, end)) {
      const h = this.held[i];
      const gapEnd = h === undefined ? end : seqMin(end, h.seq);
      if (seqLt(cursor, gapEnd)) {
        const n = seqSub(gapEnd, cursor);
        if (this.heldBytes + n > this.maxBytes || this.held.length >= this.maxSegments) {
          complete = false;
          break;
        }
        const off = seqSub(cursor, seq);
        this.held.splice(i, 0, { seq: cursor, data: data.slice(off, off + n) });
        this.heldBytes += n;
        i++;
      }
      if (h === undefined) break;
      cursor = seqMax(cursor, seqAdd(h.seq, h.data.length));
      i++;
    }
    return complete;
  }

  /**
   * The next piece of data starting at `rcvNxt`, removing it (and anything now below `rcvNxt`), or
   * undefined when the hole at `rcvNxt` is still open. Call until undefined.
   */
  take(rcvNxt: number): Uint8Array | undefined {
    for (;;) {
      const h = this.held[0];
      if (h === undefined) return undefined;
      const end = seqAdd(h.seq, h.data.length);
      if (seqGt(h.seq, rcvNxt)) return undefined;
      this.held.shift();
      this.heldBytes -= h.data.length;
      if (seqLe(end, rcvNxt)) continue;
      return h.data.subarray(seqSub(rcvNxt, h.seq));
    }
  }

  /**
   * Up to `max` SACK blocks (RFC 2018 §3: at most 4, 3 beside timestamps), RFC 2018 §4 order: the
   * block holding the most recently received segment first, then other blocks in the order they
   * were most recently reported. Blocks at or below `rcvNxt` are not reported.
   */
  sackBlocks(max: number, rcvNxt: number): SackBlock[] {
    const out: SackBlock[] = [];
    if (this.held.length === 0 || max <= 0) return out;
    const kept: number[] = [];
    for (const s of this.recent) {
      if (out.length >= max) break;
      const b = this.blockContaining(s);
      if (b === undefined || seqLe(b.right, rcvNxt)) continue;
      if (out.some((o) => o.left === b.left)) continue;
      out.push(b);
      kept.push(s);
    }
    // Blocks never reported (e.g. the recent list was trimmed): lowest first.
    if (out.length < max) {
      for (const b of this.blocks()) {
        if (out.length >= max) break;
        if (!out.some((o) => o.left === b.left)) out.push(b);
      }
    }
    this.recent = kept;
    return out;
  }

  /** All contiguous ranges held, lowest first. */
  blocks(): SackBlock[] {
    const out: SackBlock[] = [];
    let left: number | undefined;
    let right = 0;
    for (const h of this.held) {
      const end = seqAdd(h.seq, h.data.length);
      if (left !== undefined && h.seq === right) {
        right = end;
        continue;
      }
      if (left !== undefined) out.push({ left, right });
      left = h.seq;
      right = end;
    }
    if (left !== undefined) out.push({ left, right });
    return out;
  }

  /** Drops everything (RST, abort). */
  clear(): void {
    this.held = [];
    this.heldBytes = 0;
    this.recent = [];
  }

  private noteRecent(seq: number): void {
    const blockOf = this.blockContaining(seq);
    this.recent = this.recent.filter((s) => {
      const b = this.blockContaining(s);
      return b === undefined || blockOf === undefined || b.left !== blockOf.left;
    });
    this.recent.unshift(seq);
    if (this.recent.length > 8) this.recent.length = 8;
  }

  /** Index of the first entry whose end lies after `seq`. */
  private firstEndingAfter(seq: number): number {
    let lo = 0;
    let hi = this.held.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const h = this.held[mid] as Held;
      if (seqLe(seqAdd(h.seq, h.data.length), seq)) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** The contiguous range holding `seq`, or undefined. */
  private blockContaining(seq: number): SackBlock | undefined {
    const i = this.firstEndingAfter(seq);
    const h = this.held[i];
    if (h === undefined || seqGt(h.seq, seq)) return undefined;
    let lo = i;
    while (lo > 0) {
      const p = this.held[lo - 1] as Held;
      if (seqAdd(p.seq, p.data.length) !== (this.held[lo] as Held).seq) break;
      lo--;
    }
    let hi = i;
    while (hi + 1 < this.held.length) {
      const cur = this.held[hi] as Held;
      if (seqAdd(cur.seq, cur.data.length) !== (this.held[hi + 1] as Held).seq) break;
      hi++;
    }
    const last = this.held[hi] as Held;
    return { left: (this.held[lo] as Held).seq, right: seqAdd(last.seq, last.data.length) };
  }
}

/** What `Scoreboard.nextSeg` proposes to send (RFC 6675 §4 NextSeg). */
export type NextSegment =
  | { readonly kind: "retransmit"; readonly seq: number; readonly len: number }
  | { readonly kind: "new-data" }
  | { readonly kind: "none" };

const NEW_DATA: NextSegment = Object.freeze({ kind: "new-data" });
const NONE: NextSegment = Object.freeze({ kind: "none" });

interface Range {
  left: number;
  right: number;
}

/** The sender's record of SACKed data above SND.UNA (RFC 6675 §3). */
export class Scoreboard {
  private ranges: Range[] = [];
  private sacked = 0;
  /** D-SACK blocks seen (RFC 2883). */
  dsacks = 0;
  /**
   * The D-SACK block of the last `update` (RFC 2883 §4: the first block, when it lies at or below
   * the cumulative ACK or inside the second block), or undefined. The connection uses it to detect
   * spurious retransmissions (RFC 3708 §3, as Linux's tcp_check_dsack).
   */
  lastDsack: SackBlock | undefined = undefined;

  /** Bytes SACKed above SND.UNA. */
  get sackedBytes(): number {
    return this.sacked;
  }

  /** True when nothing is SACKed. */
  get isEmpty(): boolean {
    return this.ranges.length === 0;
  }

  /** The sequence number after the highest SACKed byte (RFC 6675 "HighSACK" + 1), or undefined. */
  get highSackEnd(): number | undefined {
    const r = this.ranges[this.ranges.length - 1];
    return r?.right;
  }

  /**
   * Applies an ACK: drops what SND.UNA now covers, then merges `blocks`. Blocks at or below
   * `sndUna` are D-SACKs (RFC 2883) or stale and are only counted; blocks reaching beyond `sndMax`
   * or empty are ignored (RFC 2018 does not allow them; a broken or hostile peer might send them).
   * Returns the bytes newly SACKed.
   */
  update(blocks: readonly SackBlock[] | undefined, sndUna: number, sndMax: number): number {
    this.advance(sndUna);
    this.lastDsack = undefined;
    if (blocks === undefined) return 0;
    const before = this.sacked;
    const first = blocks[0];
    const second = blocks[1];
    // RFC 2883 §4: only the first block can be a D-SACK, below the ACK or within the second block.
    if (first !== undefined && seqLt(first.left, first.right)) {
      const inSecond = second !== undefined && seqGe(first.left, second.left) && seqLe(first.right, second.right);
      if (seqLe(first.right, sndUna) || inSecond) {
        this.dsacks++;
        this.lastDsack = first;
      }
    }
    for (const b of blocks) {
      if (!seqLt(b.left, b.right)) continue;
      if (seqLe(b.right, sndUna)) continue;
      if (seqGt(b.right, sndMax)) continue;
      this.add(seqMax(b.left, sndUna), b.right);
    }
    return this.sacked - before;
  }

  /** Forgets everything (after an RTO: RFC 2018 §8, the receiver may have reneged). */
  clear(): void {
    this.ranges = [];
    this.sacked = 0;
    this.lastDsack = undefined;
  }

  /** True when `seq` lies in a SACKed range. */
  isSacked(seq: number): boolean {
    for (const r of this.ranges) {
      if (seqLt(seq, r.left)) return false;
      if (seqLt(seq, r.right)) return true;
    }
    return false;
  }

  /** Bytes SACKed above `seq` (O(ranges above it)). */
  sackedAbove(seq: number): number {
    let bytes = 0;
    for (let i = this.ranges.length - 1; i >= 0; i--) {
      const r = this.ranges[i] as Range;
      if (seqLe(r.right, seq)) break;
      bytes += seqSub(r.right, seqMax(r.left, seq));
    }
    return bytes;
  }

  /**
   * RFC 6675 §4 IsLost(seq): DupThresh discontiguous SACKed ranges above `seq`, or more than
   * (DupThresh − 1) × SMSS bytes SACKed above it. `dupThresh` is the connection's current one:
   * raised when reordering was measured (RFC 4653 §3, as Linux's tp->reordering), lowered for
   * early retransmission on a small flight (RFC 5827 §3.2).
   */
  isLost(seq: number, smss: number, dupThresh: number = DUP_THRESH): boolean {
    let bytes = 0;
    let count = 0;
    for (let i = this.ranges.length - 1; i >= 0; i--) {
      const r = this.ranges[i] as Range;
      if (seqLe(r.right, seq)) break;
      bytes += seqSub(r.right, seqMax(r.left, seqAdd(seq, 1)));
      count++;
    }
    return count >= dupThresh || bytes > (dupThresh - 1) * smss;
  }

  /**
   * RFC 6675 §4 SetPipe: octets in flight. Every unSACKed octet in [sndUna, sndMax) counts once
   * unless it is deemed lost and not yet retransmitted (below `highRxt`). Lost octets are those of
   * holes below the highest SACKed byte for which `isLost` holds; since IsLost only weakens going
   * up, they form a prefix of the holes. Unlike the RFC's letter, a retransmitted octet that is not
   * deemed lost (NextSeg rule 3) counts once, not twice, as Linux's packets_out − sacked − lost +
   * retrans does: the difference is at most one segment per rule-3 send.
   */
  pipe(sndUna: number, sndMax: number, highRxt: number, smss: number, dupThresh: number = DUP_THRESH): number {
    const outstanding = seqSub(sndMax, sndUna);
    if (this.ranges.length === 0) return Math.max(0, outstanding);
    let pipe = outstanding - this.sacked;
    let cursor = sndUna;
    for (const r of this.ranges) {
      // The hole [cursor, r.left): all its octets share the same SACKed-above amount.
      if (seqLt(cursor, r.left)) {
        if (!this.isLost(cursor, smss, dupThresh)) break;
        const holeLen = seqSub(r.left, cursor);
        const rxt = seqGt(highRxt, cursor) ? Math.min(holeLen, seqSub(highRxt, cursor)) : 0;
        pipe -= holeLen - rxt;
      }
      cursor = r.right;
    }
    return Math.max(0, pipe);
  }

  /**
   * RFC 6675 §4 NextSeg. `from` is max(HighRxt, SND.UNA): the first candidate for retransmission.
   * Rule 1: the first unSACKed hole octet at or after `from`, below the highest SACKed byte, that
   * IsLost → retransmit up to `smss` bytes (not into SACKed data). Rule 2: new data if
   * `haveNewData` (the caller checks the receive window). Rule 3: the first such hole octet even if
   * not deemed lost. Rule 4 (rescue retransmission) is not implemented: the RTO covers that case.
   */
  nextSeg(from: number, smss: number, haveNewData: boolean, dupThresh: number = DUP_THRESH): NextSegment {
    const hole = this.firstHoleAtOrAfter(from);
    if (hole !== undefined && this.isLost(hole.seq, smss, dupThresh)) {
      return { kind: "retransmit", seq: hole.seq, len: Math.min(smss, hole.len) };
    }
    if (haveNewData) return NEW_DATA;
    if (hole !== undefined) return { kind: "retransmit", seq: hole.seq, len: Math.min(smss, hole.len) };
    return NONE;
  }

  /** The first unSACKed stretch starting at or after `from` and below the highest SACKed byte. */
  private firstHoleAtOrAfter(from: number): { seq: number; len: number } | undefined {
    let cursor = from;
    for (const r of this.ranges) {
      if (seqLe(r.right, cursor)) continue;
      if (seqLt(cursor, r.left)) return { seq: cursor, len: seqSub(r.left, cursor) };
      cursor = r.right;
    }
    return undefined;
  }

  private advance(sndUna: number): void {
    while (this.ranges.length > 0) {
      const r = this.ranges[0] as Range;
      if (seqGe(sndUna, r.right)) {
        this.sacked -= seqSub(r.right, r.left);
        this.ranges.shift();
        continue;
      }
      if (seqGt(sndUna, r.left)) {
        this.sacked -= seqSub(sndUna, r.left);
        r.left = sndUna;
      }
      break;
    }
  }

  private add(left: number, right: number): void {
    // Find the first range that ends at or after `left` (may merge), then absorb overlaps.
    let i = 0;
    while (i < this.ranges.length && seqLt((this.ranges[i] as Range).right, left)) i++;
    let l = left;
    let r = right;
    let j = i;
    let removed = 0;
    while (j < this.ranges.length && seqLe((this.ranges[j] as Range).left, r)) {
      const x = this.ranges[j] as Range;
      l = seqMin(l, x.left);
      r = seqMax(r, x.right);
      removed += seqSub(x.right, x.left);
      j++;
    }
    if (j === i && this.ranges.length >= MAX_SCOREBOARD_RANGES) return;
    this.ranges.splice(i, j - i, { left: l, right: r });
    this.sacked += seqSub(r, l) - removed;
  }
}
