/**
 * Hex (src/core/hex.ts): the table path (Node 20–24) and the native ES2026 path (Bun, browsers)
 * give the same bytes and text as each other and as Buffer, the reference they replaced.
 */
import { describe, expect, test } from "bun:test";
import { fromHex, fromHexPortable, toHex, toHexPortable } from "../../src/core/hex.ts";
import { prng } from "../support/prng.ts";

const rand = prng(7);
function randomBytes(n: number): Uint8Array {
  return Uint8Array.from({ length: n }, () => Math.floor(rand() * 256));
}

describe("hex", () => {
  test("Bun has the native methods, so both paths are exercised here", () => {
    expect(typeof (Uint8Array.prototype as { toHex?: unknown }).toHex).toBe("function");
    expect(typeof (Uint8Array as unknown as { fromHex?: unknown }).fromHex).toBe("function");
  });

  test("every byte value, and random lengths 0–300 (also subarrays at odd offsets): table = native = Buffer", () => {
    const all = Uint8Array.from({ length: 256 }, (_, i) => i);
    const cases: Uint8Array[] = [all, all.subarray(3, 200), new Uint8Array(0)];
    for (let n = 0; n <= 300; n += 7) cases.push(randomBytes(n), randomBytes(n + 5).subarray(5));
    for (const bytes of cases) {
      const reference = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
      expect(toHex(bytes)).toBe(reference);
      expect(toHexPortable(bytes)).toBe(reference);
      expect(fromHex(reference, "x")).toEqual(new Uint8Array(bytes));
      expect(fromHexPortable(reference)).toEqual(new Uint8Array(bytes));
      expect(fromHexPortable(reference.toUpperCase())).toEqual(new Uint8Array(bytes));
    }
  });

  test("fromHex accepts either case, gives a fresh array, and refuses what is not even-length hex of the right size", () => {
    expect(toHex(fromHex("00FFaB", "x"))).toBe("00ffab");
    const parsed = fromHex("0102", "x");
    expect(parsed.byteOffset).toBe(0);
    expect(parsed.buffer.byteLength).toBe(2);
    for (const bad of ["0", "0g", "zz", " 00", "00 ", "0x00"])
      expect(() => fromHex(bad, "f")).toThrow(/f: not an even-length hex/);
    expect(() => fromHex(42, "f")).toThrow(/f: expected a hex string, got number 42/);
    expect(() => fromHex("00", "id", 32)).toThrow(/id: expected 32 bytes \(64 hex digits\), got 1/);
  });
});
