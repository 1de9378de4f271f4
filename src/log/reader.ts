/**
 * Decoding frames out of segment bytes: walking a segment, finding a good frame after damage,
 * and reading single records. Pure functions over `Uint8Array`s; where the bytes come from
 * (mmap, pread, readFile) is the caller's business.
 */
import fs from "node:fs";
import { dirname, resolve } from "node:path";
import { StemeError } from "../core/errors.ts";
import {
  decodeFrame,
  frameBytesMin,
  frameHeaderBytes,
  type LogEntry,
  payloadBytesMax,
  payloadBytesMin,
  probeFrame,
  segmentHeaderBytes,
} from "./format.ts";
import type { SegmentFile } from "./segment.ts";

export interface SegmentWalk {
  firstLsn: number;
  /** LSN of the last good frame; `firstLsn - 1` if there is none. */
  lastLsn: number;
  records: number;
  /** Byte offset just past the last good frame: where a torn tail would be cut. */
  goodEnd: number;
  /** The first frame that is not good, if any; the walk stops there. */
  damage?: { offset: number; message: string };
  /** True when the visitor stopped the walk (before the frame at `goodEnd`). */
  stopped?: true;
}

/**
 * Sees one good frame: its offset, LSN and the offset just past it. Returning `false` (that
 * value, not any falsy one) stops the walk before this frame, which is then not counted.
 */
export type FrameVisitor = (offset: number, lsn: number, end: number) => unknown;

/**
 * Walks the frames of one segment from `start` to the end of `bytes`, checking length, CRC
 * and LSN continuity. `visit` sees every good frame in order.
 */
export function walkFrames(bytes: Uint8Array, start: number, firstLsn: number, visit?: FrameVisitor): SegmentWalk {
  let at = start;
  let expected = firstLsn;
  while (at < bytes.length) {
    const probe = probeFrame(bytes, at);
    if (probe.kind !== "ok") return walkResult(firstLsn, expected, at, { offset: at, message: probe.message });
    if (probe.lsn !== expected) {
      return walkResult(firstLsn, expected, at, { offset: at, message: `frame has LSN ${probe.lsn}, expected ${expected}` });
    }
    if (visit?.(at, probe.lsn, probe.end) === false) {
      const walk = walkResult(firstLsn, expected, at);
      walk.stopped = true;
      return walk;
    }
    at = probe.end;
    expected++;
  }
  return walkResult(firstLsn, expected, at);
}

function walkResult(
  firstLsn: number,
  nextLsn: number,
  goodEnd: number,
  damage?: { offset: number; message: string },
): SegmentWalk {
  const walk: SegmentWalk = { firstLsn, lastLsn: nextLsn - 1, records: nextLsn - firstLsn, goodEnd };
  if (damage) walk.damage = damage;
  return walk;
}

/** Sees one good frame in a chunk: the chunk, the frame's place in it, its LSN and end there, and where the chunk starts in the file. */
export type ChunkFrameVisitor = (chunk: Uint8Array, at: number, lsn: number, end: number, chunkStart: number) => unknown;

/**
 * Walks the frames of an open segment file (`size` bytes) from the frame at `start`, which must
 * carry `firstLsn`, to its end, with positioned reads into `buffer` a chunk at a time: memory
 * stays one buffer whatever the segment's size, and no page is left mapped. The buffer must
 * hold any frame: a frame the chunk cuts shows as damage after good frames, and the walk reads
 * on from it; damage at a chunk's start is damage in the file. Offsets in the walk are the file's.
 */
export function walkFramesChunked(
  fd: number,
  size: number,
  start: number,
  firstLsn: number,
  buffer: Uint8Array,
  visit?: ChunkFrameVisitor,
): SegmentWalk {
  let at = start;
  let next = firstLsn;
  for (;;) {
    const chunk = readAt(fd, buffer, at, Math.min(buffer.length, size - at));
    const chunkStart = at;
    const walk = walkFrames(chunk, 0, next, visit && ((o, lsn, end) => visit(chunk, o, lsn, end, chunkStart)));
    next = walk.lastLsn + 1;
    if (at + chunk.length >= size || walk.goodEnd === 0) {
      const out: SegmentWalk = { firstLsn, lastLsn: next - 1, records: next - firstLsn, goodEnd: at + walk.goodEnd };
      if (walk.damage) out.damage = { ...walk.damage, offset: at + walk.damage.offset };
      return out;
    }
    at += walk.goodEnd;
  }
}

/** `length` bytes of the file from `position`, into the start of `buffer` (a view of them; shorter at the file's end). */
export function readAt(fd: number, buffer: Uint8Array, position: number, length: number): Uint8Array {
  for (let done = 0; done < length; ) {
    const n = fs.readSync(fd, buffer, done, length - done, position + done);
    if (n === 0) return buffer.subarray(0, done);
    done += n;
  }
  return buffer.subarray(0, length);
}

