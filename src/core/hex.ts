/**
 * Lowercase hex, the JSON form of ids, keys and signatures (docs/FORMAT.md#id-and-signature).
 *
 * Shared by the server and the client package, so it uses no `Buffer` (Node and Bun only): on
 * platforms with ES2026's `Uint8Array.prototype.toHex` / `Uint8Array.fromHex` (Bun, current
 * browsers) those native methods do the work — in Bun 4–5× faster than `Buffer`'s hex (see
 * bench/portable.ts) — and elsewhere (Node 20–24) a table does, at `Buffer`'s speed. Both paths
 * give the same output; test/core/hex.test.ts holds them to it.
 */
import { invalid } from "./errors.ts";

/** The ES2026 methods, where the platform has them (TypeScript's lib does not declare them yet). */
interface NativeHex {
  toHex?: (this: Uint8Array) => string;
}
const nativeToHex = (Uint8Array.prototype as NativeHex).toHex;
const nativeFromHex = (Uint8Array as unknown as { fromHex?: (text: string) => Uint8Array }).fromHex;

/** "00" … "ff", by byte. */
const hexByByte: readonly string[] = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, "0"));

/** Nibble values by character code ("0"–"9", "a"–"f", "A"–"F"); -1 for any other character. */
const nibbleByCode = new Int8Array(128).fill(-1);
for (let i = 0; i < 16; i++) {
  nibbleByCode[i.toString(16).charCodeAt(0)] = i;
  nibbleByCode[i.toString(16).toUpperCase().charCodeAt(0)] = i;
}

/** The table path of `toHex` (internal; exported for the test that compares it with the native one). */
export function toHexPortable(bytes: Uint8Array): string {
  let out = "";
  for (let i = 0; i < bytes.length; i++) out += hexByByte[bytes[i] as number];
  return out;
}

/** The table path of `fromHex` for text already checked to be even-length hex (internal, like `toHexPortable`). */
export function fromHexPortable(text: string): Uint8Array {
  const out = new Uint8Array(text.length >>> 1);
  for (let i = 0; i < out.length; i++) {
    out[i] = ((nibbleByCode[text.charCodeAt(2 * i)] as number) << 4) | (nibbleByCode[text.charCodeAt(2 * i + 1)] as number);
  }
  return out;
}

export const toHex: (bytes: Uint8Array) => string = nativeToHex ? (bytes) => nativeToHex.call(bytes) : toHexPortable;

const hexDigits: (text: string) => Uint8Array = nativeFromHex ? nativeFromHex.bind(Uint8Array) : fromHexPortable;

const hexPattern = /^(?:[0-9a-fA-F]{2})*$/;

/**
 * Parses hex of an exact byte length (when given). Uppercase is accepted on input; output is
 * always lowercase. `field` names the field in the error.
 */
export function fromHex(text: unknown, field: string, bytesExpected?: number): Uint8Array {
  if (typeof text !== "string")
    throw invalid("invalid_type", `${field}: expected a hex string, got ${describe(text)}`, { field });
  if (!hexPattern.test(text)) throw invalid("bad_hex", `${field}: not an even-length hex string`, { field });
  if (bytesExpected !== undefined && text.length !== bytesExpected * 2) {
    throw invalid(
      "bad_hex",
      `${field}: expected ${bytesExpected} bytes (${bytesExpected * 2} hex digits), got ${text.length / 2}`,
      { field },
    );
  }
  return hexDigits(text);
}

/** A short description of a value for an error message; never throws. */
export function describe(v: unknown): string {
  if (v === null) return "null";
  if (Array.isArray(v)) return "an array";
  if (v instanceof Uint8Array) return "bytes";
  if (typeof v === "bigint") return `an integer beyond ±(2^53−1) (${String(v).slice(0, 40)})`;
  if (typeof v === "object") return "an object";
  if (typeof v === "function" || typeof v === "symbol" || v === undefined) return typeof v;
  return `${typeof v} ${JSON.stringify(v).slice(0, 40)}`;
}

export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
