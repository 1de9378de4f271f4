/**
 * Canonical CBOR for record bodies (docs/FORMAT.md#records-canonical-encoding).
 *
 * A record's id is the BLAKE3 hash of its body bytes, so every implementation must produce the
 * same bytes for the same record. We follow RFC 8949 §4.2.1 "core deterministic encoding":
 *
 * - definite lengths only, and every head (integer, length) in its shortest form;
 * - map keys sorted by the bytewise order of their own encodings (so shorter text keys first);
 * - no tags, no `undefined`, no simple values but false / true / null.
 *
 * Numbers have one rule that RFC 8949 leaves to the application: an integral value within
 * ±(2^53−1) is a CBOR integer; any other finite number is the shortest IEEE 754 float (half,
 * single or double) that holds it exactly. JSON `1.0` and `1` are therefore the same value,
 * and `-0` is integer 0. NaN and the infinities are refused.
 *
 * We do not use cbor-x for bodies: it writes integers ≥ 2^32 (millisecond timestamps) as
 * float64 and never shortens floats. The decoder below is strict: it accepts exactly the bytes
 * the encoder would produce, so "decode then re-encode" is the identity on accepted input.
 * Test vectors in test/fixtures/vectors/ pin the bytes against independent encoders.
 */
import { invalid, type StemeError } from "./errors.ts";
import { halfBitsOf, halfValue } from "./float16.ts";

/** The data model of a body: JSON's, plus byte strings (ids, keys). */
export type Value = null | boolean | number | string | Uint8Array | Value[] | { [key: string]: Value };

/** Nesting deeper than this is refused: it only serves to exhaust a parser's stack. */
export const nestingDepthMax = 32;
export const maxSafeInteger = Number.MAX_SAFE_INTEGER;

const textEncoder = new TextEncoder();
const textDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

class Writer {
  buf: Uint8Array;
  view: DataView;
  pos = 0;

  constructor(bytes = 1024) {
    this.buf = new Uint8Array(bytes);
    this.view = new DataView(this.buf.buffer);
  }

