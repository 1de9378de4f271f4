/**
 * Reading a bundle item by item (format.ts): splits the file into items without holding it
 * whole (a bundle may be far larger than memory), parses each item's envelope, and names the
 * item number and byte offset of anything malformed. What the record bodies say is checked by
 * the caller (verify.ts); this file only knows the framing.
 */
import fs from "node:fs";
import { decodeCanonical } from "../core/cbor.ts";
import { StemeError } from "../core/errors.ts";
import { bodyBytesMax, sigBytes } from "../core/limits.ts";
import { BundleError, type BundleFormat, itemBytesMax, sniffFormat } from "./format.ts";

export type BundleItem =
  | { type: "record"; item: number; offset: number; body: Uint8Array; sig: Uint8Array }
  | { type: "manifest"; item: number; offset: number; manifest: Record<string, unknown> };

/** Bytes read from the file at a time. */
export const readChunkBytes = 4 * 1024 * 1024;

/** Where the bytes come from: a file path, or the whole bundle in memory. */
export type BundleSource = string | Uint8Array;

/** A pull source of chunks; every chunk is a fresh buffer, so views into it stay valid. */
function chunksOf(source: BundleSource, chunkBytes: number): { next(): Uint8Array | null; close(): void } {
  if (source instanceof Uint8Array) {
    let done = false;
    return {
      next: () => {
        if (done) return null;
        done = true;
        return source;
      },
      close: () => {},
    };
  }
  let fd: number;
  try {
    fd = fs.openSync(source, "r");
  } catch (err) {
    throw new StemeError("not_found", `cannot open ${source}: ${(err as Error).message}`);
  }
  return {
    next: () => {
      const buf = Buffer.allocUnsafe(chunkBytes);
      const n = fs.readSync(fd, buf, 0, chunkBytes, null);
      return n === 0 ? null : buf.subarray(0, n);
    },
    close: () => fs.closeSync(fd),
  };
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/**
 * Reads items in order. `format` is set once the first byte is seen; `bytes` counts what was
 * read. Throws `BundleError` at the first item whose framing or envelope is wrong.
 */
export class BundleReader {
  format: BundleFormat | null = null;
  bytes = 0;

  constructor(
    private readonly source: BundleSource,
    private readonly chunkBytes = readChunkBytes,
  ) {}

  *items(): Generator<BundleItem> {
    for (const f of this.frames()) yield parseItem(f.format, f.bytes, f.item, f.offset);
  }

  /** The last item alone (a manifest, in a good bundle): items are only split, not parsed, before it. */
  last(): BundleItem | null {
    let last: Frame | null = null;
    for (const f of this.frames()) last = f;
    return last && parseItem(last.format, last.bytes, last.item, last.offset);
  }

  /** The bytes of each item, in order, unparsed. */
  private *frames(): Generator<Frame> {
    const chunks = chunksOf(this.source, this.chunkBytes);
    try {
      let buf: Uint8Array = new Uint8Array(0);
      let bufOffset = 0; // file offset of buf[0]
      let pos = 0;
      let item = 0;
      let eof = false;
      for (;;) {
        if (!eof && buf.length - pos < itemBytesMax) {
          const chunk = chunks.next();
          if (chunk === null) eof = true;
          else {
            this.bytes += chunk.length;
            bufOffset += pos;
            buf = concat(buf.subarray(pos), chunk);
            pos = 0;
          }
        }
        if (pos >= buf.length) {
          if (eof) return;
          continue;
        }
        if (this.format === null) {
          this.format = sniffFormat(buf[0]);
          if (this.format === null)
            throw new BundleError(
              1,
              0,
              `not a bundle: starts with byte 0x${(buf[0] as number).toString(16).padStart(2, "0")}, expected "{" (NDJSON) or a CBOR map`,
            );
        }
        const end = this.format === "ndjson" ? lineEnd(buf, pos, eof) : cborEnd(buf, pos, eof, item + 1, bufOffset + pos);
        if (end === -1) {
          if (buf.length - pos >= itemBytesMax)
            throw new BundleError(item + 1, bufOffset + pos, `item longer than ${itemBytesMax} bytes`);
          continue; // read more
        }
        item++;
        yield { format: this.format, bytes: buf.subarray(pos, end.content), item, offset: bufOffset + pos };
        pos = end.next;
      }
    } finally {
      chunks.close();
    }
  }
}

interface Frame {
  format: BundleFormat;
  bytes: Uint8Array;
  item: number;
  offset: number;
}

interface ItemEnd {
  /** End of the item's own bytes. */
  content: number;
  /** Where the next item starts. */
  next: number;
}

function lineEnd(buf: Uint8Array, pos: number, eof: boolean): ItemEnd | -1 {
  const nl = buf.indexOf(0x0a, pos);
  if (nl !== -1) return { content: nl, next: nl + 1 };
  // The last line may lack its newline.
  return eof ? { content: buf.length, next: buf.length } : -1;
}

function cborEnd(buf: Uint8Array, pos: number, eof: boolean, item: number, offset: number): ItemEnd | -1 {
  let end: number;
  try {
    end = skipCbor(buf, pos, 0);
  } catch (err) {
    throw new BundleError(item, offset, `not well-formed CBOR: ${(err as Error).message}`);
  }
  if (end === -1) {
    if (eof) throw new BundleError(item, offset, "the file ends inside this item (truncated)");
    return -1;
  }
  return { content: end, next: end };
}

const nestingMax = 32;

/** The end of the CBOR data item at `pos`, or -1 when the buffer ends inside it. */
function skipCbor(buf: Uint8Array, pos: number, depth: number): number {
  if (depth > nestingMax) throw new Error(`nesting deeper than ${nestingMax}`);
  if (pos >= buf.length) return -1;
  const initial = buf[pos++] as number;
  const major = initial >> 5;
  const info = initial & 0x1f;
  let n: number;
  if (info < 24) n = info;
  else if (info <= 27) {
    const size = 1 << (info - 24);
    if (pos + size > buf.length) return -1;
    n = 0;
    for (let i = 0; i < size; i++) n = n * 256 + (buf[pos + i] as number);
    pos += size;
  } else throw new Error(info === 31 ? "indefinite lengths are not allowed" : "reserved additional information");
  switch (major) {
    case 0:
    case 1:
    case 7:
      return pos;
    case 2:
    case 3:
      if (n > itemBytesMax) throw new Error(`a string of ${n} bytes`);
      return pos + n > buf.length ? -1 : pos + n;
    case 4:
    case 5: {
      const count = major === 5 ? n * 2 : n;
      for (let i = 0; i < count; i++) {
        pos = skipCbor(buf, pos, depth + 1);
        if (pos === -1) return -1;
      }
      return pos;
    }
    default:
      throw new Error("tags are not allowed");
  }
}

const hexPattern = /^(?:[0-9a-f]{2})+$/;

function parseItem(format: BundleFormat, bytes: Uint8Array, item: number, offset: number): BundleItem {
  const fail = (reason: string) => new BundleError(item, offset, reason);
  let value: unknown;
  if (format === "ndjson") {
    if (bytes.length === 0) throw fail("an empty line");
    try {
      value = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length).toString("utf8"));
    } catch (err) {
      throw fail(`not valid JSON (${(err as Error).message})`);
    }
  } else {
    try {
      value = decodeCanonical(bytes);
    } catch (err) {
      throw fail((err as Error).message);
    }
  }
  if (value === null || typeof value !== "object" || Array.isArray(value) || value instanceof Uint8Array)
    throw fail("an item must be a map with a type");
  const fields = value as Record<string, unknown>;
  if (fields.type === "manifest") return { type: "manifest", item, offset, manifest: fields };
  if (fields.type !== "record") throw fail(`unknown item type ${JSON.stringify(fields.type)?.slice(0, 40)}`);
  for (const key of Object.keys(fields))
    if (key !== "type" && key !== "body" && key !== "sig")
      throw fail(`a record item has type, body and sig only; found "${key}"`);
  const body = bytesField(format, fields.body, "body", fail);
  const sig = bytesField(format, fields.sig, "sig", fail);
  if (body.length === 0 || body.length > bodyBytesMax) throw fail(`body: ${body.length} bytes, expected 1–${bodyBytesMax}`);
  if (sig.length !== sigBytes) throw fail(`sig: ${sig.length} bytes, expected ${sigBytes}`);
  return { type: "record", item, offset, body, sig };
}

function bytesField(format: BundleFormat, v: unknown, name: string, fail: (reason: string) => BundleError): Uint8Array {
  if (format === "cbor") {
    if (!(v instanceof Uint8Array)) throw fail(`${name}: expected a byte string`);
    return v;
  }
  if (typeof v !== "string" || !hexPattern.test(v)) throw fail(`${name}: expected lowercase hex`);
  return new Uint8Array(Buffer.from(v, "hex"));
}
