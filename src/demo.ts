/**
 * `wirestack demo [--pcap FILE] [--seed N] [--loss P]`: the main job on the embedded default. Two
 * stacks on an in-memory wire, in virtual time (so it runs at full speed and the same seed gives the
 * same run, byte for byte, pcap included), tour every layer: ARP and ping, NDP and ping6,
 * fragmentation both ways, UDP echo over IPv4 and IPv6, a TCP bulk transfer, then HTTP, SMTP and FTP
 * between our own servers and clients — all under the wire's loss. Prints progress, a summary table,
 * and writes a pcap that Wireshark opens.
 */
import { createHash } from "node:crypto";
import { VirtualClock } from "./time/clock.ts";
import { settle, runFor } from "./time/drive.ts";
import { MemoryWire } from "./device/memory-wire.ts";
import { createStack, type Stack } from "./stack.ts";
import { openPcapFile } from "./pcap/file.ts";
import { parseArgs, UsageError } from "./cli/args.ts";
import type { UdpSocket } from "./api/udp-socket.ts";
import type { TcpSocket } from "./api/tcp-socket.ts";
import type { Timers } from "./app/net-faces.ts";
import { MemoryFiles } from "./app/memory-files.ts";
import { HttpServer } from "./app/http/server.ts";
import { httpRequest } from "./app/http/client.ts";
import { staticHandler } from "./app/http/static.ts";
import { serveSmtp } from "./app/smtp/server.ts";
import { sendMail } from "./app/smtp/client.ts";
import { listenFtp } from "./app/ftp/server.ts";
import { ftpConnect } from "./app/ftp/client.ts";
import { stackNetFaces } from "./host/stack-net.ts";

/** Timers on the virtual clock, for the application servers and clients. */
function virtualTimers(clock: VirtualClock): Timers {
  return {
    schedule: (fn, ms) => clock.schedule(clock.now() + ms, fn),
    cancel: (h) => clock.cancel(h as ReturnType<VirtualClock["schedule"]>),
    now: () => clock.now(),
  };
}

const sha256 = (b: Uint8Array): string => createHash("sha256").update(b).digest("hex");

