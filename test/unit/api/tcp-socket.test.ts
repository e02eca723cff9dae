/**
 * TcpSocket's Duplex semantics over a fake connection that implements the contract's app side
 * (/tmp/tcp-contract.md, "TcpConnection"): what the socket hands to TCP, when, and what it does with
 * each event. No TCP here: the sim tests (test/sim/tcp-api.test.ts) run it over real connections.
 */
import { createHash } from "node:crypto";
import { describe, expect, it } from "vitest";
import { TcpSocket, TcpSocketError, type TcpSocketConnection } from "../../../src/api/tcp-socket.ts";
import { TcpServer, type TcpServerHost, type TcpServerListener } from "../../../src/api/tcp-server.ts";
import { WirestackError } from "../../../src/errors.ts";
import { VirtualClock } from "../../../src/time/clock.ts";
import type { Endpoint, TcpConnection, TcpEvent, TcpState, TcpStats } from "../../../src/transport/tcp/connection.ts";
import { parseIpv4, parseIpv6 } from "../../../src/wire/ip-address.ts";

/** Lets queued nextTicks, microtasks and immediates run. */
const ticks = async (n = 3): Promise<void> => {
  for (let i = 0; i < n; i++) await new Promise<void>((resolve) => setImmediate(resolve));
};

const LOCAL: Endpoint = { family: 4, address: parseIpv4("10.0.0.1") as number, port: 49152 };
const REMOTE: Endpoint = { family: 4, address: parseIpv4("10.0.0.2") as number, port: 7 };

/** A connection with a bounded send buffer and a receive queue the test fills. */
class FakeConnection implements TcpSocketConnection {
  state: TcpState;
  /** Everything the socket wrote, in order, and what is still "unacknowledged" in the send buffer. */
  readonly written: Buffer[] = [];
  sendBuffered = 0;
  readonly received: Uint8Array[] = [];
  readonly calls: string[] = [];

  constructor(
    state: TcpState,
    readonly sendCapacity = 1 << 20,
    readonly local: Endpoint = LOCAL,
    readonly remote: Endpoint = REMOTE,
  ) {
    this.state = state;
  }

  write(data: Uint8Array): number {
    const n = Math.min(data.length, this.sendCapacity - this.sendBuffered);
    if (n > 0) this.written.push(Buffer.from(data.subarray(0, n)));
    this.sendBuffered += n;
    return n;
  }
  read(maxBytes?: number): Uint8Array | undefined {
    const head = this.received[0];
    if (head === undefined) return undefined;
    if (maxBytes !== undefined && maxBytes < head.length) {
      this.received[0] = head.subarray(maxBytes);
      return head.subarray(0, maxBytes);
    }
    this.received.shift();
    return head;
  }
  get readableLength(): number {
    return this.received.reduce((s, b) => s + b.length, 0);
  }
  get writableLength(): number {
    return this.sendBuffered;
  }
  shutdown(now: number): void {
    this.calls.push(`shutdown@${now}`);
  }
  close(now: number): void {
    this.calls.push(`close@${now}`);
  }
  stats(): TcpStats {
    return { state: this.state } as TcpStats;
  }
  abort(now: number): void {
    this.calls.push(`abort@${now}`);
    this.state = "CLOSED";
  }
  setNoDelay(on: boolean): void {
    this.calls.push(`noDelay(${on})`);
  }
  setKeepAlive(on: boolean, idleMs?: number, now?: number): void {
    this.calls.push(`keepAlive(${on},${idleMs},${now})`);
  }
  /** The peer acknowledged `n` bytes. */
  ack(n: number): void {
    this.sendBuffered -= n;
  }
  allWritten(): Buffer {
    return Buffer.concat(this.written);
  }
}

