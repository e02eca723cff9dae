/**
 * The one timer structure of a stack (STYLE.md §5): a binary min-heap of (deadline, item).
 *
 * Guarantees: `pop` returns items in deadline order, and items with equal deadlines in the order they
 * were pushed (each entry carries a sequence number), so a seeded simulation replays exactly. Deadlines
 * are milliseconds on a `Clock`; any number except NaN (which has no order) is accepted, Infinity included.
 *
 * What it never does: remove or update an entry in place. When an owner's deadline moves, the owner
 * pushes a new entry and the old one stays until it surfaces; the caller skips it then. The pattern:
 *
 *   heap.push(conn.deadline, conn);                  // whenever conn.deadline changes
 *   while (heap.size > 0 && heap.peekDeadline()! <= now) {
 *     const d = heap.peekDeadline()!, conn = heap.pop()!;
 *     if (conn.deadline !== d) continue;             // stale: the deadline moved since this push
 *     conn.poll(now);
 *   }
 *
 * A heap that accumulates many stale entries can be compacted with `retain`.
 */

interface Entry<T> {
  readonly deadline: number;
  readonly seq: number;
  readonly item: T;
}

/** A min-heap of items keyed by deadline; ties pop in insertion order. */
export class DeadlineHeap<T> {
  private entries: Entry<T>[] = [];
  private nextSeq = 0;

  /** Number of entries, stale ones included. */
  get size(): number {
    return this.entries.length;
  }

  /** Adds `item` due at `deadline`. Throws RangeError for NaN (misuse: it would break the order). */
  push(deadline: number, item: T): void {
    if (Number.isNaN(deadline)) throw new RangeError("DeadlineHeap.push: deadline is NaN");
    this.entries.push({ deadline, seq: this.nextSeq++, item });
    this.siftUp(this.entries.length - 1);
  }

  /** The earliest deadline, or undefined when empty. */
  peekDeadline(): number | undefined {
    return this.entries[0]?.deadline;
  }

  /** The item with the earliest deadline, without removing it; undefined when empty. */
  peek(): T | undefined {
    return this.entries[0]?.item;
  }

  /** Removes and returns the item with the earliest deadline; undefined when empty. */
  pop(): T | undefined {
    const entries = this.entries;
    const top = entries[0];
    if (top === undefined) return undefined;
    const last = entries.pop()!;
    if (entries.length > 0) {
      entries[0] = last;
      this.siftDown(0);
    }
    return top.item;
  }

  /**
   * Keeps only the items for which `keep` returns true (e.g. drops cancelled or stale entries), in
   * O(n). Ties keep their original insertion order.
   */
  retain(keep: (item: T, deadline: number) => boolean): void {
    this.entries = this.entries.filter((e) => keep(e.item, e.deadline));
    for (let i = (this.entries.length >> 1) - 1; i >= 0; i--) this.siftDown(i);
  }

  /** Removes every entry. */
  clear(): void {
    this.entries = [];
  }

  private less(a: Entry<T>, b: Entry<T>): boolean {
    return a.deadline < b.deadline || (a.deadline === b.deadline && a.seq < b.seq);
  }

  private siftUp(i: number): void {
    const entries = this.entries;
    const e = entries[i]!;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      const p = entries[parent]!;
      if (!this.less(e, p)) break;
      entries[i] = p;
      i = parent;
    }
    entries[i] = e;
  }

  private siftDown(i: number): void {
    const entries = this.entries;
    const n = entries.length;
    const e = entries[i]!;
    for (;;) {
      const left = 2 * i + 1;
      if (left >= n) break;
      const right = left + 1;
      let child = left;
      if (right < n && this.less(entries[right]!, entries[left]!)) child = right;
      const c = entries[child]!;
      if (!this.less(c, e)) break;
      entries[i] = c;
      i = child;
    }
    entries[i] = e;
  }
}
