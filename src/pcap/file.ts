/**
 * The I/O edge of the capture writers: a writer from writer.ts whose chunks go to a file descriptor
 * with `fs.writeSync`, so each frame is in the kernel when `writePacket` returns. That is what a live
 * reader needs (`wirestack serve --pcap - | wireshark -k -i -`), and it means a crash loses no frame
 * already written. Synchronous writes are cheap next to the frame itself; a capture that must not
 * slow the stack can be given a sink of its own making through `createCaptureWriter`.
 *
 * A reader that goes away (EPIPE: Wireshark closed) does not break the stack: the sink records the
 * error in `failure` and drops later frames quietly; so does a reader that stalls a non-blocking pipe
 * for more than 30 s. Any other write error (ENOSPC, EBADF) is thrown.
 */
import { closeSync, openSync, writeSync } from "node:fs";
import { createCaptureWriter, type CaptureWriterOptions, type PacketSink } from "./writer.ts";

/** A PacketSink over a file descriptor. */
export interface FileCaptureSink extends PacketSink {
  /** The error that stopped writing (a reader that went away), or undefined. */
  readonly failure: Error | undefined;
}

/** How long a full non-blocking pipe may stall one chunk before the write is given up, in ms. */
const STALL_LIMIT_MS = 30_000;
const sleepCell = new Int32Array(new SharedArrayBuffer(4));

function errnoCode(err: unknown): string | undefined {
  return typeof err === "object" && err !== null && "code" in err ? String((err as { code: unknown }).code) : undefined;
}

class FdSink implements FileCaptureSink {
  failure: Error | undefined = undefined;
  private readonly inner: PacketSink;

  constructor(
    private readonly fd: number,
    private readonly ownsFd: boolean,
    options: CaptureWriterOptions,
  ) {
    this.inner = createCaptureWriter((chunk) => this.writeAll(chunk), options, () => {
      if (this.ownsFd) closeSync(this.fd);
    });
  }

  writePacket(frame: Uint8Array, sec: number, nsec: number, origLen?: number): void {
    this.inner.writePacket(frame, sec, nsec, origLen);
  }

  close(): void {
    this.inner.close();
  }

  /**
   * Writes the whole chunk. stdout may be a non-blocking pipe (EAGAIN when the reader lags): wait
   * 1 ms at a time, without spinning, up to STALL_LIMIT_MS in all.
   */
  private writeAll(chunk: Uint8Array): void {
    if (this.failure) return;
    let off = 0;
    let stalledMs = 0;
    while (off < chunk.length) {
      try {
        off += writeSync(this.fd, chunk, off, chunk.length - off);
        stalledMs = 0;
      } catch (err) {
        const code = errnoCode(err);
        // A reader that left, or one stalled past the limit, costs the capture, never the stack.
        if (code === "EPIPE" || (code === "EAGAIN" && stalledMs >= STALL_LIMIT_MS)) {
          this.failure = err as Error;
          return;
        }
        if (code !== "EAGAIN") throw err;
        Atomics.wait(sleepCell, 0, 0, 1);
        stalledMs++;
      }
    }
  }
}

/**
 * Creates (or truncates) `path` and writes a capture to it. The format defaults to pcapng when the
 * name ends in ".pcapng", else pcap; other options as for `createCaptureWriter`. Throws the fs
 * error when the file cannot be created. `close()` closes the file.
 */
export function openPcapFile(path: string, options: CaptureWriterOptions = {}): FileCaptureSink {
  const format = options.format ?? (path.toLowerCase().endsWith(".pcapng") ? "pcapng" : "pcap");
  const fd = openSync(path, "w");
  try {
    return new FdSink(fd, true, { ...options, format });
  } catch (err) {
    closeSync(fd);
    throw err;
  }
}

/**
 * Writes a capture to standard output (for `--pcap -`). Nothing else may then write to stdout.
 * `close()` stops the capture but leaves fd 1 open.
 */
export function pcapToStdout(options: CaptureWriterOptions = {}): FileCaptureSink {
  return new FdSink(1, false, options);
}
