/**
 * A static-file handler for the HTTP server (`--www`): GET and HEAD of files from an injected
 * `FileSource`, with MIME types, directory index (index.html, else a generated listing),
 * Last-Modified / If-Modified-Since, and path traversal refused.
 *
 * Read before editing: RFC 3986 §3.3 and §2.1 (path segments, percent-encoding), RFC 9110 §9.3.1-2
 * (GET, HEAD), §8.8.2 (Last-Modified), §13.1.3 (If-Modified-Since), §15.5.6 (405 with Allow).
 *
 * Guarantees: the path handed to the `FileSource` always starts with "/", has no empty, "." or ".."
 * segment and no NUL, control character, backslash or encoded "/" in a name: a target that would
 * need any of these is refused (403) before the source is asked. The source adds the second wall, a
 * realpath jail against symlinks (src/host/http-files.ts). Never touches the file system itself.
 */
import type { HttpHandler, HttpRequest, HttpResponse } from "./server.ts";

/** What the handler needs to know of a file or directory. */
export interface FileStat {
  readonly kind: "file" | "directory";
  readonly size: number;
  /** Modification time, ms since the epoch. */
  readonly mtimeMs: number;
}

/** One directory entry for a listing. */
export interface DirEntry {
  readonly name: string;
  readonly kind: "file" | "directory";
}

/**
 * Files to serve, rooted somewhere the source decides. Paths are "/"-separated, start with "/",
 * and are already free of "." and ".." (see `resolveTargetPath`).
 */
export interface FileSource {
  /** What is at `path`; undefined when nothing is, or it is outside the source's root. */
  stat(path: string): Promise<FileStat | undefined>;
  /** The file's bytes. */
  read(path: string): AsyncIterable<Uint8Array>;
  /** The directory's entries (those inside the root). */
  list(path: string): Promise<DirEntry[]>;
}

/** Options of `staticHandler`. */
export interface StaticOptions {
  /** Index file names tried in a directory, in order; default ["index.html"]. */
  readonly index?: readonly string[];
  /** Whether a directory without an index gets a generated listing (default true) or 404. */
  readonly listings?: boolean;
  /** Extra or overriding MIME types by lowercase extension without the dot. */
  readonly mimeTypes?: Readonly<Record<string, string>>;
}

/** MIME types by extension (lowercase, without the dot). */
export const MIME_TYPES: Readonly<Record<string, string>> = {
  html: "text/html; charset=utf-8",
  htm: "text/html; charset=utf-8",
  txt: "text/plain; charset=utf-8",
  css: "text/css; charset=utf-8",
  js: "text/javascript; charset=utf-8",
  mjs: "text/javascript; charset=utf-8",
  json: "application/json",
  xml: "application/xml",
  svg: "image/svg+xml",
  png: "image/png",
  jpg: "image/jpeg",
  jpeg: "image/jpeg",
  gif: "image/gif",
  webp: "image/webp",
  ico: "image/x-icon",
  pdf: "application/pdf",
  zip: "application/zip",
  gz: "application/gzip",
  tar: "application/x-tar",
  wasm: "application/wasm",
  mp4: "video/mp4",
  mp3: "audio/mpeg",
  woff2: "font/woff2",
  pcap: "application/vnd.tcpdump.pcap",
  md: "text/markdown; charset=utf-8",
};

/** The Content-Type for a file name; application/octet-stream when the extension is unknown. */
export function mimeTypeFor(name: string, extra: Readonly<Record<string, string>> = {}): string {
  const base = name.slice(name.lastIndexOf("/") + 1);
  const dot = base.lastIndexOf(".");
  if (dot <= 0) return "application/octet-stream";
  const ext = base.slice(dot + 1).toLowerCase();
  return extra[ext] ?? MIME_TYPES[ext] ?? "application/octet-stream";
}

/** A request-target turned into a safe file path, or the status refusing it. */
export type TargetPath =
  | { readonly kind: "path"; readonly path: string; readonly trailingSlash: boolean; readonly rawPath: string; readonly query: string }
  | { readonly kind: "refused"; readonly status: 400 | 403; readonly reason: string };

/**
 * Decodes a request-target's path segment by segment (RFC 3986 §2.1), refusing what could leave the
 * root: "." and ".." segments (literal or percent-encoded), an encoded "/" or "\" in a name, NUL and
 * other control characters. Accepts origin-form and absolute-form (RFC 9112 §3.2.1-2).
 */