function setup(state: TcpState = "ESTABLISHED", opts: { sendCapacity?: number; allowHalfOpen?: boolean; remote?: Endpoint; local?: Endpoint } = {}) {
  const clock = new VirtualClock({ startMs: 1000 });
  const conn = new FakeConnection(state, opts.sendCapacity, opts.local, opts.remote);
  let kicks = 0;
  const sock = new TcpSocket({ connection: conn, clock, kick: () => void kicks++, allowHalfOpen: opts.allowHalfOpen });
  const log: string[] = [];
  for (const ev of ["connect", "ready", "end", "finish", "drain", "timeout"]) sock.on(ev, () => log.push(ev));
  sock.on("close", (hadError: boolean) => log.push(`close(${hadError})`));
  sock.on("error", (err: Error) => log.push(`error(${(err as TcpSocketError).code})`));
  const deliver = (...events: TcpEvent[]) => sock._deliver(events);
  return { clock, conn, sock, log, deliver, kicks: () => kicks };
}

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

describe("TcpSocket: net.Socket surface", () => {
  it("names both ends like net.Socket (IPv4)", () => {
    const { sock } = setup();
    expect(sock.remoteAddress).toBe("10.0.0.2");
    expect(sock.remotePort).toBe(7);
    expect(sock.remoteFamily).toBe("IPv4");
    expect(sock.localAddress).toBe("10.0.0.1");
    expect(sock.localPort).toBe(49152);
    expect(sock.address()).toEqual({ address: "10.0.0.1", family: "IPv4", port: 49152 });
    expect(sock.readyState).toBe("open");
    expect(sock.connecting).toBe(false);
    expect(sock.pending).toBe(false);
  });

  it("names both ends like net.Socket (IPv6)", () => {
    const { sock } = setup("ESTABLISHED", {
      local: { family: 6, address: parseIpv6("fd00::1") as Uint8Array, port: 80 },
      remote: { family: 6, address: parseIpv6("fd00::2") as Uint8Array, port: 50000 },
    });
    expect(sock.address()).toEqual({ address: "fd00::1", family: "IPv6", port: 80 });
    expect([sock.remoteAddress, sock.remotePort, sock.remoteFamily]).toEqual(["fd00::2", 50000, "IPv6"]);
  });

  it("is connecting until the connected event, then emits connect and ready", async () => {
    const { sock, log, deliver } = setup("SYN-SENT");
    expect(sock.connecting).toBe(true);
    expect(sock.pending).toBe(true);
    expect(sock.readyState).toBe("opening");
    deliver({ kind: "connected" });
    expect(log).toEqual([]); // never synchronously inside the stack's delivery
    await ticks();
    expect(log).toEqual(["connect", "ready"]);
    expect(sock.connecting).toBe(false);
    expect(sock.readyState).toBe("open");
  });

  it("forwards setNoDelay and setKeepAlive to the connection and kicks the stack", () => {
    const { sock, conn, clock, kicks } = setup();
    sock.setNoDelay();
    sock.setNoDelay(false);
    sock.setKeepAlive(true, 5000);
    sock.setKeepAlive(true);
    sock.setKeepAlive(false);
    expect(conn.calls).toEqual(["noDelay(true)", "noDelay(false)", `keepAlive(true,5000,${clock.now()})`, `keepAlive(true,undefined,${clock.now()})`, "keepAlive(false,undefined,undefined)"]);
    expect(kicks()).toBe(5);
  });

  it("ref and unref are chainable no-ops", () => {
    const { sock } = setup();
    expect(sock.ref().unref()).toBe(sock);
  });
});

