/**
 * The portable binary16 check (src/core/float16.ts) against Bun's native `Math.f16round` and
 * `DataView.getFloat16`: every one of the 65,536 halves, the doubles just beside each, the
 * subnormal and overflow edges, and random doubles and floats.
 */
import { describe, expect, test } from "bun:test";
import { decodeCanonical, encodeCanonical } from "../../src/core/cbor.ts";
import { halfBitsOf, halfValue } from "../../src/core/float16.ts";
import { prng } from "../support/prng.ts";

const view = new DataView(new ArrayBuffer(8));
function nativeHalf(bits: number): number {
  view.setUint16(0, bits);
  return view.getFloat16(0);
}

/** The next double above x (x finite, below the largest double); `nextDown` by symmetry. */
function nextUp(x: number): number {
  view.setFloat64(0, x);
  const hi = view.getUint32(0);
  const lo = view.getUint32(4);
  if (x === 0) return Number.MIN_VALUE;
  // For x > 0 the next double has the next bit pattern; for x < 0, the previous one.
  const step = x > 0 ? 1 : -1;
  let nlo = lo + step;
  let nhi = hi;
  if (nlo > 0xffffffff) {
    nlo = 0;
    nhi++;
  } else if (nlo < 0) {
    nlo = 0xffffffff;
    nhi--;
  }
  view.setUint32(0, nhi);
  view.setUint32(4, nlo);
  return view.getFloat64(0);
}
const nextDown = (x: number) => -nextUp(-x);

/** The reference: is x exactly a half? (Math.f16round rounds; exact iff it returns x itself.) */
const isHalfNative = (x: number) => Number.isFinite(x) && Object.is(Math.f16round(x), x);

describe("halfValue", () => {
  test("agrees with DataView.getFloat16 on all 65,536 bit patterns", () => {
    let nan = 0;
    for (let bits = 0; bits <= 0xffff; bits++) {
      const mine = halfValue(bits);
      const native = nativeHalf(bits);
      if (Number.isNaN(native)) {
        nan++;
        expect(mine).toBeNaN();
      } else if (!Object.is(mine, native)) {
        throw new Error(`bits ${bits.toString(16)}: ${mine} ≠ ${native}`);
      }
    }
    expect(nan).toBe(2 * 1023); // 0x7c01–0x7fff and 0xfc01–0xffff
  });
});

