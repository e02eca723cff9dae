/**
 * A `MailStore` on the file system: each accepted message becomes one `.eml` file in a directory —
 * the Received header, then the message exactly as the client sent it, dot-unstuffed (DESIGN.md,
 * `serve --mail`).
 *
 * Atomic: the bytes go to a hidden temporary file (".NAME.tmp", opened with O_EXCL), are fsynced,
 * and only then renamed to NAME.eml, so a reader of the directory never sees a partial message and a
 * crash leaves at most a dot-file behind. Names are unique and safe: UTC time, the message id with
 * anything but [A-Za-z0-9-] dropped, a per-store counter and random bytes — never a path separator,
 * never anything the client chose.
 */
import { randomBytes } from "node:crypto";
import { mkdir, open, rename, unlink } from "node:fs/promises";
import { join } from "node:path";
import type { MailStore } from "../app/smtp/server.ts";
import { storedMessage, type SmtpMessage } from "../app/smtp/server-core.ts";

/** Writes one `.eml` file per message under `dir` (created on first use). */
export class DirectoryMailStore implements MailStore {
  #counter = 0;
  #ready: Promise<unknown> | undefined;

  constructor(readonly dir: string) {}

  /** Stores the message; resolves with the file name (relative to `dir`) once it is on disk. */
  async store(message: SmtpMessage): Promise<string> {
    this.#ready ??= mkdir(this.dir, { recursive: true });
    await this.#ready;
    const name = this.#fileName(message);
    const tmp = join(this.dir, `.${name}.tmp`);
    const fh = await open(tmp, "wx", 0o640);
    try {
      await fh.writeFile(storedMessage(message));
      await fh.sync();
    } catch (err) {
      await fh.close().catch(() => undefined);
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
    await fh.close();
    try {
      await rename(tmp, join(this.dir, name));
    } catch (err) {
      await unlink(tmp).catch(() => undefined);
      throw err;
    }
    return name;
  }

  #fileName(message: SmtpMessage): string {
    const stamp = new Date(message.receivedAt).toISOString().replace(/[-:]/g, "").replace(/\.\d+Z$/, "Z");
    const id = message.id.replace(/[^A-Za-z0-9-]/g, "").slice(0, 64);
    const n = (++this.#counter).toString().padStart(6, "0");
    return `${stamp}-${id}-${n}-${randomBytes(4).toString("hex")}.eml`;
  }
}

/** `new DirectoryMailStore(dir)`. */
export function directoryMailStore(dir: string): MailStore {
  return new DirectoryMailStore(dir);
}
