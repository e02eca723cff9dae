/**
 * The soak (issue 8, item 4): two stacks on a MemoryWire with seeded impairments (loss, duplication,
 * reordering, corruption, jitter), round after round of many concurrent TCP echo connections over
 * IPv4 and IPv6, until the wall-clock budget runs out. Each round checks every echoed byte, that
 * every connection closes (no stuck connection: a round has a virtual-time bound), that both
 * connection tables are empty after TIME-WAIT, and that nothing escaped as an exception; the heap is
 * measured after every round (after a GC when node runs with --expose-gc) and must not keep growing.
 *
 *   npx tsx scripts/soak.ts --minutes 120 [--seed 1] [--connections 32]
 *   node --expose-gc --import tsx scripts/soak.ts --minutes 120     # heap figures after a full GC
 */
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { VirtualClock } from "../src/time/clock.ts";
import { seededRandom, type Random } from "../src/time/random.ts";
import { MemoryWire } from "../src/device/memory-wire.ts";
import type { Impairments } from "../src/device/fault.ts";
import { createStack, type Stack } from "../src/stack.ts";
import type { TcpConnection } from "../src/transport/tcp/connection.ts";

/** Options of `runSoak`. */
export interface SoakOptions {
  readonly seed: number;
  /** Wall-clock budget; the round running when it ends is finished. */
  readonly wallMs: number;
  /** Concurrent connections per round. Default 32. */
  readonly connections?: number;
  /** Largest transfer per connection, bytes. Default 256 KiB. */
  readonly maxBytes?: number;
  /** Rounds at most (a test may want few). Default unlimited. */
  readonly maxRounds?: number;
  readonly onRound?: (r: SoakRound) => void;
  /** Over the seeded impairments (a test can make the wire hostile enough to fail a round). */
  readonly impairments?: Impairments;
}

/** What one round did. */
export interface SoakRound {
  readonly round: number;
  readonly connections: number;
  readonly bytes: number;
  readonly virtualMs: number;
  /** process.memoryUsage().heapUsed after the round (after a GC when available). */
  readonly heapUsed: number;
}

/** The whole soak. */
export interface SoakResult {
  readonly rounds: SoakRound[];
  readonly bytes: number;
  readonly impairments: Impairments;
  readonly wireCounters: Record<string, number>;
}

/** A round's virtual-time bound: a connection still open after this is stuck. */
const ROUND_LIMIT_MS = 15 * 60_000;

interface Flow {
  readonly client: TcpConnection;
  readonly data: Uint8Array;
  received: number;
  mismatch: number | undefined;
  error: string | undefined;
  closed: boolean;
}

function echoServer(stack: Stack, port: number): void {
  const layer = stack.tcpLayer;
  const l = layer.listen(port);
  l.owner = {
    acceptable() {
      for (let c = layer.accept(l); c !== undefined; c = layer.accept(l)) {
        const conn = c;
        let ended = false;
        layer.setOwner(conn, {
          deliver(events) {
            for (const e of events) {
              if (e.kind === "end") ended = true;
              if (e.kind === "closed" || e.kind === "error") continue;
              for (let guard = 0; guard < 4096; guard++) {
                const room = conn.writableFree;
                if (room <= 0) break;
                const chunk = conn.read(room);
                if (chunk === undefined) break;
                conn.write(chunk);
              }
              // Our FIN after the peer's, once every byte is echoed (and the peer's buffer drained).
              if (ended && conn.readableLength === 0 && conn.state === "CLOSE-WAIT") conn.shutdown(stack.clock.now());
              layer.kick(conn);
            }
          },
        });
      }
    },
  };
}

