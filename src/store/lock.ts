/**
 * One process, one data directory: an exclusive `flock(2)` on `<data-dir>/LOCK`, held on an
 * open descriptor for as long as the store is open.
 *
 * The kernel drops the lock when the process dies, however it dies, so there is no stale lock
 * to detect and no check-then-act race between two starters; and a second open of the same
 * directory inside one process is refused too (flock locks belong to open file descriptions).
 * The file also holds the owner's pid, for the error message and for people.
 *
 * `flock` comes from libc through bun:ffi. Where that is unavailable the lock falls back to an
 * O_EXCL pid file, which is weaker (a crashed owner's file is taken over by checking its pid).
 */
import { dlopen, FFIType } from "bun:ffi";
import fs from "node:fs";
import path from "node:path";
import { StemeError } from "../core/errors.ts";

const LOCK_EX = 2;
const LOCK_NB = 4;

type Flock = (fd: number, operation: number) => number;

function loadFlock(): Flock | null {
  try {
    const libc = dlopen("libc.so.6", { flock: { args: [FFIType.i32, FFIType.i32], returns: FFIType.i32 } });
    return libc.symbols.flock as Flock;
  } catch {
    return null;
  }
}

const flock = loadFlock();

function locked(dir: string, owner: string): StemeError {
  return new StemeError("locked", `${dir} is in use${owner ? ` by process ${owner}` : ""}`, {
    hint: "stop that process first, or use another --data-dir",
  });
}

/** Take the directory; returns the release function. Throws `locked` when it is taken. */
export function lockDataDir(dir: string): () => void {
  const lockPath = path.join(dir, "LOCK");
  if (!flock) return lockWithPidFile(dir, lockPath);
  const fd = fs.openSync(lockPath, fs.constants.O_RDWR | fs.constants.O_CREAT, 0o644);
  if (flock(fd, LOCK_EX | LOCK_NB) !== 0) {
    const owner = fs.readFileSync(lockPath, "utf8").trim();
    fs.closeSync(fd);
    throw locked(dir, owner);
  }
  fs.ftruncateSync(fd, 0);
  fs.writeSync(fd, `${process.pid}\n`, 0);
  let held = true;
  return () => {
    if (!held) return;
    held = false;
    fs.closeSync(fd); // releases the lock
  };
}

function lockWithPidFile(dir: string, lockPath: string): () => void {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = fs.openSync(lockPath, "wx", 0o644);
      fs.writeSync(fd, `${process.pid}\n`);
      fs.closeSync(fd);
      return () => fs.rmSync(lockPath, { force: true });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const owner = fs.readFileSync(lockPath, "utf8").trim();
      const pid = Number.parseInt(owner, 10);
      if (Number.isInteger(pid) && processAlive(pid)) throw locked(dir, owner);
      fs.rmSync(lockPath, { force: true }); // left by a process that died
    }
  }
  throw locked(dir, "");
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}
