/**
 * Files and mailboxes in memory: one small tree that is at once an HTTP `FileSource`, an FTP
 * `FtpFileSystem`, and an SMTP `MailStore`. The demo serves from it (no disk, and a run replays
 * exactly), and tests use it where a real directory adds nothing. Paths are "/"-separated and
 * already normalized by the servers (no "." or ".." segments reach it).
 */
import { Readable, Writable } from "node:stream";
import type { DirEntry, FileSource, FileStat } from "./http/static.ts";
import { FtpFsError, type FtpFileSystem, type FtpStat } from "./ftp/files.ts";
import type { MailStore } from "./smtp/server.ts";
import type { SmtpMessage } from "./smtp/server-core.ts";

function parentOf(path: string): string {
  const i = path.lastIndexOf("/");
  return i <= 0 ? "/" : path.slice(0, i);
}

export class MemoryFiles implements FtpFileSystem, MailStore {
  private readonly files = new Map<string, { data: Uint8Array; mtimeMs: number }>();
  private readonly dirs = new Set<string>(["/"]);
  /** Messages stored through the MailStore face, in order. */
  readonly messages: SmtpMessage[] = [];

  /** `now()` stamps modification times (ms since the epoch). */
  constructor(private readonly now: () => number = () => 0) {}

  /** Adds (or replaces) a file, creating its directories. */
  put(path: string, data: Uint8Array | string): void {
    const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
    for (let p = parentOf(path); !this.dirs.has(p); p = parentOf(p)) this.dirs.add(p);
    this.files.set(path, { data: bytes, mtimeMs: this.now() });
  }

  /** A file's bytes, or undefined. */
  get(path: string): Uint8Array | undefined {
    return this.files.get(path)?.data;
  }

  /** The same tree as an HTTP `FileSource` (for `staticHandler`). */
  asFileSource(): FileSource {
    return {
      stat: async (path): Promise<FileStat | undefined> => {
        const s = await this.stat(path);
        return s && { kind: s.kind === "dir" ? "directory" : "file", size: s.size, mtimeMs: s.mtimeMs };
      },
      read: (path) => {
        const f = this.files.get(path);
        return (async function* () {
          if (f) yield f.data;
        })();
      },
      list: async (path) => this.entries(path),
    };
  }

  // --- FtpFileSystem ---

  async stat(path: string): Promise<FtpStat | undefined> {
    const f = this.files.get(path);
    if (f) return { kind: "file", size: f.data.length, mtimeMs: f.mtimeMs };
    if (this.dirs.has(path)) return { kind: "dir", size: 0, mtimeMs: 0 };
    return undefined;
  }

  private entries(path: string): DirEntry[] {
    if (!this.dirs.has(path)) throw new FtpFsError("not-found");
    const prefix = path === "/" ? "/" : `${path}/`;
    const entries: DirEntry[] = [];
    for (const d of this.dirs) if (d !== path && d.startsWith(prefix) && !d.slice(prefix.length).includes("/")) entries.push({ name: d.slice(prefix.length), kind: "directory" });
    for (const f of this.files.keys()) if (f.startsWith(prefix) && !f.slice(prefix.length).includes("/")) entries.push({ name: f.slice(prefix.length), kind: "file" });
    return entries.sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  async list(path: string, long: boolean): Promise<string[]> {
    const prefix = path === "/" ? "/" : `${path}/`;
    const entries = this.entries(path);
    if (!long) return entries.map((e) => e.name);
    return entries.map((e) => {
      const size = e.kind === "file" ? (this.files.get(prefix + e.name)?.data.length ?? 0) : 0;
      return `${e.kind === "file" ? "-rw-r--r--" : "drwxr-xr-x"} 1 ftp ftp ${String(size).padStart(10)} Jan  1  2026 ${e.name}`;
    });
  }

  async openRead(path: string): Promise<Readable> {
    const f = this.files.get(path);
    if (!f) throw new FtpFsError(this.dirs.has(path) ? "is-dir" : "not-found");
    return Readable.from([Buffer.from(f.data)]);
  }

  async openWrite(path: string, append: boolean): Promise<Writable> {
    if (!this.dirs.has(parentOf(path))) throw new FtpFsError("not-found");
    if (this.dirs.has(path)) throw new FtpFsError("is-dir");
    const chunks: Uint8Array[] = append && this.files.has(path) ? [(this.files.get(path) as { data: Uint8Array }).data] : [];
    return new Writable({
      write: (chunk: Buffer, _enc, cb) => {
        chunks.push(new Uint8Array(chunk));
        cb();
      },
      final: (cb) => {
        this.put(path, Buffer.concat(chunks));
        cb();
      },
    });
  }

  async remove(path: string): Promise<void> {
    if (!this.files.delete(path)) throw new FtpFsError(this.dirs.has(path) ? "is-dir" : "not-found");
  }

  async mkdir(path: string): Promise<void> {
    if (this.dirs.has(path) || this.files.has(path)) throw new FtpFsError("exists");
    if (!this.dirs.has(parentOf(path))) throw new FtpFsError("not-found");
    this.dirs.add(path);
  }

  async rmdir(path: string): Promise<void> {
    if (!this.dirs.has(path) || path === "/") throw new FtpFsError(path === "/" ? "bad-name" : "not-found");
    const prefix = `${path}/`;
    for (const k of [...this.files.keys(), ...this.dirs]) if (k.startsWith(prefix)) throw new FtpFsError("not-empty");
    this.dirs.delete(path);
  }

  async rename(from: string, to: string): Promise<void> {
    const f = this.files.get(from);
    if (!f) throw new FtpFsError("not-found");
    if (!this.dirs.has(parentOf(to))) throw new FtpFsError("not-found");
    this.files.delete(from);
    this.files.set(to, f);
  }

  async store(message: SmtpMessage): Promise<string> {
    this.messages.push(message);
    return `message-${this.messages.length}.eml`;
  }
}
