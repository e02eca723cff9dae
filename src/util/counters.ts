/**
 * Named drop and event counters (gVisor counts every drop in its stats; so do we). Each layer owns
 * one `Counters` with a prefix; the stack merges them into one flat snapshot such as
 * `{ "ipv4.drop.bad-checksum": 3, "arp.tx.request": 1 }`. No counter needs declaring before use:
 * `inc(name)` is one Map lookup, fine for events and drops. The per-packet counters of a layer's hot
 * path take a `Counter` once (`counter(name)`) and bump its field, which costs no lookup at all.
 */
export class Counters {
  private readonly values = new Map<string, Counter>();

  constructor(readonly prefix: string) {}

  /** Adds `n` to counter `name`. */
  inc(name: string, n = 1): void {
    const c = this.values.get(name);
    if (c !== undefined) c.value += n;
    else this.values.set(name, new Counter(n));
  }

  /**
   * The counter `name` itself, created at 0 when new, for a hot path to keep in a field and bump
   * (`c.value++`). A counter at 0 does not appear in `snapshot`, as if never counted.
   */
  counter(name: string): Counter {
    let c = this.values.get(name);
    if (c === undefined) {
      c = new Counter(0);
      this.values.set(name, c);
    }
    return c;
  }

  /** The current value of `name` (0 when never counted). */
  get(name: string): number {
    return this.values.get(name)?.value ?? 0;
  }

  /** Every counter that is not 0 as `prefix.name → value`. */
  snapshot(into: Record<string, number> = {}): Record<string, number> {
    for (const [k, c] of this.values) if (c.value !== 0) into[`${this.prefix}.${k}`] = c.value;
    return into;
  }
}

/** One named count of a `Counters`. */
export class Counter {
  constructor(public value: number) {}
}
