/**
 * The streaming HTTP/1.1 parser (src/app/http/parser.ts): a corpus of real requests and responses
 * gives the same events fed whole, one byte at a time, and split at every index; malformed input
 * gets the exact status RFC 9112 asks for; limits hold.
 */
import { describe, expect, test } from "vitest";
import { HttpParser } from "../../../../src/app/http/parser.ts";
import type { HttpLimits, ParseEvent } from "../../../../src/app/http/parser.ts";

const latin1 = (s: string): Uint8Array => Uint8Array.from(s, (c) => c.charCodeAt(0));

/** What an event means, with body data as text, for comparison. */
type Norm = { kind: string; [k: string]: unknown };

/** Feeds `parts` in order (then EOF when `eof`), draining events after each; coalesces adjacent data. */
function run(role: "request" | "response", parts: readonly Uint8Array[], opts: { eof?: boolean; method?: string; limits?: Partial<HttpLimits> } = {}): Norm[] {
  const p = new HttpParser(role, opts.limits ?? {});
  if (opts.method !== undefined) p.expectResponseTo(opts.method);
  const out: Norm[] = [];
  const drain = (): void => {
    for (let guard = 0; guard < 10_000; guard++) {
      const e: ParseEvent = p.next();
      if (e.kind === "need-data") return;
      const n = norm(e);
      const last = out[out.length - 1];
      if (n.kind === "data" && last?.kind === "data") last.data = (last.data as string) + (n.data as string);
      else out.push(n);
      if (e.kind === "error" || e.kind === "eof") return;
    }
    throw new Error("parser did not settle");
  };
  for (const part of parts) {
    p.push(part);
    drain();
    if (out[out.length - 1]?.kind === "error") return out;
  }
  if (opts.eof === true) {
    p.finish();
    drain();
  }
  return out;
}

function norm(e: ParseEvent): Norm {
  switch (e.kind) {
    case "request":
      return { kind: "request", method: e.head.method, target: e.head.target, version: e.head.version, headers: e.head.headers.entries() };
    case "response":
      return { kind: "response", status: e.head.status, reason: e.head.reason, version: e.head.version, headers: e.head.headers.entries() };
    case "data":
      return { kind: "data", data: String.fromCharCode(...e.data) };
    case "end":
      return { kind: "end", trailers: e.trailers.entries() };
    case "error":
      return { kind: "error", status: e.status };
    case "need-data":
    case "eof":
      return { kind: e.kind };
  }
}

const bytewise = (b: Uint8Array): Uint8Array[] => Array.from(b, (x) => Uint8Array.of(x));

// Captured from curl 7.88.1 (Debian) by a node:net listener that printed the bytes it received:
//   curl -s http://127.0.0.1:P/index.html
const CURL_GET = "GET /index.html HTTP/1.1\r\nHost: 127.0.0.1:36935\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n";
//   printf abc > f; curl -s -H "Transfer-Encoding: chunked" --data-binary @f http://127.0.0.1:P/upload
const CURL_POST_CHUNKED =
  "POST /upload HTTP/1.1\r\nHost: 127.0.0.1:45737\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\nTransfer-Encoding: chunked\r\nContent-Type: application/x-www-form-urlencoded\r\n\r\n3\r\nabc\r\n0\r\n\r\n";
// Captured from Debian's `/usr/bin/python3 -m http.server --protocol HTTP/1.1` (Python 3.11.2) with
//   printf 'GET /a.txt HTTP/1.1\r\nHost: x\r\n\r\n' | nc -q 1 127.0.0.1 P
const PYTHON_RESPONSE =
  "HTTP/1.1 200 OK\r\nServer: SimpleHTTP/0.6 Python/3.11.2\r\nDate: Sat, 28 Nov 2026 03:48:21 GMT\r\nContent-type: text/plain\r\nContent-Length: 6\r\nLast-Modified: Tue, 02 Jan 2024 03:04:05 GMT\r\n\r\nhello\n";