/**
 * Scans forward byte by byte from `from` for any frame with a valid CRC and a plausible LSN
 * (at least `expectedLsn`, and no further ahead than the remaining bytes could hold). Finding
 * one means the damage before it is not a torn tail: good records follow it. Returns the
 * offset of the first such frame, or -1. Cheap on garbage: the CRC is computed only where the
 * length and LSN already look right.
 */
export function findFrameAfter(bytes: Uint8Array, from: number, expectedLsn: number): number {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let at = from; at + frameBytesMin <= bytes.length; at++) {
    const length = v.getUint32(at, true);
    if (length < payloadBytesMin || length > payloadBytesMax || at + frameHeaderBytes + length > bytes.length) continue;
    const lsn = v.getUint32(at + 4, true) + v.getUint32(at + 8, true) * 2 ** 32;
    const lsnMax = expectedLsn + Math.floor((bytes.length - at) / frameBytesMin);
    if (lsn < expectedLsn || lsn > lsnMax) continue;
    if (probeFrame(bytes, at).kind === "ok") return at;
  }
  return -1;
}

/**
 * The records of one segment (`bytes` from its start to its durable end) with LSN ≥ `fromLsn`.
 * Frames before `fromLsn` are stepped over by their length alone; the rest are CRC-checked,
 * and any damage throws `log_corrupt` (recovery already vouched for these bytes, so damage
 * here means the file changed under us).
 */
export function* entriesIn(
  bytes: Uint8Array,
  file: SegmentFile,
  firstLsn: number,
  fromLsn: number,
  lastLsn: number,
): Generator<LogEntry> {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = segmentHeaderBytes;
  let lsn = firstLsn;
  for (; lsn < fromLsn && at + frameHeaderBytes <= bytes.length; lsn++) {
    const length = v.getUint32(at, true);
    if (length < payloadBytesMin || length > payloadBytesMax)
      throw logCorruptError(file.path, at, `frame length ${length} out of bounds`);
    at += frameHeaderBytes + length;
  }
  for (; at < bytes.length; lsn++) {
    const probe = probeFrame(bytes, at);
    if (probe.kind !== "ok") throw logCorruptError(file.path, at, probe.message);
    if (probe.lsn !== lsn) throw logCorruptError(file.path, at, `frame has LSN ${probe.lsn}, expected ${lsn}`);
    yield decodeFrame(bytes, at, probe, file.segment);
    at = probe.end;
  }
  if (lsn - 1 !== lastLsn && lsn > fromLsn)
    throw logCorruptError(file.path, at, `segment ends at LSN ${lsn - 1}, expected ${lastLsn}`);
}

/** The record at `offset` in `bytes` (a whole segment or a window starting at `base`). */
export function readEntryAt(bytes: Uint8Array, offset: number, segment: number, path: string, base = 0): LogEntry {
  const at = offset - base;
  const probe = probeFrame(bytes, at);
  if (probe.kind !== "ok") throw logCorruptError(path, offset, probe.message);
  const entry = decodeFrame(bytes, at, probe, segment);
  entry.offset = offset;
  return entry;
}

/**
 * The record framed at `offset` of an open segment file, read with pread: first into `window`
 * (reused by the caller: a fresh buffer per read was most of a cold query's garbage; the frame's
 * sig and body are copied out of it), then whole if the frame is longer. `end` is where the
 * segment's durable bytes end, when the caller knows it. A short or damaged frame is `log_corrupt`.
 */
export function preadEntry(
  fd: number,
  window: Uint8Array,
  offset: number,
  segment: number,
  path: string,
  end = Infinity,
): LogEntry {
  const got = fs.readSync(fd, window, 0, Math.min(window.length, end - offset), offset);
  const head = window.subarray(0, got);
  const frameBytes = got >= 4 ? frameHeaderBytes + new DataView(head.buffer, head.byteOffset).getUint32(0, true) : 0;
  if (frameBytes <= got || offset + frameBytes > end) return readEntryAt(head, offset, segment, path, offset);
  const whole = new Uint8Array(frameBytes);
  const n = fs.readSync(fd, whole, 0, frameBytes, offset);
  return readEntryAt(whole.subarray(0, n), offset, segment, path, offset);
}

/**
 * The error for damage that recovery must not cut: it names the file and byte offset and
 * sends the operator to `verify` (to see it) and `repair` (to cut it, losing what follows).
 */
export function logCorruptError(path: string, offset: number, what: string): StemeError {
  const dataDir = dirname(dirname(resolve(path)));
  const hint = `Run \`stemedb verify --data-dir ${dataDir}\` to see the damage; \`stemedb repair --data-dir ${dataDir}\` cuts the log back to the last good record (the records after it are lost).`;
  return new StemeError("log_corrupt", `log corrupt: ${path} at byte ${offset}: ${what}. ${hint}`, {
    hint,
    extra: { file: path, offset },
  });
}
