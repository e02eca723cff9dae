/**
 * The FTP directory file system and its jail (src/host/ftp-files.ts): a real temporary directory
 * with a secret next to the root, and symlinks inside the root that point outside it. No operation
 * may read, list, write, rename onto or delete anything outside the root.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, existsSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { text } from "node:stream/consumers";
import { finished } from "node:stream/promises";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { FtpFsError, type FtpFileSystem } from "../../../../src/app/ftp/files.ts";
import { directoryFtpFileSystem } from "../../../../src/host/ftp-files.ts";

let base: string;
let root: string;
let fs: FtpFileSystem;

beforeAll(() => {
  base = mkdtempSync(join(tmpdir(), "wirestack-ftpfs-"));
  root = join(base, "root");
  mkdirSync(join(root, "sub"), { recursive: true });
  mkdirSync(join(base, "outside"));
  writeFileSync(join(base, "secret.txt"), "top secret\n");
  writeFileSync(join(base, "outside", "o.txt"), "outside\n");
  writeFileSync(join(root, "a.txt"), "hello\n");
  symlinkSync(join(base, "secret.txt"), join(root, "link-out.txt"));
  symlinkSync(join(base, "outside"), join(root, "dir-out"));
  symlinkSync(join(base, "nowhere.txt"), join(root, "dangling-out"));
  symlinkSync("a.txt", join(root, "link-in.txt"));
  fs = directoryFtpFileSystem(root, { now: () => Date.UTC(2024, 5, 1) });
});

afterAll(() => rmSync(base, { recursive: true, force: true }));

async function reason(p: Promise<unknown>): Promise<string> {
  try {
    await p;
    return "resolved";
  } catch (err) {
    return err instanceof FtpFsError ? err.reason : `other: ${String(err)}`;
  }
}

describe("directory file system", () => {
  test("stat, list (ls -l lines), read", async () => {
    expect(await fs.stat("/a.txt")).toMatchObject({ kind: "file", size: 6 });
    expect(await fs.stat("/sub")).toMatchObject({ kind: "dir" });
    expect(await fs.stat("/missing")).toBeUndefined();
    expect(await fs.list("/", false)).toEqual(["a.txt", "link-in.txt", "sub"]);
    const long = await fs.list("/", true);
    expect(long).toHaveLength(3);
    expect(long[0]).toMatch(/^-rw-r--r-- +1 ftp +ftp +6 [A-Z][a-z]{2} [ \d]\d ( \d{4}|\d\d:\d\d) a\.txt$/);
    expect(long[2]).toMatch(/^drwx/);
    expect(await fs.list("/a.txt", true)).toHaveLength(1);
    expect(await text(await fs.openRead("/a.txt"))).toBe("hello\n");
    expect(await text(await fs.openRead("/link-in.txt"))).toBe("hello\n");
  });

  test("write, append, mkdir, rename, delete, rmdir", async () => {
    let w = await fs.openWrite("/sub/new.txt", false);
    w.end("one\n");
    await finished(w);
    w = await fs.openWrite("/sub/new.txt", true);
    w.end("two\n");
    await finished(w);
    expect(readFileSync(join(root, "sub", "new.txt"), "utf8")).toBe("one\ntwo\n");
    await fs.mkdir("/sub/d");
    expect(await reason(fs.mkdir("/sub/d"))).toBe("exists");
    await fs.rename("/sub/new.txt", "/sub/d/moved.txt");
    expect(await reason(fs.rmdir("/sub/d"))).toBe("not-empty");
    expect(await reason(fs.remove("/sub/d"))).toBe("is-dir");
    await fs.remove("/sub/d/moved.txt");
    await fs.rmdir("/sub/d");
    expect(readdirSync(join(root, "sub"))).toEqual([]);
    expect(await reason(fs.remove("/sub/nothing"))).toBe("not-found");
    expect(await reason(fs.openRead("/sub"))).toBe("is-dir");
    expect(await reason(fs.openWrite("/sub", false))).toBe("is-dir");
  });
});

describe("the jail", () => {
  test("symlinks inside the root that point outside: hidden from stat, list and read", async () => {
    expect(await fs.stat("/link-out.txt")).toBeUndefined();
    expect(await fs.stat("/dir-out")).toBeUndefined();
    expect(await fs.stat("/dir-out/o.txt")).toBeUndefined();
    expect(await reason(fs.openRead("/link-out.txt"))).toBe("not-found");
    expect(await reason(fs.openRead("/dir-out/o.txt"))).toBe("not-found");
    expect(await reason(fs.list("/dir-out", true))).toBe("not-found");
    expect((await fs.list("/", true)).join("\n")).not.toMatch(/out/);
  });

  test("writes through an outside symlink are refused: STOR over it, into it, through a dangling one", async () => {
    expect(await reason(fs.openWrite("/link-out.txt", false))).toBe("denied");
    expect(await reason(fs.openWrite("/link-out.txt", true))).toBe("denied");
    expect(await reason(fs.openWrite("/dir-out/new.txt", false))).toBe("denied");
    expect(await reason(fs.openWrite("/dangling-out", false))).toBe("denied");
    expect(await reason(fs.mkdir("/dir-out/x"))).toBe("denied");
    expect(readFileSync(join(base, "secret.txt"), "utf8")).toBe("top secret\n");
    expect(existsSync(join(base, "nowhere.txt"))).toBe(false);
    expect(readdirSync(join(base, "outside"))).toEqual(["o.txt"]);
  });

  test("RNTO to outside (through a symlinked directory) is refused; renaming onto a link replaces the link only", async () => {
    writeFileSync(join(root, "r.txt"), "r\n");
    expect(await reason(fs.rename("/r.txt", "/dir-out/r.txt"))).toBe("denied");
    expect(await reason(fs.rename("/dir-out/o.txt", "/stolen.txt"))).toBe("denied");
    expect(readdirSync(join(base, "outside"))).toEqual(["o.txt"]);
    await fs.rename("/r.txt", "/link-out.txt");
    expect(readFileSync(join(base, "secret.txt"), "utf8")).toBe("top secret\n");
    expect(readFileSync(join(root, "link-out.txt"), "utf8")).toBe("r\n");
    symlinkSync(join(base, "secret.txt"), join(root, "link-out2.txt"));
    // DELE of an outside symlink removes the link, never the target.
    await fs.remove("/link-out2.txt");
    expect(existsSync(join(base, "secret.txt"))).toBe(true);
  });

  test("paths that are not normalised virtual paths are refused, the root cannot be removed or renamed", async () => {
    expect(await reason(fs.openRead("/../secret.txt"))).toBe("denied");
    expect(await reason(fs.openRead("../secret.txt"))).toBe("denied");
    expect(await reason(fs.openWrite("/sub/../../x", false))).toBe("denied");
    expect(await reason(fs.rmdir("/"))).toBe("bad-name");
    expect(await reason(fs.rename("/", "/x"))).toBe("bad-name");
    expect(await reason(fs.stat("/a\0b"))).toBe("denied");
  });
});