describe("TcpSocket: writing and backpressure", () => {
  it("write() returns false past the high-water mark and 'drain' follows once TCP takes the bytes", async () => {
    const { sock, conn, log, deliver } = setup("ESTABLISHED", { sendCapacity: 4000 });
    const data = Buffer.alloc(100_000);
    for (let i = 0; i < data.length; i++) data[i] = (i * 7 + (i >> 8)) & 0xff;
    let offset = 0;
    let results: boolean[] = [];
    while (offset < data.length) {
      const ok = sock.write(data.subarray(offset, offset + 8192));
      offset += 8192;
      results.push(ok);
      if (!ok) break;
    }
    // 16 KiB high-water mark: the second 8 KiB chunk reaches it.
    expect(results).toEqual([true, false]);
    expect(conn.writableLength).toBe(4000);
    expect(sock.bytesWritten).toBe(4000);
    await ticks();
    expect(log).not.toContain("drain");
    // The peer acknowledges; the connection reports room ("writable"), repeatedly, until everything is in.
    const drains: number[] = [];
    sock.on("drain", () => drains.push(offset));
    for (let round = 0; round < 1000 && conn.allWritten().length < data.length; round++) {
      conn.ack(conn.writableLength);
      deliver({ kind: "writable" });
      await ticks(1);
      if (drains.length > 0 && offset < data.length) {
        results = [];
        while (offset < data.length) {
          const ok = sock.write(data.subarray(offset, offset + 8192));
          offset += 8192;
          if (!ok) break;
        }
        drains.length = 0;
      }
    }
    expect(offset).toBeGreaterThanOrEqual(data.length);
    expect(sha(conn.allWritten())).toBe(sha(data));
    expect(sock.bytesWritten).toBe(data.length);
    expect(log).toContain("drain");
  });

  it("takes a batch (writev) in order, each write callback after TCP accepted its bytes", async () => {
    const { sock, conn, deliver } = setup("ESTABLISHED", { sendCapacity: 10 });
    const done: string[] = [];
    sock.cork();
    sock.write("abcdef", () => done.push("1"));
    sock.write("ghijkl", () => done.push("2"));
    sock.uncork();
    await ticks();
    expect(conn.allWritten().toString()).toBe("abcdefghij");
    expect(done).toEqual([]);
    conn.ack(10);
    deliver({ kind: "writable" });
    await ticks();
    expect(conn.allWritten().toString()).toBe("abcdefghijkl");
    expect(done).toEqual(["1", "2"]);
  });

  it("kicks the stack after handing bytes to TCP", () => {
    const { sock, kicks } = setup();
    sock.write("x");
    expect(kicks()).toBe(1);
  });

  it("defers the FIN of end() while connecting, then sends it after the handshake (RFC 9293 §3.10.4)", async () => {
    const { sock, conn, log, deliver } = setup("SYN-SENT");
    sock.end("GET / HTTP/1.0\r\n\r\n");
    await ticks();
    expect(conn.allWritten().toString()).toBe("GET / HTTP/1.0\r\n\r\n");
    expect(conn.calls).toEqual([]);
    deliver({ kind: "connected" });
    await ticks();
    expect(conn.calls).toEqual(["shutdown@1000"]);
    expect(log).toEqual(["connect", "ready", "finish"]);
  });
});

describe("TcpSocket: reading and flow control", () => {
  it("pulls only what the reader takes: unread bytes stay in TCP (closing the window)", async () => {
    const { sock, conn, deliver } = setup();
    for (let i = 0; i < 100; i++) conn.received.push(new Uint8Array(1000).fill(i));
    deliver({ kind: "readable" });
    await ticks();
    // Nobody reads: the stream buffers up to its 16 KiB high-water mark and leaves the rest.
    expect(sock.readableLength).toBeGreaterThanOrEqual(16_384);
    expect(sock.readableLength).toBeLessThan(16_384 + 1000);
    expect(conn.readableLength).toBe(100_000 - sock.readableLength);
    const chunks: Buffer[] = [];
    sock.on("data", (b: Buffer) => chunks.push(b));
    await ticks();
    expect(conn.readableLength).toBe(0);
    const all = Buffer.concat(chunks);
    expect(all.length).toBe(100_000);
    expect(all[0]).toBe(0);
    expect(all[99_999]).toBe(99);
    expect(sock.bytesRead).toBe(100_000);
  });

  it("pushes data that arrives later, on 'readable', and kicks so a window update can go out", async () => {
    const { sock, conn, deliver, kicks } = setup();
    const got: string[] = [];
    sock.on("data", (b: Buffer) => got.push(b.toString()));
    await ticks();
    conn.received.push(Buffer.from("hello"));
    deliver({ kind: "readable" });
    await ticks();
    expect(got).toEqual(["hello"]);
    expect(kicks()).toBe(1);
  });
});

