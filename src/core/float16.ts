/**
 * IEEE 754 binary16 ("half precision") for the canonical encoding's shortest-float rule
 * (docs/FORMAT.md#records-canonical-encoding): a number is written as a half when a half holds
 * it exactly.
 *
 * `Math.f16round` and `DataView.prototype.{get,set}Float16` are ES2025; Node 20 and 22 lack
 * them, and the client package runs there, so this file does the half arithmetic itself. It
 * is exact, not a rounding: `halfBitsOf(x)` is the half whose value is exactly `x`, or -1.
 *
 * binary16 is 1 sign bit, 5 exponent bits (bias 15) and 10 fraction bits:
 *
 * - exponent 1–30: normal, value = (1024 + fraction) × 2^(exponent − 25), from 2^−14 up to 65504;
 * - exponent 0: zero and subnormal, value = fraction × 2^−24 (multiples of 2^−24 below 2^−14);
 * - exponent 31: the infinities and NaN, which records never hold (this file refuses them).
 *
 * A double x with 2^−14 ≤ |x| ≤ 65504 is an exact normal half when its 52-bit fraction has
 * nothing below its top 10 bits; below 2^−14 it is an exact subnormal half when x × 2^24 (an
 * exact scaling) is an integer. test/core/float16.test.ts checks both directions against
 * Bun's `Math.f16round` and `DataView.getFloat16` over all 65,536 halves and their neighbours.
 */

const halfMax = 65504;
/** 2^−14, the least normal half. */
const normalMin = 2 ** -14;
/** 2^24: a subnormal half's value times this is its fraction. */
const subnormalScale = 2 ** 24;

// One double's bytes seen as two 32-bit words, to read its exponent and fraction; which word
// holds the high half depends on the platform's byte order (little-endian everywhere we run).
const scratch = new Float64Array(1);
const words = new Uint32Array(scratch.buffer);
const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const high = littleEndian ? 1 : 0;
const low = littleEndian ? 0 : 1;

/**
 * The binary16 bits (0–0xffff) of the half whose value is exactly `x`, or -1 when no half is
 * (NaN, ±Infinity, beyond ±65504, too small, or more precision than 11 bits). -0 is 0x8000.
 */
export function halfBitsOf(x: number): number {
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (!(a <= halfMax)) return -1; // NaN and the infinities too
  if (a < normalMin) {
    const fraction = a * subnormalScale;
    return Number.isInteger(fraction) ? sign | fraction : -1;
  }
  scratch[0] = a;
  const hi = words[high] as number;
  // Of the 52 fraction bits, a half keeps the top 10: hi's bits 19–10. The rest must be zero.
  if (words[low] !== 0 || (hi & 0x3ff) !== 0) return -1;
  const exponent = (hi >>> 20) - 1023; // -14 … 15 here
  return sign | ((exponent + 15) << 10) | ((hi >>> 10) & 0x3ff);
}

/** 2^(e − 25) for a half's exponent field e (1–30): the weight of its fraction's last bit. */
const unitByExponent = Array.from({ length: 31 }, (_, e) => 2 ** (e - 25));

/** The value of binary16 bits (0–0xffff): ±0, subnormals, normals, ±Infinity or NaN. */
export function halfValue(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >>> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 31) return fraction === 0 ? sign * Number.POSITIVE_INFINITY : Number.NaN;
  return sign * (1024 + fraction) * (unitByExponent[exponent] as number);
}
