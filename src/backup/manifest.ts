/**
 * A backup directory (docs/STORAGE.md#backups, §10):
 *
 *     <backup>/
 *       manifest.json      written last: its presence means the backup is complete
 *       meta.json, authorities.json, node.key (0600), keys.json (0600, if any)
 *       log/NNNNNNNNNN.seg the log up to the backup's LSN: sealed segments whole, the last one
 *                          cut after the frame holding that LSN
 *       index.sqlite       the index as of `index_lsn` ≤ `lsn` (SQLite `VACUUM INTO`, an
 *                          online, consistent copy); a restore replays the log past it
 *       audit.sqlite       the query audit trail, if the node keeps one
 *
 * The manifest:
 *
 *     {"kind": "stemedb-backup", "version": 1, "format_version": 1, "node_id", "created_at",
 *      "lsn", "index_lsn", "records", "merkle_root",
 *      "files": [{"path", "bytes", "blake3"}]}
 *
 * `records` is the number of log records (= `lsn`: LSNs start at 1 and have no gaps),
 * `merkle_root` the root over every record id (src/crypto/merkle.ts) — the same value
 * `stemedb root` prints for the data dir at that LSN. Every file is listed with its size and
 * BLAKE3-256, so one flipped byte anywhere is found. A backup holds the node's private key:
 * keep it as safe as the data directory.
 */
import fs from "node:fs";
import path from "node:path";
import { StemeError } from "../core/errors.ts";

export const backupManifestName = "manifest.json";
export const backupVersion = 1;

export interface BackupFile {
  /** Relative to the backup directory, `/`-separated. */
  path: string;
  bytes: number;
  blake3: string;
}

export interface BackupManifest {
  kind: "stemedb-backup";
  version: number;
  format_version: number;
  node_id: string;
  created_at: string;
  lsn: number;
  index_lsn: number;
  records: number;
  merkle_root: string;
  files: BackupFile[];
}

/** Reads and shape-checks a manifest; a missing or malformed one is a `backup_invalid` error. */
export function readManifest(dir: string): BackupManifest {
  const file = path.join(dir, backupManifestName);
  let text: string;
  try {
    text = fs.readFileSync(file, "utf8");
  } catch {
    throw new StemeError("backup_invalid", `${file}: no manifest — not a backup, or one that never finished`);
  }
  let m: BackupManifest;
  try {
    m = JSON.parse(text) as BackupManifest;
  } catch (err) {
    throw new StemeError("backup_invalid", `${file}: the manifest is not JSON (${(err as Error).message}); truncated?`);
  }
  const bad = (what: string) => new StemeError("backup_invalid", `${file}: ${what}`);
  if (m?.kind !== "stemedb-backup") throw bad('"kind" is not "stemedb-backup"');
  if (m.version !== backupVersion) throw bad(`version ${m.version}; this build reads ${backupVersion}`);
  for (const k of ["lsn", "index_lsn", "records"] as const)
    if (!Number.isSafeInteger(m[k]) || m[k] < 0) throw bad(`"${k}" is not a count`);
  if (typeof m.merkle_root !== "string" || !/^[0-9a-f]{64}$/.test(m.merkle_root)) throw bad('"merkle_root" is not 64 hex digits');
  if (!Array.isArray(m.files)) throw bad('"files" is not a list');
  for (const f of m.files)
    if (
      typeof f?.path !== "string" ||
      f.path.includes("..") ||
      path.isAbsolute(f.path) ||
      !Number.isSafeInteger(f.bytes) ||
      typeof f.blake3 !== "string"
    )
      throw bad(`a malformed file entry: ${JSON.stringify(f).slice(0, 200)}`);
  return m;
}
