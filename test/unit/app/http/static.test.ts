/**
 * The static-file handler (src/app/http/static.ts) over an in-memory FileSource: MIME types,
 * directory index and listing, HEAD, 304, 405 with Allow, and path traversal refused before the
 * source is ever asked.
 */
import { describe, expect, test } from "vitest";
import { HttpHeaders } from "../../../../src/app/http/headers.ts";
import type { HttpRequest, HttpResponse, ResponseBody } from "../../../../src/app/http/server.ts";
import { mimeTypeFor, resolveTargetPath, staticHandler } from "../../../../src/app/http/static.ts";
import type { FileSource, FileStat } from "../../../../src/app/http/static.ts";

const MTIME = Date.UTC(2024, 0, 2, 3, 4, 5, 678);

/** A tree in memory; records every path it is asked about. */
function memorySource(files: Record<string, string>): FileSource & { asked: string[] } {
  const asked: string[] = [];
  const dirs = new Set<string>(["/"]);
  for (const p of Object.keys(files)) {
    const parts = p.split("/").slice(1, -1);
    for (let i = 1; i <= parts.length; i++) dirs.add("/" + parts.slice(0, i).join("/"));
  }
  return {
    asked,
    async stat(path): Promise<FileStat | undefined> {
      asked.push(path);
      const f = files[path];
      if (f !== undefined) return { kind: "file", size: f.length, mtimeMs: MTIME };
      return dirs.has(path) ? { kind: "directory", size: 0, mtimeMs: MTIME } : undefined;
    },
    async *read(path) {
      yield new TextEncoder().encode(files[path] ?? "");
    },
    async list(path) {
      const prefix = path === "/" ? "/" : path + "/";
      const names = new Map<string, "file" | "directory">();
      for (const p of [...Object.keys(files), ...dirs]) {
        if (!p.startsWith(prefix) || p === prefix || p === path) continue;
        const rest = p.slice(prefix.length);
        const name = rest.split("/")[0] as string;
        names.set(name, rest.includes("/") || dirs.has(prefix + name) ? "directory" : "file");
      }
      return [...names].map(([name, kind]) => ({ name, kind }));
    },
  };
}

async function get(source: FileSource, method: string, target: string, headers: [string, string][] = []): Promise<{ status: number; headers: HttpHeaders; body: string | undefined }> {
  const req: HttpRequest = { method, target, version: "1.1", headers: new HttpHeaders(headers), body: new Uint8Array(0), trailers: new HttpHeaders(), remoteAddress: undefined, remotePort: undefined };
  const res = { status: 200, reason: undefined, headers: new HttpHeaders(), body: undefined as ResponseBody | undefined, headersSent: false, write: async () => {}, end: async () => {} } satisfies HttpResponse;
  await staticHandler(source)(req, res);
  let body: string | undefined;
  const b = res.body;
  if (typeof b === "string") body = b;
  else if (b instanceof Uint8Array) body = new TextDecoder().decode(b);
  else if (b !== undefined) {
    body = "";
    for await (const c of b) body += typeof c === "string" ? c : new TextDecoder().decode(c);
  }
  return { status: res.status, headers: res.headers, body };
}

const TREE = { "/index.html": "<h1>hi</h1>", "/a.txt": "alpha", "/docs/x.json": "{}", "/docs/sub/y.bin": "yy", "/we<ird>.css": "x" };

