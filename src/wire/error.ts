/**
 * Wire errors: what a parser returns when the bytes are not a valid header.
 *
 * Bad bytes are values, not exceptions (STYLE.md §3): every `parse…` in `src/wire/` returns either a
 * typed value or a `WireError`, and the layer that drops the packet counts it by `reason`.
 * `WireError` deliberately does not extend `Error`: it carries no stack and costs one small object.
 */

/** Why a header was refused. Stable strings: counters and `decode --json` print them. */
export type WireErrorReason =
  | "truncated" // fewer bytes than the header (or a length field) says
  | "bad-length" // a length field is impossible (too small, or inconsistent with another)
  | "bad-checksum"
  | "bad-version"
  | "bad-value" // a field holds a value the RFC forbids
  | "unsupported"; // valid, but a variant this codec does not decode (e.g. ARP for non-Ethernet hardware)

export class WireError {
  constructor(
    /** The header that failed, e.g. "ipv4", "tcp-option". */
    readonly layer: string,
    readonly reason: WireErrorReason,
    /** A short human note ("IHL 4 < 5"), for decode output and traces. */
    readonly detail: string = "",
  ) {}

  toString(): string {
    return `${this.layer}: ${this.reason}${this.detail ? ` (${this.detail})` : ""}`;
  }
}

/** Narrowing helper for `Repr | WireError` results. */
export function isWireError(value: unknown): value is WireError {
  return value instanceof WireError;
}
