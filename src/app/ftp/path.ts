/**
 * FTP virtual paths: what the client names, resolved against its working directory into one
 * normalised absolute path under the virtual root "/". Pure string logic (node:path/posix).
 *
 * Guarantee: every path this module returns starts with "/", contains no "." or ".." segment and no
 * NUL, so ".." can never climb above the virtual root ("/.." is "/", as in a chroot). This is the
 * first wall of the jail; the second, against symlinks, is the file system's realpath check
 * (src/host/ftp-files.ts), which sees only these normalised paths.
 */
import { posix } from "node:path";

/**
 * Resolves `arg` (absolute, or relative to `cwd`) into a normalised virtual path. Undefined for a
 * name that cannot be a path (a NUL byte).
 */
export function resolveFtpPath(cwd: string, arg: string | undefined): string | undefined {
  if (arg === undefined || arg === "") return cwd;
  if (arg.includes("\0")) return undefined;
  const joined = arg.startsWith("/") ? arg : `${cwd}/${arg}`;
  // posix.normalize of an absolute path clamps ".." at "/": "/../../etc" is "/etc".
  let p = posix.normalize(`/${joined}`);
  if (p.length > 1 && p.endsWith("/")) p = p.slice(0, -1);
  return p;
}

/** The parent of a virtual path ("/" is its own parent). */
export function parentFtpPath(path: string): string {
  return posix.dirname(path);
}

/** The last segment of a virtual path ("" for "/"). */
export function baseFtpName(path: string): string {
  return path === "/" ? "" : posix.basename(path);
}

/** Quotes a path for a 257 reply: inside double quotes, each quote doubled (RFC 959 Appendix II). */
export function quoteFtpPath(path: string): string {
  return `"${path.replace(/"/g, '""')}"`;
}
