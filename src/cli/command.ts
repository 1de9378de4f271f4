/**
 * What a `stemedb` command is: a name, a one-line summary, its synopsis, its flags and
 * positionals as data (flags.ts), optional subcommands, and `run`. The registry
 * (commands/index.ts) lists them; help, docs/CLI.md and the sweep test read them from there.
 *
 * `run` returns the exit code of a run that finished (0, or 1 when a check found damage) and
 * throws a `StemeError` for everything else; fail.ts turns what it throws into one line.
 */
import type { Flags, Input, Positional } from "./flags.ts";
import type { Io } from "./io.ts";

export interface Command<F extends Flags = Flags> {
  /** The words after `stemedb`: "verify", or "keys create" for a subcommand. */
  name: string;
  summary: string;
  /** Synopsis lines, each a whole call: `stemedb verify [--data-dir DIR] [--deep]`. */
  usage: string[];
  /** Prose after the synopsis in `--help`. */
  about?: string;
  flags: F;
  args?: readonly Positional[];
  /** Chosen by the first argument (`stemedb keys create …`). */
  subcommands?: readonly Command[];
  /** Rewrites the arguments before parsing (vote: "-1" is a value, not a flag). */
  prepare?(argv: string[]): string[];
  run(input: Input<F>, io: Io): Promise<number>;
}

/** Declares a command; its flags' types flow into `run`, and the result fits the registry. */
export function defineCommand<F extends Flags>(command: Command<F>): Command {
  return command as unknown as Command;
}

/** The last word of a command's name: what selects a subcommand. */
export function word(command: Command): string {
  return command.name.split(" ").at(-1) as string;
}