describe("TcpSocket: ending and closing (RFC 9293 §3.10.4, §3.6)", () => {
  it("the peer's FIN ends the readable side after the data; allowHalfOpen false ends ours: end, finish, close", async () => {
    const { sock, conn, log, deliver } = setup();
    sock.on("data", (b: Buffer) => log.push(`data(${b.toString()})`));
    conn.received.push(Buffer.from("bye"));
    deliver({ kind: "readable" }, { kind: "end" });
    await ticks(5);
    expect(log).toEqual(["data(bye)", "end", "finish", "close(false)"]);
    expect(conn.calls).toEqual(["shutdown@1000", "close@1000"]);
    expect(sock.destroyed).toBe(true);
  });

  it("half-close with allowHalfOpen: after the peer's FIN we still write, then end()", async () => {
    const { sock, conn, log, deliver } = setup("ESTABLISHED", { allowHalfOpen: true });
    sock.resume();
    deliver({ kind: "end" });
    await ticks();
    expect(log).toEqual(["end"]);
    expect(sock.readyState).toBe("writeOnly");
    sock.write("still talking");
    await ticks();
    expect(conn.allWritten().toString()).toBe("still talking");
    expect(conn.calls).toEqual([]);
    sock.end();
    await ticks(5);
    expect(conn.calls).toEqual(["shutdown@1000", "close@1000"]);
    expect(log).toEqual(["end", "finish", "close(false)"]);
  });

  it("our end() sends a FIN and the socket keeps reading until the peer's FIN", async () => {
    const { sock, conn, log, deliver } = setup();
    const got: string[] = [];
    sock.on("data", (b: Buffer) => got.push(b.toString()));
    sock.end("request");
    await ticks();
    expect(conn.calls).toEqual(["shutdown@1000"]);
    expect(log).toEqual(["finish"]);
    expect(sock.readyState).toBe("readOnly");
    conn.received.push(Buffer.from("response"));
    deliver({ kind: "readable" }, { kind: "end" }, { kind: "closed" });
    await ticks(5);
    expect(got).toEqual(["response"]);
    expect(log).toEqual(["finish", "end", "close(false)"]);
    expect(conn.calls).toEqual(["shutdown@1000"]); // no RST after a clean close
  });

  it("'close' comes once, after 'end', even when the connection also reports closed", async () => {
    const { sock, log, deliver } = setup();
    sock.resume();
    deliver({ kind: "end" });
    await ticks(5);
    deliver({ kind: "closed" });
    await ticks(5);
    expect(log.filter((e) => e.startsWith("close"))).toEqual(["close(false)"]);
  });

  it("destroy() with nothing unread closes gracefully: a FIN, no RST", async () => {
    const { sock, conn, log } = setup();
    sock.destroy();
    await ticks();
    expect(conn.calls).toEqual(["close@1000"]); // close(): a FIN, and the connection is orphaned (FIN-WAIT-2 times out)
    expect(log).toEqual(["close(false)"]);
  });

  it("destroy() with unread data aborts: an RST as Linux's close() (RFC 1122 §4.2.2.13)", async () => {
    const { sock, conn, log } = setup();
    conn.received.push(Buffer.from("unread"));
    sock.destroy();
    await ticks();
    expect(conn.calls).toEqual(["abort@1000"]);
    expect(log).toEqual(["close(false)"]);
  });

  it("destroy(err) and resetAndDestroy() abort the connection (RFC 9293 §3.10.5)", async () => {
    const a = setup();
    a.sock.destroy(new Error("app gave up"));
    const b = setup();
    b.sock.resetAndDestroy();
    await ticks();
    expect(a.conn.calls).toEqual(["abort@1000"]);
    expect(a.log).toEqual(["error(undefined)", "close(true)"]);
    expect(b.conn.calls).toEqual(["abort@1000"]);
    expect(b.log).toEqual(["close(false)"]);
  });

  it("after destroy(), data the peer still sends is refused with an RST (an orphaned socket)", async () => {
    const { sock, conn, deliver } = setup();
    sock.end();
    sock.destroy();
    await ticks();
    expect(conn.calls).toEqual(["shutdown@1000", "close@1000"]);
    conn.received.push(Buffer.from("late"));
    deliver({ kind: "readable" });
    await ticks();
    expect(conn.calls).toEqual(["shutdown@1000", "close@1000", "abort@1000"]);
  });

  it("a connection that closes while we can still write destroys the socket without an error", async () => {
    const { sock, log, deliver } = setup("ESTABLISHED", { allowHalfOpen: true });
    sock.resume();
    deliver({ kind: "end" }, { kind: "closed" });
    await ticks(5);
    expect(log).toEqual(["end", "close(false)"]);
    expect(sock.destroyed).toBe(true);
  });
});

