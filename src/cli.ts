/**
 * The `wirestack` command (DESIGN.md, "The command line": a contract that tests outside the project
 * rely on). Every command returns an exit status: 0 success, 1 runtime failure, 2 usage error.
 * Errors print as one line on stderr; `--debug` adds the stack trace. Each command's module loads only
 * when that command runs, so `decode` starts without loading the stack.
 */
import { UsageError } from "./cli/args.ts";

const USAGE = `usage: wirestack <command> [options]

commands:
  demo [--pcap FILE] [--seed N] [--loss P]
                                     two stacks on an in-memory wire; prints a summary, writes a pcap
  decode FILE [--json] [-e] [-S]     one line per frame of a pcap or pcapng file, like tcpdump -n
  serve --tap NAME --mac MAC --ip A.B.C.D/N [--ip6 ADDR/N] [--gateway ADDR]
        [--services echo,discard,chargen,http,smtp,ftp] [--www DIR] [--mail DIR]
        [--ftp-root DIR] [--ftp-user USER:PASS] [--pcap FILE|-] [--trace tcp]
                                     answer on a TAP device; prints "ready" once listening
  ping --tap NAME --ip A/N [--ip6 A/N] HOST [-c N] [-s SIZE] [-W SECONDS]
                                     the stack as a ping client
  get --tap NAME --ip A/N URL [-o FILE]        download over http:// or ftp://
  put --tap NAME --ip A/N FILE ftp://[user:pass@]HOST/PATH
                                     upload over FTP (passive mode)
  mail --tap NAME --ip A/N --server HOST[:PORT] --from A --to B [FILE]
                                     send a message (FILE or standard input) over SMTP
  replay FILE --as ADDR [--ip A/N] [--ip6 A/N] [--mac MAC] [--services LIST] [--pcap OUT]
                                     replay a capture against a stack playing ADDR; exit 1 on differences

options for every command: --debug (stack traces on errors), --help`;

/** Runs the command line; resolves to the exit status. */
export async function main(argv: readonly string[]): Promise<number> {
  const debug = argv.includes("--debug");
  const args = argv.filter((a) => a !== "--debug");
  const [command, ...rest] = args;
  try {
    switch (command) {
      case undefined:
      case "--help":
      case "-h":
      case "help":
        process.stdout.write(`${USAGE}\n`);
        return command === undefined ? 2 : 0;
      case "decode":
        return await (await import("./decode/command.ts")).runDecode(rest);
      case "demo":
        return await (await import("./demo.ts")).runDemo(rest);
      case "serve":
        return await (await import("./cli/serve.ts")).runServe(rest);
      case "ping":
        return await (await import("./cli/ping.ts")).runPing(rest);
      case "get":
        return await (await import("./cli/clients.ts")).runGet(rest);
      case "put":
        return await (await import("./cli/clients.ts")).runPut(rest);
      case "mail":
        return await (await import("./cli/clients.ts")).runMail(rest);
      case "replay":
        return await (await import("./cli/replay.ts")).runReplay(rest);
      default:
        throw new UsageError(`unknown command '${command}' (see wirestack --help)`);
    }
  } catch (err) {
    const e = err as Error & { code?: string };
    process.stderr.write(`wirestack: ${e?.message ?? String(err)}\n`);
    if (debug && e?.stack) process.stderr.write(`${e.stack}\n`);
    return err instanceof UsageError ? 2 : 1;
  }
}
