/**
 * Named drop and event counters (gVisor counts every drop in its stats; so do we). Each layer owns
 * one `Counters` with a prefix; the stack merges them into one flat snapshot such as
 * `{ "ipv4.drop.bad-checksum": 3, "arp.tx.request": 1 }`. Counting is a Map update: cheap enough for
 * the per-packet path, and no counter needs declaring before use.
 */
export class Counters {
  private readonly values = new Map<string, number>();

  constructor(readonly prefix: string) {}

  /** Adds `n` to counter `name`. */
  inc(name: string, n = 1): void {
    this.values.set(name, (this.values.get(name) ?? 0) + n);
  }

  /** The current value of `name` (0 when never counted). */
  get(name: string): number {
    return this.values.get(name) ?? 0;
  }

  /** Every counter as `prefix.name → value`. */
  snapshot(into: Record<string, number> = {}): Record<string, number> {
    for (const [k, v] of this.values) into[`${this.prefix}.${k}`] = v;
    return into;
  }
}
