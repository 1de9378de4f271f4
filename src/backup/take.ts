/**
 * Taking a backup while writes continue (format: manifest.ts).
 *
 * Consistency comes from the log being append-only: a backup is the log cut at one LSN, plus
 * an index no newer than that LSN. The order is what makes it safe without stopping writers:
 *
 * 1. the index is copied first (SQLite `VACUUM INTO`: a consistent snapshot from a read
 *    transaction, while the server keeps writing), recording its checkpoint `index_lsn`;
 * 2. the target LSN is fixed next — the durable end of the log (from a running server), or the
 *    last whole frame on disk (from the shell) — so `index_lsn` ≤ `lsn`;
 * 3. segments are copied in order, sealed ones whole, the last cut just after the target
 *    frame; frames past it that arrive meanwhile are simply not copied;
 * 4. every file is fsync'd and hashed at once (BLAKE3, on worker threads) and the manifest written last,
 *    so a backup that was interrupted has no manifest and is never mistaken for a good one.
 *
 * The data directory is only read; no lock is taken, so `stemedb backup` runs beside a server.
 */
import { Database } from "bun:sqlite";
import fs from "node:fs";
import path from "node:path";
import { invariant, StemeError } from "../core/errors.ts";
import { workerUrl } from "../core/worker-url.ts";
import { recordId } from "../crypto/hash.ts";
import { openChecksummed } from "../index/checksum-vfs.ts";
import { indexDamaged, isSqliteDamage } from "../index/damage.ts";
import { headerPageBytes, sealPage } from "../index/page-checksum.ts";
import { lastWholeLsn, listSegmentFiles, logDirName, readSegmentHeader, type SegmentFile, SegmentImage } from "../log/index.ts";
import { writeFileDurable } from "../store/datadir.ts";
import { HashPool } from "./hash-pool.ts";
import { type BackupFile, type BackupManifest, backupManifestName, backupVersion } from "./manifest.ts";

export interface BackupOptions {
  dataDir: string;
  outDir: string;
  /**
   * The LSN to back up to, asked after the index is copied (a running server answers its
   * durable end); default: the last whole frame on disk.
   */
  lsn?: () => number;
  onProgress?: (doneBytes: number, totalBytes: number) => void;
  now?: () => number;
}

export interface BackupResult {
  manifest: BackupManifest;
  bytes: number;
  ms: number;
}

const smallFiles: Array<[string, number]> = [
  ["meta.json", 0o644],
  ["authorities.json", 0o644],
  ["node.key", 0o600],
  ["keys.json", 0o600],
];

export async function takeBackup(options: BackupOptions): Promise<BackupResult> {
  const started = performance.now();
  const { dataDir, outDir } = options;
  if (!fs.existsSync(path.join(dataDir, "meta.json")))
    throw new StemeError("not_initialized", `${dataDir} is not a StemeDB data directory`);
  if (fs.existsSync(outDir) && fs.readdirSync(outDir).length > 0)
    throw new StemeError("exists", `${outDir} exists and is not empty; a backup goes into a new directory`);
  fs.mkdirSync(path.join(outDir, logDirName), { recursive: true, mode: 0o750 });

  const indexLsn = snapshotSqlite(path.join(dataDir, "index.sqlite"), path.join(outDir, "index.sqlite"), true);
  snapshotSqlite(path.join(dataDir, "audit.sqlite"), path.join(outDir, "audit.sqlite"), false);
  const logDir = path.join(dataDir, logDirName);
  const lsn = options.lsn ? options.lsn() : lastWholeLsn(logDir);
  if (lsn < indexLsn) throw new StemeError("backup_failed", `the index (LSN ${indexLsn}) is ahead of the log (LSN ${lsn})`);

  const ids = indexIds(path.join(outDir, "index.sqlite"), indexLsn);
  // The index's ids (nearly all of them) go to a worker that sorts and hashes them into the
  // tree's leaves while this thread copies the log; the tail's ids join at the end.
  const merkle = new MerkleOffThread(ids);
  const tailFrom = ids.length;
  let copied: number;
  try {
    copied = copyLog(logDir, path.join(outDir, logDirName), lsn, indexLsn, ids, options.onProgress);
  } catch (err) {
    merkle.close();
    throw err;
  }
  for (const [name, mode] of smallFiles) {
    const from = path.join(dataDir, name);
    if (fs.existsSync(from)) writeFileDurable(path.join(outDir, name), fs.readFileSync(from, "utf8"), mode);
  }
  if (ids.length !== lsn) throw new StemeError("backup_failed", `collected ${ids.length} ids for ${lsn} records`);

  // Hashing (b3sum processes or worker threads) and syncing (libuv's pool) run while this
  // thread computes the Merkle root.
  const pending = Promise.all([hashTree(outDir), syncTree(outDir)]);
  const root = await merkle.finish(ids.slice(tailFrom));
  const [files] = await pending;
  const meta = JSON.parse(fs.readFileSync(path.join(dataDir, "meta.json"), "utf8")) as {
    node_id: string;
    format_version: number;
  };
  const manifest: BackupManifest = {
    kind: "stemedb-backup",
    version: backupVersion,
    format_version: meta.format_version,
    node_id: meta.node_id,
    created_at: new Date((options.now ?? Date.now)()).toISOString(),
    lsn,
    index_lsn: indexLsn,
    records: lsn,
    merkle_root: root,
    files,
  };
  writeFileDurable(path.join(outDir, backupManifestName), `${JSON.stringify(manifest, null, 2)}\n`, 0o644);
  return {
    manifest,
    bytes: copied + files.reduce((s, f) => s + (f.path.startsWith("log/") ? 0 : f.bytes), 0),
    ms: performance.now() - started,
  };
}

