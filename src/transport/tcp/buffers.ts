/**
 * The two byte queues of a TCP connection (RFC 9293 §3.8.6 flow control, §3.9.1 SEND/RECEIVE).
 *
 * `SendBuffer` holds every byte the application has written and the peer has not yet acknowledged:
 * offset 0 is SND.UNA. It is bounded (`capacity`), stores bytes in fixed-size chunks so that a
 * segment is, in the common case, a view into one chunk (`peek` copies only when a segment straddles
 * two chunks), and frees whole chunks as ACKs arrive. Lookup of an offset is O(1): every chunk has
 * the same size and the first one may be partly consumed (`head`).
 *
 * `ReceiveBuffer` holds in-order bytes the connection has accepted and the application has not read
 * yet. It keeps the payload views it is given (no copy: DESIGN.md "the data path") and is bounded by
 * `capacity` in payload bytes; the free space is what the connection advertises as its window.
 *
 * Neither buffer knows sequence numbers, SYN or FIN: the connection maps offsets to sequence space.
 * Neither ever throws on anything a peer can cause; `append`/`push` accept at most the free space.
 */

/** Chunk size of the send buffer: a 64 KiB chunk holds ~44 full-sized Ethernet segments. */
export const SEND_CHUNK_SIZE = 64 * 1024;

/** Bytes written by the application and not yet acknowledged, SND.UNA at offset 0. */
export class SendBuffer {
  /** Chunks in order; chunk 0 starts at `head`, the last one is filled up to `tailFill`. */
  private chunks: Uint8Array[] = [];
  private head = 0;
  private tailFill = 0;
  private len = 0;
  /** One emptied chunk kept for reuse: steady streaming then allocates nothing. */
  private spare: Uint8Array | undefined;

  /** `capacity` bytes at most; `chunkSize` is exposed for tests of the straddling case. */
  constructor(
    readonly capacity: number,
    private readonly chunkSize: number = SEND_CHUNK_SIZE,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`SendBuffer: bad capacity ${capacity}`);
    if (!Number.isInteger(chunkSize) || chunkSize < 1) throw new RangeError(`SendBuffer: bad chunk size ${chunkSize}`);
  }

  /** Bytes held (unsent and sent-but-unacknowledged). */
  get length(): number {
    return this.len;
  }

  /** Room left for `append`. */
  get free(): number {
    return this.capacity - this.len;
  }

  /** Copies as much of `data` as fits and returns how many bytes were taken (0 when full). */
  append(data: Uint8Array): number {
    const n = Math.min(data.length, this.capacity - this.len);
    let done = 0;
    while (done < n) {
      let tail = this.chunks[this.chunks.length - 1];
      if (tail === undefined || this.tailFill === this.chunkSize) {
        tail = this.spare ?? new Uint8Array(this.chunkSize);
        this.spare = undefined;
        this.chunks.push(tail);
        this.tailFill = 0;
      }
      const k = Math.min(n - done, this.chunkSize - this.tailFill);
      tail.set(k === data.length ? data : data.subarray(done, done + k), this.tailFill);
      this.tailFill += k;
      done += k;
    }
    this.len += n;
    return n;
  }

  /**
   * `len` bytes starting `offset` bytes after SND.UNA: a view when they lie in one chunk, else a
   * copy. Views stay valid until the bytes are acknowledged (`ack`); the caller copies them into the
   * outgoing packet before that. Throws RangeError when the range is not held (API misuse).
   */
  peek(offset: number, len: number): Uint8Array {
    if (offset < 0 || len < 0 || offset + len > this.len) {
      throw new RangeError(`SendBuffer.peek(${offset}, ${len}) outside ${this.len} bytes`);
    }
    const abs = this.head + offset;
    let ci = Math.floor(abs / this.chunkSize);
    let at = abs - ci * this.chunkSize;
    const first = this.chunks[ci] as Uint8Array;
    if (at + len <= this.chunkSize) return first.subarray(at, at + len);
    const out = new Uint8Array(len);
    let done = 0;
    while (done < len) {
      const c = this.chunks[ci] as Uint8Array;
      const k = Math.min(len - done, this.chunkSize - at);
      out.set(c.subarray(at, at + k), done);
      done += k;
      ci++;
      at = 0;
    }
    return out;
  }

  /** Drops the first `n` bytes (acknowledged by the peer). Throws RangeError beyond the length. */
  ack(n: number): void {
    if (n < 0 || n > this.len) throw new RangeError(`SendBuffer.ack(${n}) beyond ${this.len} bytes`);
    this.len -= n;
    this.head += n;
    while (this.head >= this.chunkSize || (this.len === 0 && this.chunks.length > 0)) {
      const c = this.chunks.shift() as Uint8Array;
      this.spare = c;
      if (this.len === 0 && this.chunks.length === 0) {
        this.head = 0;
        this.tailFill = 0;
        break;
      }
      this.head -= this.chunkSize;
    }
  }
}

