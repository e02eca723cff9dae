/**
 * `wirestack replay FILE --as ADDR [--ip A/N] [--ip6 A/N] [--mac MAC] [--services LIST] [--pcap OUT]
 *  [--timing capture|asap] [--seed N]` — replays a capture against a stack that plays endpoint ADDR
 * (src/replay/engine.ts) with the same services as `serve` (src/cli/services.ts), on a virtual clock
 * and no device. Prints the difference report; exit 0 when the stack's frames match, 1 otherwise.
 */
import { readFileSync } from "node:fs";
import { replay } from "../replay/engine.ts";
import { formatReport } from "../replay/report.ts";
import { UsageError, parseArgs } from "./args.ts";
import { SERVICE_FLAGS, serviceOptionsFromArgs, startServices } from "./services.ts";

function listFlag(v: string | true | undefined): string[] | undefined {
  return typeof v === "string" ? v.split(",").filter((s) => s.length > 0) : undefined;
}

/** Runs `wirestack replay`; resolves to the exit status. */
export async function runReplay(argv: readonly string[]): Promise<number> {
  const args = parseArgs(argv, { "--as": true, "--ip": true, "--ip6": true, "--mac": true, "--pcap": true, "--timing": true, "--seed": true, ...SERVICE_FLAGS });
  const [file, ...extra] = args.positional;
  if (file === undefined) throw new UsageError("give the capture to replay: wirestack replay FILE --as ADDR");
  if (extra.length > 0) throw new UsageError(`unexpected argument '${extra[0]}'`);
  const as = args.flags.get("--as");
  if (typeof as !== "string") throw new UsageError("--as ADDR is required (the address of the endpoint the stack plays)");
  const timing = args.flags.get("--timing") ?? "capture";
  if (timing !== "capture" && timing !== "asap") throw new UsageError(`--timing ${String(timing)}: give capture or asap`);
  const seed = args.flags.get("--seed");
  if (seed !== undefined && !/^\d+$/.test(String(seed))) throw new UsageError(`--seed ${String(seed)}: give a non-negative integer`);
  const services = serviceOptionsFromArgs(args);
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (err) {
    throw new Error(`cannot read ${file}: ${(err as Error).message}`);
  }
  const mac = args.flags.get("--mac");
  const pcap = args.flags.get("--pcap");
  const ip = listFlag(args.flags.get("--ip"));
  const ip6 = listFlag(args.flags.get("--ip6"));
  let running: Awaited<ReturnType<typeof startServices>> | undefined;
  const result = await replay({
    capture: bytes,
    as,
    timing,
    ...(ip !== undefined ? { ipv4: ip } : {}),
    ...(ip6 !== undefined ? { ipv6: ip6 } : {}),
    ...(typeof mac === "string" ? { mac } : {}),
    ...(typeof pcap === "string" ? { pcap } : {}),
    ...(typeof seed === "string" ? { seed: Number(seed) } : {}),
    setup: async (stack) => {
      running = await startServices(stack, services);
    },
  });
  await running?.close();
  process.stdout.write(formatReport(result));
  return result.ok ? 0 : 1;
}
