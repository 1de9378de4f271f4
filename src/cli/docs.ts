/**
 * docs/CLI.md, generated from the registry by `make docs` (scripts/docs.ts) and checked by
 * test/cli/docs.test.ts: every command and subcommand with its synopsis, prose and options, and
 * the exit codes. Written once, as data, in the command files; this only lays it out.
 */
import { exitCodes, type ExitName } from "../core/errors.ts";
import type { Command } from "./command.ts";
import { exitMeanings } from "./help.ts";

function anchor(name: string): string {
  return name.replaceAll(" ", "-");
}

function cell(text: string): string {
  return text.replaceAll("|", "\\|").replaceAll("\n", " ");
}

function commandSection(c: Command): string {
  const lines = [`## ${c.name}`, "", `${c.summary[0]?.toUpperCase()}${c.summary.slice(1)}.`, "", "```", ...c.usage, "```", ""];
  if (c.about) lines.push(c.about, "");
  const flags = Object.entries(c.flags);
  if (flags.length > 0) {
    lines.push("| option | meaning | default |", "| --- | --- | --- |");
    for (const [name, f] of flags) {
      const form = `${f.short ? `-${f.short}, ` : ""}--${name}${f.type === "string" ? ` ${f.value ?? "VALUE"}` : ""}${f.multiple ? " …" : ""}`;
      const dflt = f.required ? "required" : f.shownDefault !== undefined ? `\`${f.shownDefault || '""'}\`` : "";
      lines.push(`| \`${cell(form)}\` | ${cell(f.help)} | ${cell(dflt)} |`);
    }
    lines.push("");
  }
  if (c.subcommands?.length)
    lines.push(`Subcommands: ${c.subcommands.map((s) => `[\`${s.name}\`](#${anchor(s.name)})`).join(", ")}.`, "");
  return lines.join("\n");
}

/** The whole of docs/CLI.md. */
export function cliMarkdown(commands: readonly Command[]): string {
  const flatten = (list: readonly Command[]): Command[] => list.flatMap((c) => [c, ...flatten(c.subcommands ?? [])]);
  const all = flatten(commands); // families nest (admin → admin cluster → admin cluster status)
  const exits = (Object.keys(exitCodes) as ExitName[]).map((n) => `| ${exitCodes[n]} | \`${n}\` | ${cell(exitMeanings[n])} |`);
  return `# The stemedb command line

<!-- Generated from the command registry (src/cli/commands/) by \`make docs\`; edit the commands, not this file. -->

\`stemedb COMMAND [options]\`. Every command takes \`--help\`; \`stemedb --version\` prints the
version. \`--debug\`, anywhere on the line, prints the stack of an internal error instead of
writing a report.

A failure prints one line on stderr — \`stemedb COMMAND: what and why\` — then \`  hint: …\` when
there is one (and the synopsis after a usage mistake), and exits with one of the codes below:
never a stack trace. The code follows from the error's stable code in the error table
(src/core/errors.ts); an error the server answered maps through its problem's code.

## Exit codes

| exit | name | meaning |
| --- | --- | --- |
${exits.join("\n")}

An internal error (exit 70) writes a report with the stack to \`$XDG_STATE_HOME/stemedb/\`, or the
temporary directory, and names it on the one line.

## Commands

| command | what it does |
| --- | --- |
${all.map((c) => `| [\`${c.name}\`](#${anchor(c.name)}) | ${cell(c.summary)} |`).join("\n")}

Client commands talk to \`--server URL\` (default \`$STEMEDB_URL\`, else \`http://127.0.0.1:18180\`) and send
\`$STEMEDB_API_KEY\` as the bearer key when it is set. Offline commands take \`--data-dir DIR\`
(default \`$STEMEDB_DATA_DIR\`, else \`./data\`).

${all.map(commandSection).join("\n")}`;
}
