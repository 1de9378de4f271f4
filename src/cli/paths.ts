/**
 * Files and directories named on the command line, checked where the command knows what each
 * is for, so a wrong one is said plainly ("--out /a/b/k: the directory /a/b does not exist")
 * instead of surfacing later as ENOENT from somewhere inside.
 *
 * `fsError` turns a system error (ENOENT, EACCES, EISDIR, ENOTDIR, EEXIST, ENOSPC, …) into a
 * StemeError: a missing or wrong-kind path is `bad_path` (exit 2: fix the call), a full disk
 * `disk_full`, anything else `io_error`. fail.ts uses it too, as the safety net for a system
 * error no call site caught.
 */
import fs from "node:fs";
import path from "node:path";
import { StemeError } from "../core/errors.ts";

const errnoText: Record<string, string> = {
  ENOENT: "no such file or directory",
  ENOTDIR: "a part of the path is a file, not a directory",
  EISDIR: "it is a directory",
  EEXIST: "it already exists",
  ENOTEMPTY: "the directory is not empty",
  EACCES: "permission denied",
  EPERM: "operation not permitted",
  ENOSPC: "no space left on the device",
  EDQUOT: "disk quota exceeded",
  EROFS: "the file system is read-only",
  EMFILE: "too many open files",
  ENFILE: "too many open files in the system",
  EIO: "an I/O error from the device",
  ENAMETOOLONG: "the name is too long",
  ELOOP: "too many symbolic links",
  EBUSY: "the file is busy",
  EXDEV: "it is on another file system",
};

/** A system error's code (ENOENT, EACCES, …), or undefined for anything else. */
export function errnoCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && /^E[A-Z0-9]+$/.test(code) ? code : undefined;
}

/**
 * A system error as a StemeError: "<action> <file>: <why>". `action` says what was being done
 * ("cannot write", "cannot read the record file").
 */
export function fsError(err: unknown, action: string, file?: string): StemeError {
  const code = errnoCode(err) ?? "EIO";
  const target = file ?? ((err as { path?: string }).path || "");
  const message = `${action}${target ? ` ${target}` : ""}: ${errnoText[code] ?? (err as Error).message} (${code})`;
  const options = { cause: err };
  if (code === "ENOSPC" || code === "EDQUOT") return new StemeError("disk_full", message, options);
  if (["ENOENT", "ENOTDIR", "EISDIR", "EEXIST", "ENAMETOOLONG", "ELOOP"].includes(code))
    return new StemeError("bad_path", message, options);
  return new StemeError("io_error", message, options);
}

/**
 * Runs a step that reads and writes many files (a backup, a restore, an archive pass): a system
 * error inside it is said as "<doing>: <path>: <why>". Its paths are the command's own, not
 * the caller's, so a missing one is not a usage mistake: `io_error`, or `disk_full`.
 */
export async function inFiles<T>(doing: string, step: () => Promise<T>): Promise<T> {
  try {
    return await step();
  } catch (err) {
    if (errnoCode(err) === undefined) throw err;
    const e = fsError(err, doing);
    throw e.code === "disk_full" ? e : new StemeError("io_error", e.message, { cause: err });
  }
}

function statOrNull(p: string): fs.Stats | null {
  try {
    return fs.statSync(p);
  } catch (err) {
    const code = errnoCode(err);
    if (code === "ENOENT" || code === "ENOTDIR") return null;
    throw fsError(err, "cannot look at", p);
  }
}

/** What is at a path: nothing, a directory, or something else (a file). */
export function kindOf(p: string): "missing" | "dir" | "file" {
  const st = statOrNull(p);
  return !st ? "missing" : st.isDirectory() ? "dir" : "file";
}

/** An existing file to read: `what` names it in messages ("--key", "the bundle"). */
export function inputFile(file: string, what: string): void {
  const st = statOrNull(file);
  if (!st) throw new StemeError("bad_path", `${what} ${file}: no such file`);
  if (st.isDirectory()) throw new StemeError("bad_path", `${what} ${file}: a directory, not a file`);
}

/** The text of a file named on the command line. */
export function readInputText(file: string, what: string): string {
  inputFile(file, what);
  try {
    return fs.readFileSync(file, "utf8");
  } catch (err) {
    throw fsError(err, `${what}: cannot read`, file);
  }
}

/** An existing directory to read. */
export function inputDir(dir: string, what: string): void {
  const st = statOrNull(dir);
  if (!st) throw new StemeError("bad_path", `${what} ${dir}: no such directory`);
  if (!st.isDirectory()) throw new StemeError("bad_path", `${what} ${dir}: a file, not a directory`);
}

/** A file about to be written: its directory exists, and it is not itself a directory. */
export function outputFile(file: string, what: string): void {
  const st = statOrNull(file);
  if (st?.isDirectory()) throw new StemeError("bad_path", `${what} ${file}: a directory; give a file path`);
  const parent = path.dirname(path.resolve(file));
  const pst = statOrNull(parent);
  if (!pst) throw new StemeError("bad_path", `cannot write ${file}: the directory ${parent} does not exist`);
  if (!pst.isDirectory()) throw new StemeError("bad_path", `cannot write ${file}: ${parent} is a file, not a directory`);
}

/**
 * A directory about to be made or filled: if it exists it is a directory (and, with `empty`,
 * an empty one); if not, the nearest existing ancestor is a directory, so it can be made.
 */
export function outputDir(dir: string, what: string, options: { empty?: string } = {}): void {
  const st = statOrNull(dir);
  if (st) {
    if (!st.isDirectory()) throw new StemeError("bad_path", `${what} ${dir}: a file, not a directory`);
    if (options.empty && fs.readdirSync(dir).length > 0)
      throw new StemeError("exists", `${what} ${dir} exists and is not empty; ${options.empty}`);
    return;
  }
  let up = path.dirname(path.resolve(dir));
  while (!statOrNull(up)) up = path.dirname(up);
  if (!statOrNull(up)?.isDirectory()) throw new StemeError("bad_path", `cannot make ${dir}: ${up} is a file, not a directory`);
}
