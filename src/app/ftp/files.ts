/**
 * What the FTP server needs of a file system, as a small interface: src/app stays free of node:fs
 * (STYLE.md §4) and src/host/ftp-files.ts implements it over a directory with a jail.
 *
 * Paths handed in are always virtual paths normalised by `resolveFtpPath` ("/a/b", no "..").
 * Implementations reject with `FtpFsError`, whose `reason` the server maps to a reply code; any
 * other rejection counts as `io`.
 */
import type { Readable, Writable } from "node:stream";

/** What `stat` tells of a path. */
export interface FtpStat {
  readonly kind: "file" | "dir";
  readonly size: number;
  /** Last modification, milliseconds since the Unix epoch (UTC). */
  readonly mtimeMs: number;
}

/** Why a file-system operation was refused. */
export type FtpFsErrorReason =
  | "not-found"
  | "denied" // outside the jail, or a permission the host refuses
  | "bad-name" // a name that cannot be created ("", ".", "..", the root itself)
  | "exists"
  | "not-empty"
  | "is-dir"
  | "not-dir"
  | "io";

/** A refused file-system operation. */
export class FtpFsError extends Error {
  override readonly name = "FtpFsError";
  constructor(
    readonly reason: FtpFsErrorReason,
    message: string = reason,
  ) {
    super(message);
  }
}

/** The reason of any rejection, `io` when it is not an `FtpFsError`. */
export function fsErrorReason(err: unknown): FtpFsErrorReason {
  return err instanceof FtpFsError ? err.reason : "io";
}

/** A virtual file system for one FTP server. */
export interface FtpFileSystem {
  /** Undefined when the path does not exist (or is hidden from us: outside the jail, not a file or dir). */
  stat(path: string): Promise<FtpStat | undefined>;
  /** LIST (`long`: `ls -l`-like lines) or NLST (names) of a directory, or the one line for a file. */
  list(path: string, long: boolean): Promise<string[]>;
  /** Opens a file for reading. */
  openRead(path: string): Promise<Readable>;
  /** Creates or truncates (`append`: appends to) a file; resolves once it is open. */
  openWrite(path: string, append: boolean): Promise<Writable>;
  /** Deletes a file. */
  remove(path: string): Promise<void>;
  /** Creates a directory. */
  mkdir(path: string): Promise<void>;
  /** Removes an empty directory. */
  rmdir(path: string): Promise<void>;
  /** Renames a file or directory. */
  rename(from: string, to: string): Promise<void>;
}
