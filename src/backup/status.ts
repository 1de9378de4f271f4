/**
 * `<data-dir>/backup-status.json`: when the last backup, verification and archival pass ran
 * and how they went, written by `stemedb backup`, `stemedb verify --backup … --data-dir`,
 * `stemedb archive` and the server's own snapshots and archival, read by the server at each
 * metrics scrape — so "the backup is two days old" and "the last verify failed" can page
 * someone even though the timers run outside the server.
 */
import fs from "node:fs";
import path from "node:path";
import { writeFileDurable } from "../store/datadir.ts";

export interface BackupStatus {
  last_backup?: { at: string; dir: string; lsn: number };
  last_verify?: { at: string; dir: string; ok: boolean; deep: boolean };
  last_archive?: { at: string; dir: string; lsn: number };
}

const fileName = "backup-status.json";

export function readBackupStatus(dataDir: string): BackupStatus {
  try {
    return JSON.parse(fs.readFileSync(path.join(dataDir, fileName), "utf8")) as BackupStatus;
  } catch {
    return {};
  }
}

export function recordBackupStatus(dataDir: string, update: BackupStatus): void {
  const next = { ...readBackupStatus(dataDir), ...update };
  writeFileDurable(path.join(dataDir, fileName), `${JSON.stringify(next, null, 2)}\n`, 0o644);
}
