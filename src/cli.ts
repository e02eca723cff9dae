/**
 * The `wirestack` command (DESIGN.md, "The command line": a contract that tests outside the project
 * rely on). Every command returns an exit status: 0 success, 1 runtime failure, 2 usage error.
 * Errors print as one line on stderr; `--debug` adds the stack trace.
 */
import { runDecode } from "./decode/command.ts";
import { runDemo } from "./demo.ts";

/** A mistake in how the command was called: one line, exit status 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
  readonly code = "WIRESTACK_ERR_USAGE";
}

const USAGE = `usage: wirestack <command> [options]

commands:
  demo [--pcap FILE]                 two stacks on an in-memory wire; prints a summary, writes a pcap
  decode FILE [--json] [-e] [-S]     one line per frame of a pcap or pcapng file, like tcpdump -n

options for every command: --debug (stack traces on errors), --help`;

/** Parsed flags: `--name value`, `--flag`, `-e`; everything else is positional. */
export interface ParsedArgs {
  readonly positional: string[];
  readonly flags: Map<string, string | true>;
}

/**
 * Splits argv by a table of known flags (name → takes a value?). Unknown flags are usage errors, so
 * a typo never silently changes behaviour.
 */
export function parseArgs(argv: readonly string[], known: Record<string, boolean>): ParsedArgs {
  const positional: string[] = [];
  const flags = new Map<string, string | true>();
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === "--") {
      positional.push(...argv.slice(i + 1));
      break;
    }
    if (arg.startsWith("-") && arg !== "-") {
      const eq = arg.indexOf("=");
      const name = eq === -1 ? arg : arg.slice(0, eq);
      if (!(name in known)) throw new UsageError(`unknown option ${name} (see wirestack --help)`);
      if (known[name]) {
        const value = eq !== -1 ? arg.slice(eq + 1) : argv[++i];
        if (value === undefined) throw new UsageError(`${name} needs a value`);
        flags.set(name, value);
      } else {
        if (eq !== -1) throw new UsageError(`${name} takes no value`);
        flags.set(name, true);
      }
    } else {
      positional.push(arg);
    }
  }
  return { positional, flags };
}

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
        return await runDecode(rest);
      case "demo":
        return await runDemo(rest);
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
