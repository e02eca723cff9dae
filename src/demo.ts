/**
 * `wirestack demo [--pcap FILE] [--seed N] [--loss P]`: the main job on the embedded default. Two
 * stacks on an in-memory wire, in virtual time (so it runs at full speed and the same seed gives the
 * same run, byte for byte, pcap included), tour every layer that exists: ARP and ping, NDP and ping6,
 * fragmentation both ways, UDP echo over IPv4 and IPv6 under loss. Prints progress, a summary table,
 * and writes a pcap that Wireshark opens.
 */
import { VirtualClock } from "./time/clock.ts";
import { settle, runFor } from "./time/drive.ts";
import { MemoryWire } from "./device/memory-wire.ts";
import { createStack, type Stack } from "./stack.ts";
import { openPcapFile } from "./pcap/file.ts";
import { parseArgs, UsageError } from "./cli/args.ts";
import type { UdpSocket } from "./api/udp-socket.ts";

interface Row {
  readonly step: string;
  readonly result: string;
  readonly bytes: number;
  readonly ms: number;
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
  const step = async (name: string, fn: () => Promise<[string, number]>): Promise<void> => {
    out.write(`  ${name} ... `);
    const t0 = clock.now();
    try {
      const [result, bytes] = await fn();
      rows.push({ step: name, result, bytes, ms: clock.now() - t0 });
      out.write(`${result}\n`);
    } catch (err) {
      rows.push({ step: name, result: `FAILED: ${(err as Error).message}`, bytes: 0, ms: clock.now() - t0 });
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
  await runFor(clock, 100);
  await a.close();
  await b.close();

  out.write(`\n  ${"step".padEnd(48)} ${"bytes".padStart(8)} ${"time".padStart(10)}  result\n`);
  for (const r of rows) {
    out.write(`  ${r.step.padEnd(48)} ${String(r.bytes).padStart(8)} ${`${r.ms.toFixed(1)} ms`.padStart(10)}  ${r.result}\n`);
  }
  const w = wire.counters;
  out.write(`\n  wire: ${w.sent} frames sent, ${w.delivered} delivered, ${w.lost} lost\n`);
  const failed = rows.filter((r) => r.result.startsWith("FAILED")).length;
  out.write(`  capture: ${pcapPath} (open it in Wireshark, or: wirestack decode ${pcapPath})\n`);
  out.write(failed === 0 ? "  all steps passed\n" : `  ${failed} step(s) failed\n`);
  return failed === 0 ? 0 : 1;
}
