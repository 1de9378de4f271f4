/**
 * # The record log: on-disk format (version 1)
 *
 * The log is the only durable truth of a node; every index is derived from it and can be
 * rebuilt by replaying it. It lives in `<dataDir>/log/` as a run of append-only segment files
 * named `%010d.seg` by segment number, starting at `0000000001.seg`. Only the last segment is
 * ever written; the others are sealed (never modified again, so they can be `Bun.mmap`ed).
 *
 * ## Segment header (48 bytes, little-endian)
 *
 *     0..7    magic, ASCII "STEMELOG"
 *     8..11   u32 format version = 1
 *     12..15  u32 header size in bytes = 48
 *     16..23  u64 segment number (matches the file name)
 *     24..31  u64 LSN of the first record in this segment (previous segment's last + 1)
 *     32..39  u64 created-at, ms since the Unix epoch (informational)
 *     40..43  u32 reserved, 0
 *     44..47  u32 CRC-32C of bytes 0..43
 *
 * ## Frame (one per record, directly after the header or the previous frame)
 *
 *     0..3    u32 payload length N (73 ≤ N ≤ payloadBytesMax)
 *     4..11   u64 LSN
 *     12..15  u32 CRC-32C over bytes 0..11 followed by the payload
 *     16..    payload (N bytes):
 *               0..7   u64 recorded-at ms (node-local receive time)
 *               8..71  64-byte Ed25519 signature
 *               72..   canonical body bytes, verbatim
 *
 * The CRC covers the length and the LSN as well as the payload, so a torn or misdirected write
 * that leaves a plausible length but stale bytes is caught. There is no padding, no
 * preallocation and no trailer: a segment ends exactly where its last frame ends.
 *
 * ## LSNs
 *
 * The LSN (log sequence number) is the record's ordinal: 1 for the first record ever written,
 * then consecutive with no gaps across segments. It is both the log position handed to the
 * index and a check: a frame whose CRC is right but whose LSN is not previous + 1 is damage.
 *
 * ## Crashes
 *
 * A write is acknowledged only after its batch is `fdatasync`ed, so a crash can only leave an
 * incomplete or checksum-failing tail in the last segment: recovery cuts it back to the end of
 * the last good frame (a "torn tail"). Damage anywhere else (a sealed segment, a header, or a
 * bad frame with a good frame after it) is not something a crash produces; StemeDB refuses to
 * start and points the operator at `stemedb verify` and `stemedb repair` rather than silently
 * dropping acknowledged records.
 *
 * CRC-32C is Castagnoli (RFC 3720), see `crc32c.ts`.
 */
import { crc32c } from "./crc32c.ts";

export const logDirName = "log";
export const logMagic = "STEMELOG";
export const formatVersion = 1;
export const segmentHeaderBytes = 48;
export const frameHeaderBytes = 16;
export const signatureBytes = 64;
/** recorded-at (8) + signature (64): the payload bytes before the body. */
export const payloadPrefixBytes = 8 + signatureBytes;
/** A body is at least one byte (the smallest canonical CBOR item). */
export const payloadBytesMin = payloadPrefixBytes + 1;
/** 72 + a 64 KiB body limit + slack for future fields; the decoder refuses anything longer. */
export const payloadBytesMax = 131072;
export const frameBytesMin = frameHeaderBytes + payloadBytesMin;

const magicBytes = new TextEncoder().encode(logMagic);
const segmentNamePattern = /^(\d{10})\.seg$/;

export function segmentFileName(segment: number): string {
  return `${String(segment).padStart(10, "0")}.seg`;
}

/** The segment number of a file name, or null if it is not a segment file. */
export function parseSegmentFileName(name: string): number | null {
  const m = segmentNamePattern.exec(name);
  return m?.[1] === undefined ? null : Number(m[1]);
}

export interface SegmentHeader {
  segment: number;
  firstLsn: number;
  createdAtMs: number;
}

