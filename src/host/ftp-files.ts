/**
 * The FTP server's file system over a host directory: `FtpFileSystem` (src/app/ftp/files.ts) with a
 * jail at the root directory.
 *
 * The jail has two walls. The server hands us only normalised virtual paths ("/a/b", no ".."; see
 * src/app/ftp/path.ts), so ".." cannot name anything above the root. Symlinks are the second
 * danger: on every operation the path is resolved with realpath and must lie inside the root's own
 * realpath. For names that are being created (STOR, APPE, MKD, the target of RNTO) the parent
 * directory is resolved that way and the last name is checked separately: if it is an existing
 * symlink, its target must resolve inside the root too, and a dangling symlink is refused (opening
 * it for writing would create its target, wherever that is). Files are opened with O_NOFOLLOW, so a
 * symlink put in place between the check and the open is not followed either. DELE, RMD and RNFR act
 * on the name itself, never on what a symlink points to, so they cannot reach outside.
 *
 * Entries whose symlinks lead outside the root are left out of listings and behave as missing.
 */
import { constants, type Stats } from "node:fs";
import fsp from "node:fs/promises";
import path from "node:path";
import type { Readable, Writable } from "node:stream";
import { FtpFsError, type FtpFileSystem, type FtpStat } from "../app/ftp/files.ts";

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const SIX_MONTHS_MS = 182 * 24 * 3600 * 1000;

/** Options of the directory file system. */
export interface DirectoryFtpOptions {
  /** Wall-clock now, for `ls -l` dates (recent files show the time, older ones the year). */
  readonly now?: () => number;
}

/** An `FtpFileSystem` serving the directory `root` (which must exist). */
export function directoryFtpFileSystem(root: string, opts: DirectoryFtpOptions = {}): FtpFileSystem {
  return new DirectoryFtpFileSystem(root, opts.now ?? (() => Date.now()));
}

function mapError(err: unknown): FtpFsError {
  if (err instanceof FtpFsError) return err;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case "ENOENT":
      return new FtpFsError("not-found", "no such file or directory");
    case "EACCES":
    case "EPERM":
    case "ELOOP": // O_NOFOLLOW met a symlink
      return new FtpFsError("denied", "permission denied");
    case "EEXIST":
      return new FtpFsError("exists", "file exists");
    case "ENOTEMPTY":
      return new FtpFsError("not-empty", "directory not empty");
    case "EISDIR":
      return new FtpFsError("is-dir", "is a directory");
    case "ENOTDIR":
      return new FtpFsError("not-dir", "not a directory");
    default:
      return new FtpFsError("io", String(code ?? err));
  }
}

async function guard<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    throw mapError(err);
  }
}

class DirectoryFtpFileSystem implements FtpFileSystem {
  private rootReal: Promise<string>;

  constructor(
    root: string,
    private readonly now: () => number,
  ) {
    this.rootReal = fsp.realpath(root);
  }

  private inside(root: string, p: string): boolean {
    return p === root || p.startsWith(root.endsWith(path.sep) ? root : root + path.sep);
  }

  /** The segments of a virtual path; refuses anything not normalised. */
  private segments(vpath: string): string[] {
    if (!vpath.startsWith("/") || vpath.includes("\0")) throw new FtpFsError("denied", "not a virtual path");
    const segs = vpath.split("/").filter((s) => s !== "");
    if (segs.some((s) => s === "." || s === "..")) throw new FtpFsError("denied", "not a normalised path");
    return segs;
  }

  /** The real path of an existing entry, following symlinks; must lie inside the root. */
  private async existing(vpath: string): Promise<string> {
    const root = await this.rootReal;
    const real = await fsp.realpath(path.join(root, ...this.segments(vpath)));
    if (!this.inside(root, real)) throw new FtpFsError("not-found", "outside the root");
    return real;
  }

  /**
   * The real parent directory and the last name of a path, without following the last name: for
   * operations on a name itself (create, delete, rename).
   */
  private async entry(vpath: string): Promise<{ parent: string; name: string; full: string }> {
    const segs = this.segments(vpath);
    const name = segs.pop();
    if (name === undefined) throw new FtpFsError("bad-name", "the root itself");
    const root = await this.rootReal;
    const parent = await fsp.realpath(path.join(root, ...segs));
    if (!this.inside(root, parent)) throw new FtpFsError("denied", "outside the root");
    const st = await fsp.stat(parent);
    if (!st.isDirectory()) throw new FtpFsError("not-dir", "parent is not a directory");
    return { parent, name, full: path.join(parent, name) };
  }

  /** A name to create or overwrite: an existing symlink must lead inside the root; a dangling one is refused. */
  private async target(vpath: string): Promise<string> {
    const e = await this.entry(vpath);
    let lst: Stats;
    try {
      lst = await fsp.lstat(e.full);
    } catch {
      return e.full;
    }
    if (!lst.isSymbolicLink()) return e.full;
    let real: string;
    try {
      real = await fsp.realpath(e.full);
    } catch {
      throw new FtpFsError("denied", "dangling symlink");
    }
    if (!this.inside(await this.rootReal, real)) throw new FtpFsError("denied", "symlink leads outside the root");
    return real;
  }

