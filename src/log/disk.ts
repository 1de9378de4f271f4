/**
 * The two disk operations on the log's write path, behind a small interface so tests can
 * inject failures (STYLE: inject disk). Everything else (open, read, ftruncate) uses `node:fs`
 * directly.
 */
import * as fs from "node:fs";

export interface LogDisk {
  /** Writes all of `bytes` at `position` (pwrite), or throws. */
  write(fd: number, bytes: Uint8Array, position: number): void;
  /**
   * Flushes the file's data to stable storage (fdatasync(2)). Asynchronous on purpose: while
   * one batch is being synced the event loop keeps accepting requests for the next batch.
   * Note: in Bun, `appendFile(…, { flush: true })` does not fsync; only this does.
   */
  datasync(fd: number): Promise<void>;
}

export const realDisk: LogDisk = {
  write(fd, bytes, position) {
    let done = 0;
    while (done < bytes.length) {
      done += fs.writeSync(fd, bytes, done, bytes.length - done, position + done);
    }
  },
  datasync(fd) {
    return new Promise((resolve, reject) => fs.fdatasync(fd, (err) => (err ? reject(err) : resolve())));
  },
};

/**
 * fsyncs a directory so a file created, renamed or removed in it survives a power failure
 * (the file's own fsync does not persist its directory entry on Linux).
 */
export function syncDir(dir: string): void {
  const fd = fs.openSync(dir, "r");
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