/** A received segment this long is read as a view of its own (`ReceiveBuffer.read`). */
export const VIEW_MIN_BYTES = 16 * 1024;

/** In-order bytes accepted from the peer and not yet read by the application. */
export class ReceiveBuffer {
  private queue: Uint8Array[] = [];
  /** Index of the first live entry in `queue` (entries before it are consumed). */
  private first = 0;
  private len = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`ReceiveBuffer: bad capacity ${capacity}`);
  }

  /** Bytes waiting for the application. */
  get length(): number {
    return this.len;
  }

  /** Free space: the most the connection may advertise (RFC 9293 §3.8.6). */
  window(): number {
    return this.capacity - this.len;
  }

  /**
   * Keeps `data` (a view, not copied) up to the free space; returns the bytes accepted. The caller
   * must not reuse the bytes behind the view.
   */
  push(data: Uint8Array): number {
    const n = Math.min(data.length, this.capacity - this.len);
    if (n === 0) return 0;
    this.queue.push(n === data.length ? data : data.subarray(0, n));
    this.len += n;
    return n;
  }

  /**
   * Up to `maxBytes` (all when undefined) of the oldest bytes, or undefined when empty. A view when
   * they come from one received segment, else one copy. A segment of at least `VIEW_MIN_BYTES`
   * (a super-frame from a TSO/GRO link) is returned alone, as a view, rather than copied together
   * with the next: fewer bytes than asked, but no copy and no new buffer.
   */
  read(maxBytes?: number): Uint8Array | undefined {
    if (this.len === 0) return undefined;
    const want = Math.min(maxBytes ?? this.len, this.len);
    if (want <= 0) return undefined;
    const head = this.queue[this.first] as Uint8Array;
    let out: Uint8Array;
    if (head.length >= want || head.length >= VIEW_MIN_BYTES) {
      const n = Math.min(want, head.length);
      out = n === head.length ? head : head.subarray(0, n);
      this.consume(n);
      return out;
    }
    out = new Uint8Array(want);
    let done = 0;
    while (done < want) {
      const c = this.queue[this.first] as Uint8Array;
      const k = Math.min(want - done, c.length);
      out.set(k === c.length ? c : c.subarray(0, k), done);
      done += k;
      this.consume(k);
    }
    return out;
  }

  private consume(n: number): void {
    const head = this.queue[this.first] as Uint8Array;
    this.len -= n;
    if (n < head.length) {
      this.queue[this.first] = head.subarray(n);
      return;
    }
    this.first++;
    // Compact occasionally so the array does not grow without bound (amortized O(1) per entry).
    if (this.first === this.queue.length) {
      this.queue.length = 0;
      this.first = 0;
    } else if (this.first >= 1024 && this.first * 2 >= this.queue.length) {
      this.queue = this.queue.slice(this.first);
      this.first = 0;
    }
  }
}
