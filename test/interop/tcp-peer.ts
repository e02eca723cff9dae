/**
 * Our side of the TCP interop tests (test/interop/tcp.test.ts): a test-side program, run inside the
 * test namespace with `node --import tsx test/interop/tcp-peer.ts …`, that puts a wirestack stack on
 * a TAP device — optionally behind a `FaultDevice` impairing frames in both directions — and acts as
 * a TCP sink, source or echo on command, reporting SHA-256 digests and byte counts as JSON lines.
 *
 * Impairments live here and not in `wirestack serve`: they are a test instrument, not part of the
 * command-line contract (DESIGN.md). Randomness of the payload comes from node:crypto, which is fine
 * in a test program (the stack itself is seeded with --seed).
 *
 * Usage: tcp-peer.ts --tap NAME --mac MAC --ip A/N [--ip6 A/N] [--seed N] [--pcap FILE]
 *                    [--loss P] [--reorder P] [--reorder-delay-ms MS] [--duplicate P] [--corrupt P]
 *                    [--offload 1|split] (open the TAP with IFF_VNET_HDR, checksum offload and TSO;
 *                                    1: super-frames through the stack, split: split/coalesced at the device)
 *                    [--busy-poll-us US] (TapOptions.busyPollUs: spin after each batch, for latency)
 *                    [--rcvbuf BYTES] [--sndbuf BYTES] (every connection's receive and send buffer; the
 *                                    stack's defaults otherwise — benchmarks tune them as iperf3 users do)
 *
 * Commands, one JSON object per line on stdin:
 *   {"cmd":"listen","port":P,"role":R,"bytes":N}   accept connections on P (both families); each runs R
 *   {"cmd":"connect","id":I,"host":H,"port":P,"role":R,"bytes":N}
 *   {"cmd":"stats"}                                 print the stack's counters and the fault counters
 *   {"cmd":"exit"}                                  close everything and exit 0
 * Roles: "sink" reads until the peer's FIN and then closes; "source" writes N random bytes, closes its
 * sending side and reads until the peer's FIN; "echo" writes back whatever it reads. The benchmark
 * roles do what iperf3 does and verify nothing, so that the instrument costs little next to the stack
 * it measures: "bench-sink" is "sink" counting bytes without hashing them, "bench-source" is "source"
 * writing one buffer filled once (random) again and again (their digests are those of no bytes).
 * "bench-accept" (for connection-rate benchmarks) discards what it reads, prints nothing per
 * connection and only counts: the `stats` event carries {"accepts":{"closed":N,"errors":N}}.
 *
 * Output, one JSON object per line on stdout: {"event":"ready"}, {"event":"listening","port":P},
 * {"event":"connected","id":I,"local":…,"remote":…}, {"event":"done","id":I,"role":R,"bytesIn":N,
 * "bytesOut":N,"sha256In":…,"sha256Out":…,"ms":…,"error":code?,"tcp":stats?}, {"event":"stats",…},
 * {"event":"fatal","message":…} (then exit 1). Every run is bounded by --max-seconds (default 600).
 */
import { createHash, randomBytes } from "node:crypto";
import { createInterface } from "node:readline";
import type { TcpSocket } from "../../src/api/tcp-socket.ts";
import type { TcpConnection } from "../../src/transport/tcp/connection.ts";
import { openTap } from "../../src/device/tap.ts";
import { FaultDevice, type FaultCounters } from "../../src/device/fault.ts";
import type { FrameDevice } from "../../src/device/types.ts";
import { createStack, type Stack } from "../../src/stack.ts";
import { RealClock } from "../../src/time/clock.ts";

/** A role a connection plays. */
type Role = "sink" | "source" | "echo" | "bench-sink" | "bench-source" | "bench-accept";

/** One command read from stdin. */
type Command =
  | { readonly cmd: "listen"; readonly port: number; readonly role: Role; readonly bytes?: number }
  | { readonly cmd: "connect"; readonly id: string; readonly host: string; readonly port: number; readonly role: Role; readonly bytes?: number }
  | { readonly cmd: "stats" }
  | { readonly cmd: "exit" };

