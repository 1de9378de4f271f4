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
import { StemeError } from "../core/errors.ts";
import type { Logger } from "../core/logger.ts";
import { workerUrl } from "../core/worker-url.ts";
import type { Metrics } from "../metrics/index.ts";
import { syncDir } from "./disk.ts";
import { decodeSegmentHeader, segmentHeaderBytes } from "./format.ts";
import { findFrameAfter, logCorruptError, readAt, type SegmentWalk, walkFramesChunked } from "./reader.ts";
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

export interface RecoveryOptions {
  /**
   * Sealed segments of at least this many bytes in all are walked on a worker thread
   * (recovery-worker.ts), so the caller's thread can do other start-up work meanwhile (Store
   * opens the index: its page scan). Default 256 MiB; below it the walk is not worth a thread.
   */
  workerBytesMin?: number;
}

export const recoveryWorkerBytesMin = 256 * 1024 * 1024;

export async function recoverLog(
  dir: string,
  logger: Logger,
  metrics?: Metrics,
  options: RecoveryOptions = {},
): Promise<Recovery> {
  try {
    const recovery = await recoverSegments(dir, logger, metrics, options.workerBytesMin ?? recoveryWorkerBytesMin);
    metrics?.walRecoveriesTotal.inc({ outcome: recovery.outcome });
    return recovery;
  } catch (err) {
    metrics?.walRecoveriesTotal.inc({ outcome: "corrupt" });
    throw err;
  }
}

async function recoverSegments(
  dir: string,
  logger: Logger,
  metrics: Metrics | undefined,
  workerBytesMin: number,
): Promise<Recovery> {
  const files = listSegmentFiles(dir);
  checkNumbering(files);
  let outcome: Recovery["outcome"] = removeUnfinishedSegment(dir, files, logger) ? "torn_tail" : "clean";
  const lastFile = files.pop();
  if (lastFile === undefined) return { segments: [], lastLsn: 0, outcome };
  const sealedBytes = files.reduce((n, f) => n + fs.statSync(f.path).size, 0);
  const sealed = sealedBytes >= workerBytesMin && files.length > 0 ? await walkSealedOnWorker(files, logger) : walkSealed(files);
  const segments = sealed.segments;
  const segment = walkSegment(lastFile, sealed.nextLsn, new Uint8Array(walkChunkBytes));
  const { walk } = segment;
  let end = segment.size;
  if (walk.damage) {
    const { offset, message } = walk.damage;
    const rest = readRange(lastFile.path, offset, segment.size); // the last segment past the damage: rare, and at most a segment
    const after = findFrameAfter(rest, 1, walk.lastLsn + 1);
    if (after >= 0)
      throw logCorruptError(lastFile.path, offset, `${message}, followed by a good frame at byte ${offset + after}`);
    const dropped = cutSegmentAt(lastFile.path, walk.goodEnd);
    logger.warn("log: cut torn tail", { segment: lastFile.name, offset: walk.goodEnd, bytes_dropped: dropped, reason: message });
    metrics?.walRecoveryTruncatedBytesTotal.inc(dropped);
    outcome = "torn_tail";
    end = walk.goodEnd;
  }
  segments.push({ file: lastFile, firstLsn: segment.firstLsn, lastLsn: walk.lastLsn, bytes: end });
  return { segments, lastLsn: walk.lastLsn, outcome };
}

/**
 * Walks the sealed segments in order (each must start at the LSN after the one before, the
 * first at 1 or wherever its header says when it is not segment 1). Any damage in one throws
 * `log_corrupt`: a sealed segment is never cut. Returns them and the LSN the next must start at
 * (null when there are none).
 */
export function walkSealed(files: SegmentFile[]): { segments: RecoveredSegment[]; nextLsn: number | null } {
  const segments: RecoveredSegment[] = [];
  let nextLsn: number | null = null;
  const buffer = new Uint8Array(walkChunkBytes);
  for (const file of files) {
    const { firstLsn, size, walk } = walkSegment(file, nextLsn, buffer);
    if (walk.damage) throw logCorruptError(file.path, walk.damage.offset, `${walk.damage.message} in a sealed segment`);
    segments.push({ file, firstLsn, lastLsn: walk.lastLsn, bytes: size });
    nextLsn = walk.lastLsn + 1;
  }
  return { segments, nextLsn };
}

