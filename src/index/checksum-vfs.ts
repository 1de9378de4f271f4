/**
 * Opening the index through the page-checksum VFS shim (native/stemedb_cksm.c; its header
 * comment is the design). This file finds the compiled shim, loads it into SQLite once per
 * process, and opens index files through it:
 *
 * - Run from source, the shim is `native/stemedb_cksm.so`, built by `make setup`.
 * - In the compiled binary (`make build`) it is carried as an embedded file. SQLite can only
 *   load a shared object from a real path, so it is written out into the directory that holds
 *   the index (the data directory: owned by the service user, mode 0750 — not /tmp, where
 *   another user could plant a file first), named by its BLAKE3, written to a temporary file
 *   and renamed into place, and read back and compared before it is loaded.
 * - Missing or unloadable, it stops the open with one clear line: the index is never opened
 *   without checksums.
 *
 * A file is checksummed because it is opened with `stemedb_cksm=1` in its URI, never because
 * of what its header says; a new file gets its 8 reserved bytes per page
 * (SQLITE_FCNTL_RESERVE_BYTES) before anything is written to it.
 */
import { Database } from "bun:sqlite";
import fs from "node:fs";
import path from "node:path";
import { StemeError } from "../core/errors.ts";
import { bytesEqual } from "../core/hex.ts";
import { blake3_256 } from "../crypto/blake3.ts";
import { pageChecksumBytes } from "./page-checksum.ts";

export const checksumVfsName = "stemedb_cksm";
const extensionEntryPoint = "sqlite3_stemedbcksm_init";
/** Where `make setup` builds the shim, relative to this file. */
const sourceBuildPath = path.resolve(import.meta.dir, "../../native/stemedb_cksm.so");
/** How `bun build --compile` names the embedded copy: `stemedb_cksm-<hash>.so`. */
const embeddedName = /^stemedb_cksm(-[0-9a-z]+)?\.so$/;

const SQLITE_OPEN_READONLY = 0x1;
const SQLITE_OPEN_READWRITE = 0x2;
const SQLITE_OPEN_CREATE = 0x4;
const SQLITE_OPEN_URI = 0x40;
export const SQLITE_FCNTL_RESERVE_BYTES = 38;
/** The shim's own file control: read and verify every page (see scanFile in the C source). */
const fcntlScanPages = 0x53544d01;
const fcntlImplementation = 0x53544d02;

function missing(detail: string): StemeError {
  return new StemeError("index_checksum_missing", `the index checksum extension is missing: run make setup (${detail})`, {
    hint: "make setup compiles native/stemedb_cksm.c; the compiled binary carries it inside",
  });
}

/** Whether this process has the shim registered with SQLite (registration is process-wide). */
function vfsRegistered(): boolean {
  try {
    new Database(
      `file:stemedb-vfs-probe?mode=memory&vfs=${checksumVfsName}`,
      SQLITE_OPEN_URI | SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
    ).close();
    return true;
  } catch {
    return false;
  }
}

/** The embedded copy's bytes when this is the compiled binary, else null. */
function embeddedShim(): Uint8Array | null {
  for (const blob of Bun.embeddedFiles) {
    const name = (blob as Blob & { name?: string }).name ?? "";
    if (!embeddedName.test(path.basename(name))) continue;
    for (const candidate of [path.join(import.meta.dir, path.basename(name)), `/$bunfs/root/${path.basename(name)}`, name]) {
      try {
        return new Uint8Array(fs.readFileSync(candidate));
      } catch {
        // try the next spelling of the embedded path
      }
    }
  }
  return null;
}

