/**
 * Restoring a backup, optionally rolled forward from an archive and cut at a point in time
 * (`stemedb restore --from DIR --data-dir NEW [--archive-dir A] [--target-lsn N |
 * --target-time T]`).
 *
 * The backup is verified first and refused if anything is wrong. Its log is copied, then
 * archived segments past it (archive.ts) extend it, then the log is cut just after the target:
 * LSN N, or the last record the node received at or before time T (`recorded_at`, the node's
 * clock — point-in-time recovery is about the node's history, not the times agents state).
 * The index is kept when it is not ahead of the cut (the server replays the log past it at
 * start) and dropped otherwise (the server rebuilds it). The result is a data directory the
 * server starts on, holding exactly the records up to the target.
 */
import fs from "node:fs";
import path from "node:path";
import { StemeError } from "../core/errors.ts";
import { cutSegmentAt, listSegmentFiles, logDirName, SegmentImage, segmentFileName } from "../log/index.ts";
import { writeFileDurable } from "../store/datadir.ts";
import { archiveLogDir, archiveTailSuffix } from "./archive.ts";
import { type BackupManifest, readManifest } from "./manifest.ts";
import { verifyBackup } from "./verify.ts";

export interface RestoreOptions {
  from: string;
  dataDir: string;
  archiveDir?: string;
  targetLsn?: number;
  /** ms since the epoch: keep records received at or before this time. */
  targetTime?: number;
}

export interface RestoreResult {
  lsn: number;
  records: number;
  /** Segments taken from the archive beyond the backup. */
  archivedSegments: number;
  indexKept: boolean;
}

export async function restoreBackup(o: RestoreOptions): Promise<RestoreResult> {
  if (o.targetLsn !== undefined && o.targetTime !== undefined)
    throw new StemeError("invalid_request", "give --target-lsn or --target-time, not both");
  const report = await verifyBackup(o.from);
  if (!report.ok) {
    const p = report.problems[0];
    throw new StemeError(
      "backup_invalid",
      `refusing to restore: ${p?.file}${p?.offset !== undefined ? ` at byte ${p.offset}` : ""}: ${p?.message}`,
      {
        hint: `stemedb verify --backup ${o.from} lists every problem`,
      },
    );
  }
  const manifest = readManifest(o.from);
  if (fs.existsSync(o.dataDir) && fs.readdirSync(o.dataDir).length > 0)
    throw new StemeError("exists", `${o.dataDir} exists and is not empty; restore into a new directory`);
  try {
    return restoreInto(o, manifest);
  } catch (err) {
    // Nothing half-written: the directory was new or empty, so it goes back to empty.
    for (const name of fs.existsSync(o.dataDir) ? fs.readdirSync(o.dataDir) : [])
      fs.rmSync(path.join(o.dataDir, name), { recursive: true, force: true });
    throw err;
  }
}

function restoreInto(o: RestoreOptions, manifest: BackupManifest): RestoreResult {
  const logDir = path.join(o.dataDir, logDirName);
  fs.mkdirSync(logDir, { recursive: true, mode: 0o750 });

  for (const f of manifest.files) {
    if (f.path.startsWith("log/")) fs.copyFileSync(path.join(o.from, f.path), path.join(o.dataDir, f.path));
  }
  const archived = o.archiveDir ? rollForward(o.archiveDir, logDir) : 0;
  const end = cutLog(logDir, o);
  let indexKept = false;
  // A node that never served has no index yet, nor has its backup: the server builds one at start.
  if (manifest.index_lsn <= end && fs.existsSync(path.join(o.from, "index.sqlite"))) {
    fs.copyFileSync(path.join(o.from, "index.sqlite"), path.join(o.dataDir, "index.sqlite"));
    indexKept = true;
  }
  if (fs.existsSync(path.join(o.from, "audit.sqlite")))
    fs.copyFileSync(path.join(o.from, "audit.sqlite"), path.join(o.dataDir, "audit.sqlite"));
  for (const [name, mode] of [
    ["authorities.json", 0o644],
    ["node.key", 0o600],
    ["keys.json", 0o600],
    ["meta.json", 0o644], // last: its presence means the directory is complete
  ] as const) {
    const from = path.join(o.from, name);
    if (fs.existsSync(from)) writeFileDurable(path.join(o.dataDir, name), fs.readFileSync(from, "utf8"), mode);
  }
  return { lsn: end, records: end, archivedSegments: archived, indexKept };
}

/**
 * Copies archived segments that extend the restored log: the archive's copy of the last
 * restored segment (it is longer: the backup cut it), then every later one, then the newest
 * archived tail. Stops at the first gap in segment numbers.
 */
function rollForward(archiveDir: string, logDir: string): number {
  const dir = archiveLogDir(archiveDir);
  if (!fs.existsSync(dir)) throw new StemeError("not_found", `${dir}: no archive there`);
  const have = listSegmentFiles(logDir);
  let next = have.at(-1)?.segment ?? 1;
  let copied = 0;
  for (const f of listSegmentFiles(dir)) {
    if (f.segment < next) continue;
    if (f.segment > next) break;
    fs.copyFileSync(f.path, path.join(logDir, f.name));
    copied++;
    next++;
  }
  const tail = path.join(dir, `${segmentFileName(next)}${archiveTailSuffix}`);
  const lastHave = path.join(logDir, segmentFileName(next));
  if (fs.existsSync(tail) && (!fs.existsSync(lastHave) || fs.statSync(tail).size > fs.statSync(lastHave).size)) {
    fs.copyFileSync(tail, lastHave);
    copied++;
  }
  return copied;
}

/** Cuts the log after the target; returns the last LSN kept. Refuses a target beyond the log. */
function cutLog(logDir: string, o: RestoreOptions): number {
  const files = listSegmentFiles(logDir);
  let last = 0;
  let cut: { file: string; offset: number } | null = null;
  const drop: string[] = [];
  for (const f of files) {
    if (cut) {
      drop.push(f.path);
      continue;
    }
    const image = SegmentImage.read(f);
    if ("error" in image) throw new StemeError("backup_invalid", `${f.path}: ${image.error}`);
    const walk = image.walk((offset, lsn, end) => {
      if (o.targetLsn !== undefined && lsn > o.targetLsn) return false;
      if (o.targetTime !== undefined && image.entry(offset, lsn, end).recordedAtMs > o.targetTime) return false;
    });
    if (walk.records > 0) last = walk.lastLsn;
    if (walk.stopped || walk.damage) cut = { file: f.path, offset: walk.goodEnd };
  }
  if (o.targetLsn !== undefined && last < o.targetLsn)
    throw new StemeError(
      "target_unreachable",
      `the backup${o.archiveDir ? " and the archive" : ""} ${o.archiveDir ? "reach" : "reaches"} LSN ${last}; target LSN ${o.targetLsn} is beyond`,
      {
        hint: "give --archive-dir with the archive that holds later segments, or an earlier target",
      },
    );
  if (cut) cutSegmentAt(cut.file, cut.offset);
  for (const p of drop) fs.rmSync(p);
  return last;
}