const WRITE_CHUNK = 64 * 1024;
/** What "bench-source" writes per call: one buffer, filled once per process. */
const BENCH_CHUNK = 256 * 1024;
let benchChunk: Buffer | undefined;

function emit(obj: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

function flags(argv: readonly string[]): Map<string, string> {
  const m = new Map<string, string>();
  for (let i = 0; i < argv.length; i += 2) {
    const k = argv[i] as string;
    const v = argv[i + 1];
    if (!k.startsWith("--") || v === undefined) throw new Error(`bad argument ${k}`);
    m.set(k, v);
  }
  return m;
}

function num(f: Map<string, string>, name: string): number | undefined {
  const v = f.get(name);
  return v === undefined ? undefined : Number(v);
}

/** The connection under `sock`, found in the layer by its ports (for its statistics). */
function connectionOf(stack: Stack, sock: TcpSocket): TcpConnection | undefined {
  return stack.tcpLayer.connections().find((c) => c.local.port === sock.localPort && c.remote.port === sock.remotePort);
}

/** What the "bench-accept" role counted. */
const accepts = { closed: 0, errors: 0 };
const countClose = (): void => {
  accepts.closed++;
};
const countError = (): void => {
  accepts.errors++;
};
const discard = (): void => {};

/** Runs `role` on `sock`; prints `connected` at once and `done` when the socket has closed. */
function runRole(stack: Stack, id: string, sock: TcpSocket, role: Role, bytes: number): void {
  if (role === "bench-accept") {
    // allowHalfOpen is false: our FIN follows the peer's. No closure per connection.
    sock.on("data", discard);
    sock.on("error", countError);
    sock.on("close", countClose);
    return;
  }
  const started = performance.now();
  const hIn = createHash("sha256");
  const hOut = createHash("sha256");
  let bytesIn = 0;
  let bytesOut = 0;
  let error: string | undefined;
  let connectedAt: number | undefined;
  let conn: TcpConnection | undefined;
  const onConnected = (): void => {
    connectedAt = performance.now();
    conn = connectionOf(stack, sock);
    emit({ event: "connected", id, local: `${sock.localAddress}:${sock.localPort}`, remote: `${sock.remoteAddress}:${sock.remotePort}` });
  };
  if (sock.connecting) sock.once("connect", onConnected);
  else onConnected();

  const verify = role !== "bench-sink" && role !== "bench-source";
  sock.on("data", (b: Buffer) => {
    if (verify) hIn.update(b);
    bytesIn += b.length;
    if (role === "echo") {
      hOut.update(b);
      bytesOut += b.length;
      if (!sock.write(b)) {
        sock.pause();
        sock.once("drain", () => sock.resume());
      }
    }
  });
  sock.on("error", (e: Error & { code?: string }) => {
    error = e.code ?? e.message;
  });
  sock.on("close", () => {
    const now = performance.now();
    emit({
      event: "done",
      id,
      role,
      bytesIn,
      bytesOut,
      sha256In: hIn.digest("hex"),
      sha256Out: hOut.digest("hex"),
      ms: now - started,
      transferMs: connectedAt === undefined ? undefined : now - connectedAt,
      ...(error !== undefined ? { error } : {}),
      tcp: conn?.stats(),
    });
  });

  if (role === "source") {
    let left = bytes;
    const pump = (): void => {
      while (left > 0) {
        const chunk = randomBytes(Math.min(WRITE_CHUNK, left));
        left -= chunk.length;
        hOut.update(chunk);
        bytesOut += chunk.length;
        if (!sock.write(chunk)) {
          sock.once("drain", pump);
          return;
        }
      }
      sock.end();
    };
    pump();
  } else if (role === "bench-source") {
    const chunk = (benchChunk ??= randomBytes(BENCH_CHUNK));
    let left = bytes;
    const pump = (): void => {
      while (left > 0) {
        const piece = left >= chunk.length ? chunk : chunk.subarray(0, left);
        left -= piece.length;
        bytesOut += piece.length;
        if (!sock.write(piece)) {
          sock.once("drain", pump);
          return;
        }
      }
      sock.end();
    };
    pump();
  }
  // sink and echo: allowHalfOpen is false, so our FIN follows the peer's once its data is read.
}

function faultCounters(dev: FrameDevice): { egress: FaultCounters; ingress: FaultCounters } | undefined {
  return dev instanceof FaultDevice ? { egress: { ...dev.egress.counters }, ingress: { ...dev.ingress.counters } } : undefined;
}

async function main(): Promise<void> {
  const f = flags(process.argv.slice(2));
  const tapName = f.get("--tap");
  const ip = f.get("--ip");
  if (tapName === undefined || ip === undefined) throw new Error("--tap and --ip are required");
  const maxSeconds = num(f, "--max-seconds") ?? 600;
  setTimeout(() => {
    emit({ event: "fatal", message: `ran longer than ${maxSeconds} s` });
    process.exit(1);
  }, maxSeconds * 1000).unref();

  const clock = new RealClock({ unref: true });
  // --offload 1: super-frames end to end (GRO/TSO through the stack); split: the device alone splits and coalesces.
  const offloadMode = f.get("--offload");
  const tap = await openTap(tapName, { offload: offloadMode === "1" || offloadMode === "split", superFrames: offloadMode !== "split", busyPollUs: num(f, "--busy-poll-us") ?? 0 });
  const impaired = ["--loss", "--reorder", "--duplicate", "--corrupt"].some((k) => (num(f, k) ?? 0) > 0);
  const seed = num(f, "--seed") ?? 1;
  const device: FrameDevice = impaired
    ? new FaultDevice(tap, {
        clock,
        seed,
        loss: num(f, "--loss") ?? 0,
        reorder: num(f, "--reorder") ?? 0,
        reorderDelayMs: num(f, "--reorder-delay-ms") ?? 1,
        duplicate: num(f, "--duplicate") ?? 0,
        corrupt: num(f, "--corrupt") ?? 0,
      })
    : tap;
  const ip6 = f.get("--ip6");
  const mac = f.get("--mac");
  const pcap = f.get("--pcap");
  const rcvbuf = num(f, "--rcvbuf");
  const sndbuf = num(f, "--sndbuf");
  const tcpConfig = {
    ...(rcvbuf !== undefined ? { recvBufferSize: rcvbuf } : {}),
    ...(sndbuf !== undefined ? { sendBufferSize: sndbuf } : {}),
  };
  const stack: Stack = createStack({
    device,
    clock,
    seed,
    ipv4: ip,
    ...(ip6 !== undefined ? { ipv6: ip6 } : {}),
    ...(mac !== undefined ? { mac } : {}),
    ...(pcap !== undefined ? { pcap } : {}),
    ...(rcvbuf !== undefined || sndbuf !== undefined ? { tcp: { config: tcpConfig } } : {}),
    dad: false,
    routerSolicitation: false,
    onError: (err) => emit({ event: "exception", message: String((err as Error)?.stack ?? err) }),
  });
  let accepted = 0;

  const handle = async (c: Command): Promise<boolean> => {
    switch (c.cmd) {
      case "listen":
        stack.tcp.listen(c.port, (sock) => runRole(stack, `${c.port}#${accepted++}`, sock, c.role, c.bytes ?? 0));
        emit({ event: "listening", port: c.port });
        return true;
      case "connect":
        runRole(stack, c.id, stack.tcp.connect({ host: c.host, port: c.port }), c.role, c.bytes ?? 0);
        return true;
      case "stats":
        emit({ event: "stats", counters: stack.counters(), fault: faultCounters(device), tap: tap.stats(), offload: tap.offloadStats(), accepts });
        return true;
      case "exit":
        emit({ event: "stats", counters: stack.counters(), fault: faultCounters(device) });
        await stack.close();
        return false;
    }
  };

  emit({ event: "ready", tap: tapName, impaired });
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    if (line.trim() === "") continue;
    let go: boolean;
    try {
      go = await handle(JSON.parse(line) as Command);
    } catch (err) {
      emit({ event: "command-error", line, message: String(err) });
      continue;
    }
    if (!go) break;
  }
  process.exit(0);
}

main().catch((err: unknown) => {
  emit({ event: "fatal", message: String((err as Error)?.stack ?? err) });
  process.exit(1);
});
