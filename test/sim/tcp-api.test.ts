/**
 * TcpSocket and TcpServer over real TCP: two stacks on a MemoryWire in virtual time (test/sim/
 * helpers.ts `twoStacks`), through `stack.tcp.listen` / `stack.tcp.connect` — ARP, IPv4/IPv6, the
 * TCP layer and connections all real. Node streams run on the real event loop; `settle` advances the
 * virtual clock between turns.
 */
import { createHash } from "node:crypto";
import type { Duplex } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { TcpSocket, TcpSocketError } from "../../src/api/tcp-socket.ts";
import type { VirtualClock } from "../../src/time/clock.ts";
import { settle } from "../../src/time/drive.ts";
import { seededRandom } from "../../src/time/random.ts";
import { ADDR, twoStacks, type TwoStacks, type TwoStacksOptions } from "./helpers.ts";

let current: TwoStacks | undefined;
afterEach(async () => {
  await current?.close();
  current?.dispose();
  current = undefined;
});

function stacks(opts: TwoStacksOptions = {}): TwoStacks {
  current = twoStacks(opts);
  return current;
}

/** Resolves after `ms` of virtual time. */
function after(clock: VirtualClock, ms: number): Promise<void> {
  return settle(clock, new Promise<void>((resolve) => clock.schedule(clock.now() + ms, resolve)));
}

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

function data(size: number, seed: number): Buffer {
  return Buffer.from(seededRandom(seed).bytes(size));
}

/** Collects a stream until 'end'; rejects on 'error'. */
function collect(s: Duplex): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    s.on("data", (b: Buffer) => parts.push(b));
    s.on("end", () => resolve(Buffer.concat(parts)));
    s.on("error", reject);
  });
}

/** Writes `buf` in 64 KiB chunks honouring backpressure; resolves to the number of 'drain' waits. */
async function writeAll(s: Duplex, buf: Buffer, end = true): Promise<number> {
  let drains = 0;
  for (let off = 0; off < buf.length; off += 65536) {
    if (!s.write(buf.subarray(off, off + 65536))) {
      drains++;
      await new Promise<void>((resolve, reject) => {
        s.once("drain", () => {
          s.off("error", reject);
          resolve();
        });
        s.once("error", reject);
      });
    }
  }
  if (end) s.end();
  return drains;
}

function closed(s: Duplex): Promise<boolean> {
  return new Promise((resolve) => s.once("close", (hadError: boolean) => resolve(hadError)));
}