/** What the worker answers: the walk, or the `log_corrupt` it threw. */
export type SealedWalkReply =
  | { ok: true; segments: RecoveredSegment[]; nextLsn: number | null }
  | { ok: false; code: string; message: string; hint?: string; extra?: Record<string, unknown> };

/** `walkSealed` on a worker thread; if the thread itself fails (not the log), here after all. */
async function walkSealedOnWorker(
  files: SegmentFile[],
  logger: Logger,
): Promise<{ segments: RecoveredSegment[]; nextLsn: number | null }> {
  try {
    return await new Promise((resolve, reject) => {
      const worker = new Worker(workerUrl(import.meta.url, "log/recovery-worker.ts"));
      const done = () => worker.terminate();
      worker.onmessage = (event: MessageEvent<SealedWalkReply>) => {
        done();
        const r = event.data;
        if (r.ok) resolve({ segments: r.segments, nextLsn: r.nextLsn });
        else if (r.code === "log_corrupt")
          reject(new StemeError("log_corrupt", r.message, { ...(r.hint ? { hint: r.hint } : {}), extra: r.extra ?? {} }));
        else reject(new Error(`log recovery worker: ${r.message}`));
      };
      worker.onerror = (event) => {
        done();
        reject(new Error(`log recovery worker failed: ${event.message}`));
      };
      worker.postMessage({ files });
    });
  } catch (err) {
    if (err instanceof StemeError) throw err;
    logger.warn("log: the recovery thread failed; checking the segments on this one", { reason: (err as Error).message });
    return walkSealed(files);
  }
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
 * A chunk of a segment read at a time: any frame fits in one (frames are at most 16 bytes of
 * header and 128 KiB of payload), so a frame that does not fit the rest of a chunk is read
 * again at the start of the next, and damage at a chunk's start is damage in the file.
 */
export const walkChunkBytes = 4 * 1024 * 1024;

/**
 * Checks one segment's header and walks its frames with positioned reads into `buffer`, a
 * chunk at a time: memory stays one chunk whatever the segment's size, and no page of it is
 * left in the process (a mapping would keep every page walked resident until collected).
 * Offsets in the walk are the file's.
 */
function walkSegment(
  file: SegmentFile,
  expectedFirstLsn: number | null,
  buffer: Uint8Array,
): { firstLsn: number; size: number; walk: SegmentWalk } {
  const fd = fs.openSync(file.path, "r");
  try {
    const size = fs.fstatSync(fd).size;
    if (size < segmentHeaderBytes) throw logCorruptError(file.path, 0, `segment is ${size} bytes, shorter than its header`);
    const header = readAt(fd, buffer, 0, segmentHeaderBytes);
    const firstLsn = checkHeader(file, header, expectedFirstLsn);
    return { firstLsn, size, walk: walkFramesChunked(fd, size, segmentHeaderBytes, firstLsn, buffer) };
  } finally {
    fs.closeSync(fd);
  }
}

function readRange(path: string, from: number, to: number): Uint8Array {
  const fd = fs.openSync(path, "r");
  try {
    return new Uint8Array(readAt(fd, new Uint8Array(to - from), from, to - from));
  } finally {
    fs.closeSync(fd);
  }
}

/** Checks a segment's header against its file name and the LSN it must start at; returns its first LSN. */
function checkHeader(file: SegmentFile, bytes: Uint8Array, expectedFirstLsn: number | null): number {
  const decoded = decodeSegmentHeader(bytes);
  if ("error" in decoded) throw logCorruptError(file.path, 0, decoded.error);
  const { header } = decoded;
  if (header.segment !== file.segment)
    throw logCorruptError(file.path, 16, `header says segment ${header.segment}, file name says ${file.segment}`);
  const expected = expectedFirstLsn ?? (file.segment === 1 ? 1 : header.firstLsn);
  if (header.firstLsn !== expected)
    throw logCorruptError(file.path, 24, `header first LSN ${header.firstLsn}, expected ${expected}`);
  return header.firstLsn;
}
