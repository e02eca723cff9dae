/**
 * The sans-IO HTTP/1.1 connections (src/app/http/connection.ts): exact bytes out for each framing,
 * keep-alive decisions from both messages (RFC 9112 §9.3), pipelined requests paused and answered in
 * order (RFC 9112 §9.3.2), and the client skipping interim responses.
 */
import { describe, expect, test } from "vitest";
import { HttpClientConnection, HttpServerConnection } from "../../../../src/app/http/connection.ts";
import type { ServerEvent } from "../../../../src/app/http/connection.ts";

const enc = (s: string): Uint8Array => new TextEncoder().encode(s);
const dec = (b: Uint8Array): string => new TextDecoder("latin1").decode(b);

/** Events until need-data / paused / closed, data as text. */
function drain(c: HttpServerConnection): string[] {
  const out: string[] = [];
  for (let i = 0; i < 100; i++) {
    const e: ServerEvent = c.nextEvent();
    out.push(e.kind === "request" ? `request ${e.head.method} ${e.head.target}` : e.kind === "data" ? `data ${dec(e.data)}` : e.kind === "error" ? `error ${e.status}` : e.kind);
    if (e.kind === "need-data" || e.kind === "paused" || e.kind === "closed" || e.kind === "error") return out;
  }
  throw new Error("no end");
}

/** A full response with `body` through the connection, as text. */
function answer(c: HttpServerConnection, status: number, headers: [string, string][], body = ""): string {
  let s = dec(c.respond({ status, headers }));
  if (body !== "") s += dec(c.sendData(enc(body)));
  s += dec(c.endMessage());
  return s;
}

