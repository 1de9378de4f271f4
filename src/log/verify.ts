/**
 * `verifyLog`: a read-only check of every segment header and frame, for `stemedb verify`.
 * It never modifies a byte (files are read with readFile, not mapped or opened for writing)
 * and, unlike recovery, does not stop at the first problem: it reports every one it can see.
 */
import * as fs from "node:fs";
import { resolve } from "node:path";
import { decodeFrame, decodeSegmentHeader, type LogEntry, segmentHeaderBytes } from "./format.ts";
import { findFrameAfter, walkFrames } from "./reader.ts";
import { listSegmentFiles, type SegmentFile } from "./segment.ts";

export interface VerifyProblem {
  file: string;
  offset: number;
  message: string;
}

export interface VerifyReport {
  /** False when anything but a torn tail was found. */
  ok: boolean;
  segments: number;
  records: number;
  lastLsn: number;
  bytes: number;
  problems: VerifyProblem[];
  /** A torn tail at the end of the last segment: not damage, `open` cuts it. */
  tornTail?: { file: string; offset: number; bytes: number };
}

export interface VerifyOptions {
  /** Called for every good record; returns an error message or null (e.g. id and signature checks). */
  deep?: (entry: LogEntry) => string | null;
}

export function verifyLog(dir: string, options: VerifyOptions = {}): VerifyReport {
  const logDir = resolve(dir);
  const report: VerifyReport = { ok: true, segments: 0, records: 0, lastLsn: 0, bytes: 0, problems: [] };
  if (!fs.existsSync(logDir)) {
    report.problems.push({ file: logDir, offset: 0, message: "log directory does not exist" });
    report.ok = false;
    return report;
  }
  const files = listSegmentFiles(logDir);
  let nextLsn: number | null = null;
  for (const [i, file] of files.entries()) {
    const prev = files[i - 1];
    if (prev && file.segment !== prev.segment + 1) {
      report.problems.push({
        file: file.path,
        offset: 0,
        message: `segment ${file.segment} follows segment ${prev.segment}: segment files are missing`,
      });
      nextLsn = null;
    }
    nextLsn = verifySegment(file, i === files.length - 1, nextLsn, report, options);
  }
  report.ok = report.problems.length === 0;
  return report;
}

/** Checks one segment into `report`; returns the LSN the next segment should start at, or null if unknown. */
function verifySegment(
  file: SegmentFile,
  last: boolean,
  expectedLsn: number | null,
  report: VerifyReport,
  options: VerifyOptions,
): number | null {
  const bytes = new Uint8Array(fs.readFileSync(file.path));
  const problem = (offset: number, message: string) => report.problems.push({ file: file.path, offset, message });
  report.segments++;
  report.bytes += bytes.length;
  const decoded = decodeSegmentHeader(bytes);
  if ("error" in decoded) {
    // A last segment no longer than a header is a crash during its creation; open removes it.
    if (last && bytes.length <= segmentHeaderBytes) report.tornTail = { file: file.path, offset: 0, bytes: bytes.length };
    else problem(0, decoded.error);
    return null;
  }
  const { header } = decoded;
  if (header.segment !== file.segment) problem(16, `header says segment ${header.segment}, file name says ${file.segment}`);
  const expected = expectedLsn ?? (file.segment === 1 ? 1 : header.firstLsn);
  if (header.firstLsn !== expected) problem(24, `header first LSN ${header.firstLsn}, expected ${expected}`);
  const walk = walkFrames(bytes, segmentHeaderBytes, header.firstLsn, (offset, lsn, end) => {
    if (!options.deep) return;
    const message = options.deep(decodeFrame(bytes, offset, { lsn: lsn, end }, file.segment));
    if (message !== null) problem(offset, message);
  });
  report.records += walk.records;
  report.lastLsn = Math.max(report.lastLsn, walk.lastLsn);
  if (!walk.damage) return walk.lastLsn + 1;
  const { offset, message } = walk.damage;
  const goodAt = findFrameAfter(bytes, offset + 1, walk.lastLsn + 1);
  if (!last) problem(offset, `${message} in a sealed segment`);
  else if (goodAt >= 0) problem(offset, `${message}, followed by a good frame at byte ${goodAt}`);
  else report.tornTail = { file: file.path, offset: walk.goodEnd, bytes: bytes.length - walk.goodEnd };
  return null;
}
