/**
 * Heap per idle established connection (issue 7, item 1g): two stacks on the memory wire open
 * 10 000 connections (in waves, so no SYN queue overflows), then the JavaScript heap after a full
 * garbage collection is compared with the heap before the first connect. Each connection has an
 * endpoint in each stack (its TcpConnection, its TcpSocket Duplex and its table entries), so the
 * figure is the growth divided by 2 × connections: the cost of one endpoint. Target: at most 8 KB.
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import type { TcpSocket } from "../../src/api/tcp-socket.ts";
import { driveUntil, memoryPair } from "./memory-pair.ts";
import type { BenchConfig, BenchResult, BenchSection } from "./common.ts";

const WAVE = 200;

function collector(): () => void {
  setFlagsFromString("--expose-gc");
  const gc = runInNewContext("gc") as (() => void) | undefined;
  if (typeof gc !== "function") throw new Error("could not expose the garbage collector");
  return () => {
    gc();
    gc();
  };
}

/** Opens `n` idle connections a → b and returns the heap growth per endpoint, bytes. */
export async function heapPerConnection(n: number): Promise<{ bytesPerEndpoint: number; connections: number }> {
  const gc = collector();
  const pair = memoryPair({ maxConnections: n + 16 });
  const kept: TcpSocket[] = [];
  try {
    let accepted = 0;
    pair.b.tcp.listen(5001, { backlog: WAVE * 2 }, (sock) => {
      kept.push(sock);
      accepted++;
    });
    // Resolve ARP first so the baseline holds the neighbor entry.
    const warm = pair.a.tcp.connect({ host: "10.0.0.2", port: 5001 });
    let warmed = false;
    warm.once("connect", () => (warmed = true));
    await driveUntil(pair.clock, () => warmed && accepted === 1, 10_000);
    gc();
    const before = process.memoryUsage().heapUsed;
    let connected = 0;
    for (let i = 0; i < n; i += WAVE) {
      const wave = Math.min(WAVE, n - i);
      for (let k = 0; k < wave; k++) {
        const s = pair.a.tcp.connect({ host: "10.0.0.2", port: 5001 });
        s.once("connect", () => connected++);
        kept.push(s);
      }
      await driveUntil(pair.clock, () => connected === i + wave && accepted === i + wave + 1, 60_000);
    }
    gc();
    const after = process.memoryUsage().heapUsed;
    return { bytesPerEndpoint: (after - before) / (2 * n), connections: n };
  } finally {
    for (const s of kept) s.destroy();
    await pair.close();
  }
}

/** The heap section. */
export const heapSection: BenchSection = {
  name: "heap",
  async run(config: BenchConfig): Promise<BenchResult[]> {
    // Quick: 1 000, not fewer: at a few hundred connections the growth is within what one GC frees of
    // compiled code and caches, and the figure could even come out negative.
    const n = config.quick ? 1_000 : 10_000;
    const r = await heapPerConnection(n);
    config.log(`heap: ${(r.bytesPerEndpoint / 1024).toFixed(2)} KiB per endpoint at ${n} connections`);
    return [
      {
        name: "heap.per-connection",
        value: r.bytesPerEndpoint / 1024,
        unit: "KiB/conn (lower is better)",
        note:
          `JS heap growth after GC per established idle endpoint (TcpConnection + TcpSocket), ${n} connections ` +
          "between two stacks on the memory wire (each counted once per side); lower is better; target ≤ 8 KB",
      },
    ];
  },
};