describe("TcpSocket and TcpServer between two stacks", () => {
  it("echo server with sock.pipe(sock): 200 kB comes back intact, then end and close on both sides", async () => {
    const { clock, a, b } = stacks({ seed: 1 });
    const serverClosed: Promise<boolean>[] = [];
    b.tcp.listen(7, (s) => {
      serverClosed.push(closed(s));
      s.pipe(s);
    });
    const client = a.tcp.connect({ host: ADDR.ipB, port: 7 });
    const connected = new Promise<void>((resolve) => client.once("connect", resolve));
    const payload = data(200_000, 5);
    const back = collect(client);
    const clientClosed = closed(client);
    await settle(clock, connected);
    expect(client.remoteAddress).toBe(ADDR.ipB);
    expect(client.remotePort).toBe(7);
    expect(client.localAddress).toBe(ADDR.ipA);
    void writeAll(client, payload);
    const got = await settle(clock, back);
    expect(sha(got)).toBe(sha(payload));
    expect(await settle(clock, clientClosed)).toBe(false);
    expect(serverClosed.length).toBe(1);
    expect(await settle(clock, serverClosed[0] as Promise<boolean>)).toBe(false);
    expect(client.bytesRead).toBe(payload.length);
    expect(client.bytesWritten).toBe(payload.length);
    // Per-connection statistics through the API (issue 4, item 4), readable after close.
    const st = client.stats();
    expect(st.bytesOut).toBe(payload.length);
    expect(st.bytesIn).toBe(payload.length);
    expect(st.cwnd).toBeGreaterThan(0);
    expect(st.srtt).toBeGreaterThanOrEqual(0); // measured (this wire has no delay: 0 ms)
    expect(st.rto).toBeGreaterThanOrEqual(200); // RFC 6298 §2.4 bound, as Linux's 200 ms
    expect(["TIME-WAIT", "CLOSED"]).toContain(st.state);
  });

  it("5 MB each way at once: SHA-256 intact, write() returned false and 'drain' followed on both ends", async () => {
    const { clock, a, b } = stacks({ seed: 2 });
    const up = data(5 << 20, 11);
    const down = data(5 << 20, 12);
    let serverDrains: Promise<number> | undefined;
    let serverGot: Promise<Buffer> | undefined;
    // Both half-open: whoever finishes sending first must not end the other's sending (net's default would).
    b.tcp.listen(5001, { allowHalfOpen: true }, (s) => {
      serverGot = collect(s);
      serverDrains = writeAll(s, down);
    });
    const client = a.tcp.connect({ host: ADDR.ipB, port: 5001, allowHalfOpen: true });
    const clientGot = collect(client);
    const clientDrains = writeAll(client, up);
    const got = await settle(clock, clientGot, { limitMs: 600_000 });
    expect(sha(got)).toBe(sha(down));
    expect(serverGot).toBeDefined();
    expect(sha(await settle(clock, serverGot as Promise<Buffer>))).toBe(sha(up));
    expect(await settle(clock, clientDrains)).toBeGreaterThan(0);
    expect(await settle(clock, serverDrains as Promise<number>)).toBeGreaterThan(0);
  });

  it("half-close (RFC 9293 §3.6): the client ends, the server still writes, then ends", async () => {
    const { clock, a, b } = stacks({ seed: 3 });
    const log: string[] = [];
    b.tcp.listen(25, { allowHalfOpen: true }, (s) => {
      const got: Buffer[] = [];
      s.on("data", (d: Buffer) => got.push(d));
      s.on("end", () => {
        log.push(`server end after "${Buffer.concat(got).toString()}"`);
        expect(s.writable).toBe(true);
        s.write("still here, ");
        setImmediate(() => s.end("goodbye"));
      });
    });
    const client = a.tcp.connect({ host: ADDR.ipB, port: 25, allowHalfOpen: true });
    client.on("finish", () => log.push("client finish"));
    const reply = collect(client);
    const clientClosed = closed(client);
    client.end("question");
    expect((await settle(clock, reply)).toString()).toBe("still here, goodbye");
    expect(await settle(clock, clientClosed)).toBe(false);
    expect(log).toEqual(["client finish", 'server end after "question"']);
  });

  it("a reader that stops reading stops the writer: the window closes, then opens on resume (RFC 9293 §3.8.6)", async () => {
    const { clock, a, b } = stacks({ seed: 4 });
    let serverSock: TcpSocket | undefined;
    b.tcp.listen(9, { pauseOnConnect: true }, (s) => (serverSock = s));
    const client = a.tcp.connect({ host: ADDR.ipB, port: 9 });
    const payload = data(2 << 20, 13);
    const done = writeAll(client, payload);
    await settle(clock, new Promise<void>((resolve) => client.once("connect", resolve)));
    // Long enough for the transfer to finish if nothing held it back.
    await after(clock, 10_000);
    // Held back: the server's TCP receive buffer (256 KiB) and stream buffer are full, the rest waits at the client.
    expect(serverSock).toBeDefined();
    const s = serverSock as TcpSocket;
    expect(client.bytesWritten).toBeLessThan(payload.length);
    expect(client.bytesWritten).toBeGreaterThan(256 * 1024);
    const got = collect(s);
    s.resume();
    expect(sha(await settle(clock, got))).toBe(sha(payload));
    await settle(clock, done);
  });

  it("ECONNREFUSED connecting to a port nobody listens on (RFC 9293 §3.10.7.1 RST, §3.10.7.3)", async () => {
    const { clock, a } = stacks({ seed: 5 });
    const client = a.tcp.connect({ host: ADDR.ipB, port: 81 });
    const wasClosed = closed(client);
    const err = await settle(clock, new Promise<TcpSocketError>((resolve) => client.once("error", resolve)));
    expect(err).toBeInstanceOf(TcpSocketError);
    expect(err.code).toBe("ECONNREFUSED");
    expect(err.syscall).toBe("connect");
    expect(err.message).toMatch(/^connect ECONNREFUSED 10\.0\.0\.2:81/);
    expect(await settle(clock, wasClosed)).toBe(true);
  });

  it("ECONNRESET when the peer aborts (RFC 9293 §3.10.7.4: RST in ESTABLISHED)", async () => {
    const { clock, a, b } = stacks({ seed: 6 });
    b.tcp.listen(80, (s) => {
      s.once("data", () => s.resetAndDestroy());
    });
    const client = a.tcp.connect({ host: ADDR.ipB, port: 80 });
    client.write("hello");
    const err = await settle(clock, new Promise<TcpSocketError>((resolve) => client.once("error", resolve)));
    expect(err.code).toBe("ECONNRESET");
    expect(err.errno).toBe(-104);
    expect(err.message).toMatch(/^read ECONNRESET 10\.0\.0\.2:80/);
  });

  it("TcpServer: EADDRINUSE for a second server on the port; close() waits for its connections", async () => {
    const { clock, a, b } = stacks({ seed: 7 });
    const sockets: TcpSocket[] = [];
    const first = b.tcp.listen(8080, (s) => {
      sockets.push(s);
      s.resume(); // as with net: a socket nobody reads never sees 'end'
    });
    const accepted = new Promise<void>((resolve) => first.once("connection", () => resolve()));
    const second = b.tcp.listen(8080);
    const err = await settle(clock, new Promise<Error>((resolve) => second.once("error", resolve)));
    expect((err as TcpSocketError).code).toBe("EADDRINUSE");
    expect(err.message).toMatch(/^listen EADDRINUSE/);
    const client = a.tcp.connect({ host: ADDR.ipB, port: 8080 });
    await settle(clock, new Promise<void>((resolve) => client.once("connect", resolve)));
    await settle(clock, accepted);
    const firstClosed = new Promise<string>((resolve) => first.close(() => resolve("closed")));
    let state = "open";
    void firstClosed.then((s) => (state = s));
    await after(clock, 1000);
    expect(state).toBe("open");
    // No new connections once closed.
    const late = a.tcp.connect({ host: ADDR.ipB, port: 8080 });
    const lateErr = await settle(clock, new Promise<TcpSocketError>((resolve) => late.once("error", resolve)));
    expect(lateErr.code).toBe("ECONNREFUSED");
    client.end();
    expect(await settle(clock, firstClosed)).toBe("closed");
    expect(sockets.length).toBe(1);
  });

  it("IPv6: an echo round trip between fd00::1 and fd00::2, addresses named as Node names them", async () => {
    const { clock, a, b } = stacks({ seed: 8 });
    let seen: { address: string; family: string } | undefined;
    b.tcp.listen(7, (s) => {
      seen = { address: s.remoteAddress, family: s.remoteFamily };
      s.pipe(s);
    });
    const client = a.tcp.connect({ host: ADDR.ip6B, port: 7 });
    const back = collect(client);
    client.end("over IPv6");
    expect((await settle(clock, back)).toString()).toBe("over IPv6");
    expect(seen).toEqual({ address: ADDR.ip6A, family: "IPv6" });
    expect(client.address()).toEqual({ address: ADDR.ip6A, family: "IPv6", port: client.localPort });
  });

  it("1 MB through a lossy, reordering wire (2% loss): intact, and write()/drain still pace the writer", async () => {
    const { clock, a, b } = stacks({ seed: 9, impairments: { loss: 0.02, reorder: 0.02, reorderDelayMs: 3, delayMs: 2 } });
    const payload = data(1 << 20, 14);
    let got: Promise<Buffer> | undefined;
    b.tcp.listen(9000, (s) => (got = collect(s)));
    const client = a.tcp.connect({ host: ADDR.ipB, port: 9000 });
    const drains = writeAll(client, payload);
    await settle(clock, new Promise<void>((resolve) => client.once("connect", resolve)), { limitMs: 60_000 });
    expect(await settle(clock, drains, { limitMs: 600_000 })).toBeGreaterThan(0);
    expect(got).toBeDefined();
    expect(sha(await settle(clock, got as Promise<Buffer>, { limitMs: 600_000 }))).toBe(sha(payload));
  });

  it("ETIMEDOUT when the peer goes silent: retransmissions give up after the user timeout (RFC 9293 §3.8.3 R2)", async () => {
    const { clock, a, b, recB } = stacks({ seed: 10, stackA: { tcp: { config: { userTimeoutMs: 5000 } } } });
    b.tcp.listen(7, (s) => s.resume());
    const client = a.tcp.connect({ host: ADDR.ipB, port: 7 });
    await settle(clock, new Promise<void>((resolve) => client.once("connect", resolve)));
    recB.drop = () => true; // B vanishes: nothing it sends reaches the wire any more
    const failed = new Promise<TcpSocketError>((resolve) => client.once("error", resolve));
    const wasClosed = closed(client);
    const sentAt = clock.now();
    client.write("anyone there?");
    const err = await settle(clock, failed, { limitMs: 60_000 });
    expect(err.code).toBe("ETIMEDOUT");
    expect(err.errno).toBe(-110);
    expect(clock.now() - sentAt).toBeGreaterThanOrEqual(5000);
    expect(await settle(clock, wasClosed)).toBe(true);
  });
});
