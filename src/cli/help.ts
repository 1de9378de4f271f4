/**
 * `stemedb --help`, `stemedb COMMAND --help` and docs/CLI.md, all read from the registry: a
 * command's synopsis and prose as written, its options list from its flag rows, and the exit
 * codes from `exitCodes` with the meanings below.
 */
import { exitCodes, type ExitName } from "../core/errors.ts";
import type { Command } from "./command.ts";
import type { Flags } from "./flags.ts";

/** What each exit code means to a script; typed by ExitName, so a new exit code needs its line. */
export const exitMeanings: Record<ExitName, string> = {
  ok: "done",
  damage:
    "a check ran and found damage: verify, verify --backup, verify-bundle, repair without --yes, import with refused or rejected records",
  usage: "the command line or an input it names is wrong: an unknown flag, a bad value, a missing or wrong-kind file",
  failed:
    "the operation could not be done: no node in the data directory, a damaged data file, the directory in use, a refusal by the server, a full disk",
  unreachable: "the server could not be reached",
  internal: "a bug: the command wrote a report (or the server answered 500 internal; its log has the stack)",
};

export function exitCodeLines(): string[] {
  return (Object.keys(exitCodes) as ExitName[]).map((name) => `  ${String(exitCodes[name]).padEnd(3)} ${exitMeanings[name]}`);
}

/** The options of a command: `  --flag VALUE   help (default …)`, and --help last. */
export function optionLines(flags: Flags): string[] {
  const rows = Object.entries(flags).map(([name, f]) => {
    const left = `${f.short ? `-${f.short}, ` : ""}--${name}${f.type === "string" ? ` ${f.value ?? "VALUE"}` : ""}${f.multiple ? " …" : ""}`;
    const note = f.required ? " (required)" : f.shownDefault !== undefined ? ` (default ${f.shownDefault || '""'})` : "";
    return [left, `${f.help}${note}`];
  });
  rows.push(["-h, --help", "this text"]);
  const width = Math.min(Math.max(...rows.map(([l]) => (l as string).length)), 34);
  return rows.map(([l, r]) => `  ${(l as string).padEnd(width)}  ${r}`);
}

export function commandHelp(command: Command): string {
  const parts = [command.summary, "", `Usage: ${command.usage.join("\n       ")}`];
  if (command.about) parts.push("", command.about);
  if (command.subcommands?.length) {
    parts.push("", "Subcommands (stemedb COMMAND SUBCOMMAND --help for each):");
    for (const s of command.subcommands) parts.push(`  ${s.name.padEnd(22)} ${s.summary}`);
  }
  parts.push("", "Options:", ...optionLines(command.flags));
  return `${parts.join("\n")}\n`;
}

/** The names of the commands with a flag of this kind (`--server`, `--data-dir`), wrapped for a paragraph. */
function namesWith(commands: readonly Command[], kind: "server" | "data-dir"): string {
  return commands
    .filter((c) => c.name !== "serve" && allFlags(c).some((f) => f.kind === kind))
    .map((c) => c.name)
    .join(", ");
}

function allFlags(c: Command): Flags[string][] {
  return [...Object.values(c.flags), ...(c.subcommands ?? []).flatMap(allFlags)];
}

/** Wraps prose at 96 columns. */
function wrap(text: string): string {
  const lines: string[] = [];
  let line = "";
  for (const w of text.split(" ")) {
    if (line && line.length + 1 + w.length > 96) {
      lines.push(line);
      line = w;
    } else line = line ? `${line} ${w}` : w;
  }
  return [...lines, line].join("\n");
}

export function mainHelp(commands: readonly Command[], version: string): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  const client = `Client commands (${namesWith(commands, "server")}) talk to --server URL, default $STEMEDB_URL or http://127.0.0.1:18180, with the API key in $STEMEDB_API_KEY when the server has keys.`;
  const offline = `Offline commands (${namesWith(commands, "data-dir")}) and serve take --data-dir, default $STEMEDB_DATA_DIR or ./data; verify-bundle needs only the file.`;
  return `stemedb ${version}: a database of signed claims for AI agents

Usage: stemedb COMMAND [options]   (stemedb COMMAND --help for its options)

Commands:
${commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`).join("\n")}

  --version  print the version
  --help     this text
  --debug    on an internal error, print the stack instead of writing a report

${wrap(client)}
${wrap(offline)}

A failure prints one line on stderr, "stemedb COMMAND: what and why", and a hint when there is
one. Exit codes:
${exitCodeLines().join("\n")}
`;
}
