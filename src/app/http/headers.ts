/**
 * HTTP field lists (RFC 9110 §5): names and values as received, in order, with case-insensitive
 * lookups. Field values are ISO-8859-1 strings (RFC 9110 §5.5: obs-text is opaque octets), so every
 * byte round-trips unchanged. Serialization refuses CR, LF and NUL in names and values: a handler that
 * tries to put them there is a bug (response splitting), so that throws.
 */

/** One field line: the name as spelled on the wire and its value, leading and trailing OWS removed. */
export type HeaderEntry = readonly [name: string, value: string];

/** A field list keeping order and spelling, looked up case-insensitively (RFC 9110 §5.1). */
export class HttpHeaders implements Iterable<HeaderEntry> {
  private readonly list: [string, string][] = [];

  constructor(entries: Iterable<HeaderEntry> | Readonly<Record<string, string>> = []) {
    if (Symbol.iterator in entries) {
      for (const [n, v] of entries as Iterable<HeaderEntry>) this.list.push([n, v]);
    } else {
      for (const [n, v] of Object.entries(entries)) this.list.push([n, v]);
    }
  }

  /** Number of field lines. */
  get size(): number {
    return this.list.length;
  }

  /**
   * The field's value, several lines combined with ", " as RFC 9110 §5.3 allows, or undefined when absent.
   * (Set-Cookie does not combine; use `getAll` for it.)
   */
  get(name: string): string | undefined {
    const all = this.getAll(name);
    return all.length === 0 ? undefined : all.join(", ");
  }

  /** Every value of the field, in order of arrival. */
  getAll(name: string): string[] {
    const lower = name.toLowerCase();
    const out: string[] = [];
    for (const [n, v] of this.list) if (n.toLowerCase() === lower) out.push(v);
    return out;
  }

  /** Whether any line carries the field. */
  has(name: string): boolean {
    const lower = name.toLowerCase();
    return this.list.some(([n]) => n.toLowerCase() === lower);
  }

  /**
   * The field's comma-separated list elements (RFC 9110 §5.6.1), lowercased, empty elements dropped:
   * what Connection and Transfer-Encoding mean.
   */
  tokens(name: string): string[] {
    const out: string[] = [];
    for (const v of this.getAll(name)) {
      for (const part of v.split(",")) {
        const t = part.trim().toLowerCase();
        if (t !== "") out.push(t);
      }
    }
    return out;
  }

  /** Replaces every line of the field with one. */
  set(name: string, value: string): this {
    this.delete(name);
    this.list.push([name, value]);
    return this;
  }

  /** Adds a line, keeping existing ones. */
  append(name: string, value: string): this {
    this.list.push([name, value]);
    return this;
  }

  /** Removes every line of the field. */
  delete(name: string): this {
    const lower = name.toLowerCase();
    for (let i = this.list.length - 1; i >= 0; i--) if ((this.list[i] as [string, string])[0].toLowerCase() === lower) this.list.splice(i, 1);
    return this;
  }

  /** The lines as `[name, value]` pairs, in order. */
  entries(): HeaderEntry[] {
    return this.list.map(([n, v]) => [n, v] as const);
  }

  [Symbol.iterator](): Iterator<HeaderEntry> {
    return this.entries()[Symbol.iterator]();
  }

  /** A copy, so a caller's list is never changed by our additions. */
  clone(): HttpHeaders {
    return new HttpHeaders(this.list);
  }
}

/** RFC 9110 §5.6.2 token characters. */
export const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** RFC 9110 §5.5 field-value characters (VCHAR, obs-text, SP, HTAB); anything else is refused. */
const FIELD_VALUE = /^[\t\x20-\x7e\x80-\xff]*$/;

/** Whether `value` may appear as a field value. */
export function isFieldValue(value: string): boolean {
  return FIELD_VALUE.test(value);
}

/** Throws for a name or value we must never send (our API misused: CR/LF would split the message). */
export function checkOutgoingField(name: string, value: string): void {
  if (!TOKEN.test(name)) throw new TypeError(`invalid HTTP field name ${JSON.stringify(name)}`);
  if (!FIELD_VALUE.test(value)) throw new TypeError(`invalid HTTP field value for ${name}: ${JSON.stringify(value)}`);
}

/** Bytes as an ISO-8859-1 string (one char per byte), which is how HTTP heads are read. */
export function latin1Decode(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 8192) {
    s += String.fromCharCode.apply(null, Array.from(bytes.subarray(i, i + 8192)));
  }
  return s;
}

/** An ISO-8859-1 string as bytes; throws on a character above U+00FF (our misuse, not the peer's). */
export function latin1Encode(s: string): Uint8Array {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0xff) throw new TypeError(`character U+${c.toString(16)} cannot be sent in an HTTP head`);
    out[i] = c;
  }
  return out;
}