/** Writes the embedded shim into `dir` (atomically, by content hash) and returns its path once verified. */
function unpackShim(bytes: Uint8Array, dir: string): string {
  const digest = blake3_256(bytes);
  const file = path.join(dir, `stemedb_cksm-${Buffer.from(digest.subarray(0, 8)).toString("hex")}.so`);
  if (!holds(file, digest)) {
    const tmp = `${file}.tmp-${process.pid}`;
    fs.rmSync(tmp, { force: true });
    const fd = fs.openSync(
      tmp,
      fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL | fs.constants.O_NOFOLLOW,
      0o500,
    );
    try {
      fs.writeSync(fd, bytes);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(tmp, file);
  }
  if (!holds(file, digest)) throw missing(`${file} does not hold the copy this binary carries`);
  return file;
}

function holds(file: string, digest: Uint8Array): boolean {
  try {
    const fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW);
    try {
      return bytesEqual(blake3_256(new Uint8Array(fs.readFileSync(fd))), digest);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    return false; // absent, a symlink, or unreadable by this user: write our own
  }
}

/**
 * Registers the shim with SQLite if this process has not yet. `unpackDir` is where the
 * compiled binary may write its embedded copy (the data directory).
 */
export function ensureChecksumVfs(unpackDir: string): void {
  if (vfsRegistered()) return;
  const embedded = embeddedShim();
  let file: string;
  if (embedded) {
    try {
      file = unpackShim(embedded, unpackDir);
    } catch (cause) {
      if (cause instanceof StemeError) throw cause;
      throw missing(`writing it out into ${unpackDir}: ${(cause as Error).message}`);
    }
  } else if (fs.existsSync(sourceBuildPath)) file = sourceBuildPath;
  else throw missing(`no ${sourceBuildPath}`);
  const boot = new Database(":memory:");
  try {
    boot.loadExtension(file, extensionEntryPoint);
  } catch (cause) {
    throw missing(`loading ${file}: ${(cause as Error).message}`);
  } finally {
    boot.close();
  }
}

/** The SQLite URI that opens `file` through the shim, checksummed. */
export function checksummedUri(file: string): string {
  // In a URI's path `%`, `?` and `#` are special; everything else is taken as it is.
  const encoded = path.resolve(file).replace(/[%?#]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
  return `file:${encoded}?vfs=${checksumVfsName}&${checksumVfsName}=1`;
}

/**
 * Opens an index file through the shim. A new (absent or empty) file gets 8 reserved bytes
 * per page before anything is written; stale `-wal`/`-shm` files of an absent one go first,
 * so they cannot be replayed into it.
 */
export function openChecksummed(file: string, options: { readonly?: boolean; existing?: boolean } = {}): Database {
  ensureChecksumVfs(path.dirname(path.resolve(file)));
  // `existing`: a second writable connection to an index another one has open (the
  // checkpointer): never created, never treated as fresh (that would remove the live WAL).
  const fresh = !options.readonly && !options.existing && (!fs.existsSync(file) || fs.statSync(file).size === 0);
  if (fresh) for (const suffix of ["-wal", "-shm"]) fs.rmSync(file + suffix, { force: true });
  const create = options.existing ? 0 : SQLITE_OPEN_CREATE;
  const flags = SQLITE_OPEN_URI | (options.readonly ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | create);
  const db = new Database(checksummedUri(file), flags);
  if (fresh) {
    const rc = db.fileControl(SQLITE_FCNTL_RESERVE_BYTES, pageChecksumBytes);
    if (rc !== 0) {
      db.close();
      throw new StemeError("index_open_failed", `open index ${file}: reserving page checksum bytes failed (SQLite ${rc})`);
    }
  }
  return db;
}

export interface PageScan {
  /** Pages read. */
  pages: number;
  /** Pages whose checksum does not match (a torn last page counts as one). */
  bad: number;
  /** The first failing page number, 0 when none. */
  firstBad: number;
}

/** One of the shim's own file controls on the file behind `db`: `n` 64-bit integers back. */
function shimFileControl(db: Database, op: number, n: number, what: string): BigInt64Array {
  const out = new BigInt64Array(n);
  const rc = db.fileControl(op, out);
  if (rc !== 0) throw new Error(`${what}: SQLite result code ${rc}`);
  return out;
}

/** Reads and verifies every page of the database file behind `db` (not the WAL). */
export function scanPages(db: Database): PageScan {
  const out = shimFileControl(db, fcntlScanPages, 3, "page scan");
  return { pages: Number(out[0]), bad: Number(out[1]), firstBad: Number(out[2]) };
}

/**
 * How the shim computes its CRC-64 in this process: with carry-less multiplication (x86-64
 * CPUs with CLMUL, SSSE3 and SSE4.1) or the portable slicing-by-8 (elsewhere, or with
 * STEMEDB_CKSM_PORTABLE set before the shim loads). Both give the same checksums.
 */
export function checksumImplementation(db: Database): "clmul" | "portable" {
  return shimFileControl(db, fcntlImplementation, 1, "checksum implementation")[0] === 1n ? "clmul" : "portable";
}
