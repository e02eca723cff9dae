/** Command-line argument parsing shared by every `wirestack` command. */

/** A mistake in how the command was called: one line, exit status 2. */
export class UsageError extends Error {
  override readonly name = "UsageError";
  readonly code = "WIRESTACK_ERR_USAGE";
}



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

