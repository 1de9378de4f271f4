/**
 * `stemedb repair`: cut a damaged log back to its last good record.
 *
 * Recovery cuts only a torn tail, which is what a crash leaves. Damage anywhere else (a bad
 * checksum in a sealed segment, a bad header, missing segments) stops the node instead, since
 * cutting there loses records that were acknowledged. Repair is the operator's decision to do
 * that anyway — after `stemedb verify`, and when no backup has the damaged segment.
 *
 * Nothing is deleted: the bytes from the first damaged frame on, and every later segment file,
 * are moved to `<quarantineDir>` so they can still be examined or salvaged by hand. The index
 * notices at the next start (its checkpoint is past the end of the log) and drops what the
 * log no longer has.
 */
import * as fs from "node:fs";
import { basename, join, resolve } from "node:path";
import { segmentHeaderBytes } from "./format.ts";
import { listSegmentFiles } from "./segment.ts";
import { syncDir } from "./disk.ts";
import { verifyLog } from "./verify.ts";

export interface RepairPlan {
  /** Nothing to repair: the log is clean (a torn tail is left to recovery). */
  clean: boolean;
  /** The first damage found, where the log will be cut. */
  cut?: { file: string; offset: number; message: string; bytes: number };
  /** Whole segment files set aside: the damaged one when its header is bad, and all later ones. */
  setAside: string[];
}

/** What repair would do; reads only. */
export function planRepair(dir: string): RepairPlan {
  const report = verifyLog(dir);
  const first = report.problems[0];
  if (report.ok || !first) return { clean: true, setAside: [] };
  const files = listSegmentFiles(resolve(dir));
  const at = files.findIndex((f) => f.path === resolve(first.file));
  if (at < 0) return { clean: false, cut: { ...first, bytes: 0 }, setAside: [] };
  const wholeFile = first.offset < segmentHeaderBytes;
  const size = fs.statSync(first.file).size;
  return {
    clean: false,
    cut: {
      file: first.file,
      offset: wholeFile ? 0 : first.offset,
      message: first.message,
      bytes: wholeFile ? size : size - first.offset,
    },
    setAside: files.slice(wholeFile ? at : at + 1).map((f) => f.path),
  };
}

/** Carry out a plan: move the damaged bytes and later segments to `quarantineDir`, cut, sync. */
export function applyRepair(plan: RepairPlan, quarantineDir: string): void {
  if (plan.clean || !plan.cut) return;
  fs.mkdirSync(quarantineDir, { recursive: true });
  const { file, offset } = plan.cut;
  if (offset > 0) {
    // Keep the cut bytes first, durably, then shorten the segment.
    const tail = fs.readFileSync(file).subarray(offset);
    const kept = join(quarantineDir, `${basename(file)}.from-${offset}`);
    fs.writeFileSync(kept, tail);
    const fd = fs.openSync(kept, "r");
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    const segment = fs.openSync(file, "r+");
    try {
      fs.ftruncateSync(segment, offset);
      fs.fsyncSync(segment);
    } finally {
      fs.closeSync(segment);
    }
  }
  for (const path of plan.setAside) fs.renameSync(path, join(quarantineDir, basename(path)));
  syncDir(quarantineDir);
  syncDir(resolve(file, ".."));
}
