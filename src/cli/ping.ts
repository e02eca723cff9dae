/**
 * `wirestack ping --tap NAME --ip A/N [--ip6 A/N] HOST [-c N] [-s SIZE] [-W SECONDS]`: the stack
 * as a ping client. Prints ping's familiar lines; exit 0 when any reply came, 1 when none did.
 */
import { UsageError, parseArgs } from "./args.ts";
import { TAP_FLAGS, stackOnTap } from "./serve.ts";

export async function runPing(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, { ...TAP_FLAGS, "-c": true, "-s": true, "-W": true, "-i": true });
  const host = args.positional[0];
  if (host === undefined || args.positional.length > 1) throw new UsageError("usage: wirestack ping --tap NAME --ip A/N HOST [-c N]");
  const num = (flag: string, dflt: number, min: number, max: number): number => {
    const v = args.flags.get(flag);
    if (v === undefined) return dflt;
    const n = Number(v);
    if (typeof v !== "string" || !Number.isFinite(n) || n < min || n > max) throw new UsageError(`${flag} takes a number from ${min} to ${max}`);
    return n;
  };
  const count = num("-c", 4, 1, 100000);
  const size = num("-s", 56, 0, 65507);
  // Default 2 s: a first ping that must resolve the neighbor can need one ARP/NS retransmit (1 s).
  const timeoutMs = num("-W", 2, 0.01, 60) * 1000;
  const intervalMs = num("-i", 1, 0.01, 60) * 1000;
  const stack = await stackOnTap(args);
  let received = 0;
  const rtts: number[] = [];
  process.stdout.write(`PING ${host} ${size} data bytes\n`);
  try {
    for (let i = 1; i <= count; i++) {
      const started = Date.now();
      try {
        const rtt = await stack.ping(host, { size, timeoutMs });
        received++;
        rtts.push(rtt);
        process.stdout.write(`${size + 8} bytes from ${host}: icmp_seq=${i} time=${rtt.toFixed(3)} ms\n`);
      } catch (err) {
        const e = err as { code?: string; message: string };
        if (e.code !== "WIRESTACK_ERR_TIMEOUT") throw err;
        process.stdout.write(`no reply from ${host}: icmp_seq=${i}\n`);
      }
      const wait = intervalMs - (Date.now() - started);
      if (i < count && wait > 0) await new Promise((r) => setTimeout(r, wait));
    }
  } finally {
    await stack.close();
  }
  const loss = (((count - received) / count) * 100).toFixed(0);
  process.stdout.write(`--- ${host} ping statistics ---\n${count} packets transmitted, ${received} received, ${loss}% packet loss\n`);
  if (rtts.length > 0) {
    const min = Math.min(...rtts);
    const max = Math.max(...rtts);
    const avg = rtts.reduce((a, b) => a + b, 0) / rtts.length;
    process.stdout.write(`rtt min/avg/max = ${min.toFixed(3)}/${avg.toFixed(3)}/${max.toFixed(3)} ms\n`);
  }
  return received > 0 ? 0 : 1;
}