function startFlow(stack: Stack, family: 4 | 6, address: number | Uint8Array, port: number, data: Uint8Array): Flow {
  const layer = stack.tcpLayer;
  const client = layer.connect({ family, address, port }, {}, stack.clock.now());
  const flow: Flow = { client, data, received: 0, mismatch: undefined, error: undefined, closed: false };
  let written = 0;
  const pump = (): void => {
    if (written < data.length) written += client.write(data.subarray(written));
    layer.kick(client);
  };
  layer.setOwner(client, {
    deliver(events) {
      for (const e of events) {
        if (e.kind === "error") flow.error = `${e.code}: ${e.message}`;
        if (e.kind === "closed") flow.closed = true;
        if (e.kind === "connected" || e.kind === "writable") pump();
        if (e.kind === "readable") {
          for (let chunk = client.read(); chunk !== undefined; chunk = client.read()) {
            for (let i = 0; i < chunk.length; i++) {
              if (chunk[i] !== data[flow.received + i] && flow.mismatch === undefined) flow.mismatch = flow.received + i;
            }
            flow.received += chunk.length;
          }
          if (flow.received >= data.length && client.state === "ESTABLISHED") {
            client.shutdown(stack.clock.now());
            layer.kick(client);
          }
        }
      }
    },
  });
  stack.kick();
  return flow;
}

function runUntil(clock: VirtualClock, done: () => boolean, limitMs: number): boolean {
  const end = clock.now() + limitMs;
  for (let i = 0; i < 50_000_000; i++) {
    if (done()) return true;
    const next = clock.nextDeadline();
    if (next === undefined || next > end) break;
    clock.advanceTo(Math.max(next, clock.now()));
  }
  return done();
}

function pattern(r: Random, n: number): Uint8Array {
  const out = new Uint8Array(n);
  const seed = r.nextU32();
  for (let i = 0; i < n; i++) out[i] = (Math.imul(i + seed, 2654435761) >>> 24) & 0xff;
  return out;
}

function heapNow(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  return process.memoryUsage().heapUsed;
}

