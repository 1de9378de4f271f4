/** Lowercase hex, the JSON form of ids, keys and signatures (docs/FORMAT.md#id-and-signature). */
import { invalid } from "./errors.ts";

export function toHex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
}

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
  return new Uint8Array(Buffer.from(text, "hex"));
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
