/**
 * The one way a command fails. Whatever it threw becomes one line on stderr —
 * `stemedb <command>: <what and why>` — then `  hint: …` when there is one (and the synopsis
 * for a usage mistake), and the exit code follows from the error's code (`exitCodeOf`):
 *
 * - a StemeError: its own code, message and hint;
 * - an error the server answered (StemeClientError): the problem's code, which is in the same
 *   table, its detail and hint;
 * - a request that reached no server: `unreachable` (exit 4);
 * - a system error (ENOENT, EACCES, ENOSPC, …) that no call site turned into a StemeError: the
 *   safety net says it in one line too (paths.ts `fsError`);
 * - anything else is a bug: one line naming a report file that holds the stack (or, with
 *   `--debug`, the stack itself), exit 70. Never a raw stack trace on the terminal.
 */
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { StemeClientError } from "../client/index.ts";
import { exitCodeOf, exitCodes, type ProblemCode, problems, StemeError } from "../core/errors.ts";
import { unreachableReason } from "./client.ts";
import type { Io } from "./io.ts";
import { errnoCode, fsError } from "./paths.ts";

export interface FailContext {
  /** "stemedb verify", or "stemedb" before a command is known. */
  prefix: string;
  /** The command's synopsis, shown after a usage mistake. */
  usage?: string[];
  /** --debug: print the stack instead of writing a report. */
  debug: boolean;
  io: Io;
  /** For the report: the command line and the version. */
  argv: string[];
  version: string;
  now?: () => Date;
}

/** Says what went wrong on stderr and returns the exit code. */
export function fail(err: unknown, ctx: FailContext): number {
  const known = explain(err);
  if (known === null) return internal(err, ctx);
  const lines = [`${ctx.prefix}: ${oneLine(known.message)}`];
  const showUsage = known.code === "usage" && ctx.usage !== undefined && ctx.usage.length > 0;
  // A usage mistake shows the synopsis; the table's generic "see --help" would only repeat it.
  if (known.hint && !(showUsage && known.hint === problems.usage.hint)) lines.push(`  hint: ${oneLine(known.hint)}`);
  if (showUsage) lines.push(`  usage: ${ctx.usage?.join("\n         ")}`);
  if (ctx.debug && err instanceof Error && err.stack) lines.push(err.stack);
  ctx.io.err(`${lines.join("\n")}\n`);
  return known.exit;
}

interface Explained {
  code: string;
  message: string;
  hint?: string | undefined;
  exit: number;
}

/** What a thrown value means to the user, or null when it is a bug. */
export function explain(err: unknown): Explained | null {
  if (err instanceof StemeError) {
    if (err.code === "internal") return null;
    return { code: err.code, message: err.message, hint: err.hint, exit: exitCodeOf(err.code) };
  }
  if (err instanceof StemeClientError) return answered(err);
  const reason = unreachableReason(err);
  if (reason !== null) return explain(new StemeError("unreachable", `cannot reach the server: ${reason}`));
  if ((err as { code?: string } | null)?.code?.startsWith?.("ERR_PARSE_ARGS"))
    return explain(new StemeError("usage", (err as Error).message.split("\n")[0] as string));
  if (errnoCode(err) !== undefined) {
    // No call site said what the file was for, so it is not known to be the caller's mistake.
    const e = fsError(err, "cannot use");
    return explain(e.code === "disk_full" ? e : new StemeError("io_error", e.message, { cause: err }));
  }
  return null;
}

/** An error the server answered: its problem's code, detail and hint. */
function answered(err: StemeClientError): Explained {
  const p = err.problem ?? {};
  const code = typeof p.code === "string" ? p.code : "bad_response";
  const known = Object.hasOwn(problems, code);
  const requestId = err.requestId ? ` (request ${err.requestId})` : "";
  return {
    code,
    // Status 0: no answer came (the client's own timeout), and the detail says so.
    message: `${err.status === 0 ? "" : `the server answered ${err.status} ${code}: `}${typeof p.detail === "string" ? p.detail : "(no detail)"}${requestId}`,
    hint:
      typeof p.hint === "string"
        ? p.hint
        : code === "internal"
          ? "the server's log has the stack under the request id"
          : undefined,
    exit: known ? exitCodeOf(code as ProblemCode) : exitCodes.failed,
  };
}

/** Messages are one line: a newline inside one (a server's detail, a library's text) becomes a space. */
function oneLine(text: string): string {
  const flat = text.replace(/\s*\n\s*/g, " ").trim();
  return flat.length > 2000 ? `${flat.slice(0, 2000)}…` : flat;
}

/** A bug: one line naming the report with the stack (or the stack itself with --debug); exit 70. */
function internal(err: unknown, ctx: FailContext): number {
  const message = oneLine(err instanceof Error ? err.message : String(err)).slice(0, 300);
  const stack = err instanceof Error && err.stack ? err.stack : String(err);
  if (ctx.debug) {
    ctx.io.err(`${ctx.prefix}: internal error (${message})\n${stack}\n${causes(err)}`);
    return exitCodes.internal;
  }
  let where: string;
  try {
    where = writeReport(stack + causes(err), ctx);
    ctx.io.err(`${ctx.prefix}: internal error (${message}); a report was written to ${where}\n`);
  } catch (reportErr) {
    ctx.io.err(
      `${ctx.prefix}: internal error (${message}); no report could be written (${oneLine((reportErr as Error).message)}): run again with --debug for the stack\n`,
    );
  }
  ctx.io.err("  hint: this is a bug in stemedb; please send the report with what you ran\n");
  return exitCodes.internal;
}

function causes(err: unknown): string {
  let text = "";
  for (let c = (err as { cause?: unknown } | null)?.cause, depth = 0; c !== undefined && depth < 5; depth++) {
    text += `caused by: ${c instanceof Error ? (c.stack ?? c.message) : String(c)}\n`;
    c = (c as { cause?: unknown } | null)?.cause;
  }
  return text;
}

/** Writes the report under $XDG_STATE_HOME/stemedb, else the temp directory; returns its path. */
export function writeReport(stack: string, ctx: FailContext): string {
  const now = (ctx.now ?? (() => new Date()))();
  const state = ctx.io.env.XDG_STATE_HOME;
  const dir = state ? path.join(state, "stemedb") : os.tmpdir();
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const stamp = now
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z");
  const file = path.join(dir, `stemedb-report-${stamp}-${process.pid}.txt`);
  const body = [
    `stemedb ${ctx.version} internal error`,
    `time: ${now.toISOString()}`,
    `command: stemedb ${redact(ctx.argv).join(" ")}`,
    `runtime: bun ${Bun.version} on ${process.platform}-${process.arch}`,
    "",
    stack,
  ].join("\n");
  fs.writeFileSync(file, `${body}\n`, { mode: 0o600 });
  return file;
}

/** The command line without secrets (an API key given as a flag). */
function redact(argv: string[]): string[] {
  return argv.map((a, i) =>
    argv[i - 1] === "--api-key" ? "[redacted]" : a.startsWith("--api-key=") ? "--api-key=[redacted]" : a,
  );
}