/**
 * A consistent copy of a live SQLite database, page by page (sqlite3_serialize through a
 * read-only connection: one snapshot, WAL included). `VACUUM INTO` would also be consistent
 * but rebuilds every table and index, about 20× slower. Returns the copy's checkpoint LSN (0
 * when absent). The copy is held in memory once: an index of a million records is ~300 MB.
 */
function snapshotSqlite(from: string, to: string, checksummed: boolean): number {
  if (!fs.existsSync(from)) return 0;
  // The index is read through its page-checksum shim: a damaged page fails the backup rather
  // than being copied into it.
  const db = checksummed ? openChecksummed(from, { readonly: true }) : new Database(from, { readonly: true });
  let image: Uint8Array;
  try {
    image = db.serialize();
  } catch (err) {
    if (checksummed && isSqliteDamage(err)) throw indexDamaged(`copying ${from} for a backup: ${err.message}`, err);
    throw err;
  } finally {
    db.close();
  }
  // The image keeps the WAL-mode marker; SQLite opens it as WAL with an empty log. Mark it as
  // a plain rollback-journal file (header bytes 18–19 = 1) so a read-only open leaves no files.
  image[18] = 1;
  image[19] = 1;
  // Page 1 changed, and pages that came from the WAL carry stale checksums: seal every page.
  if (checksummed) sealPages(image);
  const fd = fs.openSync(to, "wx", 0o640);
  try {
    fs.writeSync(fd, image);
  } finally {
    fs.closeSync(fd);
  }
  const copy = new Database(to, { readonly: true });
  try {
    const hasMeta = copy.query("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'meta'").get();
    if (!hasMeta) return 0;
    const row = copy.query("SELECT value FROM meta WHERE key = 'checkpoint_lsn'").get() as { value: number } | null;
    return row?.value ?? 0;
  } finally {
    copy.close();
  }
}

function sealPages(image: Uint8Array): void {
  const pageBytes = headerPageBytes(image);
  invariant(pageBytes > 0, "an SQLite image states its page size");
  for (let at = 0; at + pageBytes <= image.length; at += pageBytes) sealPage(image.subarray(at, at + pageBytes));
}

function indexIds(indexPath: string, upTo: number): Uint8Array[] {
  if (!fs.existsSync(indexPath) || upTo === 0) return [];
  const db = new Database(indexPath, { readonly: true });
  try {
    return (db.query("SELECT id FROM records WHERE lsn <= ? ORDER BY lsn").all(upTo) as Array<{ id: Uint8Array }>).map(
      (r) => r.id,
    );
  } finally {
    db.close();
  }
}

/**
 * Copies the log up to `lsn` (made durable later by syncTree); collects the ids of records past
 * `indexLsn` (the index copy has the rest). Returns the bytes copied.
 */