describe("TcpSocket: errors carry Node's codes", () => {
  it("ECONNREFUSED while connecting (RFC 9293 §3.10.7.3: RST in SYN-SENT)", async () => {
    const { sock, log, deliver } = setup("SYN-SENT");
    let err: TcpSocketError | undefined;
    sock.on("error", (e: TcpSocketError) => (err = e));
    deliver({ kind: "error", code: "ECONNREFUSED", message: "connection refused by the peer" }, { kind: "closed" });
    await ticks();
    expect(log).toEqual(["error(ECONNREFUSED)", "close(true)"]);
    expect(err).toBeInstanceOf(TcpSocketError);
    expect(err).toBeInstanceOf(Error);
    expect(err?.code).toBe("ECONNREFUSED");
    expect(err?.errno).toBe(-111);
    expect(err?.syscall).toBe("connect");
    expect(err?.address).toBe("10.0.0.2");
    expect(err?.port).toBe(7);
    expect(err?.message).toMatch(/^connect ECONNREFUSED 10\.0\.0\.2:7 /);
  });

  it.each([
    ["ECONNRESET", "read", -104],
    ["ETIMEDOUT", "read", -110],
    ["EPIPE", "write", -32],
  ] as const)("%s after connecting: syscall %s, errno %d; no RST back", async (code, syscall, errno) => {
    const { sock, conn, log, deliver } = setup();
    let err: TcpSocketError | undefined;
    sock.on("error", (e: TcpSocketError) => (err = e));
    deliver({ kind: "error", code, message: "reason" });
    await ticks();
    expect(log).toEqual([`error(${code})`, "close(true)"]);
    expect(err?.syscall).toBe(syscall);
    expect(err?.errno).toBe(errno);
    expect(err?.message).toBe(`${syscall} ${code} 10.0.0.2:7 (reason)`);
    expect(conn.calls).toEqual([]);
  });
});

describe("TcpSocket: setTimeout", () => {
  it("emits 'timeout' after the idle time, restarting it on activity, and not again until activity", async () => {
    const { sock, clock, log } = setup();
    let cb = 0;
    sock.setTimeout(1000, () => cb++);
    clock.advance(600);
    sock.write("x"); // activity at 1600
    clock.advance(600);
    expect(log).toEqual([]);
    clock.advance(400);
    expect(log).toEqual(["timeout"]);
    expect(cb).toBe(1);
    clock.advance(5000);
    expect(log).toEqual(["timeout"]);
    expect(sock.timeout).toBe(1000);
    sock.setTimeout(0);
    expect(sock.timeout).toBeUndefined();
    sock.write("y");
    clock.advance(5000);
    expect(log).toEqual(["timeout"]);
    await ticks();
  });
});

