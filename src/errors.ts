/**
 * User-visible errors: what wirestack throws when the caller or the machine is in the way (a busy
 * port, a missing TAP device, no permission). Never used for what a peer sent: bad bytes are
 * `WireError` values (src/wire/error.ts, STYLE.md §3).
 *
 * Each error has a literal `name` per class, a stable `code` that programs may switch on
 * (`WIRESTACK_ERR_…`, like Node's `ERR_…` and undici's `UND_ERR_…`), and a message that says what
 * to do about it. Later modules add subclasses; the codes stay stable once published.
 */

/** Base class of every error wirestack throws on purpose. */
export class WirestackError<Code extends string = string> extends Error {
  override readonly name: string = "WirestackError";

  constructor(
    /** Stable machine-readable code, e.g. `WIRESTACK_ERR_TAP_PERMISSION`. */
    readonly code: Code,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}

/** Narrowing helper: a WirestackError, optionally with the given code. */
export function isWirestackError(value: unknown, code?: string): value is WirestackError {
  return value instanceof WirestackError && (code === undefined || value.code === code);
}