describe("serving files", () => {
  test("GET a file: body, MIME type, Content-Length, Last-Modified to the second (RFC 9110 §8.8.2)", async () => {
    const r = await get(memorySource(TREE), "GET", "/a.txt?v=1");
    expect(r.status).toBe(200);
    expect(r.body).toBe("alpha");
    expect(r.headers.get("content-type")).toBe("text/plain; charset=utf-8");
    expect(r.headers.get("content-length")).toBe("5");
    expect(r.headers.get("last-modified")).toBe("Tue, 02 Jan 2024 03:04:05 GMT");
  });

  test("HEAD: same head, no body (RFC 9110 §9.3.2)", async () => {
    const r = await get(memorySource(TREE), "HEAD", "/a.txt");
    expect(r.status).toBe(200);
    expect(r.headers.get("content-length")).toBe("5");
    expect(r.body).toBeUndefined();
  });

  test("If-Modified-Since at or after Last-Modified → 304 (RFC 9110 §13.1.3)", async () => {
    const s = memorySource(TREE);
    expect((await get(s, "GET", "/a.txt", [["If-Modified-Since", "Tue, 02 Jan 2024 03:04:05 GMT"]])).status).toBe(304);
    expect((await get(s, "GET", "/a.txt", [["If-Modified-Since", "Tue, 02 Jan 2024 03:04:04 GMT"]])).status).toBe(200);
    expect((await get(s, "GET", "/a.txt", [["If-Modified-Since", "garbage"]])).status).toBe(200);
  });

  test("directory: index.html at /, listing elsewhere, escaped; redirect without the slash", async () => {
    const s = memorySource(TREE);
    expect((await get(s, "GET", "/")).body).toBe("<h1>hi</h1>");
    const listing = await get(s, "GET", "/docs/");
    expect(listing.headers.get("content-type")).toBe("text/html; charset=utf-8");
    expect(listing.body).toContain('<a href="sub/">sub/</a>');
    expect(listing.body).toContain('<a href="x.json">x.json</a>');
    expect(listing.body).toContain('<a href="../">../</a>');
    const redirect = await get(s, "GET", "/docs?q");
    expect(redirect.status).toBe(301);
    expect(redirect.headers.get("location")).toBe("/docs/?q");
    const root = await get(memorySource({ "/we<ird>.css": "x" }), "GET", "/");
    expect(root.body).toContain('<a href="we%3Cird%3E.css">we&#60;ird&#62;.css</a>');
  });

  test("missing → 404; other methods → 405 with Allow (RFC 9110 §15.5.6)", async () => {
    const s = memorySource(TREE);
    expect((await get(s, "GET", "/nope")).status).toBe(404);
    const post = await get(s, "POST", "/a.txt");
    expect(post.status).toBe(405);
    expect(post.headers.get("allow")).toBe("GET, HEAD");
    expect((await get(s, "DELETE", "/a.txt")).status).toBe(405);
  });

  test("MIME types by extension, case-insensitive, octet-stream otherwise", () => {
    expect(mimeTypeFor("/x/y.PNG")).toBe("image/png");
    expect(mimeTypeFor("/x/.bashrc")).toBe("application/octet-stream");
    expect(mimeTypeFor("/x/file")).toBe("application/octet-stream");
    expect(mimeTypeFor("/a.foo", { foo: "x/foo" })).toBe("x/foo");
  });
});

describe("path traversal refused before the source is asked (RFC 3986 §3.3)", () => {
  const attacks: [string, number][] = [
    ["/../../etc/passwd", 403],
    ["/docs/../../etc/passwd", 403],
    ["/%2e%2e/%2e%2e/etc/passwd", 403],
    ["/%2E%2E/etc/passwd", 403],
    ["/.%2e/etc/passwd", 403],
    ["/docs/..%2f..%2fetc%2fpasswd", 403],
    ["/docs%2f..%2f..%2fetc/passwd", 403],
    ["/..%5c..%5cetc/passwd", 403],
    ["/a.txt%00.html", 403],
    ["/./a.txt", 403],
    ["/%zz", 400],
    ["/%c0%ae%c0%ae/etc/passwd", 400],
    ["etc/passwd", 400],
  ];
  for (const [target, status] of attacks) {
    test(`${target} → ${status}`, async () => {
      const s = memorySource(TREE);
      expect((await get(s, "GET", target)).status).toBe(status);
      expect(s.asked).toEqual([]);
    });
  }

  test("absolute-form targets are served by their path (RFC 9112 §3.2.2)", async () => {
    expect(resolveTargetPath("http://example.com/a%20b/c?x")).toEqual({ kind: "path", path: "/a b/c", trailingSlash: false, rawPath: "/a%20b/c", query: "?x" });
    expect((await get(memorySource(TREE), "GET", "http://h/a.txt")).body).toBe("alpha");
  });

  test("empty segments collapse and never reach the source as such", () => {
    expect(resolveTargetPath("//a///b/")).toMatchObject({ path: "/a/b", trailingSlash: true });
  });
});
