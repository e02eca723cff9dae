/**
 * The HTTP/1.1 client's thin layer: one request and its whole response over a Duplex from a
 * `NetFaces`, with an `HttpAgent` keeping idle connections per host:port for reuse (RFC 9112 §9.3).
 *
 * Read before editing: RFC 9112 §9.3 (persistence), §9.3.1 (retrying requests), RFC 9110 §7.2 (Host),
 * §9.2.2 (idempotent methods).
 *
 * Guarantees: every socket it opens is either back in an agent's pool, idle and watched (a server
 * closing it removes it), or destroyed; the response body is read whole, bounded by the body limit.
 * A request that fails on a reused connection before any response byte arrived is retried once on a
 * new connection when its method is idempotent and its body is replayable (RFC 9112 §9.3.1): the
 * server may have closed the idle connection while we were reusing it.
 */
import type { AppSocket, NetFaces } from "../net-faces.ts";
import { HttpClientConnection } from "./connection.ts";
import { HttpHeaders } from "./headers.ts";
import type { HttpLimits, HttpVersion } from "./parser.ts";

/** What to request. Either `url` ("http://host:port/path") or `host` (+ `port`, `path`). */
export interface HttpRequestOptions {
  readonly method?: string;
  readonly url?: string;
  readonly host?: string;
  /** Default 80. */
  readonly port?: number;
  /** The request-target; default "/". */
  readonly path?: string;
  readonly headers?: HttpHeaders | Iterable<readonly [string, string]> | Readonly<Record<string, string>>;
  /** Bytes or text are sent with a Content-Length, a stream chunked. */
  readonly body?: Uint8Array | string | AsyncIterable<Uint8Array | string>;
  /** A pool of kept-alive connections; without one, each request has its own connection. */
  readonly agent?: HttpAgent;
  readonly limits?: Partial<HttpLimits>;
}

/** A complete response. */
export interface HttpClientResponse {
  readonly version: HttpVersion;
  readonly status: number;
  readonly reason: string;
  readonly headers: HttpHeaders;
  readonly body: Uint8Array;
  readonly trailers: HttpHeaders;
  /** Whether the request went over a connection an earlier request had used. */
  readonly reused: boolean;
}

/** A request failed: the connection broke or the server's bytes were not HTTP we accept. */
export class HttpClientError extends Error {
  override readonly name = "HttpClientError";
  readonly code = "WIRESTACK_ERR_HTTP_CLIENT";
  constructor(
    message: string,
    /** True when nothing of a response arrived (the request may be retried). */
    readonly beforeResponse: boolean,
  ) {
    super(message);
  }
}

interface Pooled {
  readonly sock: AppSocket;
  readonly conn: HttpClientConnection;
  /** Removes the idle watchers. */
  detach: () => void;
}

/** Keeps idle persistent connections by "host:port" (like Node's http.Agent with keepAlive). */
export class HttpAgent {
  private readonly idle = new Map<string, Pooled[]>();
  private readonly maxIdlePerHost: number;

  constructor(opts: { maxIdlePerHost?: number } = {}) {
    this.maxIdlePerHost = opts.maxIdlePerHost ?? 4;
  }

  /** Idle connections held, over all hosts. */
  get idleCount(): number {
    let n = 0;
    for (const list of this.idle.values()) n += list.length;
    return n;
  }

  /** Takes an idle connection to `key`, if any. */
  take(key: string): Pooled | undefined {
    const list = this.idle.get(key);
    const p = list?.pop();
    if (list !== undefined && list.length === 0) this.idle.delete(key);
    if (p === undefined) return undefined;
    p.detach();
    refSocket(p.sock, true);
    return p;
  }

  /** Keeps a connection whose exchange completed; closes it when the pool for `key` is full. */
  give(key: string, sock: AppSocket, conn: HttpClientConnection): void {
    const list = this.idle.get(key) ?? [];
    if (list.length >= this.maxIdlePerHost || sock.destroyed) {
      sock.destroy();
      return;
    }
    const evict = (): void => {
      const l = this.idle.get(key);
      const i = l?.indexOf(entry) ?? -1;
      if (l !== undefined && i >= 0) l.splice(i, 1);
      if (l !== undefined && l.length === 0) this.idle.delete(key);
      entry.detach();
      sock.destroy();
    };
    // An idle connection that receives anything (the server closing, or garbage) is dropped.
    const entry: Pooled = {
      sock,
      conn,
      detach: () => {
        sock.off("data", evict);
        sock.off("end", evict);
        sock.off("close", evict);
        sock.off("error", evict);
      },
    };
    sock.on("data", evict);
    sock.on("end", evict);
    sock.on("close", evict);
    sock.on("error", evict);
    refSocket(sock, false);
    list.push(entry);
    this.idle.set(key, list);
  }

  /** Destroys every idle connection. */
  close(): void {
    for (const list of this.idle.values()) for (const p of list) {
      p.detach();
      p.sock.destroy();
    }
    this.idle.clear();
  }
}

/** Lets an idle pooled node:net socket not keep the process alive (other Duplexes have no ref). */
function refSocket(sock: AppSocket, ref: boolean): void {
  const s = sock as unknown as { ref?: () => void; unref?: () => void };
  if (ref) s.ref?.();
  else s.unref?.();
}

const encoder = new TextEncoder();
const IDEMPOTENT = new Set(["GET", "HEAD", "PUT", "DELETE", "OPTIONS", "TRACE"]);

