/**
 * The id table kept across a clean stop (docs/STORAGE.md#the-id-table-file), so a restart
 * reads it back (≈ 120 MB at 10M records, a fraction of a second) instead of scanning every
 * row of the records table.
 *
 * It is derived data and trusted only when everything says it is this index's table as of now:
 * the file's checksum (xxHash64, chained over the header and the arrays), its magic and version,
 * the table's own invariants (id-table.ts `checkArrays`), the index file and its WAL exactly as
 * the clean stop left them (the same inode, size, modification and change times, taken after
 * SQLite closed the index; a WAL normally goes with the close) and the index's checkpoint LSN
 * equal to the one the table was written at. Any write to the index since — a batch, a truncation, a crash, an edit, a restore
 * over it — changes its times. The file is removed when the index opens, used or not. Anything
 * amiss: the table is built from the records table, with one info line saying why.
 *
 * Layout (little-endian): magic `STEMEIDT` (8), version u32 = 1, reserved u32, capacity f64,
 * size f64, checkpoint LSN f64, the index file's inode, size, mtime and ctime (ns) u64 each,
 * the same of its WAL (zeros: none), then the arrays (tags u32 × slots, LSN low words u32 × slots, LSN high bytes u8 × slots,
 * slots = capacity + tail), then the checksum u64.
 */
import fs from "node:fs";
import { checkArrays, IdTable } from "./id-table.ts";

const magic = "STEMEIDT";
const version = 1;
const headerBytes = 104;

/** One file's identity: inode, size, modification and change times (ns); all 0 when it does not exist. */
interface StatIdentity {
  ino: bigint;
  size: bigint;
  mtimeNs: bigint;
  ctimeNs: bigint;
}

/** What identifies the index as a clean stop left it: the file and its WAL (which may outlive the close). */
export interface FileIdentity {
  main: StatIdentity;
  wal: StatIdentity;
}

function statIdentity(file: string): StatIdentity | null {
  const st = fs.statSync(file, { bigint: true, throwIfNoEntry: false });
  return st ? { ino: st.ino, size: st.size, mtimeNs: st.mtimeNs, ctimeNs: st.ctimeNs } : null;
}

const none: StatIdentity = { ino: 0n, size: 0n, mtimeNs: 0n, ctimeNs: 0n };

/**
 * The index file's identity and its WAL's, or null when the index file is missing. A WAL is
 * normally gone after a clean stop; another connection still open (a reader the stop
 * interrupted) leaves it behind, and then its identity counts too.
 */
export function fileIdentity(indexPath: string): FileIdentity | null {
  const main = statIdentity(indexPath);
  if (main === null) return null;
  const wal = statIdentity(`${indexPath}-wal`);
  return { main, wal: wal === null || wal.size === 0n ? none : wal }; // an empty WAL holds nothing
}

export function sameIdentity(a: FileIdentity, b: FileIdentity): boolean {
  const same = (x: StatIdentity, y: StatIdentity) =>
    x.ino === y.ino && x.size === y.size && x.mtimeNs === y.mtimeNs && x.ctimeNs === y.ctimeNs;
  return same(a.main, b.main) && same(a.wal, b.wal);
}

export function idTableFilePath(indexPath: string): string {
  return `${indexPath}.ids`;
}

/** What the file says it is, after its checksum and invariants held. */
export interface IdTableFileRead {
  table: IdTable;
  checkpointLsn: number;
  index: FileIdentity;
}

function checksum(parts: Uint8Array[]): bigint {
  let h = 0n;
  for (const p of parts) h = BigInt.asUintN(64, Bun.hash.xxHash64(p, h));
  return h;
}