describe("halfBitsOf", () => {
  test("gives back the bits of every finite half (±0, subnormals, normals up to ±65504)", () => {
    let finite = 0;
    for (let bits = 0; bits <= 0xffff; bits++) {
      const x = nativeHalf(bits);
      if (!Number.isFinite(x)) continue;
      finite++;
      if (halfBitsOf(x) !== bits) throw new Error(`${x}: got ${halfBitsOf(x)}, expected ${bits}`);
    }
    expect(finite).toBe(65536 - 2 * 1024);
  });

  test("refuses NaN and the infinities (they are halves, but never values of a record)", () => {
    expect(halfBitsOf(Number.NaN)).toBe(-1);
    expect(halfBitsOf(Number.POSITIVE_INFINITY)).toBe(-1);
    expect(halfBitsOf(Number.NEGATIVE_INFINITY)).toBe(-1);
  });

  test("refuses the doubles just beside every finite half, exactly as Math.f16round does", () => {
    for (let bits = 0; bits <= 0xffff; bits++) {
      const x = nativeHalf(bits);
      if (!Number.isFinite(x)) continue;
      for (const y of [nextUp(x), nextDown(x)]) {
        const expected = isHalfNative(y);
        if (halfBitsOf(y) >= 0 !== expected) throw new Error(`${y} beside ${x}: native says ${expected}`);
        // Only the neighbours of ±0 can be halves (none are: 5e-324 is far below 2^-24).
        expect(expected).toBe(false);
      }
    }
  });

  test("the edges: 2^-24 is the least half, 2^-14 the least normal, 65504 the largest; midpoints are not halves", () => {
    expect(halfBitsOf(2 ** -24)).toBe(0x0001);
    expect(halfBitsOf(-(2 ** -24))).toBe(0x8001);
    expect(halfBitsOf(2 ** -25)).toBe(-1); // rounds to 0 or 2^-24 in f16round: not exact
    expect(halfBitsOf(3 * 2 ** -25)).toBe(-1); // between two subnormals
    expect(halfBitsOf(1023 * 2 ** -24)).toBe(0x03ff); // the largest subnormal
    expect(halfBitsOf(2 ** -14)).toBe(0x0400);
    expect(halfBitsOf(2 ** -14 + 2 ** -24)).toBe(0x0401);
    expect(halfBitsOf(2 ** -14 + 2 ** -25)).toBe(-1);
    expect(halfBitsOf(65504)).toBe(0x7bff);
    expect(halfBitsOf(-65504)).toBe(0xfbff);
    expect(halfBitsOf(65505)).toBe(-1);
    expect(halfBitsOf(65520)).toBe(-1); // f16round(65520) is Infinity: no finite half
    expect(halfBitsOf(65536)).toBe(-1);
    expect(halfBitsOf(1 + 2 ** -10)).toBe(0x3c01);
    expect(halfBitsOf(1 + 2 ** -11)).toBe(-1);
    expect(halfBitsOf(0.5)).toBe(0x3800);
    expect(halfBitsOf(0.1)).toBe(-1);
    expect(halfBitsOf(0)).toBe(0);
    expect(halfBitsOf(-0)).toBe(0x8000);
    expect(halfBitsOf(Number.MIN_VALUE)).toBe(-1);
    expect(halfBitsOf(Number.MAX_VALUE)).toBe(-1);
  });

  test("agrees with Math.f16round on random doubles, floats and short fractions", () => {
    const rand = prng(16);
    for (let i = 0; i < 200_000; i++) {
      const kind = i % 4;
      let x: number;
      if (kind === 0) x = (rand() - 0.5) * 2 ** Math.floor(rand() * 60 - 30);
      else if (kind === 1) x = Math.fround((rand() - 0.5) * 2 ** Math.floor(rand() * 40 - 26));
      else if (kind === 2)
        x = Math.round(rand() * 4096) / 2 ** Math.floor(rand() * 30); // few significant bits
      else x = Math.round(rand() * 100) / 100; // confidences: 0.95, 0.5, …
      const expected = isHalfNative(x);
      if (halfBitsOf(x) >= 0 !== expected) throw new Error(`${x}: native says ${expected}`);
      if (expected) expect(halfValue(halfBitsOf(x))).toBe(x);
    }
  });
});

describe("the canonical encoding uses it", () => {
  test("a half-exact fraction is 3 bytes, a float-exact one 5, any other 9, and each decodes back", () => {
    for (const [x, head, bytes] of [
      [0.5, 0xf9, 3],
      [-0.75, 0xf9, 3],
      [2 ** -24, 0xf9, 3],
      [0.1, 0xfb, 9],
      [Math.fround(0.1), 0xfa, 5],
      [65504.5, 0xfa, 5],
      [1e300, 0xfb, 9],
    ] as const) {
      const encoded = encodeCanonical(x);
      expect([encoded[0], encoded.length]).toEqual([head, bytes]);
      expect(decodeCanonical(encoded)).toBe(x);
    }
  });

  test("a float32 or float64 that a half holds is refused as not the shortest form", () => {
    expect(() => decodeCanonical(Uint8Array.of(0xfa, 0x3f, 0x00, 0x00, 0x00))).toThrow(/shortest/); // 0.5 as float32
    expect(() => decodeCanonical(Uint8Array.of(0xfa, 0x7f, 0x80, 0x00, 0x00))).toThrow(/shortest/); // +Inf as float32
    expect(() => decodeCanonical(Uint8Array.of(0xf9, 0x7c, 0x00))).toThrow(/infinities/);
    expect(() => decodeCanonical(Uint8Array.of(0xf9, 0x7e, 0x00))).toThrow(/NaN/);
  });
});