function view(bytes: Uint8Array): DataView {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function setU64(v: DataView, at: number, value: number): void {
  v.setBigUint64(at, BigInt(value), true);
}

/** u64 as a number; values past 2^53 would mean corruption (or 9 quadrillion records). */
function getU64(v: DataView, at: number): number {
  const big = v.getBigUint64(at, true);
  return big > BigInt(Number.MAX_SAFE_INTEGER) ? Number.NaN : Number(big);
}

export function encodeSegmentHeader(header: SegmentHeader): Uint8Array {
  const bytes = new Uint8Array(segmentHeaderBytes);
  const v = view(bytes);
  bytes.set(magicBytes, 0);
  v.setUint32(8, formatVersion, true);
  v.setUint32(12, segmentHeaderBytes, true);
  setU64(v, 16, header.segment);
  setU64(v, 24, header.firstLsn);
  setU64(v, 32, header.createdAtMs);
  v.setUint32(40, 0, true);
  v.setUint32(44, crc32c(bytes, 0, 44), true);
  return bytes;
}

/** Decodes and checks a header; returns an operator-readable reason when it is not valid. */
export function decodeSegmentHeader(bytes: Uint8Array): { header: SegmentHeader } | { error: string } {
  if (bytes.length < segmentHeaderBytes)
    return { error: `segment header: file is ${bytes.length} bytes, shorter than the ${segmentHeaderBytes}-byte header` };
  const v = view(bytes);
  for (let i = 0; i < magicBytes.length; i++) {
    if (bytes[i] !== magicBytes[i]) return { error: "segment header: bad magic (not a StemeDB log segment)" };
  }
  const storedCrc = v.getUint32(44, true);
  const actualCrc = crc32c(bytes, 0, 44);
  if (storedCrc !== actualCrc)
    return { error: `segment header: checksum mismatch (stored ${hex32(storedCrc)}, computed ${hex32(actualCrc)})` };
  const version = v.getUint32(8, true);
  if (version !== formatVersion)
    return { error: `segment header: format version ${version}, this build reads version ${formatVersion}` };
  const headerSize = v.getUint32(12, true);
  if (headerSize !== segmentHeaderBytes)
    return { error: `segment header: header size ${headerSize}, expected ${segmentHeaderBytes}` };
  const header = { segment: getU64(v, 16), firstLsn: getU64(v, 24), createdAtMs: getU64(v, 32) };
  if (!(header.segment >= 1) || !(header.firstLsn >= 1))
    return { error: "segment header: segment number and first LSN must be ≥ 1" };
  return { header };
}

export function hex32(n: number): string {
  return `0x${n.toString(16).padStart(8, "0")}`;
}

/** One record as handed to `append`. */
export interface LogEntryInput {
  body: Uint8Array;
  sig: Uint8Array;
  recordedAtMs: number;
}

export function frameBytesFor(bodyBytes: number): number {
  return frameHeaderBytes + payloadPrefixBytes + bodyBytes;
}

/** Writes one frame into `out` at `at`; returns the offset just past it. */
export function encodeFrame(out: Uint8Array, at: number, lsn: number, entry: LogEntryInput): number {
  const payloadLength = payloadPrefixBytes + entry.body.length;
  const v = view(out);
  v.setUint32(at, payloadLength, true);
  setU64(v, at + 4, lsn);
  const payloadAt = at + frameHeaderBytes;
  setU64(v, payloadAt, entry.recordedAtMs);
  out.set(entry.sig, payloadAt + 8);
  out.set(entry.body, payloadAt + payloadPrefixBytes);
  const end = payloadAt + payloadLength;
  v.setUint32(at + 12, crc32c(out, payloadAt, end, crc32c(out, at, at + 12)), true);
  return end;
}

/** What is found at a byte offset where a frame should start. */
export type FrameProbe =
  | { kind: "ok"; lsn: number; payloadLength: number; end: number }
  | { kind: "incomplete"; message: string }
  | { kind: "bad_length"; message: string }
  | { kind: "bad_crc"; message: string };

/**
 * Checks the frame at `at` in `bytes[0, end)`: length bounds, completeness and CRC. The LSN is
 * returned, not judged; continuity is the caller's business.
 */
export function probeFrame(bytes: Uint8Array, at: number, end: number = bytes.length): FrameProbe {
  if (end - at < frameHeaderBytes)
    return { kind: "incomplete", message: `incomplete frame header (${end - at} of ${frameHeaderBytes} bytes)` };
  const v = view(bytes);
  const payloadLength = v.getUint32(at, true);
  if (payloadLength < payloadBytesMin || payloadLength > payloadBytesMax) {
    return { kind: "bad_length", message: `frame length ${payloadLength} outside ${payloadBytesMin}..${payloadBytesMax}` };
  }
  const frameEnd = at + frameHeaderBytes + payloadLength;
  if (frameEnd > end)
    return { kind: "incomplete", message: `incomplete frame (${end - at} of ${frameHeaderBytes + payloadLength} bytes)` };
  const stored = v.getUint32(at + 12, true);
  const actual = crc32c(bytes, at + frameHeaderBytes, frameEnd, crc32c(bytes, at, at + 12));
  if (stored !== actual)
    return { kind: "bad_crc", message: `frame checksum mismatch (stored ${hex32(stored)}, computed ${hex32(actual)})` };
  return { kind: "ok", lsn: getU64(v, at + 4), payloadLength, end: frameEnd };
}

/** A decoded record with its place in the log. `sig` and `body` are copies the caller owns. */
export interface LogEntry {
  lsn: number;
  recordedAtMs: number;
  sig: Uint8Array;
  body: Uint8Array;
  segment: number;
  offset: number;
}

/** Decodes the payload of a frame that `probeFrame` accepted. Copies sig and body out of `bytes`. */
export function decodeFrame(bytes: Uint8Array, at: number, probe: { lsn: number; end: number }, segment: number): LogEntry {
  const payloadAt = at + frameHeaderBytes;
  return {
    lsn: probe.lsn,
    recordedAtMs: getU64(view(bytes), payloadAt),
    sig: bytes.slice(payloadAt + 8, payloadAt + payloadPrefixBytes),
    body: bytes.slice(payloadAt + payloadPrefixBytes, probe.end),
    segment,
    offset: at,
  };
}