function bytesOf(a: Uint32Array | Uint8Array): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Writes the table under a temporary name, then renames it into place. */
export function writeIdTableFile(file: string, table: IdTable, checkpointLsn: number, index: FileIdentity): void {
  const a = table.arrays();
  const header = new Uint8Array(headerBytes);
  const v = new DataView(header.buffer);
  header.set(new TextEncoder().encode(magic), 0);
  v.setUint32(8, version, true);
  v.setFloat64(16, a.capacity, true);
  v.setFloat64(24, a.size, true);
  v.setFloat64(32, checkpointLsn, true);
  [index.main, index.wal].forEach((f, i) => {
    v.setBigUint64(40 + i * 32, f.ino, true);
    v.setBigUint64(48 + i * 32, f.size, true);
    v.setBigUint64(56 + i * 32, f.mtimeNs, true);
    v.setBigUint64(64 + i * 32, f.ctimeNs, true);
  });
  const parts = [header, bytesOf(a.tags), bytesOf(a.lsnLo), bytesOf(a.lsnHi)];
  const sum = new Uint8Array(8);
  new DataView(sum.buffer).setBigUint64(0, checksum(parts), true);
  const tmp = `${file}.tmp`;
  const fd = fs.openSync(tmp, "w");
  try {
    for (const p of [...parts, sum]) fs.writeSync(fd, p);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}

/** The table in `file`, or why it cannot be used (missing, short, damaged, inconsistent). */
export function readIdTableFile(file: string): IdTableFileRead | { error: string } {
  let bytes: Uint8Array;
  try {
    const fd = fs.openSync(file, "r");
    try {
      const size = fs.fstatSync(fd).size;
      if (size < headerBytes + 8) return { error: `${size} bytes, shorter than a header` };
      bytes = new Uint8Array(size);
      for (let at = 0; at < size; ) {
        const n = fs.readSync(fd, bytes, at, size - at, at);
        if (n === 0) return { error: "short read" };
        at += n;
      }
    } finally {
      fs.closeSync(fd);
    }
  } catch (err) {
    return { error: (err as NodeJS.ErrnoException).code === "ENOENT" ? "no file" : (err as Error).message };
  }
  const v = new DataView(bytes.buffer);
  if (new TextDecoder().decode(bytes.subarray(0, 8)) !== magic) return { error: "bad magic" };
  if (v.getUint32(8, true) !== version) return { error: `version ${v.getUint32(8, true)}` };
  const capacity = v.getFloat64(16, true);
  const size = v.getFloat64(24, true);
  const slots = (bytes.length - headerBytes - 8) / 9;
  if (!Number.isInteger(slots) || !Number.isInteger(capacity) || capacity <= 0 || capacity >= slots)
    return { error: `${bytes.length} bytes do not hold a table of capacity ${capacity}` };
  const tagsAt = headerBytes;
  const loAt = tagsAt + slots * 4;
  const hiAt = loAt + slots * 4;
  const sumAt = hiAt + slots;
  const parts = [
    bytes.subarray(0, headerBytes),
    bytes.subarray(tagsAt, loAt),
    bytes.subarray(loAt, hiAt),
    bytes.subarray(hiAt, sumAt),
  ];
  if (checksum(parts) !== v.getBigUint64(sumAt, true)) return { error: "checksum mismatch" };
  const arrays = {
    capacity,
    size,
    tags: new Uint32Array(bytes.buffer, tagsAt, slots),
    lsnLo: new Uint32Array(bytes.buffer, loAt, slots),
    lsnHi: new Uint8Array(bytes.buffer, hiAt, slots),
  };
  const wrong = checkArrays(arrays);
  if (wrong !== null) return { error: `inconsistent: ${wrong}` };
  return {
    table: IdTable.fromArrays(arrays),
    checkpointLsn: v.getFloat64(32, true),
    index: {
      main: {
        ino: v.getBigUint64(40, true),
        size: v.getBigUint64(48, true),
        mtimeNs: v.getBigUint64(56, true),
        ctimeNs: v.getBigUint64(64, true),
      },
      wal: {
        ino: v.getBigUint64(72, true),
        size: v.getBigUint64(80, true),
        mtimeNs: v.getBigUint64(88, true),
        ctimeNs: v.getBigUint64(96, true),
      },
    },
  };
}