  stat(vpath: string): Promise<FtpStat | undefined> {
    return guard(async () => {
      let real: string;
      try {
        real = await this.existing(vpath);
      } catch (err) {
        const e = mapError(err);
        if (e.reason === "not-found" || e.reason === "not-dir") return undefined;
        throw e;
      }
      const st = await fsp.stat(real);
      if (!st.isFile() && !st.isDirectory()) return undefined;
      return { kind: st.isDirectory() ? "dir" : "file", size: st.isDirectory() ? 0 : st.size, mtimeMs: st.mtimeMs };
    });
  }

  list(vpath: string, long: boolean): Promise<string[]> {
    return guard(async () => {
      const real = await this.existing(vpath);
      const st = await fsp.stat(real);
      if (!st.isDirectory()) return [long ? this.line(path.basename(real), st) : vpath];
      const root = await this.rootReal;
      const names = (await fsp.readdir(real)).sort();
      const out: string[] = [];
      for (const name of names) {
        const full = path.join(real, name);
        let est: Stats;
        try {
          const lst = await fsp.lstat(full);
          if (lst.isSymbolicLink()) {
            const to = await fsp.realpath(full);
            if (!this.inside(root, to)) continue;
          }
          est = await fsp.stat(full);
        } catch {
          continue;
        }
        if (!est.isFile() && !est.isDirectory()) continue;
        out.push(long ? this.line(name, est) : name);
      }
      return out;
    });
  }

  /** One `ls -l`-like line, as vsftpd writes them (owner and group shown as "ftp"). */
  private line(name: string, st: Stats): string {
    const kind = st.isDirectory() ? "d" : "-";
    const bits = "rwxrwxrwx";
    let mode = "";
    for (let i = 0; i < 9; i++) mode += st.mode & (1 << (8 - i)) ? bits[i] : "-";
    const d = new Date(st.mtimeMs);
    const month = MONTHS[d.getUTCMonth()] as string;
    const day = String(d.getUTCDate()).padStart(2, " ");
    const recent = Math.abs(this.now() - st.mtimeMs) < SIX_MONTHS_MS;
    const when = recent
      ? `${String(d.getUTCHours()).padStart(2, "0")}:${String(d.getUTCMinutes()).padStart(2, "0")}`
      : ` ${d.getUTCFullYear()}`;
    const size = String(st.isDirectory() ? 4096 : st.size).padStart(8, " ");
    return `${kind}${mode} ${String(st.nlink).padStart(3, " ")} ftp      ftp      ${size} ${month} ${day} ${when.padStart(5, " ")} ${name}`;
  }

  openRead(vpath: string): Promise<Readable> {
    return guard(async () => {
      const real = await this.existing(vpath);
      const handle = await fsp.open(real, constants.O_RDONLY | constants.O_NOFOLLOW);
      const st = await handle.stat();
      if (!st.isFile()) {
        await handle.close();
        throw new FtpFsError(st.isDirectory() ? "is-dir" : "denied", "not a regular file");
      }
      return handle.createReadStream();
    });
  }

  openWrite(vpath: string, append: boolean): Promise<Writable> {
    return guard(async () => {
      const real = await this.target(vpath);
      const flags = constants.O_WRONLY | constants.O_CREAT | constants.O_NOFOLLOW | (append ? constants.O_APPEND : constants.O_TRUNC);
      const handle = await fsp.open(real, flags, 0o644);
      const st = await handle.stat();
      if (!st.isFile()) {
        await handle.close();
        throw new FtpFsError("is-dir", "not a regular file");
      }
      return handle.createWriteStream();
    });
  }

  remove(vpath: string): Promise<void> {
    return guard(async () => {
      const e = await this.entry(vpath);
      const lst = await fsp.lstat(e.full);
      if (lst.isDirectory()) throw new FtpFsError("is-dir", "is a directory");
      await fsp.unlink(e.full);
    });
  }

  mkdir(vpath: string): Promise<void> {
    return guard(async () => {
      const e = await this.entry(vpath);
      await fsp.mkdir(e.full, 0o755);
    });
  }

  rmdir(vpath: string): Promise<void> {
    return guard(async () => {
      const e = await this.entry(vpath);
      const lst = await fsp.lstat(e.full);
      if (!lst.isDirectory()) throw new FtpFsError("not-dir", "not a directory");
      await fsp.rmdir(e.full);
    });
  }

  rename(from: string, to: string): Promise<void> {
    return guard(async () => {
      const src = await this.entry(from);
      await fsp.lstat(src.full);
      // The target name itself is replaced, never what a symlink of that name points to.
      const dst = await this.entry(to);
      await fsp.rename(src.full, dst.full);
    });
  }
}