/** Deterministic bytes: the demo's payloads are the same on every run. */
function pattern(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

/** Sends `data` from `a` to a sink on `b`; resolves to [bytes received intact?, retransmits]. */
async function tcpBulk(clock: VirtualClock, a: Stack, b: Stack, data: Uint8Array): Promise<[boolean, number]> {
  const received: Buffer[] = [];
  const done = new Promise<void>((resolve) => {
    const server = b.tcp.listen(5001, (sock: TcpSocket) => {
      sock.on("data", (chunk: Buffer) => received.push(chunk));
      sock.on("end", () => {
        sock.end();
        server.close();
        resolve();
      });
    });
  });
  const client = a.tcp.connect({ host: "10.0.0.2", port: 5001 });
  const conn = [...a.tcpLayer.connections()].find((c) => c.remote.port === 5001);
  client.end(Buffer.from(data));
  await settle(clock, done, { limitMs: 600_000 });
  await runFor(clock, 100);
  return [sha256(Buffer.concat(received)) === sha256(data), conn?.stats().retransmits ?? 0];
}

interface Row {
  readonly step: string;
  readonly result: string;
  readonly bytes: number;
  readonly ms: number;
  /** TCP segments sent again during the step, by both stacks. */
  readonly retransmits: number;
}

/** Pings until a reply, up to `tries` times (the wire loses frames); resolves to [rtt, attempts]. */
async function pingWithRetry(clock: VirtualClock, a: Stack, host: string, size: number, tries = 5): Promise<[number, number]> {
  for (let i = 1; ; i++) {
    try {
      return [await settle(clock, a.ping(host, { size, timeoutMs: 1000 })), i];
    } catch (err) {
      if (i >= tries || (err as { code?: string }).code !== "WIRESTACK_ERR_TIMEOUT") throw err;
    }
  }
}

/** Sends `count` datagrams of `size` bytes to an echo port; resolves to how many came back intact. */
async function udpEcho(clock: VirtualClock, sock: UdpSocket, host: string, count: number, size: number): Promise<number> {
  let ok = 0;
  const expected = new Set<string>();
  sock.on("message", (msg: Buffer) => {
    const key = msg.subarray(0, 8).toString("hex");
    if (expected.delete(key)) ok++;
  });
  for (let i = 0; i < count; i++) {
    const msg = Buffer.alloc(size, i & 0xff);
    msg.writeUInt32BE(i, 0);
    msg.writeUInt32BE(size, 4);
    expected.add(msg.subarray(0, 8).toString("hex"));
    sock.send(msg, 7, host);
    await runFor(clock, 2);
  }
  await runFor(clock, 500);
  return ok;
}

export async function runDemo(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, { "--pcap": true, "--seed": true, "--loss": true });
  if (args.positional.length > 0) throw new UsageError(`unexpected argument '${args.positional[0]}'`);
  const pcapPath = (args.flags.get("--pcap") as string | undefined) ?? "wirestack-demo.pcap";
  const seed = Number(args.flags.get("--seed") ?? 7);
  const loss = Number(args.flags.get("--loss") ?? 0.02);
  if (!Number.isInteger(seed)) throw new UsageError("--seed takes a whole number");
  if (!(loss >= 0 && loss < 1)) throw new UsageError("--loss takes a probability from 0 to 0.99");

  const clock = new VirtualClock();
  const wire = new MemoryWire({ clock, seed, delayMs: 2, jitterMs: 1, loss });
  const sink = openPcapFile(pcapPath);
  const a = createStack({ device: wire.port("a"), clock, seed: seed + 1, mac: "02:00:00:00:00:01", ipv4: "10.0.0.1/24", ipv6: "fd00::1/64", pcap: sink, dad: false });
  const b = createStack({ device: wire.port("b"), clock, seed: seed + 2, mac: "02:00:00:00:00:02", ipv4: "10.0.0.2/24", ipv6: "fd00::2/64", dad: false });
  const out = process.stdout;
  out.write(`wirestack demo: two stacks on an in-memory wire (virtual time, seed ${seed}, ${loss * 100}% loss, 2±1 ms delay)\n`);
  out.write(`  A 02:00:00:00:00:01 10.0.0.1/24 fd00::1/64   B 02:00:00:00:00:02 10.0.0.2/24 fd00::2/64\n\n`);

  const rows: Row[] = [];
  // Retransmits per step: every connection's count, read when the step ends (closed ones are
  // kept here, since the layer forgets them).
  const seen = new Set<{ stats(): { retransmits: number } }>();
  const retransmitsSoFar = (): number => {
    for (const s of [a, b]) for (const c of s.tcpLayer.connections()) seen.add(c);
    let n = 0;
    for (const c of seen) n += c.stats().retransmits;
    return n;
  };
  const step = async (name: string, fn: () => Promise<[string, number]>): Promise<void> => {
    out.write(`  ${name} ... `);
    const t0 = clock.now();
    const r0 = retransmitsSoFar();
    try {
      const [result, bytes] = await fn();
      rows.push({ step: name, result, bytes, ms: clock.now() - t0, retransmits: retransmitsSoFar() - r0 });
      out.write(`${result}\n`);
    } catch (err) {
      rows.push({ step: name, result: `FAILED: ${(err as Error).message}`, bytes: 0, ms: clock.now() - t0, retransmits: retransmitsSoFar() - r0 });
      out.write(`FAILED: ${(err as Error).message}\n`);
    }
  };

  await runFor(clock, 50); // gratuitous ARP, router solicitations
  await step("ARP + ping 10.0.0.2", async () => {
    const [rtt, n] = await pingWithRetry(clock, a, "10.0.0.2", 56);
    return [`reply in ${rtt.toFixed(1)} ms (attempt ${n})`, 64];
  });
  await step("NDP + ping6 fd00::2", async () => {
    const [rtt, n] = await pingWithRetry(clock, a, "fd00::2", 56);
    return [`reply in ${rtt.toFixed(1)} ms (attempt ${n})`, 64];
  });
  await step("ping 4000 bytes, fragmented both ways (IPv4)", async () => {
    const [rtt, n] = await pingWithRetry(clock, a, "10.0.0.2", 4000);
    return [`reply in ${rtt.toFixed(1)} ms (attempt ${n})`, 4008];
  });
  await step("ping6 4000 bytes, fragmented both ways (IPv6)", async () => {
    const [rtt, n] = await pingWithRetry(clock, a, "fd00::2", 4000);
    return [`reply in ${rtt.toFixed(1)} ms (attempt ${n})`, 4008];
  });
  const echo = b.udp.bind(7);
  echo.on("message", (msg: Buffer, rinfo: { port: number; address: string }) => echo.send(msg, rinfo.port, rinfo.address));
  for (const [family, host] of [["IPv4", "10.0.0.2"], ["IPv6", "fd00::2"]] as const) {
    await step(`UDP echo over ${family}: 50 datagrams of 1200 bytes`, async () => {
      const sock = a.udp.bind(0);
      const ok = await udpEcho(clock, sock, host, 50, 1200);
      sock.close();
      return [`${ok}/50 echoed intact (the rest lost on the wire)`, ok * 1200 * 2];
    });
  }
  echo.close();

  const bulk = pattern(4 * 1024 * 1024, seed);
  await step("TCP bulk transfer: 4 MiB under loss, CUBIC", async () => {
    const t0 = clock.now();
    const [ok, rtx] = await tcpBulk(clock, a, b, bulk);
    if (!ok) throw new Error("the bytes that arrived differ from those sent");
    const mbps = (bulk.length * 8) / ((clock.now() - t0) / 1000) / 1e6;
    return [`SHA-256 intact, ${mbps.toFixed(1)} Mbit/s in virtual time, ${rtx} segments sent again`, bulk.length];
  });

  // The applications: our servers on B, our clients on A, over wirestack TCP.
  const timers = virtualTimers(clock);
  const files = new MemoryFiles(() => clock.epochMs + clock.now());
  const page = pattern(256 * 1024, seed + 1);
  files.put("/www/index.html", "<h1>wirestack</h1>\n");
  files.put("/www/data.bin", page);
  files.put("/pub/readme.txt", "served over FTP by wirestack\n");
  const facesA = stackNetFaces(a);
  const facesB = stackNetFaces(b);
  const wwwRoot = new MemoryFiles(() => clock.epochMs + clock.now());
  wwwRoot.put("/index.html", "<h1>wirestack</h1>\n");
  wwwRoot.put("/data.bin", page);
  const http = new HttpServer({ handler: staticHandler(wwwRoot.asFileSource()), timers, clock: () => clock.epochMs + clock.now() });
  const httpServer = await settle(clock, http.listen(facesB, { port: 80 }));
  await step("HTTP: GET 256 KiB and a 404, one keep-alive connection", async () => {
    const res = await settle(clock, httpRequest(facesA, { url: "http://10.0.0.2/data.bin" }));
    if (res.status !== 200 || sha256(res.body) !== sha256(page)) throw new Error(`GET /data.bin: ${res.status}, body ${res.body.length} bytes`);
    const missing = await settle(clock, httpRequest(facesA, { url: "http://10.0.0.2/missing" }));
    if (missing.status !== 404) throw new Error(`GET /missing: ${missing.status}, expected 404`);
    return [`200 (${res.body.length} bytes, SHA-256 intact), then 404`, res.body.length];
  });
  await settle(clock, httpServer.close());

  const smtpServer = await settle(clock, serveSmtp(facesB, { port: 25 }, { hostname: "b.demo", date: () => clock.epochMs + clock.now(), store: files, timers }));
  const mail = "From: a@demo\r\nTo: b@demo\r\nSubject: hello\r\n\r\nA line.\r\n.A line that starts with a dot.\r\n";
  await step("SMTP: a message with a dot-stuffed line", async () => {
    const res = await settle(clock, sendMail(facesA, { host: "10.0.0.2", port: 25, from: "a@demo", to: ["b@demo"], data: mail, timers }));
    const stored = files.messages.at(-1);
    const body = stored ? Buffer.from(stored.content).toString("latin1") : "";
    if (body !== mail) throw new Error("the stored message differs from the one sent");
    return [`${res.code}, stored byte-identical after unstuffing`, mail.length];
  });
  await settle(clock, smtpServer.close());

  const ftpServer = await settle(clock, listenFtp(facesB, { port: 21 }, { root: files, timers, user: { name: "demo", password: "demo" }, anonymous: true }));
  await step("FTP: login, list, download, upload (passive)", async () => {
    const client = await settle(clock, ftpConnect(facesA, { host: "10.0.0.2", user: "demo", password: "demo", timers }));
    const listing = await settle(clock, client.list("/pub"));
    const got = await settle(clock, client.retrieve("/www/data.bin"));
    if (sha256(got) !== sha256(page)) throw new Error("the downloaded file differs");
    await settle(clock, client.store("/pub/upload.bin", bulk.subarray(0, 100_000)));
    if (sha256(files.get("/pub/upload.bin") ?? new Uint8Array()) !== sha256(bulk.subarray(0, 100_000))) throw new Error("the uploaded file differs");
    await settle(clock, client.quit());
    return [`listed ${listing.split("\n").filter((l) => l.length > 0).length} entries, 256 KiB down and 100 KB up, SHA-256 intact`, got.length + 100_000];
  });
  await settle(clock, ftpServer.close());
  await runFor(clock, 100);
  await a.close();
  await b.close();

  const w0 = Math.max(...rows.map((r) => r.step.length));
  out.write(`\n  ${"step".padEnd(w0)} ${"bytes".padStart(8)} ${"time".padStart(10)} ${"rexmit".padStart(6)}  ok\n`);
  for (const r of rows) {
    const ok = r.result.startsWith("FAILED") ? r.result : "yes";
    out.write(`  ${r.step.padEnd(w0)} ${String(r.bytes).padStart(8)} ${`${r.ms.toFixed(1)} ms`.padStart(10)} ${String(r.retransmits).padStart(6)}  ${ok}\n`);
  }
  const w = wire.counters;
  out.write(`\n  wire: ${w.sent} frames sent, ${w.delivered} delivered, ${w.lost} lost\n`);
  const failed = rows.filter((r) => r.result.startsWith("FAILED")).length;
  out.write(`  capture: ${pcapPath} (open it in Wireshark, or: wirestack decode ${pcapPath})\n`);
  out.write(failed === 0 ? "  all steps passed\n" : `  ${failed} step(s) failed\n`);
  return failed === 0 ? 0 : 1;
}
