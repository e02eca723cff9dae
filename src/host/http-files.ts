/**
 * The host side of the HTTP static handler: a `FileSource` over a directory of the real file system,
 * jailed by realpath, and the host's wall clock for the Date header.
 *
 * Guarantees: a path is served only when its realpath lies inside the root's realpath, so neither
 * "..", nor a symlink pointing outside (to a file or a directory), escapes. Entries pointing outside
 * are left out of listings. (The check and the open are two steps: a file swapped for a symlink in
 * between could still escape; serve trees that strangers cannot write to.)
 */
import { createReadStream } from "node:fs";
import { readdir, realpath, stat } from "node:fs/promises";
import { join, sep } from "node:path";
import type { DirEntry, FileSource, FileStat } from "../app/http/static.ts";

/** A `FileSource` serving the files under `root`. */
export function fsFileSource(root: string): FileSource {
  let rootReal: Promise<string> | undefined;
  const getRoot = (): Promise<string> => (rootReal ??= realpath(root));

  /** The real path of `path` under the root, or undefined when missing or outside the jail. */
  async function jailed(path: string): Promise<string | undefined> {
    if (path.includes("\0") || path.split("/").some((s) => s === "..")) return undefined;
    const base = await getRoot();
    let real: string;
    try {
      real = await realpath(join(base, path));
    } catch {
      return undefined;
    }
    return real === base || real.startsWith(base.endsWith(sep) ? base : base + sep) ? real : undefined;
  }

  async function statReal(real: string): Promise<FileStat | undefined> {
    try {
      const s = await stat(real);
      if (s.isFile()) return { kind: "file", size: s.size, mtimeMs: s.mtimeMs };
      if (s.isDirectory()) return { kind: "directory", size: 0, mtimeMs: s.mtimeMs };
      return undefined;
    } catch {
      return undefined;
    }
  }

  return {
    async stat(path) {
      const real = await jailed(path);
      return real === undefined ? undefined : statReal(real);
    },
    async *read(path) {
      const real = await jailed(path);
      if (real === undefined) throw new Error(`not found: ${path}`);
      for await (const chunk of createReadStream(real, { highWaterMark: 64 * 1024 })) yield chunk as Uint8Array;
    },
    async list(path) {
      const real = await jailed(path);
      if (real === undefined) return [];
      const out: DirEntry[] = [];
      for (const name of await readdir(real)) {
        const inner = await jailed((path.endsWith("/") ? path : path + "/") + name);
        const s = inner === undefined ? undefined : await statReal(inner);
        if (s !== undefined) out.push({ name, kind: s.kind });
      }
      return out;
    },
  };
}

/** The host's wall clock (ms since the epoch), for the HTTP server's Date header. */
export function wallClock(): () => number {
  return () => Date.now();
}