const REQUESTS: Record<string, string> = {
  "curl GET": CURL_GET,
  "curl POST chunked": CURL_POST_CHUNKED,
  "pipelined GET, POST with Content-Length, GET": CURL_GET + "POST /f HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello" + CURL_GET,
  "chunk extensions, upper-case hex and trailers (RFC 9112 §7.1)":
    "POST /t HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nA;name=val\r\n0123456789\r\n01 ; x\r\n!\r\n0\r\nX-Sum: 42\r\nX-Other:  v \r\n\r\n",
  "HTTP/1.0 without Host, bare LF line ends (RFC 9112 §2.2)": "GET / HTTP/1.0\nUser-Agent: x\n\n",
  "leading empty line ignored (RFC 9112 §2.2)": "\r\nGET /x HTTP/1.1\r\nHost: h\r\n\r\n",
  "obs-text in a value kept as bytes": "GET / HTTP/1.1\r\nHost: h\r\nX-Latin: caf\xe9\r\n\r\n",
};

const RESPONSES: Record<string, { bytes: string; method?: string; eof?: boolean }> = {
  "python http.server 200": { bytes: PYTHON_RESPONSE },
  "chunked with trailer": { bytes: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\nExpires: never\r\n\r\n" },
  "HEAD response has no body though it has Content-Length (RFC 9112 §6.3)": { bytes: "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", method: "HEAD" },
  "100 Continue then 204 (RFC 9112 §6.3: no body)": { bytes: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n" },
  "body until close (RFC 9112 §6.3 ¶8)": { bytes: "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nall of it", eof: true },
  "status line without reason phrase": { bytes: "HTTP/1.1 404\r\nContent-Length: 0\r\n\r\n" },
};

describe("every split gives the same events (STYLE.md §10)", () => {
  for (const [name, text] of Object.entries(REQUESTS)) {
    test(`request: ${name}`, () => {
      const bytes = latin1(text);
      const whole = run("request", [bytes], { eof: true });
      expect(whole.filter((e) => e.kind === "error")).toEqual([]);
      expect(whole[whole.length - 1]).toEqual({ kind: "eof" });
      expect(run("request", bytewise(bytes), { eof: true })).toEqual(whole);
      for (let i = 1; i < bytes.length; i++) {
        expect(run("request", [bytes.subarray(0, i), bytes.subarray(i)], { eof: true }), `split at ${i}`).toEqual(whole);
      }
    });
  }
  for (const [name, r] of Object.entries(RESPONSES)) {
    test(`response: ${name}`, () => {
      const bytes = latin1(r.bytes);
      const opts = { ...(r.method !== undefined ? { method: r.method } : {}), eof: r.eof ?? false };
      const whole = run("response", [bytes], opts);
      expect(whole.filter((e) => e.kind === "error")).toEqual([]);
      expect(whole.some((e) => e.kind === "end")).toBe(true);
      expect(run("response", bytewise(bytes), opts)).toEqual(whole);
      for (let i = 1; i < bytes.length; i++) {
        expect(run("response", [bytes.subarray(0, i), bytes.subarray(i)], opts), `split at ${i}`).toEqual(whole);
      }
    });
  }
});

describe("what the corpus means", () => {
  test("curl GET: head fields in order, no body (RFC 9112 §6.3 ¶7)", () => {
    expect(run("request", [latin1(CURL_GET)])).toEqual([
      {
        kind: "request",
        method: "GET",
        target: "/index.html",
        version: "1.1",
        headers: [
          ["Host", "127.0.0.1:36935"],
          ["User-Agent", "curl/7.88.1"],
          ["Accept", "*/*"],
        ],
      },
      { kind: "end", trailers: [] },
    ]);
  });

  test("chunked body and trailers (RFC 9112 §7.1)", () => {
    const events = run("request", [latin1(REQUESTS["chunk extensions, upper-case hex and trailers (RFC 9112 §7.1)"] as string)]);
    expect(events.slice(1)).toEqual([
      { kind: "data", data: "0123456789!" },
      { kind: "end", trailers: [["X-Sum", "42"], ["X-Other", "v"]] },
    ]);
  });

  test("pipelined requests come out in order", () => {
    const events = run("request", [latin1(REQUESTS["pipelined GET, POST with Content-Length, GET"] as string)]);
    expect(events.map((e) => (e.kind === "request" ? `${e.method} ${e.target}` : e.kind === "data" ? `data ${e.data}` : e.kind))).toEqual([
      "GET /index.html",
      "end",
      "POST /f",
      "data hello",
      "end",
      "GET /index.html",
      "end",
    ]);
  });

  test("python response: status, body and the 100 Continue skipped to the final response", () => {
    const py = run("response", [latin1(PYTHON_RESPONSE)]);
    expect(py[0]).toMatchObject({ kind: "response", status: 200, reason: "OK", version: "1.1" });
    expect(py.slice(1)).toEqual([{ kind: "data", data: "hello\n" }, { kind: "end", trailers: [] }]);
    const interim = run("response", [latin1(RESPONSES["100 Continue then 204 (RFC 9112 §6.3: no body)"]?.bytes as string)]);
    expect(interim.map((e) => (e.kind === "response" ? e.status : e.kind))).toEqual([100, "end", 204, "end"]);
  });

  test("a body delimited by close ends only at EOF", () => {
    const bytes = latin1("HTTP/1.0 200 OK\r\n\r\nabc");
    expect(run("response", [bytes]).map((e) => e.kind)).toEqual(["response", "data"]);
    expect(run("response", [bytes], { eof: true }).map((e) => e.kind)).toEqual(["response", "data", "end", "eof"]);
  });

  test("body data are views of the pushed bytes (no copy of a whole body)", () => {
    const bytes = latin1("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc");
    const p = new HttpParser("request");
    p.push(bytes);
    expect(p.next().kind).toBe("request");
    const d = p.next();
    expect(d.kind === "data" && d.data.buffer === bytes.buffer).toBe(true);
  });
});

/** The first error status for `text` fed whole and byte by byte (they must agree). */
function statusOf(text: string, limits: Partial<HttpLimits> = {}): number | undefined {
  const bytes = latin1(text);
  const whole = run("request", [bytes], { limits, eof: true }).find((e) => e.kind === "error");
  const split = run("request", bytewise(bytes), { limits, eof: true }).find((e) => e.kind === "error");
  expect(split).toEqual(whole);
  return whole?.status as number | undefined;
}

describe("malformed requests get the right status", () => {
  const cases: [string, string, number][] = [
    ["RFC 9112 §6.3 ¶3: Content-Length and Transfer-Encoding (smuggling)", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400],
    ["RFC 9112 §6.3 ¶4: chunked not final", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400],
    ["RFC 9112 §6.1: chunked twice", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400],
    ["RFC 9112 §6.1: unknown transfer coding gets 501", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501],
    ["RFC 9112 §6.1: Transfer-Encoding in HTTP/1.0", "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400],
    ["RFC 9112 §6.3 ¶5: invalid Content-Length", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1x\r\n\r\n", 400],
    ["RFC 9112 §6.3 ¶5: negative Content-Length", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: -1\r\n\r\n", 400],
    ["RFC 9112 §6.3 ¶5: differing Content-Lengths", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400],
    ["RFC 9112 §5.2: obs-fold", "GET / HTTP/1.1\r\nHost: h\r\nX-A: a\r\n b\r\n\r\n", 400],
    ["RFC 9112 §2.2: whitespace before the first field", "GET / HTTP/1.1\r\n Host: h\r\n\r\n", 400],
    ["RFC 9112 §5.1: whitespace before the colon", "GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400],
    ["RFC 9112 §3.2: HTTP/1.1 without Host", "GET / HTTP/1.1\r\nAccept: */*\r\n\r\n", 400],
    ["RFC 9112 §3.2: two Host fields", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400],
    ["RFC 9112 §3: malformed request line", "GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400],
    ["RFC 9112 §2.3: malformed version", "GET / HTTP/1\r\nHost: h\r\n\r\n", 400],
    ["RFC 9110 §15.6.6: HTTP/2.0 request line gets 505", "GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505],
    ["RFC 9112 §2.2: bare CR", "GET / HTTP/1.1\r\nHost: h\rX: y\r\n\r\n", 400],
    ["NUL in a field value (RFC 9110 §5.5)", "GET / HTTP/1.1\r\nHost: h\r\nX: a\x00b\r\n\r\n", 400],
    ["RFC 9112 §7.1: bad chunk size", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400],
    ["RFC 9112 §7.1: chunk data longer than its size", "POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n0\r\n\r\n", 400],
    ["connection closed inside the head", "GET / HTTP/1.1\r\nHost:", 400],
    ["connection closed inside the body", "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 9\r\n\r\nabc", 400],
  ];
  for (const [name, text, status] of cases) test(`${name} → ${status}`, () => expect(statusOf(text)).toBe(status));

  test("the error is sticky: nothing after it is parsed", () => {
    const p = new HttpParser("request");
    p.push(latin1("GET / HTTP/1.1\r\nHost : h\r\n\r\n" + CURL_GET));
    expect(p.next()).toMatchObject({ kind: "error", status: 400 });
    expect(p.next()).toMatchObject({ kind: "error", status: 400 });
  });
});

describe("limits", () => {
  test("request line over the limit → 414 (RFC 9112 §3), before its end arrives", () => {
    expect(statusOf(`GET /${"a".repeat(100)} HTTP/1.1\r\nHost: h\r\n\r\n`, { maxRequestLine: 64 })).toBe(414);
    const p = new HttpParser("request", { maxRequestLine: 64 });
    p.push(latin1(`GET /${"a".repeat(100)}`));
    expect(p.next()).toMatchObject({ kind: "error", status: 414 });
  });

  test("request line at the limit passes", () => {
    const line = `GET /${"a".repeat(64 - 14)} HTTP/1.1`;
    expect(line.length).toBe(64);
    expect(statusOf(`${line}\r\nHost: h\r\n\r\n`, { maxRequestLine: 64 })).toBeUndefined();
  });

  test("header section over the limit → 431 (RFC 6585 §5), without waiting for its end", () => {
    expect(statusOf(`GET / HTTP/1.1\r\nHost: h\r\nX: ${"v".repeat(300)}\r\n\r\n`, { maxHeaderBytes: 256 })).toBe(431);
    const p = new HttpParser("request", { maxHeaderBytes: 256 });
    p.push(latin1(`GET / HTTP/1.1\r\nHost: h\r\nX: ${"v".repeat(300)}`));
    expect(p.next()).toMatchObject({ kind: "error", status: 431 });
  });

  test("too many fields → 431", () => {
    const fields = (n: number): string => Array.from({ length: n }, (_, i) => `X-${i}: v\r\n`).join("");
    expect(statusOf(`GET / HTTP/1.1\r\nHost: h\r\n${fields(11)}\r\n`, { maxHeaders: 11 })).toBe(431);
    expect(statusOf(`GET / HTTP/1.1\r\nHost: h\r\n${fields(10)}\r\n`, { maxHeaders: 11 })).toBeUndefined();
  });

  test("body over the limit → 413 (RFC 9110 §15.5.14), by Content-Length and by chunks", () => {
    expect(statusOf("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 11\r\n\r\n", { maxBodyBytes: 10 })).toBe(413);
    expect(statusOf("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nabcdef\r\n6\r\nabcdef\r\n0\r\n\r\n", { maxBodyBytes: 10 })).toBe(413);
    expect(statusOf("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffff\r\n", {})).toBe(413);
    expect(statusOf("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789", { maxBodyBytes: 10 })).toBeUndefined();
  });

  test("too many empty lines before a request → 400", () => {
    expect(statusOf("\r\n".repeat(20) + CURL_GET)).toBe(400);
  });
});

describe("never throws, whatever the bytes", () => {
  test("every truncation and a seeded mutation of each corpus request", () => {
    let seed = 12345;
    const rand = (): number => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed >>> 8;
    };
    for (const text of Object.values(REQUESTS)) {
      const bytes = latin1(text);
      for (let i = 0; i <= bytes.length; i++) expect(() => run("request", [bytes.subarray(0, i)], { eof: true })).not.toThrow();
      for (let k = 0; k < 300; k++) {
        const m = bytes.slice();
        for (let j = 0; j < 3; j++) m[rand() % m.length] = rand() & 0xff;
        expect(() => run("request", [m], { eof: true })).not.toThrow();
        expect(() => run("response", [m], { eof: true })).not.toThrow();
      }
    }
  });
});