/** Where a request goes: the host to connect to, the port, the target and the Host field. */
function destination(opts: HttpRequestOptions): { host: string; port: number; target: string; hostField: string } {
  if (opts.url !== undefined) {
    const u = new URL(opts.url);
    if (u.protocol !== "http:") throw new TypeError(`only http:// URLs are supported, not ${u.protocol}`);
    const port = u.port === "" ? 80 : Number(u.port);
    const host = u.hostname.startsWith("[") ? u.hostname.slice(1, -1) : u.hostname;
    return { host, port, target: (u.pathname || "/") + u.search, hostField: u.host };
  }
  if (opts.host === undefined) throw new TypeError("httpRequest needs a url or a host");
  const port = opts.port ?? 80;
  const bracketed = opts.host.includes(":") ? `[${opts.host}]` : opts.host;
  return { host: opts.host, port, target: opts.path ?? "/", hostField: port === 80 ? bracketed : `${bracketed}:${port}` };
}

/** Sends one request and reads its whole response. */
export async function httpRequest(faces: NetFaces, opts: HttpRequestOptions): Promise<HttpClientResponse> {
  const method = (opts.method ?? "GET").toUpperCase();
  const dest = destination(opts);
  const headers = opts.headers instanceof HttpHeaders ? opts.headers.clone() : new HttpHeaders(opts.headers ?? []);
  // RFC 9110 §7.2: every HTTP/1.1 request carries Host.
  if (!headers.has("host")) headers.set("Host", dest.hostField);
  const rawBody = opts.body;
  const body = typeof rawBody === "string" ? encoder.encode(rawBody) : rawBody;
  let streamed = false;
  if (body instanceof Uint8Array) {
    if (!headers.has("content-length")) headers.set("Content-Length", String(body.length));
  } else if (body !== undefined) {
    streamed = !headers.has("content-length");
  } else if ((method === "POST" || method === "PUT") && !headers.has("content-length")) {
    headers.set("Content-Length", "0");
  }
  const agent = opts.agent;
  if (agent === undefined && !headers.has("connection")) headers.set("Connection", "close");
  const key = `${dest.host}:${dest.port}`;

  const pooled = agent?.take(key);
  if (pooled !== undefined) {
    try {
      return await exchange(pooled.sock, pooled.conn, true);
    } catch (err) {
      const replayable = IDEMPOTENT.has(method) && !(body !== undefined && !(body instanceof Uint8Array));
      if (!(err instanceof HttpClientError && err.beforeResponse && replayable)) throw err;
    }
  }
  const sock = await faces.connect({ host: dest.host, port: dest.port });
  return exchange(sock, new HttpClientConnection(opts.limits ?? {}), false);

  async function exchange(sock: AppSocket, conn: HttpClientConnection, reused: boolean): Promise<HttpClientResponse> {
    return new Promise<HttpClientResponse>((resolve, reject) => {
      let head: { version: HttpVersion; status: number; reason: string; headers: HttpHeaders } | undefined;
      const parts: Uint8Array[] = [];
      let length = 0;
      let settled = false;
      let sawBytes = false;

      const cleanup = (): void => {
        sock.off("data", onData);
        sock.off("end", onEnd);
        sock.off("error", onError);
        sock.off("close", onClose);
      };
      const fail = (message: string): void => {
        if (settled) return;
        settled = true;
        cleanup();
        sock.destroy();
        reject(new HttpClientError(message, !sawBytes));
      };
      const pump = (): void => {
        for (;;) {
          const e = conn.nextEvent();
          switch (e.kind) {
            case "response":
              head = { version: e.head.version, status: e.head.status, reason: e.head.reason, headers: e.head.headers };
              break;
            case "data":
              parts.push(e.data);
              length += e.data.length;
              break;
            case "end": {
              if (head === undefined) return fail("response ended without a head");
              settled = true;
              cleanup();
              const all = new Uint8Array(length);
              let at = 0;
              for (const p of parts) {
                all.set(p, at);
                at += p.length;
              }
              const response: HttpClientResponse = { ...head, body: all, trailers: e.trailers, reused };
              if (agent !== undefined && conn.keepAlive && conn.ourState === "done") {
                conn.startNextCycle();
                agent.give(key, sock, conn);
              } else {
                sock.destroy();
              }
              resolve(response);
              return;
            }
            case "error":
              return fail(`bad response: ${e.reason}`);
            case "closed":
              return fail("connection closed before the response");
            case "need-data":
            case "paused":
              return;
          }
        }
      };
      function onData(chunk: Uint8Array): void {
        sawBytes = true;
        conn.receiveData(chunk);
        pump();
      }
      function onEnd(): void {
        conn.receiveEof();
        pump();
        fail("connection closed before the response ended");
      }
      function onError(err: Error): void {
        fail(`connection failed: ${err.message}`);
      }
      function onClose(): void {
        fail("connection closed before the response ended");
      }
      sock.on("data", onData);
      sock.on("end", onEnd);
      sock.on("error", onError);
      sock.on("close", onClose);
      sock.resume();

      const send = async (): Promise<void> => {
        const write = async (bytes: Uint8Array): Promise<void> => {
          if (bytes.length === 0 || settled) return;
          if (!sock.write(bytes)) {
            await new Promise<void>((done) => {
              const go = (): void => {
                sock.off("drain", go);
                sock.off("close", go);
                done();
              };
              sock.on("drain", go);
              sock.on("close", go);
            });
          }
        };
        await write(conn.sendRequest({ method, target: dest.target, headers }, { chunked: streamed }));
        if (body instanceof Uint8Array) await write(conn.sendData(body));
        else if (body !== undefined) {
          for await (const chunk of body) await write(conn.sendData(typeof chunk === "string" ? encoder.encode(chunk) : chunk));
        }
        await write(conn.endMessage());
      };
      send().catch((err: unknown) => fail(`sending the request failed: ${String(err)}`));
    });
  }
}