describe("TcpServer over a fake host", () => {
  function serverSetup(opts: { taken?: boolean } = {}) {
    const clock = new VirtualClock({ startMs: 1000 });
    const waiting: FakeConnection[] = [];
    const closed: number[] = [];
    let listener: TcpServerListener | undefined;
    const host: TcpServerHost = {
      listen(port, local, backlog) {
        if (opts.taken) throw new WirestackError("WIRESTACK_ERR_ADDR_IN_USE", `TCP port ${port} is already listening`);
        listener = { port: port === 0 ? 49999 : port, local: local ?? { family: "dual" }, owner: undefined };
        void backlog;
        return listener;
      },
      unlisten(l) {
        closed.push(l.port);
      },
      accept() {
        return waiting.shift() as unknown as TcpConnection | undefined;
      },
      socketFor(conn, o) {
        return new TcpSocket({ connection: conn, clock, allowHalfOpen: o.allowHalfOpen });
      },
      hasFamily: () => true,
    };
    const server = new TcpServer(host);
    const log: string[] = [];
    server.on("listening", () => log.push("listening"));
    server.on("close", () => log.push("close"));
    server.on("error", (e: Error) => log.push(`error(${(e as TcpSocketError).code})`));
    const arrive = (n: number) => {
      for (let i = 0; i < n; i++) waiting.push(new FakeConnection("ESTABLISHED", 1 << 20, { family: 4, address: 0x0a000002, port: 80 }, { family: 4, address: 0x0a000001, port: 40000 + i }));
      listener?.owner?.acceptable();
    };
    return { server, log, arrive, closed, listener: () => listener };
  }

  it("listen(port, host, cb): 'listening' on a later tick, address() like net.Server", async () => {
    const { server, log } = serverSetup();
    let called = 0;
    server.listen(80, "0.0.0.0", () => called++);
    expect(log).toEqual([]);
    await ticks();
    expect(log).toEqual(["listening"]);
    expect(called).toBe(1);
    expect(server.listening).toBe(true);
    expect(server.address()).toEqual({ address: "0.0.0.0", family: "IPv4", port: 80 });
  });

  it("listen({ port: 0, host: '::' }) listens on both families at the port the host picked", async () => {
    const { server } = serverSetup();
    server.listen({ port: 0, host: "::" });
    expect(server.address()).toEqual({ address: "::", family: "IPv6", port: 49999 });
    expect(() => server.listen(81)).toThrow(/already listening/);
  });

  it("a taken port is an 'error' with code EADDRINUSE and syscall listen, as Node", async () => {
    const { server, log } = serverSetup({ taken: true });
    let err: TcpSocketError | undefined;
    server.on("error", (e) => (err = e as TcpSocketError));
    server.listen(80);
    await ticks();
    expect(log).toEqual(["error(EADDRINUSE)"]);
    expect(err?.syscall).toBe("listen");
    expect(err?.errno).toBe(-98);
    expect(err?.message).toMatch(/^listen EADDRINUSE :::80 /);
    expect(server.listening).toBe(false);
  });

  it("emits 'connection' per accepted connection; close() waits for the sockets, then 'close'", async () => {
    const { server, log, arrive, closed } = serverSetup();
    const socks: TcpSocket[] = [];
    server.on("connection", (s) => socks.push(s));
    server.listen(80);
    await ticks();
    arrive(2);
    await ticks();
    expect(socks.map((s) => s.remotePort)).toEqual([40000, 40001]);
    let count = -1;
    server.getConnections((_e, n) => (count = n));
    await ticks();
    expect(count).toBe(2);
    let closedCb = 0;
    server.close(() => closedCb++);
    expect(closed).toEqual([80]);
    await ticks();
    expect(log).toEqual(["listening"]);
    socks[0]?.destroy();
    await ticks();
    expect(log).toEqual(["listening"]);
    socks[1]?.destroy();
    await ticks();
    expect(log).toEqual(["listening", "close"]);
    expect(closedCb).toBe(1);
  });

  it("maxConnections: connections beyond it are closed at once and reported as 'drop'", async () => {
    const { server, arrive } = serverSetup();
    server.maxConnections = 1;
    const socks: TcpSocket[] = [];
    const drops: number[] = [];
    server.on("connection", (s) => socks.push(s));
    server.on("drop", (d) => drops.push(d.remotePort));
    server.listen(80);
    arrive(3);
    await ticks();
    expect(socks.length).toBe(1);
    expect(drops).toEqual([40001, 40002]);
  });

  it("close() when not listening passes an error to the callback", async () => {
    const { server } = serverSetup();
    let err: Error | undefined;
    server.close((e) => (err = e));
    await ticks();
    expect((err as WirestackError | undefined)?.code).toBe("ERR_SERVER_NOT_RUNNING");
  });
});