function copyLog(
  from: string,
  to: string,
  lsn: number,
  indexLsn: number,
  ids: Uint8Array[],
  onProgress?: (done: number, total: number) => void,
): number {
  const files = listSegmentFiles(from);
  const total = files.reduce((s, f) => s + fs.statSync(f.path).size, 0);
  let done = 0;
  for (const file of files) {
    const image = SegmentImage.read(file);
    if ("error" in image) {
      if (file === files.at(-1)) break; // torn while being created: holds no record
      throw new StemeError("backup_failed", `${file.path}: ${image.error}`, { hint: "run stemedb verify" });
    }
    const { bytes } = image;
    if (image.firstLsn > lsn) break;
    // A sealed segment that ends before the index's checkpoint and before the target is copied
    // whole without walking its frames (the index has its ids; verify checks its framing).
    const nextFirst = nextFirstLsn(files, file);
    if (nextFirst !== null && nextFirst - 1 <= indexLsn && nextFirst - 1 <= lsn) {
      writeWhole(path.join(to, file.name), bytes, bytes.length);
      done += bytes.length;
      onProgress?.(done, total);
      continue;
    }
    const walk = image.walk((offset, frameLsn, frameEnd) => {
      if (frameLsn > lsn) return false;
      if (frameLsn > indexLsn) ids.push(recordId(image.entry(offset, frameLsn, frameEnd).body));
    });
    if (walk.damage && walk.lastLsn < lsn && file !== files.at(-1))
      throw new StemeError("backup_failed", `${file.path} at byte ${walk.damage.offset}: ${walk.damage.message}`, {
        hint: "run stemedb verify",
      });
    writeWhole(path.join(to, file.name), bytes, walk.goodEnd);
    done += bytes.length;
    onProgress?.(done, total);
    if (walk.lastLsn >= lsn) break;
  }
  onProgress?.(total, total);
  return done;
}

/** The backup's Merkle root on a worker thread (merkle-worker.ts). */
class MerkleOffThread {
  private readonly worker: Worker;
  private readonly answer: Promise<string>;

  constructor(ids: readonly Uint8Array[]) {
    this.worker = new Worker(workerUrl(import.meta.url, "backup/merkle-worker.ts"));
    this.answer = new Promise((resolve, reject) => {
      this.worker.onmessage = (event: MessageEvent<{ ok: boolean; root?: string; error?: string }>) =>
        event.data.ok
          ? resolve(event.data.root as string)
          : reject(new StemeError("backup_failed", `Merkle root: ${event.data.error}`));
      this.worker.onerror = (event) => reject(new StemeError("backup_failed", `Merkle root worker: ${event.message}`));
    });
    const packed = pack(ids);
    this.worker.postMessage({ ids: packed }, [packed.buffer as ArrayBuffer]);
  }

  async finish(extra: readonly Uint8Array[]): Promise<string> {
    const packed = pack(extra);
    this.worker.postMessage({ extra: packed }, [packed.buffer as ArrayBuffer]);
    try {
      return await this.answer;
    } finally {
      this.worker.terminate();
    }
  }

  close(): void {
    this.worker.terminate();
  }
}

function pack(ids: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(ids.length * 32);
  for (let i = 0; i < ids.length; i++) out.set(ids[i] as Uint8Array, i * 32);
  return out;
}

/** Writes a new file into the page cache; `syncTree` makes it durable with the rest. */
function writeWhole(file: string, bytes: Uint8Array, length: number): void {
  const fd = fs.openSync(file, "wx", 0o640);
  try {
    fs.writeSync(fd, bytes, 0, length);
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * fsyncs every file under `dir`, then the directories, all at once on libuv's thread pool:
 * one file after another, each sync waits for the disk in turn (half a backup's time in a
 * profile); together, the disk writes them while the hashing runs.
 */
async function syncTree(dir: string): Promise<void> {
  const files: string[] = [];
  const dirs: string[] = [dir];
  for (let i = 0; i < dirs.length; i++)
    for (const e of fs.readdirSync(dirs[i] as string, { withFileTypes: true }))
      (e.isDirectory() ? dirs : files).push(path.join(dirs[i] as string, e.name));
  const sync = async (p: string) => {
    const handle = await fs.promises.open(p, "r");
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  };
  await Promise.all(files.map(sync));
  await Promise.all(dirs.map(sync));
}

/** The first LSN of the segment after `file`, read from its header; null for the last. */
function nextFirstLsn(files: readonly SegmentFile[], file: SegmentFile): number | null {
  const next = files[files.indexOf(file) + 1];
  if (!next) return null;
  const decoded = readSegmentHeader(next);
  return "error" in decoded ? null : decoded.header.firstLsn;
}

/** Every file under `dir` (but the manifest) with its size and BLAKE3, in path order. */
export async function hashTree(dir: string): Promise<BackupFile[]> {
  const paths: string[] = [];
  const walk = (rel: string) => {
    for (const name of fs.readdirSync(path.join(dir, rel)).sort()) {
      const r = rel ? `${rel}/${name}` : name;
      if (r === backupManifestName) continue;
      if (fs.statSync(path.join(dir, r)).isDirectory()) walk(r);
      else paths.push(r);
    }
  };
  walk("");
  const pool = new HashPool();
  try {
    const hashes = await Promise.all(paths.map((p) => pool.hash(path.join(dir, p))));
    return paths.map((p, i) => ({
      path: p,
      bytes: (hashes[i] as { bytes: number }).bytes,
      blake3: (hashes[i] as { hex: string }).hex,
    }));
  } finally {
    pool.close();
  }
}
