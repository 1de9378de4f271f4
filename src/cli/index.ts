/**
 * The `stemedb` command line: finds the command (and subcommand) in the registry, prints help
 * and the version, parses the arguments against the command's flags, runs it, and hands
 * whatever it throws to fail.ts — the only place that writes an error to the terminal.
 */
import { version } from "../api/serve.ts";
import { StemeError } from "../core/errors.ts";
import { type Command, word } from "./command.ts";
import { commands } from "./commands/index.ts";
import { fail } from "./fail.ts";
import { nearest, parseInput } from "./flags.ts";
import { commandHelp, mainHelp } from "./help.ts";
import { type Io, processIo } from "./io.ts";

const helpWords = new Set(["--help", "-h", "help"]);

/** The command `argv` names and the arguments after its name(s), or null for an unknown one. */
export function findCommand(argv: string[], list: readonly Command[] = commands): { command: Command; rest: string[] } | null {
  const command = list.find((c) => c.name === argv[0]);
  if (!command) return null;
  let found = { command, rest: argv.slice(1) };
  for (;;) {
    const sub = found.command.subcommands?.find((s) => word(s) === found.rest[0]);
    if (!sub) return found;
    found = { command: sub, rest: found.rest.slice(1) };
  }
}

/** Runs one command line; returns the exit code. */
export async function runCli(argv: string[], io: Io = processIo()): Promise<number> {
  const debug = argv.includes("--debug");
  const args = argv.filter((a) => a !== "--debug");
  const context = { prefix: "stemedb", debug, io, argv, version };
  const first = args[0];
  if (first === undefined || helpWords.has(first)) {
    io.out(mainHelp(commands, version));
    return 0;
  }
  if (first === "--version" || first === "-v" || first === "version") {
    io.out(`stemedb ${version}`);
    return 0;
  }
  const found = findCommand(args);
  if (!found) return fail(unknownCommand(first), context);
  const { command, rest } = found;
  if (rest.includes("--help") || rest.includes("-h")) {
    io.out(commandHelp(command));
    return 0;
  }
  const failContext = { ...context, prefix: `stemedb ${command.name}`, usage: command.usage };
  try {
    const input = parseInput(command.flags, command.args ?? [], command.prepare ? command.prepare(rest) : rest, io.env);
    return await command.run(input, io);
  } catch (err) {
    return fail(err, failContext);
  }
}

function unknownCommand(name: string): StemeError {
  const near = commands.find(
    (c) =>
      c.name ===
      nearest(
        name,
        commands.map((x) => x.name),
      ),
  );
  return new StemeError("usage", `unknown command ${JSON.stringify(name)}`, {
    hint: near
      ? `did you mean \`stemedb ${near.name}\`? (\`stemedb --help\` lists the commands)`
      : "`stemedb --help` lists the commands",
  });
}

/**
 * The process's entry (main.ts): runs the command line, and catches what escapes it — an error
 * thrown on a timer or a worker's callback — through the same one-line failure.
 */
export async function main(argv: string[]): Promise<number> {
  const io = processIo();
  const escaped = (err: unknown) => {
    process.exitCode = fail(err, {
      prefix: `stemedb ${argv[0] ?? ""}`.trim(),
      debug: argv.includes("--debug"),
      io,
      argv,
      version,
    });
    process.exit();
  };
  process.on("uncaughtException", escaped);
  process.on("unhandledRejection", escaped);
  return runCli(argv, io);
}