export function resolveTargetPath(target: string): TargetPath {
  let t = target;
  const abs = /^http:\/\/[^/?#]*/i.exec(t);
  if (abs !== null) t = t.slice(abs[0].length) || "/";
  const q = t.indexOf("?");
  const rawPath = q < 0 ? t : t.slice(0, q);
  const query = q < 0 ? "" : t.slice(q);
  if (!rawPath.startsWith("/")) return { kind: "refused", status: 400, reason: "target is not an absolute path" };
  const names: string[] = [];
  for (const raw of rawPath.split("/")) {
    if (raw === "") continue;
    let name: string;
    try {
      name = decodeURIComponent(raw);
    } catch {
      return { kind: "refused", status: 400, reason: "bad percent-encoding" };
    }
    if (name === "." || name === "..") return { kind: "refused", status: 403, reason: "dot segment" };
    if (/[/\\\x00-\x1f\x7f]/.test(name)) return { kind: "refused", status: 403, reason: "forbidden character in a path segment" };
    names.push(name);
  }
  return { kind: "path", path: "/" + names.join("/"), trailingSlash: rawPath.endsWith("/"), rawPath, query };
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function plain(res: HttpResponse, status: number, text: string): void {
  res.status = status;
  res.headers.set("Content-Type", "text/plain; charset=utf-8");
  res.body = text;
}

/** An `HttpHandler` serving `files`. */
export function staticHandler(files: FileSource, opts: StaticOptions = {}): HttpHandler {
  const indexNames = opts.index ?? ["index.html"];
  const listings = opts.listings ?? true;
  const extra = opts.mimeTypes ?? {};

  return async (req: HttpRequest, res: HttpResponse): Promise<void> => {
    // RFC 9110 §15.5.6: 405 names the methods the resource supports.
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.headers.set("Allow", "GET, HEAD");
      plain(res, 405, "405 Method Not Allowed\n");
      return;
    }
    const resolved = resolveTargetPath(req.target);
    if (resolved.kind === "refused") {
      plain(res, resolved.status, `${resolved.status} ${resolved.status === 403 ? "Forbidden" : "Bad Request"}\n`);
      return;
    }
    let path = resolved.path;
    let st = await files.stat(path);
    if (st === undefined) {
      plain(res, 404, "404 Not Found\n");
      return;
    }
    if (st.kind === "directory") {
      if (!resolved.trailingSlash) {
        // A directory's relative links resolve against a URL ending in "/" (RFC 3986 §5.2).
        res.status = 301;
        res.headers.set("Location", resolved.rawPath + "/" + resolved.query);
        plain(res, 301, "301 Moved Permanently\n");
        return;
      }
      let found = false;
      for (const name of indexNames) {
        const p = (path === "/" ? "" : path) + "/" + name;
        const s = await files.stat(p);
        if (s !== undefined && s.kind === "file") {
          path = p;
          st = s;
          found = true;
          break;
        }
      }
      if (!found) {
        if (!listings) {
          plain(res, 404, "404 Not Found\n");
          return;
        }
        const entries = (await files.list(path)).slice().sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
        const title = escapeHtml(path.endsWith("/") ? path : path + "/");
        const rows = entries.map((e) => {
          const label = e.name + (e.kind === "directory" ? "/" : "");
          return `<li><a href="${escapeHtml(encodeURIComponent(e.name) + (e.kind === "directory" ? "/" : ""))}">${escapeHtml(label)}</a></li>`;
        });
        if (path !== "/") rows.unshift('<li><a href="../">../</a></li>');
        res.status = 200;
        res.headers.set("Content-Type", "text/html; charset=utf-8");
        res.body = `<!DOCTYPE html>\n<html><head><meta charset="utf-8"><title>Index of ${title}</title></head>\n<body><h1>Index of ${title}</h1>\n<ul>\n${rows.join("\n")}\n</ul></body></html>\n`;
        return;
      }
    }
    // RFC 9110 §8.8.2: HTTP dates have one-second resolution.
    const mtime = Math.floor(st.mtimeMs / 1000) * 1000;
    const lastModified = new Date(mtime).toUTCString();
    res.headers.set("Last-Modified", lastModified);
    // RFC 9110 §13.1.3: not modified since the given date → 304 without a body.
    const ims = req.headers.get("if-modified-since");
    if (ims !== undefined) {
      const since = Date.parse(ims);
      if (!Number.isNaN(since) && mtime <= since) {
        res.status = 304;
        return;
      }
    }
    res.status = 200;
    res.headers.set("Content-Type", mimeTypeFor(path, extra));
    res.headers.set("Content-Length", String(st.size));
    // RFC 9110 §9.3.2: HEAD gets the GET head and no body; the file is not even opened.
    if (req.method === "GET") res.body = files.read(path);
  };
}
