import { describe, expect, test } from "bun:test";
import { crc32c } from "../../src/log/crc32c.ts";

const text = (s: string) => new TextEncoder().encode(s);

/** Bit-at-a-time reference, straight from the definition, to check the sliced tables against. */
function crc32cReference(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const b of bytes) {
    crc ^= b;
    for (let k = 0; k < 8; k++) crc = crc & 1 ? (crc >>> 1) ^ 0x82f63b78 : crc >>> 1;
  }
  return ~crc >>> 0;
}

describe("crc32c", () => {
  test("known vectors (RFC 3720 §B.4 and the check value)", () => {
    expect(crc32c(text("123456789"))).toBe(0xe3069283);
    expect(crc32c(new Uint8Array(32))).toBe(0x8a9136aa);
    expect(crc32c(new Uint8Array(32).fill(0xff))).toBe(0x62a8ab43);
    const ascending = Uint8Array.from({ length: 32 }, (_, i) => i);
    expect(crc32c(ascending)).toBe(0x46dd794e);
    expect(crc32c(new Uint8Array(0))).toBe(0);
  });

  test("matches the bitwise reference for every length 0..300 and odd alignments", () => {
    const data = Uint8Array.from({ length: 310 }, (_, i) => (i * 167 + 13) & 0xff);
    for (let start = 0; start < 9; start++) {
      for (let len = 0; len + start <= 300; len += start + 1) {
        expect(crc32c(data, start, start + len)).toBe(crc32cReference(data.subarray(start, start + len)));
      }
    }
  });

  test("chaining with `previous` equals the CRC of the concatenation", () => {
    const a = text("1234");
    const b = text("56789");
    expect(crc32c(b, 0, b.length, crc32c(a))).toBe(0xe3069283);
  });
});
