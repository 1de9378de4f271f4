/**
 * Start-up recovery: check every segment, cut a torn tail, refuse anything else.
 *
 * A crash can only damage what was being written: the end of the last segment (a batch whose
 * write or fdatasync did not finish, and so was never acknowledged) or a segment file being
 * created. Those are cut or removed, with one warn line each. Damage anywhere else means the
 * disk or an operator changed acknowledged data; cutting it would silently drop good records,
 * so `open` throws `log_corrupt` and leaves every byte as it was (after etcd's WAL repair
 * policy and PostgreSQL's refusal to start on a damaged WAL before its end).
 */
import * as fs from "node:fs";
import type { Logger } from "../core/logger.ts";
import type { Metrics } from "../metrics/index.ts";
import { syncDir } from "./disk.ts";
import { decodeSegmentHeader, segmentHeaderBytes } from "./format.ts";
import { findFrameAfter, logCorruptError, walkFrames } from "./reader.ts";
import { cutSegmentAt, listSegmentFiles, type SegmentFile } from "./segment.ts";

export interface RecoveredSegment {
  file: SegmentFile;
  firstLsn: number;
  /** `firstLsn - 1` when the segment holds no record. */
  lastLsn: number;
  bytes: number;
}

export interface Recovery {
  segments: RecoveredSegment[];
  lastLsn: number;
  outcome: "clean" | "torn_tail";
}

export function recoverLog(dir: string, logger: Logger, metrics?: Metrics): Recovery {
  try {
    const recovery = recoverSegments(dir, logger, metrics);
    metrics?.walRecoveriesTotal.inc({ outcome: recovery.outcome });
    return recovery;
  } catch (err) {
    metrics?.walRecoveriesTotal.inc({ outcome: "corrupt" });
    throw err;
  }
}

function recoverSegments(dir: string, logger: Logger, metrics?: Metrics): Recovery {
  const files = listSegmentFiles(dir);
  checkNumbering(files);
  let outcome: Recovery["outcome"] = removeUnfinishedSegment(dir, files, logger) ? "torn_tail" : "clean";
  const segments: RecoveredSegment[] = [];
  let nextLsn = 1;
  for (const [i, file] of files.entries()) {
    const last = i === files.length - 1;
    const segment = readSegment(file, last, i === 0 ? null : nextLsn);
    const walk = walkFrames(segment.bytes, segmentHeaderBytes, segment.firstLsn);
    let end = segment.bytes.length;
    if (walk.damage) {
      const { offset, message } = walk.damage;
      if (!last) throw logCorruptError(file.path, offset, `${message} in a sealed segment`);
      const goodAt = findFrameAfter(segment.bytes, offset + 1, walk.lastLsn + 1);
      if (goodAt >= 0) throw logCorruptError(file.path, offset, `${message}, followed by a good frame at byte ${goodAt}`);
      const dropped = cutSegmentAt(file.path, walk.goodEnd);
      logger.warn("log: cut torn tail", { segment: file.name, offset: walk.goodEnd, bytes_dropped: dropped, reason: message });
      metrics?.walRecoveryTruncatedBytesTotal.inc(dropped);
      outcome = "torn_tail";
      end = walk.goodEnd;
    }
    // Not the mapping: kept, every page the walk touched would stay in the resident set (the
    // log reads records with pread); dropped, it is unmapped when collected.
    segments.push({ file, firstLsn: segment.firstLsn, lastLsn: walk.lastLsn, bytes: end });
    nextLsn = walk.lastLsn + 1;
  }
  return { segments, lastLsn: nextLsn - 1, outcome };
}

/** Segment numbers must run without gaps: a missing file is missing records. */
function checkNumbering(files: SegmentFile[]): void {
  for (let i = 1; i < files.length; i++) {
    const prev = files[i - 1] as SegmentFile;
    const file = files[i] as SegmentFile;
    if (file.segment !== prev.segment + 1) {
      throw logCorruptError(file.path, 0, `segment ${file.segment} follows segment ${prev.segment}: segment files are missing`);
    }
  }
}

/**
 * A last segment no longer than its header, whose header is short or invalid, is a crash
 * while it was being created: it holds no records, so it is removed (and made again on open).
 */
function removeUnfinishedSegment(dir: string, files: SegmentFile[], logger: Logger): boolean {
  const last = files[files.length - 1];
  if (!last) return false;
  const size = fs.statSync(last.path).size;
  if (size > segmentHeaderBytes) return false;
  if (size === segmentHeaderBytes && "header" in decodeSegmentHeader(fs.readFileSync(last.path))) return false;
  fs.unlinkSync(last.path);
  syncDir(dir);
  files.pop();
  logger.warn("log: removed unfinished segment", { segment: last.name, bytes_dropped: size });
  return true;
}

/**
 * Reads one segment and checks its header. Sealed segments are mmapped for the walk (they are
 * never cut); the last one is read into memory because recovery may cut it.
 */
function readSegment(file: SegmentFile, last: boolean, expectedFirstLsn: number | null): { bytes: Uint8Array; firstLsn: number } {
  const size = fs.statSync(file.path).size;
  if (size < segmentHeaderBytes) throw logCorruptError(file.path, 0, `segment is ${size} bytes, shorter than its header`);
  const bytes = last ? new Uint8Array(fs.readFileSync(file.path)) : Bun.mmap(file.path);
  const decoded = decodeSegmentHeader(bytes);
  if ("error" in decoded) throw logCorruptError(file.path, 0, decoded.error);
  const { header } = decoded;
  if (header.segment !== file.segment)
    throw logCorruptError(file.path, 16, `header says segment ${header.segment}, file name says ${file.segment}`);
  const expected = expectedFirstLsn ?? (file.segment === 1 ? 1 : header.firstLsn);
  if (header.firstLsn !== expected)
    throw logCorruptError(file.path, 24, `header first LSN ${header.firstLsn}, expected ${expected}`);
  return { bytes, firstLsn: header.firstLsn };
}