  ensure(n: number): void {
    if (this.pos + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + n) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  byte(b: number): void {
    this.ensure(1);
    this.buf[this.pos++] = b;
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** A head: major type and argument, in the shortest form (RFC 8949 §4.2.1). */
  head(major: number, n: number): void {
    const m = major << 5;
    if (n < 24) this.byte(m | n);
    else if (n <= 0xff) {
      this.ensure(2);
      this.buf[this.pos++] = m | 24;
      this.buf[this.pos++] = n;
    } else if (n <= 0xffff) {
      this.ensure(3);
      this.buf[this.pos++] = m | 25;
      this.view.setUint16(this.pos, n);
      this.pos += 2;
    } else if (n <= 0xffffffff) {
      this.ensure(5);
      this.buf[this.pos++] = m | 26;
      this.view.setUint32(this.pos, n);
      this.pos += 4;
    } else {
      this.ensure(9);
      this.buf[this.pos++] = m | 27;
      this.view.setUint32(this.pos, Math.floor(n / 0x100000000));
      this.view.setUint32(this.pos + 4, n >>> 0);
      this.pos += 8;
    }
  }
}

const keyCache = new Map<string, Uint8Array>();

/** The encoded bytes of a text key; field names repeat in every record, so they are cached. */
function encodedKey(key: string): Uint8Array {
  const cached = keyCache.get(key);
  if (cached) return cached;
  const w = new Writer(key.length * 3 + 9);
  writeText(w, key);
  const bytes = w.buf.slice(0, w.pos);
  if (keyCache.size < 4096) keyCache.set(key, bytes);
  return bytes;
}

function writeText(w: Writer, s: string): void {
  if (!s.isWellFormed()) throw invalid("invalid_text", "text is not valid Unicode (lone surrogate)");
  // Fast path: ASCII strings encode to themselves.
  let ascii = true;
  for (let i = 0; i < s.length; i++) {
    if (s.charCodeAt(i) > 0x7f) {
      ascii = false;
      break;
    }
  }
  if (ascii) {
    w.head(3, s.length);
    w.ensure(s.length);
    for (let i = 0; i < s.length; i++) w.buf[w.pos++] = s.charCodeAt(i);
    return;
  }
  const b = textEncoder.encode(s);
  w.head(3, b.length);
  w.bytes(b);
}

function writeNumber(w: Writer, x: number): void {
  if (!Number.isFinite(x)) throw invalid("invalid_number", "NaN and infinities are not allowed");
  if (Number.isInteger(x) && Math.abs(x) <= maxSafeInteger) {
    if (x >= 0) w.head(0, x);
    else w.head(1, -1 - x);
    return;
  }
  const half = halfBitsOf(x);
  if (half >= 0) {
    w.ensure(3);
    w.buf[w.pos++] = 0xf9;
    w.buf[w.pos++] = half >>> 8;
    w.buf[w.pos++] = half & 0xff;
  } else if (Math.fround(x) === x) {
    w.ensure(5);
    w.buf[w.pos++] = 0xfa;
    w.view.setFloat32(w.pos, x);
    w.pos += 4;
  } else {
    w.ensure(9);
    w.buf[w.pos++] = 0xfb;
    w.view.setFloat64(w.pos, x);
    w.pos += 8;
  }
}

/** `buf[aStart, aEnd)` against `buf[bStart, bEnd)`, bytewise then by length (as `compareBytes`). */
function compareRanges(buf: Uint8Array, aStart: number, aEnd: number, bStart: number, bEnd: number): number {
  const n = Math.min(aEnd - aStart, bEnd - bStart);
  for (let i = 0; i < n; i++) {
    const d = (buf[aStart + i] as number) - (buf[bStart + i] as number);
    if (d !== 0) return d;
  }
  return aEnd - aStart - (bEnd - bStart);
}

function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = (a[i] as number) - (b[i] as number);
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

function writeValue(w: Writer, v: Value, depth: number): void {
  if (depth > nestingDepthMax) throw invalid("too_deep", `values nest deeper than ${nestingDepthMax} levels`);
  if (v === null) w.byte(0xf6);
  else if (v === false) w.byte(0xf4);
  else if (v === true) w.byte(0xf5);
  else if (typeof v === "number") writeNumber(w, v);
  else if (typeof v === "string") writeText(w, v);
  else if (v instanceof Uint8Array) {
    w.head(2, v.length);
    w.bytes(v);
  } else if (Array.isArray(v)) {
    w.head(4, v.length);
    for (const item of v) writeValue(w, item, depth + 1);
  } else if (typeof v === "object") {
    const entries: Array<[Uint8Array, Value]> = [];
    for (const key of Object.keys(v)) {
      const item = v[key];
      if (item === undefined) continue;
      entries.push([encodedKey(key), item]);
    }
    entries.sort((a, b) => compareBytes(a[0], b[0]));
    w.head(5, entries.length);
    for (const [k, item] of entries) {
      w.bytes(k);
      writeValue(w, item, depth + 1);
    }
  } else {
    throw invalid("invalid_type", `cannot encode a value of type ${typeof v}`);
  }
}

// Encoding is synchronous and never re-enters itself, so one scratch buffer serves every call
// (allocating a fresh 1 KiB buffer per record showed in profiles); it grows as needed and is
// dropped back to its first size after an unusually large value.
const scratch = new Writer();
const scratchBytesKept = 64 * 1024;

/** Encode a value canonically. Keys whose value is `undefined` are left out (absent, never null). */
export function encodeCanonical(value: Value): Uint8Array {
  scratch.pos = 0;
  try {
    writeValue(scratch, value, 0);
    return scratch.buf.slice(0, scratch.pos);
  } finally {
    if (scratch.buf.length > scratchBytesKept) {
      scratch.buf = new Uint8Array(1024);
      scratch.view = new DataView(scratch.buf.buffer);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Strict decoder

function nonCanonical(message: string, offset: number): StemeError {
  return invalid("non_canonical_cbor", `${message} at byte ${offset}`, { offset });
}

function malformed(message: string, offset: number): StemeError {
  return invalid("malformed_cbor", `${message} at byte ${offset}`, { offset });
}

/** Short map keys decoded before, by a hash of their length and end bytes (Reader.shortKey). */
const keySlots = 256;
const decodedKeys: Array<{ bytes: Uint8Array; text: string } | undefined> = new Array(keySlots);

class Reader {
  pos = 0;
  readonly view: DataView;
  constructor(readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  need(n: number): void {
    if (this.pos + n > this.buf.length) throw malformed("unexpected end of input", this.pos);
  }

  /** Reads a head's argument and checks it is in the shortest form. */
  argument(info: number, start: number): number {
    if (info < 24) return info;
    let n: number;
    if (info === 24) {
      this.need(1);
      n = this.buf[this.pos++] as number;
      if (n < 24) throw nonCanonical("integer head not in shortest form", start);
    } else if (info === 25) {
      this.need(2);
      n = this.view.getUint16(this.pos);
      this.pos += 2;
      if (n <= 0xff) throw nonCanonical("integer head not in shortest form", start);
    } else if (info === 26) {
      this.need(4);
      n = this.view.getUint32(this.pos);
      this.pos += 4;
      if (n <= 0xffff) throw nonCanonical("integer head not in shortest form", start);
    } else if (info === 27) {
      this.need(8);
      const hi = this.view.getUint32(this.pos);
      const lo = this.view.getUint32(this.pos + 4);
      this.pos += 8;
      if (hi === 0) throw nonCanonical("integer head not in shortest form", start);
      if (hi > 0x1fffff) throw nonCanonical("integer beyond ±(2^53−1) must be a float", start);
      n = hi * 0x100000000 + lo;
    } else if (info === 31) {
      throw nonCanonical("indefinite length", start);
    } else {
      throw malformed("reserved additional information", start);
    }
    return n;
  }

  value(depth: number): Value {
    if (depth > nestingDepthMax) throw malformed(`nesting deeper than ${nestingDepthMax}`, this.pos);
    const start = this.pos;
    this.need(1);
    const initial = this.buf[this.pos++] as number;
    const major = initial >> 5;
    const info = initial & 0x1f;
    if (major === 7) return this.simple(info, start);
    const n = this.argument(info, start);
    switch (major) {
      case 0:
        return n;
      case 1:
        if (n >= maxSafeInteger) throw nonCanonical("integer beyond ±(2^53−1) must be a float", start);
        return -1 - n;
      case 2:
        this.need(n);
        this.pos += n;
        return this.buf.slice(this.pos - n, this.pos);
      case 3:
        return this.text(n, start);
      case 4: {
        const items: Value[] = [];
        for (let i = 0; i < n; i++) items.push(this.value(depth + 1));
        return items;
      }
      case 5:
        return this.map(n, depth);
      default:
        throw nonCanonical("tags are not allowed", start);
    }
  }

  text(n: number, start: number): string {
    this.need(n);
    const bytes = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    try {
      return textDecoder.decode(bytes);
    } catch {
      throw malformed("text is not valid UTF-8", start);
    }
  }

  map(n: number, depth: number): Value {
    const out: { [key: string]: Value } = {};
    // The previous key's encoded bytes, as a range of `buf` (compared in place).
    let prevStart = -1;
    let prevEnd = -1;
    for (let i = 0; i < n; i++) {
      const keyStart = this.pos;
      this.need(1);
      const head = this.buf[this.pos] as number;
      if (head >> 5 !== 3) throw malformed("map keys must be text", keyStart);
      // As `value` would say for a key read through it (a short key is read in `shortKey`).
      if (depth + 1 > nestingDepthMax) throw malformed(`nesting deeper than ${nestingDepthMax}`, keyStart);
      const key = head < 0x78 ? this.shortKey(head & 0x1f, keyStart) : (this.value(depth + 1) as string);
      if (prevStart >= 0) {
        const order = compareRanges(this.buf, prevStart, prevEnd, keyStart, this.pos);
        if (order >= 0)
          throw nonCanonical(order === 0 ? `duplicate map key "${key}"` : "map keys not in canonical order", keyStart);
      }
      prevStart = keyStart;
      prevEnd = this.pos;
      const value = this.value(depth + 1);
      // Keys are distinct (checked above), so assignment defines each once; `__proto__` would set the prototype instead.
      if (key === "__proto__") Object.defineProperty(out, key, { value, enumerable: true, writable: true, configurable: true });
      else out[key] = value;
    }
    return out;
  }

  /**
   * A map key of fewer than 24 bytes (head 0x60–0x77): records use a few dozen keys, so the
   * string is taken from a small direct-mapped cache when the bytes match one decoded before,
   * which is cheaper than decoding the UTF-8 again.
   */
  shortKey(n: number, start: number): string {
    this.pos++;
    this.need(n);
    const at = this.pos;
    const buf = this.buf;
    const slot = n === 0 ? 0 : (n * 31 + (buf[at] as number) * 7 + (buf[at + n - 1] as number)) & (keySlots - 1);
    const known = decodedKeys[slot];
    if (known !== undefined && known.bytes.length === n) {
      let same = true;
      for (let i = 0; i < n; i++)
        if (known.bytes[i] !== buf[at + i]) {
          same = false;
          break;
        }
      if (same) {
        this.pos += n;
        return known.text;
      }
    }
    const text = this.text(n, start);
    // A copy: `buf` may be a Buffer, whose `slice` is a view of memory its owner may reuse.
    decodedKeys[slot] = { bytes: new Uint8Array(buf.subarray(at, at + n)), text };
    return text;
  }

  simple(info: number, start: number): Value {
    if (info === 20) return false;
    if (info === 21) return true;
    if (info === 22) return null;
    let x: number;
    if (info === 25) {
      this.need(2);
      x = halfValue(this.view.getUint16(this.pos));
      this.pos += 2;
    } else if (info === 26) {
      this.need(4);
      x = this.view.getFloat32(this.pos);
      this.pos += 4;
      // An infinity has a half form too (0xf97c00), so a wider one is not the shortest; NaN has no shortest.
      if (halfBitsOf(x) >= 0 || x === Number.POSITIVE_INFINITY || x === Number.NEGATIVE_INFINITY)
        throw nonCanonical("float not in shortest form", start);
    } else if (info === 27) {
      this.need(8);
      x = this.view.getFloat64(this.pos);
      this.pos += 8;
      if (Math.fround(x) === x) throw nonCanonical("float not in shortest form", start);
    } else if (info === 31) {
      throw malformed("unexpected break", start);
    } else {
      throw nonCanonical("simple value not allowed", start);
    }
    if (!Number.isFinite(x)) throw invalid("invalid_number", `NaN and infinities are not allowed (at byte ${start})`);
    if (Number.isInteger(x) && Math.abs(x) <= maxSafeInteger) throw nonCanonical("integral float must be an integer", start);
    return x;
  }
}

/**
 * Decode bytes that must already be canonical. Throws `malformed_cbor` for bytes that are not
 * CBOR and `non_canonical_cbor` for CBOR that is not in the canonical form.
 */
export function decodeCanonical(bytes: Uint8Array): Value {
  const r = new Reader(bytes);
  const v = r.value(0);
  if (r.pos !== bytes.length) throw malformed("trailing bytes after the value", r.pos);
  return v;
}
