/**
 * Segment files: listing, creating, cutting. A segment is sealed once the next one exists;
 * only the last one is ever appended to or (by recovery or repair) cut.
 */
import * as fs from "node:fs";
import { join } from "node:path";
import type { LogDisk } from "./disk.ts";
import { syncDir } from "./disk.ts";
import {
  decodeSegmentHeader,
  encodeSegmentHeader,
  parseSegmentFileName,
  type SegmentHeader,
  segmentFileName,
  segmentHeaderBytes,
} from "./format.ts";

export interface SegmentFile {
  segment: number;
  name: string;
  path: string;
}

/** Segment files in `dir`, by number. Other files are ignored. */
export function listSegmentFiles(dir: string): SegmentFile[] {
  const files: SegmentFile[] = [];
  for (const name of fs.readdirSync(dir)) {
    const segment = parseSegmentFileName(name);
    if (segment !== null) files.push({ segment, name, path: join(dir, name) });
  }
  return files.sort((a, b) => a.segment - b.segment);
}

/** Reads and checks only the header of a segment file (one small read, not the whole file). */
export function readSegmentHeader(file: SegmentFile): { header: SegmentHeader } | { error: string } {
  const fd = fs.openSync(file.path, "r");
  try {
    const head = new Uint8Array(segmentHeaderBytes);
    const got = fs.readSync(fd, head, 0, segmentHeaderBytes, 0);
    return decodeSegmentHeader(head.subarray(0, got));
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Creates segment `header.segment` with its header, syncs the file and then the directory, and
 * returns an fd open for append. `wx`: never clobber an existing segment.
 */
export async function createSegmentFile(
  dir: string,
  header: SegmentHeader,
  disk: LogDisk,
): Promise<{ file: SegmentFile; fd: number }> {
  const name = segmentFileName(header.segment);
  const path = join(dir, name);
  const fd = fs.openSync(path, "wx+");
  try {
    disk.write(fd, encodeSegmentHeader(header), 0);
    await disk.datasync(fd);
    syncDir(dir);
  } catch (err) {
    fs.closeSync(fd);
    // A segment that never got its header holds nothing: remove it, so a retry can make it.
    fs.rmSync(path, { force: true });
    throw err;
  }
  return { file: { segment: header.segment, name, path }, fd };
}

/**
 * Cuts a segment file back to `offset` bytes and makes the cut durable. Used by recovery for a
 * torn tail and by `stemedb repair`. Never call it on a segment that is mmapped: a mapped file
 * that shrinks turns reads past the new end into SIGBUS.
 */
export function cutSegmentAt(path: string, offset: number): number {
  const fd = fs.openSync(path, "r+");
  try {
    const before = fs.fstatSync(fd).size;
    if (before <= offset) return 0;
    fs.ftruncateSync(fd, offset);
    fs.fsyncSync(fd);
    return before - offset;
  } finally {
    fs.closeSync(fd);
  }
}