describe("server: framing of the response (RFC 9112 §6.3)", () => {
  test("HTTP/1.1 without Content-Length gets chunked, exact bytes", () => {
    const c = new HttpServerConnection();
    c.receiveData(enc("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
    expect(drain(c)).toEqual(["request GET /", "end", "paused"]);
    expect(answer(c, 200, [["Content-Type", "text/plain"]], "hello")).toBe(
      "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    );
    expect(c.mustClose).toBe(false);
    c.startNextCycle();
    expect(drain(c)).toEqual(["need-data"]);
  });

  test("Content-Length kept; a body longer or shorter than it is our misuse (throws)", () => {
    const c = new HttpServerConnection();
    c.receiveData(enc("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
    drain(c);
    expect(dec(c.respond({ status: 200, headers: [["Content-Length", "3"]] }))).toBe("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\n");
    expect(() => c.sendData(enc("abcd"))).toThrow(/longer/);
    expect(dec(c.sendData(enc("ab")))).toBe("ab");
    expect(() => c.endMessage()).toThrow(/short/);
  });

  test("HEAD: head only, Content-Length kept (RFC 9110 §9.3.2)", () => {
    const c = new HttpServerConnection();
    c.receiveData(enc("HEAD / HTTP/1.1\r\nHost: h\r\n\r\n"));
    drain(c);
    expect(answer(c, 200, [["Content-Length", "1000"]])).toBe("HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
    expect(() => new HttpServerConnection().sendData(enc("x"))).toThrow();
  });

  test("HTTP/1.0 without keep-alive: body delimited by close, Connection: close (RFC 9112 §9.3)", () => {
    const c = new HttpServerConnection();
    c.receiveData(enc("GET / HTTP/1.0\r\n\r\n"));
    drain(c);
    expect(answer(c, 200, [], "abc")).toBe("HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nabc");
    expect(c.mustClose).toBe(true);
    expect(() => c.startNextCycle()).toThrow();
  });

  test("HTTP/1.0 with keep-alive and a length stays open and says so", () => {
    const c = new HttpServerConnection();
    c.receiveData(enc("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    drain(c);
    expect(answer(c, 200, [["Content-Length", "3"]], "abc")).toBe("HTTP/1.1 200 OK\r\nContent-Length: 3\r\nConnection: keep-alive\r\n\r\nabc");
    expect(c.mustClose).toBe(false);
  });

  test("Connection: close from the client closes after the response (RFC 9112 §9.6)", () => {
    const c = new HttpServerConnection();
    c.receiveData(enc("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"));
    drain(c);
    expect(answer(c, 204, [])).toBe("HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n");
    expect(c.mustClose).toBe(true);
  });

  test("an error response after a protocol error closes", () => {
    const c = new HttpServerConnection();
    c.receiveData(enc("GET / HTTP/1.1\r\n\r\n"));
    expect(drain(c)).toEqual(["error 400"]);
    expect(c.nextEvent().kind).toBe("paused");
    expect(answer(c, 400, [["Content-Length", "0"]])).toBe("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    expect(c.mustClose).toBe(true);
  });

  test("response splitting refused: CR LF in a field value throws", () => {
    const c = new HttpServerConnection();
    c.receiveData(enc("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
    drain(c);
    expect(() => c.respond({ status: 200, headers: [["X", "a\r\nSet-Cookie: b"]] })).toThrow(TypeError);
  });

  test("100-continue is offered while the body is due (RFC 9110 §10.1.1)", () => {
    const c = new HttpServerConnection();
    c.receiveData(enc("PUT /f HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n"));
    expect(drain(c)).toEqual(["request PUT /f", "need-data"]);
    expect(c.expectsContinue).toBe(true);
    expect(dec(c.sendContinue())).toBe("HTTP/1.1 100 Continue\r\n\r\n");
    c.receiveData(enc("ok"));
    expect(drain(c)).toEqual(["data ok", "end", "paused"]);
    expect(c.expectsContinue).toBe(false);
  });
});

describe("server: pipelining (RFC 9112 §9.3.2)", () => {
  test("three pipelined requests are released one at a time, answers in order", () => {
    const c = new HttpServerConnection();
    c.receiveData(enc("GET /1 HTTP/1.1\r\nHost: h\r\n\r\nGET /2 HTTP/1.1\r\nHost: h\r\n\r\nGET /3 HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"));
    const answers: string[] = [];
    for (const n of ["1", "2", "3"]) {
      expect(drain(c)).toEqual([`request GET /${n}`, "end", "paused"]);
      expect(c.nextEvent().kind).toBe("paused");
      answers.push(answer(c, 200, [["Content-Length", "1"]], n));
      if (n !== "3") c.startNextCycle();
    }
    expect(answers.map((a) => a.slice(-1))).toEqual(["1", "2", "3"]);
    expect(c.mustClose).toBe(true);
  });

  test("EOF between requests is a clean close", () => {
    const c = new HttpServerConnection();
    c.receiveData(enc("GET / HTTP/1.1\r\nHost: h\r\n\r\n"));
    drain(c);
    answer(c, 204, []);
    c.startNextCycle();
    c.receiveEof();
    expect(drain(c)).toEqual(["closed"]);
  });
});

describe("client", () => {
  test("request bytes: Content-Length body, then chunked body (RFC 9112 §7.1)", () => {
    const c = new HttpClientConnection();
    let s = dec(c.sendRequest({ method: "POST", target: "/p", headers: [["Host", "h"], ["Content-Length", "2"]] }));
    s += dec(c.sendData(enc("hi"))) + dec(c.endMessage());
    expect(s).toBe("POST /p HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi");
    c.receiveData(enc("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n"));
    const kinds: string[] = [];
    for (let e = c.nextEvent(); e.kind !== "need-data" && e.kind !== "paused"; e = c.nextEvent()) kinds.push(e.kind === "response" ? `response ${e.head.status}` : e.kind);
    expect(kinds).toEqual(["response 200", "data", "end"]);
    expect(c.keepAlive).toBe(true);
    c.startNextCycle();
    s = dec(c.sendRequest({ method: "POST", target: "/q", headers: [["Host", "h"]] }, { chunked: true }));
    s += dec(c.sendData(enc("abc"))) + dec(c.endMessage());
    expect(s).toBe("POST /q HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n");
  });

  test("a response without length ends at close and the connection is not reused", () => {
    const c = new HttpClientConnection();
    c.sendRequest({ method: "GET", target: "/", headers: [["Host", "h"]] });
    c.endMessage();
    c.receiveData(enc("HTTP/1.1 200 OK\r\n\r\nxyz"));
    expect(c.nextEvent().kind).toBe("response");
    expect(c.nextEvent().kind).toBe("data");
    expect(c.nextEvent().kind).toBe("need-data");
    c.receiveEof();
    expect(c.nextEvent().kind).toBe("end");
    expect(c.keepAlive).toBe(false);
  });

  test("bytes from the server with no request outstanding are an error", () => {
    const c = new HttpClientConnection();
    c.receiveData(enc("HTTP/1.1 200 OK\r\n\r\n"));
    expect(c.nextEvent()).toMatchObject({ kind: "error" });
  });
});