/** Runs rounds until the budget is spent; throws an Error naming the seed and round at the first fault. */
export function runSoak(opts: SoakOptions): SoakResult {
  const r = seededRandom(opts.seed).fork("soak");
  const impairments = {
    loss: r.nextFloat() * 0.03,
    duplicate: r.nextFloat() * 0.01,
    reorder: r.nextFloat() * 0.02,
    reorderDelayMs: 1 + r.nextInt(5),
    corrupt: r.nextFloat() * 0.005,
    delayMs: 1 + r.nextInt(10),
    jitterMs: r.nextInt(5),
    ...opts.impairments,
  };
  const clock = new VirtualClock();
  const wire = new MemoryWire({ clock, seed: opts.seed, ...impairments });
  const common = { clock, dad: false, routerSolicitation: false } as const;
  const a = createStack({ ...common, device: wire.port("a"), seed: opts.seed + 1, mac: "02:00:00:00:00:01", ipv4: "10.0.0.1/24", ipv6: "fd00::1/64" });
  const b = createStack({ ...common, device: wire.port("b"), seed: opts.seed + 2, mac: "02:00:00:00:00:02", ipv4: "10.0.0.2/24", ipv6: "fd00::2/64" });
  echoServer(b, 7);
  const ipB4 = 0x0a000002;
  const ipB6 = Uint8Array.from([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
  const n = opts.connections ?? 32;
  const maxBytes = opts.maxBytes ?? 256 * 1024;
  const rounds: SoakRound[] = [];
  let total = 0;
  const start = performance.now();
  try {
    for (let round = 1; ; round++) {
      if (opts.maxRounds !== undefined && round > opts.maxRounds) break;
      if (round > 1 && performance.now() - start >= opts.wallMs) break;
      const t0 = clock.now();
      const flows: Flow[] = [];
      for (let i = 0; i < n; i++) {
        const v6 = r.nextInt(3) === 0;
        flows.push(startFlow(a, v6 ? 6 : 4, v6 ? ipB6 : ipB4, 7, pattern(r, 1 + r.nextInt(maxBytes))));
      }
      const finished = runUntil(clock, () => flows.every((f) => f.closed), ROUND_LIMIT_MS);
      const where = `seed ${opts.seed}, round ${round}`;
      for (const f of flows) {
        if (f.error !== undefined) throw new Error(`${where}: a connection failed (${f.error}) after ${f.received}/${f.data.length} bytes`);
        if (f.mismatch !== undefined) throw new Error(`${where}: byte ${f.mismatch} of an echo differs`);
        if (f.received !== f.data.length) throw new Error(`${where}: ${f.received}/${f.data.length} bytes came back`);
      }
      if (!finished) {
        const stuck = flows.filter((f) => !f.closed).map((f) => f.client.state);
        throw new Error(`${where}: ${stuck.length} connection(s) stuck after ${ROUND_LIMIT_MS} ms: ${stuck.join(", ")}`);
      }
      // TIME-WAIT passes; then both tables must be empty.
      runUntil(clock, () => a.tcpLayer.connections().length === 0 && b.tcpLayer.connections().length === 0, 120_000);
      const left = [...a.tcpLayer.connections(), ...b.tcpLayer.connections()].map((c) => c.state);
      if (left.length > 0) throw new Error(`${where}: connections left after TIME-WAIT: ${left.join(", ")}`);
      for (const [name, s] of [["A", a], ["B", b]] as const) {
        if (s.stats.get("exception") !== 0) throw new Error(`${where}: stack ${name} caught an exception: ${String(s.lastError)}`);
      }
      const bytes = flows.reduce((s, f) => s + f.data.length, 0);
      total += bytes;
      const rec = { round, connections: n, bytes, virtualMs: clock.now() - t0, heapUsed: heapNow() };
      rounds.push(rec);
      opts.onRound?.(rec);
    }
  } finally {
    void a.close();
    void b.close();
    wire.close();
  }
  return { rounds, bytes: total, impairments, wireCounters: { ...wire.counters } };
}

/**
 * A leak shows as a heap that keeps growing round after round: compare the median of the last third
 * of rounds with the median of the second third (the first third warms up). Returns the ratio.
 */
export function heapGrowth(rounds: readonly SoakRound[]): number {
  if (rounds.length < 6) return 1;
  const med = (xs: number[]): number => {
    const s = [...xs].sort((x, y) => x - y);
    return s[Math.floor(s.length / 2)] as number;
  };
  const third = Math.floor(rounds.length / 3);
  const mid = med(rounds.slice(third, 2 * third).map((r) => r.heapUsed));
  const last = med(rounds.slice(2 * third).map((r) => r.heapUsed));
  return last / mid;
}

function main(argv: readonly string[]): number {
  let minutes = 1;
  let seed = 1;
  let connections = 32;
  for (let i = 0; i < argv.length; i++) {
    const v = argv[i + 1];
    if (argv[i] === "--minutes" && v !== undefined) (minutes = Number(v)), i++;
    else if (argv[i] === "--seed" && v !== undefined) (seed = Number(v)), i++;
    else if (argv[i] === "--connections" && v !== undefined) (connections = Number(v)), i++;
    else {
      process.stderr.write("usage: tsx scripts/soak.ts [--minutes M] [--seed S] [--connections N]\n");
      return 2;
    }
  }
  if (!(minutes > 0) || !Number.isSafeInteger(seed) || !(connections >= 1)) {
    process.stderr.write("soak: --minutes > 0, --seed an integer, --connections >= 1\n");
    return 2;
  }
  try {
    const res = runSoak({
      seed,
      wallMs: minutes * 60_000,
      connections,
      onRound: (rd) =>
        process.stdout.write(`round ${rd.round}: ${rd.connections} connections, ${rd.bytes} bytes verified, ${(rd.virtualMs / 1000).toFixed(1)} s virtual, heap ${(rd.heapUsed / 1048576).toFixed(1)} MiB\n`),
    });
    const growth = heapGrowth(res.rounds);
    process.stdout.write(
      `soak seed ${seed}: ${res.rounds.length} rounds, ${res.bytes} bytes verified, impairments ${JSON.stringify(res.impairments)}, ` +
        `wire ${JSON.stringify(res.wireCounters)}, heap growth ×${growth.toFixed(2)}\n`,
    );
    if (growth > 1.5) {
      process.stdout.write("soak: the heap kept growing (a leak?)\n");
      return 1;
    }
    return 0;
  } catch (err) {
    process.stdout.write(`${err instanceof Error ? err.message : String(err)}\n`);
    return 1;
  }
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === resolve(process.argv[1])) {
  process.exitCode = main(process.argv.slice(2));
}
