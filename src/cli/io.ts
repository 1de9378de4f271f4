/**
 * What a command talks to: its output streams, its environment, its standard input. Passed in
 * (not reached for through `process`) so the parser, the failure printer and most commands run
 * in a test without a process.
 */
export interface Io {
  /** One line of the command's result on stdout. */
  out(line: string): void;
  /** Raw text on stderr (messages, progress). */
  err(text: string): void;
  env: Readonly<Record<string, string | undefined>>;
  /** All of standard input, as text (`--record -`). */
  stdin(): Promise<string>;
  /** stderr is a terminal: progress bars may be drawn there. */
  interactive: boolean;
}

export function processIo(): Io {
  return {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (text) => process.stderr.write(text),
    env: process.env,
    stdin: () => Bun.stdin.text(),
    interactive: process.stderr.isTTY === true,
  };
}
