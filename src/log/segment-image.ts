/**
 * Reading a log directory from outside the running `Log`: backup, archival, restore and the
 * Merkle root read segment files that a server may be appending to (or that sit in a backup or
 * an archive), a whole file at a time. A `SegmentImage` is one file's bytes with its header
 * checked; its frames are walked with the checks recovery makes (length bounds, CRC, LSN
 * continuity), and a frame the walk visited decodes to its record.
 *
 * Frames are found and decoded here so that the framing stays the business of this layer
 * (format.ts); callers see LSNs, offsets and records.
 */
import * as fs from "node:fs";
import {
  decodeFrame,
  decodeSegmentHeader,
  type LogEntry,
  payloadBytesMax,
  type SegmentHeader,
  segmentHeaderBytes,
  frameHeaderBytes,
} from "./format.ts";
import { type FrameVisitor, type SegmentWalk, walkFrames, walkFramesChunked } from "./reader.ts";
import { listSegmentFiles, type SegmentFile } from "./segment.ts";
import { invariant } from "../core/errors.ts";

export class SegmentImage {
  private constructor(
    readonly file: SegmentFile,
    /** The file's bytes as read: a header, then frames (the last may be torn). */
    readonly bytes: Uint8Array,
    readonly header: SegmentHeader,
  ) {}

  /** The image of `file` from `bytes` (its content as read), or why its header is not valid. */
  static of(file: SegmentFile, bytes: Uint8Array): SegmentImage | { error: string } {
    const decoded = decodeSegmentHeader(bytes);
    return "error" in decoded ? decoded : new SegmentImage(file, bytes, decoded.header);
  }

  /** Reads `file` whole. */
  static read(file: SegmentFile): SegmentImage | { error: string } {
    return SegmentImage.of(file, new Uint8Array(fs.readFileSync(file.path)));
  }

  get firstLsn(): number {
    return this.header.firstLsn;
  }

  /**
   * Walks the frames in order: `visit` sees each good one (returning `false` stops the walk
   * before it). The walk says how far the good frames reach and where damage starts.
   */
  walk(visit?: FrameVisitor): SegmentWalk {
    return walkFrames(this.bytes, segmentHeaderBytes, this.header.firstLsn, visit);
  }

  /** The record in a frame `walk` visited: recorded-at, signature and body (copies the caller owns). */
  entry(offset: number, lsn: number, end: number): LogEntry {
    return decodeFrame(this.bytes, offset, { lsn, end }, this.file.segment);
  }
}

/** How much of a segment `entriesFrom` holds at a time: any frame fits (header + at most 128 KiB). */
export const entriesChunkBytes = 1024 * 1024;

/**
 * The records of `file` from the frame at `start.offset`, which must carry `start.lsn` (or, with
 * no `start`, from its first frame), to its last whole frame, each passed to `visit`. Read with
 * positioned reads a chunk at a time, so memory stays one chunk whatever the segment's size
 * (reading the active segment whole, up to `--segment-bytes`, was a spike of that size in the
 * server). Frames are checked as a walk checks them (length, CRC, LSN continuity); the walk
 * stops at the first frame that is not good: a torn tail being written, or a `start` that is not
 * the frame of its LSN, or lies outside the file (then nothing is visited and `records` is 0).
 * Entries carry their offsets in the file.
 */
export function entriesFrom(
  file: SegmentFile,
  start: { offset: number; lsn: number } | null,
  visit: (entry: LogEntry) => void,
): SegmentWalk | { error: string } {
  invariant(entriesChunkBytes >= frameHeaderBytes + payloadBytesMax, "a chunk holds any frame");
  const fd = fs.openSync(file.path, "r");
  try {
    const size = fs.fstatSync(fd).size;
    const at = start?.offset ?? segmentHeaderBytes;
    let first = start?.lsn;
    if (first === undefined) {
      const head = new Uint8Array(segmentHeaderBytes);
      const header = decodeSegmentHeader(head.subarray(0, fs.readSync(fd, head, 0, segmentHeaderBytes, 0)));
      if ("error" in header) return header;
      first = header.header.firstLsn;
    }
    if (!Number.isSafeInteger(at) || at < segmentHeaderBytes || at >= size)
      return { firstLsn: first, lastLsn: first - 1, records: 0, goodEnd: Math.max(0, Math.min(size, at || 0)) };
    const buffer = new Uint8Array(Math.min(entriesChunkBytes, size - at));
    return walkFramesChunked(fd, size, at, first, buffer, (chunk, o, lsn, end, chunkStart) => {
      const entry = decodeFrame(chunk, o, { lsn, end }, file.segment);
      entry.offset = chunkStart + o;
      visit(entry);
    });
  } finally {
    fs.closeSync(fd);
  }
}

/** The LSN of the last whole frame of the log in `logDir` (a torn tail is not counted); 0 when empty. */
export function lastWholeLsn(logDir: string): number {
  const files = listSegmentFiles(logDir);
  for (let i = files.length - 1; i >= 0; i--) {
    const image = SegmentImage.read(files[i] as SegmentFile);
    if ("error" in image) continue; // a segment torn while being created
    const walk = image.walk();
    if (walk.records > 0 || i === 0) return walk.lastLsn;
  }
  return 0;
}
